import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import regsearch


@pytest.fixture(scope="module")
def finished_tuner(tmp_path_factory):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 6)).astype("float32")
    y = (x[:, :2].sum(axis=1, keepdims=True)).astype("float32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, name="hidden"), keras.layers.Dense(1, name="out")]
    )
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=["none", "l1", "group_lasso"], strength=(1e-3, 1e-1)),
        compile={"optimizer": keras.optimizers.Adam(0.05), "loss": "mse"},
        trim_threshold=1e-2,
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.2),
        max_trials=4,
        directory=str(tmp_path_factory.mktemp("runs")),
        seed=2,
    )
    tuner.search(x, y, validation_split=0.25, epochs=4, batch_size=32, verbose=0)
    return tuner


def test_results_has_one_row_per_trial_with_every_part(finished_tuner):
    table = regsearch.results(finished_tuner)
    assert len(table) == 4
    assert {
        "trial_id",
        "status",
        "kernel",
        "score",
        "val_data_loss",
        "trimmed_params",
        "size_ratio",
        "message",
    } <= set(table.columns)
    assert table["trial_id"].is_unique


def test_pareto_front_is_the_non_dominated_set(finished_tuner):
    table = regsearch.results(finished_tuner)
    front = regsearch.pareto_front(finished_tuner)
    points = list(zip(table["val_data_loss"], table["trimmed_params"]))
    for loss, params in zip(front["val_data_loss"], front["trimmed_params"]):
        assert not any(
            (l2 <= loss and p2 <= params) and (l2 < loss or p2 < params) for l2, p2 in points
        )
    dominated = [
        (loss, params)
        for loss, params in points
        if any((l2 <= loss and p2 <= params) and (l2 < loss or p2 < params) for l2, p2 in points)
    ]
    assert len(front) + len(dominated) == len(points)
    assert list(front["val_data_loss"]) == sorted(front["val_data_loss"])


def test_pareto_front_rejects_unknown_objectives(finished_tuner):
    with pytest.raises(ValueError, match="Did you mean 'trimmed_params'"):
        regsearch.pareto_front(finished_tuner, ("val_loss", "trimmed_parms"))


def test_plot_pareto_returns_a_figure_with_the_front_highlighted(finished_tuner, tmp_path):
    import matplotlib.figure

    chosen = regsearch.pareto_front(finished_tuner)["trial_id"].iloc[0]
    fig = regsearch.plot_pareto(finished_tuner, chosen=chosen)
    assert isinstance(fig, matplotlib.figure.Figure)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert "Pareto front" in labels and f"chosen ({chosen})" in labels
    fig.savefig(tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").stat().st_size > 1000


def test_best_model_of_a_picked_trial(finished_tuner):
    trial_id = regsearch.pareto_front(finished_tuner)["trial_id"].iloc[-1]
    model = regsearch.best_model(finished_tuner, trimmed=False, trial_id=trial_id)
    assert model.count_params() > 0
    with pytest.raises(ValueError, match="no trial 'nope'"):
        regsearch.best_model(finished_tuner, trial_id="nope")


def test_best_model_rounds_the_trimmed_channel_counts_when_asked(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, name="hidden"), keras.layers.Dense(1)]
    )
    kernel, bias = model.get_layer("hidden").get_weights()
    kernel[:, 3:] = 0.0  # five dead units; a learning rate of 0 keeps them so
    model.get_layer("hidden").set_weights([kernel, bias])
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=["none"]),
        compile={"optimizer": keras.optimizers.SGD(0.0), "loss": "mse"},
        initial_weights="model",
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss"),
        max_trials=1,
        directory=str(tmp_path),
    )
    x = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    tuner.search(x, x[:, :1], validation_split=0.25, epochs=1, verbose=0)
    plain = regsearch.best_model(tuner)
    rounded = regsearch.best_model(tuner, round_to=4)
    assert plain.get_layer("hidden").units == 3
    assert rounded.get_layer("hidden").units == 4
    np.testing.assert_allclose(
        rounded.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-5
    )
    with pytest.raises(ValueError, match=r"round_to=4 with trimmed=False"):
        regsearch.best_model(tuner, trimmed=False, round_to=4)


