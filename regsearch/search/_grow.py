"""Grow the multipliers of a model's ``Growing`` penalties as the epochs go by."""

from __future__ import annotations

from typing import Any

import keras

from regsearch.layers import CrossLayer
from regsearch.regularizers import Growing
from regsearch.search._switch import unswitched
from regsearch.search._walk import nested_layers
from regsearch.search._warmup import PenaltyWarmup


def growing_regularizers(model: keras.Model) -> list[Growing]:
    """Every ``Growing`` penalty of ``model``: on its weights, activities and ``CrossLayer``\\ s."""
    candidates = [getattr(variable, "regularizer", None) for variable in model.weights]
    for layer in nested_layers(model):
        candidates.append(getattr(layer, "activity_regularizer", None))
        if isinstance(layer, CrossLayer):
            candidates.append(layer.regularizer)
    found: dict[int, Growing] = {}
    for candidate in map(unswitched, candidates):
        if isinstance(candidate, Growing):
            found.setdefault(id(candidate), candidate)
    return list(found.values())


class GrowRegularizers(keras.callbacks.Callback):
    """Before every epoch, set each ``Growing`` penalty's multiplier from its schedule.

    Like ``keras.callbacks.LearningRateScheduler``, it reads the epoch index ``fit``
    reports, so a ``fit(..., initial_epoch=e)`` that resumes a training picks the
    schedule up at epoch ``e``, and a new ``fit`` from epoch 0 starts it over.
    ``RegSearchHyperModel`` adds it by itself to the trials whose model has a
    ``Growing`` penalty.

    On the JAX backend the compiled train step holds the multiplier's value as a
    constant (only the model's own variables are inputs to it), so when a
    multiplier changes the train and test functions are rebuilt, once per change:
    a schedule capped by its ceiling stops changing, and stops rebuilding, when it
    reaches it. TensorFlow's compiled step reads the variable itself.

    With ``warmup``, a ``PenaltyWarmup`` that holds the penalties off until the
    data loss falls, the schedule counts its epochs from the one where the
    penalties start, so each penalty starts at its ``start`` multiplier then.

    Args:
        warmup: The ``PenaltyWarmup`` training the model too, if any.

    Examples:
        >>> import keras, numpy as np, regsearch
        >>> from regsearch.regularizers import Growing
        >>> penalty = Growing("l2", start=0.25, growth=2.0)
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        ...     1, kernel_regularizer=penalty)])
        >>> model.compile("sgd", "mse")
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3, verbose=0,
        ...               callbacks=[regsearch.search.GrowRegularizers()])
        >>> penalty.current()  # before the third epoch: 0.25 * 2 ** 2
        1.0
    """

    def __init__(self, warmup: PenaltyWarmup | None = None) -> None:
        super().__init__()
        if warmup is not None and not isinstance(warmup, PenaltyWarmup):
            raise TypeError(
                f"Argument `warmup` must be a regsearch.search.PenaltyWarmup or None; "
                f"received {warmup!r}."
            )
        self.warmup = warmup

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.warmup is not None:
            if self.warmup.started_at is None:
                return  # the penalties are off: nothing to grow yet
            epoch -= self.warmup.started_at
        changed = [penalty.set_epoch(epoch) for penalty in growing_regularizers(self.model)]
        if any(changed) and keras.backend.backend() == "jax":
            self.model.make_train_function(force=True)
            self.model.make_test_function(force=True)
