"""`regsearch report DIR`: results table, Pareto front and pareto.png of a saved search."""

from __future__ import annotations

import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

import regsearch
from regsearch._cli import main
from regsearch.distributed import open_search


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 5)).astype("float32")
    return x, x[:, :2].sum(axis=1, keepdims=True)


def _model():
    return keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(1, name="out")]
    )


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("runs")
    keras.utils.set_random_seed(0)
    hypermodel = regsearch.RegSearchHyperModel(
        _model(),
        regsearch.SearchSpace(kernel=["none", "l1"]),
        compile={"optimizer": "adam", "loss": "mse"},
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.1),
        max_trials=3,
        directory=str(directory),
        project_name="local",
        seed=1,
    )
    x, y = _data()
    tuner.search(x, y, validation_split=0.25, epochs=2, verbose=0)
    return directory, tuner


@pytest.mark.slow
def test_report_prints_the_table_and_front_and_writes_pareto_png(search_dir, capsys, tmp_path):
    directory, tuner = search_dir
    assert main(["report", str(directory), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front (val_loss vs trimmed_params)" in out
    for trial_id in tuner.oracle.trials:
        assert trial_id in out
    assert (tmp_path / "pareto.png").stat().st_size > 0
    # The table is regsearch.results of the tuner that ran the search.
    reread = regsearch.results(open_search(directory, project_name="local"))
    assert reread.equals(regsearch.results(tuner))
    # The project folder itself works too.
    assert main(["report", str(directory / "local"), "--out", str(tmp_path)]) == 0


def test_report_on_a_missing_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_report_on_an_empty_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a keras-tuner search directory" in capsys.readouterr().err


def test_report_on_a_search_without_trials_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "oracle.json").write_text("{}")
    assert main(["report", str(tmp_path)]) == 2
    assert "is empty" in capsys.readouterr().err


@pytest.mark.slow
def test_report_on_a_plain_keras_tuner_search_says_it_is_not_regsearch(tmp_path, capsys):
    def build(hp):
        model = _model()
        model.compile(optimizer=hp.Choice("optimizer", ["adam", "sgd"]), loss="mse")
        return model

    tuner = keras_tuner.RandomSearch(
        build, objective="val_loss", max_trials=1, directory=str(tmp_path), project_name="plain"
    )
    x, y = _data()
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a regsearch search" in err and "val_loss" in err


def test_report_needs_a_project_when_there_are_several(search_dir, tmp_path, capsys):
    directory, _ = search_dir
    assert main(["report", str(directory), "--project", "locl"]) == 2
    assert "Did you mean 'local'?" in capsys.readouterr().err
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "oracle.json").write_text("{}")
    assert main(["report", str(tmp_path)]) == 2
    assert "several searches: ['a', 'b']" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_regsearch_runs_the_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "regsearch", "report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "regsearch report: error:" in done.stderr
