"""Hard size budgets: Objective(max_params=..., ...) in keras-tuner's own tuners."""

import io
import math

import keras
import keras_tuner
import numpy as np
import pytest

import regsearch

# The model below: 6 inputs -> Dense(16) -> Dense(1): 129 parameters at width 1,
# 65 at width 0.5 and 33 at width 0.25.
PARAMS = {1.0: 129, 0.5: 65, 0.25: 33}


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    return x, x[:, :2].sum(axis=1, keepdims=True).astype("float32")


def _model():
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, name="hidden"),
            keras.layers.Dense(1, name="out"),
        ]
    )


def _hypermodel(space):
    return regsearch.RegSearchHyperModel(
        _model(), space, compile={"optimizer": keras.optimizers.Adam(0.05), "loss": "mse"}
    )


def _width_space():
    return regsearch.SearchSpace("hidden", kernel=["none"], width=[1.0, 0.5, 0.25])


@pytest.fixture(scope="module")
def budget_search(tmp_path_factory):
    """A RandomSearch over three widths with max_params=100: width 1 is over budget."""
    keras.utils.set_random_seed(0)
    directory = str(tmp_path_factory.mktemp("budget"))
    stream = io.StringIO()
    tuner = keras_tuner.RandomSearch(
        _hypermodel(_width_space()),
        objective=regsearch.Objective("val_loss", size_weight=0.1, max_params=100),
        max_trials=3,
        seed=0,
        directory=directory,
        project_name="budget",
    )
    x, y = _data()
    progress = regsearch.search.TrialProgress("val_loss", size="untrimmed_params", stream=stream)
    tuner.search(
        x, y, validation_split=0.25, epochs=2, batch_size=32, verbose=0, callbacks=[progress]
    )
    return tuner, stream.getvalue(), directory


def test_the_search_goes_on_and_an_over_budget_trial_scores_below_the_others(budget_search):
    tuner, _, _ = budget_search
    table = regsearch.results(tuner).set_index("trial_id")
    assert (table["status"] == "COMPLETED").all() and len(table) == 3
    assert sorted(table["width"]) == [0.25, 0.5, 1.0]
    assert list(table["untrimmed_params"].sort_values()) == sorted(PARAMS.values())
    over = table[table["width"] == 1.0]
    within = table[table["width"] < 1.0]
    assert (over["score"] > 1e12).all() and over["score"].min() > within["score"].max()
    assert over["budget_excess"].iloc[0] == pytest.approx(129 / 100 - 1)
    assert (within["budget_excess"] <= 0).all()
    # keras-tuner's own ranking puts it last
    ranked = tuner.oracle.get_best_trials(3)
    assert ranked[-1].trial_id == over.index[0]


def test_results_mark_the_over_budget_trial_and_nothing_selects_it(budget_search):
    tuner, _, _ = budget_search
    table = regsearch.results(tuner)
    assert table["feasible"].dtype == "boolean"
    over_id = table.loc[table["width"] == 1.0, "trial_id"].iloc[0]
    row = table.set_index("trial_id").loc[over_id]
    assert not row["feasible"] and row["over_budget"] == "max_params"
    assert table.loc[table["trial_id"] != over_id, "feasible"].all()
    assert table.loc[table["trial_id"] != over_id, "over_budget"].isna().all()
    assert list(table[table["feasible"]]["trial_id"]) == [
        t for t in table["trial_id"] if t != over_id
    ]
    for tolerance in (0.0, 0.5, 100.0):
        assert regsearch.select(tuner, tolerance) != over_id
        assert regsearch.select(tuner, tolerance, relative=True) != over_id
    assert regsearch.search.best_trial(tuner).trial_id != over_id
    assert over_id not in set(regsearch.pareto_front(tuner)["trial_id"])
    assert over_id not in set(
        regsearch.pareto_front(tuner, ("val_loss", "untrimmed_params"))["trial_id"]
    )
    history = regsearch.search.hypervolume_history(tuner, ("val_loss", "trimmed_params"))
    assert len(history) == 3  # the over-budget trial is a step that adds nothing
    steps = dict(history)
    order = tuner.oracle.end_order
    position = order.index(over_id)
    if position:
        assert steps[over_id] == steps[order[position - 1]]
    # asked for by id, it is loaded as asked
    model = regsearch.best_model(tuner, trimmed=False, trial_id=over_id)
    assert model.count_params() == PARAMS[1.0]
    text = regsearch.search.format_table(table)
    assert "over_budget" in text and "max_params" in text
    fig = regsearch.plot_pareto(tuner, ("val_loss", "trimmed_params"))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "over budget" in labels


def test_the_progress_line_marks_the_over_budget_trial(budget_search):
    _, lines, _ = budget_search
    lines = lines.strip().splitlines()
    assert len(lines) == 3
    marked = [line for line in lines if "over budget by 29%" in line]
    assert len(marked) == 1 and "untrimmed_params 129" in marked[0]


