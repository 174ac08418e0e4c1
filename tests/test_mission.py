"""core.mission: waypoint advance and goal reached; against the reference."""

from __future__ import annotations

import numpy as np
from helpers import props
from hypothesis import given
from hypothesis import strategies as st

from robo_orch.core import world as w
from robo_orch.core.mission import update_mission
from robo_orch.testing import naive


def make_world(points, tol=0.25):
    world = w.World(max_path=16)
    world.set_path(np.asarray(points, dtype=np.float64))
    world.state[w.GOAL_TOLERANCE] = tol
    return world


def at(world, x, y):
    world.state[w.X], world.state[w.Y] = x, y
    return update_mission(world.state, world.path)


def target(world):
    s = world.state
    return int(s[w.TARGET_INDEX]), s[w.TARGET_X], s[w.TARGET_Y]


def test_waypoints_advance_in_order_and_the_goal_is_reached_once():
    world = make_world([(1, 0), (2, 0), (2, 2)])
    assert at(world, 0.0, 0.0) == 0 and target(world) == (0, 1.0, 0.0)
    assert at(world, 0.8, 0.1) == 0 and target(world) == (1, 2.0, 0.0)
    assert at(world, 2.2, 2.2) == 0 and target(world) == (1, 2.0, 0.0)  # not in order
    assert at(world, 1.9, 0.0) == 0 and target(world) == (2, 2.0, 2.0)
    assert world.state[w.GOAL_REACHED] == 0.0
    assert at(world, 2.0, 1.8) == 1
    assert world.state[w.GOAL_REACHED] == 1.0 and target(world) == (2, 2.0, 2.0)
    assert at(world, 2.0, 2.0) == 0  # reported once
    assert at(world, 9.0, 9.0) == 0 and world.state[w.GOAL_REACHED] == 1.0
    assert target(world) == (2, 2.0, 2.0)


def test_tolerance_is_strict():
    world = make_world([(1, 0), (5, 0)], tol=0.5)
    assert at(world, 0.5, 0.0) == 0 and target(world)[0] == 0
    assert at(world, 0.51, 0.0) == 0 and target(world)[0] == 1


def test_several_waypoints_within_tolerance_advance_together():
    world = make_world([(0.1, 0), (0.2, 0), (3, 0)])
    assert at(world, 0.0, 0.0) == 0 and target(world) == (2, 3.0, 0.0)


def test_single_waypoint_goal():
    world = make_world([(0.0, 0.0)])
    assert at(world, 0.1, 0.0) == 1 and world.state[w.GOAL_REACHED] == 1.0


def test_empty_path_does_nothing():
    world = w.World(max_path=4)
    world.state[w.GOAL_TOLERANCE] = 1.0
    assert at(world, 0.0, 0.0) == 0
    assert world.state[w.GOAL_REACHED] == 0.0 and target(world) == (0, 0.0, 0.0)


def test_new_path_restarts_the_mission():
    world = make_world([(0.0, 0.0)])
    assert at(world, 0.0, 0.0) == 1
    world.set_path(np.array([[4.0, 0.0]]))
    assert at(world, 0.0, 0.0) == 0 and target(world) == (0, 4.0, 0.0)
    assert at(world, 4.0, 0.1) == 1


coord = st.floats(-3, 3, allow_nan=False)


@props(200)
@given(path=st.lists(st.tuples(coord, coord), min_size=1, max_size=8),
       poses=st.lists(st.tuples(coord, coord), min_size=1, max_size=20),
       tol=st.floats(0.05, 2.0))
def test_matches_reference(path, poses, tol):
    world = make_world(path, tol)
    ref_state = world.state.copy()
    for x, y in poses:
        ref_state[w.X], ref_state[w.Y] = x, y
        assert at(world, x, y) == naive.update_mission(ref_state, world.path)
        np.testing.assert_array_equal(world.state, ref_state)
