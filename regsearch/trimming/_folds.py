"""Where the constants of removed input channels go: a bias, or the next batch norm.

A ``Conv``/``SeparableConv``/``Dense`` that loses constant input channels adds what
they contributed (``._kernels.input_contribution``) to its bias. A layer without
a bias or activation whose output is read by one ``BatchNormalization`` only (the
usual conv -> BN pair) shifts that layer's moving mean instead: ``BN(y + f)`` with
mean ``mu`` equals ``BN(y)`` with mean ``mu - f``. Otherwise the trimmed layer gets a
bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from regsearch.trimming._channels import Removable, channel_layer
from regsearch.trimming._graph import GraphNode, ModelGraph
from regsearch.trimming._kernels import input_contribution
from regsearch.trimming._kinds import PRODUCER_KINDS, Kinds, LayerKind


@dataclass(frozen=True)
class Folds:
    """Constants to fold, full length (indexed by the original output channels).

    Attributes:
        bias: ``id(layer)`` -> added to the layer's bias (a layer without one gets one).
        mean: ``id(BatchNormalization layer)`` -> subtracted from its moving mean.
    """

    bias: dict[int, np.ndarray]
    mean: dict[int, np.ndarray]


def _only_batch_norm(
    node: GraphNode,
    readers: dict[int, list[tuple[GraphNode, LayerKind]]],
    outputs: set[int],
) -> keras.layers.Layer | None:
    """The ``BatchNormalization`` that alone reads ``node``'s output, if there is one."""
    out = node.outputs[0]
    found = readers.get(id(out), [])
    if id(out) in outputs or len(found) != 1 or found[0][1] is not LayerKind.CHANNELWISE:
        return None
    return found[0][0].layer


def fold_constants(
    graph: ModelGraph,
    kinds: Kinds,
    kernels: dict[int, tuple[np.ndarray, ...]],
    values: dict[int, np.ndarray],
    removable: Removable,
) -> Folds:
    """The fold of every layer that loses constant input channels; see the module docstring."""
    readers: dict[int, list[tuple[GraphNode, LayerKind]]] = {}
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        for t in node.inputs:
            readers.setdefault(id(t), []).append((node, kind))
    outputs = {id(t) for t in graph.outputs}
    folds = Folds(bias={}, mean={})
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        layer = node.layer
        if kind not in PRODUCER_KINDS or not channel_layer(node):
            continue
        in_t, out_t = node.inputs[0], node.outputs[0]
        removed = removable[id(in_t)]
        if not removed.any():
            continue
        fold = input_contribution(kind, kernels[id(layer)], values[id(in_t)], removed)
        if not np.any(fold[~removable[id(out_t)]] != 0):
            continue
        linear = getattr(layer.activation, "__name__", "") == "linear"
        norm = None if layer.use_bias or not linear else _only_batch_norm(node, readers, outputs)
        if norm is None:
            folds.bias[id(layer)] = fold
        else:
            folds.mean[id(norm)] = fold
    return folds
