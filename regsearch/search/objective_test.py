import math

import keras
import keras_tuner
import numpy as np
import pytest

import regsearch


def test_objective_is_a_minimized_keras_tuner_objective_named_score():
    objective = regsearch.Objective("val_accuracy", size_weight=0.5)
    assert isinstance(objective, keras_tuner.Objective)
    assert (objective.name, objective.direction) == ("score", "min")
    assert objective.metric_direction == "max"
    assert regsearch.Objective("val_loss").metric_direction == "min"
    assert regsearch.Objective("val_mean_squared_error").metric_direction == "min"


def test_score_formula():
    objective = regsearch.Objective(
        "val_accuracy", size_weight=0.5, max_active_outputs=2, sparsity_weight=2.0
    )
    logs = {"val_accuracy": 0.9}
    # -0.9 + 0.5 * 0.25 + 2.0 * (3.5 - 2) / 8
    assert objective.score(logs, size_ratio=0.25, active_outputs=3.5, n_outputs=8) == pytest.approx(
        -0.9 + 0.125 + 0.375
    )
    # below the allowed number of active outputs costs nothing
    assert objective.score(logs, size_ratio=0.0, active_outputs=1.0, n_outputs=8) == pytest.approx(
        -0.9
    )


def test_product_tradeoff_formula():
    loss = regsearch.Objective("val_loss", size_weight=0.5, tradeoff="product")
    assert loss.score({"val_data_loss": 0.2}, size_ratio=0.25) == pytest.approx(0.2 * 0.5)
    accuracy = regsearch.Objective(
        "val_accuracy", size_weight=0.1, tradeoff="product", max_active_outputs=2
    )
    # -(0.9 * 0.25 ** -0.1 / (1 + 1.0 * (3.0 - 2) / 4))
    assert accuracy.score(
        {"val_accuracy": 0.9}, size_ratio=0.25, active_outputs=3.0, n_outputs=4
    ) == pytest.approx(-(0.9 * 0.25**-0.1) / 1.25)
    # a ratio of 0 stays finite
    assert math.isfinite(accuracy.score({"val_accuracy": 0.9}, size_ratio=0.0))


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_product_tradeoff_does_not_depend_on_the_metric_scale(scale):
    # Trial a: MSE 0.04 at full size; trial b: 15% worse MSE at half the size.
    trials = {"a": (0.04, 1.0), "b": (0.046, 0.5)}

    def winner(objective):
        scores = {
            name: objective.score({"val_data_loss": mse * scale}, size_ratio=ratio)
            for name, (mse, ratio) in trials.items()
        }
        return min(scores, key=scores.get)

    # log(1.15) / log(2) = 0.2: a halving is worth 15%; a weight below keeps "a"
    assert winner(regsearch.Objective("val_loss", size_weight=0.1, tradeoff="product")) == "a"
    assert winner(regsearch.Objective("val_loss", size_weight=0.3, tradeoff="product")) == "b"
    # the weighted sum flips with the scale
    summed = winner(regsearch.Objective("val_loss", size_weight=0.5))
    assert summed == ("b" if scale <= 1.0 else "a")


def test_product_tradeoff_rejects_a_negative_metric():
    objective = regsearch.Objective("val_cosine", direction="min", tradeoff="product")
    with pytest.raises(ValueError, match=r"needs a metric >= 0.*tradeoff='sum'"):
        objective.score({"val_cosine": -0.5})


@pytest.mark.slow
def test_a_search_with_the_product_tradeoff_scores_every_epoch_by_it(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6)).astype("float32")
    y = x[:, :2].sum(axis=1, keepdims=True)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, name="hidden"), keras.layers.Dense(1, name="out")]
    )
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=["none", "group_lasso"], strength=(1e-3, 1e-1)),
        compile={"optimizer": keras.optimizers.Adam(0.05), "loss": "mse"},
        trim_threshold=1e-2,
    )
    objective = regsearch.Objective("val_loss", size_weight=0.3, tradeoff="product")
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=objective, max_trials=3, directory=str(tmp_path), seed=1
    )
    tuner.search(x, y, validation_split=0.25, epochs=3, batch_size=32, verbose=0)
    table = regsearch.results(tuner)
    assert (table["status"] == "COMPLETED").all()
    expected = table["val_data_loss"] * table["size_ratio"] ** 0.3
    np.testing.assert_allclose(table["score"], expected, rtol=1e-5)


def test_val_loss_is_scored_on_the_data_loss_when_logged():
    objective = regsearch.Objective("val_loss")
    assert objective.score({"val_loss": 1.5, "val_data_loss": 1.0}) == pytest.approx(1.0)
    assert objective.score({"val_loss": 1.5}) == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": "param"}, ValueError, "Did you mean .params."),
        ({"size_weight": -1.0}, ValueError, "`size_weight`"),
        ({"direction": "up"}, ValueError, "`direction`"),
        ({"metric": "score"}, ValueError, "cannot be 'score'"),
        ({"metric": "val_weirdness"}, ValueError, "direction='min'"),
        ({"tradeoff": "products"}, ValueError, "Did you mean 'product'"),
    ],
)
def test_bad_objectives(kwargs, error, match):
    with pytest.raises(error, match=match):
        regsearch.Objective(**kwargs)


def test_objective_config_round_trip():
    objective = regsearch.Objective("val_auc", size_weight=0.3, size="macs", max_active_outputs=2)
    assert regsearch.Objective.from_config(objective.get_config()) == objective
    product = regsearch.Objective("val_auc", size_weight=0.05, tradeoff="product")
    restored = regsearch.Objective.from_config(product.get_config())
    assert restored == product and restored.tradeoff == "product"
    assert restored != regsearch.Objective("val_auc", size_weight=0.05)
