"""The thin base class shared by regsearch's regularizers."""

from __future__ import annotations

from typing import Any

import keras

from regsearch._validation import check_float


class Regularizer(keras.regularizers.Regularizer):
    """A Keras regularizer with a validated, non-negative ``strength``.

    Subclasses implement ``__call__`` and extend ``get_config`` with their own
    arguments; ``from_config`` is inherited from Keras (``cls(**config)``).

    Args:
        strength: Non-negative, finite multiplier of the penalty.

    Raises:
        TypeError: if ``strength`` is not a real number.
        ValueError: if ``strength`` is negative, NaN or infinite.
    """

    def __init__(self, strength: float) -> None:
        self.strength = check_float("strength", strength)

    def get_config(self) -> dict[str, Any]:
        return {"strength": self.strength}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"
