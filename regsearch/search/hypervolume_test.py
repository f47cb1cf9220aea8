"""Hypervolume of a front: the exact volume against hand-computed cases."""

import pytest

from regsearch.search._hypervolume import _reference, dominated_volume


def test_two_objectives_match_the_hand_computed_staircase():
    # Minimized points (1, 3), (2, 1), (3, 2) against reference (4, 4); (3, 2) is
    # dominated by (2, 1). By columns: x in [1, 2) covers y in [3, 4) -> 1 * 1 = 1;
    # x in [2, 4) covers y in [1, 4) -> 2 * 3 = 6. Total 7.
    assert dominated_volume([(1, 3), (2, 1), (3, 2)], (4, 4)) == pytest.approx(7.0)


def test_points_outside_the_reference_add_nothing():
    assert dominated_volume([(5, 0), (0, 5)], (4, 4)) == 0.0
    assert dominated_volume([(1, 1), (5, 0)], (4, 4)) == pytest.approx(9.0)
    assert dominated_volume([], (1, 1)) == 0.0


def test_three_objectives_union_of_two_boxes():
    # Boxes [1,2]^3 -> volume of (1,1,1) up to (2,2,2) is 1; (0,0,1.5) adds 2*2*0.5 = 2,
    # minus the overlap [1,2]x[1,2]x[1.5,2] = 0.5: 1 + 2 - 0.5 = 2.5.
    assert dominated_volume([(1, 1, 1), (0, 0, 1.5)], (2, 2, 2)) == pytest.approx(2.5)


def test_default_reference_is_the_worst_value_pushed_ten_percent_further():
    points = [(-0.9, 100.0), (-0.5, 50.0)]  # (negated accuracy, MACs)
    assert _reference(points, None, [-1.0, 1.0]) == pytest.approx((-0.45, 110.0))
    assert _reference(points, (0.0, 200.0), [-1.0, 1.0]) == (-0.0, 200.0)
    with pytest.raises(ValueError, match="one finite number per objective"):
        _reference(points, (0.0,), [-1.0, 1.0])