def test_no_trial_within_budget_is_an_error_naming_the_budget_and_the_smallest_size(
    budget_search,
):
    _, _, directory = budget_search
    # The same search read back under a budget no trial meets.
    tuner = keras_tuner.RandomSearch(
        _hypermodel(_width_space()),
        objective=regsearch.Objective(
            "val_loss", size_weight=0.1, max_params=20, max_trimmed_params=1_000
        ),
        max_trials=3,
        directory=directory,
        project_name="budget",
        overwrite=False,
    )
    table = regsearch.results(tuner)
    assert not table["feasible"].any() and set(table["over_budget"]) == {"max_params"}
    message = r"max_params=20 \(the smallest untrimmed_params reached is 33, by trial"
    with pytest.raises(RuntimeError, match=message):
        regsearch.select(tuner, 0.01)
    with pytest.raises(RuntimeError, match="within its size budget"):
        regsearch.best_model(tuner)
    assert regsearch.pareto_front(tuner).empty
    assert regsearch.hypervolume(tuner, ("val_loss", "trimmed_params")) == 0.0


class _HalveHidden(keras.callbacks.Callback):
    """Empties half of the hidden layer's units before the second epoch's validation."""

    def __deepcopy__(self, memo):
        return _HalveHidden()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):
        if self.epoch == 1:
            hidden = self.model.get_layer("hidden")
            kernel, bias = hidden.get_weights()
            kernel[:, 8:], bias[8:] = 0.0, 0.0
            hidden.set_weights([kernel, bias])


def test_the_budget_applies_to_the_epoch_keras_tuner_takes(tmp_path):
    # Epoch 1 has the full model (129 trimmed parameters, over the budget of 100),
    # epoch 2 half of it (65): the trial's best epoch is the one within budget.
    keras.utils.set_random_seed(0)
    tuner = keras_tuner.GridSearch(
        _hypermodel(regsearch.SearchSpace("hidden", kernel=["none"])),
        objective=regsearch.Objective("val_loss", max_trimmed_params=100),
        max_trials=1,
        directory=str(tmp_path),
    )
    x, y = _data()
    tuner.search(x, y, validation_split=0.25, epochs=2, verbose=0, callbacks=[_HalveHidden()])
    (trial,) = tuner.oracle.trials.values()
    assert trial.best_step == 1
    row = regsearch.results(tuner).iloc[0]
    assert row["trimmed_params"] == 65 and row["untrimmed_params"] == 129
    assert row["feasible"] and row["score"] < 1e12
    assert regsearch.select(tuner, 0.0) == trial.trial_id


def test_objective_budgets_are_checked_and_round_trip():
    objective = regsearch.Objective(
        "val_accuracy", max_params=1e5, max_macs=2_000_000, max_trimmed_params=500.5
    )
    assert objective.budgets == {
        "max_params": 100_000,
        "max_macs": 2_000_000,
        "max_trimmed_params": 500.5,
    }
    restored = regsearch.Objective.from_config(objective.get_config())
    assert restored == objective and restored.max_trimmed_macs is None
    assert restored != regsearch.Objective("val_accuracy", max_params=1e5)
    assert "max_params=100000" in repr(objective) and "max_trimmed_macs=None" in repr(objective)
    assert regsearch.Objective().budgets == {}
    sizes = {"untrimmed_params": 150_000.0, "untrimmed_macs": 10.0, "trimmed_params": 400.0}
    excess = objective.budget_excess(sizes)
    assert excess["max_params"] == pytest.approx(0.5) and excess["max_trimmed_params"] < 0
    assert objective.over_budget(sizes) == ["max_params"]
    assert objective.budget_excess({}) == {name: math.inf for name in objective.budgets}
    # over budget, the score gains 1e12 * (1 + the largest excess); within, nothing
    logs = {"val_accuracy": 0.9, **sizes}
    assert objective.score(logs) == pytest.approx(-0.9 + 1e12 * 1.5)
    assert objective.score({"val_accuracy": 0.9, "untrimmed_params": 100.0}) == -0.9


@pytest.mark.parametrize(
    "name", ["max_params", "max_macs", "max_trimmed_params", "max_trimmed_macs"]
)
@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0, ValueError, "must be a finite number > 0"),
        (-5, ValueError, "received -5"),
        (math.inf, ValueError, "received inf"),
        (math.nan, ValueError, "received nan"),
        (True, TypeError, "received True of type bool"),
        ("1000", TypeError, "received '1000' of type str"),
    ],
)
def test_bad_budgets_are_errors_naming_the_argument(name, value, error, match):
    with pytest.raises(error, match=f"`{name}`.*{match}"):
        regsearch.Objective(**{name: value})
