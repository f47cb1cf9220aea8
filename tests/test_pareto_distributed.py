"""A ParetoSearch on keras-tuner's chief/worker engine: a chief and two workers on loopback.

Every process runs ``make_search`` of ``test_distributed.py`` with ``RS_TUNER=pareto``;
the Optuna study lives on the chief only.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

import regsearch
from regsearch.distributed import read_journal
from tests.test_distributed import TARGET


@pytest.mark.slow
def test_a_chief_and_two_workers_fill_one_study(tmp_path):
    env = {"RS_DIR": str(tmp_path), "RS_TRIALS": "4", "RS_EPOCHS": "1", "RS_TUNER": "pareto"}
    run = regsearch.run_distributed(
        TARGET, n_workers=2, timeout=300, env={**env, "KERAS_BACKEND": "tensorflow"}, verbose=False
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
