"""A plain `pip install regsearch` brings every package the library imports."""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            return True
    return False


def _imported_top_level_modules() -> set[str]:
    """Third-party modules the library (not its tests) imports without an ImportError guard."""
    modules = set()
    for path in (ROOT / "regsearch").rglob("*.py"):
        if path.name.endswith("_test.py") or path.name == "conftest.py":
            continue
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if not _guarded_by_import_error(node, parents):
                modules.update(name.split(".")[0] for name in names)
    return modules - set(sys.stdlib_module_names) - {"regsearch"}


def _installed_closure(requirements: list[str]) -> set[str]:
    """The distributions a plain install pulls in (markers without extras only)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen or (
            requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})
        ):
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in metadata.requires(name) or [])
    return seen


def test_core_dependencies_provide_every_module_the_library_imports():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _installed_closure(project["dependencies"])
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in _imported_top_level_modules()
        if not {d.lower().replace("_", "-") for d in providers.get(module, [])} & installed
    }
    assert not missing, f"imported but not installed by `pip install regsearch`: {missing}"
    assert {"pandas", "matplotlib"} <= {Requirement(r).name for r in project["dependencies"]}
