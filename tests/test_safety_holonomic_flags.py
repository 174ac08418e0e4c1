"""core.safety_holonomic flag by flag: e-stop, stale stop, limits, ramps, look-ahead, the
final check and its lateral pad, invalid input; and its reduction to the diff-drive kernel."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from holonomic_helpers import (
    DT,
    MAX_SCAN,
    ROBOT,
    SAFETY,
    call,
    limits,
    make_scan,
    make_state,
    wall_x,
    wall_y,
)

from robo_orch.core import safety as sf
from robo_orch.core import safety_holonomic as sh
from robo_orch.core import world as w
from robo_orch.core.stopping_holonomic import check_stop_holonomic
from robo_orch.sim.holonomic import step_holonomic


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
    # both parts within reach, the whole not: the magnitude still grows by max_accel dt
    state = make_state(last=(0.05, 0.0, 0.0))
    flags, vx, vy, _, _ = call(state, make_scan(state), lim, 0.05 + 0.9 * DT, DT, 0.0)
    assert flags == sf.ACCEL_LIMITED and math.hypot(vx, vy) == pytest.approx(0.05 + DT)
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


@pytest.mark.parametrize("tau", [0.0, 0.08, 0.25])
@pytest.mark.parametrize("direction", [(0.0, 1.0), (0.6, -0.8)])
def test_driving_sideways_at_a_wall_through_the_lag_stops_at_the_margin(tau, direction):
    # the reduction predicts what the differential-drive kernel does head-on: the
    # look-ahead and the lag-aware braking stop the robot at the margin, not short
    lim = limits(motor_time_constant=tau)
    dx, dy = direction
    state = make_state(yaw=0.7)
    heading = 0.7 + math.atan2(dy, dx)  # the world direction of travel
    ux, uy = math.cos(heading), math.sin(heading)
    centre = np.array([2.0 * ux, 2.0 * uy])
    wall = centre + np.outer(np.linspace(-2.0, 2.0, 401), [-uy, ux])  # across the way
    scan = make_scan(state, wall)
    truth = np.array([0.0, 0.0, 0.7, 0.0, 0.0, 0.0])
    lowest = math.inf
    for _ in range(400):
        _, vx, vy, om, _ = call(state, scan, lim, 0.8 * dx, 0.8 * dy, 0.0)
        for _ in range(8):
            step_holonomic(truth, vx, vy, om, DT / 8, tau, 0.32, 1e9)
            lowest = min(lowest, np.hypot(*(wall - truth[:2]).T).min() - 0.2)
        state[w.X], state[w.Y], state[w.YAW] = truth[:3]
        state[w.V], state[sh.VY_SLOT], state[w.W] = truth[3:]
    assert lowest >= 0.05 - 1e-9
    assert lowest <= 0.05 + 0.02 and state[w.CMD_V] == state[sh.CMD_VY_SLOT] == 0.0
