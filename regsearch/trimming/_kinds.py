"""Which layers trim understands, and the kind of each layer call in a model's graph."""

from __future__ import annotations

import enum
from collections.abc import Callable

import keras
import numpy as np

from regsearch.editing import channel_following_target
from regsearch.trimming._graph import GraphNode, ModelGraph

L = keras.layers


class LayerKind(enum.Enum):
    """How trim treats one layer call in a model's graph (what ``classify`` returns)."""

    CONV = "conv"  # Conv1D/2D/3D
    DENSE = "dense"
    SEPARABLE = "separable"  # SeparableConv1D/2D
    DEPTHWISE = "depthwise"  # DepthwiseConv1D/2D
    CHANNELWISE = "channelwise"  # BatchNormalization over the last axis
    IDENTITY = "identity"  # dropout, noise, pooling, cropping, upsampling, ...
    ZEROPAD = "zeropad"  # ZeroPadding1D/2D/3D
    ACTIVATION = "activation"  # an element-wise activation
    FLATTEN = "flatten"
    MERGE = "merge"  # Add, Subtract, Multiply, Average, Maximum, Minimum of one shape
    CONCAT = "concat"  # Concatenate over the channel axis
    BARRIER = "barrier"  # no weights; kept, and so are its input channels
    OPAQUE = "opaque"  # kept as it is (custom, shared or quantized layers, RNNs, ...)


# One ``(kind, reason kept or "")`` per node of a ModelGraph, in its order.
Kinds = list[tuple[LayerKind, str]]

CONV_TYPES: tuple[type, ...] = (L.Conv1D, L.Conv2D, L.Conv3D)
DEPTHWISE_TYPES: tuple[type, ...] = (L.DepthwiseConv1D, L.DepthwiseConv2D)
SEPARABLE_TYPES: tuple[type, ...] = (L.SeparableConv1D, L.SeparableConv2D)
KERNEL_TYPES = (*CONV_TYPES, *DEPTHWISE_TYPES, *SEPARABLE_TYPES, L.Dense)
# Kinds whose layers make each output channel from all their input channels: they can
# drop output channels, and absorb (or ignore) removed input channels.
PRODUCER_KINDS = frozenset({LayerKind.CONV, LayerKind.DENSE, LayerKind.SEPARABLE})
# Kinds whose inputs and outputs carry the same channels, in the same order.
SAME_CHANNEL_KINDS = frozenset(
    {
        LayerKind.IDENTITY,
        LayerKind.ZEROPAD,
        LayerKind.ACTIVATION,
        LayerKind.CHANNELWISE,
        LayerKind.MERGE,
    }
)
# Kinds a removed channel passes through (it is removed from their inputs and outputs),
# also when they reorder or repeat channels.
PASSTHROUGH_KINDS = SAME_CHANNEL_KINDS | {LayerKind.FLATTEN, LayerKind.CONCAT, LayerKind.DEPTHWISE}
# Normalization layers that compute statistics across channels when their axes include
# the channel axis.
CHANNEL_NORMALIZERS: tuple[type, ...] = tuple(
    getattr(L, name)
    for name in (
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
    )
    if hasattr(L, name)
)

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


# ``keras.ops`` that act on each element alone: applied to one tensor and Python numbers
# (``x + 3.0``, ``ops.relu6(x)``), a channel stays in place.
ELEMENTWISE_OPS = frozenset(
    [
        "Add",
        "Subtract",
        "Multiply",
        "Divide",
        "TrueDivide",
        "Maximum",
        "Minimum",
        "Power",
        "Negative",
        "Absolute",
        "Square",
        "Sqrt",
        "Exp",
        "Clip",
        "Relu",
        "Relu6",
        "Sigmoid",
        "HardSigmoid",
        "Silu",
        "HardSilu",
        "Gelu",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "Tanh",
    ]
)


def is_stock(layer: keras.layers.Layer) -> bool:
    return type(layer).__module__.startswith("keras.")


