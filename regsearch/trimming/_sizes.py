"""Sizes: parameters and multiply-accumulates of each layer before and after trimming.

One ``LayerTrim`` per layer, built from the snapped kernels, the removable
channels (``._channels``), the constants folded into biases (``._folds``), the
coupled channel groups (``._coupling``) and the kernel extent (``._padding``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from regsearch.trimming._channels import Removable, channel_count, channel_layer
from regsearch.trimming._coupling import Group
from regsearch.trimming._explain import Explain
from regsearch.trimming._fixed_costs import fixed_macs
from regsearch.trimming._folds import Folds
from regsearch.trimming._graph import GraphNode
from regsearch.trimming._kernels import dead_outputs
from regsearch.trimming._kinds import PRODUCER_KINDS, LayerKind, channels_last, shape_of
from regsearch.trimming._padding import kernel_extent, padding_plan
from regsearch.trimming._records import LayerPlan, LayerTrim, short_list


@dataclass(frozen=True)
class Facts:
    """What the analysis found about the whole model, read by every layer's entry.

    Attributes:
        kernels: snapped kernels (a BatchNormalization: its gamma), by ``id(layer)``.
        values: per tensor, the constant of each channel (``NaN`` if not constant).
        removable: per tensor, which channels go.
        folds: constants folded into biases and batch-norm means.
        groups: the coupled channel group of each member's output tensor.
        explain: what keeps given channels of a tensor (``._explain``).
        rounded: per producer output tensor, the channels kept only to round its count
            up to a multiple of ``round_to`` (``._rounding``).
        round_to: that multiple, or ``None``.
    """

    kernels: dict[int, tuple[np.ndarray, ...]]
    values: dict[int, np.ndarray]
    removable: Removable
    folds: Folds
    groups: dict[int, Group]
    explain: Explain
    rounded: dict[int, np.ndarray] = field(default_factory=dict)
    round_to: int | None = None


def output_positions(shape: Sequence[int | None], rank: int, last: bool) -> int:
    spatial = shape[1 : 1 + rank] if last else shape[2 : 2 + rank]
    return math.prod(int(s) if s is not None else 1 for s in spatial)


def conv_size(
    layer: keras.layers.Layer,
    kind: LayerKind,
    ksize: Sequence[int],
    c_in: int,
    c_out: int,
    positions: int,
    bias: bool,
) -> tuple[int, int]:
    taps = math.prod(ksize)
    if kind == LayerKind.CONV:
        per_pos = taps * (c_in // layer.groups) * c_out
        return per_pos + (c_out if bias else 0), per_pos * positions
    if kind == LayerKind.DEPTHWISE:
        n = c_in * layer.depth_multiplier
        return taps * n + (n if bias else 0), taps * n * positions
    # separable
    n = c_in * layer.depth_multiplier
    params = taps * n + n * c_out + (c_out if bias else 0)
    return params, (taps * n + n * c_out) * positions


def plain_entry(
    layer: keras.layers.Layer, note: str = "", kind: LayerKind = LayerKind.OPAQUE, macs: int = 0
) -> LayerTrim:
    built = isinstance(layer, keras.layers.Layer) and layer.built  # not an operation
    params = int(layer.count_params()) if built else 0
    return LayerTrim(
        name=layer.name,
        class_name=type(layer).__name__,
        kernel_before=None,
        kernel_after=None,
        filters_before=None,
        filters_after=None,
        params_before=params,
        params_after=params,
        macs_before=macs,
        macs_after=macs,
        note=note,
        plan=LayerPlan(kind),
    )


@dataclass
class _Channels:
    """The channels a kernel layer keeps, and the constant folded into its bias."""

    kept_in: np.ndarray | None = None
    kept_out: np.ndarray | None = None
    fold: np.ndarray | None = None
    unused: tuple[int, ...] = ()  # output channels removed because no consumer uses them
    notes: list[str] = field(default_factory=list)


def _channelwise_entry(
    layer: keras.layers.Layer,
    removed: np.ndarray,
    snapped: tuple[np.ndarray, ...],
    shift: np.ndarray | None,
) -> LayerTrim:
    """A BatchNormalization's entry.

    ``snapped`` holds its snapped gamma (or nothing), ``shift`` what to subtract from
    its moving mean (``._folds``). Where the snapped gamma is 0 the channel outputs
    ``beta`` whatever its mean, so the shift there changes nothing.
    """
    keep = np.flatnonzero(~removed)
    c = len(removed)
    plain = plain_entry(layer)
    return dataclasses.replace(
        plain,
        filters_before=c,
        filters_after=len(keep),
        params_after=plain.params_before * len(keep) // c if c else plain.params_before,
        plan=LayerPlan(LayerKind.CHANNELWISE, kernels=snapped, kept_out=keep, mean_shift=shift),
    )


def _dead_note(
    layer: keras.layers.Layer, kept_dead: np.ndarray, out_t: keras.KerasTensor, facts: Facts
) -> str:
    """Why dead filters stay: coupled layers where those channels are live, or consumers.

    A coupled layer counts as live where its channel is not constant as it enters a
    merge: a BatchNormalization with a zero gamma on the way makes it constant there.
    """
    count = f"{int(kept_dead.sum())} dead filter(s) kept"
    group = facts.groups.get(id(out_t))
    if group is not None:
        live = [
            name
            for (name, _), inputs in zip(group.members, group.merge_inputs, strict=True)
            if name != layer.name
            and any(np.isnan(facts.values[key][kept_dead]).any() for key in inputs)
        ]
        if live:
            return f"{count}: live in {short_list(live)}"
    reasons = facts.explain(out_t, kept_dead)
    if reasons:
        return f"{count}: {short_list(reasons, limit=3, sep='; ')}"
    return f"{count}: a consumer cannot absorb their constant output exactly"


class EmptiedLayerError(ValueError):
    """Trimming would remove every output channel of ``layer`` (all of it counts as zero).

    ``trim`` and ``trimmed_size`` raise it; a ``ValueError``, so code that caught that
    still does. ``regsearch.search`` records a trial that empties a layer as collapsed.

    Args:
        message: The error message.
        layer: The name of the emptied layer.
    """

    def __init__(self, message: str, *, layer: str) -> None:
        super().__init__(message)
        self.layer = layer


def _kept_channels(node: GraphNode, kind: LayerKind, facts: Facts, threshold: float) -> _Channels:
    layer = node.layer
    in_t, out_t = node.inputs[0], node.outputs[0]
    kernels = facts.kernels[id(layer)]
    dead = dead_outputs(kind, kernels)
    in_removed = facts.removable.get(id(in_t), np.zeros(kernels[0].shape[-2], bool))
    out_removed = facts.removable.get(id(out_t), np.zeros(len(dead), bool))
    kept = _Channels(kept_in=np.flatnonzero(~in_removed), kept_out=np.flatnonzero(~out_removed))
    if len(kept.kept_out) == 0:  # type: ignore[arg-type]
        raise EmptiedLayerError(
            f"Trimming with threshold={threshold!r} would remove every output channel of "
            f"layer {layer.name!r} (all its kernel weights count as zero). Use a lower "
            "`threshold`, or remove the layer from the model.",
            layer=layer.name,
        )
    rounded = facts.rounded.get(id(out_t), np.zeros(len(dead), bool))
    kept_dead = dead & ~out_removed & ~rounded
    if kept_dead.any():
        kept.notes.append(_dead_note(layer, kept_dead, out_t, facts))
    if rounded.any():
        kept.notes.append(
            f"{int(rounded.sum())} channel(s) kept to round to a multiple of {facts.round_to}"
        )
    kept.unused = tuple(int(c) for c in np.flatnonzero(out_removed & ~dead))
    return kept


def _plan(
    kind: LayerKind, snapped: tuple[np.ndarray, ...], kept: _Channels, **window: Any
) -> LayerPlan:
    return LayerPlan(
        kind,
        kernels=snapped,
        kept_in=kept.kept_in,
        kept_out=kept.kept_out,
        bias_fold=kept.fold,
        **window,
    )


def _kernel_entry(
    layer: keras.layers.Layer,
    kernel: tuple[tuple[int, ...], tuple[int, ...]],
    filters: tuple[int, int],
    before: tuple[int, int],
    after: tuple[int, int],
    kept: _Channels,
    plan: LayerPlan,
) -> LayerTrim:
    """A kernel layer's entry: (before, after) kernel sizes, filters and (params, MACs)."""
    return LayerTrim(
        name=layer.name,
        class_name=type(layer).__name__,
        kernel_before=kernel[0],
        kernel_after=kernel[1],
        filters_before=filters[0],
        filters_after=filters[1],
        params_before=before[0],
        params_after=after[0],
        macs_before=before[1],
        macs_after=after[1],
        note="; ".join(kept.notes),
        unused_filters=kept.unused,
        plan=plan,
    )


