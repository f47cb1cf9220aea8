"""Non-dominated sorting: the order in which a multi-objective successive halving promotes.

MO-ASHA (Schmucker et al., "Multi-objective asynchronous successive halving",
2021) promotes candidates by non-dominated sorting instead of one scalar score:
the Pareto front first, then the front of what remains, and so on; within a front
ties are broken by NSGA-II's crowding distance or by an epsilon-net (the point
farthest from those already picked first), so that the promoted candidates spread
along the front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from regsearch._validation import check_choice

TIE_BREAKS = ("crowding", "epsilon_net")


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated_fronts(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """The indices of ``points`` (every objective minimized) front by front.

    The first list is the Pareto front, the second the front of the points left
    once it is removed, and so on; equal points share a front.

    Examples:
        >>> nondominated_fronts([(1, 3), (2, 2), (3, 1), (2, 3), (3, 3)])
        [[0, 1, 2], [3], [4]]
    """
    left = list(range(len(points)))
    fronts = []
    while left:
        front = [i for i in left if not any(_dominates(points[j], points[i]) for j in left)]
        fronts.append(front)
        left = [i for i in left if i not in front]
    return fronts


def _spans(points: Sequence[Sequence[float]], front: Sequence[int]) -> list[float]:
    """Each objective's range over ``front`` (1 where it is flat, so nothing divides by 0)."""
    spans = []
    for k in range(len(points[front[0]])):
        values = [points[i][k] for i in front]
        spans.append((max(values) - min(values)) or 1.0)
    return spans


def crowding_distances(points: Sequence[Sequence[float]], front: Sequence[int]) -> list[float]:
    """NSGA-II's crowding distance of each member of ``front`` (infinite at the ends).

    A point equal to an earlier member of the front has distance 0.

    Examples:
        >>> crowding_distances([(0, 4), (1, 3), (3, 1), (4, 0)], [0, 1, 2, 3])
        [inf, 1.5, 1.5, inf]
    """
    distance = dict.fromkeys(front, 0.0)
    # A point equal to an earlier one adds no spread: it keeps distance 0.
    unique = list({tuple(points[i]): i for i in reversed(front)}.values())[::-1]
    if len(unique) <= 2:
        return [math.inf if i in unique else 0.0 for i in front]
    spans = _spans(points, unique)
    for k, span in enumerate(spans):
        ordered = sorted(unique, key=lambda i: (points[i][k], i))
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        for before, i, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[i] += (points[after][k] - points[before][k]) / span
    return [distance[i] for i in front]


def _epsilon_net(points: Sequence[Sequence[float]], front: list[int]) -> list[int]:
    """``front`` in epsilon-net order: best first objective, then farthest from those picked."""
    spans = _spans(points, front)

    def scaled(i: int) -> list[float]:
        return [p / s for p, s in zip(points[i], spans)]

    def gap(i: int, j: int) -> float:
        return math.dist(scaled(i), scaled(j))

    order = [min(front, key=lambda i: (tuple(points[i]), i))]
    left = [i for i in front if i != order[0]]
    while left:
        far = max(left, key=lambda i: (min(gap(i, j) for j in order), -i))
        order.append(far)
        left.remove(far)
    return order


def nondominated_order(
    points: Sequence[Sequence[float] | None], *, tie_break: str = "crowding"
) -> list[int]:
    """The indices of ``points`` (every objective minimized) best first, as MO-ASHA ranks.

    Front by front (``nondominated_fronts``); within a front by decreasing crowding
    distance (``tie_break="crowding"``, ends of the front first) or in epsilon-net
    order (``"epsilon_net"``: the best point in the first objective, then each time
    the point farthest, in objectives scaled to the front's range, from those
    already ordered). Exact ties keep index order. A ``None`` point, or one with a
    non-finite value, comes last.

    Args:
        points: One tuple of objective values per candidate, all to be minimized
            (negate an objective to maximize), or ``None`` for a candidate that
            has none.
        tie_break: ``"crowding"`` or ``"epsilon_net"``.

    Returns:
        A permutation of ``range(len(points))``.

    Examples:
        >>> # (-accuracy, MACs): 0.90 at 50, 0.95 at 60, 0.80 at 10, 0.85 at 70, one failed
        >>> nondominated_order([(-0.90, 50), (-0.95, 60), (-0.80, 10), (-0.85, 70), None])
        [1, 2, 0, 3, 4]
    """
    tie_break = check_choice("tie_break", tie_break, TIE_BREAKS)
    valid = [
        i for i, p in enumerate(points) if p is not None and all(math.isfinite(float(v)) for v in p)
    ]
    if len({len(points[i]) for i in valid}) > 1:  # type: ignore[arg-type]
        raise ValueError(
            f"Argument `points` must hold points with the same number of objectives; "
            f"received lengths {sorted({len(points[i]) for i in valid})}."  # type: ignore[arg-type]
        )
    finite = [tuple(float(v) for v in points[i]) for i in valid]  # type: ignore[union-attr]
    order: list[int] = []
    for front in nondominated_fronts(finite):
        if tie_break == "crowding":
            distances = crowding_distances(finite, front)
            ranked = [i for _, i in sorted(zip(distances, front), key=lambda d: (-d[0], d[1]))]
        else:
            ranked = _epsilon_net(finite, front)
        order.extend(valid[i] for i in ranked)
    return order + [i for i in range(len(points)) if i not in set(valid)]
