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
    assert list(table.columns) == ["trial_id", "status", "message"] and table.empty
