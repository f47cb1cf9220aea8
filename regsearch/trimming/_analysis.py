"""Weight analysis: what trimming would remove from each layer, from the weights alone.

Pure numpy on ``layer.get_weights()``; nothing is built. The same analysis drives
:func:`regsearch.trimming.trimmed_size` (called at every epoch end of a search) and the
surgery in :func:`regsearch.trimming.trim`, so the two always agree.

Outline:

1. Every kernel of a layer trim understands is *snapped*: weights that count as zero
   become exactly 0.
2. Forward pass over constants: a dead output channel (its whole kernel slice is
   zero) outputs the constant ``activation(bias)``; that constant is carried through
   channel-wise layers (activations, batch normalization, pooling, merges, ...).
3. Fixpoint over the graph: a channel is removed only if it is constant everywhere
   it flows, every branch of a merge agrees, it never reaches a model output or a
   layer trim does not understand, and every consumer can absorb it exactly (the
   constant is 0, or a Dense / ``valid`` convolution folds it into its bias).
4. Kernel extent: per spatial axis, leading and trailing kernel positions whose
   weights (over the remaining channels) are all zero are dropped, and the padding
   is rewritten so that the outputs keep their shape and values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from regsearch._validation import check_float
from regsearch.trimming._graph import ModelGraph, model_graph

L = keras.layers

CONV_TYPES: tuple[type, ...] = (L.Conv1D, L.Conv2D, L.Conv3D)
DEPTHWISE_TYPES: tuple[type, ...] = (L.DepthwiseConv1D, L.DepthwiseConv2D)
SEPARABLE_TYPES: tuple[type, ...] = (L.SeparableConv1D, L.SeparableConv2D)
KERNEL_TYPES = (*CONV_TYPES, *DEPTHWISE_TYPES, *SEPARABLE_TYPES, L.Dense)

# Channel-wise layers that map a constant channel to the same constant at inference.
IDENTITY_TYPES: tuple[type, ...] = (
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.SpatialDropout3D,
    L.GaussianNoise,
    L.GaussianDropout,
    L.AlphaDropout,
    L.ActivityRegularization,
    L.Identity,
    L.MaxPooling1D,
    L.MaxPooling2D,
    L.MaxPooling3D,
    L.AveragePooling1D,
    L.AveragePooling2D,
    L.AveragePooling3D,
    L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D,
    L.GlobalMaxPooling3D,
    L.GlobalAveragePooling1D,
    L.GlobalAveragePooling2D,
    L.GlobalAveragePooling3D,
    L.Cropping1D,
    L.Cropping2D,
    L.Cropping3D,
    L.UpSampling1D,
    L.UpSampling2D,
    L.UpSampling3D,
)
ZERO_PAD_TYPES: tuple[type, ...] = (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)
ACTIVATION_TYPES: tuple[type, ...] = (L.Activation, L.ReLU, L.LeakyReLU, L.ELU)
MERGE_OPS: dict[type, Callable[[list[np.ndarray]], np.ndarray]] = {
    L.Add: lambda xs: np.sum(xs, axis=0),
    L.Subtract: lambda xs: xs[0] - xs[1],
    L.Multiply: lambda xs: np.prod(xs, axis=0),
    L.Average: lambda xs: np.mean(xs, axis=0),
    L.Maximum: lambda xs: np.max(xs, axis=0),
    L.Minimum: lambda xs: np.min(xs, axis=0),
}
# Keras activations that act on each element alone (softmax, glu, ... do not).
ELEMENTWISE_ACTIVATIONS = frozenset(
    [
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "gelu",
        "silu",
        "swish",
        "mish",
        "sigmoid",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "log_sigmoid",
        "sparse_sigmoid",
        "tanh",
        "hard_tanh",
        "tanh_shrink",
        "hard_shrink",
        "soft_shrink",
        "softplus",
        "softsign",
        "sparse_plus",
        "squareplus",
        "exponential",
        "threshold",
    ]
)


@dataclass(frozen=True)
class LayerPlan:
    """What the surgery does to one layer (private to the trim package)."""

    kind: str
    kernels: tuple[np.ndarray, ...] = ()  # snapped kernels, in get_weights() order
    kept_in: np.ndarray | None = None  # input channels kept
    kept_out: np.ndarray | None = None  # output channels kept (producers, channel-wise)
    bias_fold: np.ndarray | None = None  # added to the kept bias (full length, pre-slicing)
    start: tuple[int, ...] = ()  # leading kernel taps removed per spatial axis
    kernel_size: tuple[int, ...] = ()  # new kernel size
    padding: str = ""  # new padding mode
    pad: tuple[tuple[int, int], ...] = ()  # explicit zero padding per spatial axis
    crop: tuple[tuple[int, int], ...] = ()  # explicit cropping per spatial axis


@dataclass(frozen=True)
class LayerTrim:
    """What trimming does to one layer.

    Attributes:
        name: the layer's name.
        class_name: the layer's class, e.g. ``"Conv2D"``.
        kernel_before: spatial kernel size before trimming (``()`` for Dense, ``None``
            for layers without a kernel).
        kernel_after: spatial kernel size after trimming.
        filters_before: output channels (filters / units) before trimming.
        filters_after: output channels after trimming.
        params_before: parameters of the layer before trimming.
        params_after: parameters after trimming.
        macs_before: multiply-accumulates per sample before trimming.
        macs_after: multiply-accumulates per sample after trimming.
        note: why part of the layer was kept, or ``""``.
    """

    name: str
    class_name: str
    kernel_before: tuple[int, ...] | None
    kernel_after: tuple[int, ...] | None
    filters_before: int | None
    filters_after: int | None
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    note: str = ""
    plan: LayerPlan = field(default=LayerPlan("opaque"), repr=False, compare=False)

    @property
    def changed(self) -> bool:
        """Whether trimming changes this layer."""
        return (
            self.kernel_before != self.kernel_after
            or self.filters_before != self.filters_after
            or self.params_before != self.params_after
        )


@dataclass(frozen=True)
class TrimmedSize:
    """Size of a model before and after trimming, from its weights alone.

    Returned by :func:`regsearch.trimming.trimmed_size`; ``params`` always equals
    ``trim(model, ...)[0].count_params()`` for the same arguments.

    Attributes:
        params: parameters after trimming.
        macs: multiply-accumulates per sample after trimming (see ``trimmed_size``).
        params_before: parameters of the model as it is.
        macs_before: multiply-accumulates per sample of the model as it is.
        layers: one :class:`LayerTrim` per layer, in execution order.
        threshold: the threshold used.
        relative: whether the threshold was relative to each layer's largest weight.
    """

    params: int
    macs: int
    params_before: int
    macs_before: int
    layers: tuple[LayerTrim, ...]
    threshold: float
    relative: bool
    graph: ModelGraph = field(repr=False, compare=False)

    @property
    def skipped(self) -> dict[str, str]:
        """Layers (or parts of layers) kept as they are, mapped to the reason."""
        return {layer.name: layer.note for layer in self.layers if layer.note}

    def layer(self, name: str) -> LayerTrim:
        """The entry of the layer called ``name``."""
        for entry in self.layers:
            if entry.name == name:
                return entry
        names = [entry.name for entry in self.layers]
        raise KeyError(f"No layer named {name!r}; layers are {names}.")


def check_threshold(threshold: Any, relative: Any) -> float:
    """Validate the shared ``threshold`` / ``relative`` arguments."""
    value = check_float("threshold", threshold, minimum=0.0)
    if not isinstance(relative, bool):
        raise TypeError(
            f"Argument `relative` must be a bool; received {relative!r} of type "
            f"{type(relative).__name__}."
        )
    return value


def _is_stock(layer: Any) -> bool:
    return type(layer).__module__.startswith("keras.")


def _is_elementwise(fn: Any) -> bool:
    module = getattr(fn, "__module__", "") or ""
    return module.startswith("keras.") and getattr(fn, "__name__", "") in ELEMENTWISE_ACTIVATIONS


def why_kernel_not_understood(layer: Any, graph: ModelGraph) -> str:
    """``""`` if trim analyses ``layer``'s kernel, else the reason it does not."""
    if type(layer) not in KERNEL_TYPES:
        return "not a layer trim understands"
    if graph.is_shared(layer):
        return "called more than once (shared layer)"
    expected = 1 + int(layer.use_bias) + int(type(layer) in SEPARABLE_TYPES)
    if len(layer.weights) != expected:
        return "unexpected weights (quantized or LoRA-enabled)"
    return ""


