"""trim() removes BatchNormalization channels whose gamma is zero, and the filters feeding them."""

import keras
import numpy as np
import pytest

import regsearch
from regsearch.trimming import snap_to_zero, trimmed_size

L = keras.layers


def _randomize(model, *, gammas=None, betas=None, seed=0):
    """Random weights (|w| >= 0.05); ``gammas[name]``/``betas[name]`` set BN entries."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape[0]
            gamma = 0.5 + rng.random(c)
            beta = rng.normal(size=c)
            for channel, value in (gammas or {}).get(layer.name, {}).items():
                gamma[channel] = value
            for channel, value in (betas or {}).get(layer.name, {}).items():
                beta[channel] = value
            mean, var = rng.normal(size=c), 0.5 + rng.random(c)
            layer.set_weights([w.astype("float32") for w in (gamma, beta, mean, var)])
        elif layer.weights:
            new = []
            for w in layer.get_weights():
                w = rng.normal(size=w.shape)
                new.append((np.sign(w) * (0.1 + np.abs(w)) * 0.5).astype("float32"))
            layer.set_weights(new)


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _check(model, input_shape, threshold=0.0, **kwargs):
    """The trimmed model computes what ``model`` computes and has the predicted size.

    Returns the trimmed model and the ``trimmed_size`` analysis (one entry per layer).
    """
    x = np.random.default_rng(1).normal(size=(4, *input_shape)).astype("float32")
    trimmed, report = regsearch.trim(model, threshold, sample=x, **kwargs)
    np.testing.assert_allclose(_predict(trimmed, x), _predict(model, x), rtol=1e-5, atol=1e-5)
    size = trimmed_size(model, threshold, **kwargs)
    assert size.params == trimmed.count_params() == report.params_after
    return trimmed, size


def _conv_bn(consumer, *, center=True):
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(6, 3, padding="same", name="conv")(inputs)
    x = L.BatchNormalization(center=center, name="bn")(x)
    x = L.ReLU()(x)
    return keras.Model(inputs, consumer(x))


def test_zero_gamma_before_a_valid_conv_removes_the_channel_and_its_filter():
    model = _conv_bn(L.Conv2D(3, 3, name="next"))
    _randomize(model, gammas={"bn": {1: 0.0, 4: 0.0}}, betas={"bn": {1: 0.7, 4: -0.3}})
    trimmed, size = _check(model, (8, 8, 2))
    assert trimmed.get_layer("conv").filters == 4
    assert trimmed.get_layer("bn").gamma.shape == (4,)
    assert trimmed.get_layer("next").kernel.shape == (3, 3, 4, 3)
    assert size.layer("conv").unused_filters == (1, 4)
    assert size.layer("bn").filters_after == 4


@pytest.mark.parametrize("between", [L.Flatten, L.GlobalAveragePooling2D])
def test_zero_gamma_before_a_dense_is_folded_into_its_bias(between):
    inputs = keras.Input((6, 6, 2))
    x = L.Conv2D(5, 3, name="conv")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = between()(x)
    model = keras.Model(inputs, L.Dense(3, name="out")(x))
    _randomize(model, gammas={"bn": {0: 0.0, 2: 0.0, 3: 0.0}})
    trimmed, size = _check(model, (6, 6, 2))
    assert trimmed.get_layer("conv").filters == 2
    assert size.layer("conv").unused_filters == (0, 2, 3)
    positions = 16 if between is L.Flatten else 1  # a 4 x 4 map, or its average
    assert trimmed.get_layer("out").kernel.shape == (2 * positions, 3)


def test_same_conv_takes_only_a_zero_constant():
    model = _conv_bn(L.Conv2D(3, 3, padding="same", name="next"))
    # relu(beta) is 0.5 for channel 1 (a "same" conv cannot fold it), 0 for channel 2.
    _randomize(model, gammas={"bn": {1: 0.0, 2: 0.0}}, betas={"bn": {1: 0.5, 2: -0.5}})
    trimmed, size = _check(model, (8, 8, 2))
    assert trimmed.get_layer("conv").filters == 5
    assert size.layer("conv").unused_filters == (2,)


def test_without_center_a_zero_gamma_outputs_zero():
    model = _conv_bn(L.Conv2D(3, 3, padding="same", name="next"), center=False)
    for layer in model.layers:  # random weights; BN has gamma, mean, variance only
        if isinstance(layer, L.BatchNormalization):
            layer.set_weights(
                [
                    np.array([1.0, 0.0, 2.0, 0.0, 1.0, 1.0], "float32"),
                    np.full(6, 0.3, "float32"),
                    np.full(6, 0.8, "float32"),
                ]
            )
        elif layer.weights:
            rng = np.random.default_rng(0)
            layer.set_weights(
                [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
            )
    trimmed, _ = _check(model, (8, 8, 2))
    assert trimmed.get_layer("conv").filters == 4


def test_a_filter_read_elsewhere_keeps_its_batch_norm_channel():
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
    a = L.ReLU()(L.BatchNormalization(name="bn")(x))
    b = L.Conv2D(4, 1, name="side")(x)  # reads every filter of conv directly
    model = keras.Model(inputs, L.Conv2D(2, 3, name="next")(L.Concatenate()([a, b])))
    _randomize(model, gammas={"bn": {0: 0.0}})
    trimmed, size = _check(model, (8, 8, 2))
    assert trimmed.get_layer("conv").filters == 4
    assert size.layer("bn").filters_after == 4


def test_a_batch_norm_channel_that_is_a_model_output_stays():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d"), L.BatchNormalization()])
    _randomize(model, gammas={model.layers[1].name: {0: 0.0}})
    trimmed, _ = _check(model, (4,))
    assert trimmed.get_layer("d").units == 3


def test_gammas_below_the_threshold_count_as_zero_and_snap():
    model = _conv_bn(L.Conv2D(3, 3, name="next"))
    _randomize(model, gammas={"bn": {0: 5e-4, 5: -2e-4}})
    assert trimmed_size(model, 1e-4).layer("conv").filters_after == 6
    assert trimmed_size(model, 1e-3).layer("conv").filters_after == 4
    x = np.random.default_rng(2).normal(size=(4, 8, 8, 2)).astype("float32")
    trimmed, _ = regsearch.trim(model, 1e-3)
    # 2 gammas and the kernel weights with |w| <= 1e-3 (none: every |w| >= 0.05).
    assert snap_to_zero(model, 1e-3) == 2
    np.testing.assert_array_equal(model.get_layer("bn").gamma.numpy()[[0, 5]], 0.0)
    _check(model, (8, 8, 2))  # the snapped model is the trimmed one
    np.testing.assert_allclose(_predict(trimmed, x), _predict(model, x), rtol=1e-5, atol=1e-5)


def test_relative_threshold_compares_with_the_largest_gamma():
    model = _conv_bn(L.Conv2D(3, 3, name="next"))
    _randomize(model, gammas={"bn": {0: 20.0, 3: 0.1}})
    assert trimmed_size(model, 0.01, relative=True).layer("conv").filters_after == 5
    assert trimmed_size(model, 0.01).layer("conv").filters_after == 6


def test_every_gamma_zero_keeps_one_channel():
    model = _conv_bn(L.Conv2D(3, 3, name="next"))
    _randomize(model, gammas={"bn": dict.fromkeys(range(6), 0.0)})
    trimmed, _ = _check(model, (8, 8, 2))
    assert trimmed.get_layer("conv").filters == 1
