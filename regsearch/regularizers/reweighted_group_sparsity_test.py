import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import ReweightedGroupSparsity, get
from regsearch.trimming import snap_to_zero
from tests._autodiff import gradient


def _rms(kernel, axes):
    return np.sqrt(np.mean(np.square(kernel.astype("float64")), axis=axes))


def test_hand_computed_dense_kernel():
    kernel = np.array([[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]], "float32")  # 2 inputs, 3 units
    r = _rms(kernel, 0)  # sqrt(12.5), 0, 1
    expected = 0.2 * np.mean(r / (r + 0.05))
    value = float(ReweightedGroupSparsity(0.2, eps=0.05)(kernel))
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize("spatial", [(3,), (3, 2), (2, 2, 2)])
def test_conv_kernels_group_output_filters(spatial):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(*spatial, 2, 4)).astype("float32")
    kernel[..., 2] = 0.0
    r = _rms(kernel, tuple(range(len(spatial) + 1)))
    expected = 0.1 * np.mean(r / (r + 0.01))
    np.testing.assert_allclose(float(ReweightedGroupSparsity(0.1)(kernel)), expected, rtol=1e-5)


def test_depthwise_kernel_groups_channels_and_a_vector_its_entries():
    kernel = np.zeros((3, 3, 4, 1), "float32")  # DepthwiseConv2D, depth_multiplier 1
    kernel[..., 1, 0] = 0.5
    kernel[..., 3, 0] = 2.0
    expected = (0.5 / 0.51 + 2.0 / 2.01) / 4
    np.testing.assert_allclose(float(ReweightedGroupSparsity(1.0)(kernel)), expected, rtol=1e-6)
    vector = np.array([0.0, -1.0, 0.5], "float32")
    expected = (1.0 / 1.01 + 0.5 / 0.51) / 3
    np.testing.assert_allclose(float(ReweightedGroupSparsity(1.0)(vector)), expected, rtol=1e-6)


def test_value_approaches_the_fraction_of_live_filters():
    kernel = np.zeros((3, 3, 16, 10), "float32")
    kernel[..., :3] = 0.3  # 3 of 10 filters live
    value = float(ReweightedGroupSparsity(1.0, eps=1e-4)(kernel))
    assert value == pytest.approx(0.3, rel=1e-3)


def test_gradient_uses_fixed_weights_and_is_zero_at_an_empty_filter():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(3, 2, 4)).astype("float32")
    kernel[..., 1] = 0.0
    grad = gradient(ReweightedGroupSparsity(0.5, eps=0.1), kernel)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[..., 1], 0.0)
    # d/dw of r_j / (r_j + eps), the weight held fixed: w / (k r_j) / (r_j + eps).
    r = _rms(kernel, (0, 1))
    expected = 0.5 / 4 * kernel / (6 * np.where(r > 0, r, 1.0)) / (r + 0.1)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_small_filters_are_pulled_harder_than_a_plain_group_lasso_would():
    kernel = np.zeros((4, 2), "float32")
    kernel[:, 0], kernel[:, 1] = 0.01, 1.0  # a small and a large filter
    grad = np.abs(gradient(ReweightedGroupSparsity(1.0, eps=0.01), kernel))
    # Group lasso pulls every weight of a filter by w / ||w||: 0.5 in both filters.
    # Reweighted, the small filter is pulled (1 + 0.01) / (0.01 + 0.01) ~ 50 times harder.
    np.testing.assert_allclose(grad[0, 0] / grad[0, 1], 1.01 / 0.02, rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"eps": 0.0}, ValueError, r"`eps` must be > 0.0; received 0.0"),
        ({"eps": -1e-3}, ValueError, r"`eps` must be > 0.0; received -0.001"),
        ({"eps": float("nan")}, ValueError, r"`eps` must be finite; received nan"),
        ({"eps": None}, TypeError, r"`eps` must be a real number; received None of type"),
        ({"strength": float("inf")}, ValueError, r"`strength` must be finite; received inf"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        ReweightedGroupSparsity(**{"strength": 0.1, **kwargs})


def test_scalar_is_an_error():
    with pytest.raises(ValueError, match="received a scalar"):
        ReweightedGroupSparsity(0.1)(np.float32(1.0))


def test_config_round_trip_and_resolution_by_name():
    reg = ReweightedGroupSparsity(0.05, eps=0.002)
    assert reg.get_config() == {"strength": 0.05, "eps": 0.002}
    assert ReweightedGroupSparsity.from_config(reg.get_config()).eps == 0.002
    assert isinstance(get("reweighted_group_sparsity"), ReweightedGroupSparsity)
    config = keras.saving.serialize_keras_object(reg)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is ReweightedGroupSparsity
    assert restored.get_config() == reg.get_config()


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, kernel_regularizer=ReweightedGroupSparsity(0.01, eps=0.05)),
            keras.layers.DepthwiseConv2D(3, depthwise_regularizer=ReweightedGroupSparsity()),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_regularizer=get("reweighted_group_sparsity")),
        ]
    )
    keras_round_trip(model, np.ones((2, 8, 8, 1), "float32"))


def test_training_empties_whole_filters(train_tiny_conv):
    model, x, accuracy = train_tiny_conv(kernel=ReweightedGroupSparsity(0.1), batch_norm=False)
    # SGD leaves an emptied filter's weights jittering up to a few 1e-2 (live ones reach
    # 0.3 and more): the penalty's pull does not vanish at 0, as with L1.
    threshold = 0.05
    for name in ("conv1", "conv2"):
        kernel = keras.ops.convert_to_numpy(model.get_layer(name).kernel).reshape(-1, 8)
        empty = np.all(np.abs(kernel) <= threshold, axis=0)
        assert empty.sum() >= 2, np.abs(kernel).max(axis=0)
    assert accuracy > 0.75
    trimmed, report = regsearch.trim(model, threshold)
    assert trimmed.get_layer("conv1").filters < 8
    assert trimmed.get_layer("conv2").filters < 8
    assert trimmed.count_params() == report.params_after < model.count_params()
    snap_to_zero(model, threshold)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trimmed(x[:32])),
        keras.ops.convert_to_numpy(model(x[:32])),
        rtol=1e-5,
        atol=1e-5,
    )
