"""The safety invariant, through the real kernels: a robot whose motion follows the
sent commands (the simulator's own wheel model, with its first-order lag) never
comes closer to a scanned point than its radius, whatever the planner proposes.

The robot starts at rest at least ``radius + margin`` from every point; the
world is static and fully scanned; the estimate is the truth.  Its path is
checked continuously: at sub-steps of a tick, as segments (the sagitta of a
sub-step's arc is below the 1 um allowed for rounding).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import props
from hypothesis import given
from hypothesis import strategies as st

from robo_orch.core import safety as sf
from robo_orch.core import world as w
from robo_orch.core.stopping import check_stop
from robo_orch.planar import body_to_wheels, wheels_to_body
from robo_orch.sim.robot import step_diff_drive

SUB = 8  # sub-steps per tick of the simulated motion
ROUNDING = 1e-6  # m


def segment_distances(a: np.ndarray, b: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from each point to each segment a[i] -> b[i]: shape (segments, points)."""
    d = (b - a)[:, None, :]
    rel = pts[None, :, :] - a[:, None, :]
    len2 = np.maximum((d * d).sum(-1), 1e-300)
    t = np.clip((rel * d).sum(-1) / len2, 0.0, 1.0)
    return np.hypot(*(rel - t[..., None] * d).transpose(2, 0, 1))


def world_points(draw, radius, margin, yaw):
    """Random scan points outside the start disc: scattered, and a wall across the way."""
    pts = []
    n = draw(st.integers(0, 30))
    for _ in range(n):
        pts.append((draw(st.floats(-3, 3)), draw(st.floats(-3, 3))))
    if draw(st.integers(0, 3)):  # mostly: a wall somewhere ahead
        dist = draw(st.floats(radius + margin, 3.0))
        angle = yaw + draw(st.floats(-1.0, 1.0))
        tilt = draw(st.floats(-1.2, 1.2))
        cx, cy = dist * math.cos(angle), dist * math.sin(angle)
        ux, uy = -math.sin(angle + tilt), math.cos(angle + tilt)
        pts += [(cx + s * ux, cy + s * uy) for s in np.linspace(-1.5, 1.5, 61)]
    arr = np.asarray(pts, dtype=float).reshape(-1, 2)
    keep = np.hypot(arr[:, 0], arr[:, 1]) >= radius + margin
    return arr[keep]


def stops_within_rounding(state, points, safety, dt, tau) -> bool:
    """Whether the zero command's rollout keeps its rules with 1 um to spare."""
    near = np.column_stack([points, np.hypot(points[:, 0] - state[w.X],
                                             points[:, 1] - state[w.Y])])
    radius = state[w.ROBOT_RADIUS] - ROUNDING
    ok, _, _ = check_stop(near, len(points), state[w.X], state[w.Y], state[w.YAW], state[w.V],
                          state[w.W], 0.0, 0.0, dt, tau, safety.max_decel, safety.max_yaw_accel,
                          radius, radius + safety.collision_margin)
    return ok


@st.composite
def scenarios(draw):
    radius = draw(st.floats(0.1, 0.6))
    margin = draw(st.sampled_from([0.0, 0.0, 0.01])) if draw(st.booleans()) else \
        draw(st.floats(0.0, 0.1))
    yaw = draw(st.floats(-math.pi, math.pi))
    safety = SimpleNamespace(
        max_speed=draw(st.floats(0.2, 1.5)), max_reverse=draw(st.floats(0.0, 0.5)),
        max_yaw_rate=draw(st.floats(0.5, 3.0)), max_accel=draw(st.floats(0.3, 3.0)),
        max_decel=draw(st.floats(0.3, 3.0)), max_yaw_accel=draw(st.floats(1.0, 8.0)),
        collision_margin=margin, collision_horizon_s=draw(st.floats(0.05, 3.0)))
    robot = SimpleNamespace(wheel_base=draw(st.floats(0.2, 0.6)),
                            max_wheel_speed=draw(st.floats(0.3, 2.0)),
                            motor_time_constant=draw(st.sampled_from([0.08, 0.25, 0.0]))
                            if draw(st.booleans()) else draw(st.floats(0.001, 0.3)))
    dt = draw(st.sampled_from([0.01, 0.02, 0.05]))
    top = safety.max_speed
    proposal = st.one_of(
        st.tuples(st.just(top), st.just(0.0)),  # straight on, whatever is ahead
        st.tuples(st.floats(-2.0, 2.0), st.floats(-4.0, 4.0)),
        st.tuples(st.just(top), st.floats(-1.0, 1.0)))  # on, gently turning
    plan = draw(st.lists(st.tuples(proposal, st.integers(1, 60)), min_size=1, max_size=6))
    points = world_points(draw, radius, margin, yaw)
    return radius, yaw, safety, robot, dt, plan, points


