import keras
import numpy as np
import pytest
import tensorflow as tf  # only to take gradients in the tests

from regsearch.regularizers import StructuredSparsity, get


def _norms(kernel, axes):
    return np.sqrt(np.sum(np.square(kernel), axis=axes))


def test_hand_computed_dense_kernel():
    kernel = np.array([[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]], "float32")  # 2 inputs, 3 units
    filters = 2**0.5 * (5.0 + 0.0 + 2**0.5)  # columns, 2 weights each
    channels = 3**0.5 * (10**0.5 + 17**0.5)  # rows, 3 weights each
    np.testing.assert_allclose(
        float(StructuredSparsity(0.1)(kernel)), 0.1 * (filters + channels), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(StructuredSparsity(0.1, filters=2.0, channels=0.0, shape=5.0)(kernel)),
        0.1 * 2.0 * filters,
        rtol=1e-6,
    )


@pytest.mark.parametrize("spatial", [(3,), (3, 2), (2, 2, 2)])
def test_conv_kernels_sum_the_three_terms(spatial):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(*spatial, 2, 4)).astype("float32")
    n = len(spatial)
    filters = _norms(kernel, tuple(range(n + 1)))
    channels = _norms(kernel, (*range(n), n + 1))
    shape = _norms(kernel, (n, n + 1))
    taps = int(np.prod(spatial))
    expected = 0.01 * (
        1.0 * (taps * 2) ** 0.5 * filters.sum()
        + 0.5 * (taps * 4) ** 0.5 * channels.sum()
        + 2.0 * 8**0.5 * shape.sum()
    )
    reg = StructuredSparsity(0.01, filters=1.0, channels=0.5, shape=2.0)
    np.testing.assert_allclose(float(reg(kernel)), expected, rtol=1e-5)


def test_empty_groups_cost_nothing_and_one_weight_costs_each_term():
    kernel = np.zeros((3, 3, 2, 4), "float32")
    assert float(StructuredSparsity(1.0)(kernel)) == pytest.approx(0.0, abs=1e-10)
    kernel[1, 1, 0, 2] = -2.0  # one weight: one filter, one channel, one position
    expected = 2.0 * (18**0.5 + 36**0.5 + 8**0.5)
    np.testing.assert_allclose(float(StructuredSparsity(1.0)(kernel)), expected, rtol=1e-6)


def test_depthwise_kernel_groups_channels_and_positions():
    kernel = np.zeros((3, 3, 4, 1), "float32")  # DepthwiseConv2D, depth_multiplier 1
    kernel[..., 1, 0] = 1.0  # channel 1 only: 9 ones
    # No filters term: with one depth-multiplier slice it would group the whole kernel.
    expected = 9**0.5 * 3.0 + 4**0.5 * 9 * 1.0
    np.testing.assert_allclose(float(StructuredSparsity(1.0)(kernel)), expected, rtol=1e-6)


def test_a_single_input_channel_gets_no_channels_term():
    kernel = np.ones((5, 5, 1, 2), "float32")  # the first Conv2D on a grayscale image
    filters = 25**0.5 * 2 * 5.0
    shape = 2**0.5 * 25 * 2**0.5
    np.testing.assert_allclose(float(StructuredSparsity(1.0)(kernel)), filters + shape, rtol=1e-6)


def test_gradient_finite_at_zero():
    w = tf.Variable(np.zeros((3, 2, 4), "float32"))
    w[1, 0, 2].assign(1.0)
    with tf.GradientTape() as tape:
        value = StructuredSparsity(1.0)(w)
    grad = tape.gradient(value, w).numpy()
    assert np.all(np.isfinite(grad))
    mask = np.zeros((3, 2, 4), bool)
    mask[1, 0, 2] = True
    np.testing.assert_array_equal(grad[~mask], 0.0)
    np.testing.assert_allclose(grad[mask], [6**0.5 + 12**0.5 + 8**0.5], rtol=1e-6)


def test_rank_below_two_is_an_error():
    with pytest.raises(ValueError, match="rank >= 2"):
        StructuredSparsity(0.1)(np.ones((3,), "float32"))


@pytest.mark.parametrize("argument", ["strength", "filters", "channels", "shape"])
@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_values_name_the_argument(argument, value):
    kwargs = {"strength": 0.1, argument: value}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        StructuredSparsity(**kwargs)


def test_config_round_trip_and_resolution_by_name():
    reg = StructuredSparsity(0.02, filters=1.5, channels=0.0, shape=0.25)
    config = reg.get_config()
    assert config == {"strength": 0.02, "filters": 1.5, "channels": 0.0, "shape": 0.25}
    again = StructuredSparsity.from_config(config)
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 4)).astype("float32")
    assert float(again(kernel)) == pytest.approx(float(reg(kernel)))
    assert isinstance(get("structured_sparsity"), StructuredSparsity)
    assert get(keras.saving.serialize_keras_object(reg)).get_config() == config


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, kernel_regularizer=StructuredSparsity(0.01, shape=0.5)),
            keras.layers.DepthwiseConv2D(3, depthwise_regularizer=StructuredSparsity(filters=0.0)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_regularizer=get("structured_sparsity")),
        ]
    )
    keras_round_trip(model, np.ones((2, 8, 8, 1), "float32"))
