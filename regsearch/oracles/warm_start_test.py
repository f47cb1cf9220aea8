"""ParetoOracle(warm_start_from=...): an earlier search's finished trials seed the study."""

import hashlib
import os

import keras
import keras_tuner
import numpy as np
import optuna
import pytest

import regsearch
from regsearch.oracles._oracle import TRIAL_ATTR, WARM_START_ATTR


def _space(units_max=8):
    hp = keras_tuner.HyperParameters()
    hp.Choice("kernel", ["none", "l1"])
    with hp.conditional_scope("kernel", ["l1"]):
        hp.Float("kernel_l1_strength", 1e-6, 1e-1, sampling="log")
    hp.Int("units", 2, units_max, step=2)
    return hp


def _oracle(directory, space=None, **kwargs):
    kwargs.setdefault("objective", regsearch.Objective("val_accuracy", size="macs"))
    oracle = regsearch.ParetoOracle(max_trials=4, sampler="tpe", seed=0, **kwargs)
    oracle._set_project_dir(str(directory), "p")
    oracle.update_space(space or _space())
    return oracle


def _run(oracle, n, *, finish=True):
    """``n`` trials as keras-tuner runs them: accuracy falls with the strength, MACs = 10 units."""
    for _ in range(n):
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        metrics = {
            "score": values["units"],
            "val_accuracy": 1 - values.get("kernel_l1_strength", 0.0),
            "trimmed_macs": 10.0 * values["units"],
        }
        oracle.update_trial(trial.trial_id, metrics)
        if finish:
            trial.status = "COMPLETED"
            oracle.end_trial(trial)


def _files(directory):
    """Every file under ``directory`` with the hash of its bytes."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, directory)] = hashlib.sha256(file.read()).hexdigest()
    return found


@pytest.fixture
def earlier(tmp_path):
    """A finished 3-trial search in ``tmp_path/first/p``."""
    oracle = _oracle(tmp_path / "first")
    _run(oracle, 3)
    return oracle, str(tmp_path / "first" / "p")


def test_earlier_trials_seed_the_study_and_the_earlier_directory_is_unchanged(tmp_path, earlier):
    first, project_dir = earlier
    before = _files(project_dir)
    objective = regsearch.Objective("val_accuracy", size="macs", max_trimmed_macs=50)
    oracle = _oracle(tmp_path / "second", objective=objective, warm_start_from=project_dir)
    _run(oracle, 2)
    assert list(oracle.trials) and len(oracle.trials) == 2  # only its own trials
    trials = oracle.study.get_trials()
    seeded = [t for t in trials if WARM_START_ATTR in t.user_attrs]
    assert len(seeded) == 3 and [t.number for t in seeded] == [0, 1, 2]
    for twin in seeded:
        source, trial_id = twin.user_attrs[WARM_START_ATTR].rsplit(":", 1)
        assert source == project_dir and TRIAL_ATTR not in twin.user_attrs
        earlier_trial = first.trials[trial_id]
        values = earlier_trial.hyperparameters.values
        assert twin.state == optuna.trial.TrialState.COMPLETE
        assert twin.params == values  # the active hyperparameters only
        assert twin.values == [1 - values.get("kernel_l1_strength", 0.0), 10.0 * values["units"]]
        # constraints under the new objective's budget, from what the trial logged
        assert twin.constraints == {"max_trimmed_macs": pytest.approx(values["units"] / 5 - 1)}
    own = [t for t in trials if TRIAL_ATTR in t.user_attrs]
    assert sorted(t.user_attrs[TRIAL_ATTR] for t in own) == sorted(oracle.trials)
    assert _files(project_dir) == before
    # a resumed search does not add them again
    resumed = _oracle(tmp_path / "second", objective=objective, warm_start_from=project_dir)
    resumed.reload()
    _run(resumed, 1)
    assert sum(WARM_START_ATTR in t.user_attrs for t in resumed.study.get_trials()) == 3
    config = oracle.get_config()
    assert config["warm_start_from"] == project_dir
    assert regsearch.ParetoOracle.from_config(config).warm_start_from == project_dir


def test_a_different_space_is_an_error_naming_the_hyperparameter(tmp_path, earlier):
    _, project_dir = earlier
    wider = _oracle(tmp_path / "a", _space(units_max=16), warm_start_from=project_dir)
    with pytest.raises(ValueError, match=r"another space: hyperparameter 'units' was Int"):
        wider.create_trial("tuner0")
    fewer = keras_tuner.HyperParameters()
    fewer.Int("units", 2, 8, step=2)
    fewer.Boolean("batch_norm")
    other = _oracle(tmp_path / "b", fewer, warm_start_from=project_dir)
    with pytest.raises(ValueError, match="'batch_norm' is in this search's space, not in the"):
        other.create_trial("tuner0")
    assert regsearch.ParetoOracle.__doc__ and "warm_start_from" in regsearch.ParetoOracle.__doc__


def test_bad_sources_are_errors_naming_the_argument(tmp_path, earlier):
    _, project_dir = earlier
    with pytest.raises(TypeError, match=r"`warm_start_from` must be .* received 3 of type int"):
        regsearch.ParetoOracle(warm_start_from=3)
    with pytest.raises(ValueError, match="`warm_start_from`: no directory"):
        regsearch.ParetoOracle(warm_start_from=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="not a keras-tuner project directory"):
        regsearch.ParetoOracle(warm_start_from=str(tmp_path / "first"))
    running = _oracle(tmp_path / "running")
    _run(running, 1, finish=False)
    with pytest.raises(ValueError, match="has no finished trial"):
        regsearch.ParetoOracle(warm_start_from=str(tmp_path / "running" / "p"))
    itself = _oracle(tmp_path / "first", warm_start_from=project_dir)
    with pytest.raises(ValueError, match="this search's own project directory"):
        itself.create_trial("tuner0")
    # an earlier search that did not log this objective's parts
    accuracy = regsearch.Objective("val_accuracy", size="params")
    no_parts = _oracle(tmp_path / "c", objective=accuracy, warm_start_from=project_dir)
    with pytest.raises(ValueError, match=r"none of the 3 finished trials .*'trimmed_params'"):
        no_parts.create_trial("tuner0")


def _hypermodel(kernel):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )
    return regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=kernel),
        compile={
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
    )


def _pareto_search(tmp_path, name, trials, kernel=("none", "l1", "l2"), **kwargs):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    tuner = regsearch.ParetoSearch(
        _hypermodel(list(kernel)),
        objective=regsearch.Objective("val_accuracy", size="macs"),
        max_trials=trials,
        seed=1,
        directory=str(tmp_path),
        project_name=name,
        **kwargs,
    )
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    return tuner


def test_a_pareto_search_learns_from_an_earlier_tuner_without_running_its_trials(tmp_path):
    first = _pareto_search(tmp_path, "first", trials=2)
    second = _pareto_search(tmp_path, "second", trials=1, warm_start_from=first)
    trials = second.oracle.study.get_trials()
    seeded = [t for t in trials if WARM_START_ATTR in t.user_attrs]
    assert len(seeded) == 2 and len(trials) == 3
    assert [t.params for t in seeded] == [
        t.params for t in first.oracle.study.get_trials() if TRIAL_ATTR in t.user_attrs
    ]
    assert len(regsearch.results(second)) == 1  # the earlier trials are not its own
    with pytest.raises(ValueError, match="hyperparameter 'kernel' was Choice"):
        _pareto_search(tmp_path, "third", trials=1, kernel=("none", "l1"), warm_start_from=first)
