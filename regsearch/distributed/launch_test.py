"""Bad input to the distributed launcher and node gets a clear error, before any process."""

from __future__ import annotations

import pytest

import regsearch
from regsearch.distributed import LocalCluster, run_node
from regsearch.distributed._target import load_search, target_spec


def test_target_file_that_does_not_exist(tmp_path):
    with pytest.raises(ValueError, match=r"no file .*missing\.py"):
        regsearch.run_distributed(str(tmp_path / "missing.py:make_search"))


def test_target_module_that_cannot_be_found():
    with pytest.raises(ValueError, match="cannot find module 'no_such_module_xyz'"):
        target_spec("no_such_module_xyz:make_search")


def test_target_must_be_a_module_level_function():
    with pytest.raises(ValueError, match="module-level function"):
        target_spec(lambda: None)
    with pytest.raises(TypeError, match="Argument `target`"):
        target_spec(3)  # type: ignore[arg-type]


def test_target_names_default_to_make_search(tmp_path):
    path = tmp_path / "search.py"
    path.write_text("def make_search():\n    return 1\n")
    assert target_spec(str(path)) == f"{path}:make_search"
    assert target_spec(f"{path}:other") == f"{path}:other"
    assert target_spec("regsearch._cli:main") == "regsearch._cli:main"


def test_target_must_return_a_tuner_and_search_kwargs(tmp_path):
    path = tmp_path / "bad_search.py"
    path.write_text("def make_search():\n    return 1\n")
    with pytest.raises(TypeError, match=r"must return \(tuner, search_kwargs\)"):
        load_search(f"{path}:make_search")
    with pytest.raises(ValueError, match=r"has no function 'build'.*make_search"):
        load_search(f"{path}:build")


def test_launcher_arguments_are_checked(tmp_path):
    path = tmp_path / "search.py"
    path.write_text("def make_search():\n    return 1\n")
    with pytest.raises(ValueError, match="n_workers"):
        regsearch.run_distributed(str(path), n_workers=0)
    with pytest.raises(ValueError, match="worker_timeout"):
        LocalCluster(str(path), worker_timeout=0)
    with pytest.raises(TypeError, match="timeout"):
        regsearch.run_distributed(str(path), timeout="1")  # type: ignore[arg-type]


def test_a_node_needs_the_three_environment_variables(tmp_path, monkeypatch):
    path = tmp_path / "search.py"
    path.write_text("def make_search():\n    return 1\n")
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
    with pytest.raises(
        ValueError, match=r"missing: \['KERASTUNER_TUNER_ID', 'KERASTUNER_ORACLE_PORT'\]"
    ):
        run_node(str(path))


def test_distributed_command_reports_a_bad_target(tmp_path, capsys):
    from regsearch._cli import main

    assert main(["distributed", str(tmp_path / "missing.py:make_search"), "--workers", "1"]) == 2
    assert "regsearch distributed: error: Argument `target`: no file" in capsys.readouterr().err
