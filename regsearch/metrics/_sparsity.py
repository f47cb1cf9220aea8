"""Output-sparsity metrics: active outputs per sample and the k-sparsity violation rate."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch._validation import check_float, check_int


class _PerSampleMean(keras.metrics.Mean):
    """A weighted mean over samples of a quantity computed from ``y_pred`` alone."""

    def __init__(self, *, tol: float, name: str, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.tol = check_float("tol", tol, minimum=0.0)

    def _active_per_sample(self, y_pred: Any) -> Any:
        """Number of entries with ``|y| > tol`` in each sample (all non-batch axes)."""
        active = ops.cast(ops.greater(ops.abs(y_pred), self.tol), self.dtype)
        return ops.sum(ops.reshape(active, (ops.shape(active)[0], -1)), axis=-1)

    def _per_sample(self, y_pred: Any) -> Any:
        raise NotImplementedError

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulate the per-sample values of a batch; ``y_true`` is ignored."""
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == 1:  # one output per sample
            y_pred = ops.expand_dims(y_pred, -1)
        super().update_state(self._per_sample(y_pred), sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "tol": self.tol}


@keras.saving.register_keras_serializable(package="regsearch")
class ActiveOutputs(_PerSampleMean):
    """Mean number of outputs with ``|y| > tol`` per sample.

    Only the predictions are read. The state (a running total and count) makes
    the value exact over a whole epoch, whatever the batch sizes; with
    ``sample_weight`` it is the weighted mean. Logged as ``active_outputs``
    (``val_active_outputs`` on validation data) when passed to ``compile``.

    Args:
        tol: An output counts as active when its magnitude is above ``tol``; >= 0.
        name: The metric's name in the logs.
        dtype: The dtype of the result.

    Examples:
        >>> import numpy as np
        >>> from regsearch.metrics import ActiveOutputs
        >>> m = ActiveOutputs()
        >>> m.update_state(None, np.array([[0.0, 0.3, 0.9], [0.0, 0.0, 0.2]]))
        >>> float(m.result())
        1.5
    """

    def __init__(
        self, tol: float = 1e-6, *, name: str = "active_outputs", dtype: Any = None
    ) -> None:
        super().__init__(tol=tol, name=name, dtype=dtype)

    def _per_sample(self, y_pred: Any) -> Any:
        return self._active_per_sample(y_pred)


@keras.saving.register_keras_serializable(package="regsearch")
class SparsityViolation(_PerSampleMean):
    """Fraction of samples with more than ``k`` outputs of ``|y| > tol``.

    Only the predictions are read; 0 means every sample respects "at most ``k``
    active outputs". Exact over a whole epoch, weighted by ``sample_weight``
    when given.

    Args:
        k: The allowed number of active outputs per sample; an integer >= 1.
        tol: An output counts as active when its magnitude is above ``tol``; >= 0.
        name: The metric's name in the logs.
        dtype: The dtype of the result.

    Examples:
        >>> import numpy as np
        >>> from regsearch.metrics import SparsityViolation
        >>> m = SparsityViolation(1)
        >>> m.update_state(None, np.array([[0.0, 0.3, 0.9], [0.0, 0.0, 0.2]]))
        >>> float(m.result())
        0.5
    """

    def __init__(
        self,
        k: int,
        tol: float = 1e-6,
        *,
        name: str = "sparsity_violation",
        dtype: Any = None,
    ) -> None:
        super().__init__(tol=tol, name=name, dtype=dtype)
        self.k = check_int("k", k, minimum=1)

    def _per_sample(self, y_pred: Any) -> Any:
        return ops.cast(ops.greater(self._active_per_sample(y_pred), self.k), self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}
