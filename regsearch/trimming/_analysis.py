"""Weight analysis: what trimming would remove from each layer, from the weights alone.

Pure numpy on ``layer.get_weights()``; nothing is built. The same analysis drives
``regsearch.trimming.trimmed_size`` (called at every epoch end of a search) and the
surgery in ``regsearch.trimming.trim``, so the two always agree.

Outline:

1. Every kernel of a layer trim understands (both kernels of a ``SeparableConv``),
   and every BatchNormalization gamma, is *snapped*: weights that count as zero
   become exactly 0.
2. Forward pass over constants (``._channels``): a dead output channel (its whole
   kernel slice is zero) outputs the constant ``activation(bias)``, a
   BatchNormalization channel whose gamma is zero the constant ``beta``; constants
   are carried through channel-wise layers (activations, batch normalization,
   pooling, merges, ``DepthwiseConv``, ...).
3. Fixpoint over the graph (``._channels``): a channel is removed only if every
   branch of a merge agrees, it never reaches a model output or a layer trim does not
   understand, and every ``Conv``/``SeparableConv``/``Dense`` consumer either does not
   use it (its kernel rows are zero over the output channels the consumer keeps) or
   absorbs it exactly (it is constant and the constant is 0, or the consumer adds no
   zero padding and folds it into a bias, ``._folds``). Removed outputs can zero
   more rows, so this repeats until stable.
4. Kernel extent (``._padding``): per spatial axis, leading and trailing kernel positions whose
   weights (over the remaining channels) are all zero are dropped, and the padding
   is rewritten so that the outputs keep their shape and values.
5. Coupled groups (``._coupling``): the layers whose channels merges tie together,
   named in each member's entry.
6. With ``round_to`` (``._rounding``), step 3 runs again keeping, per producer, the
   largest removable channels that bring its count to a multiple of ``round_to``.
"""

from __future__ import annotations

import keras
import numpy as np

from regsearch._validation import check_bool, check_float
from regsearch.trimming._channels import forward_constants, removable_channels
from regsearch.trimming._coupling import coupled_groups
from regsearch.trimming._explain import explainer
from regsearch.trimming._folds import fold_constants
from regsearch.trimming._graph import ModelGraph, model_graph
from regsearch.trimming._kinds import (
    SEPARABLE_TYPES,
    classify,
    is_scaled_batch_norm,
    why_kernel_not_understood,
)
from regsearch.trimming._records import LayerTrim, TrimmedSize
from regsearch.trimming._rounding import Rounder, check_round_to
from regsearch.trimming._sizes import Facts, layer_entry


def check_threshold(threshold: object, relative: object) -> float:
    """Validate the shared ``threshold`` / ``relative`` arguments."""
    value = check_float("threshold", threshold, minimum=0.0)
    check_bool("relative", relative)
    return value


def snap(kernel: np.ndarray, threshold: float, relative: bool) -> np.ndarray:
    """Return ``kernel`` with every weight that counts as zero set to exactly 0."""
    limit = threshold * float(np.max(np.abs(kernel), initial=0.0)) if relative else threshold
    return np.where(np.abs(kernel) <= limit, np.zeros((), kernel.dtype), kernel)


def snap_layers(
    graph: ModelGraph, threshold: float, relative: bool
) -> dict[int, tuple[np.ndarray, ...]]:
    """The weights trim reads, snapped, keyed by ``id(layer)``.

    Two kinds of entries, told apart by the layer's type:

    - every kernel layer trim understands: its kernels, the first weights of the
      layer in order (``snapped_variables``): ``(kernel,)``, or for a
      ``SeparableConv`` ``(depthwise kernel, pointwise kernel)``;
    - every ``BatchNormalization`` trim understands (channels last, not shared, with a
      scale): ``(gamma,)``. A gamma that counts as zero makes its channel output the
      constant ``beta``.

    With ``relative=True`` each array is snapped against its own largest ``|w|`` (each
    kernel of a ``SeparableConv`` alone, a gamma against its layer's largest ``|gamma|``).
    """
    out: dict[int, tuple[np.ndarray, ...]] = {}
    for node in graph.nodes:
        layer = node.layer
        if id(layer) in out:
            continue
        if is_scaled_batch_norm(node, graph) or not why_kernel_not_understood(layer, graph):
            weights = [keras.ops.convert_to_numpy(v) for v in snapped_variables(layer)]
            out[id(layer)] = tuple(snap(w, threshold, relative) for w in weights)
    return out


def snapped_variables(layer: keras.layers.Layer) -> tuple[keras.Variable, ...]:
    """The variables ``snap_layers`` snaps for ``layer``, in the order of its entry.

    ``(gamma,)`` for a ``BatchNormalization``; else the kernels: the first weight, or
    the first two (depthwise, pointwise) for a ``SeparableConv``.
    """
    if isinstance(layer, keras.layers.BatchNormalization):
        return (layer.gamma,)
    count = 2 if type(layer) in SEPARABLE_TYPES else 1
    return tuple(layer.weights[:count])


def analyze(
    model: keras.Model,
    threshold: float = 1e-3,
    *,
    relative: bool = False,
    round_to: int | None = None,
) -> TrimmedSize:
    """Run the whole analysis; see the module docstring."""
    threshold = check_threshold(threshold, relative)
    round_to = check_round_to(round_to)
    graph = model_graph(model)
    kernels = snap_layers(graph, threshold, relative)
    kinds = [classify(node, graph) for node in graph.nodes]
    values = forward_constants(graph, kinds, kernels)
    removable = removable_channels(graph, kinds, values, kernels)
    rounded: dict[int, np.ndarray] = {}
    if round_to is not None and round_to > 1:
        unrounded = removable
        rounder = Rounder(graph, kinds, round_to)
        removable = removable_channels(graph, kinds, values, kernels, also_keep=rounder.next_kept)
        rounded = {key: unrounded[key] & ~removable[key] for key in rounder.producers}
    facts = Facts(
        kernels=kernels,
        values=values,
        removable=removable,
        folds=fold_constants(graph, kinds, kernels, values, removable),
        groups=coupled_groups(graph, kinds),
        explain=explainer(graph, kinds, kernels, values, removable),
        rounded=rounded,
        round_to=round_to,
    )

    entries: list[LayerTrim] = []
    seen: set[int] = set()
    for node, (kind, reason) in zip(graph.nodes, kinds, strict=True):
        layer = node.layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        entries.append(layer_entry(node, kind, reason, facts, threshold))

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
        round_to=round_to,
    )
