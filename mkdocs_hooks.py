"""mkdocs hook: render the example notebooks with their outputs when a test run made them.

``tests/test_notebooks.py`` saves every notebook it executes (small budget) to
``.cache/executed-notebooks/``. Where such a copy exists, the site shows it, tables and
plots included; otherwise it shows the notebook as stored (code only). CI runs
``make test`` before ``make docs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXECUTED = Path(__file__).resolve().parent / ".cache" / "executed-notebooks"


def on_files(files: Any, config: Any) -> Any:
    for file in files:
        if file.src_uri.startswith("examples/") and file.src_uri.endswith(".ipynb"):
            executed = EXECUTED / Path(file.src_uri).name
            if executed.exists():
                file.abs_src_path = str(executed)
    return files
