"""A ParetoHyperband killed (SIGKILL) in a promoted trial resumes with overwrite=False."""

import json
import signal
import time

import pytest

from tests.test_search_resume import _run as run_search


def _run(*args):
    return run_search([*map(str, args), "hyperband"])


def _trials(project):
    trials = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        values = trial["hyperparameters"]["values"]
        trials[trial["trial_id"]] = (trial["status"], trial.get("score"), values)
    return trials


@pytest.mark.slow
def test_killed_hyperband_resumes_its_bracket_and_reruns_only_the_killed_trial(tmp_path):
    # max_epochs=3, factor 3: trials 0-2 train 1 epoch, trial 3 continues the best of
    # them to 3 epochs, trials 4-5 (the next bracket) train 3 epochs from scratch.
    log = tmp_path / "started.txt"
    project = tmp_path / "runs" / "resume"
    first = _run(tmp_path / "runs", log, 3)
    deadline = time.monotonic() + 240
    try:
        while not (log.exists() and "0003" in log.read_text().split()):
            if first.poll() is not None:
                pytest.fail(f"the search ended before the promoted trial (exit {first.returncode})")
            if time.monotonic() > deadline:
                pytest.fail("the promoted trial did not start within 240 s")
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    before = _trials(project)
    assert [before[t][0] for t in ("0000", "0001", "0002")] == ["COMPLETED"] * 3
    promoted = before["0003"][2]
    assert promoted["tuner/initial_epoch"] == 1 and promoted["tuner/epochs"] == 3
    parent = promoted["tuner/trial_id"]
    assert (project / f"trial_{parent}" / "penalized.weights.h5").exists()

    second = _run(tmp_path / "runs", log, -1)
    assert second.wait(timeout=300) == 0

    after = _trials(project)
    assert sorted(after) == ["0000", "0001", "0002", "0003", "0004", "0005"]
    assert all(status == "COMPLETED" for status, _, _ in after.values())
    for trial_id in ("0000", "0001", "0002"):
        assert after[trial_id][:2] == before[trial_id][:2]  # kept, not re-run
    assert after["0003"][2] == promoted  # the same continuation, run again
    assert log.read_text().split() == ["0000", "0001", "0002", "0003", "0003", "0004", "0005"]
