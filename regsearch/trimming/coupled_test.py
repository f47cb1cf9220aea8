"""trim() removes channels coupled across merges, concatenations and depthwise layers, exactly.

Every test damages the weights (random kernels away from zero, batch norms with random
statistics), zeroes some channels of a coupled group in every member, trims with a
threshold and checks that the channel count went down where expected and that the
trimmed model predicts what the original predicts.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import regsearch
from regsearch.trimming import trimmed_size

L = keras.layers
THRESHOLD = 1e-3

# The hand-built models start from zeros: _damage sets every weight, and random
# initializers cost a compilation per weight shape on JAX.
_Z = "zeros"
Conv1D = functools.partial(L.Conv1D, kernel_initializer=_Z)
Conv2D = functools.partial(L.Conv2D, kernel_initializer=_Z)
Dense = functools.partial(L.Dense, kernel_initializer=_Z)
DepthwiseConv1D = functools.partial(L.DepthwiseConv1D, depthwise_initializer=_Z)
DepthwiseConv2D = functools.partial(L.DepthwiseConv2D, depthwise_initializer=_Z)
SeparableConv1D = functools.partial(
    L.SeparableConv1D, depthwise_initializer=_Z, pointwise_initializer=_Z
)
SeparableConv2D = functools.partial(
    L.SeparableConv2D, depthwise_initializer=_Z, pointwise_initializer=_Z
)


def _damage(model: keras.Model, seed: int = 0) -> None:
    """Random weights: kernels and biases with |w| >= 0.05, batch norms far from identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            new = []
            for variable in layer.weights:
                shape = variable.shape
                if variable.name == "gamma":
                    new.append(rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape))
                elif variable.name == "moving_variance":
                    new.append(rng.uniform(0.5, 2.0, shape))
                else:  # beta, moving_mean
                    new.append(rng.normal(0, 0.5, shape))
            layer.set_weights(new)
        elif layer.weights:
            new = []
            for w in layer.get_weights():
                r = rng.normal(size=w.shape)
                scale = 1.0 / np.sqrt(max(1, np.prod(w.shape[:-1])))
                new.append((np.sign(r) * (0.05 + np.abs(r) * scale)).astype("float32"))
            layer.set_weights(new)


def _zero_filters(model: keras.Model, name: str, channels, bias: float = 0.0) -> None:
    """Make output ``channels`` of a Conv / SeparableConv / Dense layer dead, with ``bias``."""
    layer = model.get_layer(name)
    weights = layer.get_weights()
    kernel = 1 if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)) else 0
    weights[kernel][..., channels] = 0.0
    if layer.use_bias:
        weights[-1][channels] = bias
    layer.set_weights(weights)


def _zero_bn(model: keras.Model, name: str, channels) -> None:
    """Zero gamma and beta of ``channels``: the batch norm outputs 0 there."""
    layer = model.get_layer(name)
    weights = {v.name: w for v, w in zip(layer.weights, layer.get_weights(), strict=True)}
    weights["gamma"][channels] = 0.0
    weights["beta"][channels] = 0.0
    layer.set_weights([weights[v.name] for v in layer.weights])


