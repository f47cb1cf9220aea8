"""Hypervolume of a search's Pareto front: one number for how good the front is."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras_tuner

from regsearch.search._results import _check_tuner, _rows, front_points, objective_keys, usable

# How far past the worst finished trial the default reference point lies.
REFERENCE_MARGIN = 0.1


def dominated_volume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume that ``points`` dominate up to ``reference``, every objective minimized.

    Exact, by slicing along the first objective (each slab between two
    consecutive values holds the front of the points up to it, one dimension
    lower). Points that do not beat ``reference`` on every objective add nothing.
    Optuna computes the same quantity, but only in a private module.

    Examples:
        >>> dominated_volume([(1.0, 3.0), (2.0, 1.0)], reference=(4.0, 4.0))
        7.0
    """
    inside = [tuple(p) for p in points if all(a < r for a, r in zip(p, reference))]
    if not inside:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in inside)
    inside.sort()
    volume = 0.0
    for index, point in enumerate(inside):
        upper = inside[index + 1][0] if index + 1 < len(inside) else reference[0]
        if upper > point[0]:
            slab = [p[1:] for p in inside[: index + 1]]
            volume += (upper - point[0]) * dominated_volume(slab, reference[1:])
    return volume


def _signed_points(
    tuner: keras_tuner.Tuner, objectives: Sequence[str]
) -> tuple[list[tuple[float, ...]], list[str], list[float]]:
    """The finished trials as minimized points (maximized metrics negated), in end order,
    their trial ids, and each objective's sign. A trial over a size budget is a point at
    infinity: it adds nothing (and is left out of the default reference)."""
    rows = [row for row in _rows(tuner) if row["status"] == "COMPLETED"]
    keys = objective_keys(objectives, rows)
    order = {trial_id: i for i, trial_id in enumerate(tuner.oracle.end_order)}
    rows.sort(key=lambda row: order.get(row["trial_id"], len(order)))
    points = [
        front_points(row, keys) if usable(row) else tuple(math.inf for _ in keys) for row in rows
    ]
    return points, [row["trial_id"] for row in rows], [sign for _, sign in keys]


def _reference(
    points: list[tuple[float, ...]], reference: Sequence[float] | None, signs: list[float]
) -> tuple[float, ...]:
    if reference is not None:
        if len(reference) != len(signs) or not all(
            isinstance(r, (int, float)) and math.isfinite(r) for r in reference
        ):
            raise ValueError(
                f"Argument `reference` must hold one finite number per objective "
                f"({len(signs)}); received {reference!r}."
            )
        return tuple(sign * r for sign, r in zip(signs, reference))
    finite = [p for p in points if all(math.isfinite(v) for v in p)]
    if not finite:
        return tuple(math.inf for _ in signs)
    worst = [max(p[i] for p in finite) for i in range(len(signs))]
    return tuple(w + REFERENCE_MARGIN * abs(w) for w in worst)


def hypervolume(
    tuner: keras_tuner.Tuner,
    objectives: Sequence[str] = ("val_accuracy", "trimmed_macs"),
    reference: Sequence[float] | None = None,
) -> float:
    """The hypervolume of the finished trials' Pareto front.

    The volume of objective space that the front dominates, bounded by a
    reference point: larger is better, and it grows with every trial that
    moves the front. Trials over a size budget of the ``regsearch.Objective``
    count for nothing. It compares searches of the same problem only when they
    use the same reference point.

    Args:
        tuner: The tuner of a regsearch search (any keras-tuner tuner).
        objectives: Two or more metric names, as for ``pareto_front``.
        reference: The reference point, one value per objective in the metrics'
            own units (for example ``(0.0, untrimmed_macs)``). The default is the
            worst value any finished trial reached on each objective, moved 10%
            of its magnitude further (so that the front's extreme trials count):
            fine within one search, but pass a fixed point to compare searches.

    Returns:
        The hypervolume (0.0 when no trial finished), in the product of the
        objectives' units.

    Examples:
        >>> regsearch.hypervolume(tuner, ("val_accuracy", "trimmed_macs"),  # doctest: +SKIP
        ...                       reference=(0.0, 20_000))
    """
    points, _, signs = _signed_points(_check_tuner(tuner), objectives)
    return dominated_volume(points, _reference(points, reference, signs))


def hypervolume_history(
    tuner: keras_tuner.Tuner,
    objectives: Sequence[str] = ("val_accuracy", "trimmed_macs"),
    reference: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    """``(trial_id, hypervolume)`` after each finished trial, in the order they ended.

    The reference point is the same for every step (the default is computed
    from all finished trials, as in ``hypervolume``).
    """
    points, trial_ids, signs = _signed_points(_check_tuner(tuner), objectives)
    fixed = _reference(points, reference, signs)
    return [
        (trial_id, dominated_volume(points[: index + 1], fixed))
        for index, trial_id in enumerate(trial_ids)
    ]
