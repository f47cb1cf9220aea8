"""ParetoOracle / ParetoSearch: real keras-tuner searches on a tiny model, Optuna inside."""

from __future__ import annotations

import copy
import importlib.util
import math

import keras
import keras_tuner
import numpy as np
import optuna
import pytest

import regsearch
from regsearch.oracles._oracle import REPEAT_ATTR, STATUS_ATTR, TRIAL_ATTR


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def _hypermodel(cls=regsearch.RegSearchHyperModel, **kwargs):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )
    return cls(
        model,
        regsearch.SearchSpace(kernel=["none", "l1", "l2"]),
        compile={
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        **kwargs,
    )


def _search(tmp_path, *, trials=2, objective=None, hypermodel=None, **kwargs):
    keras.utils.set_random_seed(0)
    tuner = regsearch.ParetoSearch(
        hypermodel or _hypermodel(),
        objective=objective or regsearch.Objective("val_accuracy", size="macs"),
        max_trials=trials,
        seed=1,
        directory=str(tmp_path),
        project_name="pareto",
        **kwargs,
    )
    x, y = _data()
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    return tuner


def _twins_of(oracle):
    return {t.user_attrs[TRIAL_ATTR]: t for t in oracle.study.get_trials()}


SAMPLERS = [
    "tpe",
    "nsga2",
    "random",
    pytest.param(
        "gp",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("torch") is None,
            reason="GPSampler needs PyTorch (pip install 'regsearch[gp]')",
        ),
    ),
]


def _space():
    hp = keras_tuner.HyperParameters()
    kernel = hp.Choice("kernel", ["none", "l1"])
    with hp.conditional_scope("kernel", ["l1"]):
        hp.Float("kernel_l1_strength", 1e-6, 1e-1, sampling="log")
    hp.Int("units", 2, 8, step=2)
    return hp, kernel


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_drives_keras_tuners_oracle_api(tmp_path, sampler):
    # Past the samplers' 3 random start-up trials, as a worker calls the oracle.
    oracle = regsearch.ParetoOracle(
        regsearch.Objective("val_accuracy", size="macs"), max_trials=6, sampler=sampler, seed=0
    )
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.update_space(_space()[0])
    for _ in range(6):
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        strength = values.get("kernel_l1_strength", 0.0)
        oracle.update_trial(
            trial.trial_id,
            {"score": strength, "val_accuracy": 1 - strength, "trimmed_macs": values["units"]},
        )
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    twins = _twins_of(oracle)
    assert sorted(twins) == sorted(oracle.trials)
    for trial_id, trial in oracle.trials.items():
        twin = twins[trial_id]
        assert twin.state == optuna.trial.TrialState.COMPLETE
        values = trial.hyperparameters.values
        assert twin.params == {k: v for k, v in values.items()}
        assert ("kernel_l1_strength" in twin.params) == (values["kernel"] == "l1")
        assert twin.values == [1 - values.get("kernel_l1_strength", 0.0), values["units"]]


def test_a_directory_with_braces_in_its_name_holds_the_study(tmp_path):
    # Optuna formats its storage URL as a template: "{0}" must stay a path.
    tuner = _search(tmp_path / "run {0} {seed}", trials=1)
    assert (tmp_path / "run {0} {seed}" / "pareto" / "optuna_study.db").exists()
    assert len(tuner.oracle.study.get_trials()) == 1


@pytest.mark.slow
def test_tools_work_strengths_follow_their_regularizer_and_best_is_the_best_score(tmp_path):
    tuner = _search(tmp_path, trials=4, sampler="random")
    chosen = set()
    for twin in tuner.oracle.study.get_trials():
        kernel = twin.params["kernel"]
        chosen.add(kernel)
        strengths = {name for name in twin.params if name.endswith("_strength")}
        assert strengths == (set() if kernel == "none" else {f"kernel_{kernel}_strength"})
    assert len(chosen) > 1  # the seed picks more than one regularizer
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == min(t.score for t in trials)
    table = regsearch.results(tuner)
    assert len(table) == 4
    front = regsearch.pareto_front(tuner, ("val_accuracy", "trimmed_macs"))
    assert set(front["trial_id"]) <= set(table["trial_id"])
    model = regsearch.best_model(tuner, trial_id=front["trial_id"].iloc[0])
    assert isinstance(model, keras.Model)
    volume = regsearch.hypervolume(tuner, reference=(0.0, 1e6))
    points = [(-acc, macs) for acc, macs in zip(front["val_accuracy"], front["trimmed_macs"])]
    assert volume == pytest.approx(
        regsearch.search._hypervolume.dominated_volume(points, (0.0, 1e6))
    )
    fig = regsearch.plot_hypervolume(tuner, reference=(0.0, 1e6))
    heights = list(fig.axes[0].lines[0].get_ydata())
    assert len(heights) == 4 and heights[-1] == pytest.approx(volume)
    assert heights == sorted(heights)  # the front only grows


