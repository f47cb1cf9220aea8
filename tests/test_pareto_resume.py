"""A ParetoSearch killed (SIGKILL) mid-trial resumes with overwrite=False, Optuna study included."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras, numpy as np
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
    tuner = regsearch.ParetoSearch(
        hypermodel, objective=regsearch.Objective("val_loss"), max_trials=3, seed=1,
        directory=directory, project_name="resume", overwrite=False)

    class Log(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            (trial,) = list(tuner.oracle.ongoing_trials.values())
            with open(log_path, "a") as f:
                f.write(trial.trial_id + "\\n")
            if int(trial.trial_id) == stall_on:
                while True:  # stands for a long trial; the test kills us here
                    time.sleep(0.1)

    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0, callbacks=[Log()])
    """
)


def _run(*args):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *map(str, args)], env=env)


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
