"""What trimming does to each layer: the records the analysis returns and the surgery reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from regsearch.trimming._graph import ModelGraph
from regsearch.trimming._kinds import LayerKind


@dataclass(frozen=True)
class LayerPlan:
    """What the surgery does to one layer (private to the trim package)."""

    kind: LayerKind
    kernels: tuple[np.ndarray, ...] = ()  # snapped kernels (BN: gamma), in get_weights() order
    kept_in: np.ndarray | None = None  # input channels kept
    kept_out: np.ndarray | None = None  # output channels kept (producers, channel-wise)
    bias_fold: np.ndarray | None = None  # added to the bias, made if none (full length)
    mean_shift: np.ndarray | None = None  # subtracted from a batch norm's moving mean (full)
    start: tuple[int, ...] = ()  # leading kernel taps removed per spatial axis
    kernel_size: tuple[int, ...] = ()  # new kernel size
    padding: str = ""  # new padding mode
    pad: tuple[tuple[int, int], ...] = ()  # explicit zero padding per spatial axis
    crop: tuple[tuple[int, int], ...] = ()  # explicit cropping per spatial axis


def short_list(items: Sequence[str], limit: int = 4, sep: str = ", ") -> str:
    """``items`` joined by ``sep``; past ``limit``, the first few and "and N more"."""
    if len(items) <= limit:
        return sep.join(items)
    return f"{sep.join(items[: limit - 1])} and {len(items) - limit + 1} more"


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
        unused_filters: indices of the output channels removed because no consumer
            uses them (their kernel rows are zero in every consumer), as opposed to
            dead filters (whose own kernel slice is zero).
        coupled: the other layers (or model inputs) whose output channels are tied to
            this layer's by merges (``Add``, ``Subtract``, ``Multiply``, ``Average``,
            ``Maximum``, ``Minimum``): a channel goes from all of them or from none.
        coupled_through: the merge layers that tie them.
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
    unused_filters: tuple[int, ...] = ()
    coupled: tuple[str, ...] = ()
    coupled_through: tuple[str, ...] = ()
    plan: LayerPlan = field(default=LayerPlan(LayerKind.OPAQUE), repr=False, compare=False)

    @property
    def coupling(self) -> str:
        """``coupled`` and ``coupled_through`` in words (long lists shortened), or ``""``."""
        if not self.coupled_through:
            return ""
        members, merges = short_list(self.coupled), short_list(self.coupled_through)
        return f"coupled with {members} through {merges}"

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

    Returned by ``regsearch.trimming.trimmed_size``; ``params`` always equals
    ``trim(model, ...)[0].count_params()`` for the same arguments.

    Attributes:
        params: parameters after trimming.
        macs: multiply-accumulates per sample after trimming (see ``trimmed_size``).
        params_before: parameters of the model as it is.
        macs_before: multiply-accumulates per sample of the model as it is.
        layers: one ``LayerTrim`` per layer, in execution order.
        threshold: the threshold used.
        relative: whether the threshold was relative to each layer's largest weight.
        round_to: the multiple channel counts were rounded up to, or ``None``.
    """

    params: int
    macs: int
    params_before: int
    macs_before: int
    layers: tuple[LayerTrim, ...]
    threshold: float
    relative: bool
    graph: ModelGraph = field(repr=False, compare=False)
    round_to: int | None = None

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