def _positive_bn(model: keras.Model, name: str, channels, beta: float = 0.5) -> None:
    """Make the batch norm map 0 to ``beta`` > 0 on ``channels``, so ReLU keeps it."""
    layer = model.get_layer(name)
    weights = {v.name: w for v, w in zip(layer.weights, layer.get_weights(), strict=True)}
    weights["gamma"][channels] = np.abs(weights["gamma"][channels])
    weights["moving_mean"][channels] = 0.0
    weights["beta"][channels] = beta
    layer.set_weights([weights[v.name] for v in layer.weights])


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Outputs on ``x``; compiled on JAX (one compilation, not one per operation and shape)."""
    if keras.backend.backend() == "jax":
        return model.predict(x, verbose=0)
    return keras.ops.convert_to_numpy(model(x))


def _check(model: keras.Model, batch: int = 2, seed: int = 1):
    """Trim; the trimmed model predicts what ``model`` predicts and has the predicted size."""
    shape = (batch, *model.input_shape[1:])
    x = np.random.default_rng(seed).normal(size=shape).astype("float32")
    trimmed, report = regsearch.trim(model, THRESHOLD)
    np.testing.assert_allclose(_predict(trimmed, x), _predict(model, x), atol=1e-5, rtol=1e-5)
    assert trimmed_size(model, THRESHOLD).params == trimmed.count_params()
    assert report.params_after == trimmed.count_params() < report.params_before
    return trimmed, report


def _in_channels(layer: keras.layers.Layer) -> int:
    return int(layer.get_weights()[0].shape[-2])


# ---------------------------------------------------------------------------------------
# Small hand-built graphs.


def _conv_bn(x, filters, name, kernel=3, strides=1, relu=True):
    x = Conv2D(filters, kernel, strides=strides, padding="same", name=name)(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x) if relu else x


def _resnet() -> keras.Model:
    """Stem, two identity blocks and a projection block with strides."""
    inputs = keras.Input((12, 12, 3))
    x = _conv_bn(inputs, 16, "stem")
    for b in range(2):
        y = _conv_bn(x, 16, f"b{b}_c1")
        y = _conv_bn(y, 16, f"b{b}_c2", relu=False)
        x = L.ReLU(name=f"b{b}_out")(L.Add(name=f"b{b}_add")([x, y]))
    y = _conv_bn(x, 24, "p_c1", strides=2)
    y = _conv_bn(y, 24, "p_c2", kernel=1, relu=False)
    shortcut = _conv_bn(x, 24, "p_short", kernel=1, strides=2, relu=False)
    x = L.ReLU(name="p_out")(L.Add(name="p_add")([shortcut, y]))
    out = Dense(5, name="head")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, out)


def test_resnet_stream_channels_go_from_every_member_of_the_group():
    model = _resnet()
    _damage(model)
    stream = [1, 4, 6]
    for name in ("stem", "b0_c2", "b1_c2"):
        _zero_filters(model, name, stream)
        _zero_bn(model, f"{name}_bn", stream)
    _zero_filters(model, "stem", [9])  # dead in stem only: the other members still use it
    _zero_bn(model, "stem_bn", [9])
    _zero_filters(model, "p_c1", [0, 5], bias=0.0)  # a constant, folded into p_c2 (1x1)
    _positive_bn(model, "p_c1_bn", [0, 5])
    trimmed, report = _check(model)
    for name in ("stem", "b0_c2", "b1_c2"):
        assert trimmed.get_layer(name).filters == 13
        assert trimmed.get_layer(f"{name}_bn").gamma.shape == (13,)
    for name in ("b0_c1", "b1_c1", "p_c1", "p_short"):
        assert _in_channels(trimmed.get_layer(name)) == 13
    assert trimmed.get_layer("p_c1").filters == 22
    assert _in_channels(trimmed.get_layer("p_c2")) == 22
    stem = report.layers[0]
    assert stem.coupled == ("b0_c2", "b1_c2")
    assert stem.coupled_through == ("b0_add", "b1_add")
    assert "1 dead filter(s) kept: live in b0_c2, b1_c2" in stem.note
    assert "coupled with b0_c2, b1_c2 through b0_add, b1_add" in str(report)
    short = next(e for e in report.layers if e.name == "p_short")
    assert short.coupled == ("p_c2",) and short.coupled_through == ("p_add",)


def test_projection_group_channels_go_with_the_strided_shortcut():
    model = _resnet()
    _damage(model, seed=3)
    for name in ("p_short", "p_c2"):
        _zero_filters(model, name, [2, 20])
        _zero_bn(model, f"{name}_bn", [2, 20])
    trimmed, report = _check(model)
    assert trimmed.get_layer("p_short").filters == trimmed.get_layer("p_c2").filters == 22
    assert trimmed.get_layer("head").kernel.shape == (22, 5)
    assert report.skipped == {}


def _densenet(growth: int = 4) -> keras.Model:
    """A dense block of BN -> ReLU -> Conv layers concatenated onto a growing map."""
    inputs = keras.Input((10, 10, 3))
    x = Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    for i in range(3):
        y = L.BatchNormalization(name=f"d{i}_bn1")(x)
        y = L.ReLU()(y)
        y = Conv2D(2 * growth, 1, use_bias=False, name=f"d{i}_c1")(y)
        y = L.BatchNormalization(name=f"d{i}_bn2")(y)
        y = L.ReLU()(y)
        y = Conv2D(growth, 3, padding="same", use_bias=False, name=f"d{i}_c2")(y)
        x = L.Concatenate(name=f"d{i}_cat")([x, y])
    x = L.BatchNormalization(name="t_bn")(x)
    x = L.ReLU()(x)
    x = Conv2D(8, 1, use_bias=False, name="t_conv")(x)
    x = L.AveragePooling2D(2, name="t_pool")(x)
    out = Dense(4, name="head")(L.GlobalAveragePooling2D()(L.ReLU()(x)))
    return keras.Model(inputs, out)


def test_densenet_dead_channels_fold_into_every_later_reader():
    model = _densenet()
    _damage(model)
    # Dead stem and d0_c2 filters are 0; each later batch norm maps them to a constant,
    # which the 1x1 convolutions reading them absorb (BN mean or a new bias).
    _zero_filters(model, "stem", [0, 5])
    _zero_filters(model, "d0_c2", [1])
    for i in range(3):
        _positive_bn(model, f"d{i}_bn1", [0, 5])
    _positive_bn(model, "t_bn", [0, 5])
    trimmed, report = _check(model)
    assert trimmed.get_layer("stem").filters == 6
    assert trimmed.get_layer("d0_c2").filters == 3
    assert _in_channels(trimmed.get_layer("d0_c1")) == 6
    assert _in_channels(trimmed.get_layer("d1_c1")) == 9  # 12 - 2 - 1
    assert _in_channels(trimmed.get_layer("d2_c1")) == 13
    assert _in_channels(trimmed.get_layer("t_conv")) == 17
    assert trimmed.get_layer("d2_bn1").gamma.shape == (13,)
    # d*_c1 feed one batch norm each: its moving mean takes the constant. t_conv feeds
    # a pooling layer: it gets a bias.
    assert not trimmed.get_layer("d1_c1").use_bias
    assert trimmed.get_layer("t_conv").use_bias
    assert report.skipped == {}


def test_densenet_filter_and_its_batch_norm_zeroed_goes():
    model = _densenet()
    _damage(model, seed=2)
    _zero_filters(model, "d1_c1", [0, 3, 6])
    _zero_bn(model, "d1_bn2", [0, 3, 6])  # 0 into the 3x3 'same' conv: nothing to fold
    _zero_filters(model, "d2_c1", [2])  # not zeroed in d2_bn2: a constant the 3x3 reads
    trimmed, report = _check(model)
    assert trimmed.get_layer("d1_c1").filters == 5
    assert _in_channels(trimmed.get_layer("d1_c2")) == 5
    assert trimmed.get_layer("d2_c1").filters == 8
    assert report.skipped["d2_c1"] == (
        "1 dead filter(s) kept: d2_c2 reads a nonzero constant through zero padding"
    )


def _inverted_residual(x, name, expand=24, out=8, strides=1):
    y = Conv2D(expand, 1, use_bias=False, name=f"{name}_expand")(x)
    y = L.BatchNormalization(name=f"{name}_expand_bn")(y)
    y = L.ReLU(6.0)(y)
    y = DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = L.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = L.ReLU(6.0)(y)
    y = Conv2D(out, 1, padding="same", use_bias=False, name=f"{name}_project")(y)
    y = L.BatchNormalization(name=f"{name}_project_bn")(y)
    if strides == 1 and x.shape[-1] == out:
        y = L.Add(name=f"{name}_add")([x, y])
    return y


def _mobilenet() -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    x = Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(6.0)(x)
    x = _inverted_residual(x, "a")
    x = _inverted_residual(x, "b")
    x = _inverted_residual(x, "c", out=12, strides=2)
    out = Dense(4, name="head")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, out)


def test_mobilenet_residual_stream_and_depthwise_channels_go():
    model = _mobilenet()
    _damage(model)
    for name in ("stem", "a_project", "b_project"):
        _zero_filters(model, name, [3])
        _zero_bn(model, f"{name}_bn", [3])
    # a: expand filters 5 and 7 dead with their batch norm zeroed: 0 through the
    # depthwise conv, whose batch norm makes it a constant the 1x1 projection absorbs.
    _zero_filters(model, "a_expand", [5, 7])
    _zero_bn(model, "a_expand_bn", [5, 7])
    _positive_bn(model, "a_dw_bn", [5, 7])
    # b: depthwise filter 10 dead: expand filter 10 is then unused.
    dw = model.get_layer("b_dw")
    kernel = dw.get_weights()[0]
    kernel[..., 10, :] = 0.0
    dw.set_weights([kernel])
    trimmed, report = _check(model)
    for name in ("stem", "a_project", "b_project"):
        assert trimmed.get_layer(name).filters == 7
    assert trimmed.get_layer("a_expand").filters == 22
    assert trimmed.get_layer("a_dw").get_weights()[0].shape == (3, 3, 22, 1)
    assert _in_channels(trimmed.get_layer("a_project")) == 22
    assert trimmed.get_layer("b_expand").filters == 23
    assert trimmed.get_layer("b_dw").get_weights()[0].shape == (3, 3, 23, 1)
    assert _in_channels(trimmed.get_layer("c_expand")) == 7
    assert not trimmed.get_layer("a_project").use_bias  # folded into a_project_bn's mean
    entry = next(e for e in report.layers if e.name == "a_project")
    assert entry.coupled == ("stem", "b_project")
    assert report.layers[-1].params_after == report.layers[-1].params_before


def test_dead_channel_through_depthwise_conv():
    inputs = keras.Input((9, 9, 2))
    x = Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = DepthwiseConv2D(3, depth_multiplier=2, name="dw_valid")(x)  # constants stay
    x = Conv2D(6, 1, name="c2")(x)
    x = DepthwiseConv2D(3, padding="same", name="dw_same")(x)  # only 0 stays constant
    out = Conv2D(3, 1, name="c3")(x)
    model = keras.Model(inputs, out)
    _damage(model)
    _zero_filters(model, "c1", [1], bias=0.7)  # relu(0.7): through dw_valid, into c2
    _zero_filters(model, "c2", [2], bias=0.5)  # 0.5 through a zero-padded conv: kept
    _zero_filters(model, "c2", [4], bias=0.0)  # 0 stays 0 (plus dw_same's bias): goes
    trimmed, report = _check(model)
    assert trimmed.get_layer("c1").filters == 3
    assert trimmed.get_layer("dw_valid").get_weights()[0].shape == (3, 3, 3, 2)
    assert trimmed.get_layer("c2").filters == 5
    assert trimmed.get_layer("dw_same").get_weights()[0].shape == (3, 3, 5, 1)
    assert report.skipped["c2"] == "1 dead filter(s) kept: dw_same pads them with zeros"


@pytest.mark.parametrize("rank", [1, 2])
def test_separable_conv_loses_dead_filters_and_unused_inputs(rank):
    sep = SeparableConv1D if rank == 1 else SeparableConv2D
    conv = Conv1D if rank == 1 else Conv2D
    inputs = keras.Input((10,) * rank + (3,))
    x = conv(8, 3, padding="same", name="c0")(inputs)
    x = sep(6, 3, padding="same", depth_multiplier=2, name="sep1")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU()(x)
    x = sep(5, 3, name="sep2")(x)  # 'valid': folds constant inputs into its bias
    out = Dense(3, name="head")(L.Flatten()(x))
    model = keras.Model(inputs, out)
    _damage(model)
    _zero_filters(model, "sep1", [2])  # dead: BN -> ReLU makes a constant, folded
    _positive_bn(model, "bn", [2])
    _zero_filters(model, "c0", [1])  # 0 into a zero-padded layer: goes
    sep1 = model.get_layer("sep1")
    depthwise, pointwise, bias = sep1.get_weights()
    depthwise[..., 4, :] = 0.0  # c0's channel 4 reaches nothing
    pointwise[..., 12:14, :] = 0.0  # nor does channel 6 (rows 6 * 2, 6 * 2 + 1)
    pointwise[..., 6, :] = 0.0  # channel 3: one of its two rows only, kept
    sep1.set_weights([depthwise, pointwise, bias])
    trimmed, report = _check(model)
    assert trimmed.get_layer("c0").filters == 5
    small = trimmed.get_layer("sep1")
    assert small.filters == 5
    assert small.get_weights()[0].shape[-2:] == (5, 2)
    assert small.get_weights()[1].shape[-2:] == (10, 5)
    assert _in_channels(trimmed.get_layer("sep2")) == 5
    assert report.layers[0].unused_filters == (4, 6)


def test_separable_pointwise_zeros_shorten_the_depthwise_kernel():
    inputs = keras.Input((12, 2))
    x = SeparableConv1D(3, 5, padding="same", depth_multiplier=2, name="sep")(inputs)
    model = keras.Model(inputs, Conv1D(2, 1, name="out")(x))
    _damage(model)
    sep = model.get_layer("sep")
    depthwise, pointwise, bias = sep.get_weights()
    depthwise[[0, 4], :, :] = 0.0
    depthwise[0, 1, 0] = 0.7  # only intermediate channel 2 uses the first tap ...
    pointwise[:, 2, :] = 0.0  # ... and it reaches no output
    sep.set_weights([depthwise, pointwise, bias])
    trimmed, _ = _check(model)
    assert trimmed.get_layer("sep").kernel_size == (3,)


def test_layer_norm_keeps_its_input_channels_and_says_why():
    inputs = keras.Input((8, 3))
    x = Conv1D(4, 3, padding="same", name="c1")(inputs)
    x = L.LayerNormalization(name="ln")(x)
    x = Conv1D(4, 3, padding="same", name="c2")(x)
    x = L.Reshape((8, 2, 2), name="reshape")(x)  # no constant reaches it: no note
    model = keras.Model(inputs, Dense(2, name="head")(L.Flatten()(x)))
    _damage(model)
    _zero_filters(model, "c1", [1])
    x = np.random.default_rng(0).normal(size=(2, 8, 3)).astype("float32")
    trimmed, report = regsearch.trim(model, THRESHOLD, sample=x)
    assert report.max_abs_error < 1e-5
    assert trimmed.get_layer("c1").filters == 4
    assert report.skipped["ln"] == (
        "LayerNormalization normalizes over channels: its input channels are kept"
    )
    assert report.skipped["c1"] == "1 dead filter(s) kept: ln keeps its input channels"
    assert "reshape" not in report.skipped


def test_softmax_reading_a_dead_unit_says_why_it_is_kept():
    inputs = keras.Input((5,))
    x = Dense(4, name="d1")(inputs)
    out = L.Activation("softmax", name="probs")(x)
    model = keras.Model(inputs, out)
    _damage(model)
    _zero_filters(model, "d1", [2], bias=0.0)
    _, report = regsearch.trim(model, THRESHOLD)
    assert (
        report.skipped["probs"]
        == "activation 'softmax' mixes channels: its input channels are kept"
    )
    assert report.skipped["d1"] == "1 dead filter(s) kept: probs keeps its input channels"
    assert report.params_after == report.params_before


def test_elementwise_operation_on_a_keras_tensor_passes_channels_through():
    inputs = keras.Input((8, 2))
    x = Conv1D(3, 3, padding="same", name="c1")(inputs)
    x = L.ReLU()(x + 1.0)  # an operation in the graph, not a layer
    model = keras.Model(inputs, Dense(2, name="head")(x * 0.5))
    _damage(model)
    _zero_filters(model, "c1", [1])  # 0, then relu(0 + 1) * 0.5: a constant for the head
    trimmed, _ = _check(model)
    assert trimmed.get_layer("c1").filters == 2
    assert _in_channels(trimmed.get_layer("head")) == 2


def test_other_operation_on_a_keras_tensor_keeps_its_input_channels():
    inputs = keras.Input((8, 2))
    x = Conv1D(3, 3, padding="same", name="c1")(inputs)
    x = L.ReLU()(keras.ops.cumsum(x, axis=-1))  # mixes channels
    model = keras.Model(inputs, Dense(2, name="head")(x))
    _damage(model)
    _zero_filters(model, "c1", [1])
    x = np.random.default_rng(0).normal(size=(2, 8, 2)).astype("float32")
    trimmed, report = regsearch.trim(model, THRESHOLD, sample=x)
    assert report.max_abs_error < 1e-5
    assert trimmed.get_layer("c1").filters == 3
    (op,) = (name for name, note in report.skipped.items() if "is not traced" in note)
    assert report.skipped["c1"] == f"1 dead filter(s) kept: {op} keeps its input channels"


def test_trimmed_layers_keep_their_configs_and_initializers():
    init = {"kernel_initializer": "ones", "bias_initializer": "ones"}
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(3, 3, name="c", **init),
            # Not zeros: a zero gamma counts as zero, and trim removes its channel.
            L.BatchNormalization(
                name="bn",
                gamma_initializer=keras.initializers.Constant(2.0),
                beta_initializer="ones",
            ),
            L.SeparableConv2D(2, 3, name="s", pointwise_initializer="ones"),
            L.DepthwiseConv2D(1, name="dw", depthwise_initializer="ones"),
            L.Flatten(),
            L.Dense(2, name="d", **init),
        ]
    )
    trimmed, report = regsearch.trim(model, 0.0)
    assert report.params_after == report.params_before
    for name in ("c", "bn", "s", "dw", "d"):
        assert trimmed.get_layer(name).get_config() == model.get_layer(name).get_config()


# ---------------------------------------------------------------------------------------
# keras.applications models: ResNet50, DenseNet121, MobileNetV2 (EfficientNetB0 and
# MobileNetV3Small with the squeeze-and-excitation blocks below).

_PASS = ("BatchNormalization", "Activation", "ReLU", "Add")


def _inbound(model: keras.Model) -> dict[str, list[str]]:
    """Layer name -> names of the layers it reads, from the model's config."""

    def history(obj: object, names: list[str]) -> list[str]:
        if isinstance(obj, dict):
            if obj.get("class_name") == "__keras_tensor__":
                names.append(obj["config"]["keras_history"][0])
            else:
                for value in obj.values():
                    history(value, names)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                history(value, names)
        return names

    layers = model.get_config()["layers"]
    return {spec["name"]: history(spec["inbound_nodes"], []) for spec in layers}


