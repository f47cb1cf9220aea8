"""Kernel extent and padding arithmetic: dropping all-zero kernel taps at the edges.

Per spatial axis, leading and trailing kernel positions whose weights are all zero
are dropped, and the padding is rewritten (``valid``, ``same``, ``causal``, or explicit
zero padding / cropping) so that the outputs keep their shape and values.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from regsearch.trimming._kinds import CONV_TYPES


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


def pads_nothing(layer: keras.layers.Layer, in_shape: Sequence[int | None]) -> bool:
    """Whether the convolution adds no zero padding, so every output sees only input.

    Then a constant input channel contributes the same amount at every output position
    (``valid`` padding, or ``same`` / ``causal`` with a kernel that needs none).
    """
    rank = len(layer.kernel_size)
    last = getattr(layer, "data_format", "channels_last") == "channels_last"
    spatial = list(in_shape[1 : 1 + rank]) if last else list(in_shape[2 : 2 + rank])
    return all(
        axis_pads(layer.padding, spatial[ax], k, layer.strides[ax], layer.dilation_rate[ax])
        == (0, 0)
        for ax, k in enumerate(layer.kernel_size)
    )


def padding_plan(
    layer: keras.layers.Layer,
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


def kernel_extent(kernel: np.ndarray, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
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
