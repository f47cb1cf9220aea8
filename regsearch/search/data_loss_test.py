import keras
import numpy as np
import pytest

from regsearch.search import DataLoss


def test_data_loss_is_the_loss_without_penalties():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(1.0))]
    )
    model.compile(optimizer="sgd", loss="mse", metrics=[DataLoss("mse")])
    x = np.ones((4, 3), "float32")
    y = np.zeros((4, 1), "float32")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    prediction = model.predict(x, verbose=0)
    penalty = float(np.sum(model.layers[0].kernel.numpy() ** 2))
    assert logs["data_loss"] == pytest.approx(float(np.mean(prediction**2)), rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["data_loss"] + penalty, rel=1e-5)


def test_data_loss_accepts_loss_instances_and_sample_weights():
    metric = DataLoss(keras.losses.MeanAbsoluteError())
    metric.update_state([[0.0], [0.0]], [[1.0], [3.0]], sample_weight=[1.0, 3.0])
    assert float(metric.result()) == pytest.approx((1.0 + 9.0) / 4.0)
    with pytest.raises(TypeError, match="`loss`"):
        DataLoss(42)


def test_keras_round_trip(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mae", metrics=[DataLoss("mae")])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.zeros((8, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    expected = model.evaluate(x, y, verbose=0, return_dict=True)["data_loss"]
    assert loaded.evaluate(x, y, verbose=0, return_dict=True)["data_loss"] == pytest.approx(
        expected, rel=1e-6
    )


@pytest.mark.parametrize("labels_shape", [(6,), (6, 1)])
def test_labels_of_a_single_sigmoid_output_are_aligned_as_keras_aligns_them(labels_shape):
    rng = np.random.default_rng(0)
    y_true = (rng.random(labels_shape) > 0.5).astype("float32")
    y_pred = rng.uniform(0.1, 0.9, size=(6, 1)).astype("float32")
    metric = DataLoss("binary_crossentropy")
    metric.update_state(y_true, y_pred)
    expected = keras.losses.BinaryCrossentropy()(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(float(expected), rel=1e-6)