def _residual_group(model: keras.Model, add: str) -> list[str]:
    """The convolutions whose output channels ``add`` ties together.

    Walks from the Add back through batch norms and activations to the convolutions
    feeding it, and forward through activations to the next Add of the same stream.
    """
    inbound = _inbound(model)
    readers: dict[str, list[str]] = {}
    for name, sources in inbound.items():
        for source in sources:
            readers.setdefault(source, []).append(name)
    kind = {layer.name: type(layer).__name__ for layer in model.layers}
    members: list[str] = []
    pending, seen = [add], {add}
    while pending:
        name = pending.pop()
        for other in inbound[name] + readers.get(name, []):
            if other in seen:
                continue
            if kind[other] == "Conv2D" and other in inbound[name]:
                members.append(other)
            elif kind[other] in _PASS:
                seen.add(other)
                pending.append(other)
    return sorted(members)


def _damage_application(model: keras.Model, seed: int = 0) -> None:
    """Batch norms with random statistics; every kernel weight at least 2x the threshold."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.6, 1.4, gamma.shape),
                    rng.normal(0, 0.2, beta.shape),
                    rng.normal(0, 0.2, mean.shape),
                    rng.uniform(0.6, 1.4, var.shape),
                ]
            )
        elif layer.weights:
            weights = layer.get_weights()
            kernel = weights[0]
            weights[0] = kernel + np.where(kernel < 0, -2, 2) * THRESHOLD
            layer.set_weights(weights)


def _zero_group(model: keras.Model, convs: list[str], channels: list[int], bn: str) -> None:
    """Zero ``channels`` in every conv of ``convs`` and its batch norm (name + ``bn``)."""
    for name in convs:
        _zero_filters(model, name, channels)
        _zero_bn(model, name.removesuffix("_conv") + bn, channels)


@pytest.mark.slow
def test_resnet50_stage_stream_and_a_block_filter_are_trimmed_exactly():
    model = keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    _damage_application(model)
    group = _residual_group(model, "conv2_block1_add")
    assert group == [
        "conv2_block1_0_conv",
        "conv2_block1_3_conv",
        "conv2_block2_3_conv",
        "conv2_block3_3_conv",
    ]
    _zero_group(model, group, [1, 5, 9, 200], "_bn")
    _zero_filters(model, "conv3_block2_2_conv", [0, 3])  # a constant, folded into _3_conv
    _positive_bn(model, "conv3_block2_2_bn", [0, 3])
    _zero_group(model, ["conv4_block1_1_conv"], [7], "_bn")  # 0 into a 3x3 'same' conv
    trimmed, report = _check(model)
    for name in group:
        assert trimmed.get_layer(name).filters == 252
        assert trimmed.get_layer(name.replace("_conv", "_bn")).gamma.shape == (252,)
        entry = report.layers[[e.name for e in report.layers].index(name)]
        assert set(entry.coupled) == set(group) - {name}
    for name in ("conv2_block2_1_conv", "conv2_block3_1_conv", "conv3_block1_0_conv"):
        assert _in_channels(trimmed.get_layer(name)) == 252
    assert trimmed.get_layer("conv3_block2_2_conv").filters == 126
    assert trimmed.get_layer("conv4_block1_1_conv").filters == 255


@pytest.mark.slow
def test_densenet121_dead_channels_leave_every_later_layer_of_the_block():
    model = keras.applications.DenseNet121(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    _damage_application(model)
    # The stem's channels reach every layer of the first dense block through the
    # concatenations; zeroed with their batch norm, they are 0 through the max pooling.
    _zero_filters(model, "conv1_conv", [3, 10])
    _zero_bn(model, "conv1_bn", [3, 10])
    _zero_filters(model, "conv2_block3_2_conv", [5])  # 0, then a constant in every BN
    for name in ("conv2_block4_0_bn", "conv2_block5_0_bn", "conv2_block6_0_bn", "pool2_bn"):
        _positive_bn(model, name, [64 + 2 * 32 + 5])
    _zero_filters(model, "conv3_block2_1_conv", [4, 9])  # with its BN: 0 into a 3x3 conv
    _zero_bn(model, "conv3_block2_1_bn", [4, 9])
    trimmed, _ = _check(model)
    assert trimmed.get_layer("conv1_conv").filters == 62
    assert trimmed.get_layer("conv2_block3_2_conv").filters == 31
    assert _in_channels(trimmed.get_layer("conv2_block1_1_conv")) == 62
    assert _in_channels(trimmed.get_layer("conv2_block6_1_conv")) == 62 + 5 * 32 - 1
    assert trimmed.get_layer("conv2_block6_0_bn").gamma.shape == (62 + 5 * 32 - 1,)
    assert _in_channels(trimmed.get_layer("pool2_conv")) == 256 - 3
    assert trimmed.get_layer("conv3_block2_1_conv").filters == 126
    assert _in_channels(trimmed.get_layer("conv3_block2_2_conv")) == 126


@pytest.mark.slow
def test_mobilenetv2_residual_stream_and_depthwise_channels_are_trimmed_exactly():
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    _damage_application(model)
    group = _residual_group(model, "block_2_add")
    assert group == ["block_1_project", "block_2_project"]
    _zero_group(model, group, [2, 7], "_BN")
    # An expand filter zeroed with its BN: 0 through the zero padding and the strided
    # depthwise conv, whose BN makes it a constant the 1x1 projection's BN absorbs.
    _zero_filters(model, "block_3_expand", [11, 40])
    _zero_bn(model, "block_3_expand_BN", [11, 40])
    _positive_bn(model, "block_3_depthwise_BN", [11, 40])
    trimmed, report = _check(model)
    for name in group:
        assert trimmed.get_layer(name).filters == 22
    assert _in_channels(trimmed.get_layer("block_3_expand")) == 22
    assert trimmed.get_layer("block_3_expand").filters == 142
    assert trimmed.get_layer("block_3_depthwise").get_weights()[0].shape == (3, 3, 142, 1)
    assert _in_channels(trimmed.get_layer("block_3_project")) == 142
    entry = report.layers[[e.name for e in report.layers].index("block_1_project")]
    assert entry.coupled == ("block_2_project",) and entry.coupled_through == ("block_2_add",)


# ---------------------------------------------------------------------------------------
# Squeeze-and-excitation blocks (EfficientNet, MobileNetV3): a Multiply of (h, w, c)
# features by (1, 1, c) scales couples the block's channels with the excitation conv's.


def _se_block(form: str) -> keras.Model:
    """Expand, depthwise, squeeze-and-excitation in ``form``, projection, head.

    ``efficientnet``: GlobalAveragePooling2D, Reshape((1, 1, c)), a sigmoid
    excitation. ``mobilenetv3``: GlobalAveragePooling2D(keepdims=True) and a hard
    sigmoid written as ``ReLU(6)(x + 3.0) * (1 / 6)`` (operations, not layers).
    """
    inputs = keras.Input((8, 8, 3))
    x = Conv2D(12, 1, use_bias=False, name="expand")(inputs)
    x = L.Activation("swish")(L.BatchNormalization(name="expand_bn")(x))
    x = DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = L.Activation("swish")(L.BatchNormalization(name="dw_bn")(x))
    if form == "efficientnet":
        se = L.Reshape((1, 1, 12), name="se_reshape")(L.GlobalAveragePooling2D()(x))
    else:
        se = L.GlobalAveragePooling2D(keepdims=True)(x)
    se = Conv2D(3, 1, activation="relu", name="se_reduce")(se)
    if form == "efficientnet":
        se = Conv2D(12, 1, activation="sigmoid", name="se_expand")(se)
    else:
        se = L.ReLU(6.0)(Conv2D(12, 1, name="se_expand")(se) + 3.0) * (1.0 / 6.0)
    x = L.Multiply(name="se_excite")([x, se])
    x = Conv2D(6, 1, name="project")(x)
    out = Dense(4, name="head")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, out)


@pytest.mark.parametrize("form", ["efficientnet", "mobilenetv3"])
def test_squeeze_excitation_channels_go_with_the_excitation_filter(form):
    model = _se_block(form)
    _damage(model)
    group = regsearch.trimming.channel_groups(model)[0]
    assert group.producers == ("expand", "se_expand") and not group.blocked
    assert set(group.readers) == {"se_reduce", "project"}
    # Channels 2 and 9: 0 out of the expand and depthwise batch norms, a constant
    # scale out of the dead excitation filter; their product, 0, leaves the projection.
    _zero_filters(model, "expand", [2, 9])
    _zero_bn(model, "expand_bn", [2, 9])
    _zero_bn(model, "dw_bn", [2, 9])
    _zero_filters(model, "se_expand", [2, 9], bias=0.4)
    trimmed, report = _check(model)
    assert trimmed.get_layer("expand").filters == 10
    assert trimmed.get_layer("dw").get_weights()[0].shape == (3, 3, 10, 1)
    assert trimmed.get_layer("se_expand").filters == 10
    assert _in_channels(trimmed.get_layer("se_reduce")) == 10
    assert _in_channels(trimmed.get_layer("project")) == 10
    entry = report.layers[[e.name for e in report.layers].index("se_expand")]
    assert entry.coupled == ("dw",) and entry.coupled_through == ("se_excite",)


def test_squeeze_excitation_channel_stays_while_its_excitation_filter_lives():
    model = _se_block("efficientnet")
    _damage(model)
    _zero_filters(model, "expand", [4])
    _zero_bn(model, "expand_bn", [4])
    _zero_bn(model, "dw_bn", [4])  # 0 times a live scale
    trimmed, report = regsearch.trim(model, THRESHOLD)
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_predict(trimmed, x), _predict(model, x), atol=1e-5, rtol=1e-5)
    assert trimmed.get_layer("expand").filters == 12  # se_expand's filter 4 is still used
    assert trimmed.get_layer("se_expand").filters == 12
    assert report.params_after == report.params_before


def test_a_reshape_that_moves_the_channels_keeps_them():
    inputs = keras.Input((4, 4, 6))
    x = Conv2D(6, 1, name="conv")(inputs)
    x = L.Reshape((16, 6), name="rows")(x)  # the channels stay last: traced through
    x = L.Reshape((6, 16), name="mixed")(x)  # not: kept with its input channels
    out = Dense(2, name="head")(L.Flatten()(x))
    model = keras.Model(inputs, out)
    _damage(model)
    _zero_filters(model, "conv", [1])
    report = regsearch.trim(model, THRESHOLD)[1]
    entry = report.layers[[e.name for e in report.layers].index("conv")]
    assert entry.filters_after == entry.filters_before == 6
    assert "mixed" in entry.note


@pytest.mark.slow
@pytest.mark.parametrize(
    "application, block",
    [
        ("EfficientNetB0", ("block2a_expand_conv", "block2a_expand_bn", "block2a_bn",
                            "block2a_se_expand", "block2a_project_conv")),
        ("MobileNetV3Small", ("expanded_conv_3_expand", "expanded_conv_3_expand_bn",
                              "expanded_conv_3_depthwise_bn",
                              "expanded_conv_3_squeeze_excite_conv_1", "expanded_conv_3_project")),
    ],
)  # fmt: skip
def test_squeeze_excitation_blocks_of_applications_are_trimmed_exactly(application, block):
    model = getattr(keras.applications, application)(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    # every group can be narrowed but the head's (it reaches the model output)
    blocked = [g.blocked for g in regsearch.trimming.channel_groups(model) if g.blocked]
    assert blocked == ["its channels reach a model output"]
    _damage_application(model)
    expand, expand_bn, dw_bn, excite, project = block
    channels = model.get_layer(expand).filters
    _zero_filters(model, expand, [3, 17])
    _zero_bn(model, expand_bn, [3, 17])
    _zero_bn(model, dw_bn, [3, 17])
    _zero_filters(model, excite, [3, 17], bias=0.4)
    trimmed, _ = _check(model)
    for name in (expand, excite):
        assert trimmed.get_layer(name).filters == channels - 2
    assert _in_channels(trimmed.get_layer(project)) == channels - 2


# ---------------------------------------------------------------------------------------
# SeparableConv and DepthwiseConv channels on random configurations.


@st.composite
def _separable_configurations(draw):
    rank = draw(st.integers(1, 2))
    size = draw(st.integers(7, 11))
    k = draw(st.integers(1, 4))
    strided = draw(st.booleans())
    return {
        "rank": rank,
        "size": size,
        "c_in": draw(st.integers(1, 3)),
        "mid": draw(st.integers(2, 5)),
        "mid_dead": draw(st.sets(st.integers(0, 4), max_size=3)),
        "mid_bias": draw(st.sampled_from([0.0, 0.6])),
        "bn": draw(st.booleans()),
        "k": k,
        "strides": draw(st.integers(2, 3)) if strided else 1,
        "dilation": 1 if strided else draw(st.integers(1, 2)),
        "padding": draw(st.sampled_from(["valid", "same"])),
        "m": draw(st.integers(1, 3)),
        "filters": draw(st.integers(2, 5)),
        "dead": draw(st.sets(st.integers(0, 4), max_size=3)),
        "dead_bias": draw(st.sampled_from([0.0, -0.5, 0.5])),
        "zero_depthwise": draw(st.sets(st.integers(0, 4), max_size=2)),
        "zero_pointwise": draw(st.sets(st.integers(0, 14), max_size=4)),
        "edge": draw(st.integers(0, k - 1)),
        "depthwise_after": draw(st.sampled_from([None, "valid", "same"])),
        "use_bias": draw(st.booleans()),
    }


def _separable_model(c: dict) -> keras.Model | None:
    rank = c["rank"]
    conv, sep = (Conv1D, SeparableConv1D) if rank == 1 else (Conv2D, SeparableConv2D)
    depthwise = DepthwiseConv1D if rank == 1 else DepthwiseConv2D
    inputs = keras.Input((c["size"],) * rank + (c["c_in"],))
    x = conv(c["mid"], 3, padding="same", activation="relu", name="mid")(inputs)
    if c["bn"]:
        x = L.BatchNormalization(name="bn")(x)
    x = sep(
        c["filters"],
        c["k"],
        strides=c["strides"],
        dilation_rate=c["dilation"],
        padding=c["padding"],
        depth_multiplier=c["m"],
        use_bias=c["use_bias"],
        activation="tanh",
        name="sep",
    )(x)
    if c["depthwise_after"]:
        x = depthwise(3, padding=c["depthwise_after"], name="dw")(x)
    x = (
        L.Flatten()(x)
        if x.shape[1] and x.shape[1] <= 3
        else L.GlobalAveragePooling1D()(L.Reshape((-1, x.shape[-1]))(x))
    )
    model = keras.Model(inputs, Dense(2, name="head")(x))
    _damage(model, seed=c["size"] * 7 + c["k"])
    mid_dead = sorted(d for d in c["mid_dead"] if d < c["mid"] - 1)  # the last one lives
    _zero_filters(model, "mid", mid_dead, c["mid_bias"])
    layer = model.get_layer("sep")
    weights = layer.get_weights()
    depthwise_kernel, pointwise = weights[0], weights[1]
    for d in c["zero_depthwise"]:
        if d < c["mid"]:
            depthwise_kernel[..., d, :] = 0.0
    for r in c["zero_pointwise"]:
        if r < pointwise.shape[-2]:
            pointwise[..., r, :] = 0.0
    if c["edge"]:
        depthwise_kernel[: c["edge"]] = 0.0  # leading taps of the first spatial axis
    for d in c["dead"]:
        if d < c["filters"] - 1:  # keep the last filter alive
            pointwise[..., d] = 0.0
            if c["use_bias"]:
                weights[-1][d] = c["dead_bias"]
    layer.set_weights(weights)
    return model


@pytest.mark.slow
@settings(max_examples=12, deadline=None, derandomize=True)
@given(_separable_configurations())
def test_separable_and_depthwise_channels_on_random_configurations(config):
    keras.backend.clear_session()
    try:
        model = _separable_model(config)
    except ValueError:  # e.g. a 'valid' kernel larger than its input
        assume(False)
        return
    x = np.random.default_rng(2).normal(size=(2, *model.input_shape[1:])).astype("float32")
    trimmed, report = regsearch.trim(model, THRESHOLD)
    np.testing.assert_allclose(_predict(trimmed, x), _predict(model, x), atol=1e-5, rtol=1e-5)
    assert trimmed_size(model, THRESHOLD).params == trimmed.count_params()
    assert report.params_after == trimmed.count_params() <= report.params_before
