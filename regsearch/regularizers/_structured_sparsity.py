"""StructuredSparsity: group lasso over filters, input channels and kernel positions."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from regsearch._validation import check_float
from regsearch.regularizers._base import Regularizer
from regsearch.regularizers._group_lasso import safe_norm

TERMS = ("filters", "channels", "shape")


def group_axes(shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """For each term of a kernel of ``shape``, the axes summed over inside one group.

    A kernel is ``(*spatial, in, out)``: a filter is one index of the last axis, an
    input channel one index of the second-to-last, a kernel position one index of
    the spatial axes (none for a rank-2 Dense kernel). A term whose groups would be
    one group holding the whole kernel (a single input channel, filter or
    position) is left out: it could only empty the whole layer.
    """
    rank = len(shape)
    axes = {
        "filters": tuple(range(rank - 1)),
        "channels": tuple(i for i in range(rank) if i != rank - 2),
    }
    if rank > 2:
        axes["shape"] = (rank - 2, rank - 1)
    return {term: a for term, a in axes.items() if group_size(shape, a) < math.prod(shape)}


def group_size(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    """How many weights one group holds: the product of ``shape`` over ``axes``."""
    return math.prod(int(shape[i]) for i in axes)


@keras.saving.register_keras_serializable(package="regsearch")
class StructuredSparsity(Regularizer):
    """Structured sparsity learning (SSL, Wen et al. 2016): one penalty, three group kinds.

    For a kernel of shape ``(*spatial, in, out)`` (every Keras Conv and Dense kernel)
    the penalty is ``strength x (filters x F + channels x C + shape x S)`` where

    - ``F`` sums the L2 norms of the output filters (``kernel[..., j]``),
    - ``C`` sums the L2 norms of the input channels (``kernel[..., i, :]``),
    - ``S`` sums the L2 norms of the kernel positions (``kernel[p, :, :]``; a Dense
      kernel has no spatial axis and no ``S``).

    Each group's norm is multiplied by ``sqrt(group size)`` (the group lasso of Yuan
    and Lin, 2006), so each term pulls each weight about as hard as an L1 penalty
    of the same ``strength``: one ``strength`` suits layers and terms of any size,
    and a group dies when the data gradient's root-mean-square over the group falls
    below ``strength x weight``. Emptied filters, input channels and edge positions
    are what ``regsearch.trim`` removes. The gradient is finite (zero) for an
    all-zero group; ``regsearch.search.ExactZeros`` makes emptied groups exactly 0.

    A term that would make one group of the whole kernel is left out, as it could
    only empty the layer: the channels term of a layer with one input channel
    (the first Conv on a grayscale image), the shape term of a 1-tap kernel. For a
    ``DepthwiseConv`` kernel ``(*spatial, channels, depth_multiplier)`` the
    channels term groups each channel (with ``depth_multiplier=1``, each output
    channel; the filters term is then left out) and the filters term each
    depth-multiplier slice.

    Args:
        strength: Non-negative multiplier of the whole penalty.
        filters: Non-negative weight of the output-filter term.
        channels: Non-negative weight of the input-channel term.
        shape: Non-negative weight of the kernel-position term.

    Raises:
        TypeError: if an argument is not a real number.
        ValueError: if an argument is negative, NaN or infinite.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import StructuredSparsity
        >>> kernel = keras.ops.array([[3.0, 0.0], [4.0, 0.0]])  # Dense: 2 inputs, 2 units
        >>> # filters: sqrt(2) * (5 + 0); channels: sqrt(2) * (3 + 4)
        >>> round(float(StructuredSparsity(0.1)(kernel)), 4)
        1.6971
    """

    def __init__(
        self,
        strength: float = 0.001,
        *,
        filters: float = 1.0,
        channels: float = 1.0,
        shape: float = 1.0,
    ) -> None:
        super().__init__(strength)
        self.filters = check_float("filters", filters)
        self.channels = check_float("channels", channels)
        self.shape = check_float("shape", shape)

    def term_weights(self) -> dict[str, float]:
        """``{"filters": ..., "channels": ..., "shape": ...}``."""
        return {"filters": self.filters, "channels": self.channels, "shape": self.shape}

    def __call__(self, x: Any) -> Any:
        rank = len(x.shape)
        if rank < 2:
            raise ValueError(
                f"StructuredSparsity needs a kernel with input and output axes (rank >= 2); "
                f"received a weight of shape {tuple(x.shape)}."
            )
        squares = ops.square(x)
        weights = self.term_weights()
        total = ops.zeros((), dtype=x.dtype)
        shape = tuple(int(d) for d in x.shape)
        for term, axes in group_axes(shape).items():
            if weights[term] == 0.0:
                continue
            norms = safe_norm(ops.sum(squares, axis=axes))
            scale = weights[term] * math.sqrt(group_size(shape, axes))
            total = total + scale * ops.sum(norms)
        return self.strength * total

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.term_weights()}