@pytest.mark.slow
def test_a_constraint_violation_is_infeasible_and_the_trial_is_kept(tmp_path):
    objective = regsearch.Objective("val_accuracy", size="macs", max_active_outputs=0.5)
    tuner = _search(tmp_path, objective=objective, sampler="nsga2")
    assert [p for p, _ in tuner.oracle.objective_parts] == [
        "val_accuracy",
        "trimmed_macs",
        "active_outputs",
    ]
    for trial_id, twin in _twins_of(tuner.oracle).items():
        trial = tuner.oracle.trials[trial_id]
        assert trial.status == "COMPLETED"
        assert twin.state == optuna.trial.TrialState.COMPLETE
        active = trial.metrics.get_last_value("active_outputs")
        excess = twin.user_attrs["constraint"]
        assert excess == pytest.approx(active - 0.5) and excess > 0  # softmax: 2 active
    assert tuner.oracle.study.best_trials == []  # no trial is feasible
    assert len(regsearch.results(tuner)) == 2


class _Poisoned(regsearch.RegSearchHyperModel):
    """The second trial trains on NaN inputs: its loss is NaN at once."""

    fits = 0

    def fit(self, hp, model, x, y, **kwargs):
        type(self).fits += 1
        return super().fit(hp, model, x * np.nan if self.fits == 2 else x, y, **kwargs)


@pytest.mark.slow
def test_a_nan_trial_fails_cleanly_and_the_study_goes_on(tmp_path):
    # ReLU maps the NaN inputs to 0, so it is the penalty that turns the loss NaN:
    # penalized from the first batch, without the warmup.
    hypermodel = _hypermodel(_Poisoned, penalty_warmup=False)
    tuner = _search(tmp_path, trials=3, hypermodel=hypermodel)  # TPE
    statuses = {t.trial_id: t.status for t in tuner.oracle.trials.values()}
    assert statuses == {"0": "COMPLETED", "1": "FAILED", "2": "COMPLETED"}
    assert "nan" in tuner.oracle.trials["1"].message
    states = {t.user_attrs[TRIAL_ATTR]: t.state for t in tuner.oracle.study.get_trials()}
    assert states == {
        "0": optuna.trial.TrialState.COMPLETE,
        "1": optuna.trial.TrialState.FAIL,
        "2": optuna.trial.TrialState.COMPLETE,
    }


@pytest.mark.filterwarnings("ignore:All-NaN axis encountered:RuntimeWarning")  # keras-tuner's
def test_unfinite_parts_fail_a_trial_with_a_message():
    oracle = regsearch.ParetoOracle(regsearch.Objective("val_accuracy"), max_trials=1)
    trial = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id="0")
    trial.metrics.register("score", "min")
    trial.metrics.update("score", 0.5)
    trial.metrics.update("val_accuracy", float("nan"))
    trial.metrics.update("trimmed_params", 10.0)
    oracle.score_trial(trial)
    assert math.isnan(trial.score)
    assert "'val_accuracy'" in trial.message and "nan" in trial.message


def test_arguments_are_checked():
    with pytest.raises(TypeError, match=r"regsearch\.Objective"):
        regsearch.ParetoOracle(keras_tuner.Objective("val_loss", "min"))
    with pytest.raises(ValueError, match="Did you mean 'nsga2'"):
        regsearch.ParetoOracle(sampler="nsga")
    with pytest.raises(TypeError, match="optuna sampler"):
        regsearch.ParetoOracle(sampler=3)


