"""Non-dominated sorting, crowding distance and epsilon-net order on hand-made points."""

from __future__ import annotations

import math

import pytest

from regsearch.oracles import nondominated_order
from regsearch.oracles._ranking import crowding_distances, nondominated_fronts


def test_fronts_peel_the_pareto_front_off_first():
    points = [(1, 3), (2, 2), (3, 1), (2, 3), (3, 3), (1, 3)]
    assert nondominated_fronts(points) == [[0, 1, 2, 5], [3], [4]]


def test_crowding_distance_puts_the_ends_and_isolated_points_first():
    # a front of 5 along x + y = 4 (minimize both); (2.5, 1.5) crowds the right side.
    points = [(0.0, 4.0), (1.0, 3.0), (2.5, 1.5), (3.0, 1.0), (4.0, 0.0)]
    distances = crowding_distances(points, [0, 1, 2, 3, 4])
    assert distances[0] == distances[4] == math.inf
    assert distances[1] > distances[2] > distances[3]
    assert nondominated_order(points) == [0, 4, 1, 2, 3]


def test_dominated_points_come_after_the_whole_front_whatever_their_spread():
    # (-accuracy, size): trial 3 is accurate but dominated by trial 1, and dominates
    # trial 0; trial 4 has no values, trial 5 a NaN.
    points = [(-0.90, 50.0), (-0.95, 40.0), (-0.80, 10.0), (-0.94, 45.0), None, (-0.5, math.nan)]
    assert nondominated_order(points) == [1, 2, 3, 0, 4, 5]


def test_epsilon_net_starts_at_the_best_first_objective_then_takes_the_farthest():
    points = [(1.0, 3.0), (0.0, 4.0), (2.0, 2.0), (4.0, 0.0), (3.0, 1.0)]
    assert nondominated_order(points, tie_break="epsilon_net") == [1, 3, 2, 0, 4]
    assert nondominated_order(points) == [1, 3, 0, 2, 4]


def test_ties_and_one_point_keep_index_order():
    assert nondominated_order([(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]) == [0, 1, 2]
    assert nondominated_order([(0.0, 2.0), (2.0, 0.0), (0.0, 2.0), (1.0, 1.0)]) == [0, 1, 3, 2]
    assert nondominated_order([(5.0,)]) == [0]
    assert nondominated_order([]) == []


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="tie_break"):
        nondominated_order([(1.0, 2.0)], tie_break="hypervolume")
    with pytest.raises(ValueError, match="same number of objectives"):
        nondominated_order([(1.0, 2.0), (1.0,)])
