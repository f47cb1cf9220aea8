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


# ---------------------------------------------------------------------------------------
# Zero gammas together with SeparableConv channels, folds and coupled channels.


def _separable_bn(consumer, *, first=None, use_bias=True, kernel=3, padding="same"):
    """[first ->] SeparableConv2D -> BatchNormalization -> ReLU -> ``consumer``."""
    inputs = keras.Input((8, 8, 3))
    x = inputs if first is None else L.ReLU()(first(inputs))
    x = L.SeparableConv2D(6, kernel, padding=padding, use_bias=use_bias, name="sep")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU()(x)
    return keras.Model(inputs, consumer(x))


def test_zero_gamma_after_a_separable_conv_removes_its_pointwise_column():
    model = _separable_bn(L.Conv2D(4, 3, name="next"))
    _randomize(model, gammas={"bn": {2: 0.0}}, betas={"bn": {2: 0.7}})
    # relu(0.7) folds into the bias of the 'valid' conv; the sep filter feeds only it.
    trimmed, size = _check(model, (8, 8, 3))
    sep = trimmed.get_layer("sep")
    assert sep.filters == 5
    assert tuple(sep.pointwise_kernel.shape) == (1, 1, 3, 5)
    assert size.layer("sep").unused_filters == (2,)
    assert trimmed.get_layer("bn").gamma.shape == (5,)
    assert trimmed.get_layer("next").kernel.shape == (3, 3, 5, 4)


def test_snap_to_zero_snaps_both_separable_kernels_and_gammas():
    model = _separable_bn(L.Conv2D(4, 3, name="next"))
    _randomize(model, gammas={"bn": {2: 4e-4}}, betas={"bn": {2: 0.7}})
    sep = model.get_layer("sep")
    pointwise = sep.get_weights()[1]
    pointwise[0, 0, 1, 3] = -2e-4  # one pointwise weight that counts as zero
    sep.set_weights([sep.get_weights()[0], pointwise, sep.get_weights()[2]])
    assert trimmed_size(model, 1e-3).layer("sep").filters_after == 5
    x = np.random.default_rng(2).normal(size=(4, 8, 8, 3)).astype("float32")
    trimmed, _ = regsearch.trim(model, 1e-3)
    assert snap_to_zero(model, 1e-3) == 2  # the gamma and the pointwise weight
    assert keras.ops.convert_to_numpy(model.get_layer("bn").gamma)[2] == 0.0
    assert keras.ops.convert_to_numpy(sep.pointwise_kernel)[0, 0, 1, 3] == 0.0
    np.testing.assert_allclose(_predict(trimmed, x), _predict(model, x), rtol=1e-5, atol=1e-5)
    _check(model, (8, 8, 3))  # the snapped model is the trimmed one


@pytest.mark.parametrize("valid", [True, False])
def test_fold_into_the_mean_of_a_batch_norm_with_a_zero_gamma(valid):
    # A dead filter of "first" outputs relu(0.4); the bias-less 'valid' separable conv
    # reading it folds that into the moving mean of "bn", whose gamma 2 is 0.
    first = L.Conv2D(4, 3, padding="same", name="first")
    consumer = L.Conv2D(4, 3, padding="valid" if valid else "same", name="next")
    model = _separable_bn(consumer, first=first, use_bias=False, padding="valid")
    # relu(beta 2) is 0.7: the 'valid' consumer folds it, the 'same' one cannot.
    _randomize(model, gammas={"bn": {2: 0.0}}, betas={"bn": {2: 0.7}})
    weights = first.get_weights()
    weights[0][..., 1] = 0.0
    weights[1][1] = 0.4
    first.set_weights(weights)
    trimmed, _ = _check(model, (8, 8, 3))
    assert trimmed.get_layer("first").filters == 3
    sep = trimmed.get_layer("sep")
    assert tuple(sep.depthwise_kernel.shape) == (3, 3, 3, 1)
    assert not sep.use_bias  # the constant went into the batch norm's moving mean
    assert sep.filters == (5 if valid else 6)
    assert trimmed.get_layer("bn").gamma.shape == ((5,) if valid else (6,))
    if not valid:  # the channel stays, with its gamma 0 and its shifted mean
        assert keras.ops.convert_to_numpy(trimmed.get_layer("bn").gamma)[2] == 0.0


@pytest.mark.parametrize("dead", [True, False])
def test_zero_gamma_coupled_through_an_add_goes_where_the_other_branch_is_dead(dead):
    inputs = keras.Input((8, 8, 3))
    a = L.Conv2D(6, 3, padding="same", use_bias=False, name="a")(inputs)
    a = L.BatchNormalization(name="a_bn")(a)
    b = L.SeparableConv2D(6, 3, padding="same", name="b")(inputs)
    x = L.ReLU()(L.Add(name="add")([a, b]))
    model = keras.Model(inputs, L.Conv2D(4, 3, name="next")(x))
    _randomize(model, gammas={"a_bn": {3: 0.0}}, betas={"a_bn": {3: 0.3}})
    if dead:  # b's filter 3 outputs its bias -0.1: channel 3 of the sum is 0.2
        weights = model.get_layer("b").get_weights()
        weights[1][..., 3] = 0.0
        weights[2][3] = -0.1
        model.get_layer("b").set_weights(weights)
    trimmed, size = _check(model, (8, 8, 3))
    kept = 5 if dead else 6
    assert trimmed.get_layer("a").filters == trimmed.get_layer("b").filters == kept
    assert trimmed.get_layer("a_bn").gamma.shape == (kept,)
    assert trimmed.get_layer("next").kernel.shape == (3, 3, kept, 4)
    assert size.layer("a").unused_filters == ((3,) if dead else ())
    assert size.layer("a").coupled == ("b",)
    assert size.layer("a").coupled_through == ("add",)


@pytest.mark.parametrize("zero_gamma", [True, False])
def test_a_kept_dead_filter_coupled_with_a_zero_gamma_names_what_keeps_it(zero_gamma):
    inputs = keras.Input((8, 8, 3))
    a = L.Conv2D(6, 3, padding="same", use_bias=False, name="a")(inputs)
    a = L.BatchNormalization(name="a_bn")(a)
    b = L.SeparableConv2D(6, 3, padding="same", name="b")(inputs)
    x = L.ReLU()(L.Add(name="add")([a, b]))
    model = keras.Model(inputs, L.Conv2D(4, 3, padding="same", name="next")(x))
    gammas = {"a_bn": {3: 0.0}} if zero_gamma else None
    _randomize(model, gammas=gammas, betas={"a_bn": {3: 0.3}})
    weights = model.get_layer("b").get_weights()
    weights[1][..., 3] = 0.0  # b's filter 3 is dead: it outputs its bias, -0.1
    weights[2][3] = -0.1
    model.get_layer("b").set_weights(weights)
    trimmed, size = _check(model, (8, 8, 3))
    assert trimmed.get_layer("b").filters == 6
    # With a zero gamma, channel 3 is the constant 0.2 at the Add: what keeps it is the
    # 'same' conv reading it, not layer "a" (whose own output varies).
    reason = "next reads a nonzero constant through zero padding" if zero_gamma else "live in a"
    assert size.layer("b").note == f"1 dead filter(s) kept: {reason}"
