"""core.safety_holonomic: the holonomic base's safety kernel, flag by flag, and its invariant.

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
from hypothesis import example, given, settings
from hypothesis import strategies as st

from robo_orch.core import safety as sf
from robo_orch.core import safety_holonomic as sh
from robo_orch.core import world as w
from robo_orch.core.stopping_holonomic import check_stop_holonomic
from robo_orch.sim.holonomic import step_holonomic

DT = 1.0 / 64  # exact in binary, so ramps land exactly on zero
MAX_SCAN = 1000
ROUNDING = 1e-6  # m

SAFETY = dict(max_speed=0.8, max_reverse=0.8, max_yaw_rate=2.0, max_accel=1.0, max_decel=2.0,
              max_yaw_accel=6.0, collision_margin=0.05, collision_horizon_s=1.5)
ROBOT = dict(wheel_base=0.34, axle_distance=0.3, max_wheel_speed=1.2, motor_time_constant=0.08)


def limits(**overrides) -> np.ndarray:
    assert set(overrides) <= set(SAFETY) | set(ROBOT), overrides
    safety = SimpleNamespace(**{k: overrides.get(k, v) for k, v in SAFETY.items()})
    robot = SimpleNamespace(**{k: overrides.get(k, v) for k, v in ROBOT.items()})
    return sh.pack_limits_holonomic(safety, robot)


def make_state(*, yaw=0.0, last=(0.0, 0.0, 0.0), speed=None, estop=0.0, stale=0.0, dt=DT,
               radius=0.2):
    """A state whose last command is ``last`` = (vx, vy, w) and estimate ``speed``
    (default: what was last commanded)."""
    state = np.zeros(w.STATE_LEN)
    state[w.YAW], state[w.DT], state[w.ROBOT_RADIUS] = yaw, dt, radius
    state[w.CMD_V], state[sh.CMD_VY_SLOT], state[w.CMD_W] = last
    state[w.V], state[sh.VY_SLOT], state[w.W] = last if speed is None else speed
    state[w.ESTOP], state[w.STALE] = estop, stale
    return state


def make_scan(state, points=()) -> np.ndarray:
    scan = np.full((MAX_SCAN, 2), 1e3)  # junk beyond SCAN_COUNT must be ignored
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    scan[: len(points)] = points
    state[w.SCAN_COUNT] = len(points)
    return scan


def wall_x(x, y0=-1.0, y1=1.0, n=201):
    return [(x, y) for y in np.linspace(y0, y1, n)]


def wall_y(y, x0=-1.0, x1=1.0, n=201):
    return [(x, y) for x in np.linspace(x0, x1, n)]


def call(state, scan, lim, vx, vy, om):
    """Run the kernel as the loop does; (flags, vx, vy, w, mem)."""
    mem = np.zeros(sh.mem_size(scan.shape[0]))
    cmd = np.full(3, np.nan)
    flags = sh.safety_holonomic(state, scan, lim, vx, vy, om, mem, cmd)
    assert (cmd[0], cmd[1], cmd[2]) == (state[w.CMD_V], state[sh.CMD_VY_SLOT], state[w.CMD_W])
    return flags, cmd[0], cmd[1], cmd[2], mem


def test_layout_and_flags_are_the_diff_drive_kernels():
    assert sh.FLAG_NAMES is sf.FLAG_NAMES and sh.mem_size is sf.mem_size
    assert (sh.VY_SLOT, sh.CMD_VY_SLOT) == (37, 38) and w.STATE_LEN > sh.CMD_VY_SLOT
    lim = limits(max_speed=0.7, axle_distance=0.25, motor_time_constant=0.05)
    assert lim.shape == (sh.L_LEN,) and lim[sh.L_MAX_SPEED] == 0.7
    assert lim[sh.L_AXLE_DISTANCE] == 0.25 and lim[sh.L_MOTOR_TAU] == 0.05
    no_axle = SimpleNamespace(**{k: v for k, v in ROBOT.items() if k != "axle_distance"})
    packed = sh.pack_limits_holonomic(SimpleNamespace(**SAFETY), no_axle)
    assert packed[sh.L_AXLE_DISTANCE] == sh.AXLE_DISTANCE_DEFAULT


def test_estop_zeroes_all_three_within_one_call():
    state = make_state(last=(0.5, -0.4, 1.0), estop=1.0)
    assert call(state, make_scan(state), limits(), 0.5, -0.4, 1.0)[:4] == (sf.ESTOP, 0, 0, 0)


def test_stale_inputs_brake_at_max_decel_keeping_the_direction():
    lim = limits(max_decel=2.0, max_yaw_accel=4.0)
    state = make_state(last=(0.3, 0.4, 1.0), stale=1.0)
    scan = make_scan(state)
    mags, rates = [0.5], [1.0]
    for _ in range(20):
        flags, vx, vy, om, _ = call(state, scan, lim, -0.8, 0.8, -2.0)  # ignored
        assert flags == sf.STALE_STOP
        assert vx * 0.4 == pytest.approx(vy * 0.3, abs=1e-15) and vx >= 0.0  # direction kept
        mags.append(math.hypot(vx, vy))
        rates.append(om)
    n_stop = round(0.5 / 2.0 / DT)
    assert np.allclose(np.diff(mags)[:n_stop], -2.0 * DT, atol=1e-15)
    assert mags[n_stop] == 0.0 and mags[n_stop - 1] > 0.0 and rates[round(1.0 / 4.0 / DT)] == 0


def test_speed_limits_keep_the_direction_and_the_curvature():
    lim = limits(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.0, max_accel=1e3,
                 max_decel=1e3, max_yaw_accel=1e3, max_wheel_speed=10.0)
    for prop, want in (((0.6, 0.8, 1.0), (0.48, 0.64, 0.8)),  # |v| 1.0 -> 0.8
                       ((-0.4, 0.1, 0.4), (-0.2, 0.05, 0.2)),  # reverse 0.4 -> 0.2
                       ((0.1, 0.1, -4.0), (0.05, 0.05, -2.0))):  # yaw rate
        state = make_state()
        flags, vx, vy, om, _ = call(state, make_scan(state), lim, *prop)
        assert flags == sf.SPEED_CLAMPED and (vx, vy, om) == pytest.approx(want)
    # the mecanum wheel limit |vx| + |vy| + |w| (base + axle) / 2
    lim = limits(max_accel=1e3, max_decel=1e3, max_yaw_accel=1e3, max_wheel_speed=0.5,
                 wheel_base=0.4, axle_distance=0.2)
    state = make_state()
    flags, vx, vy, om, _ = call(state, make_scan(state), lim, 0.3, -0.3, 1.0)
    assert flags == sf.SPEED_CLAMPED
    assert abs(vx) + abs(vy) + 0.3 * abs(om) == pytest.approx(0.5)
    assert (vy / vx, om / vx) == pytest.approx((-1.0, 1.0 / 0.3))


def test_acceleration_limits_on_the_vector():
    lim = limits(max_accel=1.0, max_decel=2.0, max_yaw_accel=6.0)
    state = make_state()
    flags, vx, vy, om, _ = call(state, make_scan(state), lim, 0.3, 0.4, 1.0)
    assert flags == sf.ACCEL_LIMITED
    assert math.hypot(vx, vy) == pytest.approx(DT) and vy / vx == pytest.approx(4 / 3)
    assert om == pytest.approx(6.0 * DT)
    # sideways from straight ahead: across the last command by at most max_accel dt
    state = make_state(last=(0.4, 0.0, 0.0))
    flags, vx, vy, _, _ = call(state, make_scan(state), lim, 0.4, 0.4, 0.0)
    assert flags == sf.ACCEL_LIMITED and vx == 0.4 and vy == pytest.approx(DT)
    # slowing: down from the smaller of the last command and the estimate along it
    state = make_state(last=(0.6, 0.0, 0.0), speed=(0.3, 0.5, 0.0))
    flags, vx, vy, _, _ = call(state, make_scan(state), lim, 0.0, 0.0, 0.0)
    assert flags == sf.ACCEL_LIMITED and (vx, vy) == pytest.approx((0.3 - 2.0 * DT, 0.0))
    # a target within reach is taken exactly
    state = make_state(last=(0.3, 0.2, 0.5))
    assert call(state, make_scan(state), lim, 0.3, 0.2 + 0.5 * DT, 0.5)[:4] == \
        (0, 0.3, 0.2 + 0.5 * DT, 0.5)


def test_a_wall_ahead_diagonally_slows_keeping_the_direction():
    lim = limits(max_accel=1e3, max_decel=0.5, max_yaw_accel=1e3)
    state = make_state()
    scan = make_scan(state, wall_x(0.5))
    flags, vx, vy, om, mem = call(state, scan, lim, 0.6, 0.3, 0.2)
    assert flags == sf.COLLISION_SLOW and 0.0 < mem[sf.MEM_FREE] < 0.5
    assert 0.0 < vx < 0.6 and vy / vx == pytest.approx(0.5) and om / vx == pytest.approx(1 / 3)
    # moving along the same wall (parallel to it) is not slowed
    state = make_state()
    scan = make_scan(state, wall_x(0.3, -3.0, 3.0, 601))
    assert call(state, scan, lim, 0.0, 0.8, 0.0)[:4] == (0, 0.0, 0.8, 0.0)


def test_sideways_into_a_close_wall_stops_and_turning_in_place_stays_allowed():
    lim = limits(max_accel=1e3, max_yaw_accel=1e3)
    state = make_state()
    scan = make_scan(state, wall_y(-0.26))  # to the right, inside one tick's reach
    flags, vx, vy, om, _ = call(state, scan, lim, 0.0, -0.6, 0.5)
    assert flags & sf.COLLISION_STOP and (vx, vy, om) == (0.0, 0.0, 0.5)
    # away from it, or along it, is fine
    state = make_state()
    scan = make_scan(state, wall_y(-0.26))
    assert call(state, scan, lim, 0.3, 0.6, 0.0)[:4] == (0, 0.3, 0.6, 0.0)


def test_invalid_inputs_fail_safe():
    lim = limits()
    state = make_state(last=(0.3, 0.4, 0.0))
    flags, vx, vy, _, _ = call(state, make_scan(state), lim, 0.3, math.nan, 0.0)
    assert flags & sf.INVALID_INPUT and math.hypot(vx, vy) == pytest.approx(0.5 - 2.0 * DT)
    for key, value in ((w.DT, 0.0), (sh.VY_SLOT, math.nan), (w.X, math.inf)):
        state = make_state(last=(0.3, 0.4, 0.0))
        state[key] = value
        assert call(state, make_scan(state), lim, 0.3, 0.0, 0.0)[:4] == (sf.INVALID_INPUT, 0, 0, 0)
    bad = lim.copy()
    bad[sh.L_AXLE_DISTANCE] = -0.1
    assert call(state, make_scan(state), bad, 0.3, 0.0, 0.0)[0] == sf.INVALID_INPUT
    state = make_state()
    short = np.full(2, np.nan)
    assert sh.safety_holonomic(state, make_scan(state), lim, 0.3, 0.0, 0.0, np.zeros(8),
                               short) == sf.INVALID_INPUT
    cmd = np.full(3, np.nan)
    assert sh.safety_holonomic(state, make_scan(state), lim[:5].copy(), 0.3, 0.0, 0.0,
                               np.zeros(8), cmd) == sf.INVALID_INPUT
    assert list(cmd) == [0.0, 0.0, 0.0]


def test_a_wall_inside_the_braking_distance_brakes_harder_and_says_so():
    lim = limits(motor_time_constant=0.0)
    state = make_state(last=(0.0, 0.8, 0.0))  # full speed to the left
    scan = make_scan(state, wall_y(0.25 + 0.8 * DT + 0.05))
    flags, vx, vy, _, mem = call(state, scan, lim, 0.0, 0.8, 0.0)
    assert flags & sf.HARD_BRAKE and flags & sf.COLLISION_STOP
    assert vx == 0.0 and 0.0 <= vy < 0.8 - 2.0 * DT
    assert mem[sf.MEM_ROLLOUTS] >= 2 and mem[sf.MEM_PREDICTED] >= 0.0


def test_sliding_into_a_wall_that_no_command_avoids_says_no_safe_stop():
    # moving at 0.8 m/s sideways with a 0.25 s lag, 2 cm from the wall: even the
    # zero command coasts 0.2 m into it
    lim = limits(motor_time_constant=0.25)
    state = make_state(last=(0.0, 0.8, 0.0))
    scan = make_scan(state, wall_y(0.22))
    flags, vx, vy, om, mem = call(state, scan, lim, 0.0, 0.8, 0.0)
    assert flags & sf.NO_SAFE_STOP and (vx, vy, om) == (0.0, 0.0, 0.0)
    assert mem[sf.MEM_PREDICTED] < 0.0


def test_motion_across_the_command_is_padded():
    # sliding left at 0.8 m/s with a 0.25 s lag, then commanded straight ahead: the
    # lateral motion decays but still carries the robot 0.8 * 0.25 = 0.2 m left
    def check(wall_y_at):
        pts = np.array([(x, wall_y_at) for x in np.linspace(-3, 3, 601)])
        near = np.column_stack([pts, np.hypot(*pts.T)])
        return check_stop_holonomic(near, len(pts), 0.0, 0.0, 0.0, 0.0, 0.8, 0.0, 0.5, 0.0,
                                    0.0, DT, 0.25, 2.0, 6.0, 0.2, 0.25)

    ok, _, pad = check(0.2 + 0.15)  # 15 cm of room: the lateral coast alone touches
    assert not ok and pad == pytest.approx(0.2)
    ok, _, pad = check(0.2 + 0.3)  # 30 cm: clear by the pad
    assert ok and pad >= 0.2
    # the kernel with the same start slows or stops instead of sending it
    state = make_state(last=(0.0, 0.8, 0.0), speed=(0.0, 0.8, 0.0))
    scan = make_scan(state, wall_y(0.35, -3.0, 3.0, 801))
    flags, vx, vy, _, mem = call(state, scan, limits(motor_time_constant=0.25, max_accel=1e3),
                                 0.8, 0.0, 0.0)
    assert flags & (sf.COLLISION_STOP | sf.NO_SAFE_STOP) and (vx, vy) != (0.8, 0.0)


def test_without_lateral_motion_it_is_the_diff_drive_kernel():
    # the reduction is exact: vy = 0 throughout, axle 0 (the same wheel limit), a
    # reverse limit no larger than max_speed
    lim_h = limits(axle_distance=0.0, max_reverse=0.3)
    lim_d = sf.pack_limits(SimpleNamespace(**{**SAFETY, "max_reverse": 0.3}),
                           SimpleNamespace(**ROBOT))
    rng = np.random.default_rng(5)
    for _ in range(200):
        last = (rng.uniform(-0.3, 0.8), rng.uniform(-2, 2))
        speed = (rng.uniform(-0.3, 0.8), rng.uniform(-2, 2))
        prop = (rng.uniform(-1, 1), rng.uniform(-3, 3))
        pts = rng.uniform(-1.5, 1.5, size=(rng.integers(0, 40), 2))
        pts = pts[np.hypot(*pts.T) > 0.25]
        sd = make_state(yaw=1.0, last=(last[0], 0.0, last[1]), speed=(speed[0], 0.0, speed[1]))
        shh = sd.copy()
        scan = make_scan(sd, pts)
        make_scan(shh, pts)
        cmd = np.zeros(2)
        fd = sf.safety(sd, scan, lim_d, *prop, np.zeros(sf.mem_size(MAX_SCAN)), cmd)
        fh, vx, vy, om, _ = call(shh, scan, lim_h, prop[0], 0.0, prop[1])
        assert fh == fd and vy == 0.0
        assert (vx, om) == pytest.approx(tuple(cmd), abs=1e-9)


speed = st.floats(-2, 2, allow_nan=False)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(prop=st.tuples(speed, speed, st.floats(-6, 6)), last=st.tuples(speed, speed, speed),
       est=st.tuples(speed, speed, speed), stale=st.booleans(), yaw=st.floats(-math.pi, math.pi),
       max_speed=st.floats(0.1, 2), reverse=st.floats(0, 1), max_yaw_rate=st.floats(0.1, 4),
       accel=st.floats(0.1, 5), decel=st.floats(0.1, 5), yaw_accel=st.floats(0.1, 10),
       horizon=st.floats(0.05, 3), wheel_speed=st.floats(0.2, 3), tau=st.floats(0, 0.3),
       points=st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), max_size=40))
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
    # the scan changes the command only with a collision flag, and only reduces it
    assert math.hypot(vx, vy) <= math.hypot(fx, fy) + 1e-12 and abs(om) <= abs(fw) + 1e-12
    if (vx, vy, om) != (fx, fy, fw):
        assert flags & (sf.COLLISION_SLOW | sf.COLLISION_STOP)
    assert flags & ~(sf.COLLISION_SLOW | sf.COLLISION_STOP | sf.NO_SAFE_STOP | sf.HARD_BRAKE) \
        == flags_free & ~sf.HARD_BRAKE


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


@settings(derandomize=True, deadline=None, max_examples=150)
@given(u=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-2, 2)),
       c=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-2, 2)),
       tau=st.sampled_from([0.05, 0.15, 0.3]), decel=st.floats(0.5, 3.0),
       seed=st.integers(0, 2**16))
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


def segment_distances(a: np.ndarray, b: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from each point to each segment a[i] -> b[i]: shape (segments, points)."""
    d = (b - a)[:, None, :]
    rel = pts[None, :, :] - a[:, None, :]
    len2 = np.maximum((d * d).sum(-1), 1e-300)
    t = np.clip((rel * d).sum(-1) / len2, 0.0, 1.0)
    return np.hypot(*(rel - t[..., None] * d).transpose(2, 0, 1))


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


@settings(derandomize=True, deadline=None, max_examples=300)
@example(case=SLIDE_THEN_FORWARD)
@given(case=scenarios())
def test_holonomic_robot_following_the_commands_never_touches_a_scanned_point(case):
    drive_case(case)


@pytest.mark.slow
@settings(deadline=None, max_examples=3000, database=None)
@given(case=scenarios())
def test_holonomic_invariant_soak(case):
    """The same, 3000 random (not derandomized) scenarios a run."""
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
            if flags & sf.NO_SAFE_STOP:  # only ever a miss by rounding
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
