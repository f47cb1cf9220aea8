"""Why dead filters stay: the layers downstream that need their channels.

A dead filter outputs a constant; it stays when some path from it reaches a model
output, a layer that keeps its input channels (``Reshape``, ``LayerNormalization``, an
RNN, ...), or a ``Conv``/``SeparableConv``/``Dense`` that reads a nonzero constant
through zero padding (or reads the channel once zero padding has made it vary, e.g.
after a ``ZeroPadding`` layer or a ``same`` depthwise convolution). Following the
channels forward from the filter names those layers.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from regsearch.trimming._channels import Removable, channel_layer, sink_accepts
from regsearch.trimming._graph import GraphNode, ModelGraph
from regsearch.trimming._kernels import unused_inputs
from regsearch.trimming._kinds import (
    PASSTHROUGH_KINDS,
    PRODUCER_KINDS,
    SAME_CHANNEL_KINDS,
    Kinds,
    LayerKind,
)

# Kinds that keep a constant only when it is 0 (zero padding).
_PADDING = (LayerKind.ZEROPAD, LayerKind.DEPTHWISE)

Explain = Callable[[keras.KerasTensor, np.ndarray], list[str]]


def _next_mask(
    node: GraphNode, kind: LayerKind, tensor: keras.KerasTensor, mask: np.ndarray
) -> np.ndarray:
    """The channels of ``node``'s output that ``mask`` (on input ``tensor``) becomes."""
    out = node.outputs[0]
    size = int(out.shape[-1] or 0)
    if kind in SAME_CHANNEL_KINDS:
        return mask
    if kind == LayerKind.FLATTEN:
        return np.tile(mask, size // len(mask)) if len(mask) and size % len(mask) == 0 else mask[:0]
    if kind == LayerKind.DEPTHWISE:
        return np.repeat(mask, size // len(mask)) if len(mask) else mask
    # concat: the channels of ``tensor`` sit at its offset (each time it is an input)
    new = np.zeros(size, bool)
    offset = 0
    for t in node.inputs:
        c = int(t.shape[-1] or 0)
        if t is tensor:
            new[offset : offset + c] |= mask
        offset += c
    return new


def explainer(
    graph: ModelGraph,
    kinds: Kinds,
    kernels: dict[int, tuple[np.ndarray, ...]],
    values: dict[int, np.ndarray],
    removable: Removable,
) -> Explain:
    """A function naming what keeps channels ``mask`` of a tensor, from the final analysis."""
    readers: dict[int, list[tuple[GraphNode, LayerKind]]] = {}
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        for t in node.inputs:
            readers.setdefault(id(t), []).append((node, kind))
    outputs = {id(t) for t in graph.outputs}

    def padded_constants(node: GraphNode, kind: LayerKind, mask: np.ndarray) -> bool:
        """Whether the layer keeps some channel of ``mask`` that is a nonzero constant."""
        in_t, out_t = node.inputs[0], node.outputs[0]
        v = values[id(in_t)]
        accepted = sink_accepts(node, kind, v)
        accepted |= unused_inputs(kind, kernels[id(node.layer)], removable.get(id(out_t)))
        kept = mask & ~accepted & np.isfinite(v)
        return bool((v[kept] != 0).any())

    def explain(tensor: keras.KerasTensor, mask: np.ndarray) -> list[str]:
        reasons: list[str] = []
        pending = [(tensor, mask)]
        seen: set[tuple[int, bytes]] = set()
        while pending:
            t, m = pending.pop()
            key = (id(t), m.tobytes())
            if not m.any() or key in seen:
                continue
            seen.add(key)
            if id(t) in outputs:
                reasons.append("they reach a model output")
            constant = np.isfinite(values[id(t)]) & m
            for node, kind in readers.get(id(t), []):
                name = node.layer.name
                if kind in PRODUCER_KINDS and channel_layer(node):
                    if padded_constants(node, kind, m):
                        reasons.append(f"{name} reads a nonzero constant through zero padding")
                elif kind in PASSTHROUGH_KINDS:
                    out = node.outputs[0]
                    new = _next_mask(node, kind, t, m)
                    lost = new & ~np.isfinite(values[id(out)])
                    if kind in _PADDING and constant.any() and lost.any():
                        reasons.append(f"{name} pads them with zeros")
                    pending.append((out, new))
                else:
                    reasons.append(f"{name} keeps its input channels")
        return list(dict.fromkeys(reasons))

    return explain
