"""``trim(..., round_to=n)``: kept channel counts rounded up to multiples of ``n``, exactly."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

import regsearch
from regsearch.trimming import trim, trimmed_size

L = keras.layers


def _zero_filters(model: keras.Model, name: str, channels: list[int]) -> None:
    layer = model.get_layer(name)
    kernel, bias = layer.get_weights()
    kernel[..., channels] = 0.0
    bias[channels] = 0.0
    layer.set_weights([kernel, bias])


def residual_model() -> keras.Model:
    """A stem and a residual block (stem + b2 coupled through ``add``), some filters dead."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    stem = L.Activation("relu")(L.Conv2D(16, 3, padding="same", name="stem")(inputs))
    block = L.Conv2D(12, 3, padding="same", activation="relu", name="b1")(stem)
    block = L.Conv2D(16, 3, padding="same", name="b2")(block)
    merged = L.Add(name="add")([stem, block])
    outputs = L.Dense(3, name="head")(L.GlobalAveragePooling2D()(merged))
    model = keras.Model(inputs, outputs)
    _zero_filters(model, "stem", [0, 1, 2, 3, 4, 5, 6])  # 9 live
    _zero_filters(model, "b2", [0, 1, 2, 3, 4, 5, 6])  # the same channels: the group has 9
    _zero_filters(model, "b1", [0, 1, 2, 3, 4])  # 7 live
    return model


def filters(model: keras.Model) -> dict[str, int]:
    return {layer.name: layer.filters for layer in model.layers if isinstance(layer, L.Conv2D)}


@pytest.mark.parametrize(
    ("round_to", "expected"),
    [
        (None, {"stem": 9, "b1": 7, "b2": 9}),
        (1, {"stem": 9, "b1": 7, "b2": 9}),
        (4, {"stem": 12, "b1": 8, "b2": 12}),
        (8, {"stem": 16, "b1": 8, "b2": 16}),
        (32, {"stem": 16, "b1": 12, "b2": 16}),  # never more than the layer had
    ],
)
def test_counts_round_up_a_coupled_group_as_one_and_outputs_stay_exact(
    round_to: int | None, expected: dict[str, int]
) -> None:
    model = residual_model()
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 3)).astype("float32")
    small, report = trim(model, 0.0, sample=x, round_to=round_to)
    assert filters(small) == expected
    scale = float(np.abs(keras.ops.convert_to_numpy(model(x))).max())
    assert report.max_abs_error < 1e-5 * scale  # float32 rounding only
    assert report.round_to == round_to
    assert trimmed_size(model, 0.0, round_to=round_to).params == small.count_params()


def test_the_channels_kept_to_round_are_the_largest_ones_with_their_weights() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), L.Dense(8, name="hidden"), L.Dense(2)])
    kernel = np.zeros((5, 8), "float32")
    kernel[:, [0, 1, 2]] = 1.0  # live
    kernel[:, [3, 4, 5, 6, 7]] = [0.5e-3, 0.9e-3, 0.1e-3, 0.8e-3, 0.2e-3]  # count as zero
    model.get_layer("hidden").set_weights([kernel, np.arange(8, dtype="float32")])
    small, report = trim(model, round_to=4)
    hidden = small.get_layer("hidden")
    assert hidden.units == 4
    # the filter closest to being kept (largest norm, 0.9e-3) is channel 4; it stays
    # dead (snapped to 0) and outputs its bias, as it does in the snapped model
    weights, bias = hidden.get_weights()
    np.testing.assert_array_equal(bias, [0, 1, 2, 4])
    np.testing.assert_array_equal(weights[:, 3], 0.0)
    assert "1 channel(s) kept to round to a multiple of 4" in report.layers[0].note
    assert "channels rounded up to multiples of 4" in str(report)
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    regsearch.snap_to_zero(model)
    np.testing.assert_allclose(small(x), model(x), atol=1e-5)


def test_trim_leaves_pythons_random_state_as_it_was() -> None:
    # Building the trimmed layers draws initializer seeds; a search that trims at every
    # epoch end must initialize its next trials as one that does not.
    model = residual_model()
    keras.utils.set_random_seed(1)
    state = random.getstate()
    trim(model, round_to=4)
    assert random.getstate() == state


@pytest.mark.parametrize(
    ("round_to", "error", "message"),
    [
        (0, ValueError, r"`round_to` must be >= 1; received 0"),
        (4.0, TypeError, r"`round_to` must be an integer.*Pass 4"),
        ("8", TypeError, r"`round_to` must be an integer; received '8'"),
    ],
)
def test_bad_round_to_gets_a_clear_error(round_to: object, error: type, message: str) -> None:
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    with pytest.raises(error, match=message):
        trim(model, round_to=round_to)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        trimmed_size(model, round_to=round_to)  # type: ignore[arg-type]
