"""core.safety_holonomic: the invariant of the holonomic base's safety kernel, and its parts.

The invariant, through the real kernels: a holonomic body whose body-frame speeds
each follow the sent command through the first-order lag
(:func:`robo_orch.sim.holonomic.step_holonomic`) never comes closer to a scanned
point than its radius, whatever is proposed (toward a wall, sideways into it,
NaN), under random limits; e-stop gives zero at once, stale inputs a controlled
stop, and every command is within the limits.  The robot starts at rest at
least ``radius + margin`` from every point; the world is static and fully
scanned; the estimate is the truth.  Its path is checked at sub-steps of at most
a quarter of the lag, as segments.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import props, soak
from holonomic_helpers import call, limits, make_scan, make_state, segment_distances
from hypothesis import example, given, settings
from hypothesis import strategies as st

from robo_orch.core import safety as sf
from robo_orch.core import safety_holonomic as sh
from robo_orch.core import world as w
from robo_orch.core.ramps import down_start
from robo_orch.core.ramps_holonomic import apply_limits_holonomic, down_start_vector, shrink
from robo_orch.core.stopping import toward_zero
from robo_orch.core.stopping_holonomic import check_stop_holonomic
from robo_orch.sim.holonomic import step_holonomic

ROUNDING = 1e-6  # m


speed = st.floats(-2, 2, allow_nan=False)


@props(300)
@given(prop=st.tuples(speed, speed, st.floats(-6, 6)), last=st.tuples(speed, speed, speed),
       est=st.tuples(speed, speed, speed), stale=st.booleans(), yaw=st.floats(-math.pi, math.pi),
       max_speed=st.floats(0.1, 2), reverse=st.floats(0, 1), max_yaw_rate=st.floats(0.1, 4),
       accel=st.floats(0.1, 5), decel=st.floats(0.1, 5), yaw_accel=st.floats(0.1, 10),
       horizon=st.floats(0.05, 3), wheel_speed=st.floats(0.2, 3), tau=st.floats(0, 0.3),
       points=st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), max_size=40))
# found by a random soak: a lag far shorter than the rollout's sub-steps made the arc's error
# bound huge, and a point 1 m to the side stopped the robot (core.stopping's min(tau, ...))
@example(prop=(0.0, 0.0, 1.0), last=(1.0, 0.0, 0.0), est=(0.5, 0.0, 0.0), stale=False, yaw=0.0,
         max_speed=1.0, reverse=0.0, max_yaw_rate=1.0, accel=1.0, decel=0.25, yaw_accel=1.0,
         horizon=1.0, wheel_speed=0.5, tau=8.499040483409779e-166, points=[(0.0, 1.0)])
# found by a random soak: the wheel limit cut the ramped command (0.7100 m/s, more diagonal)
# below the braking floor (0.7143 m/s), the command crept closer to a point inside the margin,
# and the bisection from the floor sent 0.7105 m/s: faster than the command, not the floor
@example(prop=(0.0, 1.0, 0.0), last=(-1.5, 1.125, 0.0), est=(-1.0, 0.0, 0.0), stale=False,
         yaw=0.6875, max_speed=1.0, reverse=1.0, max_yaw_rate=1.0, accel=2.0, decel=1.0,
         yaw_accel=1.0, horizon=1.0, wheel_speed=1.0, tau=0.0, points=[(0.0, 0.25)])
def test_limits_ramps_and_what_the_scan_changes(prop, last, est, stale, yaw, max_speed, reverse,
                                                max_yaw_rate, accel, decel, yaw_accel, horizon,
                                                wheel_speed, tau, points):
    lim = limits(max_speed=max_speed, max_reverse=reverse * max_speed,
                 max_yaw_rate=max_yaw_rate, max_accel=accel, max_decel=decel,
                 max_yaw_accel=yaw_accel, collision_horizon_s=horizon,
                 max_wheel_speed=wheel_speed, motor_time_constant=tau)
    state = make_state(yaw=yaw, last=last, speed=est, stale=float(stale), dt=0.02)
    free = state.copy()
    flags_free, fx, fy, fw, _ = call(free, make_scan(free), lim, *prop)
    flags, vx, vy, om, _ = call(state, make_scan(state, points), lim, *prop)
    for x, y, z in ((fx, fy, fw), (vx, vy, om)):  # within every limit, wheels included
        assert math.hypot(x, y) <= max_speed * (1 + 1e-12) and x >= -reverse * max_speed
        assert abs(z) <= max_yaw_rate
        assert abs(x) + abs(y) + 0.32 * abs(z) <= wheel_speed * (1 + 1e-12)
    # the ramp: up from the last command by max_accel dt at most (last within the limits)
    lx, ly, lw = last
    within = math.hypot(lx, ly) <= max_speed and lx >= -reverse * max_speed and \
        abs(lw) <= max_yaw_rate and abs(lx) + abs(ly) + 0.32 * abs(lw) <= wheel_speed
    if within:
        assert math.hypot(fx, fy) <= math.hypot(lx, ly) + accel * 0.02 + 1e-12
        assert abs(fw) <= abs(lw) + yaw_accel * 0.02 + 1e-12
    # the scan changes the command only with a collision flag, and only reduces it, but for
    # two fallbacks: the next step of the braking plan the last command was checked with
    # (tried when the braking floor fails), which continues what the last command did (a
    # turn the free ramp, starting from an estimate that does not turn, dropped) and is
    # itself a decrease from the last command; and, when the speed limits cut the ramped
    # command below the braking floor (hard_brake: the wheel limit shortens a diagonal
    # translation more than one along an axis), the bisection from the floor toward it,
    # which is no faster than the floor (one tick of max_decel from where the robot goes)
    reduced = math.hypot(vx, vy) <= math.hypot(fx, fy) + 1e-12 and abs(om) <= abs(fw) + 1e-12
    if not reduced:
        assert flags & (sf.COLLISION_SLOW | sf.COLLISION_STOP)
        if (vx, vy, om) == plan_next_step(last, lim, 0.02):
            assert flags & sf.COLLISION_STOP
            assert math.hypot(vx, vy) <= math.hypot(lx, ly) and abs(om) <= abs(lw)
        else:
            bx, by, bw = braking_floor(last, est, lim, 0.02)
            assert flags_free & sf.HARD_BRAKE
            assert math.hypot(vx, vy) <= max(math.hypot(bx, by), math.hypot(fx, fy)) + 1e-12
            assert abs(om) <= max(abs(bw), abs(fw)) + 1e-12
    if (vx, vy, om) != (fx, fy, fw):
        assert flags & (sf.COLLISION_SLOW | sf.COLLISION_STOP)
    assert flags & ~(sf.COLLISION_SLOW | sf.COLLISION_STOP | sf.NO_SAFE_STOP | sf.HARD_BRAKE) \
        == flags_free & ~sf.HARD_BRAKE


def braking_floor(last, est, lim, dt):
    """The kernel's braking floor ``b``: where a ramp down starts (the last command, scaled
    to the estimate's component along it), one tick of ``max_decel`` shorter, its yaw rate
    one tick of ``max_yaw_accel`` closer to zero, within the speed limits."""
    sx, sy = down_start_vector(last[0], last[1], est[0], est[1])
    bx, by = shrink(sx, sy, lim[sh.L_MAX_DECEL] * dt)
    bw = toward_zero(down_start(last[2], est[2]), lim[sh.L_MAX_YAW_ACCEL] * dt)
    half_sum = 0.5 * (lim[sh.L_WHEEL_BASE] + lim[sh.L_AXLE_DISTANCE])
    return apply_limits_holonomic(bx, by, bw, lim[sh.L_MAX_SPEED], lim[sh.L_MAX_REVERSE],
                                  lim[sh.L_MAX_YAW_RATE], half_sum,
                                  lim[sh.L_MAX_WHEEL_SPEED])[:3]


def plan_next_step(last, lim, dt):
    """The kernel's fallback "the last plan's next step": the last command shortened by
    ``max_decel dt`` in its own direction, its yaw rate one tick of ``max_yaw_accel``
    closer to zero, within the speed limits."""
    kx, ky = shrink(last[0], last[1], lim[sh.L_MAX_DECEL] * dt)
    kw = toward_zero(last[2], lim[sh.L_MAX_YAW_ACCEL] * dt)
    half_sum = 0.5 * (lim[sh.L_WHEEL_BASE] + lim[sh.L_AXLE_DISTANCE])
    return apply_limits_holonomic(kx, ky, kw, lim[sh.L_MAX_SPEED], lim[sh.L_MAX_REVERSE],
                                  lim[sh.L_MAX_YAW_RATE], half_sum,
                                  lim[sh.L_MAX_WHEEL_SPEED])[:3]


def test_a_point_that_the_braking_floor_meets_is_passed_by_continuing_the_last_turn():
    """The case the random property test found: proposal zero, the last command turning
    (1, 0, 1) while the estimate does not turn (vx 1, vy 2, w 0).  Free, the ramps brake
    to (0.98, 0, 0); with a point ahead the braking floor hits it, and the last plan's
    next step, which keeps turning, passes: a yaw rate the free command did not have,
    flagged a collision stop, and less than the last command."""
    lim = limits(max_speed=1, max_reverse=1, max_yaw_rate=1, max_accel=1, max_decel=1,
                 max_yaw_accel=1, collision_horizon_s=1, max_wheel_speed=1,
                 motor_time_constant=0.125)
    state = make_state(yaw=0.875, last=(1, 0, 1), speed=(1, 2, 0), dt=0.02)
    free = state.copy()
    _, fx, fy, fw, _ = call(free, make_scan(free), lim, 0, 0, 0)
    assert (fy, fw) == (0.0, 0.0) and fx == pytest.approx(0.98)
    flags, vx, vy, om, _ = call(state, make_scan(state, [(0.625, 0.0)]), lim, 0, 0, 0)
    assert flags & sf.COLLISION_STOP and not flags & sf.NO_SAFE_STOP
    assert (vx, vy, om) == plan_next_step((1, 0, 1), lim, 0.02)
    assert om > 0.7 and vx < fx


# --- the reduction's rigour ---------------------------------------------------------------


def braking_path(ux, uy, w0, cx, cy, cw, dt, tau, decel, yaw_accel, sub=16):
    """The true path of a command and its braking plan (``c`` held one tick, then
    shortened by ``decel dt`` a tick in its own direction), sampled ``sub`` times a
    tick and for ``5 tau`` after the plan ends."""
    truth = np.array([0.0, 0.0, 0.0, ux, uy, w0])
    path = [truth[:2].copy()]
    ticks = 0
    while True:
        for _ in range(sub):
            step_holonomic(truth, cx, cy, cw, dt / sub, tau, 0.0, 1e9)
            path.append(truth[:2].copy())
        ticks += 1
        m = math.hypot(cx, cy)
        f = max(m - decel * dt, 0.0) / m if m > 0 else 0.0
        cx, cy = cx * f, cy * f
        cw = math.copysign(max(abs(cw) - yaw_accel * dt, 0.0), cw)
        if (cx, cy, cw) == (0.0, 0.0, 0.0) and ticks * dt > 5 * tau:
            break
    return np.array(path)


@props(150)
@given(u=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-2, 2)),
       c=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-2, 2)),
       tau=st.sampled_from([0.05, 0.15, 0.3]), decel=st.floats(0.5, 3.0),
       seed=st.integers(0, 2**16))
# found by a random soak: a command too small to move the reduced path D (5e-324 m/s across
# the robot's sideways motion) while the drift across it carries the body 0.015 m closer to
# a point; the lowest clearance reported was inf (no moving piece of D came near it)
@example(u=(0.0, 1.0, 0.0), c=(5e-324, 0.0, 0.0), tau=0.05, decel=1.0, seed=1)
def test_a_passed_rollout_keeps_the_true_path_clear(u, c, tau, decel, seed):
    """Whenever check_stop_holonomic passes a command, the body following it (and its
    braking plan) through the lag never comes within the radius of the point, nor
    closer than the lowest clearance it reports (or the margin)."""
    dt, radius, margin, yaw_accel = 0.02, 0.2, 0.05, 4.0
    path = braking_path(*u, *c, dt, tau, decel, yaw_accel)
    rng = np.random.default_rng(seed)
    # points just around the path, at about the radius from it
    picks = path[rng.integers(1, len(path), 30)]
    angles = rng.uniform(-math.pi, math.pi, 30)
    dist = rng.uniform(0.9 * radius, radius + 0.3, 30)
    pts = picks + dist[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    for q in pts:
        d_now = math.hypot(*q)
        if d_now < radius:
            continue  # touching already: exempt
        ok, low, _ = check_stop_holonomic(np.array([[q[0], q[1], d_now]]), 1, 0.0, 0.0, 0.0,
                                          *u, *c, dt, tau, decel, yaw_accel, radius,
                                          radius + margin)
        true_low = segment_distances(path[:-1], path[1:], q[None, :]).min() - radius
        if ok:  # clear, and the lowest clearance it reports is a lower bound
            assert true_low >= -ROUNDING, (q, true_low, low)
            # (standing still, no piece is measured: the clearance now stays)
            assert true_low >= min(low, margin, d_now - radius) - ROUNDING, (q, true_low, low)


# --- the invariant ---------------------------------------------------------------------


def world_points(draw, radius, margin):
    """Random points outside the start disc, and a wall or two around it."""
    pts = [(draw(st.floats(-3, 3)), draw(st.floats(-3, 3))) for _ in range(draw(st.integers(0,
                                                                                          20)))]
    for _ in range(draw(st.integers(0, 2))):
        dist = draw(st.floats(radius + margin, 2.0))
        angle = draw(st.floats(-math.pi, math.pi))
        tilt = draw(st.floats(-1.2, 1.2))
        cx, cy = dist * math.cos(angle), dist * math.sin(angle)
        ux, uy = -math.sin(angle + tilt), math.cos(angle + tilt)
        pts += [(cx + s * ux, cy + s * uy) for s in np.linspace(-1.5, 1.5, 61)]
    arr = np.asarray(pts, dtype=float).reshape(-1, 2)
    return arr[np.hypot(arr[:, 0], arr[:, 1]) >= radius + margin]


def proposals(top):
    """A proposal: fixed, aimed at the nearest point (ahead, sideways, any way), or NaN."""
    fixed = st.tuples(st.just("fixed"), st.floats(-2, 2), st.floats(-2, 2), st.floats(-4, 4))
    aimed = st.tuples(st.just("aim"), st.sampled_from([top, 2 * top]),
                      st.sampled_from([0.0, math.pi / 2, -math.pi / 2, 0.3]),
                      st.sampled_from([0.0, 0.0, 1.0, -2.0]))
    sideways = st.tuples(st.just("fixed"), st.just(0.0), st.sampled_from([top, -top]),
                         st.floats(-1, 1))
    nan = st.tuples(st.just("nan"), st.just(math.nan), st.just(0.5), st.just(0.0))
    return st.one_of(fixed, aimed, aimed, sideways, nan)


@st.composite
def scenarios(draw):
    radius = draw(st.floats(0.1, 0.6))
    margin = draw(st.sampled_from([0.0, 0.01, 0.05]))
    yaw = draw(st.floats(-math.pi, math.pi))
    top = draw(st.floats(0.2, 1.5))
    safety = SimpleNamespace(
        max_speed=top, max_reverse=draw(st.sampled_from([top, 0.0, 0.2 * top])),
        max_yaw_rate=draw(st.floats(0.5, 3.0)), max_accel=draw(st.floats(0.3, 3.0)),
        max_decel=draw(st.floats(0.3, 3.0)), max_yaw_accel=draw(st.floats(1.0, 8.0)),
        collision_margin=margin, collision_horizon_s=draw(st.floats(0.05, 3.0)))
    robot = SimpleNamespace(wheel_base=draw(st.floats(0.2, 0.6)),
                            axle_distance=draw(st.floats(0.0, 0.6)),
                            max_wheel_speed=draw(st.floats(0.3, 2.5)),
                            motor_time_constant=draw(st.sampled_from([0.08, 0.25, 0.0, 0.01])))
    dt = draw(st.sampled_from([0.01, 0.02, 0.05]))
    plan = draw(st.lists(st.tuples(proposals(top), st.integers(1, 50), st.integers(0, 5)),
                         min_size=1, max_size=5))
    return radius, yaw, safety, robot, dt, plan, world_points(draw, radius, margin)


def aim(truth, points, speed, angle, om):
    """A body-frame proposal toward the nearest point, turned by ``angle``."""
    if not len(points):
        return speed, 0.0, om
    j = np.argmin(np.hypot(*(points - truth[:2]).T))
    heading = math.atan2(*(points[j] - truth[:2])[::-1]) - truth[2] + angle
    return speed * math.cos(heading), speed * math.sin(heading), om


def stops_within_rounding(state, points, safety, dt, tau) -> bool:
    """Whether the zero command's rollout keeps its rules with 1 um to spare."""
    near = np.column_stack([points, np.hypot(*(points - state[[w.X, w.Y]]).T)])
    radius = state[w.ROBOT_RADIUS] - ROUNDING
    ok, _, _ = check_stop_holonomic(near, len(points), state[w.X], state[w.Y], state[w.YAW],
                                    state[w.V], state[sh.VY_SLOT], state[w.W], 0.0, 0.0, 0.0,
                                    dt, tau, safety.max_decel, safety.max_yaw_accel, radius,
                                    radius + safety.collision_margin)
    return ok


