import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import Slimming, get
from regsearch.trimming import snap_to_zero
from tests._autodiff import gradient


def test_hand_computed_mean_absolute_scale():
    gamma = np.array([1.0, -0.5, 0.0, 0.5, 2.0], "float32")
    np.testing.assert_allclose(float(Slimming(0.1)(gamma)), 0.1 * 4.0 / 5, rtol=1e-6)


def test_the_same_strength_means_the_same_on_any_width():
    narrow, wide = np.full(16, 0.5, "float32"), np.full(512, 0.5, "float32")
    assert float(Slimming(0.2)(narrow)) == pytest.approx(float(Slimming(0.2)(wide)))


def test_gradient_is_the_sign_over_the_channel_count_and_zero_at_zero():
    gamma = [2.0, -1.0, 0.0, 0.25]
    np.testing.assert_allclose(gradient(Slimming(0.4), gamma), [0.1, -0.1, 0.0, 0.1], rtol=1e-6)


@pytest.mark.parametrize("shape", [(), (3, 4), (3, 3, 2, 4)])
def test_only_a_vector_of_scales(shape):
    with pytest.raises(ValueError, match=r"gamma_regularizer.*Polarization"):
        Slimming(0.1)(np.ones(shape, "float32"))


@pytest.mark.parametrize(
    ("strength", "error", "message"),
    [
        (-1.0, ValueError, r"`strength` must be >= 0.0; received -1.0"),
        (float("nan"), ValueError, r"`strength` must be finite; received nan"),
        ("0.1", TypeError, r"`strength` must be a real number; received '0.1' of type str"),
    ],
)
def test_bad_strength(strength, error, message):
    with pytest.raises(error, match=message):
        Slimming(strength)


def test_config_round_trip_and_resolution_by_name():
    reg = Slimming(0.03)
    assert reg.get_config() == {"strength": 0.03}
    assert Slimming.from_config(reg.get_config()).strength == 0.03
    assert isinstance(get("slimming"), Slimming)
    assert isinstance(get("Slimming"), Slimming)
    config = keras.saving.serialize_keras_object(reg)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is Slimming
    assert restored.get_config() == reg.get_config()


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(gamma_regularizer=Slimming(0.05)),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    model.layers[1].gamma.assign([1.0, -0.5, 0.0, 2.0])
    keras_round_trip(model, np.ones((2, 6, 6, 1), "float32"))


def test_training_empties_batch_norm_channels_that_trim_removes(train_tiny_conv):
    model, x, accuracy = train_tiny_conv(gamma=Slimming(1.0))
    threshold = 0.02  # SGD leaves an L1-penalized gamma jittering around 0.01
    for name in ("bn1", "bn2"):
        gamma = np.abs(keras.ops.convert_to_numpy(model.get_layer(name).gamma))
        assert np.sum(gamma <= threshold) >= 2, gamma
    assert accuracy > 0.75
    trimmed, report = regsearch.trim(model, threshold)
    assert trimmed.get_layer("conv1").filters < 8
    assert trimmed.get_layer("conv2").filters < 8
    assert trimmed.count_params() == report.params_after < model.count_params()
    snap_to_zero(model, threshold)  # the model trim was told it is
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trimmed(x[:32])),
        keras.ops.convert_to_numpy(model(x[:32], training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
