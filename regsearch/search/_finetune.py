"""Fine-tuning inside a trial: weight penalties off, the zeros held at exactly zero."""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np
from keras import ops

from regsearch.search._exact_zeros import compiled, sync_weights
from regsearch.search._walk import weight_penalty_owners

# The weights trimming reads: kernels, BatchNormalization scales, and the biases that
# make a dead filter's constant output (0 keeps it removable).
_HELD_WEIGHTS = ("kernel", "depthwise_kernel", "pointwise_kernel", "gamma", "bias")


class HoldZeros(keras.callbacks.Callback):
    """Set the kernel and bias entries that were exactly zero back to zero after every batch.

    Built by ``from_model`` from the model's kernels as they are when fine-tuning
    starts: whatever the optimizer does to a zero weight (momentum, Adam moments,
    weight decay), it is 0 again when the batch ends, so every validation pass and
    checkpoint sees the same zeros and the trimmed architecture stays fixed.

    Args:
        masks: ``(variable, keep)`` pairs; ``keep`` is a boolean array shaped like
            the variable, ``False`` where the weight is held at zero.
    """

    def __init__(self, masks: list[tuple[Any, np.ndarray]]) -> None:
        super().__init__()
        self.masks = masks
        self._compiled_update = compiled(self._hold)

    @classmethod
    def from_model(cls, model: keras.Model) -> HoldZeros:
        """Hold every exact zero of the model's kernels and biases.

        A bias entry is exactly 0 after training only where ``ExactZeros`` emptied
        the filter; held there, the dead filter keeps outputting ``activation(0)``
        and stays removable.
        """
        masks = []
        for variable in model.trainable_weights:
            if variable.name not in _HELD_WEIGHTS:
                continue
            keep = ops.convert_to_numpy(variable) != 0
            if not keep.all():
                masks.append((variable, keep))
        return cls(masks)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        sync_weights(self)
        if self.masks:
            self._compiled_update()

    def _hold(self) -> None:
        for variable, keep in self.masks:
            value = ops.convert_to_tensor(variable)
            variable.assign(ops.where(keep, value, ops.zeros((), variable.dtype)))


def remove_weight_penalties(model: keras.Model) -> int:
    """Drop every penalty on ``model``'s weights, so training stops paying it.

    That is each weight's regularizer and each ``CrossLayer``'s (the coupled group
    norms). Activity regularizers (penalties on outputs) are kept. Keras traces the
    penalties into the train and test functions, so both are rebuilt: the
    validation loss of the epochs that follow is then the data loss too.

    Returns:
        How many penalties were dropped.
    """
    owners = list(weight_penalty_owners(model))
    for owner in owners:
        owner.regularizer = None
    if owners:
        model.make_train_function(force=True)
        model.make_test_function(force=True)
    return len(owners)


def scale_learning_rate(optimizer: keras.optimizers.Optimizer, scale: float) -> None:
    """Multiply the optimizer's learning rate by ``scale``, unless it is a schedule."""
    # A LearningRateSchedule's rate is not settable (TypeError): it is left as it is.
    with contextlib.suppress(TypeError):
        optimizer.learning_rate = float(optimizer.learning_rate) * scale
