"""KernelExtent: empty a convolution kernel's edge rows and columns, from the outside in."""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
from keras import ops

from regsearch._validation import check_choice, check_float
from regsearch.regularizers._base import Regularizer
from regsearch.regularizers._group_lasso import safe_norm

GROUPS = ("rings", "axes")


def _depth(length: int) -> np.ndarray:
    """Per tap of an axis of ``length``, how many taps lie between it and the nearer end."""
    index = np.arange(length)
    return np.minimum(index, length - 1 - index)


@functools.lru_cache(maxsize=64)
def extent_groups(
    shape: tuple[int, ...], groups: str = "rings", power: float = 2.0
) -> tuple[tuple[np.ndarray, float], ...]:
    """The groups of kernel positions ``KernelExtent`` penalizes, with their weights.

    The spatial axes of a kernel of ``shape`` are all but the last two. On an axis of
    length ``L``, the tap ``i`` lies ``min(i, L - 1 - i)`` taps in from the nearer
    end; the ``(L - 1) // 2`` outer levels of taps can be cut, both ends at once,
    while the centre (one tap, or two for an even ``L``) stays.

    - ``"rings"``: ring ``r`` holds the positions whose smallest depth over the axes
      that can still be cut is ``r``: the outer ring of a 5x5 kernel, then the ring
      inside it. The weight of ring ``r`` out of ``R`` is ``((R - r) / R) ** power``.
    - ``"axes"``: for each spatial axis on its own, group ``d`` holds the two slices
      ``d`` taps in from either end (the first and last row of a 5x5 kernel, then
      the second and fourth), weighted ``((K - d) / K) ** power`` out of ``K`` levels.

    Args:
        shape: The kernel's shape, ``(*spatial, in, out)``.
        groups: ``"rings"`` or ``"axes"``.
        power: Exponent of the weights (0: every group weighs 1).

    Returns:
        ``(mask, weight)`` pairs, outermost first: boolean masks of shape
        ``(*spatial,)``. None for a kernel with no tap to cut (``1x1``, ``2x2``).
    """
    spatial = tuple(int(length) for length in shape[:-2])
    levels = [(length - 1) // 2 for length in spatial]
    depths = np.meshgrid(*(_depth(length) for length in spatial), indexing="ij")
    found = []
    if groups == "axes":
        for axis, count in enumerate(levels):
            for d in range(count):
                found.append((depths[axis] == d, ((count - d) / count) ** power))
        return tuple(found)
    rings = max(levels, default=0)
    ring = np.full(spatial, rings)  # the centre: no ring
    for axis, count in enumerate(levels):
        ring = np.minimum(ring, np.where(depths[axis] < count, depths[axis], rings))
    return tuple((ring == r, ((rings - r) / rings) ** power) for r in range(rings))


@keras.saving.register_keras_serializable(package="regsearch")
class KernelExtent(Regularizer):
    """A group lasso over a kernel's outer taps, for all its channels at once.

    Each group holds every weight of a set of kernel positions, over all input and
    output channels (``extent_groups``):

    - ``groups="rings"``: the outer ring of the kernel (every position on an edge),
      then the ring inside it, and so on. Emptying the outer ring of a 5x5 kernel
      makes it 3x3.
    - ``groups="axes"``: along each spatial axis, the first and last slice, then the
      two inside them, and so on. Rows and columns empty independently, so a 5x5
      kernel can become 5x3 as well as 3x3.

    The penalty is ``strength x sum_g weight_g x sqrt(size_g) x ||kernel[g]||``: each
    group's L2 norm times the square root of how many weights it holds (as in
    ``StructuredSparsity``, so the outer ring pulls each of its weights about
    as hard as an L1 penalty of the same ``strength``), times a weight that falls
    from 1 on the outer ring to ``(1 / rings) ** power`` on the innermost (a quarter
    on the inner ring of a 5x5 kernel at ``power=2``). The centre costs nothing.
    So the strengths that empty the outer ring and those that also empty the next
    lie ``2 ** power`` apart on a 5x5 kernel: a range where the kernel ends 3x3.
    What ``regsearch.trim`` cuts is the all-zero leading and trailing taps of each
    spatial axis over the whole layer, which is why a group spans every channel: a
    per-filter penalty leaves an edge tap in place as long as one filter uses it.
    ``regsearch.search.ExactZeros`` makes emptied groups exactly 0; the gradient is
    finite (zero) at an empty group.

    Unlike ``KernelLength``, which pulls each weight on its own with a window
    averaged over the axes (the middle of an edge row of a 5x5 kernel costs half as
    much as a corner), every weight of an edge ring or row is pulled alike.

    It works on the kernels of ``Conv1D``, ``Conv2D``, ``Conv3D``, their transposed
    variants and ``DepthwiseConv``. Axes of length 1 or 2 have no tap to cut; a
    ``1x1`` kernel costs nothing.

    Args:
        strength: Non-negative multiplier of the penalty.
        groups: ``"rings"`` (whole rings, every axis at once) or ``"axes"`` (each
            spatial axis on its own).
        power: Non-negative exponent of the group weights: how much cheaper the
            inner rings are than the outer one (0: all alike).

    Raises:
        TypeError: if ``strength`` or ``power`` is not a real number.
        ValueError: for a negative, NaN or infinite ``strength`` or ``power``, or an
            unknown ``groups``; when called on a weight without spatial axes (a
            ``Dense`` kernel, a bias).

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import KernelExtent
        >>> kernel = keras.ops.ones((3, 3, 1, 1))  # the outer ring holds 8 weights
        >>> round(float(KernelExtent(0.1)(kernel)), 6)  # 0.1 * sqrt(8) * sqrt(8)
        0.8
        >>> layer = keras.layers.Conv2D(8, 5, kernel_regularizer=KernelExtent(1e-3))
    """

    def __init__(
        self, strength: float = 0.001, groups: str = "rings", *, power: float = 2.0
    ) -> None:
        super().__init__(strength)
        self.groups = check_choice("groups", groups, GROUPS)
        self.power = check_float("power", power)

    def __call__(self, x: Any) -> Any:
        shape = tuple(x.shape)
        if len(shape) < 3 or any(dim is None for dim in shape):
            raise ValueError(
                "KernelExtent needs a convolution kernel with at least one spatial axis, "
                f"shaped (*spatial, in, out); received a weight of shape {shape}. A "
                f"rank-{len(shape)} weight (a Dense kernel or a bias) has no taps to cut: "
                "use KernelExtent as the kernel_regularizer of a Conv1D/Conv2D/Conv3D or "
                "DepthwiseConv layer, or StructuredSparsity here."
            )
        found = extent_groups(tuple(int(d) for d in shape), self.groups, self.power)
        if not found:
            return ops.zeros((), dtype=x.dtype)
        channels = int(shape[-2]) * int(shape[-1])
        masks = np.stack([mask for mask, _ in found]).astype("float32")  # (groups, *spatial)
        sizes = masks.reshape(len(found), -1).sum(axis=1) * channels
        scales = np.array([weight for _, weight in found]) * np.sqrt(sizes)
        # Per position, the squares summed over every channel; then per group.
        squares = ops.sum(ops.square(x), axis=(-2, -1))
        group_squares = ops.sum(
            ops.expand_dims(squares, 0) * ops.convert_to_tensor(masks, dtype=x.dtype),
            axis=tuple(range(1, len(shape) - 1)),
        )
        norms = safe_norm(group_squares)
        total = ops.sum(ops.convert_to_tensor(scales, dtype=x.dtype) * norms)
        return self.strength * total

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "groups": self.groups, "power": self.power}
