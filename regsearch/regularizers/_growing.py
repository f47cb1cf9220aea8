"""Growing: a penalty whose strength grows over the epochs (growing regularization)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from regsearch._validation import check_choice, check_float, check_int
from regsearch.regularizers._get import get

SCHEDULES = ("multiplicative", "linear")


@keras.saving.register_keras_serializable(package="regsearch")
class Growing(keras.regularizers.Regularizer):
    """Wrap a regularizer so that its penalty grows over the epochs, up to a ceiling.

    Growing regularization (Wang et al., "Neural Pruning via Growing
    Regularization", ICLR 2021): a penalty that starts weak and grows lets the
    weights the data needs move out of its way while it is small, so that what it
    finally empties is what the data used least, where a penalty at full strength
    from the first step empties whatever was small at initialization.

    The penalty is ``multiplier x regularizer(weight)``. The multiplier is held in
    a non-trainable ``keras.Variable`` (``multiplier``) and set before each
    epoch by the callback ``regsearch.search.GrowRegularizers`` (which
    ``RegSearchHyperModel`` adds by itself when the model has a ``Growing``
    penalty). Before epoch ``e`` (counted from 0, as ``model.fit`` counts) it is

    - ``"multiplicative"``: ``min(ceiling, start x growth ** e)``,
    - ``"linear"``: ``min(ceiling, start + growth x e)`` (the paper's schedule:
      a constant increment at regular intervals),

    so the wrapped regularizer's own strength is reached at ``multiplier = 1`` and
    the default ``ceiling=1.0`` stops there; a larger ceiling keeps growing past it.
    Without the callback the multiplier stays where it is (``start`` when built).

    The wrapped regularizer is what the rest of regsearch reads: ``ExactZeros``
    snaps the groups it empties, ``relative_strength`` calibrates its strength
    (the penalty at ``multiplier = 1``), ``trim`` removes what it emptied.

    Args:
        regularizer: The penalty to grow: a regularizer instance, a name or a
            config (anything ``regsearch.regularizers.get`` resolves), other
            than another ``Growing``.
        start: The multiplier before the first epoch, > 0.
        growth: ``"multiplicative"``: the factor per epoch, > 1; ``"linear"``: the
            increment per epoch, > 0.
        schedule: ``"multiplicative"`` or ``"linear"``.
        ceiling: The largest multiplier, >= ``start``.
        multiplier: The multiplier now, > 0 (a saved config carries it); ``None``:
            ``start``.

    Raises:
        TypeError: if a number argument is not a real number, or ``regularizer``
            cannot be resolved.
        ValueError: for an argument out of range, an unknown ``schedule``,
            ``regularizer=None`` or a ``Growing`` regularizer.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import Growing, StructuredSparsity
        >>> penalty = Growing(StructuredSparsity(1e-3), start=0.1, growth=2.0)
        >>> [penalty.multiplier_at(epoch) for epoch in range(5)]
        [0.1, 0.2, 0.4, 0.8, 1.0]
        >>> layer = keras.layers.Conv2D(8, 3, kernel_regularizer=penalty)
    """

    def __init__(
        self,
        regularizer: Any = "structured_sparsity",
        *,
        start: float = 0.1,
        growth: float = 1.5,
        schedule: str = "multiplicative",
        ceiling: float = 1.0,
        multiplier: float | None = None,
    ) -> None:
        self.regularizer = _resolve(regularizer)
        self.start = check_float("start", start, exclusive_minimum=True)
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        self.growth = check_float("growth", growth, exclusive_minimum=True)
        if self.schedule == "multiplicative" and self.growth <= 1.0:
            raise ValueError(
                f"Argument `growth` must be > 1 with schedule='multiplicative' (the factor "
                f"per epoch); received {growth!r}. Pass e.g. growth=1.5, or "
                "schedule='linear' to add `growth` per epoch."
            )
        self.ceiling = check_float("ceiling", ceiling, exclusive_minimum=True)
        if self.ceiling < self.start:
            raise ValueError(
                f"Argument `ceiling` must be >= `start` ({self.start!r}); received {ceiling!r}."
            )
        value = (
            self.start
            if multiplier is None
            else check_float("multiplier", multiplier, exclusive_minimum=True)
        )
        self.multiplier = keras.Variable(
            value, trainable=False, dtype="float32", name="growing_multiplier"
        )

    def multiplier_at(self, epoch: int) -> float:
        """The multiplier the schedule gives before ``epoch`` (counted from 0)."""
        epoch = check_int("epoch", epoch, minimum=0)
        if self.schedule == "linear":
            return min(self.ceiling, self.start + self.growth * epoch)
        if epoch * math.log(self.growth) >= math.log(self.ceiling / self.start):
            return self.ceiling  # (and no overflow of growth ** epoch)
        return min(self.ceiling, self.start * self.growth**epoch)

    def current(self) -> float:
        """The multiplier now (the shortest decimal of its float32 value)."""
        return float(str(ops.convert_to_numpy(self.multiplier)))

    def set_epoch(self, epoch: int) -> bool:
        """Set the multiplier for ``epoch``; return whether its value changed."""
        value = self.multiplier_at(epoch)
        if math.isclose(value, self.current(), rel_tol=1e-6):
            return False
        self.multiplier.assign(value)
        return True

    def __call__(self, x: Any) -> Any:
        return ops.cast(self.multiplier, x.dtype) * self.regularizer(x)

    def get_config(self) -> dict[str, Any]:
        return {
            "regularizer": keras.saving.serialize_keras_object(self.regularizer),
            "start": self.start,
            "growth": self.growth,
            "schedule": self.schedule,
            "ceiling": self.ceiling,
            "multiplier": self.current(),
        }

    def __repr__(self) -> str:
        return (
            f"Growing({self.regularizer!r}, start={self.start!r}, growth={self.growth!r}, "
            f"schedule={self.schedule!r}, ceiling={self.ceiling!r}, "
            f"multiplier={self.current()!r})"
        )


def _resolve(regularizer: Any) -> Any:
    """The regularizer to grow: anything ``regularizers.get`` resolves, but not ``None``."""
    resolved = get(regularizer)
    if resolved is None:
        raise ValueError(
            f"Argument `regularizer` must name the penalty to grow; received {regularizer!r}."
        )
    if isinstance(resolved, Growing):
        raise ValueError(
            f"Argument `regularizer` must not be a Growing regularizer; received {resolved!r}. "
            "Wrap the inner penalty once and set `growth` to the combined rate."
        )
    return resolved
