"""A ParetoSearch on keras-tuner's chief/worker engine: a chief and two workers on loopback.

Every process runs ``make_search`` below (loaded from this file by path); the
Optuna study lives on the chief only.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest

import regsearch
from regsearch.distributed import read_journal

TARGET = f"{Path(__file__).resolve()}:make_search"


def make_search():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = x[:, :2].sum(axis=1, keepdims=True).astype("float32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(1, name="out")]
    )
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=["none", "l1", "l2"]),
        compile={"optimizer": "adam", "loss": "mse"},
    )
    tuner = regsearch.ParetoSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss"),
        max_trials=4,
        seed=1,
        directory=os.environ["RS_DIR"],
        project_name="pareto",
    )
    search = {"x": x, "y": y, "validation_split": 0.25, "epochs": 1, "verbose": 0}
    return tuner, search


@pytest.mark.slow
def test_a_chief_and_two_workers_fill_one_study(tmp_path):
    run = regsearch.run_distributed(
        TARGET,
        n_workers=2,
        timeout=300,
        env={"RS_DIR": str(tmp_path), "KERAS_BACKEND": "tensorflow"},
        verbose=False,
    )
    assert run.complete, run.message
    assert sorted(run.results["status"]) == ["COMPLETED"] * 4
    workers = {e["tuner_id"] for e in read_journal(run.project_dir) if e["event"] == "end"}
    assert workers == {"tuner0", "tuner1"}
    study = optuna.load_study(
        study_name="regsearch", storage=f"sqlite:///{Path(run.project_dir) / 'optuna_study.db'}"
    )
    told = sorted(t.user_attrs["keras_tuner_trial_id"] for t in study.trials)
    assert told == sorted(run.results["trial_id"])
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    rows = run.results.set_index("trial_id")
    for twin in study.trials:
        row = rows.loc[twin.user_attrs["keras_tuner_trial_id"]]
        assert twin.values == pytest.approx([row["val_data_loss"], row["trimmed_params"]])
    # Workers never open the study: only the chief's project holds it.
    assert [p.name for p in Path(tmp_path).rglob("optuna_study.db")] == ["optuna_study.db"]
