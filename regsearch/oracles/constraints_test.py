"""Size budgets in ParetoSearch: Optuna constraints, infeasible trials kept and never picked."""

import keras
import numpy as np
import optuna
import pytest

import regsearch
from regsearch.oracles._oracle import TRIAL_ATTR


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int32")


def _model():
    # 6 -> Dense(16) -> Dense(2): 146 parameters at width 1, 38 at width 0.25.
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )


def test_an_over_budget_trial_is_kept_marked_infeasible_and_never_selected(tmp_path):
    keras.utils.set_random_seed(0)
    model = _model()
    space = regsearch.SearchSpace("hidden", kernel=["none"], width=[1.0, 0.25])
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        space,
        compile={
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
    )
    objective = regsearch.Objective(
        "val_accuracy", size="macs", max_params=100, max_active_outputs=2.0
    )
    tuner = regsearch.ParetoSearch(
        hypermodel,
        objective=objective,
        max_trials=2,
        seed=1,
        start_from_defaults=True,  # width 1: over max_params
        initial_trials=[space.uniform_width(model, 0.25)],  # within it
        directory=str(tmp_path),
        project_name="budget",
    )
    x, y = _data()
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    trials = tuner.oracle.trials
    assert [trials[t].status for t in sorted(trials)] == ["COMPLETED", "COMPLETED"]
    twins = {t.user_attrs[TRIAL_ATTR]: t for t in tuner.oracle.study.get_trials()}
    over, within = twins["0"], twins["1"]
    # every constraint reaches the samplers through Optuna's trials
    assert set(over.constraints) == {"active_outputs", "max_params"}
    assert over.constraints["max_params"] == pytest.approx(146 / 100 - 1)
    assert within.constraints["max_params"] == pytest.approx(38 / 100 - 1)
    assert over.constraints["active_outputs"] <= 0  # softmax over 2 outputs: 2 active
    assert over.user_attrs["constraint"] == pytest.approx(0.46)
    assert over.state == within.state == optuna.trial.TrialState.COMPLETE
    assert [t.number for t in tuner.oracle.study.best_trials] == [within.number]
    table = regsearch.results(tuner).set_index("trial_id")
    assert list(table["feasible"]) == [False, True]
    assert table.loc["0", "over_budget"] == "max_params"
    assert regsearch.select(tuner, 1.0) == "1"
    assert regsearch.search.best_trial(tuner).trial_id == "1"
    assert list(regsearch.pareto_front(tuner, ("val_accuracy", "trimmed_macs"))["trial_id"]) == [
        "1"
    ]


def test_a_budget_size_a_trial_did_not_log_fails_it_with_a_message(tmp_path):
    import keras_tuner

    oracle = regsearch.ParetoOracle(
        regsearch.Objective("val_accuracy", max_macs=1_000), max_trials=1
    )
    trial = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id="0")
    trial.metrics.register("score", "min")
    trial.metrics.update("score", -0.5)
    trial.metrics.update("val_accuracy", 0.5)
    trial.metrics.update("trimmed_params", 10.0)
    oracle.score_trial(trial)
    assert np.isnan(trial.score)
    assert "max_macs needs 'untrimmed_macs'" in trial.message


def test_pareto_hyperband_promotes_trials_within_budget_first():
    import keras_tuner

    objective = regsearch.Objective("val_accuracy", size="macs", max_trimmed_macs=100)
    oracle = regsearch.ParetoHyperbandOracle(objective, max_epochs=3)

    def trial(trial_id, accuracy, macs):
        finished = keras_tuner.engine.trial.Trial(
            keras_tuner.HyperParameters(), trial_id=trial_id, status="COMPLETED"
        )
        finished.metrics.update("val_accuracy", accuracy)
        finished.metrics.update("trimmed_macs", macs)
        return finished

    # "0" and "2" dominate the others but are over budget ("2" the least)
    trials = [trial("0", 0.99, 300), trial("1", 0.6, 90), trial("2", 0.98, 150)]
    trials.append(trial("3", 0.7, 50))
    order = [t.trial_id for t in oracle.promotion_order(trials)]
    assert sorted(order[:2]) == ["1", "3"] and order[2:] == ["2", "0"]
