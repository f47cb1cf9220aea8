"""The weight analysis behind trim() and trimmed_size()."""

import keras
import numpy as np
import pytest

from regsearch.trimming import trimmed_size
from regsearch.trimming._padding import axis_pads

L = keras.layers


@pytest.mark.parametrize(
    ("padding", "n", "k", "s", "d", "expected"),
    [
        ("valid", 10, 5, 2, 1, (0, 0)),
        ("causal", None, 3, 1, 2, (4, 0)),
        ("same", None, 5, 1, 1, (2, 2)),
        ("same", None, 4, 1, 1, (1, 2)),
        ("same", 9, 5, 2, 1, (2, 2)),
        ("same", 10, 5, 2, 1, (1, 2)),
        ("same", None, 5, 2, 1, None),
    ],
)
def test_axis_pads_follow_keras(padding, n, k, s, d, expected):
    assert axis_pads(padding, n, k, s, d) == expected
    if n is not None and padding == "same":  # compare with Keras itself
        x = np.zeros((1, n, 1), "float32")
        x[0, :, 0] = np.arange(1, n + 1)
        conv = L.Conv1D(1, k, strides=s, padding="same", use_bias=False)
        conv.build((1, n, 1))
        kernel = np.zeros((k, 1, 1), "float32")
        kernel[0] = 1.0  # picks the first tap: x_pad[i * s]
        conv.set_weights([kernel])
        first = keras.ops.convert_to_numpy(conv(x))[0, :, 0]
        left = expected[0]
        want = [(i * s - left + 1) if i * s - left >= 0 else 0 for i in range(len(first))]
        np.testing.assert_array_equal(first, want)


def test_trimmed_size_counts_params_and_macs_per_sample():
    model = keras.Sequential(
        [keras.Input((16, 2)), L.Conv1D(4, 5, padding="same", name="c"), L.Dense(3, name="d")]
    )
    kernel, bias = model.get_layer("c").get_weights()
    kernel = np.ones_like(kernel)
    kernel[[0, 1, 4]] = 0.0
    model.get_layer("c").set_weights([kernel, bias])
    size = trimmed_size(model)
    conv = size.layer("c")
    assert (conv.kernel_before, conv.kernel_after) == ((5,), (2,))
    assert size.params_before == model.count_params() == 5 * 2 * 4 + 4 + 4 * 3 + 3
    assert size.params == 2 * 2 * 4 + 4 + 4 * 3 + 3
    assert size.macs_before == 16 * 5 * 2 * 4 + 16 * 4 * 3
    assert size.macs == 16 * 2 * 2 * 4 + 16 * 4 * 3
    assert size.skipped == {}


def test_dead_dense_units_are_removed():
    model = keras.Sequential(
        [keras.Input((5,)), L.Dense(4, activation="relu", name="a"), L.Dense(2, name="b")]
    )
    kernel, bias = model.get_layer("a").get_weights()
    kernel[:, 2] = 0.0
    bias[2] = 0.7  # relu(0.7) folds into b's bias
    model.get_layer("a").set_weights([kernel, bias])
    size = trimmed_size(model)
    assert size.layer("a").filters_after == 3
    assert size.params == 5 * 3 + 3 + 3 * 2 + 2


def test_shared_and_custom_layers_are_reported():
    class Scale(L.Layer):
        def call(self, x):
            return 2.0 * x

    inputs = keras.Input((6, 2))
    shared = L.Conv1D(2, 3, padding="same", name="shared")
    x = shared(shared(inputs))
    out = Scale(name="scale")(x)
    size = trimmed_size(keras.Model(inputs, out))
    assert "shared" in size.skipped["shared"]
    assert "Scale" in size.skipped["scale"]
    with pytest.raises(KeyError, match="shared"):
        size.layer("nope")
