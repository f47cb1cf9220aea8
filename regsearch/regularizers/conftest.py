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
