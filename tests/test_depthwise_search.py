"""A keras-tuner search over a MobileNet-style model (depthwise, separable, 1x1 conv)."""

import keras
import keras_tuner
import numpy as np
import pytest

import regsearch


def _mobilenet_style():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    x = keras.layers.DepthwiseConv2D(5, padding="same", activation="relu", name="dw")(x)
    x = keras.layers.Conv2D(8, 1, activation="relu", name="pw")(x)
    x = keras.layers.SeparableConv2D(8, 5, padding="same", activation="relu", name="sep")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))


@pytest.mark.slow
def test_search_regularizes_depthwise_and_separable_kernels(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8, 8, 1)).astype("float32")
    y = (x[:, 2:6, 2:6, 0].mean(axis=(1, 2)) > 0).astype("int64") + (x[:, 0, 0, 0] > 1)
    hypermodel = regsearch.RegSearchHyperModel(
        _mobilenet_style(),
        regsearch.SearchSpace(
            ["dw", "pw", "sep"], kernel=["kernel_length", "group_lasso"], strength=(1e-3, 1e-2)
        ),
        compile={"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.1),
        max_trials=2,
        directory=str(tmp_path),
        seed=0,
    )
    tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=32, verbose=0)

    table = regsearch.results(tuner)
    assert list(table["status"]) == ["COMPLETED", "COMPLETED"], list(table["message"])
    for trial in tuner.oracle.trials.values():
        model = tuner.hypermodel.build(trial.hyperparameters)
        chosen = type(regsearch.regularizers.get(trial.hyperparameters.get("kernel")))
        assert isinstance(model.get_layer("dw").depthwise_regularizer, chosen)
        assert isinstance(model.get_layer("sep").depthwise_regularizer, chosen)
        assert model.get_layer("sep").pointwise_regularizer is None
        assert isinstance(model.get_layer("pw").kernel_regularizer, chosen)
    trimmed = regsearch.best_model(tuner)
    assert trimmed.predict(x[:4], verbose=0).shape == (4, 3)
