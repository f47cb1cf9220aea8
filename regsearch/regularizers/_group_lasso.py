"""GroupLasso: the sum of the L2 norms of a kernel's output filters."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch.regularizers._base import Regularizer


def safe_norm(squared: Any) -> Any:
    """``sqrt(squared)`` with a gradient of 0 (not NaN) where ``squared == 0``.

    Values below ``1e-30`` are raised to it (an error of at most ``1e-15``); the
    gradient flows to that constant, not to the weights.
    """
    return ops.sqrt(ops.maximum(squared, 1e-30))


@keras.saving.register_keras_serializable(package="regsearch")
class GroupLasso(Regularizer):
    """``strength`` times the sum over output filters of each filter's L2 norm.

    The weight is reshaped to ``(-1, filters)`` (filters on the last axis, as in
    every Keras Dense and Conv kernel), so a whole filter is one group. The
    penalty drives entire filters to exactly zero, which trimming then removes.
    The gradient is finite (zero) for an all-zero filter.

    Args:
        strength: Non-negative penalty multiplier.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import GroupLasso
        >>> kernel = keras.ops.array([[3.0, 0.0], [4.0, 0.0]])
        >>> float(GroupLasso(0.1)(kernel))  # 0.1 * (5 + 0)
        0.5
    """

    def __init__(self, strength: float = 0.001) -> None:
        super().__init__(strength)

    def __call__(self, x: Any) -> Any:
        if len(x.shape) == 0:
            raise ValueError(
                f"GroupLasso needs a weight with a filter axis; received a scalar of shape "
                f"{tuple(x.shape)}."
            )
        filters = ops.reshape(x, (-1, x.shape[-1]))
        return self.strength * ops.sum(safe_norm(ops.sum(ops.square(filters), axis=0)))
