"""Which LiteRT runtime runs the files, and what a user without one is told."""

from __future__ import annotations

import pytest

from regsearch.deploy._interpreter import find_runtime

NOT_INSTALLED = ("regsearch_no_such_litert_runtime", "Interpreter")


def test_without_a_runtime_the_error_says_what_to_install() -> None:
    with pytest.raises(ModuleNotFoundError, match=r'pip install "regsearch\[litert\]"'):
        find_runtime([NOT_INSTALLED])


def test_without_ai_edge_litert_tensorflows_interpreter_runs_the_files() -> None:
    runtime = find_runtime([NOT_INSTALLED, ("tensorflow", "lite.Interpreter")])
    assert runtime.name.startswith("tensorflow ")
    assert runtime.interpreter.__name__ == "Interpreter"
