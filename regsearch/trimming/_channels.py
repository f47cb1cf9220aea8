"""Channel analysis: which output channels are constant or unused, and which can go.

A dead output channel (its whole kernel slice is zero; for a ``SeparableConv``, no
live depthwise filter reaches it through a nonzero pointwise weight) outputs the
constant ``activation(bias)``, and a BatchNormalization channel whose gamma is zero
the constant ``beta``; constants are carried forward through channel-wise layers and
``DepthwiseConv`` (see ``._kernels.depthwise_values``). An unused channel is one
every consumer ignores: its kernel rows are zero. A channel is removed only if every
branch of a merge agrees, it never reaches a model output or a layer trim does not
understand, and every ``Conv``/``SeparableConv``/``Dense`` consumer either ignores it
or can absorb it exactly (it is constant and the constant is 0, or the consumer adds
no zero padding and folds it into its bias).

``kernels`` (from ``._analysis.snap_layers``) holds the snapped kernels of kernel
layers and the snapped ``(gamma,)`` of scaled BatchNormalization layers; only
producers and ``DepthwiseConv`` read the former, only BatchNormalization the latter.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from regsearch.trimming._graph import GraphNode, ModelGraph
from regsearch.trimming._kernels import dead_outputs, depthwise_values, unused_inputs
from regsearch.trimming._kinds import (
    MERGE_OPS,
    PASSTHROUGH_KINDS,
    PRODUCER_KINDS,
    SAME_CHANNEL_KINDS,
    Kinds,
    LayerKind,
    channels_last,
    is_elementwise,
    shape_of,
)
from regsearch.trimming._padding import pads_nothing


def channel_count(tensor: keras.KerasTensor) -> int:
    last = tensor.shape[-1] if len(tensor.shape) > 1 else None
    return int(last) if last is not None else 0


def _activation_values(
    fn: Callable[[keras.KerasTensor], keras.KerasTensor], values: np.ndarray
) -> np.ndarray:
    """Apply an elementwise function to the finite entries of ``values``."""
    finite = np.isfinite(values)
    if not finite.any():
        return values
    x = np.where(finite, values, 0.0).astype("float32")
    y = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x))).astype("float64")
    return np.where(finite, y, np.nan)


def _producer_values(
    layer: keras.layers.Layer, kind: LayerKind, kernels: tuple[np.ndarray, ...]
) -> np.ndarray:
    dead = dead_outputs(kind, kernels)
    values = np.full(len(dead), np.nan)
    if not dead.any() or not is_elementwise(layer.activation):
        return values
    if getattr(layer, "groups", 1) != 1 or not channels_last(layer):
        return values
    bias = layer.get_weights()[-1] if layer.use_bias else np.zeros(len(dead))
    values[dead] = bias[dead]
    return _activation_values(layer.activation, values)


def _batch_norm_values(
    layer: keras.layers.Layer, values: np.ndarray, snapped: tuple[np.ndarray, ...] | None
) -> np.ndarray:
    """BatchNormalization's constant outputs at inference, from its constant inputs.

    A channel whose (snapped) gamma is 0 outputs ``beta`` whatever its input:
    ``(x - mean) / sqrt(var + epsilon) x 0 + beta``.
    """
    gamma: np.ndarray | float = 1.0
    if layer.scale:
        gamma = snapped[0] if snapped else keras.ops.convert_to_numpy(layer.gamma)
    beta = keras.ops.convert_to_numpy(layer.beta) if layer.center else np.zeros(len(values))
    mean = keras.ops.convert_to_numpy(layer.moving_mean)
    var = keras.ops.convert_to_numpy(layer.moving_variance)
    normalized = (values - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
    return np.where(np.equal(gamma, 0), beta, normalized)


def _depthwise_values(
    node: GraphNode, kernels: tuple[np.ndarray, ...], values: np.ndarray
) -> np.ndarray | None:
    layer = node.layer
    if not channels_last(layer) or not is_elementwise(layer.activation):
        return None
    kernel = kernels[0]
    bias = layer.get_weights()[-1] if layer.use_bias else np.zeros(kernel.shape[-2:]).reshape(-1)
    pads = pads_nothing(layer, shape_of(node.inputs[0]))
    out = depthwise_values(kernel, values, bias, pads)
    return _activation_values(layer.activation, out)


def forward_constants(
    graph: ModelGraph, kinds: Kinds, kernels: dict[int, tuple[np.ndarray, ...]]
) -> dict[int, np.ndarray]:
    values: dict[int, np.ndarray] = {}
    for t in graph.inputs:
        values[id(t)] = np.full(channel_count(t), np.nan)
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        layer = node.layer
        ins = [values.get(id(t), np.full(channel_count(t), np.nan)) for t in node.inputs]
        outs: list[np.ndarray | None]
        if kind in PRODUCER_KINDS:
            outs = [_producer_values(layer, kind, kernels[id(layer)])]
        elif kind == LayerKind.DEPTHWISE:
            outs = [_depthwise_values(node, kernels[id(layer)], ins[0])]
        elif kind == LayerKind.IDENTITY:
            outs = [ins[0]]
        elif kind == LayerKind.ZEROPAD:
            outs = [np.where(ins[0] == 0, 0.0, np.nan)]
        elif kind == LayerKind.ACTIVATION:
            function = node.replay or layer  # ``x + 3.0`` is replayed with its constant
            outs = [_activation_values(function, ins[0].reshape(1, -1)).reshape(-1)]
        elif kind == LayerKind.CHANNELWISE:  # BatchNormalization at inference
            outs = [_batch_norm_values(layer, ins[0], kernels.get(id(layer)))]
        elif kind == LayerKind.FLATTEN:
            c_out = channel_count(node.outputs[0])
            c_in = len(ins[0])
            outs = [np.tile(ins[0], c_out // c_in) if c_in and c_out % c_in == 0 else None]
        elif kind == LayerKind.MERGE:
            outs = [MERGE_OPS[type(layer)](ins)]
        elif kind == LayerKind.CONCAT:
            outs = [np.concatenate(ins)]
        else:
            outs = [None] * len(node.outputs)
        for t, out in zip(node.outputs, outs, strict=True):
            values[id(t)] = out if out is not None else np.full(channel_count(t), np.nan)
    return values


def sink_accepts(node: GraphNode, kind: LayerKind, values: np.ndarray) -> np.ndarray:
    """Which constant input channels ``node``'s layer can lose, folding them into its bias.

    A constant 0 adds nothing. Any other constant adds the same amount at every output
    position when the layer adds no zero padding; that amount goes into the bias (of
    the layer, or of the ``BatchNormalization`` right after it; see ``._folds``).
    """
    if kind not in PRODUCER_KINDS or not channel_layer(node):
        return np.zeros(len(values), bool)
    if kind == LayerKind.DENSE or pads_nothing(node.layer, shape_of(node.inputs[0])):
        return np.isfinite(values)
    return values == 0


Removable = dict[int, np.ndarray]  # id(tensor) -> which of its channels can be removed


def _join_all(node: GraphNode, removable: Removable) -> bool:
    """Channel-wise layers and merges: a channel goes everywhere or nowhere."""
    tensors = [*node.inputs, *node.outputs]
    joint = np.logical_and.reduce([removable[id(t)] for t in tensors])
    changed = False
    for t in tensors:
        if not np.array_equal(removable[id(t)], joint):
            removable[id(t)] = joint.copy()
            changed = True
    return changed


def _join_flatten(node: GraphNode, removable: Removable) -> bool:
    src, dst = removable[id(node.inputs[0])], removable[id(node.outputs[0])]
    if len(src) == 0 or len(dst) % len(src):
        joint = np.zeros(len(src), bool)
        new_dst = np.zeros(len(dst), bool)
    else:
        joint = src & dst.reshape(-1, len(src)).all(axis=0)
        new_dst = np.tile(joint, len(dst) // len(src))
    if np.array_equal(src, joint) and np.array_equal(dst, new_dst):
        return False
    removable[id(node.inputs[0])] = joint
    removable[id(node.outputs[0])] = new_dst
    return True


def _join_concat(node: GraphNode, removable: Removable) -> bool:
    dst = removable[id(node.outputs[0])]
    offset = 0
    new_dst = dst.copy()
    changed = False
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
    return changed


def _join_depthwise(node: GraphNode, removable: Removable) -> bool:
    """Input channel ``c`` makes outputs ``c * m .. c * m + m - 1``: it goes with all of them."""
    src, dst = removable[id(node.inputs[0])], removable[id(node.outputs[0])]
    if channels_last(node.layer) and len(src) and len(dst) % len(src) == 0:
        joint = src & dst.reshape(len(src), -1).all(axis=1)
        new_dst = np.repeat(joint, len(dst) // len(src))
    else:
        joint, new_dst = np.zeros(len(src), bool), np.zeros(len(dst), bool)
    if np.array_equal(src, joint) and np.array_equal(dst, new_dst):
        return False
    removable[id(node.inputs[0])] = joint
    removable[id(node.outputs[0])] = new_dst
    return True


_JOINS: dict[LayerKind, Callable[[GraphNode, Removable], bool]] = {
    **dict.fromkeys(SAME_CHANNEL_KINDS, _join_all),
    LayerKind.FLATTEN: _join_flatten,
    LayerKind.CONCAT: _join_concat,
    LayerKind.DEPTHWISE: _join_depthwise,
}


def _open_channels(graph: ModelGraph, kinds: Kinds) -> Removable:
    """Channels that may be removed at all: those of tensors a removable producer makes.

    A ``Conv``/``Dense`` (channels last, ungrouped) can drop output channels and a
    channel-wise layer passes the removal on; model inputs and every other layer's
    outputs keep all their channels.
    """
    removable: Removable = {id(t): np.zeros(channel_count(t), bool) for t in graph.inputs}
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        can = kind in PASSTHROUGH_KINDS or (kind in PRODUCER_KINDS and channel_layer(node))
        for t in node.outputs:
            removable[id(t)] = np.full(channel_count(t), can)
    return removable


def channel_layer(node: GraphNode) -> bool:
    return channels_last(node.layer) and getattr(node.layer, "groups", 1) == 1


def _solve(
    graph: ModelGraph,
    kinds: Kinds,
    accepts: Callable[[GraphNode, LayerKind], np.ndarray],
    forced: dict[int, set[int]],
) -> Removable:
    """One fixpoint over the graph, given which input channels each kernel layer accepts."""
    removable = _open_channels(graph, kinds)
    for key, channels in forced.items():
        removable[key][list(channels)] = False
    for t in graph.outputs:
        removable[id(t)][:] = False
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        if kind in PRODUCER_KINDS:
            removable[id(node.inputs[0])] &= accepts(node, kind)
        elif kind not in PASSTHROUGH_KINDS:
            for t in node.inputs:
                removable[id(t)][:] = False
    changed = True
    while changed:
        changed = False
        for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
            join = _JOINS.get(kind)
            if join is not None and join(node, removable):
                changed = True
    return removable


def _all_removed(
    graph: ModelGraph,
    kinds: Kinds,
    kernels: dict[int, tuple[np.ndarray, ...]],
    removable: Removable,
) -> dict[int, int]:
    """Layers that would lose every output channel although some are not dead.

    Maps ``id(output tensor)`` to a channel to keep: dropping a channel is exact but
    optional, so a layer whose outputs nobody uses keeps one live channel. (A layer
    whose filters are all dead is left to the error of the size computation.)
    """
    keep: dict[int, int] = {}
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        out = removable.get(id(node.outputs[0])) if node.outputs else None
        if kind not in PRODUCER_KINDS or out is None or len(out) == 0 or not out.all():
            continue
        live = np.flatnonzero(~dead_outputs(kind, kernels[id(node.layer)]))
        if len(live):
            keep[id(node.outputs[0])] = int(live[0])
    return keep


def removable_channels(
    graph: ModelGraph,
    kinds: Kinds,
    values: dict[int, np.ndarray],
    kernels: dict[int, tuple[np.ndarray, ...]],
    *,
    also_keep: Callable[[Removable], dict[int, set[int]]] | None = None,
) -> Removable:
    """Which channels of every tensor can be removed exactly.

    A channel goes when every consumer can lose it: a ``Conv``/``SeparableConv``/
    ``Dense`` whose kernel rows for it are zero (over the output channels it keeps) or
    that can absorb its constant value, and channel-wise layers and merges whose
    outputs lose it too.
    Removing output channels of a layer can leave more of its kernel rows zero, so
    this repeats until nothing changes.

    ``also_keep`` (``round_to``, see ``._rounding``), given the converged result,
    names more channels to keep (``{id(tensor): channels}``); the analysis then runs
    again with them kept, until it names none.
    """
    forced: dict[int, set[int]] = {}
    out_removed: dict[int, np.ndarray] = {}

    def accepts(node: GraphNode, kind: LayerKind) -> np.ndarray:
        values_in = values[id(node.inputs[0])]
        constant = sink_accepts(node, kind, values_in)
        if not channel_layer(node):
            return constant
        unused = unused_inputs(kind, kernels[id(node.layer)], out_removed.get(id(node.outputs[0])))
        return constant | unused

    while True:
        removable = _solve(graph, kinds, accepts, forced)
        keep = _all_removed(graph, kinds, kernels, removable)
        if keep:
            for key, channel in keep.items():
                forced.setdefault(key, set()).add(channel)
            out_removed.clear()  # start again from no removed outputs
            continue
        current = {
            id(node.outputs[0]): removable[id(node.outputs[0])]
            for node, (kind, _) in zip(graph.nodes, kinds, strict=True)
            if kind in PRODUCER_KINDS
        }
        if all(k in out_removed and np.array_equal(v, out_removed[k]) for k, v in current.items()):
            extra = also_keep(removable) if also_keep is not None else {}
            if not extra:
                return removable
            for key, channels in extra.items():
                forced.setdefault(key, set()).update(channels)
            out_removed.clear()
            continue
        out_removed.clear()
        out_removed.update(current)
