"""A search whose process is killed mid-trial resumes with overwrite=False."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras, keras_tuner, numpy as np
    import regsearch

    directory, log_path, stall_on = sys.argv[1], sys.argv[2], int(sys.argv[3])
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = x[:, :2].sum(axis=1, keepdims=True).astype("float32")

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="hidden"),
                              keras.layers.Dense(1, name="out")])
    hypermodel = regsearch.RegSearchHyperModel(
        model, regsearch.SearchSpace(kernel=["none", "l1", "l2"]),
        compile={"optimizer": "adam", "loss": "mse"})
    # argv[4] "pareto": the same search with regsearch.ParetoSearch (test_pareto_resume.py);
    # "hyperband": regsearch.ParetoHyperband, max_epochs=3 (test_hyperband_resume.py).
    kind = sys.argv[4] if len(sys.argv) > 4 else ""
    budget = {"max_epochs": 3} if kind == "hyperband" else {"max_trials": 3}
    tuner_class = {"pareto": regsearch.ParetoSearch, "hyperband": regsearch.ParetoHyperband}.get(
        kind, keras_tuner.RandomSearch)
    tuner = tuner_class(
        hypermodel, objective=regsearch.Objective("val_loss", size_weight=0.1), **budget,
        directory=directory, project_name="resume", overwrite=False, seed=1)

    class Log(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            (trial_id,) = list(tuner.oracle.ongoing_trials.values())
            trial_id = trial_id.trial_id
            with open(log_path, "a") as f:
                f.write(trial_id + "\\n")
            if int(trial_id) == stall_on:
                while True:  # stands for a long trial; the test kills us here
                    time.sleep(0.1)

    tuner.search(x, y, validation_split=0.25, epochs=2, verbose=0, callbacks=[Log()])
    """
)


def _run(args, **kwargs):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], env=env, **kwargs)


def _scores(project: Path) -> dict[str, tuple[str, float | None]]:
    scores = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        score = trial.get("score")
        scores[trial["trial_id"]] = (trial["status"], score)
    return scores


@pytest.mark.slow
def test_killed_search_resumes_keeping_finished_trials(tmp_path):
    log = tmp_path / "started.txt"
    project = tmp_path / "runs" / "resume"
    first = _run([str(tmp_path / "runs"), str(log), "2"])
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            if log.exists() and "2" in log.read_text().split():
                break
            if first.poll() is not None:
                pytest.fail(f"the search ended before the third trial (exit {first.returncode})")
            time.sleep(0.2)
        else:
            pytest.fail("the third trial did not start within 240 s")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

    before = _scores(project)
    assert [status for status, _ in before.values()].count("COMPLETED") == 2

    second = _run([str(tmp_path / "runs"), str(log), "-1"])
    assert second.wait(timeout=300) == 0

    after = _scores(project)
    assert sorted(after) == ["0", "1", "2"] or sorted(after) == ["00", "01", "02"]
    assert all(status == "COMPLETED" for status, _ in after.values())
    for trial_id, (status, score) in before.items():
        if status == "COMPLETED":
            assert after[trial_id][1] == score  # kept, not re-run
    starts = log.read_text().split()
    assert sorted(starts) == sorted([*before.keys(), max(before)])  # only the killed one twice
