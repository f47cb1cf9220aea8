"""``OutputSparsity``: a soft activity penalty on the mass outside the k largest outputs."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch._validation import check_float, check_int


@keras.saving.register_keras_serializable(package="regsearch")
class OutputSparsity(keras.regularizers.Regularizer):
    """Penalise the magnitude of every output except the ``k`` largest.

    For each sample (and each position, for outputs of rank > 2) the penalty is
    ``strength`` times the sum of ``|y|`` over the last axis minus the sum of the
    ``k`` largest ``|y|``: zero when at most ``k`` outputs are non-zero, and
    growing with the mass the other outputs carry. Its gradient pushes only
    those other outputs toward 0. It is the soft counterpart of
    ``regsearch.layers.TopK``, for training without the hard constraint.

    The penalty is summed over the batch. Keras divides an activity
    regularizer's value by the batch size before adding it to the loss, so the
    loss term is the per-sample mean and ``strength`` does not depend on the
    batch size.

    Args:
        k: How many outputs per sample are free of penalty; an integer >= 1.
            ``k`` at or above the number of outputs gives a zero penalty.
        strength: The penalty factor, >= 0.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import OutputSparsity
        >>> layer = keras.layers.Dense(
        ...     8, activation="sigmoid", activity_regularizer=OutputSparsity(2, 0.01)
        ... )
        >>> float(OutputSparsity(2, 1.0)(keras.ops.array([[0.9, -0.5, 0.2, 0.1]])))
        0.3...
    """

    def __init__(self, k: int = 1, strength: float = 0.01) -> None:
        self.k = check_int("k", k, minimum=1)
        self.strength = check_float("strength", strength, minimum=0.0)

    def __call__(self, x: Any) -> Any:
        magnitude = ops.abs(x)
        size = x.shape[-1]
        if size is not None and self.k >= size:
            return ops.zeros((), dtype=magnitude.dtype)
        largest = ops.top_k(magnitude, self.k, sorted=False)[0]
        outside = ops.sum(magnitude) - ops.sum(largest)
        return self.strength * outside

    def get_config(self) -> dict[str, Any]:
        return {"k": self.k, "strength": self.strength}
