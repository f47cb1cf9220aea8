"""Turn weight penalties off inside compiled train steps, without tracing them again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from regsearch.search._walk import weight_penalty_owners


class _Switched:
    """A weight penalty times a switch that the compiled train and test steps read."""

    def __init__(self, penalty: Callable[[Any], Any], on: keras.Variable) -> None:
        self.penalty = penalty
        self.on = on

    def __call__(self, x: Any) -> Any:
        return ops.cast(self.on, x.dtype) * self.penalty(x)


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
        """Whether this backend's compiled steps read the switch at every call."""
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


def unswitched(penalty: Any) -> Any:
    """The penalty inside a ``PenaltySwitch`` wrapper, or ``penalty`` itself."""
    return penalty.penalty if isinstance(penalty, _Switched) else penalty