def _dense_entry(
    layer: keras.layers.Layer,
    snapped: tuple[np.ndarray, ...],
    out_t: keras.KerasTensor,
    kept: _Channels,
) -> LayerTrim:
    kernel = snapped[0]
    c_out = channel_count(out_t)
    positions = math.prod(int(s) if s is not None else 1 for s in shape_of(out_t)[1:-1])
    before = kernel.size + (c_out if layer.use_bias else 0), kernel.size * positions
    n_in, n_out = len(kept.kept_in), len(kept.kept_out)  # type: ignore[arg-type]
    bias = layer.use_bias or kept.fold is not None
    after = n_in * n_out + (n_out if bias else 0), n_in * n_out * positions
    plan = _plan(LayerKind.DENSE, snapped, kept)
    return _kernel_entry(layer, ((), ()), (c_out, n_out), before, after, kept, plan)


def _kernel_window(
    layer: keras.layers.Layer,
    kind: LayerKind,
    snapped: tuple[np.ndarray, ...],
    in_shape: Sequence[int | None],
    kept: _Channels,
) -> tuple[
    tuple[int, ...], tuple[int, ...], str, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]
]:
    """Start, new kernel size, padding, pads and crops once all-zero edge taps are dropped.

    Only the kernel entries that still matter count: those of the kept input (and, for
    ``Conv``, output) channels; for ``SeparableConv``, the depthwise filters whose
    intermediate channel reaches a kept output.
    """
    ksize = tuple(layer.kernel_size)
    no_pad = tuple((0, 0) for _ in ksize)
    sub = snapped[0]
    if kind == LayerKind.SEPARABLE and kept.kept_out is not None:
        pointwise = snapped[1].reshape(-1, snapped[1].shape[-1])[:, kept.kept_out]
        reaches = np.any(pointwise != 0, axis=1).reshape(sub.shape[-2:])
        sub = np.where(reaches, sub, np.zeros((), sub.dtype))
    if kept.kept_in is not None:
        sub = sub[..., kept.kept_in, :]
        if kind == LayerKind.CONV and kept.kept_out is not None:
            sub = sub[..., kept.kept_out]
    extent = kernel_extent(sub, len(ksize))
    unchanged = (tuple(0 for _ in ksize), ksize, layer.padding, no_pad, no_pad)
    if extent is None or not any(a or b for a, b in zip(*extent, strict=True)):
        return unchanged
    plan = padding_plan(layer, in_shape, extent[0], extent[1])
    if isinstance(plan, str):
        kept.notes.append(plan)
        return unchanged
    new_k = tuple(k - a - b for k, a, b in zip(ksize, extent[0], extent[1], strict=True))
    return (extent[0], new_k, *plan)


