"""Fixtures shared by the regularizer tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest


@pytest.fixture
def keras_round_trip(tmp_path: Path) -> Callable[[keras.Model, np.ndarray], keras.Model]:
    """Save ``model`` to ``.keras``, load it with no custom_objects, compare, return it."""

    def round_trip(model: keras.Model, x: np.ndarray) -> keras.Model:
        path = tmp_path / "model.keras"
        expected = keras.ops.convert_to_numpy(model(x))
        expected_losses = [float(loss) for loss in model.losses]
        assert expected_losses, "the model has no regularization losses to compare"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loaded(x)), expected, rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(
            [float(loss) for loss in loaded.losses], expected_losses, rtol=1e-5
        )
        return loaded

    return round_trip


def _stripes(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """8 x 8 noise images; the label is the sign of the centre 4 x 4 patch's mean."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = (x[:, 2:6, 2:6, 0].mean(axis=(1, 2)) > 0).astype("int32")
    return x, y


@pytest.fixture
def train_tiny_conv() -> Callable[..., tuple[keras.Model, np.ndarray, float]]:
    """Train two 8-filter convolutions (with BatchNormalization or not) for a few epochs.

    ``train(gamma=..., kernel=..., batch_norm=True, epochs=15)`` attaches a fresh copy
    of the ``gamma`` regularizer to each BatchNormalization and of ``kernel`` to each
    convolution, trains with SGD (momentum 0.9) at seed 0 and returns
    ``(model, x, final training accuracy)``.
    """

    def train(
        *, gamma=None, kernel=None, batch_norm: bool = True, epochs: int = 15
    ) -> tuple[keras.Model, np.ndarray, float]:
        keras.utils.set_random_seed(0)
        x, y = _stripes()
        layers: list[keras.layers.Layer] = [keras.Input((8, 8, 1))]
        for name in ("conv1", "conv2"):
            regularizer = None if kernel is None else kernel.from_config(kernel.get_config())
            layers.append(keras.layers.Conv2D(8, 3, kernel_regularizer=regularizer, name=name))
            if batch_norm:
                scale = None if gamma is None else gamma.from_config(gamma.get_config())
                layers.append(
                    keras.layers.BatchNormalization(gamma_regularizer=scale, name=f"bn{name[-1]}")
                )
            layers.append(keras.layers.ReLU())
        layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, name="out")]
        model = keras.Sequential(layers)
        model.compile(
            keras.optimizers.SGD(0.05, momentum=0.9),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
        return model, x, float(history.history["accuracy"][-1])

    return train
