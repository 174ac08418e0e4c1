"""Behavior kernels against their pure-Python references, and their intended behaviour."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from helpers import props
from hypothesis import given
from hypothesis import strategies as st

from robo_orch.behaviors import avoid_obstacles, follow_path, go_to_goal, plan_path, stop
from robo_orch.core import field as F
from robo_orch.core import world as wd
from robo_orch.core.world import World
from robo_orch.errors import ConfigError
from robo_orch.schema import build
from robo_orch.testing import naive_behaviors as naive

SETTINGS = props(20)
NO_IDX = np.zeros(0, dtype=np.int64)  # the built-in behaviors declare no user names
MODULES = {
    "go_to_goal": (go_to_goal, go_to_goal.GoToGoal, naive.go_to_goal_step),
    "avoid_obstacles": (avoid_obstacles, avoid_obstacles.AvoidObstacles,
                        naive.avoid_obstacles_step),
    "follow_path": (follow_path, follow_path.FollowPath, naive.follow_path_step),
    "stop": (stop, stop.Stop, naive.stop_step),
}


def make_world(pose=(0.0, 0.0, 0.0), speed=(0.0, 0.0), path=((4.0, 0.0),), points=()):
    """A world with a robot, a path and a distance field built from ``points``."""
    world = World(field_shape=(60, 60), field_resolution=0.1, field_cap=2.0)
    s = world.state
    s[wd.X], s[wd.Y], s[wd.YAW] = pose
    s[wd.V], s[wd.W] = speed
    s[wd.ROBOT_RADIUS], s[wd.GOAL_TOLERANCE], s[wd.DT] = 0.2, 0.25, 0.02
    world.set_path(np.asarray(path, dtype=float).reshape(-1, 2))
    rebuild(world, np.asarray(points, dtype=float).reshape(-1, 2))
    return world


def rebuild(world: World, points: np.ndarray) -> None:
    world.scan[: len(points)] = points
    world.state[wd.SCAN_COUNT] = len(points)
    F.build_field(world.scan, len(points), world.state[wd.X], world.state[wd.Y], world.state,
                  world.field, F.alloc_field_scratch(world.field.shape))


def disc(cx: float, cy: float, r: float, n: int = 48) -> np.ndarray:
    a = np.linspace(-np.pi, np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)


def run(name: str, world: World, params=None, state=None, reference=False):
    """Call the kernel (or its reference): (activation, out, state)."""
    module, cls, ref = MODULES[name]
    params = params if params is not None else module.Params()
    state = state if state is not None else cls.new_state(params)
    out = np.zeros(wd.OUT_LEN)
    fn = ref if reference else cls.kernel
    return fn(world.arrays, NO_IDX, cls.pack_params(params), state, out), out, state


@st.composite
def random_worlds(draw):
    return seeded_world(draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 120)),
                        draw(st.booleans()))


def seeded_world(seed: int, n: int, may_reach_goal: bool = False):
    """The world :func:`random_worlds` draws: a random pose, path, speeds and up to ``n``
    obstacle points from ``seed``."""
    rng = np.random.default_rng(seed)
    pose = (*rng.uniform(-0.5, 0.5, 2), rng.uniform(-math.pi, math.pi))
    path = rng.uniform(-3.0, 3.0, size=(int(rng.integers(1, 6)), 2))
    points = rng.uniform(-2.5, 2.5, size=(n, 2))
    points = points[np.hypot(points[:, 0] - pose[0], points[:, 1] - pose[1]) > 0.3]
    world = make_world(pose, (rng.uniform(-0.1, 0.8), rng.uniform(-2, 2)), path, points)
    world.state[wd.TARGET_INDEX] = rng.integers(0, len(path))
    world.state[wd.TARGET_X], world.state[wd.TARGET_Y] = path[int(world.state[wd.TARGET_INDEX])]
    world.state[wd.GOAL_REACHED] = float(may_reach_goal and rng.random() < 0.3)
    world.state[wd.ESTOP] = float(rng.random() < 0.2)
    return world


# --- every kernel against its reference --------------------------------------------


@SETTINGS
@given(world=random_worlds(), name=st.sampled_from(["go_to_goal", "follow_path", "stop"]))
def test_kernel_matches_reference(world, name):
    a, out, state = run(name, world)
    ra, rout, rstate = run(name, world, reference=True)
    assert a == pytest.approx(ra, abs=1e-9)
    np.testing.assert_allclose(out, rout, atol=1e-9)
    np.testing.assert_allclose(state, rstate, atol=1e-9)


@SETTINGS
@given(world=random_worlds())
def test_dwa_matches_reference_and_numpy(world):
    params = avoid_obstacles.Params(v_samples=9, w_samples=11, steps=20)
    a, out, _ = run("avoid_obstacles", world, params)
    ra, rout, _ = run("avoid_obstacles", world, params, reference=True)
    nout = np.zeros(wd.OUT_LEN)
    na = naive.dwa_numpy(world.arrays, NO_IDX,
                         avoid_obstacles.AvoidObstacles.pack_params(params), None, nout)
    assert a == pytest.approx(ra, abs=1e-9) and na == pytest.approx(ra, abs=1e-9)
    np.testing.assert_allclose(nout, rout, atol=1e-9)
    np.testing.assert_allclose(out[2], rout[2], atol=1e-9)  # best score
    if not np.allclose(out[:2], rout[:2], atol=1e-9):
        # only acceptable for a tie: the kernel's choice scores the same
        packed = avoid_obstacles.AvoidObstacles.pack_params(params)
        scores = naive.dwa_scores(world.arrays, packed)
        vs, ws_ = naive.dwa_window(world.state, packed)
        chosen = scores[int(np.argmin(np.abs(np.subtract(ws_, out[1])))),
                        int(np.argmin(np.abs(np.subtract(vs, out[0]))))]
        assert chosen == pytest.approx(scores.max(), abs=1e-9)


@SETTINGS
@given(world=random_worlds())
def test_dwa_stays_in_window_and_limits(world):
    params = avoid_obstacles.Params(v_samples=7, w_samples=7, steps=15)
    packed = avoid_obstacles.AvoidObstacles.pack_params(params)
    a, out, _ = run("avoid_obstacles", world, params)
    assert 0.0 <= a <= 1.0
    assert 0.0 <= out[wd.OUT_V] <= params.max_speed
    assert abs(out[wd.OUT_W]) <= params.max_yaw_rate
    if a > 0 and out[3] > 0 and out[2] != 0.0:  # a sample was chosen (not the recovery turn)
        vs, ws_ = naive.dwa_window(world.state, packed)
        assert vs[0] <= out[wd.OUT_V] <= vs[-1]
        assert ws_[0] <= out[wd.OUT_W] <= ws_[-1]


# --- go_to_goal --------------------------------------------------------------------


def test_go_to_goal_turns_toward_target():
    a, out, _ = run("go_to_goal", make_world(path=[(3.0, 1.0)]))
    assert a == 1.0 and out[wd.OUT_W] > 0.0 and out[wd.OUT_V] > 0.0
    _, out, _ = run("go_to_goal", make_world(path=[(3.0, -1.0)]))
    assert out[wd.OUT_W] < 0.0 and out[wd.OUT_V] > 0.0
    _, out, _ = run("go_to_goal", make_world(path=[(3.0, 0.0)]))
    assert out[wd.OUT_W] == 0.0 and out[wd.OUT_V] == pytest.approx(0.6)


def test_go_to_goal_rotates_in_place_behind():
    _, out, _ = run("go_to_goal", make_world(path=[(-3.0, 0.5)]))
    assert out[wd.OUT_V] == 0.0 and out[wd.OUT_W] == pytest.approx(1.5)


def test_go_to_goal_slows_near_goal_and_stops_when_done():
    _, far, _ = run("go_to_goal", make_world(path=[(3.0, 0.0)]))
    _, near, _ = run("go_to_goal", make_world(path=[(0.4, 0.0)]))
    assert near[wd.OUT_V] == pytest.approx(0.6 * 0.4 / 0.8) and near[wd.OUT_V] < far[wd.OUT_V]
    world = make_world(path=[(3.0, 0.0)])
    world.state[wd.GOAL_REACHED] = 1.0
    assert run("go_to_goal", world)[0] == 0.0
    assert run("go_to_goal", make_world(path=np.zeros((0, 2))))[0] == 0.0


# --- avoid_obstacles ---------------------------------------------------------------


def rollout_clearance(world: World, v: float, w: float, steps=30, dt=0.1) -> float:
    """Smallest distance from the robot's edge to any scan point along (v, w)."""
    s = world.state
    x, y, yaw = s[wd.X], s[wd.Y], s[wd.YAW]
    n = int(s[wd.SCAN_COUNT])
    lowest = math.inf
    for _ in range(steps):
        x, y, yaw = x + v * dt * math.cos(yaw), y + v * dt * math.sin(yaw), yaw + w * dt
        lowest = min(lowest, F.nearest_distance(world.scan, n, x, y) - s[wd.ROBOT_RADIUS])
    return lowest