def _conv_entry(
    layer: keras.layers.Layer,
    kind: LayerKind,
    snapped: tuple[np.ndarray, ...],
    node: GraphNode,
    kept: _Channels,
) -> LayerTrim:
    in_t, out_t = node.inputs[0], node.outputs[0]
    ksize = tuple(layer.kernel_size)
    positions = output_positions(shape_of(out_t), len(ksize), channels_last(layer))
    window = _kernel_window(layer, kind, snapped, shape_of(in_t), kept)
    start, new_k, padding, pad, crop = window
    if channels_last(layer):
        c_in, c_out = channel_count(in_t), channel_count(out_t)
    else:
        c_in, c_out = int(in_t.shape[1]), int(out_t.shape[1])
    n_in = len(kept.kept_in) if kept.kept_in is not None else c_in
    n_out = len(kept.kept_out) if kept.kept_out is not None else c_out
    bias = layer.use_bias or kept.fold is not None
    before = conv_size(layer, kind, ksize, c_in, c_out, positions, layer.use_bias)
    after = conv_size(layer, kind, new_k, n_in, n_out, positions, bias)
    plan = _plan(
        kind, snapped, kept, start=start, kernel_size=new_k, padding=padding, pad=pad, crop=crop
    )
    return _kernel_entry(layer, (ksize, new_k), (c_out, n_out), before, after, kept, plan)


def layer_entry(
    node: GraphNode, kind: LayerKind, reason: str, facts: Facts, threshold: float
) -> LayerTrim:
    """What trimming does to ``node``'s layer, from the results of the whole analysis."""
    layer = node.layer
    if kind == LayerKind.CHANNELWISE:
        removed = facts.removable[id(node.inputs[0])]
        snapped_gamma = facts.kernels.get(id(layer), ())
        return _channelwise_entry(layer, removed, snapped_gamma, facts.folds.mean.get(id(layer)))
    if kind not in (*PRODUCER_KINDS, LayerKind.DEPTHWISE):
        if kind == LayerKind.BARRIER and not any(
            np.isfinite(facts.values[id(t)]).any() for t in node.inputs if id(t) in facts.values
        ):
            reason = ""  # no constant channel reaches it: nothing was kept because of it
        macs = fixed_macs(layer, [shape_of(t) for t in node.inputs])
        return plain_entry(layer, reason, kind, macs)
    snapped = facts.kernels[id(layer)]
    in_t, out_t = node.inputs[0], node.outputs[0]
    kept = _Channels()
    if kind in PRODUCER_KINDS and channel_layer(node):
        kept = _kept_channels(node, kind, facts, threshold)
        kept.fold = facts.folds.bias.get(id(layer))
    elif kind == LayerKind.DEPTHWISE and channels_last(layer):
        out_removed = facts.removable[id(out_t)]
        kept = _Channels(
            kept_in=np.flatnonzero(~facts.removable[id(in_t)]),
            kept_out=np.flatnonzero(~out_removed),
            unused=tuple(int(c) for c in np.flatnonzero(out_removed)),
        )
    if kind == LayerKind.DENSE:
        entry = _dense_entry(layer, snapped, out_t, kept)
    else:
        entry = _conv_entry(layer, kind, snapped, node, kept)
    group = facts.groups.get(id(out_t))
    if group is None:
        return entry
    return dataclasses.replace(
        entry, coupled=group.others(layer.name), coupled_through=group.merges
    )
