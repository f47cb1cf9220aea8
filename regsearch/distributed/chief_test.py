"""The chief records every trial's end once, whenever it dies and restarts.

In-process and deterministic: keras-tuner's servicer is called as gRPC calls
it, a chief "dies" by being dropped right after a call (every call saves what
it changed before it answers, so the files are what a SIGKILL at that point
leaves) and "restarts" as ``run_chief`` does: the search's tuner built again
with ``overwrite=False``, ``_chief.resume`` and ``tuner.save``.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import keras_tuner
import pytest
from keras_tuner.engine import trial as trial_module

from regsearch._compat.distribute import service
from regsearch.distributed import _chief

PROJECT = "chief"


@pytest.fixture(autouse=True)
def _not_a_distributed_node(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


def _build(hp):
    hp.Int("units", 1, 64)
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def _chief_of(directory: Path, *, overwrite: bool) -> _chief.ChiefServicer:
    """A chief started (``overwrite=True``) or restarted on ``directory``."""
    tuner = keras_tuner.RandomSearch(
        _build,
        objective=keras_tuner.Objective("score", "min"),
        max_trials=4,
        max_retries_per_trial=1,
        directory=str(directory),
        project_name=PROJECT,
        overwrite=overwrite,
        seed=1,
    )
    tuner.oracle.verbose = 0
    _chief.resume(tuner.oracle)  # as run_chief does
    tuner.save()
    return _chief.ChiefServicer(tuner.oracle)


def _create(chief: _chief.ChiefServicer, tuner_id: str) -> trial_module.Trial:
    request = service().CreateTrialRequest(tuner_id=tuner_id)
    return trial_module.Trial.from_proto(chief.CreateTrial(request, None).trial)


def _report(chief: _chief.ChiefServicer, trial: trial_module.Trial, score: float) -> None:
    request = service().UpdateTrialRequest(
        trial_id=trial.trial_id, metrics={"score": score}, step=0
    )
    chief.UpdateTrial(request, None)


def _end(chief: _chief.ChiefServicer, trial: trial_module.Trial, status: str) -> None:
    trial.status = status
    chief.EndTrial(service().EndTrialRequest(trial=trial.to_proto()), None)


def _saved_ongoing(directory: Path) -> dict[str, str]:
    return json.loads((directory / PROJECT / "oracle.json").read_text())["ongoing_trials"]


def _run_to_the_end(chief: _chief.ChiefServicer, tuner_id: str) -> list[str]:
    """Run every trial ``tuner_id`` is given until the chief stops it; their ids."""
    ran = []
    while (trial := _create(chief, tuner_id)).status == trial_module.TrialStatus.RUNNING:
        _report(chief, trial, 1.0)
        _end(chief, trial, "COMPLETED")
        ran.append(trial.trial_id)
    assert trial.status == trial_module.TrialStatus.STOPPED
    return ran


def test_a_trial_that_ended_just_before_the_chief_died_is_not_run_again(tmp_path):
    chief = _chief_of(tmp_path, overwrite=True)
    first, second = _create(chief, "tuner0"), _create(chief, "tuner1")
    _report(chief, first, 0.5)
    _end(chief, first, "COMPLETED")
    # keras-tuner saves oracle.json before it forgets the trial's worker: the chief
    # dying now leaves the ended trial listed as tuner0's running trial.
    assert _saved_ongoing(tmp_path) == {"tuner0": first.trial_id, "tuner1": second.trial_id}

    chief = _chief_of(tmp_path, overwrite=False)
    assert chief.oracle.trials[first.trial_id].status == "COMPLETED"
    assert chief.oracle._retry_queue == []
    # tuner0 asks for its next trial: a new one, not the one it has ended.
    ran = _run_to_the_end(chief, "tuner0")
    assert first.trial_id not in ran and second.trial_id not in ran
    # tuner1 kept training through the restart and reports its trial.
    _report(chief, second, 0.7)
    _end(chief, second, "COMPLETED")
    assert _run_to_the_end(chief, "tuner1") == []

    oracle = chief.oracle
    assert sorted(oracle.end_order) == sorted(oracle.trials) == ["0", "1", "2", "3"]
    assert oracle.trials[first.trial_id].score == 0.5  # kept as it was
    assert all(oracle._run_times[t] == 1 for t in oracle.trials)


def test_an_end_trial_sent_again_after_a_restart_is_recorded_once(tmp_path):
    chief = _chief_of(tmp_path, overwrite=True)
    trial = _create(chief, "tuner0")
    _report(chief, trial, 0.5)
    _end(chief, trial, "COMPLETED")
    # The chief died after saving the end, before answering: the worker sends it again.
    chief = _chief_of(tmp_path, overwrite=False)
    _end(chief, trial, "COMPLETED")
    assert chief.oracle.end_order == [trial.trial_id]
    assert chief.oracle._run_times[trial.trial_id] == 1
    assert chief.oracle.trials[trial.trial_id].score == 0.5
    assert _create(chief, "tuner0").trial_id != trial.trial_id


def test_a_failed_trial_reported_three_times_counts_as_one_failure(tmp_path):
    # Three consecutive failures end a keras-tuner search; one failure sent again
    # (the chief died after saving it) must not count three times.
    chief = _chief_of(tmp_path, overwrite=True)
    trial = _create(chief, "tuner0")
    for _ in range(3):
        _end(chief, trial, "FAILED")
    assert chief.oracle.end_order == [trial.trial_id]
    assert _create(chief, "tuner0").status == trial_module.TrialStatus.RUNNING


def test_a_retry_running_through_a_restart_is_given_back_and_ends_once(tmp_path):
    chief = _chief_of(tmp_path, overwrite=True)
    trial = _create(chief, "tuner0")
    _end(chief, trial, "INVALID")  # keras-tuner queues it for one retry
    chief = _chief_of(tmp_path, overwrite=False)
    assert chief.oracle._retry_queue == [trial.trial_id]  # queued once, not twice
    assert chief.oracle.ongoing_trials == {}

    retry = _create(chief, "tuner1")
    assert (retry.trial_id, retry.status) == (trial.trial_id, "RUNNING")
    # The chief dies while tuner1 runs the retry (the trial's file still says INVALID).
    chief = _chief_of(tmp_path, overwrite=False)
    assert chief.oracle._retry_queue == []
    again = _create(chief, "tuner1")  # its CreateTrial was in flight: sent again
    assert (again.trial_id, again.status) == (trial.trial_id, "RUNNING")
    _report(chief, again, 0.25)
    _end(chief, again, "COMPLETED")
    assert chief.oracle.end_order == [trial.trial_id]
    assert chief.oracle.trials[trial.trial_id].status == "COMPLETED"


def test_a_trial_created_as_the_chief_died_is_run(tmp_path):
    chief = _chief_of(tmp_path, overwrite=True)
    _create(chief, "tuner0")
    oracle_file = tmp_path / PROJECT / "oracle.json"
    before = oracle_file.read_text()
    created = _create(chief, "tuner1")
    # The chief died inside create_trial, between the trial's file and oracle.json.
    oracle_file.write_text(before)

    chief = _chief_of(tmp_path, overwrite=False)
    assert chief.oracle._retry_queue == [created.trial_id]
    again = _create(chief, "tuner1")  # its CreateTrial was in flight: sent again
    assert (again.trial_id, again.status) == (created.trial_id, "RUNNING")