# found by the soak with the lateral pad removed: sliding sideways, then forward
# past a point the lateral motion still carries the robot onto (0.9 mm inside)
SLIDE_THEN_FORWARD = (
    0.5, 2.0,
    SimpleNamespace(max_speed=1.0, max_reverse=1.0, max_yaw_rate=1.0, max_accel=1.0,
                    max_decel=1.0, max_yaw_accel=1.0, collision_margin=0.0,
                    collision_horizon_s=1.0),
    SimpleNamespace(wheel_base=0.5, axle_distance=0.0, max_wheel_speed=1.0,
                    motor_time_constant=0.08),
    0.05, [(("fixed", 0.0, 1.0, 0.0), 19, 0), (("fixed", 1.0, 0.0, 0.0), 15, 0)],
    np.array([[-1.0, 0.0]]))


# found by the soak: the ramp let the magnitude grow by more than max_accel dt when
# the parts along and across the last command were each within their step
ALONG_AND_ACROSS = (
    0.25, 0.0,
    SimpleNamespace(max_speed=1.4453125, max_reverse=1.4453125, max_yaw_rate=1.0,
                    max_accel=2.40625, max_decel=1.0, max_yaw_accel=1.0, collision_margin=0.0,
                    collision_horizon_s=1.0),
    SimpleNamespace(wheel_base=0.5, axle_distance=0.0, max_wheel_speed=2.5,
                    motor_time_constant=0.08),
    0.05, [(("nan", math.nan, 0.5, 0.0), 1, 0), (("aim", 1.4453125, -math.pi / 2, 1.0), 12, 0),
           (("fixed", 0.0, 1.4453125, 0.0), 1, 0)],
    np.array([[0.0, 0.5]]))