def test_config_round_trip_and_copies_leave_the_study_behind(tmp_path):
    oracle = regsearch.ParetoOracle(
        regsearch.Objective("val_accuracy", size="macs", max_active_outputs=2.0),
        max_trials=5,
        sampler="nsga2",
        seed=3,
    )
    clone = regsearch.ParetoOracle.from_config(oracle.get_config())
    assert clone.get_config() == oracle.get_config()
    assert clone.objective == oracle.objective
    oracle._set_project_dir(str(tmp_path), "p")
    assert oracle.study.trials == []
    copied = copy.deepcopy(oracle)  # as the sklearn estimators copy their oracle
    assert copied._study is None and copied.get_config() == oracle.get_config()


def test_a_sampler_instance_is_used_as_given(tmp_path):
    sampler = optuna.samplers.NSGAIISampler(population_size=4)
    oracle = regsearch.ParetoOracle(sampler=sampler)
    oracle._set_project_dir(str(tmp_path), "p")
    assert oracle.study.sampler is sampler


def _oracle_in(tmp_path, space):
    oracle = regsearch.ParetoOracle(
        regsearch.Objective("val_accuracy", size="macs"), max_trials=3, sampler="random", seed=0
    )
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.update_space(space)
    return oracle


def _report(oracle, trial, accuracy):
    metrics = {"score": -accuracy, "val_accuracy": accuracy, "trimmed_macs": 10.0}
    oracle.update_trial(trial.trial_id, metrics)
    trial.status = "COMPLETED"


def test_a_kill_between_the_trial_file_and_oracle_json_neither_loses_nor_repeats(tmp_path):
    space = _space()[0]
    oracle = _oracle_in(tmp_path, space)
    first = oracle.create_trial("tuner0")
    _report(oracle, first, 0.5)
    oracle.end_trial(first)
    oracle_json = tmp_path / "p" / "oracle.json"
    second = oracle.create_trial("tuner0")
    while_running = oracle_json.read_text()
    _report(oracle, second, 0.6)
    # The kill: keras-tuner saved trial.json (COMPLETED); oracle.json still lists the
    # trial as running; the Optuna trial was never told.
    keras_tuner.Oracle.end_trial(oracle, second)
    oracle_json.write_text(while_running)

    resumed = _oracle_in(tmp_path, space)
    resumed.reload()
    assert resumed.trials["1"].status == "COMPLETED" and "1" in resumed.end_order
    assert resumed.create_trial("tuner0").trial_id == "2"  # trial 1 is not run again
    trials = resumed.study.get_trials()
    told = [t for t in trials if STATUS_ATTR in t.user_attrs]
    assert sorted(t.user_attrs[TRIAL_ATTR] for t in told) == ["0", "1"]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in told)
    assert trials[1].state == optuna.trial.TrialState.FAIL  # the killed run's twin
    (again,) = [t for t in told if t.user_attrs[TRIAL_ATTR] == "1"]
    assert again.params == trials[1].params and again.values == [0.6, 10.0]


def test_start_from_defaults_runs_the_first_trial_at_every_default(tmp_path):
    hp, _ = _space()
    hp.values["kernel"] = "l1"  # the defaults are what the space declares, not the last value
    oracle = regsearch.ParetoOracle(
        regsearch.Objective("val_accuracy", size="macs"),
        max_trials=3,
        sampler="random",
        seed=0,
        start_from_defaults=True,
    )
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.update_space(_space()[0])
    first = oracle.create_trial("tuner0")
    assert first.hyperparameters.values == {"kernel": "none", "units": 2}
    with pytest.raises(TypeError, match="`start_from_defaults` must be a bool"):
        regsearch.ParetoOracle(start_from_defaults="yes")


def _oracle_with_initial_trials(tmp_path, initial_trials, **kwargs):
    oracle = regsearch.ParetoOracle(
        regsearch.Objective("val_accuracy", size="macs"),
        max_trials=5,
        sampler="random",
        seed=0,
        initial_trials=initial_trials,
        **kwargs,
    )
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.update_space(_space()[0])
    return oracle


