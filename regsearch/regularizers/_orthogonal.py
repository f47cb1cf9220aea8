"""Orthogonal: decorrelate the filters of a kernel of any rank."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch.regularizers._base import Regularizer


@keras.saving.register_keras_serializable(package="regsearch")
class Orthogonal(Regularizer):
    """``strength`` times the mean over filter pairs of ``|cosine similarity|``.

    The weight is reshaped to ``(-1, filters)``, so it works for Dense kernels and
    for Conv1D/2D/3D kernels alike (Keras's ``OrthogonalRegularizer`` only takes
    rank-2 weights). The penalty is 0 for orthogonal filters and ``strength`` for
    identical ones; it is the value Keras's
    ``OrthogonalRegularizer(factor=strength, mode="columns")`` computes on the
    reshaped kernel. An all-zero filter counts as orthogonal to every other (with a
    finite gradient on every backend); a kernel with a single filter costs 0.

    Args:
        strength: Non-negative penalty multiplier.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import Orthogonal
        >>> round(float(Orthogonal(0.5)(keras.ops.ones((3, 3, 4, 2)))), 6)  # identical filters
        0.5
    """

    def __init__(self, strength: float = 0.01) -> None:
        super().__init__(strength)

    def __call__(self, x: Any) -> Any:
        if len(x.shape) < 2:
            raise ValueError(
                "Orthogonal needs a kernel with a filter axis last, of rank >= 2; received "
                f"a weight of shape {tuple(x.shape)}."
            )
        filters = x.shape[-1]
        if filters < 2:
            return ops.zeros((), dtype=x.dtype)
        columns = ops.reshape(x, (-1, filters))
        # Keras's normalize takes min(rsqrt(s), 1/eps), whose gradient at an all-zero
        # filter is 0 * inf = NaN on JAX; max(s, eps**2) first gives the same values.
        squares = ops.sum(ops.square(columns), axis=0, keepdims=True)
        epsilon = keras.config.epsilon()
        unit = columns * ops.rsqrt(ops.maximum(squares, epsilon**2))
        cosines = ops.matmul(ops.transpose(unit), unit)
        off_diagonal = cosines * (1.0 - ops.eye(filters, dtype=cosines.dtype))
        pairs = filters * (filters - 1) / 2
        return self.strength * 0.5 * ops.sum(ops.abs(off_diagonal)) / pairs
