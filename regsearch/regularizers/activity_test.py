import keras
import numpy as np
import pytest

from regsearch.regularizers import Contractive, HiddenL1, RecurrentNorm, RecurrentState
from tests._autodiff import batch_jacobian, gradient

RNG = np.random.default_rng(0)


def _layer_loss(layer, x):
    """The loss Keras adds for ``layer``'s activity regularizer on input ``x``."""
    layer(x)
    (loss,) = layer.losses
    return float(loss)


def test_hidden_l1_hand_computed():
    h = np.array([[1.0, -2.0], [0.0, 3.0], [-1.0, 1.0]], "float32")
    # Direct call: batch sum of per-sample means (Keras divides by the batch size).
    np.testing.assert_allclose(float(HiddenL1(0.5)(h)), 0.5 * (1.5 + 1.5 + 1.0))
    layer = keras.layers.Activation("linear", activity_regularizer=HiddenL1(0.5))
    np.testing.assert_allclose(_layer_loss(layer, h), 0.5 * np.abs(h).mean(), rtol=1e-6)


def test_activity_loss_does_not_depend_on_batch_size():
    h = RNG.normal(size=(8, 5, 3)).astype("float32")
    for reg in [HiddenL1(1.0), RecurrentState(1.0), RecurrentNorm(1.0)]:
        layer = keras.layers.Activation("linear", activity_regularizer=reg)
        full = _layer_loss(layer, h)
        doubled = _layer_loss(
            keras.layers.Activation("linear", activity_regularizer=reg), np.concatenate([h, h])
        )
        np.testing.assert_allclose(doubled, full, rtol=1e-5)


def test_recurrent_state_hand_computed():
    h = np.array([[[0.0, 1.0], [1.0, 1.0], [1.0, 3.0]]], "float32")  # (1, 3, 2)
    # Changes: (1, 0), (0, 2) -> squares 1, 0, 0, 4 -> mean 1.25.
    layer = keras.layers.Activation("linear", activity_regularizer=RecurrentState(2.0))
    np.testing.assert_allclose(_layer_loss(layer, h), 2.0 * 1.25, rtol=1e-6)


def test_recurrent_norm_hand_computed_and_non_negative():
    h = np.array([[[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]], "float32")
    # Squared norms 1, 2, 0 -> changes 1, -2 -> squares 1, 4 -> mean 2.5.
    layer = keras.layers.Activation("linear", activity_regularizer=RecurrentNorm(1.0))
    np.testing.assert_allclose(_layer_loss(layer, h), 2.5, rtol=1e-6)
    for _ in range(5):
        h = RNG.normal(size=(4, 6, 3)).astype("float32")
        assert float(RecurrentNorm(1.0)(h)) >= 0.0


def test_recurrent_regularizers_need_sequences():
    for reg in [RecurrentState(), RecurrentNorm()]:
        with pytest.raises(ValueError, match="return_sequences=True"):
            reg(np.ones((2, 3), "float32"))
        assert float(reg(np.ones((2, 1, 3), "float32"))) == 0.0


def test_gradients_finite_at_zero():
    for reg in [HiddenL1(1.0), RecurrentState(1.0), RecurrentNorm(1.0)]:
        assert np.all(np.isfinite(gradient(reg, np.zeros((2, 3, 4)))))


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softplus", "elu"])
def test_contractive_matches_autodiff_jacobian(activation):
    layer = keras.layers.Dense(5, activation=activation, activity_regularizer=Contractive(0.3))
    x = RNG.normal(size=(4, 3)).astype("float32")
    loss = _layer_loss(layer, x)
    kernel, bias = (keras.ops.convert_to_tensor(w) for w in (layer.kernel, layer.bias))
    jacobian = batch_jacobian(
        lambda v: layer.activation(keras.ops.matmul(v, kernel) + bias), x, outputs=5
    )  # (batch, 5, 3)
    y = layer(x)
    expected = 0.3 * np.mean(np.sum(jacobian**2, axis=(1, 2)))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    per_sample = Contractive.squared_jacobian_norm(y, layer.kernel, activation)
    np.testing.assert_allclose(per_sample, np.sum(jacobian**2, axis=(1, 2)), rtol=1e-5)


def test_contractive_outside_dense_is_a_clear_error():
    with pytest.raises(ValueError, match="activity_regularizer of a Dense layer"):
        Contractive()(np.ones((2, 3), "float32"))
    layer = keras.layers.Activation("tanh", activity_regularizer=Contractive())
    with pytest.raises(ValueError, match="activity_regularizer of a Dense layer"):
        layer(np.ones((2, 3), "float32"))


def test_contractive_unsupported_activation():
    layer = keras.layers.Dense(2, activation="softmax", activity_regularizer=Contractive())
    with pytest.raises(ValueError, match=r"`activation`.*'softmax'"):
        layer(np.ones((2, 3), "float32"))


@pytest.mark.parametrize("cls", [HiddenL1, RecurrentState, RecurrentNorm, Contractive])
def test_bad_strength(cls):
    with pytest.raises(ValueError, match=r"`strength`.*-1\.0"):
        cls(-1.0)


def test_keras_round_trip(keras_round_trip):
    inputs = keras.Input((6, 3))
    h = keras.layers.Dense(4, activation="sigmoid", activity_regularizer=Contractive(0.1))(inputs)
    # SimpleRNN silently drops its activity_regularizer in Keras 3.15; GRU keeps it.
    h = keras.layers.GRU(4, return_sequences=True, activity_regularizer=RecurrentState(0.2))(h)
    h = keras.layers.Activation("tanh", activity_regularizer=RecurrentNorm(0.3))(h)
    outputs = keras.layers.Dense(2, activity_regularizer=HiddenL1(0.4))(h)
    model = keras.Model(inputs, outputs)
    x = RNG.normal(size=(3, 6, 3)).astype("float32")
    loaded = keras_round_trip(model, x)
    assert len(loaded.losses) == 4
