"""Keep chosen filters of a weight exactly as they are while the rest trains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from regsearch._validation import check_int


@keras.saving.register_keras_serializable(package="regsearch")
class FreezeFilters(keras.constraints.Constraint):
    """Reset chosen filters of a weight to stored values after every update.

    Keras applies a variable's constraint right after each optimizer step, so the
    frozen filters are overwritten with their stored values whatever the optimizer
    (momentum, Adam moments, weight decay) and the regularizers did to them: they
    stay bit-for-bit unchanged while the other filters train. A user constraint
    given as ``constraint`` is applied first, then the freeze.

    The stored values are part of the config (saved in the `.keras` file), so the
    freeze survives save and load.

    Args:
        indices: the frozen filter indices along ``axis``.
        values: the frozen filters, shaped like the weight with ``axis`` of length
            ``len(indices)`` (nested lists or an array).
        axis: the filter axis (``-1`` for Dense and Conv kernels and biases,
            ``-2`` for ConvTranspose kernels).
        constraint: an optional constraint applied before the freeze.

    Examples:
        >>> import keras, numpy as np
        >>> from regsearch.constraints import FreezeFilters
        >>> w = np.arange(6.0, dtype="float32").reshape(2, 3)
        >>> freeze = FreezeFilters([1], w[:, [1]])
        >>> np.asarray(freeze(keras.ops.zeros((2, 3)))).tolist()
        [[0.0, 1.0, 0.0], [0.0, 4.0, 0.0]]
    """

    def __init__(
        self,
        indices: Sequence[int],
        values: Any,
        *,
        axis: int = -1,
        constraint: keras.constraints.Constraint | dict[str, Any] | str | None = None,
    ) -> None:
        if isinstance(indices, (int, np.integer)):
            indices = [int(indices)]
        self.indices = [check_int("indices", i, minimum=0) for i in indices]
        if len(set(self.indices)) != len(self.indices):
            raise ValueError(f"Argument `indices` has duplicates; received {list(indices)}.")
        self.axis = check_int("axis", axis)
        self.values = np.asarray(values, dtype="float64")
        if self.values.ndim == 0 or self.values.shape[self.axis] != len(self.indices):
            raise ValueError(
                f"Argument `values` must have {len(self.indices)} entries (one per index) "
                f"along axis {self.axis}; received shape {self.values.shape}."
            )
        self.constraint = keras.constraints.get(constraint)
        self._cache: dict[tuple[tuple[int, ...], str], tuple[Any, Any]] = {}

    @classmethod
    def from_weight(
        cls,
        weight: Any,
        indices: Sequence[int],
        *,
        axis: int = -1,
        constraint: keras.constraints.Constraint | None = None,
    ) -> FreezeFilters:
        """Freeze ``indices`` of ``weight`` at its current values.

        Raises:
            ValueError: if an index is out of range for the weight's filter axis.
        """
        array = np.array(ops.convert_to_numpy(weight))
        filters = array.shape[axis]
        bad = [i for i in indices if not 0 <= i < filters]
        if bad:
            raise ValueError(
                f"Filter indices {bad} are out of range for a weight of shape "
                f"{array.shape} with {filters} filters along axis {axis}; "
                f"expected indices in [0, {filters - 1}]."
            )
        values = np.take(array, list(indices), axis=axis)
        return cls(indices, values, axis=axis, constraint=constraint)

    def _frozen(self, shape: tuple[int, ...], dtype: str) -> tuple[Any, Any]:
        key = (shape, dtype)
        if key not in self._cache:
            axis = self.axis % len(shape)
            filters = shape[axis]
            if max(self.indices) >= filters or (
                self.values.shape[:axis] + self.values.shape[axis + 1 :]
                != shape[:axis] + shape[axis + 1 :]
            ):
                raise ValueError(
                    f"FreezeFilters(indices={self.indices}, values of shape "
                    f"{self.values.shape}) cannot apply to a weight of shape {shape}."
                )
            mask_shape = [1] * len(shape)
            mask_shape[axis] = filters
            mask = np.zeros(filters, dtype=bool)
            mask[self.indices] = True
            full = np.zeros(shape, dtype=self.values.dtype)
            index = [slice(None)] * len(shape)
            index[axis] = self.indices  # type: ignore[call-overload]
            full[tuple(index)] = self.values
            self._cache[key] = (mask.reshape(mask_shape), full.astype(dtype))
        return self._cache[key]

    def __call__(self, w: Any) -> Any:
        # The optimizer passes the Keras Variable itself; jax ops reject it inside jit.
        w = ops.convert_to_tensor(w)
        if self.constraint is not None:
            w = self.constraint(w)
        shape = tuple(int(d) for d in w.shape)
        dtype = keras.backend.standardize_dtype(w.dtype)
        mask, full = self._frozen(shape, dtype)
        return ops.where(mask, ops.convert_to_tensor(full, dtype=dtype), w)

    def get_config(self) -> dict[str, Any]:
        return {
            "indices": list(self.indices),
            "values": self.values.tolist(),
            "axis": self.axis,
            "constraint": keras.constraints.serialize(self.constraint)
            if self.constraint is not None
            else None,
        }