def test_dwa_steers_around_obstacle_ahead():
    world = make_world(speed=(0.5, 0.0), path=[(4.0, 0.0)], points=disc(1.0, 0.0, 0.25))
    a, out, _ = run("avoid_obstacles", world)
    assert a > 0.5
    assert abs(out[wd.OUT_W]) > 0.1 and out[wd.OUT_V] > 0.0
    assert rollout_clearance(world, out[wd.OUT_V], out[wd.OUT_W]) > 0.0
    assert rollout_clearance(world, 0.5, 0.0) < 0.0  # going straight would hit it


def test_dwa_goes_straight_in_open_space():
    # the only obstacle is behind: active, but nothing in the way
    world = make_world(speed=(0.5, 0.0), path=[(4.0, 0.0)], points=disc(-0.9, 0.0, 0.1))
    a, out, _ = run("avoid_obstacles", world)
    assert a > 0.0
    assert abs(out[wd.OUT_W]) < 1e-9
    assert out[wd.OUT_V] == pytest.approx(0.6)


def test_dwa_activation_rises_as_obstacle_approaches():
    activations = []
    for d in (2.5, 1.6, 1.25, 1.0, 0.8, 0.6, 0.45, 0.35):
        world = make_world(speed=(0.3, 0.0), points=disc(d + 0.1, 0.0, 0.1))
        activations.append(run("avoid_obstacles", world)[0])
    assert activations[0] == 0.0 and activations[1] == 0.0
    assert np.all(np.diff(activations) >= 0.0)
    assert 0.0 < activations[3] < 1.0 and activations[-1] == 1.0


