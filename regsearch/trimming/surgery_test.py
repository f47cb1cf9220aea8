"""trim(): the trimmed model computes what the original computes, for any configuration."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import regsearch
from regsearch.trimming import snap_to_zero, trimmed_size

L = keras.layers
RNG = np.random.default_rng(0)


def _away_from_zero(shape, rng=RNG):
    """Random weights with |w| >= 0.1, so none of them counts as zero by accident."""
    w = rng.normal(size=shape)
    return (np.sign(w) * (0.1 + np.abs(w))).astype("float32") * 0.5


def _set(layer, *, start=None, end=None, dead=(), dead_bias=(), rng=RNG):
    """Random kernel with exactly-zero edges (start/end taps per axis) and dead filters."""
    weights = layer.get_weights()
    kernel = _away_from_zero(weights[0].shape, rng)
    rank = kernel.ndim - 2
    for ax in range(rank):
        index = [slice(None)] * kernel.ndim
        if start and start[ax]:
            index[ax] = slice(0, start[ax])
            kernel[tuple(index)] = 0.0
        if end and end[ax]:
            index[ax] = slice(kernel.shape[ax] - end[ax], None)
            kernel[tuple(index)] = 0.0
    for j in dead:
        kernel[..., j] = 0.0
    new = [kernel]
    for w in weights[1:]:
        new.append(_away_from_zero(w.shape, rng))
    if layer.use_bias and len(weights) >= 2:
        for j, b in zip(dead, dead_bias, strict=True):
            new[-1][j] = b
    layer.set_weights(new)


def _check(model, x, threshold=1e-3):
    """trim() agrees with the model whose near-zero weights are snapped to 0 (and with
    the model itself where every weight is exactly 0 or clearly not), and with
    trimmed_size()."""
    trimmed, report = regsearch.trim(model, threshold)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    snap_to_zero(reference, threshold)
    expected = keras.ops.convert_to_numpy(reference(x))
    got = keras.ops.convert_to_numpy(trimmed(x))
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)
    size = trimmed_size(model, threshold)
    assert size.params == trimmed.count_params() == report.params_after
    assert size.macs == report.macs_after
    assert size.params_before == model.count_params()
    return trimmed, report


# ---------------------------------------------------------------------------------------
# The property test.

CONV = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}
SIZES = {1: (6, 14), 2: (4, 8), 3: (3, 5)}
ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "elu"]


@st.composite
def conv_layer(draw, rank, name, depthwise=False):
    k = tuple(draw(st.integers(1, 5 if rank < 3 else 3)) for _ in range(rank))
    paddings = ["valid", "same"] + (["causal"] if rank == 1 and not depthwise else [])
    padding = draw(st.sampled_from(paddings))
    if draw(st.booleans()):
        strides, dilation = draw(st.integers(1, 3)), 1
    else:
        strides, dilation = 1, draw(st.integers(1, 2))
    start = tuple(draw(st.integers(0, kk - 1)) for kk in k)
    end = tuple(draw(st.integers(0, kk - 1 - s)) for kk, s in zip(k, start, strict=True))
    config = dict(
        kernel_size=k,
        strides=strides,
        dilation_rate=dilation,
        padding=padding,
        use_bias=draw(st.booleans()),
        activation=draw(st.sampled_from(ACTIVATIONS)),
        name=name,
    )
    if depthwise:
        layer = (L.DepthwiseConv1D if rank == 1 else L.DepthwiseConv2D)(**config)
        return layer, start, end, (), ()
    filters = draw(st.integers(2, 5))
    dead = draw(st.sets(st.integers(0, filters - 1), max_size=filters - 1))
    dead_bias = [draw(st.sampled_from([0.0, -0.7, 0.4])) for _ in dead]
    layer = CONV[rank](filters, **config)
    return layer, start, end, sorted(dead), dead_bias


@st.composite
def configurations(draw):
    rank = draw(st.integers(1, 3))
    lo, hi = SIZES[rank]
    spatial = tuple(draw(st.integers(lo, hi)) for _ in range(rank))
    channels = draw(st.integers(1, 3))
    first_depthwise = rank < 3 and draw(st.integers(0, 4)) == 0
    first = draw(conv_layer(rank, "c1", depthwise=first_depthwise))
    second = draw(conv_layer(rank, "c2"))
    bn = draw(st.booleans())
    head = draw(st.sampled_from(["flatten", "gap", "gmp"]))
    units = draw(st.integers(2, 4))
    dense_dead = draw(st.sets(st.integers(0, units - 1), max_size=units - 1))
    return rank, spatial, channels, first, bn, second, head, units, sorted(dense_dead)


def _build(config):
    rank, spatial, channels, first, bn, second, head, units, dense_dead = config
    layers = [keras.Input((*spatial, channels)), first[0]]
    if bn:
        layers.append(L.BatchNormalization(name="bn"))
    layers.append(second[0])
    pool = {
        "flatten": L.Flatten(),
        "gap": [L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D],
        "gmp": [L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D],
    }[head]
    layers.append(pool if head == "flatten" else pool[rank - 1]())
    layers += [L.Dense(units, activation="relu", name="d1"), L.Dense(2, name="d2")]
    try:
        model = keras.Sequential(layers)
    except ValueError:  # e.g. a valid convolution larger than its input
        return None
    rng = np.random.default_rng(len(str(config)))
    for layer_cfg in (first, second):
        layer, start, end, dead, dead_bias = layer_cfg
        _set(layer, start=start, end=end, dead=dead, dead_bias=dead_bias, rng=rng)
    if bn:
        layer = model.get_layer("bn")
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights(
            [
                rng.uniform(0.5, 2, gamma.shape),
                rng.normal(size=beta.shape),
                rng.normal(size=mean.shape),
                rng.uniform(0.5, 2, var.shape),
            ]
        )
    _set(model.get_layer("d1"), dead=dense_dead, dead_bias=[-1.0] * len(dense_dead), rng=rng)
    _set(model.get_layer("d2"), rng=rng)
    return model


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(configurations())
def test_trimmed_model_matches_original_on_random_configurations(config):
    keras.backend.clear_session()
    model = _build(config)
    assume(model is not None and all(d > 0 for d in model.output_shape[1:]))
    x = np.random.default_rng(1).normal(size=(3, *model.input_shape[1:])).astype("float32")
    _check(model, x)


# ---------------------------------------------------------------------------------------
# Targeted cases.


def test_zero_edges_shorten_the_kernel_for_every_padding():
    for padding in ["valid", "same", "causal"]:
        model = keras.Sequential([keras.Input((20, 2)), L.Conv1D(3, 7, padding=padding)])
        _set(model.layers[0], start=(2,), end=(3,))
        trimmed, report = _check(model, RNG.normal(size=(2, 20, 2)))
        assert report.layers[0].kernel_after == (2,)
        assert trimmed.output_shape == model.output_shape


def test_stride_two_same_padding_keeps_the_sampling_grid():
    model = keras.Sequential([keras.Input((9, 10, 1)), L.Conv2D(2, 5, strides=2, padding="same")])
    _set(model.layers[0], start=(1, 2), end=(2, 0))
    trimmed, report = _check(model, RNG.normal(size=(2, 9, 10, 1)))
    assert report.layers[0].kernel_after == (2, 3)
    assert {type(layer).__name__ for layer in trimmed.layers} <= {
        "Conv2D",
        "ZeroPadding2D",
        "Cropping2D",
    }


def test_unknown_length_with_valid_stride_is_trimmed():
    model = keras.Sequential([keras.Input((None, 2)), L.Conv1D(3, 6, strides=3)])
    _set(model.layers[0], start=(2,), end=(1,))
    for n in (11, 12, 13):
        _check(model, RNG.normal(size=(2, n, 2)))


def test_unknown_length_with_same_stride_is_kept_with_a_reason():
    model = keras.Sequential([keras.Input((None, 2)), L.Conv1D(3, 6, strides=2, padding="same")])
    _set(model.layers[0], start=(2,), end=(1,))
    _, report = _check(model, RNG.normal(size=(2, 11, 2)))
    assert report.layers[0].kernel_after == (6,)
    assert "unknown length" in report.skipped[model.layers[0].name]


def test_depthwise_and_separable_kernels_are_shortened():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.DepthwiseConv2D(5, padding="same", name="dw"),
            L.SeparableConv2D(4, 5, padding="same", name="sep"),
        ]
    )
    _set(model.get_layer("dw"), start=(1, 1), end=(1, 1))
    _set(model.get_layer("sep"), start=(2, 0), end=(0, 2))
    _, report = _check(model, RNG.normal(size=(2, 12, 12, 3)))
    assert report.layers[0].kernel_after == (3, 3)
    assert report.layers[1].kernel_after == (3, 3)


def test_dead_filters_with_zero_output_are_removed_from_conv_bn_conv():
    model = keras.Sequential(
        [
            keras.Input((10, 10, 2)),
            L.Conv2D(6, 3, padding="same", activation="relu", name="c1"),
            L.BatchNormalization(center=False, name="bn"),
            L.Conv2D(4, 3, padding="same", name="c2"),
        ]
    )
    _set(model.get_layer("c1"), dead=(1, 4), dead_bias=(-0.5, 0.0))
    trimmed, _ = _check(model, RNG.normal(size=(2, 10, 10, 2)))
    assert trimmed.get_layer("c1").filters == 4
    assert trimmed.get_layer("c2").kernel.shape[-2] == 4


def test_dead_filter_with_nonzero_constant_folds_into_dense_bias():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            L.Conv2D(5, 3, activation="tanh", name="c1"),
            L.Flatten(),
            L.Dense(3, name="d"),
        ]
    )
    _set(model.get_layer("c1"), dead=(0, 3), dead_bias=(0.4, -0.7))
    trimmed, _ = _check(model, RNG.normal(size=(2, 8, 8, 2)))
    assert trimmed.get_layer("c1").filters == 3


def test_dead_filter_with_nonzero_constant_before_same_conv_is_kept_with_a_reason():
    model = keras.Sequential(
        [
            keras.Input((8, 2)),
            L.Conv1D(4, 3, padding="same", name="c1"),
            L.Conv1D(2, 3, padding="same", name="c2"),
        ]
    )
    _set(model.get_layer("c1"), dead=(2,), dead_bias=(0.4,))
    trimmed, report = _check(model, RNG.normal(size=(2, 8, 2)))
    assert trimmed.get_layer("c1").filters == 4
    assert "dead filter" in report.skipped["c1"]


def test_residual_add_removes_only_channels_every_branch_agrees_on():
    inputs = keras.Input((12, 3))
    a = L.Conv1D(4, 3, padding="same", activation="relu", name="a")(inputs)
    b = L.Conv1D(4, 5, padding="same", activation="relu", name="b")(inputs)
    s = L.Add()([a, b])
    c = L.Concatenate()([s, L.Conv1D(2, 3, padding="same", activation="relu", name="e")(s)])
    out = L.Dense(2, name="head")(L.GlobalAveragePooling1D()(c))
    model = keras.Model(inputs, out)
    _set(model.get_layer("a"), dead=(0, 1), dead_bias=(-1.0, -1.0))
    _set(model.get_layer("b"), start=(1,), end=(1,), dead=(1, 2), dead_bias=(-1.0, -1.0))
    _set(model.get_layer("e"), dead=(0,), dead_bias=(-1.0,))
    trimmed, _ = _check(model, RNG.normal(size=(2, 12, 3)))
    assert trimmed.get_layer("a").filters == 3  # only channel 1 is dead in both branches
    assert trimmed.get_layer("b").filters == 3
    assert trimmed.get_layer("b").kernel_size == (3,)
    assert trimmed.get_layer("e").filters == 1
    assert trimmed.get_layer("head").kernel.shape[0] == 4


def test_lstm_in_the_middle_is_kept_and_the_rest_trimmed():
    model = keras.Sequential(
        [
            keras.Input((16, 2)),
            L.Conv1D(4, 5, padding="causal", activation="relu", name="c1"),
            L.LSTM(3, return_sequences=True, name="lstm"),
            L.Conv1D(3, 3, name="c2"),
            L.GlobalMaxPooling1D(),
            L.Dense(2, name="d"),
        ]
    )
    _set(model.get_layer("c1"), start=(2,), dead=(1,), dead_bias=(-1.0,))
    _set(model.get_layer("c2"), end=(1,))
    trimmed, report = _check(model, RNG.normal(size=(2, 16, 2)))
    assert "LSTM" in report.skipped["lstm"]
    assert trimmed.get_layer("c1").kernel_size == (3,)
    assert trimmed.get_layer("c1").filters == 4  # the LSTM consumes every channel
    assert trimmed.get_layer("c2").kernel_size == (2,)
    np.testing.assert_array_equal(
        trimmed.get_layer("lstm").get_weights()[0], model.get_layer("lstm").get_weights()[0]
    )


def test_user_model_is_not_changed():
    model = keras.Sequential([keras.Input((10, 2)), L.Conv1D(3, 5, name="c")])
    _set(model.layers[0], start=(1,), dead=(0,), dead_bias=(0.0,))
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([kernel + 1e-4 * (kernel == 0), bias])  # near zero, not zero
    before = [w.copy() for w in model.get_weights()]
    trimmed, _ = regsearch.trim(model)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert trimmed.layers[0] is not model.layers[0]


def test_snap_to_zero_makes_the_model_compute_what_the_trimmed_model_computes():
    model = keras.Sequential([keras.Input((10, 2)), L.Conv1D(3, 5, name="c"), L.Dense(2)])
    kernel, bias = model.layers[0].get_weights()
    kernel = _away_from_zero(kernel.shape)
    kernel[0] = 5e-4  # counts as zero, but is not
    model.layers[0].set_weights([kernel, bias])
    trimmed, _ = regsearch.trim(model)
    x = RNG.normal(size=(2, 10, 2))
    assert not np.allclose(trimmed(x), model(x), rtol=0, atol=1e-7)
    assert snap_to_zero(model) == kernel[0].size
    np.testing.assert_allclose(trimmed(x), model(x), rtol=1e-6, atol=1e-6)
    assert snap_to_zero(model) == 0


def test_relative_threshold_uses_each_layers_largest_weight():
    model = keras.Sequential([keras.Input((10, 1)), L.Conv1D(1, 3, use_bias=False)])
    model.layers[0].set_weights([np.array([0.05, 10.0, 0.2]).reshape(3, 1, 1)])
    assert trimmed_size(model, 0.01, relative=True).layers[0].kernel_after == (2,)
    assert trimmed_size(model, 0.01).layers[0].kernel_after == (3,)


def test_trimmed_model_is_plain_keras_and_loads_without_regsearch(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((12, 2)),
            L.Conv1D(4, 5, strides=2, padding="same", name="c1", kernel_regularizer="l2"),
            L.Flatten(),
            L.Dense(2, name="d"),
        ]
    )
    _set(model.get_layer("c1"), start=(1,), end=(2,), dead=(3,), dead_bias=(0.3,))
    trimmed, _ = regsearch.trim(model)
    path = tmp_path / "trimmed.keras"
    trimmed.save(path)
    x = RNG.normal(size=(2, 12, 2)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", keras.ops.convert_to_numpy(trimmed(x)))
    code = (
        "import sys, numpy as np, keras\n"
        "assert 'regsearch' not in sys.modules\n"
        f"m = keras.saving.load_model(r'{path}')\n"
        f"y = m(np.load(r'{tmp_path / 'x.npy'}'))\n"
        f"np.testing.assert_allclose(y, np.load(r'{tmp_path / 'y.npy'}'), rtol=1e-5, atol=1e-6)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""},
        check=False,
    )
    assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_removing_every_filter_is_an_error_suggesting_a_lower_threshold():
    model = keras.Sequential(
        [keras.Input((6, 1)), L.Conv1D(2, 3, activation="relu", name="c1"), L.Conv1D(1, 1)]
    )
    model.get_layer("c1").set_weights([np.full((3, 1, 2), 1e-2), np.full(2, -1.0)])
    trimmed_size(model, 1e-3)  # fine
    with pytest.raises(ValueError, match=r"'c1'.*lower \`threshold\`"):
        regsearch.trim(model, 0.1)
    with pytest.raises(ValueError, match=r"'c1'"):
        trimmed_size(model, 0.1)


def test_bad_arguments_are_clear_errors():
    model = keras.Sequential([keras.Input((6, 1)), L.Conv1D(2, 3)])
    with pytest.raises(ValueError, match=r"`threshold`"):
        regsearch.trim(model, -1e-3)
    with pytest.raises(ValueError, match="unbuilt"):
        trimmed_size(keras.Sequential([L.Dense(2)]))
    with pytest.raises(TypeError, match="relative"):
        trimmed_size(model, relative="yes")
    with pytest.raises(TypeError, match=r"keras\.Model"):
        regsearch.trim("model")
