import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import Polarization, get
from regsearch.trimming import snap_to_zero
from tests._autodiff import gradient


def _penalty(scales, strength, t):
    scales = np.asarray(scales, "float64")
    return strength * (t * scales.mean() - np.abs(scales - scales.mean()).mean())


def _scale_gradient(scales, strength, t):
    """d penalty / d scales, by hand (sign(0) = 0, as the regularizer's gradient has it)."""
    scales = np.asarray(scales, "float64")
    n = len(scales)
    side = np.sign(scales - scales.mean())
    return strength / n * (t - side + side.sum() / n)


def test_hand_computed_on_gammas_of_either_sign():
    gamma = np.array([0.0, 0.05, -1.0, 1.5, 0.8], "float32")
    expected = _penalty(np.abs(gamma), 0.3, 1.4)
    np.testing.assert_allclose(float(Polarization(0.3, t=1.4)(gamma)), expected, rtol=1e-6)


def test_polarized_scales_cost_less_than_equal_ones_of_the_same_total():
    equal, polarized = np.full(8, 0.5, "float32"), np.repeat([0.0, 1.0], 4).astype("float32")
    assert float(Polarization(1.0)(polarized)) < float(Polarization(1.0)(equal))
    np.testing.assert_allclose(float(Polarization(1.0, t=1.2)(polarized)), 0.1, rtol=1e-6)


def test_kernel_scales_are_output_channel_norms():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 2, 5)).astype("float32")
    kernel[..., 1] = 0.0
    norms = np.sqrt(np.sum(np.square(kernel), axis=(0, 1, 2)))
    reg = Polarization(0.2, t=1.5)
    np.testing.assert_allclose(float(reg(kernel)), _penalty(norms, 0.2, 1.5), rtol=1e-5)
    depthwise = rng.normal(size=(3, 3, 4, 1)).astype("float32")  # one slice: per channel
    norms = np.sqrt(np.sum(np.square(depthwise), axis=(0, 1, 3)))
    np.testing.assert_allclose(float(reg(depthwise)), _penalty(norms, 0.2, 1.5), rtol=1e-5)


def test_gradient_on_gammas():
    gamma = np.array([0.0, 0.1, -1.0, 1.5, 0.8], "float32")
    expected = _scale_gradient(np.abs(gamma), 0.5, 1.2) * np.sign(gamma)
    np.testing.assert_allclose(gradient(Polarization(0.5, t=1.2), gamma), expected, rtol=1e-5)
    assert gradient(Polarization(0.5), gamma)[0] == 0.0


def test_gradient_on_a_kernel_is_finite_at_an_empty_filter():
    kernel = np.zeros((2, 3), "float32")
    kernel[:, 0] = [3.0, 4.0]  # norm 5
    kernel[:, 2] = [0.0, 1.0]  # norm 1
    scale_grad = _scale_gradient([5.0, 0.0, 1.0], 1.0, 1.2)
    expected = np.zeros((2, 3))
    expected[:, 0] = scale_grad[0] * np.array([0.6, 0.8])
    expected[:, 2] = scale_grad[2] * np.array([0.0, 1.0])
    np.testing.assert_allclose(gradient(Polarization(1.0), kernel), expected, rtol=1e-5, atol=1e-7)


def test_the_smaller_scales_are_pulled_down_harder():
    grad = gradient(Polarization(1.0, t=1.2), [0.2, 0.3, 0.9, 1.0])
    assert np.all(grad > 0)
    np.testing.assert_allclose(grad[:2] / grad[2:], 11.0, rtol=1e-5)  # (t + 1) / (t - 1)


@pytest.mark.parametrize("t", [1.0, 0.5, 0.0, -1.2])
def test_t_must_exceed_one(t):
    with pytest.raises(ValueError, match=rf"`t` must be > 1; received {t!r}.*without bound"):
        Polarization(0.1, t=t)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"t": float("inf")}, ValueError, r"`t` must be finite; received inf"),
        ({"t": "1.2"}, TypeError, r"`t` must be a real number; received '1.2' of type str"),
        ({"strength": -0.1}, ValueError, r"`strength` must be >= 0.0; received -0.1"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Polarization(**{"strength": 0.1, **kwargs})


def test_t_is_keyword_only():
    with pytest.raises(TypeError):
        Polarization(0.1, 1.2)  # type: ignore[misc]


def test_scalar_is_an_error():
    with pytest.raises(ValueError, match="received a scalar"):
        Polarization(0.1)(np.float32(1.0))


def test_config_round_trip_and_resolution_by_name():
    reg = Polarization(0.04, t=1.5)
    assert reg.get_config() == {"strength": 0.04, "t": 1.5}
    assert Polarization.from_config(reg.get_config()).t == 1.5
    assert isinstance(get("polarization"), Polarization)
    config = keras.saving.serialize_keras_object(reg)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is Polarization
    assert restored.get_config() == reg.get_config()
    assert get(config).get_config() == reg.get_config()


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, kernel_regularizer=Polarization(0.01, t=1.8)),
            keras.layers.BatchNormalization(gamma_regularizer=Polarization(0.05)),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    model.layers[1].gamma.assign([1.0, -0.5, 0.0, 2.0])
    keras_round_trip(model, np.ones((2, 6, 6, 1), "float32"))


def test_training_splits_gammas_and_trim_removes_the_low_ones(train_tiny_conv):
    model, x, accuracy = train_tiny_conv(gamma=Polarization(0.3))
    threshold = 0.02
    for name in ("bn1", "bn2"):
        gamma = np.sort(np.abs(keras.ops.convert_to_numpy(model.get_layer(name).gamma)))
        low = gamma <= threshold
        assert low.sum() >= 2, gamma
        assert gamma[-1] > 0.5, gamma  # the channels that stay keep a large scale
    assert accuracy > 0.75
    trimmed, report = regsearch.trim(model, threshold)
    assert trimmed.get_layer("conv1").filters < 8
    assert trimmed.get_layer("conv2").filters < 8
    assert trimmed.count_params() == report.params_after < model.count_params()
    snap_to_zero(model, threshold)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trimmed(x[:32])),
        keras.ops.convert_to_numpy(model(x[:32], training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
