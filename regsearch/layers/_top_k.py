"""``TopK``: keep the k largest entries along an axis, zero the rest."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch._validation import check_choice, check_float, check_int

_BY = ("value", "abs")


def top_k_mask(scores: Any, k: int, axis: int = -1) -> Any:
    """Boolean mask of the ``k`` largest ``scores`` along ``axis``.

    Exactly ``k`` entries are ``True`` in every slice along ``axis``; among equal
    scores the lowest index wins. ``k`` must be smaller than the size of ``axis``.
    """
    moved = ops.moveaxis(scores, axis, -1)
    kth = ops.top_k(moved, k, sorted=True)[0][..., k - 1]
    kth = ops.expand_dims(kth, axis)
    above = ops.greater(scores, kth)
    tied = ops.equal(scores, kth)
    # Places left for the entries tied with the k-th largest, filled in index order.
    free = k - ops.sum(ops.cast(above, "int32"), axis=axis, keepdims=True)
    tie_rank = ops.cumsum(ops.cast(tied, "int32"), axis=axis)
    return ops.logical_or(above, ops.logical_and(tied, ops.less_equal(tie_rank, free)))


@keras.saving.register_keras_serializable(package="regsearch")
class TopK(keras.layers.Layer):
    """Keep the ``k`` largest entries along ``axis`` and set the rest to 0.

    The selection is made per sample (and per position, for inputs of rank > 2),
    so it works for any batch size. Exactly ``k`` entries are kept in each slice:
    among equal entries the one with the lowest index wins. ``k`` at or above the
    size of ``axis`` keeps everything. Gradients flow through the kept entries
    only (1 through a kept entry, 0 elsewhere). Training and inference behave
    the same.

    Args:
        k: How many entries to keep per slice; an integer >= 1.
        axis: The axis to select along; not the batch axis. Defaults to the last.
        by: ``"value"`` keeps the largest values; ``"abs"`` the largest
            magnitudes (the kept entries keep their sign).
        threshold: If given, entries whose score (the value, or the magnitude
            for ``by="abs"``) is at or below ``threshold`` are zeroed as well, so
            the layer keeps *at most* ``k`` entries.
        **kwargs: Base layer arguments (``name``, ``dtype``, ...).

    Examples:
        >>> import keras, numpy as np
        >>> from regsearch.layers import TopK
        >>> x = np.array([[0.1, 0.9, 0.3, 0.7], [0.5, 0.2, 0.8, 0.0]], "float32")
        >>> keras.ops.convert_to_numpy(TopK(2)(x))
        array([[0. , 0.9, 0. , 0.7],
               [0.5, 0. , 0.8, 0. ]], dtype=float32)
    """

    def __init__(
        self,
        k: int,
        *,
        axis: int = -1,
        by: str = "value",
        threshold: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.k = check_int("k", k, minimum=1)
        self.axis = check_int("axis", axis)
        self.by = check_choice("by", by, _BY)
        self.threshold = (
            None if threshold is None else check_float("threshold", threshold, minimum=None)
        )
        self.supports_masking = True

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                f"TopK needs inputs of rank >= 2 (batch, ...); received shape {input_shape}."
            )
        if not -rank < self.axis < rank or self.axis in (0, -rank):
            raise ValueError(
                f"Invalid value for argument `axis`: received {self.axis} for inputs of "
                f"shape {input_shape}; expected a non-batch axis in [{1 - rank}, -1] or "
                f"[1, {rank - 1}]."
            )
        if input_shape[self.axis % rank] is None:
            raise ValueError(
                f"TopK needs a known size along `axis`={self.axis}; the input shape is "
                f"{input_shape}. Give the input a fixed size on that axis."
            )

    def call(self, inputs: Any) -> Any:
        axis = self.axis % len(inputs.shape)
        scores = ops.abs(inputs) if self.by == "abs" else inputs
        if self.k >= inputs.shape[axis]:
            keep = ops.ones_like(scores, dtype="bool")
        else:
            keep = top_k_mask(scores, self.k, axis)
        if self.threshold is not None:
            keep = ops.logical_and(keep, ops.greater(scores, self.threshold))
        return ops.where(keep, inputs, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(k=self.k, axis=self.axis, by=self.by, threshold=self.threshold)
        return config
