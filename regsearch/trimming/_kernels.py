"""Channel facts read from one layer's snapped kernels: dead outputs, unused inputs, folds.

Kernel layouts (channels last):

- ``conv`` / ``dense``: one kernel ``(*taps, c_in, c_out)``.
- ``separable``: a depthwise kernel ``(*taps, c_in, m)`` and a pointwise kernel
  ``(*ones, c_in * m, c_out)``. Input channel ``c`` feeds the intermediate channels
  ``c * m .. c * m + m - 1`` (one depthwise filter each), and the pointwise kernel
  mixes those into the outputs. Intermediate channel ``i`` *reaches* output ``j``
  when its depthwise filter is not all zero and ``pointwise[i, j] != 0``.
- ``depthwise``: ``(*taps, c_in, m)``; output ``c * m + j`` reads input ``c`` only.
"""

from __future__ import annotations

import numpy as np

from regsearch.trimming._kinds import LayerKind

Kernels = tuple[np.ndarray, ...]


def _rows(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` as ``(taps, rows, columns)``."""
    return kernel.reshape(-1, kernel.shape[-2], kernel.shape[-1])


def _links(kernels: Kernels) -> np.ndarray:
    """SeparableConv: ``(c_in * m, c_out)``, whether intermediate ``i`` reaches output ``j``."""
    depthwise, pointwise = kernels
    live = np.any(_rows(depthwise) != 0, axis=0).reshape(-1)
    return live[:, None] & np.any(_rows(pointwise) != 0, axis=0)


def dead_outputs(kind: LayerKind, kernels: Kernels) -> np.ndarray:
    """Output channels that read nothing: they output the constant ``activation(bias)``."""
    if kind == LayerKind.SEPARABLE:
        return np.asarray(~_links(kernels).any(axis=0))
    return np.asarray(~np.any(_rows(kernels[0]) != 0, axis=(0, 1)))


def unused_inputs(kind: LayerKind, kernels: Kernels, out_removed: np.ndarray | None) -> np.ndarray:
    """Input channels that reach none of the output channels kept.

    For a ``SeparableConv``, input channel ``c`` is unused when each of its
    intermediate channels has an all-zero depthwise filter or all-zero pointwise rows
    over the kept outputs; removing it removes those depthwise filters and rows.
    """
    if kind == LayerKind.SEPARABLE:
        links = _links(kernels)
        if out_removed is not None:
            links = links[:, ~out_removed]
        c_in = kernels[0].shape[-2]
        return np.asarray(~links.reshape(c_in, -1).any(axis=1))
    rows = _rows(kernels[0])
    if out_removed is not None:
        rows = rows[..., ~out_removed]
    return np.asarray(~np.any(rows != 0, axis=(0, 2)))


def input_contribution(
    kind: LayerKind, kernels: Kernels, values: np.ndarray, removed: np.ndarray
) -> np.ndarray:
    """What the ``removed`` input channels add to every output channel before the bias.

    Exact when each removed channel is the constant ``values[c]`` at every position the
    layer reads (no zero padding) or is unused (``NaN``: its kernel rows are zero over
    the outputs kept, so it adds nothing there).
    """
    v = np.where(removed, np.nan_to_num(values, nan=0.0), 0.0)
    if kind == LayerKind.SEPARABLE:
        depthwise, pointwise = kernels
        m = depthwise.shape[-1]
        intermediate = np.repeat(v, m) * _rows(depthwise).sum(axis=0).reshape(-1)
        return intermediate @ _rows(pointwise).sum(axis=0)
    return v @ _rows(kernels[0]).sum(axis=0)


def depthwise_values(
    kernel: np.ndarray, values: np.ndarray, bias: np.ndarray, pads_nothing: bool
) -> np.ndarray:
    """DepthwiseConv outputs before the activation that are constant, else ``NaN``.

    Output ``c * m + j`` is the constant ``bias`` when its filter is all zero or input
    ``c`` is 0, and ``values[c] * sum(filter) + bias`` when input ``c`` is constant and
    the layer adds no zero padding.
    """
    rows = _rows(kernel)
    c_in, m = rows.shape[1:]
    dead = ~np.any(rows != 0, axis=0)
    v = np.repeat(values[:, None], m, axis=1)
    silent = dead | (v == 0)
    known = silent | (np.isfinite(v) & pads_nothing)
    pre = np.where(silent, 0.0, np.nan_to_num(v) * rows.sum(axis=0)) + bias.reshape(c_in, m)
    return np.where(known, pre, np.nan).reshape(-1)