@props(60)
@given(case=scenarios())
def test_robot_following_the_commands_never_touches_a_scanned_point(case):
    radius, yaw, safety, robot, dt, plan, points = case
    lim = sf.pack_limits(safety, robot)
    base, tau, wheel_max = robot.wheel_base, robot.motor_time_constant, robot.max_wheel_speed
    state = np.zeros(w.STATE_LEN)
    state[w.YAW], state[w.DT], state[w.ROBOT_RADIUS] = yaw, dt, radius
    scan = np.zeros((max(len(points), 1), 2))
    scan[: len(points)] = points
    state[w.SCAN_COUNT] = len(points)
    mem = np.zeros(sf.mem_size(scan.shape[0]))
    cmd = np.zeros(2)
    truth = np.array([0.0, 0.0, yaw, 0.0, 0.0])
    trail = np.zeros((SUB + 1, 2))
    for (pv, pw), ticks in plan:
        for _ in range(ticks):
            flags = sf.safety(state, scan, lim, pv, pw, mem, cmd)
            v, om = cmd
            assert -safety.max_reverse <= v <= safety.max_speed
            assert abs(om) <= safety.max_yaw_rate
            left, right = body_to_wheels(v, om, base)
            assert max(abs(left), abs(right)) <= wheel_max * (1 + 1e-12), "a wheel would clamp"
            if flags & sf.NO_SAFE_STOP:  # only ever a miss by rounding
                assert stops_within_rounding(state, points, safety, dt, tau)
            trail[0] = truth[:2]
            for k in range(1, SUB + 1):
                step_diff_drive(truth, left, right, dt / SUB, tau, base, wheel_max)
                trail[k] = truth[:2]
            if len(points):
                closest = segment_distances(trail[:-1], trail[1:], points).min()
                assert closest >= radius - ROUNDING, (closest - radius, flags)
            state[w.X], state[w.Y], state[w.YAW] = truth[:3]
            state[w.V], state[w.W] = wheels_to_body(truth[3], truth[4], base)


@pytest.mark.parametrize("tau", [1e-12, 8.5e-166])
def test_a_lag_shorter_than_a_sub_step_is_checked_as_almost_none(tau):
    """The rollout steps a lag in at most 64 pieces a tick; a far shorter lag (which config
    refuses, the kernel's arguments do not) bounded the arc's error by ``h^2 / (8 tau)``
    and so refused every turning command near anything (the holonomic property test found
    it: 8.5e-166 s).  The error is also at most ``tau`` per unit of ``|A S - Phi B|``: the
    verdict and clearance are those of no lag, within rounding."""
    pts = np.array([[0.0, 1.0, 1.0], [1.5, 0.4, math.hypot(1.5, 0.4)]])
    pose_speeds_command = (0.0, 0.0, 0.0, 0.5, 0.0, 0.49, 1.0)  # x y yaw, v0 w0, cv cw: a turn
    rest = (0.25, 1.0, 0.2, 0.25)  # decel, yaw_accel, radius, radius + margin
    ok0, low0, _ = check_stop(pts, 2, *pose_speeds_command, 0.02, 0.0, *rest)
    ok, low, pad = check_stop(pts, 2, *pose_speeds_command, 0.02, tau, *rest)
    assert ok0 and ok
    assert low == pytest.approx(low0, abs=1e-9) and pad < 1e-9