# found by a random soak: an e-stop while sliding and turning toward a point; coasting from
# the unchecked zero, no command proves a stop again, so zero goes on with no_safe_stop (the
# robot keeps off the point)
ESTOP_WHILE_TURNING = (
    0.5, 0.0,
    SimpleNamespace(max_speed=1.0, max_reverse=1.0, max_yaw_rate=1.5, max_accel=1.0,
                    max_decel=1.0, max_yaw_accel=2.0, collision_margin=0.0,
                    collision_horizon_s=1.0),
    SimpleNamespace(wheel_base=0.5, axle_distance=0.0, max_wheel_speed=1.0,
                    motor_time_constant=0.25),
    0.05, [(("fixed", -0.5, -0.5, 4.0), 27, 0), (("nan", math.nan, 0.5, 0.0), 1, 2),
           (("nan", math.nan, 0.5, 0.0), 13, 0)],
    np.array([[0.0, -0.75]]))


@props(300)
@example(case=SLIDE_THEN_FORWARD)
@example(case=ALONG_AND_ACROSS)
@example(case=ESTOP_WHILE_TURNING)
@given(case=scenarios())
def test_holonomic_robot_following_the_commands_never_touches_a_scanned_point(case):
    drive_case(case)


@pytest.mark.slow
@settings(deadline=None, max_examples=soak(300, 3000), database=None)
@given(case=scenarios())
def test_holonomic_invariant_soak(case):
    """The same, on random (not derandomized) scenarios: 300 a run in the suite, 3000 with
    ROBO_ORCH_SOAK=1."""
    drive_case(case)