def is_elementwise(fn: object) -> bool:
    module = getattr(fn, "__module__", "") or ""
    return module.startswith("keras.") and getattr(fn, "__name__", "") in ELEMENTWISE_ACTIVATIONS


def why_kernel_not_understood(layer: keras.layers.Layer, graph: ModelGraph) -> str:
    """``""`` if trim analyses ``layer``'s kernel, else the reason it does not."""
    if type(layer) not in KERNEL_TYPES:
        return "not a layer trim understands"
    if graph.is_shared(layer):
        return "called more than once (shared layer)"
    expected = 1 + int(layer.use_bias) + int(type(layer) in SEPARABLE_TYPES)
    if len(layer.weights) != expected:
        return "unexpected weights (quantized or LoRA-enabled)"
    return ""


def is_scaled_batch_norm(node: GraphNode, graph: ModelGraph) -> bool:
    """Whether ``node`` is a BatchNormalization with a gamma that trim reads.

    That is one classified ``LayerKind.CHANNELWISE`` (over the last axis, called once) with
    ``scale=True``: a zero gamma makes its channel a constant.
    """
    layer = node.layer
    if type(layer) is not L.BatchNormalization or not layer.scale:
        return False
    return classify(node, graph)[0] is LayerKind.CHANNELWISE


def channels_last(layer: keras.layers.Layer) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def shape_of(tensor: keras.KerasTensor) -> tuple[int | None, ...]:
    return tuple(tensor.shape)


def _kept(what: str) -> str:
    return f"{what}: its input channels are kept"


def _normalizes_channels(layer: keras.layers.Layer, rank: int) -> bool:
    if isinstance(layer, L.GroupNormalization):
        return True  # groups of channels share statistics
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    return any(a % rank == rank - 1 for a in axes)


def _barrier_reason(node: GraphNode) -> str:
    """Why a layer trim does not trace channels through keeps its input channels."""
    layer = node.layer
    cls = type(layer)
    name = cls.__name__
    if not channels_last(layer):
        return _kept(f"{name} is channels_first")
    if cls is L.Activation:
        fn = getattr(layer.activation, "__name__", str(layer.activation))
        return _kept(f"activation {fn!r} mixes channels")
    if cls in MERGE_OPS:
        return _kept(f"{name} broadcasts inputs of different shapes")
    if cls is L.Concatenate:
        return _kept("Concatenate joins along a non-channel axis")
    if cls is L.Softmax:
        return _kept("Softmax mixes channels")
    return _kept(f"{name} does not keep channels in place")


