"""The example notebooks run end to end (small budget) and are stored without outputs.

Each notebook the end-to-end test runs is also saved, with its outputs, to
``.cache/executed-notebooks/`` (ignored by git): ``make docs`` after ``make test`` (as CI
runs them) renders those on the site, tables and plots included.
"""

import json
import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = 240  # seconds per cell
EXECUTED = ROOT / ".cache" / "executed-notebooks"  # read by mkdocs_hooks.py


def test_there_are_six_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def _kernel_manager(tmp_path: Path) -> KernelManager:
    """A kernel running this interpreter, with the repository importable and a small budget."""
    spec_dir = tmp_path / "kernels" / "regsearch-test"
    spec_dir.mkdir(parents=True)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "regsearch test kernel",
        "language": "python",
        "env": {
            "REGSEARCH_EXAMPLE_BUDGET": "small",
            "KERAS_BACKEND": "tensorflow",
            "MPLBACKEND": "Agg",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": pythonpath,
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name="regsearch-test", kernel_spec_manager=specs)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_end_to_end(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(tmp_path),
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},  # outputs go to tmp_path
    )
    client.execute()  # raises CellExecutionError, with the traceback, at the first failing cell
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, EXECUTED / path.name)