def drive_case(case):
    """Drive one scenario closed loop; assert the invariant, the limits and the flags."""
    radius, yaw, safety, robot, dt, plan, points = case
    lim = sh.pack_limits_holonomic(safety, robot)
    tau, wheel_max = robot.motor_time_constant, robot.max_wheel_speed
    half_sum = 0.5 * (robot.wheel_base + robot.axle_distance)
    state = make_state(yaw=yaw, dt=dt, radius=radius)
    scan = make_scan(state, points)
    mem = np.zeros(sh.mem_size(scan.shape[0]))
    cmd = np.zeros(3)
    truth = np.array([0.0, 0.0, yaw, 0.0, 0.0, 0.0])
    sub = min(64, max(8, math.ceil(dt / (0.25 * tau)) if tau > 0 else 8))
    trail = np.zeros((sub + 1, 2))
    last_len = 0.0
    coasting = False  # since an e-stop, until a command passes its check
    for (kind, a, b, c), ticks, mode in plan:
        stale, estop = mode == 1, mode == 2 and ticks < 5  # e-stop briefly, now and then
        state[w.STALE], state[w.ESTOP] = float(stale), float(estop)
        for _ in range(ticks):
            prop = aim(truth, points, a, b, c) if kind == "aim" else (a, b, c)
            last_w = state[w.CMD_W]
            flags = sh.safety_holonomic(state, scan, lim, *prop, mem, cmd)
            vx, vy, om = cmd
            if estop:
                assert flags == sf.ESTOP and (vx, vy, om) == (0.0, 0.0, 0.0)
            # the limits, wheels included, and the acceleration ramp up
            assert math.hypot(vx, vy) <= safety.max_speed * (1 + 1e-12)
            assert vx >= -safety.max_reverse and abs(om) <= safety.max_yaw_rate
            assert abs(vx) + abs(vy) + abs(om) * half_sum <= wheel_max * (1 + 1e-12)
            assert math.hypot(vx, vy) <= last_len + safety.max_accel * dt + 1e-12
            assert abs(om) <= abs(last_w) + safety.max_yaw_accel * dt + 1e-12
            if stale and not estop:
                assert flags & sf.STALE_STOP and math.hypot(vx, vy) <= last_len + 1e-12
            if kind == "nan" and not (estop or stale):
                assert flags & sf.INVALID_INPUT
            if estop:
                coasting = True
            elif not flags & sf.NO_SAFE_STOP:
                coasting = False
            # only ever a miss by rounding, but for a robot coasting from an e-stop: its zero,
            # sent unchecked, ended the braking plan the kernel had proved, and zero's own
            # rollout may not prove again (contact is still asserted below)
            if flags & sf.NO_SAFE_STOP and not coasting:
                assert stops_within_rounding(state, points, safety, dt, tau)
            last_len = math.hypot(vx, vy)
            trail[0] = truth[:2]
            for k in range(1, sub + 1):
                step_holonomic(truth, vx, vy, om, dt / sub, tau, half_sum, wheel_max)
                trail[k] = truth[:2]
            if len(points) and not estop:  # e-stop sends zero unchecked
                closest = segment_distances(trail[:-1], trail[1:], points).min()
                assert closest >= radius - ROUNDING, (closest - radius, flags)
            state[w.X], state[w.Y], state[w.YAW] = truth[:3]
            state[w.V], state[sh.VY_SLOT], state[w.W] = truth[3:]
