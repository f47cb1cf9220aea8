"""Argument checks shared by every public object.

Each check raises early with the argument's name, the value received, what was
expected and, where a name is close to a valid one, a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``; return it."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`: received {value!r}; expected one of "
            f"{choices}.{did_you_mean(value, choices)}"
        )
    return value


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """Check a finite real number within bounds; return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Argument `{name}` must be a real number; received {value!r} "
            f"of type {type(value).__name__}."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Argument `{name}` must be finite; received {value!r}.")
    if minimum is not None:
        too_small = value <= minimum if exclusive_minimum else value < minimum
        if too_small:
            relation = ">" if exclusive_minimum else ">="
            raise ValueError(f"Argument `{name}` must be {relation} {minimum}; received {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"Argument `{name}` must be <= {maximum}; received {value!r}.")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Check an integer (not a bool, not a float) with an optional lower bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            raise TypeError(
                f"Argument `{name}` must be an integer; received the float {value!r}. "
                f"Pass {int(value)} instead."
            )
        raise TypeError(
            f"Argument `{name}` must be an integer; received {value!r} "
            f"of type {type(value).__name__}."
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"Argument `{name}` must be >= {minimum}; received {value!r}.")
    return value


def check_patterns(argument: str, patterns: object) -> list[str]:
    """Normalize a pattern or a list/tuple of patterns to a list of str."""
    if isinstance(patterns, str):
        items = [patterns]
    elif isinstance(patterns, (list, tuple)):
        items = list(patterns)
    else:
        raise TypeError(
            f"Argument `{argument}` must be a glob pattern (str) or a list of them; "
            f"received {patterns!r} of type {type(patterns).__name__}."
        )
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError(
                f"Argument `{argument}`: every pattern must be a non-empty str; "
                f"received {item!r} in {patterns!r}."
            )
    if not items:
        raise ValueError(
            f"Argument `{argument}` must name at least one pattern; received {patterns!r}."
        )
    return items


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool, else a ``TypeError`` naming the argument."""
    if not isinstance(value, bool):
        raise TypeError(
            f"Argument `{name}` must be a bool (True or False); received {value!r} of type "
            f"{type(value).__name__}."
        )
    return value


def check_model(name: str, value: Any) -> keras.Model:
    """``value`` if it is a ``keras.Model``, else a ``TypeError`` naming the argument.

    Keras is imported on the first call, so that importing this module stays light.
    """
    import keras

    if not isinstance(value, keras.Model):
        raise TypeError(
            f"Argument `{name}` must be a keras.Model; received {value!r} of type "
            f"{type(value).__name__}."
        )
    return value