def test_initial_trials_run_in_order_after_the_defaults_missing_names_at_defaults(tmp_path):
    oracle = _oracle_with_initial_trials(
        tmp_path,
        [{"units": 6}, {"kernel": "l1", "kernel_l1_strength": 1e-3, "units": 4}],
        start_from_defaults=True,
    )
    values = [oracle.create_trial(f"tuner{i}").hyperparameters.values for i in range(3)]
    assert values[0] == {"kernel": "none", "units": 2}
    assert values[1] == {"kernel": "none", "units": 6}
    assert values[2]["kernel"] == "l1" and values[2]["units"] == 4
    assert values[2]["kernel_l1_strength"] == pytest.approx(1e-3)


def test_initial_trials_errors_name_the_argument_and_suggest_the_name(tmp_path):
    with pytest.raises(TypeError, match="`initial_trials` must be a list of dicts"):
        regsearch.ParetoOracle(initial_trials={"units": 4})
    with pytest.raises(TypeError, match=r"one dict .* received an item 4 of type int"):
        regsearch.ParetoOracle(initial_trials=[4])
    oracle = _oracle_with_initial_trials(tmp_path / "a", [{"unit": 4}])
    with pytest.raises(ValueError, match="'unit' \\(did you mean 'units'\\?\\)"):
        oracle.create_trial("tuner0")
    oracle = _oracle_with_initial_trials(tmp_path / "b", [{"kernel": "l2"}])
    with pytest.raises(ValueError, match="gives 'kernel' the value 'l2'; it is a Choice of"):
        oracle.create_trial("tuner0")


def _discrete(values):
    return (values["kernel"], values["units"])


def test_distinct_choices_tries_every_combination_before_repeating_one(tmp_path):
    # 2 kernels x 4 unit counts: 8 combinations; the strength (a Float) does not count.
    repeats = _oracle_with_initial_trials(tmp_path / "a", [])
    repeats.max_trials = 10
    plain = [_discrete(repeats.create_trial(f"t{i}").hyperparameters.values) for i in range(6)]
    assert len(set(plain)) < len(plain)  # the seeded random sampler repeats one
    oracle = _oracle_with_initial_trials(tmp_path / "b", [], distinct_choices=True)
    oracle.max_trials = 10
    trials = [oracle.create_trial(f"t{i}") for i in range(10)]
    seen = [_discrete(trial.hyperparameters.values) for trial in trials]
    assert len(set(seen[:8])) == 8  # every combination once
    assert {trial.status for trial in trials[8:]} == {"RUNNING"}  # then repeats run
    set_aside = [t for t in oracle.study.get_trials() if t.user_attrs.get(REPEAT_ATTR)]
    assert set_aside and all(t.state == optuna.trial.TrialState.FAIL for t in set_aside)
    assert all(TRIAL_ATTR not in t.user_attrs for t in set_aside)


def test_distinct_choices_runs_initial_trials_that_share_their_choices(tmp_path):
    same_choices = [
        {"kernel": "l1", "kernel_l1_strength": 1e-4, "units": 4},
        {"kernel": "l1", "kernel_l1_strength": 1e-2, "units": 4},
    ]
    oracle = _oracle_with_initial_trials(tmp_path, same_choices, distinct_choices=True)
    values = [oracle.create_trial(f"t{i}").hyperparameters.values for i in range(3)]
    assert [v["kernel_l1_strength"] for v in values[:2]] == pytest.approx([1e-4, 1e-2])
    assert _discrete(values[2]) != ("l1", 4)  # the sampler's own proposal is new
    with pytest.raises(TypeError, match="`distinct_choices` must be a bool"):
        regsearch.ParetoOracle(distinct_choices="yes")


def test_a_search_with_distinct_choices_trains_distinct_architectures(tmp_path):
    tuner = _search(tmp_path, trials=3, distinct_choices=True)
    combos = [
        tuple(v for k, v in sorted(t.hyperparameters.values.items()) if not k.endswith("strength"))
        for t in tuner.oracle.trials.values()
    ]
    assert len(combos) == 3 and len(set(combos)) == 3
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    clone = regsearch.ParetoOracle.from_config(tuner.oracle.get_config())
    assert clone.distinct_choices is True
