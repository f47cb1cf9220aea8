"""The import structure: no cycles among regsearch modules; a light ``--help``."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import regsearch

PACKAGE = Path(regsearch.__file__).parent


def _run_python(
    *args: str, check: bool = True, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter beside the package, capturing its output."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=check,
        cwd=PACKAGE.parent,
        timeout=timeout,
    )


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if not path.name.endswith("_test.py") and path.name != "conftest.py"
    }


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: resolve against this module's package
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    # `from package import submodule` imports the submodule; anything else, the source.
    return [
        f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
        for alias in node.names
    ]


def import_graph() -> dict[str, set[str]]:
    """``{module: {regsearch modules it imports}}``, at module level or inside functions."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in ast.walk(tree):
            targets.update(_imported(node, name, path.name == "__init__.py", known))
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None, f"import cycle: {find_cycle(import_graph())}"


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_help_does_not_import_tensorflow() -> None:
    # `regsearch --help` (and a mistyped command) answer at once: the subcommands'
    # modules, and TensorFlow with them, are imported only when a subcommand runs.
    code = (
        "import sys, runpy\n"
        "sys.argv = ['regsearch', '--help']\n"
        "try:\n"
        "    runpy.run_module('regsearch', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))\n"
    )
    result = _run_python("-c", code)
    assert "usage: regsearch" in result.stdout
    assert "demo" in result.stdout and "distributed" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_every_public_name_resolves() -> None:
    for name in regsearch.__all__:
        assert getattr(regsearch, name) is not None
        assert name in dir(regsearch)
    assert regsearch.trim is regsearch.trimming.trim  # the function, not the subpackage
    assert regsearch.search.SearchSpace is regsearch.SearchSpace
    with pytest.raises(AttributeError, match="no attribute 'SerchSpace'"):
        _ = regsearch.SerchSpace  # type: ignore[attr-defined]


def _type_checking_imports() -> dict[str, str]:
    """``{name: module}`` imported under ``if TYPE_CHECKING:`` in ``regsearch/__init__.py``."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    found = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names:
            name = alias.asname or alias.name
            submodule = f"{node.module}.{alias.name}"
            found[name] = submodule if submodule == f"regsearch.{name}" else node.module
    return found


def test_one_table_drives_the_public_api() -> None:
    # `_SOURCES` is the table: `__all__` lists its names that are not subpackages (and
    # `__version__`), and what type checkers see under TYPE_CHECKING is the same table.
    sources = regsearch._SOURCES
    subpackages = {name for name, source in sources.items() if source == f"regsearch.{name}"}
    assert sorted(regsearch.__all__) == sorted({*sources} - subpackages | {"__version__"})
    assert len(regsearch.__all__) == len(set(regsearch.__all__))
    assert _type_checking_imports() == sources
    for name, source in sources.items():
        expected = importlib.import_module(source)
        if name not in subpackages:
            expected = getattr(expected, name)
        assert getattr(regsearch, name) is expected, name


def test_internals_are_importable_but_not_advertised() -> None:
    from regsearch import distributed, editing, oracles, search

    internals = {
        search: ["DataLoss", "ScoreCallback", "ReportsFailures", "SCORE", "format_table"],
        distributed: ["LocalCluster", "DEFAULT_WORKER_TIMEOUT"],
        oracles: ["SAMPLERS"],
        editing: ["rebuild", "Edits", "resolve_mapping", "has_kernel_size"],
    }
    for module, names in internals.items():
        for name in names:
            assert getattr(module, name) is not None
            assert name not in module.__all__, f"{module.__name__}.{name}"
            assert name not in regsearch.__all__
    for module in (search, distributed, oracles, editing):
        assert all(getattr(module, name) is not None for name in module.__all__)


def test_python_m_help_does_not_import_tensorflow() -> None:
    result = _run_python("-X", "importtime", "-m", "regsearch", "--help")
    assert "usage: regsearch" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert not {"tensorflow", "keras", "keras_tuner"} & imported


def test_import_regsearch_is_enough_to_load_a_saved_model(tmp_path: Path) -> None:
    # A fresh interpreter that only runs `import regsearch` finds every regsearch
    # object Keras meets in the file (regularizer, frozen filters, CrossLayer, TopK).
    import keras
    import numpy as np

    from regsearch.regularizers import StructuredSparsity

    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(4, name="dense_a")(inputs)
    outputs = keras.layers.Dense(4, name="dense_b")(hidden)
    model = regsearch.apply(
        keras.Model(inputs, outputs),
        kernel={"dense_a": StructuredSparsity(1e-3)},
        freeze={"dense_a": [0]},
        cross_layer=[regsearch.CrossLayer("dense_*", "l2", axis=0)],
        top_k=2,
    )
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(2, 6)
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", keras.ops.convert_to_numpy(model(x)))
    code = (
        "import sys, keras, numpy as np, regsearch\n"
        "folder = sys.argv[1]\n"
        "model = keras.saving.load_model(folder + '/model.keras')\n"
        "got = keras.ops.convert_to_numpy(model(np.load(folder + '/x.npy')))\n"
        "np.testing.assert_allclose(got, np.load(folder + '/expected.npy'), atol=1e-6)\n"
        "print('loaded')\n"
    )
    result = _run_python("-c", code, str(tmp_path), check=False, timeout=300)
    assert result.returncode == 0 and "loaded" in result.stdout, result.stderr[-3000:]


def _package(module: str) -> str:
    """``regsearch.search._space`` -> ``regsearch.search``; top-level modules: ``regsearch``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else "regsearch"


def cross_package_private_imports() -> list[str]:
    """``importer -> module: name`` for each import of another package's private name.

    Private: an underscore module below a package (``regsearch.search._space``), or an
    underscore name. ``regsearch._compat`` and ``regsearch._validation`` are shared by
    design; a top-level private module (``regsearch._demo``) belongs to no package.
    """
    found = []
    modules = _modules()
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            source = node.module
            if not source.startswith("regsearch.") or _package(source) == _package(importer):
                continue
            if source.startswith(("regsearch._compat", "regsearch._validation")):
                continue
            below = source.split(".")[2:]
            names = [alias.name for alias in node.names if alias.name.startswith("_")]
            if any(part.startswith("_") for part in below) or names:
                found.append(f"{importer} -> {source}: {[a.name for a in node.names]}")
    return found


def test_no_module_imports_another_packages_private_names() -> None:
    assert cross_package_private_imports() == []


def test_the_private_import_check_finds_one() -> None:
    assert _package("regsearch.search._space") == "regsearch.search"
    assert _package("regsearch.search") == "regsearch.search"
    assert _package("regsearch._shrink") == "regsearch"


def test_benchmarks_use_only_public_names() -> None:
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    private = []
    for path in sorted(benchmarks.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("regsearch"):
                parts = [*node.module.split("."), *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Import):
                parts = [p for alias in node.names for p in alias.name.split(".")]
                parts = parts if parts[:1] == ["regsearch"] else []
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                parts = [node.value.id, node.attr] if node.value.id == "regsearch" else []
            else:
                continue
            if any(part.startswith("_") for part in parts[1:]):
                private.append(f"{path.name}:{node.lineno}")
    assert private == [], f"benchmarks reach regsearch's private names: {private}"
