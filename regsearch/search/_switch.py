"""Turn penalties off and on inside compiled train steps, without tracing them again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from regsearch.regularizers import Growing, Regularizer
from regsearch.search._walk import penalty_slots, weight_penalty_owners


class _Switched:
    """A penalty times a switch that the compiled train and test steps read.

    With ``strength``, a variable holding the strength of the regsearch regularizer
    inside ``penalty``: the step then reads the strength from it, so a strength
    calibrated after the step was traced counts without tracing it again.
    """

    def __init__(
        self, penalty: Callable[[Any], Any], on: keras.Variable, strength: bool = False
    ) -> None:
        self.penalty = penalty
        self.on = on
        self.strength = None
        regularizer = _calibrated(penalty) if strength else None
        if regularizer is not None:
            self.strength = keras.Variable(
                regularizer.strength, trainable=False, name="penalty_strength"
            )

    def __call__(self, x: Any) -> Any:
        value = ops.cast(self.on, x.dtype) * self.penalty(x)
        regularizer = None if self.strength is None else _calibrated(self.penalty)
        if regularizer is None:
            return value
        # The strength traced into ``value`` as a constant is replaced by the variable's.
        return value * (ops.cast(self.strength, x.dtype) / regularizer.strength)

    def follow_strength(self) -> None:
        """Set the strength variable to the regularizer's strength now."""
        regularizer = _calibrated(self.penalty)
        if self.strength is not None and regularizer is not None:
            self.strength.assign(regularizer.strength)


def _calibrated(penalty: Any) -> Regularizer | None:
    """The regsearch regularizer whose strength calibration sets, if it is not 0."""
    inner = inner_penalty(penalty)
    return inner if isinstance(inner, Regularizer) and inner.strength > 0 else None


class PenaltySwitch:
    """Turn a model's weight penalties off without tracing its train and test steps again.

    ``remove_weight_penalties`` makes Keras trace both steps anew, which on a large
    model (a MobileNetV2) costs more than an epoch. On TensorFlow the steps read a
    variable at every call, so a penalty multiplied by one is turned off by setting it
    to 0. Building the switch wraps every weight penalty of ``model`` (do it before
    the steps are first traced); ``turn_off`` sets it to 0 and takes the penalties off
    the weights, as ``remove_weight_penalties`` does. Other backends compile the
    variable's value into the step, so ``available()`` is ``False`` there.

    Args:
        model: The model whose weight penalties (each weight's ``regularizer`` and
            each ``CrossLayer``'s) to wrap.
    """

    def __init__(self, model: keras.Model) -> None:
        self.on = keras.Variable(1.0, trainable=False, name="penalty_switch")
        self._switched: list[tuple[Any, Any]] = []
        for owner in list(weight_penalty_owners(model)):
            self._switched.append((owner, owner.regularizer))
            owner.regularizer = _Switched(owner.regularizer, self.on)

    @staticmethod
    def available() -> bool:
        """Whether this backend's compiled steps read a variable at every call."""
        return keras.backend.backend() == "tensorflow"

    def restore(self) -> None:
        """Put the penalties back as they were, switched on."""
        self.on.assign(1.0)
        for owner, penalty in self._switched:
            owner.regularizer = penalty

    def turn_off(self) -> int:
        """Stop every penalty from counting; return how many weights had one."""
        self.on.assign(0.0)
        for owner, _ in self._switched:
            owner.regularizer = None
        return len(self._switched)


class PenaltyHold:
    """Hold every penalty of a model at 0 inside its compiled steps, until ``release``.

    What ``PenaltyWarmup`` does on TensorFlow: each weight penalty (``CrossLayer``
    ones included) and each activity regularizer is wrapped, so that the train and
    test steps traced while they are held read a switch at 0 and, for a regsearch
    regularizer, its strength from a variable. ``release`` turns the switch on and
    puts the penalties back as they were; ``follow_strengths`` then carries strengths
    changed since (a calibration) into the steps. Neither traces the steps again.

    Args:
        model: The model whose penalties to hold. Its train and test steps must be
            traced after this (``make_train_function(force=True)``).
    """

    def __init__(self, model: keras.Model) -> None:
        self.on = keras.Variable(0.0, trainable=False, name="penalty_hold")
        self._held: list[tuple[Any, str, _Switched]] = []
        for owner, attribute in penalty_slots(model):
            wrapper = _Switched(getattr(owner, attribute), self.on, strength=True)
            self._held.append((owner, attribute, wrapper))
            setattr(owner, attribute, wrapper)

    def __len__(self) -> int:
        return len(self._held)

    def release(self) -> None:
        """Turn the penalties on, and put them back on the model as they were."""
        self.on.assign(1.0)
        for owner, attribute, wrapper in self._held:
            setattr(owner, attribute, wrapper.penalty)

    def follow_strengths(self) -> None:
        """Carry each regsearch regularizer's strength now into the traced steps."""
        for _, _, wrapper in self._held:
            wrapper.follow_strength()


def unswitched(penalty: Any) -> Any:
    """The penalty inside any ``PenaltySwitch`` or ``PenaltyHold`` wrappers, or ``penalty``."""
    while isinstance(penalty, _Switched):
        penalty = penalty.penalty
    return penalty


def inner_penalty(penalty: Any) -> Any:
    """The penalty that counts: inside any switch wrappers and a ``Growing``."""
    penalty = unswitched(penalty)
    return penalty.regularizer if isinstance(penalty, Growing) else penalty
