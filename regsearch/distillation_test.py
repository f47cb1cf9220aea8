"""Soft targets for ``shrink``'s trials: the mix, the losses that read it, the metrics."""

import keras
import numpy as np
import pytest

from regsearch._distillation import loss_kind, soft_targets, unsupported

L = keras.layers


def _classifier(activation="softmax", units=3):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    return keras.Model(inputs, L.Dense(units, activation=activation)(inputs))


def _data(n=16, classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, classes, n)


def _targets(model, compile, *, weight=0.5, temperature=1.0, y=None):
    x, labels = _data()
    y = labels if y is None else y
    return soft_targets(
        model, x, y, (x[:4], y[:4]), compile,
        weight=weight, temperature=temperature, batch_size=8,
    )  # fmt: skip


def test_sparse_labels_mix_with_the_models_probabilities_and_become_one_hot():
    model = _classifier()
    x, y = _data()
    compile = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
    targets = _targets(model, compile, weight=0.25)

    probabilities = model.predict(x, verbose=0)
    expected = 0.25 * probabilities + 0.75 * np.eye(3)[y]
    np.testing.assert_allclose(targets.y, expected, atol=1e-6)
    np.testing.assert_allclose(targets.y.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(targets.validation_data[1], np.eye(3)[y[:4]])
    assert isinstance(targets.compile["loss"], keras.losses.CategoricalCrossentropy)
    assert targets.compile["metrics"] == ["accuracy"]  # Keras resolves it from the targets


def test_the_mixed_target_is_the_weighted_sum_of_the_two_cross_entropies():
    rng = np.random.default_rng(1)
    labels = np.eye(3)[rng.integers(0, 3, 8)]
    teacher = rng.dirichlet(np.ones(3), 8)
    student = rng.dirichlet(np.ones(3), 8).astype("float32")
    loss = keras.losses.CategoricalCrossentropy()
    mixed = loss(0.3 * teacher + 0.7 * labels, student)
    apart = 0.3 * loss(teacher, student) + 0.7 * loss(labels, student)
    assert float(mixed) == pytest.approx(float(apart), rel=1e-5)


def test_temperature_flattens_the_models_probabilities():
    model = _classifier()
    compile = {"loss": "sparse_categorical_crossentropy"}
    sharp = _targets(model, compile, weight=1.0, temperature=1.0).y
    soft = _targets(model, compile, weight=1.0, temperature=4.0).y

    def entropy(p):
        return -(p * np.log(p)).sum(axis=1)

    assert np.all(entropy(soft) > entropy(sharp))
    np.testing.assert_array_equal(soft.argmax(axis=1), sharp.argmax(axis=1))
    x, _ = _data()
    # p ** (1 / T), renormalized
    p = model.predict(x, verbose=0) ** 0.25
    np.testing.assert_allclose(soft, p / p.sum(axis=1, keepdims=True), atol=1e-6)


def test_logits_are_softened_with_a_softmax():
    model = _classifier(activation=None)
    x, _ = _data()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    targets = _targets(model, {"loss": loss}, weight=1.0, temperature=2.0)

    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x, verbose=0) / 2.0))
    np.testing.assert_allclose(targets.y, expected, atol=1e-6)
    assert targets.compile["loss"].get_config()["from_logits"] is True


def test_sparse_metrics_become_categorical_under_the_same_names():
    model = _classifier()
    compile = {
        "loss": keras.losses.sparse_categorical_crossentropy,
        "metrics": [
            "sparse_categorical_accuracy",
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"),
            "mae",
        ],
    }
    metrics = _targets(model, compile).compile["metrics"]

    assert [type(m) for m in metrics[:3]] == [
        keras.metrics.CategoricalAccuracy,
        keras.metrics.CategoricalAccuracy,
        keras.metrics.TopKCategoricalAccuracy,
    ]
    assert [m.name for m in metrics[:3]] == ["sparse_categorical_accuracy", "acc", "top2"]
    assert metrics[2].get_config()["k"] == 2 and metrics[3] == "mae"
    # the logged values keep their meaning on one-hot labels
    model.compile(loss=_targets(model, compile).compile["loss"], metrics=metrics)
    x, y = _data()
    dense = model.evaluate(x, np.eye(3)[y], verbose=0, return_dict=True)
    model.compile(loss=compile["loss"], metrics=compile["metrics"][:3])
    sparse = model.evaluate(x, y, verbose=0, return_dict=True)
    for name in ("loss", "sparse_categorical_accuracy", "acc", "top2"):
        assert dense[name] == pytest.approx(sparse[name], rel=1e-5)


def test_binary_and_regression_targets_mix_in_place():
    x, _ = _data()
    binary = _classifier("sigmoid", units=1)
    labels = (x[:, :1] > 0).astype("float32")
    targets = _targets(binary, {"loss": "binary_crossentropy"}, weight=0.5, y=labels)
    np.testing.assert_allclose(
        targets.y, 0.5 * binary.predict(x, verbose=0) + 0.5 * labels, atol=1e-6
    )
    assert targets.compile["loss"] == "binary_crossentropy"

    regression = _classifier(None, units=1)
    values = x[:, :1] * 2.0
    targets = _targets(regression, {"loss": keras.losses.MeanSquaredError()}, y=values)
    np.testing.assert_allclose(
        targets.y, 0.5 * regression.predict(x, verbose=0) + 0.5 * values, atol=1e-6
    )


def test_what_cannot_be_distilled_says_why():
    model = _classifier()
    x, y = _data()
    assert unsupported(model, x, y, {"loss": "sparse_categorical_crossentropy"}) is None
    assert "loss is 'mae'" in unsupported(model, x, y, {"loss": "mae"})
    # a dataset or generator carries its targets inside x
    assert "NumPy arrays" in unsupported(model, x, None, {"loss": "mse"})
    assert "NumPy arrays" in unsupported(model, x, list(y), {"loss": "mse"})
    inputs = keras.Input((4,))
    two = keras.Model(inputs, [L.Dense(2)(inputs), L.Dense(2)(inputs)])
    assert "has 2 outputs" in unsupported(two, x, y, {"loss": "mse"})
    assert loss_kind(keras.losses.Huber()) is None
    assert loss_kind("Categorical_Crossentropy") == "categorical"
