"""The search definition every process of a distributed search loads: ``file.py:function``.

keras-tuner's distributed mode runs the same script on every machine. regsearch
asks for that script as a function with no arguments that returns the tuner and
the keyword arguments of ``tuner.search``::

    def make_search():
        (x, y), validation = load_data()
        tuner = keras_tuner.RandomSearch(hypermodel, objective=..., max_trials=20,
                                         directory="runs", project_name="conv")
        return tuner, {"x": x, "y": y, "validation_data": validation, "epochs": 10}

and names it as ``"path/to/file.py:make_search"`` or ``"package.module:make_search"``
(the function name defaults to ``make_search``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keras_tuner.engine.base_tuner import BaseTuner

DEFAULT_FUNCTION = "make_search"


def _split(target: str) -> tuple[str, str]:
    # "C:\\x.py:f" on Windows: split on the last colon only when it is not a drive.
    location, sep, function = target.rpartition(":")
    if not sep or not location or len(location) == 1 or "/" in function or "\\" in function:
        return target, DEFAULT_FUNCTION
    return location, function


def _is_file(location: str) -> bool:
    return location.endswith(".py") or os.sep in location or "/" in location


def target_spec(target: str | Callable[[], Any]) -> str:
    """Check a target early (in the launching process) and return it as a string.

    A callable must be a module-level function of an importable module or of a
    Python file; it is named by module and qualified name so that other
    processes can import it.
    """
    if callable(target) and not isinstance(target, str):
        name = getattr(target, "__qualname__", "")
        module = getattr(target, "__module__", None)
        if not name or "<" in name or module is None:
            raise ValueError(
                f"Argument `target` must be a module-level function that other processes can "
                f"import; received {target!r}. Define it at the top of a .py file, or pass "
                f"'path/to/file.py:function'."
            )
        if module == "__main__":
            path = inspect.getsourcefile(target)
            if path is None:
                raise ValueError(
                    f"Argument `target`: {name!r} was defined interactively; save it in a .py "
                    f"file and pass 'path/to/file.py:{name}'."
                )
            return f"{os.path.abspath(path)}:{name}"
        return f"{module}:{name}"
    if not isinstance(target, str) or not target:
        raise TypeError(
            f"Argument `target` must be 'path/to/file.py:function', 'package.module:function' "
            f"or a module-level function; received {target!r}."
        )
    location, function = _split(target)
    if _is_file(location):
        file = Path(location)
        if not file.is_file():
            raise ValueError(
                f"Argument `target`: no file {location!r} (from {target!r}). Pass "
                f"'path/to/file.py:function' with a path that exists."
            )
        return f"{file.resolve()}:{function}"
    try:
        found = importlib.util.find_spec(location)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ValueError(
            f"Argument `target`: cannot find module {location!r} (from {target!r}). Pass "
            f"'path/to/file.py:function', or make the module importable (PYTHONPATH)."
        )
    return f"{location}:{function}"


def _import(location: str) -> Any:
    if not _is_file(location):
        return importlib.import_module(location)
    path = Path(location).resolve()
    name = f"_regsearch_target_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"Cannot load {location!r} as a Python file.")
    module = importlib.util.module_from_spec(spec)
    # Like `python file.py`: the file's folder is importable (sibling modules).
    sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_search(target: str) -> tuple[BaseTuner, dict[str, Any]]:
    """Import the target and call it: ``(tuner, search_kwargs)``."""
    import keras_tuner

    location, function = _split(target)
    module = _import(location)
    make = module
    for part in function.split("."):
        make = getattr(make, part, None)
        if make is None:
            names = [n for n in dir(module) if not n.startswith("_")]
            raise ValueError(
                f"Target {target!r}: {location!r} has no function {function!r}. "
                f"It defines: {names}."
            )
    result = make()
    if (
        not isinstance(result, tuple)
        or len(result) != 2
        or not isinstance(result[0], keras_tuner.Tuner)
        or not isinstance(result[1], Mapping)
    ):
        raise TypeError(
            f"Target {target!r} must return (tuner, search_kwargs): a keras_tuner Tuner and "
            f"a dict of tuner.search() keyword arguments such as {{'x': x, 'y': y, "
            f"'epochs': 10}}; it returned {type(result).__name__}."
        )
    return result[0], dict(result[1])
