"""Hold a model's penalties off until the data loss leaves its initial plateau."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from regsearch._validation import check_float, check_int
from regsearch.search._switch import PenaltyHold, PenaltySwitch
from regsearch.search._walk import penalty_slots


class PenaltyWarmup(keras.callbacks.Callback):
    """Train without the model's penalties until the data loss starts to fall.

    A model trained from scratch often sits on a plateau for its first epochs: the
    data loss stays at its initial value (``ln(classes)`` for a classifier) and its
    gradient is small, so nothing opposes a sparsity penalty, which then empties
    whole layers before the data has used them. How long the plateau lasts depends
    on the task, not on the penalty, so no fixed strength or schedule avoids it on
    every task. This callback detaches every penalty of the model (weight
    regularizers, activity regularizers and ``CrossLayer`` penalties) when
    training begins, and attaches them again, from the next epoch on, after the
    first epoch whose mean training loss is at most ``1 - min_drop`` times the
    loss of the first batch. The penalties are attached again when training ends,
    whatever happened. On TensorFlow the train and test steps are traced once, with
    the penalties behind a switch that starts them (``on_start`` and a calibration
    there included) without tracing again; other backends trace them again then.

    ``RegSearchHyperModel`` adds it by itself to trials that start from fresh
    weights (``penalty_warmup``), and calibrates relative strengths
    (``SearchSpace(relative_strength=...)``) when the penalties start, on the
    model as it is then. A ``GrowRegularizers`` given this callback counts its
    schedule from the epoch the penalties start.

    Args:
        min_drop: The fraction, in (0, 1), by which the mean training loss of an
            epoch must fall below the first batch's loss for the penalties to
            start.
        max_epochs: Start the penalties after at most this many epochs whatever
            the loss does, >= 0; ``None`` (default): wait as long as it takes (a
            model that never learns is then never penalized).
        on_start: Called with the model when the penalties start, after they are
            attached again.

    Attributes:
        started_at: The first epoch trained with the penalties, or ``None`` while
            they are held off.

    Examples:
        >>> import keras, numpy as np, regsearch
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        ...     1, kernel_regularizer="l2")])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> warmup = regsearch.search.PenaltyWarmup()
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        >>> _ = model.fit(x, x.sum(axis=1), epochs=3, verbose=0, callbacks=[warmup])
        >>> warmup.started_at
        1
    """

    def __init__(
        self,
        min_drop: float = 0.1,
        *,
        max_epochs: int | None = None,
        on_start: Callable[[keras.Model], object] | None = None,
    ) -> None:
        super().__init__()
        self.min_drop = check_float("min_drop", min_drop, exclusive_minimum=True, maximum=1.0)
        if self.min_drop == 1.0:
            raise ValueError(f"Argument `min_drop` must be < 1; received {min_drop!r}.")
        self.max_epochs = (
            None if max_epochs is None else check_int("max_epochs", max_epochs, minimum=0)
        )
        self.on_start = on_start
        self.started_at: int | None = None
        self._detached: list[tuple[Any, str, Any]] = []
        self._hold: PenaltyHold | None = None
        self._first_loss: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.started_at, self._first_loss = None, None
        if self.max_epochs == 0:
            self._start_penalties(0)
            return
        if PenaltySwitch.available():
            self._hold = PenaltyHold(self.model) or None
            held = self._hold is not None
        else:
            self._detached = _detach_penalties(self.model)
            held = bool(self._detached)
        if held:  # steps traced before (an earlier fit) hold the penalties as they were
            _rebuild_step_functions(self.model)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._first_loss is None and logs and "loss" in logs:
            self._first_loss = float(logs["loss"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.started_at is not None:
            return
        loss = (logs or {}).get("loss")
        fell = (
            loss is not None
            and self._first_loss is not None
            and float(loss) <= (1.0 - self.min_drop) * self._first_loss
        )
        if fell or (self.max_epochs is not None and epoch + 1 >= self.max_epochs):
            self._start_penalties(epoch + 1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._attach()

    def _start_penalties(self, epoch: int) -> None:
        self.started_at = epoch
        hold = self._hold
        self._attach()
        if self.on_start is not None:
            self.on_start(self.model)
        if hold is not None:
            hold.follow_strengths()

    def _attach(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None
        if not self._detached:
            return
        for owner, attribute, penalty in self._detached:
            setattr(owner, attribute, penalty)
        self._detached = []
        _rebuild_step_functions(self.model)


def _rebuild_step_functions(model: keras.Model) -> None:
    """Retrace the train and test steps: Keras traces the penalties into them."""
    model.make_train_function(force=True)
    model.make_test_function(force=True)


def _detach_penalties(model: keras.Model) -> list[tuple[Any, str, Any]]:
    """Set every penalty of ``model`` to ``None``; return ``(owner, attribute, penalty)``."""
    detached = [(owner, name, getattr(owner, name)) for owner, name in penalty_slots(model)]
    for owner, attribute, _ in detached:
        setattr(owner, attribute, None)
    return detached