def snap(kernel: np.ndarray, threshold: float, relative: bool) -> np.ndarray:
    """Return ``kernel`` with every weight that counts as zero set to exactly 0."""
    limit = threshold * float(np.max(np.abs(kernel), initial=0.0)) if relative else threshold
    return np.where(np.abs(kernel) <= limit, np.zeros((), kernel.dtype), kernel)


def snap_layers(
    graph: ModelGraph, threshold: float, relative: bool
) -> dict[int, tuple[np.ndarray, ...]]:
    """Snapped kernels of every layer trim understands, keyed by ``id(layer)``."""
    out: dict[int, tuple[np.ndarray, ...]] = {}
    for node in graph.nodes:
        layer = node.layer
        if id(layer) in out or why_kernel_not_understood(layer, graph):
            continue
        # The first weight is the kernel trim reads (for SeparableConv, the depthwise
        # kernel; its pointwise kernel is left as it is).
        out[id(layer)] = (snap(layer.get_weights()[0], threshold, relative),)
    return out


# --------------------------------------------------------------------------------------
# Padding arithmetic (one spatial axis).


def axis_pads(padding: str, n: int | None, k: int, s: int, d: int) -> tuple[int, int] | None:
    """Left/right zero padding a conv applies on one axis; ``None`` when unknowable."""
    span = (k - 1) * d + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (span - 1, 0)
    # "same", with the TensorFlow/XLA rule that every Keras backend follows.
    if s == 1:
        total = span - 1
    elif n is None:
        return None
    else:
        out = -(-n // s)
        total = max((out - 1) * s + span - n, 0)
    return (total // 2, total - total // 2)


def _padding_plan(
    layer: Any,
    in_shape: Sequence[int | None],
    start: tuple[int, ...],
    end: tuple[int, ...],
) -> tuple[str, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] | str:
    """New padding mode, explicit pads and crops after dropping taps; or a skip reason."""
    rank = len(layer.kernel_size)
    channels_last = layer.data_format == "channels_last"
    spatial = list(in_shape[1 : 1 + rank]) if channels_last else list(in_shape[2 : 2 + rank])
    new_k = tuple(k - a - b for k, a, b in zip(layer.kernel_size, start, end, strict=True))
    new_pads = []
    for ax in range(rank):
        k, s, d = layer.kernel_size[ax], layer.strides[ax], layer.dilation_rate[ax]
        pads = axis_pads(layer.padding, spatial[ax], k, s, d)
        if pads is None:
            return "kernel kept: 'same' padding with stride > 1 on an axis of unknown length"
        new_pads.append((pads[0] - start[ax] * d, pads[1] - end[ax] * d))
    no_pad = tuple((0, 0) for _ in range(rank))
    if all(p == (0, 0) for p in new_pads):
        return ("valid", no_pad, no_pad)
    same = [
        axis_pads("same", spatial[ax], new_k[ax], layer.strides[ax], layer.dilation_rate[ax])
        for ax in range(rank)
    ]
    if same == new_pads:
        return ("same", no_pad, no_pad)
    if (
        rank == 1
        and type(layer) in CONV_TYPES
        and new_pads[0] == ((new_k[0] - 1) * layer.dilation_rate[0], 0)
    ):
        return ("causal", no_pad, no_pad)
    if rank == 1 and not channels_last:
        return "kernel kept: explicit cropping of a channels_first 1-D input is not supported"
    pad = tuple((max(lo, 0), max(hi, 0)) for lo, hi in new_pads)
    crop = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in new_pads)
    return ("valid", pad, crop)


def _extent(kernel: np.ndarray, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Leading/trailing all-zero taps per spatial axis; ``None`` if the kernel is all zero."""
    nonzero = kernel != 0
    if not nonzero.any():
        return None
    start, end = [], []
    for ax in range(rank):
        others = tuple(i for i in range(kernel.ndim) if i != ax)
        hit = np.flatnonzero(nonzero.any(axis=others))
        start.append(int(hit[0]))
        end.append(int(kernel.shape[ax] - 1 - hit[-1]))
    return tuple(start), tuple(end)


# --------------------------------------------------------------------------------------
# Channel analysis.


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(tensor.shape)


def _channels(tensor: Any) -> int:
    last = tensor.shape[-1] if len(tensor.shape) > 1 else None
    return int(last) if last is not None else 0


def _activation_values(fn: Callable[[Any], Any], values: np.ndarray) -> np.ndarray:
    """Apply an elementwise function to the finite entries of ``values``."""
    finite = np.isfinite(values)
    if not finite.any():
        return values
    x = np.where(finite, values, 0.0).astype("float32")
    y = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x))).astype("float64")
    return np.where(finite, y, np.nan)


def _channels_last(layer: Any) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def _kind(node: Any, graph: ModelGraph) -> tuple[str, str]:
    """Classify one layer call: (kind, reason it is opaque or "")."""
    layer = node.layer
    cls = type(layer)
    if graph.is_shared(layer):
        return "opaque", "kept: called more than once (shared layer)"
    if cls in KERNEL_TYPES:
        reason = why_kernel_not_understood(layer, graph)
        if reason:
            return "opaque", f"kept: {reason}"
        if cls is L.Dense:
            return "dense", ""
        if cls in CONV_TYPES:
            return "conv", ""
        return ("depthwise" if cls in DEPTHWISE_TYPES else "separable"), ""
    if len(node.inputs) == 0 or len(node.outputs) != 1:
        return "opaque", f"kept: {cls.__name__} is not a layer trim understands"
    if cls is L.BatchNormalization:
        rank = len(node.inputs[0].shape)
        if layer.axis in (-1, rank - 1) and len(node.inputs) == 1:
            return "channelwise", ""
        return "opaque", "kept: BatchNormalization over a non-last axis"
    if cls in IDENTITY_TYPES or cls in ZERO_PAD_TYPES or cls is L.Flatten:
        if not _channels_last(layer):
            return "barrier", ""
        if cls in ZERO_PAD_TYPES:
            return "zeropad", ""
        return ("flatten" if cls is L.Flatten else "identity"), ""
    if cls in ACTIVATION_TYPES:
        if cls is L.Activation and not _is_elementwise(layer.activation):
            return "barrier", ""
        return "activation", ""
    if cls in MERGE_OPS:
        shapes = {_shape(t)[1:] for t in node.inputs}
        return ("merge", "") if len(shapes) == 1 else ("barrier", "")
    if cls is L.Concatenate:
        rank = len(node.outputs[0].shape)
        return ("concat", "") if layer.axis in (-1, rank - 1) else ("barrier", "")
    if _is_stock(layer) and not layer.weights:
        return "barrier", ""  # e.g. Reshape, Permute: kept, channels not traced through
    return "opaque", f"kept: {cls.__name__} is not a layer trim understands"


def _producer_values(layer: Any, kernels: tuple[np.ndarray, ...]) -> np.ndarray:
    kernel = kernels[0]
    dead = ~np.any(kernel.reshape(-1, kernel.shape[-1]) != 0, axis=0)
    values = np.full(kernel.shape[-1], np.nan)
    if not dead.any() or not _is_elementwise(layer.activation):
        return values
    if getattr(layer, "groups", 1) != 1 or not _channels_last(layer):
        return values
    bias = layer.get_weights()[-1] if layer.use_bias else np.zeros(kernel.shape[-1])
    values[dead] = bias[dead]
    return _activation_values(layer.activation, values)


def _forward(
    graph: ModelGraph, kinds: list[tuple[str, str]], kernels: dict[int, tuple[np.ndarray, ...]]
) -> dict[int, np.ndarray]:
    values: dict[int, np.ndarray] = {}
    for t in graph.inputs:
        values[id(t)] = np.full(_channels(t), np.nan)
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        layer = node.layer
        ins = [values.get(id(t), np.full(_channels(t), np.nan)) for t in node.inputs]
        outs: list[np.ndarray | None]
        if kind in ("conv", "dense"):
            outs = [_producer_values(layer, kernels[id(layer)])]
        elif kind == "identity":
            outs = [ins[0]]
        elif kind == "zeropad":
            outs = [np.where(ins[0] == 0, 0.0, np.nan)]
        elif kind == "activation":
            outs = [_activation_values(layer, ins[0].reshape(1, -1)).reshape(-1)]
        elif kind == "channelwise":  # BatchNormalization at inference
            v = ins[0]
            gamma = keras.ops.convert_to_numpy(layer.gamma) if layer.scale else 1.0
            beta = keras.ops.convert_to_numpy(layer.beta) if layer.center else 0.0
            mean = keras.ops.convert_to_numpy(layer.moving_mean)
            var = keras.ops.convert_to_numpy(layer.moving_variance)
            outs = [(v - mean) / np.sqrt(var + layer.epsilon) * gamma + beta]
        elif kind == "flatten":
            c_out = _channels(node.outputs[0])
            c_in = len(ins[0])
            outs = [np.tile(ins[0], c_out // c_in) if c_in and c_out % c_in == 0 else None]
        elif kind == "merge":
            outs = [MERGE_OPS[type(layer)](ins)]
        elif kind == "concat":
            outs = [np.concatenate(ins)]
        else:
            outs = [None] * len(node.outputs)
        for t, out in zip(node.outputs, outs, strict=True):
            values[id(t)] = out if out is not None else np.full(_channels(t), np.nan)
    return values


def _sink_accepts(layer: Any, kind: str, values: np.ndarray) -> np.ndarray:
    """Which constant input channels ``layer`` can lose, folding them into its bias."""
    if kind not in ("conv", "dense") or not _channels_last(layer):
        return np.zeros(len(values), bool)
    if getattr(layer, "groups", 1) != 1:
        return np.zeros(len(values), bool)
    zero = values == 0
    if layer.use_bias and (kind == "dense" or layer.padding == "valid"):
        return np.isfinite(values)
    return zero


PASSTHROUGH_KINDS = (
    "identity",
    "zeropad",
    "activation",
    "channelwise",
    "flatten",
    "merge",
    "concat",
)


def _fixpoint(graph: ModelGraph, kinds: list[tuple[str, str]], values: dict[int, np.ndarray]):
    removable = {key: np.isfinite(v) for key, v in values.items()}
    for t in graph.outputs:
        removable[id(t)][:] = False
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        if kind in ("conv", "dense"):
            t = node.inputs[0]
            removable[id(t)] &= _sink_accepts(node.layer, kind, values[id(t)])
        elif kind not in PASSTHROUGH_KINDS:
            for t in node.inputs:
                removable[id(t)][:] = False
    changed = True
    while changed:
        changed = False
        for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
            if kind in ("identity", "zeropad", "activation", "channelwise", "merge"):
                tensors = [*node.inputs, *node.outputs]
                joint = np.logical_and.reduce([removable[id(t)] for t in tensors])
                for t in tensors:
                    if not np.array_equal(removable[id(t)], joint):
                        removable[id(t)] = joint.copy()
                        changed = True
            elif kind == "flatten":
                src, dst = removable[id(node.inputs[0])], removable[id(node.outputs[0])]
                if len(src) == 0 or len(dst) % len(src):
                    joint = np.zeros(len(src), bool)
                    new_dst = np.zeros(len(dst), bool)
                else:
                    joint = src & dst.reshape(-1, len(src)).all(axis=0)
                    new_dst = np.tile(joint, len(dst) // len(src))
                if not (np.array_equal(src, joint) and np.array_equal(dst, new_dst)):
                    removable[id(node.inputs[0])] = joint
                    removable[id(node.outputs[0])] = new_dst
                    changed = True
            elif kind == "concat":
                dst = removable[id(node.outputs[0])]
                offset = 0
                new_dst = dst.copy()
                for t in node.inputs:
                    c = len(removable[id(t)])
                    joint = removable[id(t)] & dst[offset : offset + c]
                    if not np.array_equal(joint, removable[id(t)]):
                        removable[id(t)] = joint
                        changed = True
                    new_dst[offset : offset + c] = joint
                    offset += c
                if not np.array_equal(new_dst, dst):
                    removable[id(node.outputs[0])] = new_dst
                    changed = True
    return removable


# --------------------------------------------------------------------------------------
# Sizes.


def _positions(shape: Sequence[int | None], rank: int, channels_last: bool) -> int:
    spatial = shape[1 : 1 + rank] if channels_last else shape[2 : 2 + rank]
    return math.prod(int(s) if s is not None else 1 for s in spatial)


def _conv_size(
    layer: Any, kind: str, ksize: Sequence[int], c_in: int, c_out: int, positions: int
) -> tuple[int, int]:
    taps = math.prod(ksize)
    if kind == "conv":
        per_pos = taps * (c_in // layer.groups) * c_out
        return per_pos + (c_out if layer.use_bias else 0), per_pos * positions
    if kind == "depthwise":
        n = c_in * layer.depth_multiplier
        return taps * n + (n if layer.use_bias else 0), taps * n * positions
    # separable
    n = c_in * layer.depth_multiplier
    params = taps * n + n * c_out + (c_out if layer.use_bias else 0)
    return params, (taps * n + n * c_out) * positions


def analyze(model: keras.Model, threshold: float = 1e-3, *, relative: bool = False) -> TrimmedSize:
    """Run the whole analysis; see the module docstring."""
    threshold = check_threshold(threshold, relative)
    graph = model_graph(model)
    kernels = snap_layers(graph, threshold, relative)
    kinds = [_kind(node, graph) for node in graph.nodes]
    values = _forward(graph, kinds, kernels)
    removable = _fixpoint(graph, kinds, values)

    entries: list[LayerTrim] = []
    seen: set[int] = set()
    for node, (kind, reason) in zip(graph.nodes, kinds, strict=True):
        layer = node.layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        entries.append(_entry(node, kind, reason, kernels, values, removable, threshold))

    params_before = sum(e.params_before for e in entries)
    params_after = sum(e.params_after for e in entries)
    macs_before = sum(e.macs_before for e in entries)
    macs_after = sum(e.macs_after for e in entries)
    return TrimmedSize(
        params=params_after,
        macs=macs_after,
        params_before=params_before,
        macs_before=macs_before,
        layers=tuple(entries),
        threshold=threshold,
        relative=relative,
        graph=graph,
    )


def _plain_entry(layer: Any, note: str = "", kind: str = "opaque") -> LayerTrim:
    params = int(layer.count_params()) if layer.built else 0
    return LayerTrim(
        name=layer.name,
        class_name=type(layer).__name__,
        kernel_before=None,
        kernel_after=None,
        filters_before=None,
        filters_after=None,
        params_before=params,
        params_after=params,
        macs_before=0,
        macs_after=0,
        note=note,
        plan=LayerPlan(kind),
    )


def _entry(
    node: Any,
    kind: str,
    reason: str,
    kernels: dict[int, tuple[np.ndarray, ...]],
    values: dict[int, np.ndarray],
    removable: dict[int, np.ndarray],
    threshold: float,
) -> LayerTrim:
    layer = node.layer
    if kind == "channelwise":
        keep = np.flatnonzero(~removable[id(node.inputs[0])])
        c = len(removable[id(node.inputs[0])])
        params = int(layer.count_params())
        return LayerTrim(
            name=layer.name,
            class_name=type(layer).__name__,
            kernel_before=None,
            kernel_after=None,
            filters_before=c,
            filters_after=len(keep),
            params_before=params,
            params_after=params * len(keep) // c if c else params,
            macs_before=0,
            macs_after=0,
            plan=LayerPlan(kind, kept_out=keep),
        )
    if kind not in ("conv", "dense", "depthwise", "separable"):
        return _plain_entry(layer, reason, kind)

    snapped = kernels[id(layer)]
    kernel = snapped[0]
    in_t, out_t = node.inputs[0], node.outputs[0]
    in_removed = removable.get(id(in_t), np.zeros(kernel.shape[-2], bool))
    out_removed = removable.get(id(out_t), np.zeros(kernel.shape[-1], bool))
    c_in = _channels(in_t)
    c_out = _channels(out_t)
    notes: list[str] = []

    channel_ok = (
        kind in ("conv", "dense") and _channels_last(layer) and getattr(layer, "groups", 1) == 1
    )
    kept_in: np.ndarray | None = None
    kept_out: np.ndarray | None = None
    fold: np.ndarray | None = None
    if channel_ok:
        kept_in = np.flatnonzero(~in_removed)
        kept_out = np.flatnonzero(~out_removed)
        if len(kept_out) == 0:
            raise ValueError(
                f"Trimming with threshold={threshold!r} would remove every output channel of "
                f"layer {layer.name!r} (all its kernel weights count as zero). Use a lower "
                "`threshold`, or remove the layer from the model."
            )
        dead = ~np.any(kernel.reshape(-1, kernel.shape[-1]) != 0, axis=0)
        kept_dead = int(np.sum(dead & ~out_removed))
        if kept_dead:
            notes.append(
                f"{kept_dead} dead filter(s) kept: their constant output is not 0 and "
                "cannot be folded exactly into every consumer"
            )
        if in_removed.any():
            v = values[id(in_t)][in_removed]
            w = kernel[..., in_removed, :]
            w = w.reshape(-1, w.shape[-2], w.shape[-1]).sum(axis=0)
            fold = (v[:, None] * w).sum(axis=0)

    if kind == "dense":
        positions = math.prod(int(s) if s is not None else 1 for s in _shape(out_t)[1:-1])
        before = kernel.size + (c_out if layer.use_bias else 0), kernel.size * positions
        n_in, n_out = len(kept_in), len(kept_out)  # type: ignore[arg-type]
        after = n_in * n_out + (n_out if layer.use_bias else 0), n_in * n_out * positions
        return LayerTrim(
            name=layer.name,
            class_name=type(layer).__name__,
            kernel_before=(),
            kernel_after=(),
            filters_before=c_out,
            filters_after=n_out,
            params_before=before[0],
            params_after=after[0],
            macs_before=before[1],
            macs_after=after[1],
            note="; ".join(notes),
            plan=LayerPlan(
                kind, kernels=snapped, kept_in=kept_in, kept_out=kept_out, bias_fold=fold
            ),
        )

    rank = len(layer.kernel_size)
    positions = _positions(_shape(out_t), rank, _channels_last(layer))
    ksize = tuple(layer.kernel_size)
    sub = kernel
    if kept_in is not None and kept_out is not None:
        sub = kernel[..., kept_in, :][..., kept_out]
    extent = _extent(sub, rank)
    start = tuple(0 for _ in ksize)
    new_k = ksize
    padding = layer.padding
    no_pad = tuple((0, 0) for _ in ksize)
    pad = crop = no_pad
    if extent is not None and any(a or b for a, b in zip(*extent, strict=True)):
        plan = _padding_plan(layer, _shape(in_t), extent[0], extent[1])
        if isinstance(plan, str):
            notes.append(plan)
        else:
            start = extent[0]
            new_k = tuple(k - a - b for k, a, b in zip(ksize, extent[0], extent[1], strict=True))
            padding, pad, crop = plan
    if not _channels_last(layer):
        c_in, c_out = int(in_t.shape[1]), int(out_t.shape[1])
    n_in = len(kept_in) if kept_in is not None else c_in
    n_out = len(kept_out) if kept_out is not None else c_out
    before = _conv_size(layer, kind, ksize, c_in, c_out, positions)
    after = _conv_size(layer, kind, new_k, n_in, n_out, positions)
    return LayerTrim(
        name=layer.name,
        class_name=type(layer).__name__,
        kernel_before=ksize,
        kernel_after=new_k,
        filters_before=c_out,
        filters_after=n_out,
        params_before=before[0],
        params_after=after[0],
        macs_before=before[1],
        macs_after=after[1],
        note="; ".join(notes),
        plan=LayerPlan(
            kind,
            kernels=snapped,
            kept_in=kept_in,
            kept_out=kept_out,
            bias_fold=fold,
            start=start,
            kernel_size=new_k,
            padding=padding,
            pad=pad,
            crop=crop,
        ),
    )