def test_dwa_inactive_when_goal_reached_or_no_field():
    world = make_world(points=disc(0.6, 0.0, 0.1))
    world.state[wd.GOAL_REACHED] = 1.0
    assert run("avoid_obstacles", world)[0] == 0.0
    world = make_world(points=disc(0.6, 0.0, 0.1))
    world.state[wd.FIELD_VALID] = 0.0
    assert run("avoid_obstacles", world)[0] == 0.0


def test_dwa_boxed_in_turns_toward_open_side():
    # walls ahead and to the right, close enough that every rollout collides
    wall = np.concatenate([np.stack([np.full(60, 0.25), np.linspace(-1.5, 1.5, 60)], 1),
                           np.stack([np.linspace(-1.0, 0.25, 25), np.full(25, -0.25)], 1)])
    world = make_world(speed=(0.2, 0.0), points=wall)
    a, out, _ = run("avoid_obstacles", world)
    assert a == 1.0 and out[wd.OUT_V] == 0.0 and out[wd.OUT_W] > 0.0


# --- follow_path -------------------------------------------------------------------


def drive(world: World, params=None, ticks=400, dt=0.05):
    """Integrate the follow_path proposals; yields (activation, progress) per tick."""
    params = params or follow_path.Params()
    state = follow_path.FollowPath.new_state(params)
    s = world.state
    for _ in range(ticks):
        a, out, state = run("follow_path", world, params, state)
        yield a, state[follow_path.S_SEGMENT]
        if a == 0.0:
            return
        s[wd.YAW] += out[wd.OUT_W] * dt
        s[wd.X] += out[wd.OUT_V] * dt * math.cos(s[wd.YAW])
        s[wd.Y] += out[wd.OUT_V] * dt * math.sin(s[wd.YAW])


def test_follow_path_reaches_end_and_progress_never_decreases():
    world = make_world(pose=(0.0, 0.0, math.pi / 2),
                       path=[(1.0, 0.0), (2.0, 1.0), (2.0, 2.5), (0.5, 2.5)])
    log = list(drive(world))
    progress = [p for _, p in log]
    assert np.all(np.diff(progress) >= 0.0)
    assert log[-1][0] == 0.0 and progress[-1] == 3.0
    assert math.hypot(world.state[wd.X] - 0.5, world.state[wd.Y] - 2.5) <= 0.25


