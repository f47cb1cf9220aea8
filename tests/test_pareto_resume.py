"""A ParetoSearch killed (SIGKILL) mid-trial resumes with overwrite=False, Optuna study included."""

import signal
import time

import optuna
import pytest

from tests.test_search_resume import _run as run_search


def _run(*args):
    return run_search([*map(str, args), "pareto"])


def _study(project):
    storage = f"sqlite:///{project / 'optuna_study.db'}"
    return optuna.load_study(study_name="regsearch", storage=storage)


@pytest.mark.slow
def test_killed_pareto_search_resumes_without_losing_or_repeating_a_trial(tmp_path):
    log = tmp_path / "started.txt"
    project = tmp_path / "runs" / "resume"
    first = _run(tmp_path / "runs", log, 2)
    deadline = time.monotonic() + 240
    try:
        while not (log.exists() and "2" in log.read_text().split()):
            if first.poll() is not None:
                pytest.fail(f"the search ended before the third trial (exit {first.returncode})")
            if time.monotonic() > deadline:
                pytest.fail("the third trial did not start within 240 s")
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    before = {t.number: (t.state, t.values, t.params) for t in _study(project).trials}
    assert [state.name for state, _, _ in before.values()] == ["COMPLETE", "COMPLETE", "RUNNING"]

    second = _run(tmp_path / "runs", log, -1)
    assert second.wait(timeout=300) == 0

    assert log.read_text().split() == ["0", "1", "2", "2"]  # only the killed trial twice
    trials = _study(project).trials
    for number in (0, 1):  # told once, before the kill, and kept
        assert (trials[number].state, trials[number].values, trials[number].params) == (
            before[number]
        )
    # The killed run's trial is marked failed; its re-run is a new Optuna trial
    # with the same hyperparameters, told once.
    assert trials[2].state == optuna.trial.TrialState.FAIL
    assert trials[3].state == optuna.trial.TrialState.COMPLETE
    assert trials[3].params == before[2][2]
    told = [t.user_attrs["keras_tuner_trial_id"] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(told) == ["0", "1", "2"]
