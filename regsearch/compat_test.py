"""Private Keras / keras-tuner names are reached only through ``regsearch._compat``.

The scan reads regsearch's source (not its tests) with ``ast``:

- a ``keras.src`` / ``keras_tuner.src`` import;
- an attribute ``obj._name`` (or ``getattr(obj, "_name")``) that regsearch does
  not define itself (as a method, class attribute or ``self._name = ...``);
- a method that overrides a private method of a Keras / keras-tuner base class.

Outside ``_compat`` there must be none; inside, exactly ``PRIVATE_NAMES``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import keras
import keras_tuner
import pytest

import regsearch
from regsearch._compat import PRIVATE_NAMES

PACKAGE = Path(regsearch.__file__).parent
COMPAT = PACKAGE / "_compat"
_FOREIGN = ("keras", "keras_tuner")
# regsearch's own private attributes whose names Keras / keras-tuner also use
# somewhere (not on the objects regsearch sets them on). A new one is listed
# here consciously: `obj._name` with such a name is not checked by the scan.
SHARED_WITH_KERAS = frozenset({"_check_params", "_conv", "_frozen", "_lock"})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not path.name.endswith("_test.py") and path.name != "conftest.py":
            yield path


def _library_sources() -> list[Path]:
    return [p for p in _sources(PACKAGE) if COMPAT not in p.parents]


def _foreign_import(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        names = [f"{node.module}.{alias.name}" for alias in node.names]
    else:
        return []
    return [n for n in names if n.startswith(("keras.src", "keras_tuner.src"))]


def _attribute_string(node: ast.AST) -> str | None:
    """``"_name"`` in ``getattr(obj, "_name")`` and its kin."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
        and _is_private(node.args[1].value)
    ):
        return node.args[1].value
    return None


def _defined(paths: list[Path]) -> set[str]:
    """Private attribute names the given modules define: methods, class attributes, stores."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        names.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif (name := _attribute_string(node)) and node.func.id == "setattr":  # type: ignore[attr-defined]
                names.add(name)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__setattr__"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                names.add(str(node.args[1].value))
    return {name for name in names if _is_private(name)}


def _used(paths: list[Path], own: set[str]) -> dict[str, set[str]]:
    """``{private name: {file:line, ...}}`` of foreign private names the modules use."""
    used: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = _foreign_import(node)
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                names.append(node.attr)
            if name := _attribute_string(node):
                names.append(name)
            for name in names:
                if name not in own:
                    where = f"{path.name}:{node.lineno}"  # type: ignore[attr-defined]
                    used.setdefault(name, set()).add(where)
    return used


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _classes(paths: list[Path]) -> list[type]:
    classes = []
    for path in paths:
        module = importlib.import_module(_module_name(path))
        classes.extend(
            cls
            for cls in vars(module).values()
            if inspect.isclass(cls) and cls.__module__ == module.__name__
        )
    return classes


def _is_foreign(cls: type) -> bool:
    return cls.__module__.split(".")[0] in _FOREIGN


def _overrides(paths: list[Path]) -> dict[str, set[str]]:
    """Private methods of Keras / keras-tuner classes that classes in ``paths`` override.

    Looked up in the method resolution order of every regsearch class, so that a
    mixin overriding a private method of the tuner it is mixed into counts too.
    """
    scanned = set(_classes(paths))
    found: dict[str, set[str]] = {}
    for cls in _classes(list(_sources(PACKAGE))):
        mro = cls.__mro__
        for index, owner in enumerate(mro):
            if owner not in scanned:
                continue
            for name in filter(_is_private, vars(owner)):
                if any(_is_foreign(base) and name in vars(base) for base in mro[index + 1 :]):
                    found.setdefault(name, set()).add(f"{owner.__module__}.{owner.__qualname__}")
    return found


@pytest.fixture(scope="module")
def foreign_private() -> set[str]:
    """Every private name defined or used in the installed Keras and keras-tuner sources."""
    pattern = re.compile(r"def (_[a-z]\w*)|\.(_[a-z]\w*)")
    names: set[str] = set()
    for package in (keras, keras_tuner):
        for path in (Path(package.__file__).parent / "src").rglob("*.py"):
            for match in pattern.finditer(path.read_text(encoding="utf-8", errors="ignore")):
                names.add(match.group(1) or match.group(2))
    return names


def test_no_private_keras_name_outside_compat() -> None:
    sources = _library_sources()
    own = _defined(sources)
    used = _used(sources, own)
    used.update(_overrides(sources))
    assert not used, (
        "Private Keras / keras-tuner names used outside regsearch._compat (add a small "
        f"documented function there and list the name in PRIVATE_NAMES): {used}"
    )


def test_own_private_names_shared_with_keras_are_listed(foreign_private: set[str]) -> None:
    shared = _defined(_library_sources()) & foreign_private
    assert shared == SHARED_WITH_KERAS, (
        "regsearch now defines a private attribute that Keras / keras-tuner also use; "
        "`obj.<name>` is not checked for it. Rename it or list it in SHARED_WITH_KERAS: "
        f"{sorted(shared ^ SHARED_WITH_KERAS)}"
    )


def test_compat_uses_exactly_the_listed_private_names() -> None:
    sources = list(_sources(COMPAT))
    used = set(_used(sources, own=set()))
    used.update(_overrides(sources))
    assert used == PRIVATE_NAMES, (
        "regsearch._compat uses private names not listed in PRIVATE_NAMES, or lists "
        f"names it no longer uses: {sorted(used ^ PRIVATE_NAMES)}"
    )


def test_scan_finds_a_private_name(tmp_path: Path) -> None:
    module = tmp_path / "uses_private.py"
    module.write_text(
        "from keras.src.models.functional import Functional\n"
        "def first(model):\n"
        "    return model._layers[0], getattr(model, '_functional')\n",
        encoding="utf-8",
    )
    used = _used([module], own=set())
    assert set(used) == {"keras.src.models.functional.Functional", "_layers", "_functional"}