def test_results_rejects_non_tuners():
    with pytest.raises(TypeError, match="keras_tuner Tuner"):
        regsearch.results("runs/")


def test_tables_are_dataframes_with_a_fresh_index(finished_tuner):
    table = regsearch.results(finished_tuner)
    front = regsearch.pareto_front(finished_tuner)
    assert isinstance(table, pd.DataFrame) and isinstance(front, pd.DataFrame)
    assert list(table.index) == list(range(4))
    assert list(front.index) == list(range(len(front))) and 1 <= len(front) <= 4
    assert table.columns[-1] == "message" and table["message"].isna().all()
    assert {"trial_id", "status", "score", "trimmed_params"} <= set(front.columns)
    assert set(front["trial_id"]) <= set(table["trial_id"])
    assert pd.api.types.is_float_dtype(table["trimmed_params"])


def test_tables_of_a_search_without_trials_are_empty_dataframes(tmp_path):
    hypermodel = regsearch.RegSearchHyperModel(
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")]),
        regsearch.SearchSpace(kernel=["none", "l1"]),
        compile={"optimizer": "adam", "loss": "mse"},
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=regsearch.Objective("val_loss"), max_trials=1, directory=tmp_path
    )
    table = regsearch.results(tuner)
    front = regsearch.pareto_front(tuner)
    assert isinstance(front, pd.DataFrame) and front.empty
    assert table.empty and list(table.columns) == [
        "trial_id",
        "status",
        "feasible",
        "over_budget",
        "collapsed_epoch",
        "collapsed_layer",
        "message",
    ]


def _finished(tuner, *columns):
    table = regsearch.results(tuner)
    return table[table["status"] == "COMPLETED"].dropna(subset=list(columns))


def test_select_picks_the_smallest_trial_within_the_tolerance(finished_tuner):
    table = _finished(finished_tuner, "val_data_loss", "trimmed_params")
    best = table["val_data_loss"].min()
    front_ids = set(regsearch.pareto_front(finished_tuner)["trial_id"])
    for tolerance in (0.0, 0.05, 0.5, 100.0):
        chosen = regsearch.select(finished_tuner, tolerance)
        row = table.set_index("trial_id").loc[chosen]
        within = table[table["val_data_loss"] <= best + tolerance + 1e-9]
        assert row["val_data_loss"] <= best + tolerance + 1e-9
        assert row["trimmed_params"] == within["trimmed_params"].min()
        assert chosen in front_ids
    assert (
        regsearch.select(finished_tuner, 100.0)
        == table.sort_values(["trimmed_params", "val_data_loss"])["trial_id"].iloc[0]
    )
    # tolerance 0: the most accurate trial
    assert table.set_index("trial_id").loc[regsearch.select(finished_tuner, 0.0)][
        "val_data_loss"
    ] == pytest.approx(best)


def test_select_with_a_relative_tolerance(finished_tuner):
    table = _finished(finished_tuner, "val_data_loss", "trimmed_params").set_index("trial_id")
    best = table["val_data_loss"].min()
    chosen = regsearch.select(finished_tuner, 0.5, relative=True, size="params")
    assert table.loc[chosen, "val_data_loss"] <= 1.5 * best + 1e-9
    within = table[table["val_data_loss"] <= 1.5 * best + 1e-9]
    assert table.loc[chosen, "trimmed_params"] == within["trimmed_params"].min()
    # the same search read by MACs
    by_macs = regsearch.select(finished_tuner, 0.5, relative=True, size="trimmed_macs")
    within_macs = within["trimmed_macs"].min()
    assert table.loc[by_macs, "trimmed_macs"] == within_macs