def classify(node: GraphNode, graph: ModelGraph) -> tuple[LayerKind, str]:
    """Classify one layer call: (kind, reason it is opaque or a barrier, or "").

    A ``barrier`` is a layer without weights that is kept as it is together with its
    input channels (e.g. ``Reshape``, a softmax); its reason is worth reporting only
    when a channel trim could otherwise remove reaches it.
    """
    layer = node.layer
    cls = type(layer)
    if not isinstance(layer, keras.layers.Layer):  # e.g. ``x + 3.0`` on a KerasTensor
        if _is_elementwise_operation(node):
            return LayerKind.ACTIVATION, ""
        return LayerKind.BARRIER, _kept(f"the operation {layer.name!r} is not traced")
    if graph.is_shared(layer):
        return LayerKind.OPAQUE, "kept: called more than once (shared layer)"
    if isinstance(layer, keras.Model):
        return LayerKind.OPAQUE, (
            f"kept: the nested model {layer.name!r} is one layer here; "
            "regsearch.editing.inline_models(model) makes its layers the model's own"
        )
    if cls in KERNEL_TYPES:
        reason = why_kernel_not_understood(layer, graph)
        if reason:
            return LayerKind.OPAQUE, f"kept: {reason}"
        if cls is L.Dense:
            return LayerKind.DENSE, ""
        if cls in CONV_TYPES:
            return LayerKind.CONV, ""
        return (LayerKind.DEPTHWISE if cls in DEPTHWISE_TYPES else LayerKind.SEPARABLE), ""
    if len(node.inputs) == 0 or len(node.outputs) != 1:
        return LayerKind.OPAQUE, f"kept: {cls.__name__} is not a layer trim understands"
    if cls is L.BatchNormalization:
        rank = len(node.inputs[0].shape)
        if layer.axis in (-1, rank - 1) and len(node.inputs) == 1:
            return LayerKind.CHANNELWISE, ""
        return LayerKind.OPAQUE, "kept: BatchNormalization over a non-last axis"
    if cls in CHANNEL_NORMALIZERS and _normalizes_channels(layer, len(node.inputs[0].shape)):
        return (LayerKind.OPAQUE if layer.weights else LayerKind.BARRIER), _kept(
            f"{cls.__name__} normalizes over channels"
        )
    if cls in IDENTITY_TYPES or cls in ZERO_PAD_TYPES or cls is L.Flatten:
        if not channels_last(layer):
            return LayerKind.BARRIER, _barrier_reason(node)
        if cls in ZERO_PAD_TYPES:
            return LayerKind.ZEROPAD, ""
        return (LayerKind.FLATTEN if cls is L.Flatten else LayerKind.IDENTITY), ""
    if cls in ACTIVATION_TYPES:
        if cls is L.Activation and not is_elementwise(layer.activation):
            return LayerKind.BARRIER, _barrier_reason(node)
        return LayerKind.ACTIVATION, ""
    if cls in MERGE_OPS:
        if _broadcasts_positions_only(node):
            return LayerKind.MERGE, ""
        return LayerKind.BARRIER, _barrier_reason(node)
    if cls is L.Concatenate:
        rank = len(node.outputs[0].shape)
        if layer.axis in (-1, rank - 1):
            return LayerKind.CONCAT, ""
        return LayerKind.BARRIER, _barrier_reason(node)
    if cls is L.Reshape and _keeps_channels_last(node):
        return LayerKind.IDENTITY, ""
    if is_stock(layer) and not layer.weights:
        # e.g. Permute, Softmax, a Reshape of the channels: kept, channels not traced through.
        return LayerKind.BARRIER, _barrier_reason(node)
    return LayerKind.OPAQUE, f"kept: {cls.__name__} is not a layer trim understands"


def _is_elementwise_operation(node: GraphNode) -> bool:
    """A ``keras.ops`` call on one tensor (and numbers) that maps each element alone."""
    operation = node.layer
    return (
        node.replay is not None
        and type(operation).__module__.startswith("keras.")
        and type(operation).__name__ in ELEMENTWISE_OPS
        and len(node.inputs) == 1
        and len(node.outputs) == 1
        and shape_of(node.inputs[0]) == shape_of(node.outputs[0])
    )


def _broadcasts_positions_only(node: GraphNode) -> bool:
    """Whether a merge's inputs share their channels and differ only by broadcast positions.

    E.g. a squeeze-and-excitation ``Multiply`` of ``(h, w, c)`` features by ``(1, 1, c)``
    scales: channel ``k`` of the output comes from channel ``k`` of every input.
    """
    shapes = [shape_of(t)[1:] for t in node.inputs]
    if len({len(shape) for shape in shapes}) != 1 or not shapes[0]:
        return False
    output = shape_of(node.outputs[0])[1:]
    if any(shape[-1] != output[-1] for shape in shapes):
        return False
    return all(
        size == full or size == 1
        for shape in shapes
        for size, full in zip(shape[:-1], output[:-1], strict=True)
    )


def _keeps_channels_last(node: GraphNode) -> bool:
    """Whether a ``Reshape`` keeps the channel axis last, with the same channels.

    Trim then rebuilds it with ``-1`` as the last dimension (``channel_following_target``).
    """
    target = channel_following_target(
        node.layer.target_shape, shape_of(node.inputs[0]), shape_of(node.outputs[0])
    )
    return target is not None
