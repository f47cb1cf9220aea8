"""Weight analysis: what trimming would remove from each layer, from the weights alone.

Pure numpy on ``layer.get_weights()``; nothing is built. The same analysis drives
:func:`regsearch.trimming.trimmed_size` (called at every epoch end of a search) and the
surgery in :func:`regsearch.trimming.trim`, so the two always agree.

Outline:

1. Every kernel of a layer trim understands, and every BatchNormalization gamma, is
   *snapped*: weights that count as zero become exactly 0.
2. Forward pass over constants (:mod:`._channels`): a dead output channel (its whole kernel slice is
   zero) outputs the constant ``activation(bias)``, a BatchNormalization channel whose
   gamma is zero the constant ``beta``; constants are carried through channel-wise
   layers (activations, batch normalization, pooling, merges, ...).
3. Fixpoint over the graph (:mod:`._channels`): a channel is removed only if every
   branch of a merge agrees, it never reaches a model output or a layer trim does not
   understand, and every ``Conv``/``Dense`` consumer either does not use it (its kernel
   rows are zero over the output channels the consumer keeps) or absorbs it exactly
   (it is constant and the constant is 0, or a Dense / ``valid`` convolution folds it
   into its bias). Removed outputs can zero more rows, so this repeats until stable.
4. Kernel extent (:mod:`._padding`): per spatial axis, leading and trailing kernel positions whose
   weights (over the remaining channels) are all zero are dropped, and the padding
   is rewritten so that the outputs keep their shape and values.
"""

from __future__ import annotations

import keras
import numpy as np

from regsearch._validation import check_float
from regsearch.trimming._channels import forward_constants, removable_channels
from regsearch.trimming._graph import ModelGraph, model_graph
from regsearch.trimming._kinds import classify, is_scaled_batch_norm, why_kernel_not_understood
from regsearch.trimming._plan import LayerTrim, TrimmedSize
from regsearch.trimming._sizes import layer_entry


def check_threshold(threshold: object, relative: object) -> float:
    """Validate the shared ``threshold`` / ``relative`` arguments."""
    value = check_float("threshold", threshold, minimum=0.0)
    if not isinstance(relative, bool):
        raise TypeError(
            f"Argument `relative` must be a bool; received {relative!r} of type "
            f"{type(relative).__name__}."
        )
    return value


def snap(kernel: np.ndarray, threshold: float, relative: bool) -> np.ndarray:
    """Return ``kernel`` with every weight that counts as zero set to exactly 0."""
    limit = threshold * float(np.max(np.abs(kernel), initial=0.0)) if relative else threshold
    return np.where(np.abs(kernel) <= limit, np.zeros((), kernel.dtype), kernel)


def snap_layers(
    graph: ModelGraph, threshold: float, relative: bool
) -> dict[int, tuple[np.ndarray, ...]]:
    """The weights trim reads, snapped, keyed by ``id(layer)``.

    ``(kernel,)`` for every kernel layer trim understands, and ``(gamma,)`` for every
    ``BatchNormalization`` it understands (channels last, not shared, with a scale):
    a gamma that counts as zero makes its channel output the constant ``beta``.
    With ``relative=True`` a gamma is compared with the largest ``|gamma|`` of its layer.
    """
    out: dict[int, tuple[np.ndarray, ...]] = {}
    for node in graph.nodes:
        layer = node.layer
        if id(layer) in out:
            continue
        if is_scaled_batch_norm(node, graph):
            out[id(layer)] = (snap(keras.ops.convert_to_numpy(layer.gamma), threshold, relative),)
        elif not why_kernel_not_understood(layer, graph):
            # The first weight is the kernel trim reads (for SeparableConv, the
            # depthwise kernel; its pointwise kernel is left as it is).
            out[id(layer)] = (snap(layer.get_weights()[0], threshold, relative),)
    return out


def snapped_variable(layer: keras.layers.Layer) -> keras.Variable:
    """The variable :func:`snap_layers` snaps for ``layer``: its gamma or its kernel."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.gamma
    return layer.weights[0]  # the kernel (the depthwise kernel for SeparableConv)


def analyze(model: keras.Model, threshold: float = 1e-3, *, relative: bool = False) -> TrimmedSize:
    """Run the whole analysis; see the module docstring."""
    threshold = check_threshold(threshold, relative)
    graph = model_graph(model)
    kernels = snap_layers(graph, threshold, relative)
    kinds = [classify(node, graph) for node in graph.nodes]
    values = forward_constants(graph, kinds, kernels)
    removable = removable_channels(graph, kinds, values, kernels)

    entries: list[LayerTrim] = []
    seen: set[int] = set()
    for node, (kind, reason) in zip(graph.nodes, kinds, strict=True):
        layer = node.layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        entries.append(layer_entry(node, kind, reason, kernels, values, removable, threshold))

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
