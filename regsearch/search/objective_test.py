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
    ("metric", "direction"),
    [
        ("val_cls_accuracy", "max"),  # Keras's name for output "cls"'s accuracy
        ("val_box_head_mae", "min"),
        ("val_cls_loss", "min"),
        ("reg_mean_squared_error", "min"),
    ],
)
def test_the_metric_of_one_output_of_several_keeps_its_direction(metric, direction):
    assert regsearch.Objective(metric).metric_direction == direction


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


def _latency_search(tmp_path, size="latency"):
    """Three trials of a tiny Conv1D model, 2 penalized + 1 fine-tune epochs, by LiteRT cost."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 16, 1)).astype("float32")
    y = (x[:, 6:10, 0].sum(axis=1) > 0).astype("int32")
    model = keras.Sequential(
        [
            keras.Input((16, 1)),
            keras.layers.Conv1D(16, 5, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, name="out"),
        ]
    )
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace.for_size("conv", width=(1.0, 0.25)),
        compile={
            "optimizer": keras.optimizers.Adam(0.01),
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": ["accuracy"],
        },
        finetune_epochs=1,
    )
    objective = regsearch.Objective("val_accuracy", size=size, size_weight=0.1)
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=objective, max_trials=3, directory=str(tmp_path), seed=0
    )
    tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=32, verbose=0)
    return tuner


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="LiteRT conversion needs TensorFlow (below)"
)
def test_a_search_by_latency_logs_and_selects_by_the_measured_cost(tmp_path):
    tuner = _latency_search(tmp_path)
    table = regsearch.results(tuner)
    assert (table["status"] == "COMPLETED").all()
    assert (table["latency_ms"] > 0).all() and (table["file_bytes"] > 0).all()
    fastest = table.loc[table["latency_ms"].idxmin(), "trial_id"]
    assert regsearch.select(tuner, 1.0, size="latency") == fastest
    # the logged file size is that of the model best_model returns
    chosen = regsearch.select(tuner, 1.0, size="file_bytes")
    small = regsearch.best_model(tuner, trial_id=chosen)
    row = table.set_index("trial_id").loc[chosen]
    assert regsearch.deployment_cost(small, repeats=1).file_bytes == row["file_bytes"]
    assert regsearch.pareto_front(tuner, ("val_accuracy", "latency_ms")).shape[0] >= 1


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="checks the error other backends get"
)
def test_a_search_by_latency_on_another_backend_stops_with_what_to_do(tmp_path):
    with pytest.raises(keras_tuner.errors.FatalRuntimeError, match="KERAS_BACKEND=tensorflow"):
        _latency_search(tmp_path)


def test_latency_and_file_bytes_are_sizes_logged_in_their_columns():
    assert regsearch.Objective(size="latency").size_column == "latency_ms"
    assert regsearch.Objective(size="file_bytes").size_column == "file_bytes"
    assert regsearch.Objective(size="macs").size_column == "trimmed_macs"
    restored = regsearch.Objective.from_config(regsearch.Objective(size="latency").get_config())
    assert restored.size == "latency" and restored.measures_deployment
    with pytest.raises(ValueError, match="Did you mean 'latency'"):
        regsearch.Objective(size="latncy")
