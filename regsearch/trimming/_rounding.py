"""``round_to``: channel counts that trim keeps, rounded up to a multiple the runtime prefers.

Some runtimes run a convolution faster when its channel counts are multiples of a small
number (XNNPack packs channels by 4 or 8 on most CPUs, GPUs and NPUs by 8 to 32). With
``round_to=n``, every ``Conv``/``SeparableConv``/``Dense`` output that loses channels
keeps ``ceil(kept / n) x n`` of them instead, never more than it had: the extra ones
are real channels of the model with their weights, so the trimmed model still computes
what the untrimmed one did (a kept dead filter outputs its constant; a kept unused one
is read through zero kernel rows). The extra channels are those with the largest
kernel norm (before snapping) over the coupled group -- the ones closest to being
kept -- and a coupled group (a residual stream) is rounded as one.

A channel kept this way can keep rows of its own layer's kernel, and so channels
upstream, so the rounding repeats (in ``._channels.removable_channels``) until every
count is a multiple or the layer's full width.
"""

from __future__ import annotations

import math

import numpy as np

from regsearch._validation import check_int
from regsearch.trimming._channels import Removable, channel_layer
from regsearch.trimming._coupling import coupled_groups
from regsearch.trimming._graph import ModelGraph
from regsearch.trimming._kinds import PRODUCER_KINDS, Kinds, LayerKind


def check_round_to(round_to: object) -> int | None:
    """``round_to`` as an int >= 1, or ``None``; else a clear error."""
    if round_to is None:
        return None
    return check_int("round_to", round_to, minimum=1)


def rounded_count(kept: int, total: int, round_to: int) -> int:
    """``kept`` rounded up to a multiple of ``round_to``, at most ``total``.

    >>> rounded_count(5, 16, 4), rounded_count(5, 6, 4), rounded_count(0, 8, 4)
    (8, 6, 0)
    """
    return min(total, math.ceil(kept / round_to) * round_to)


def _output_norms(layer: object, kind: LayerKind) -> np.ndarray:
    """Each output channel's squared kernel norm (unsnapped), over the layer's mean."""
    weights = layer.get_weights()  # type: ignore[attr-defined]
    kernel = weights[1] if kind == LayerKind.SEPARABLE else weights[0]  # pointwise
    norms = np.square(kernel.astype("float64")).reshape(-1, kernel.shape[-1]).sum(axis=0)
    mean = float(norms.mean()) if norms.size else 0.0
    return norms / mean if mean > 0 else norms


class Rounder:
    """Finds, for a converged channel analysis, the next channels ``round_to`` keeps."""

    def __init__(self, graph: ModelGraph, kinds: Kinds, round_to: int) -> None:
        self.round_to = round_to
        self.producers: list[int] = []  # id(output tensor) of each producer that can lose some
        norms: dict[int, np.ndarray] = {}
        for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
            if kind in PRODUCER_KINDS and channel_layer(node) and node.outputs:
                key = id(node.outputs[0])
                self.producers.append(key)
                norms[key] = _output_norms(node.layer, kind)
        # A coupled group's channels count by their norms over all its producers.
        groups = coupled_groups(graph, kinds)
        self.importance: dict[int, np.ndarray] = {}
        for key, values in norms.items():
            group = groups.get(key)
            members = [k for _, k in group.members if k in norms] if group else [key]
            self.importance[key] = (
                np.sum([norms[k] for k in members], axis=0) if members else values
            )

    def next_kept(self, removable: Removable) -> dict[int, set[int]]:
        """The channels to keep next (one producer at a time), or ``{}`` when all are rounded.

        One producer at a time: keeping its channels can change what its coupled
        members and the layers upstream keep, which the next fixpoint settles.
        """
        for key in self.producers:
            removed = removable[key]
            total = len(removed)
            kept = total - int(removed.sum())
            if kept == 0:
                continue  # the analysis keeps one channel or reports an emptied layer
            extra = rounded_count(kept, total, self.round_to) - kept
            if extra <= 0:
                continue
            candidates = np.flatnonzero(removed)
            order = np.argsort(-self.importance[key][candidates], kind="stable")
            return {key: {int(c) for c in candidates[order[:extra]]}}
        return {}