def test_follow_path_progress_survives_being_pushed_back():
    world = make_world(path=[(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (3.0, 2.0)])
    params = follow_path.Params()
    state = follow_path.FollowPath.new_state(params)
    run("follow_path", world, params, state)  # records the start (0, 0)
    assert state[follow_path.S_SEGMENT] == 0
    world.state[wd.X] = 2.5
    run("follow_path", world, params, state)
    reached = state[follow_path.S_SEGMENT]
    assert reached == 2
    world.state[wd.X] = 0.2  # pushed back toward the start
    _, out, _ = run("follow_path", world, params, state)
    assert state[follow_path.S_SEGMENT] == reached
    assert out[3] > 1.0  # far from the current segment


def test_follow_path_rotates_in_place_when_path_is_behind():
    world = make_world(pose=(0.0, 0.0, math.pi), path=[(2.0, 0.0), (3.0, 0.0)])
    _, out, _ = run("follow_path", world)
    assert out[wd.OUT_V] == 0.0 and abs(out[wd.OUT_W]) == pytest.approx(1.5)


# --- stop --------------------------------------------------------------------------


@pytest.mark.parametrize("estop, reached, on_goal, expected", [
    (0, 0, True, 0.0), (1, 0, True, 1.0), (0, 1, True, 1.0), (0, 1, False, 0.0),
    (1, 1, False, 1.0),
])
def test_stop_follows_estop_and_goal(estop, reached, on_goal, expected):
    world = make_world()
    world.state[wd.ESTOP], world.state[wd.GOAL_REACHED] = estop, reached
    a, out, _ = run("stop", world, stop.Params(on_goal=on_goal))
    assert a == expected and out[wd.OUT_V] == 0.0 and out[wd.OUT_W] == 0.0


# --- the Behavior seam -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODULES))
def test_behavior_classes_follow_the_seam(name):
    module, cls, _ = MODULES[name]
    assert cls.kind == name
    assert cls.blendable is (name != "stop")
    assert len(cls.kernel.signatures) == 1  # compiled eagerly, never again at run time
    params = cls.parse_params({}, source="test.toml", prefix=f"behaviors.{name}")
    packed = cls.pack_params(params)
    assert packed.dtype == np.float64 and len(packed) == len(dataclasses.fields(params))
    assert len(cls.new_state(params)) >= cls.state_size >= 1


@pytest.mark.parametrize("params, table, equal_ok, problem", [
    (go_to_goal.Params, {"min_speed": 0.7}, {"min_speed": 0.6}, "must be <= max_speed (0.6)"),
    (follow_path.Params, {"min_speed": 0.7}, {"min_speed": 0.6}, "must be <= max_speed (0.6)"),
    (avoid_obstacles.Params, {"full_activation_clearance": 1.0}, None,
     "must be < activation_clearance (1.0)"),
    (plan_path.Params, {"lethal_margin": 0.2}, {"lethal_margin": 0.1},
     "must be <= inflation_margin (0.1)"),
])
def test_cross_field_checks_name_the_key_and_the_bound(params, table, equal_ok, problem):
    with pytest.raises(ConfigError) as info:
        build(params, table, source="x.toml", prefix="behaviors.b")
    assert info.value.key == f"behaviors.b.{next(iter(table))}"
    assert info.value.problem == problem
    if equal_ok is not None:
        build(params, equal_ok, source="x.toml", prefix="behaviors.b")


def test_params_are_validated():
    with pytest.raises(ConfigError, match="min_speed"):
        build(go_to_goal.Params, {"min_speed": 2.0}, source="x.toml", prefix="b")
    with pytest.raises(ConfigError, match="activation_full"):
        build(avoid_obstacles.Params, {"activation_full": 2.0}, source="x.toml")
    with pytest.raises(ConfigError, match="v_samples"):
        build(avoid_obstacles.Params, {"v_samples": 1}, source="x.toml")
    assert avoid_obstacles.AvoidObstacles.new_state(
        avoid_obstacles.Params(w_samples=5)).shape == (avoid_obstacles.state_size_for(5),)