def test_best_model_with_a_tolerance_loads_the_selected_trial(finished_tuner):
    chosen = regsearch.select(finished_tuner, 0.5)
    by_tolerance = regsearch.best_model(finished_tuner, trimmed=False, tolerance=0.5)
    by_id = regsearch.best_model(finished_tuner, trimmed=False, trial_id=chosen)
    for a, b in zip(by_tolerance.get_weights(), by_id.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="either `trial_id` or `tolerance`"):
        regsearch.best_model(finished_tuner, trial_id=chosen, tolerance=0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tolerance": -0.01}, ValueError, "`tolerance` must be >= 0"),
        ({"tolerance": float("nan")}, ValueError, "`tolerance` must be finite"),
        ({"tolerance": "1%"}, TypeError, "`tolerance` must be a real number"),
        ({"tolerance": 0.1, "size": "trimmed_parms"}, ValueError, "Did you mean 'trimmed_params'"),
        ({"tolerance": 0.1, "metric": "val_dataloss"}, ValueError, "Did you mean 'val_data_loss'"),
    ],
)
def test_select_rejects_bad_arguments(finished_tuner, kwargs, error, match):
    with pytest.raises(error, match=match):
        regsearch.select(finished_tuner, **kwargs)
    if "metric" not in kwargs:
        with pytest.raises(error, match=match):
            regsearch.best_model(finished_tuner, **kwargs)


def test_select_without_a_finished_trial_raises_what_best_model_raises(finished_tuner, tmp_path):
    empty = keras_tuner.RandomSearch(
        finished_tuner.hypermodel,
        objective=regsearch.Objective("val_loss"),
        max_trials=1,
        directory=str(tmp_path),
    )
    with pytest.raises(RuntimeError, match=r"No trial of this search finished \(0 trials\)") as a:
        regsearch.select(empty, 0.01)
    with pytest.raises(RuntimeError) as b:
        regsearch.best_model(empty, tolerance=0.01)
    assert str(a.value) == str(b.value)
    with pytest.raises(RuntimeError) as c:
        regsearch.best_model(empty)
    assert str(c.value) == str(a.value)


def test_select_measures_the_tolerance_from_a_reference(finished_tuner):
    table = _finished(finished_tuner, "val_data_loss", "trimmed_params").set_index("trial_id")
    worst = table["val_data_loss"].max()
    chosen = regsearch.select(finished_tuner, 0.0, reference=worst)
    # every trial is within 0 of the worst loss: the smallest of all wins
    assert table.loc[chosen, "trimmed_params"] == table["trimmed_params"].min()
    best = table["val_data_loss"].min()
    with pytest.raises(LookupError, match=r"within 0\.001 of the reference"):
        regsearch.select(finished_tuner, 1e-3, reference=best / 2)


def test_plot_pareto_puts_size_on_x_marks_the_base_and_shades_the_tolerance(finished_tuner):
    from matplotlib.patches import Polygon, Rectangle

    objectives = ("val_loss", "trimmed_params")
    rows = regsearch.results(finished_tuner)
    base = {"val_loss": float(rows["val_loss"].min()), "trimmed_params": 5000.0}
    fig = regsearch.plot_pareto(finished_tuner, objectives, base=base, tolerance=0.05)
    ax = fig.axes[0]
    metric = regsearch.search.metric_column("val_loss", rows.to_dict("records"))
    assert ax.get_xlabel() == "trimmed_params" and ax.get_ylabel() == metric
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "base" in labels and "within tolerance" in labels
    (band,) = [p for p in ax.patches if isinstance(p, (Polygon, Rectangle))]
    if isinstance(band, Polygon):
        ys = band.get_xy()[:, 1]
    else:
        ys = [band.get_y(), band.get_y() + band.get_height()]
    assert min(ys) == pytest.approx(base["val_loss"])  # a loss: the band lies above
    assert max(ys) == pytest.approx(base["val_loss"] + 0.05)
    sizes = rows["trimmed_params"].astype(float)
    assert ax.get_xscale() == ("log" if sizes.max() >= 10 * sizes[sizes > 0].min() else "linear")
    with pytest.raises(ValueError, match="`base` must give a value for each of"):
        regsearch.plot_pareto(finished_tuner, objectives, base={"val_loss": 0.1})
    with pytest.raises(ValueError, match="pass `base` too"):
        regsearch.plot_pareto(finished_tuner, objectives, tolerance=0.01)
