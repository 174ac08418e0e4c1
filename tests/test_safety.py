"""core.safety: e-stop, stale stop, limits, ramps, look-ahead and the final check."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import props
from hypothesis import example, given
from hypothesis import strategies as st

from robo_orch.core import safety as sf
from robo_orch.core import world as w
from robo_orch.core.ramps import apply_limits, down_start
from robo_orch.core.stopping import toward_zero
from robo_orch.planar import body_to_wheels, wheels_to_body
from robo_orch.sim.robot import step_diff_drive
from robo_orch.testing import naive

DT = 1.0 / 64  # exact in binary, so ramps land exactly on zero
MAX_SCAN = 1000


# SafetyConfig's and RobotConfig's defaults; plain namespaces keep these tests
# independent of config parsing
DEFAULTS = dict(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.0, max_accel=1.0, max_decel=2.0,
                max_yaw_accel=6.0, collision_margin=0.05, collision_horizon_s=1.5, deadman_s=0.5)
ROBOT = dict(radius=0.2, wheel_base=0.34, max_wheel_speed=1.2, motor_time_constant=0.08)


def limits(**overrides) -> np.ndarray:
    safety = {k: overrides.get(k, v) for k, v in DEFAULTS.items()}
    robot = {k: overrides.get(k, v) for k, v in ROBOT.items()}
    assert set(overrides) <= set(DEFAULTS) | set(ROBOT), overrides
    return sf.pack_limits(SimpleNamespace(**safety), SimpleNamespace(**robot))


def make_state(*, x=0.0, y=0.0, yaw=0.0, last=(0.0, 0.0), speed=None, estop=0.0, stale=0.0,
               radius=0.2, dt=DT):
    """A state with the last command ``last``; the estimated speeds are ``speed``
    (default: the robot does what it was last commanded)."""
    state = np.zeros(w.STATE_LEN)
    state[w.X], state[w.Y], state[w.YAW] = x, y, yaw
    state[w.DT] = dt
    state[w.CMD_V], state[w.CMD_W] = last
    state[w.V], state[w.W] = last if speed is None else speed
    state[w.ESTOP] = estop
    state[w.STALE] = stale
    state[w.ROBOT_RADIUS] = radius
    return state


def make_scan(state, points=()) -> np.ndarray:
    scan = np.full((MAX_SCAN, 2), 1e3)  # junk beyond SCAN_COUNT must be ignored
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    scan[: len(points)] = points
    state[w.SCAN_COUNT] = len(points)
    return scan


def wall_x(x, y0=-1.0, y1=1.0, n=201):
    """Points of a wall along x = const."""
    return [(x, y) for y in np.linspace(y0, y1, n)]


def call(state, scan, lim, v, om):
    """Run the kernel as the planner does; (flags, v, w, mem)."""
    mem = np.zeros(sf.mem_size(scan.shape[0]))
    cmd = np.full(2, np.nan)
    flags = sf.safety(state, scan, lim, v, om, mem, cmd)
    assert cmd[0] == state[w.CMD_V] and cmd[1] == state[w.CMD_W]
    return flags, cmd[0], cmd[1], mem


def braking_floor(last, est, lim, dt):
    """The kernel's braking floor ``b``: where each component's ramp down starts (the
    last command, or the estimate when it is smaller in the same direction), one tick of
    ``max_decel`` / ``max_yaw_accel`` closer to zero, within the speed limits."""
    return apply_limits(toward_zero(down_start(last[0], est[0]), lim[sf.L_MAX_DECEL] * dt),
                        toward_zero(down_start(last[1], est[1]), lim[sf.L_MAX_YAW_ACCEL] * dt),
                        lim[sf.L_MAX_SPEED], lim[sf.L_MAX_REVERSE], lim[sf.L_MAX_YAW_RATE],
                        0.5 * lim[sf.L_WHEEL_BASE], lim[sf.L_MAX_WHEEL_SPEED])[:2]


def plan_next_step(last_v, last_w, lim, dt):
    """The kernel's fallback "the last plan's next step": the last command one tick of
    ``max_decel`` and ``max_yaw_accel`` closer to zero, within the speed limits (the
    braking floor of a robot that does what it was last commanded)."""
    return braking_floor((last_v, last_w), (last_v, last_w), lim, dt)


def test_a_robot_rolling_at_a_point_against_its_last_command_brakes_by_reversing():
    """The case the random property test found: the last command reversed (-1 m/s) while
    the robot still rolls forward (0.5 m/s) at a point 0.25 m ahead.  Free, the ramp
    starts from zero (the two disagree) and the command is zero; with the point the
    braking floor (zero) does not stop in time, and the last plan's next step, reversing
    at 0.98 m/s, stops sooner through the motor lag: a speed the free command did not
    have, flagged a collision stop, and less than the last command."""
    lim = limits(max_speed=1, max_reverse=1, max_yaw_rate=1, max_accel=1, max_decel=1,
                 max_yaw_accel=1, collision_horizon_s=1, max_wheel_speed=1,
                 motor_time_constant=0.25)
    state = make_state(last=(-1.0, 0.0), speed=(0.5, 0.0), dt=0.02)
    free = state.copy()
    assert call(free, make_scan(free), lim, 0.0, 0.0)[1:3] == (0.0, 0.0)
    flags, v, om, _ = call(state, make_scan(state, [(0.25, 0.0)]), lim, 0.0, 0.0)
    assert flags & sf.COLLISION_STOP and not flags & sf.NO_SAFE_STOP
    assert (v, om) == plan_next_step(-1.0, 0.0, lim, 0.02) and v == pytest.approx(-0.98)


def test_pack_limits_layout():
    from robo_orch.config.sections import RobotConfig, SafetyConfig

    assert {k: getattr(SafetyConfig(), k) for k in DEFAULTS} == DEFAULTS
    assert {k: getattr(RobotConfig(), k) for k in ROBOT} == ROBOT
    cfg = SafetyConfig(max_speed=0.7, max_reverse=0.1, max_yaw_rate=1.5, max_accel=0.9,
                       max_decel=1.9, max_yaw_accel=5.0, collision_margin=0.04,
                       collision_horizon_s=1.2)
    lim = sf.pack_limits(cfg, RobotConfig(wheel_base=0.3, max_wheel_speed=1.1,
                                          motor_time_constant=0.05))
    assert lim.dtype == np.float64 and lim.shape == (sf.L_LEN,)
    assert lim[sf.L_MAX_SPEED] == 0.7 and lim[sf.L_MAX_REVERSE] == 0.1
    assert lim[sf.L_MAX_YAW_RATE] == 1.5 and lim[sf.L_MAX_ACCEL] == 0.9
    assert lim[sf.L_MAX_DECEL] == 1.9 and lim[sf.L_MAX_YAW_ACCEL] == 5.0
    assert lim[sf.L_MARGIN] == 0.04 and lim[sf.L_HORIZON] == 1.2
    assert lim[sf.L_WHEEL_BASE] == 0.3 and lim[sf.L_MAX_WHEEL_SPEED] == 1.1
    assert lim[sf.L_MOTOR_TAU] == 0.05


def test_flag_names_and_tally():
    assert [getattr(sf, n.upper()) for n in sf.FLAG_NAMES] == [1 << i for i in
                                                               range(len(sf.FLAG_NAMES))]
    counts = np.zeros(len(sf.FLAG_NAMES), dtype=np.int64)
    sf.tally_flags(sf.HARD_BRAKE | sf.COLLISION_STOP, counts)
    sf.tally_flags(sf.COLLISION_STOP, counts)
    assert counts[sf.FLAG_NAMES.index("collision_stop")] == 2
    assert counts[sf.FLAG_NAMES.index("hard_brake")] == 1 and counts.sum() == 3


def test_estop_zeroes_command_within_one_call():
    state = make_state(last=(0.8, 1.5), estop=1.0)
    flags, v, om, _ = call(state, make_scan(state), limits(), 0.8, 1.5)
    assert flags == sf.ESTOP and v == 0.0 and om == 0.0


def test_stale_inputs_give_a_controlled_stop_at_max_decel():
    lim = limits(max_decel=2.0, max_yaw_accel=4.0)
    state = make_state(last=(0.5, 1.0), stale=1.0)
    scan = make_scan(state)
    speeds, rates = [0.5], [1.0]
    for _ in range(30):
        flags, v, om, _ = call(state, scan, lim, 0.8, -2.0)  # the proposal is ignored
        assert flags & sf.STALE_STOP and not flags & sf.ACCEL_LIMITED
        speeds.append(v)
        rates.append(om)
    steps = np.diff(speeds)
    n_stop = round(0.5 / 2.0 / DT)  # v / max_decel seconds
    assert np.all(steps[:n_stop] == -2.0 * DT)
    assert speeds[n_stop] == 0.0 and speeds[n_stop - 1] > 0.0
    assert all(s == 0.0 for s in speeds[n_stop:])
    n_yaw = round(1.0 / 4.0 / DT)
    assert rates[n_yaw] == 0.0 and rates[n_yaw - 1] > 0.0
    # fresh data again: motion resumes under the acceleration limit
    state[w.STALE] = 0.0
    flags, v, _, _ = call(state, scan, lim, 0.5, 0.0)
    assert v == pytest.approx(1.0 * DT) and flags == sf.ACCEL_LIMITED


def test_speed_clamp_keeps_curvature():
    lim = limits(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.0, max_accel=1e3,
                 max_decel=1e3, max_yaw_accel=1e3)
    state = make_state()
    scan = make_scan(state)
    flags, v, om, _ = call(state, scan, lim, 1.6, 1.0)
    assert flags == sf.SPEED_CLAMPED and v == pytest.approx(0.8) and om == pytest.approx(0.5)
    state = make_state()
    flags, v, om, _ = call(state, scan, lim, -0.4, 0.4)
    assert flags == sf.SPEED_CLAMPED and v == pytest.approx(-0.2) and om == pytest.approx(0.2)
    state = make_state()
    flags, v, om, _ = call(state, scan, lim, 0.4, -8.0)
    assert flags == sf.SPEED_CLAMPED and v == pytest.approx(0.1) and om == pytest.approx(-2.0)
    state = make_state()
    assert call(state, scan, lim, 0.3, 0.5)[:3] == (0, 0.3, 0.5)


def test_acceleration_limits():
    lim = limits(max_accel=1.0, max_decel=2.0, max_yaw_accel=6.0)
    state = make_state(last=(0.4, 0.0))
    scan = make_scan(state)
    flags, v, om, _ = call(state, scan, lim, 0.8, 2.0)
    assert flags == sf.ACCEL_LIMITED
    assert v == pytest.approx(0.4 + 1.0 * DT) and om == pytest.approx(6.0 * DT)
    state = make_state(last=(0.4, 1.0))
    flags, v, om, _ = call(state, scan, lim, 0.0, -1.0)
    assert v == pytest.approx(0.4 - 2.0 * DT) and om == pytest.approx(1.0 - 6.0 * DT)
    # through zero: brake to zero at max_decel, then accelerate the rest of the tick
    state = make_state(last=(0.01, 0.0))
    flags, v, _, _ = call(state, scan, lim, -0.2, 0.0)
    t_stop = 0.01 / 2.0
    assert v == pytest.approx(-1.0 * (DT - t_stop))
    # a last command beyond the limits is clamped even though the ramp allows it
    state = make_state(last=(3.0, 0.0))
    flags, v, _, _ = call(state, scan, lim, 0.8, 0.0)
    assert v == 0.8 and flags & sf.SPEED_CLAMPED and flags & sf.ACCEL_LIMITED


FAST = dict(max_accel=1e3, max_decel=2.0, max_yaw_accel=1e3, collision_margin=0.05,
            collision_horizon_s=1.5)


def test_wall_ahead_slows_then_stops():
    lim = limits(**FAST)
    state = make_state()
    scan = make_scan(state, wall_x(0.4))
    flags, v, om, mem = call(state, scan, lim, 0.8, 0.4)
    assert flags & sf.COLLISION_SLOW and not flags & sf.COLLISION_STOP
    free_max = 0.4 - 0.25  # wall minus radius and margin
    assert 0.0 < mem[sf.MEM_FREE] <= free_max
    assert 0.0 < v <= math.sqrt(2 * 2.0 * free_max) < 0.8
    assert om / v == pytest.approx(0.4 / 0.8)  # curvature kept
    # closer than one step can travel: stop, and rotation stays allowed
    state = make_state(last=(0.0, 0.0))
    scan = make_scan(state, wall_x(0.27))
    flags, v, om, _ = call(state, scan, lim, 0.8, 0.4)
    assert flags & sf.COLLISION_STOP and v == 0.0 and om == pytest.approx(0.4)


def drive(state, scan, lim, proposal, ticks, *, sub=8):
    """Closed loop through the simulator's wheel model (lag, exact arcs), the estimate
    being the truth; returns the lowest surface clearance to the scan points, checked
    at ``sub`` sub-steps per tick."""
    tau, base = lim[sf.L_MOTOR_TAU], lim[sf.L_WHEEL_BASE]
    truth = np.array([state[w.X], state[w.Y], state[w.YAW], 0.0, 0.0])
    truth[3], truth[4] = body_to_wheels(state[w.V], state[w.W], base)
    pts = scan[: int(state[w.SCAN_COUNT])]
    lowest = math.inf
    for _ in range(ticks):
        _, v, om, _ = call(state, scan, lim, *proposal)
        left, right = body_to_wheels(v, om, base)
        for _ in range(sub):
            step_diff_drive(truth, left, right, state[w.DT] / sub, tau, base, 1e9)
            lowest = min(lowest, np.hypot(*(pts - truth[:2]).T).min() - state[w.ROBOT_RADIUS])
        state[w.X], state[w.Y], state[w.YAW] = truth[:3]
        state[w.V], state[w.W] = wheels_to_body(truth[3], truth[4], base)
    return lowest


@pytest.mark.parametrize("tau", [0.0, 0.08, 0.25])
def test_driving_at_a_wall_through_the_motor_lag_stops_at_the_margin(tau):
    # finding 2: the stopping distance ignored the actuator lag (0.08 s at 0.8 m/s is
    # 6.4 cm, more than the 5 cm margin)
    lim = limits(motor_time_constant=tau)
    state = make_state()
    scan = make_scan(state, wall_x(2.0, n=401))
    lowest = drive(state, scan, lim, (0.8, 0.0), 400)
    assert lowest >= 0.05 - 1e-9
    assert state[w.X] > 2.0 - 0.25 - 0.05  # and it does not stop far short
    assert state[w.CMD_V] == 0.0


def test_standing_against_a_wall_is_not_commanded_into_it():
    # finding 1: the robot stood against the obstacle (speed 0) while the ramp down
    # still started from the last command: forward for several ticks, flagged
    # collision_stop + accel_limited
    lim = limits()
    state = make_state(last=(0.6, 0.0), speed=(0.0, 0.0))
    scan = make_scan(state, wall_x(0.205))
    for _ in range(10):
        flags, v, om, _ = call(state, scan, lim, 0.6, 0.0)
        assert v == 0.0 and om == 0.0
        assert flags & sf.COLLISION_STOP and not flags & sf.HARD_BRAKE
    # turning away in place stays allowed
    flags, v, om, _ = call(state, scan, lim, 0.3, 1.0)
    assert v == 0.0 and om == pytest.approx(6.0 * DT) and flags & sf.COLLISION_STOP


def test_a_command_that_cannot_stop_in_time_brakes_harder_and_says_so():
    # a wall appears inside the braking distance at full speed: the braking floor
    # (max_decel) is not enough, so the command drops further, flagged hard_brake
    lim = limits(motor_time_constant=0.0)
    state = make_state(last=(0.8, 0.0))
    scan = make_scan(state, wall_x(0.25 + 0.8 * DT + 0.05))
    flags, v, _, mem = call(state, scan, lim, 0.8, 0.0)
    assert flags & sf.HARD_BRAKE and flags & sf.COLLISION_STOP
    assert v < 0.8 - 2.0 * DT
    assert mem[sf.MEM_ROLLOUTS] >= 2 and mem[sf.MEM_PREDICTED] >= 0.0


def test_wall_to_the_side_does_not_block_straight_driving_but_a_turn_into_it_does():
    lim = limits(**{**FAST, "max_decel": 0.5})
    side_wall = [(x, 0.35) for x in np.linspace(-1, 3, 401)]
    state = make_state()
    scan = make_scan(state, side_wall)
    flags, v, _, _ = call(state, scan, lim, 0.8, 0.0)
    assert flags == 0 and v == 0.8
    state = make_state()
    scan = make_scan(state, side_wall)
    flags, v, om, _ = call(state, scan, lim, 0.8, 2.0)  # radius 0.4 turn to the left
    assert flags == sf.COLLISION_SLOW and 0.0 < v < 0.8 and om == pytest.approx(2.5 * v)
    state = make_state()
    scan = make_scan(state, side_wall)
    flags, v, om, _ = call(state, scan, lim, 0.8, -2.0)  # away from it
    assert flags == 0 and v == 0.8 and om == -2.0


@pytest.mark.parametrize("behind", [-0.22, -0.3])
def test_points_behind_are_ignored_when_driving_forward(behind):
    lim = limits(**FAST)
    state = make_state(last=(0.5, 0.0))
    scan = make_scan(state, wall_x(behind))
    flags, v, _, _ = call(state, scan, lim, 0.5, 0.0)
    assert flags == 0 and v == 0.5
    # reversing into the same wall is stopped (inside the margin) or slowed
    state = make_state()
    scan = make_scan(state, wall_x(behind))
    flags, v, _, _ = call(state, scan, limits(**FAST, max_reverse=1.0), -1.0, 0.0)
    assert flags & (sf.COLLISION_STOP | sf.COLLISION_SLOW)
    assert -1.0 < v <= 0.0


def test_escaping_a_wall_closer_than_the_margin_is_allowed():
    lim = limits(**FAST)
    state = make_state(last=(0.0, 0.0))
    scan = make_scan(state, wall_x(0.21))  # already inside radius + margin
    flags, v, _, _ = call(state, scan, lim, -0.2, 0.0)
    assert flags == 0 and v == -0.2
    state = make_state(last=(0.0, 0.0))
    scan = make_scan(state, wall_x(0.21))
    flags, v, _, _ = call(state, scan, lim, 0.2, 0.0)  # pushing further in is not
    assert flags & sf.COLLISION_STOP and v == 0.0
    # a wall behind within the margin does not excuse a wall ahead
    state = make_state(last=(0.0, 0.0))
    scan = make_scan(state, wall_x(-0.21) + wall_x(0.26))
    flags, v, _, _ = call(state, scan, lim, 0.3, 0.0)
    assert flags & sf.COLLISION_STOP and v == 0.0


def test_rotation_in_place_is_allowed_when_surrounded():
    lim = limits(**FAST)
    ring = [(0.21 * math.cos(a), 0.21 * math.sin(a)) for a in np.linspace(0, 2 * np.pi, 90)]
    state = make_state(last=(0.0, 0.0))
    scan = make_scan(state, ring)
    flags, v, om, mem = call(state, scan, lim, 0.0, 1.5)
    assert flags == 0 and v == 0.0 and om == 1.5
    assert mem[sf.MEM_CLEARANCE] == pytest.approx(0.01)
    flags, v, om, _ = call(state, scan, lim, 0.3, 1.5)
    assert flags & sf.COLLISION_STOP and v == 0.0 and om == 1.5


def test_scan_rows_beyond_count_are_ignored():
    lim = limits(**FAST)
    state = make_state(last=(0.5, 0.0))
    scan = make_scan(state, wall_x(0.3))
    state[w.SCAN_COUNT] = 0
    flags, v, _, _ = call(state, scan, lim, 0.5, 0.0)
    assert flags == 0 and v == 0.5


def test_invalid_inputs_fail_safe():
    lim = limits()
    state = make_state(last=(0.5, 0.0))
    scan = make_scan(state)
    flags, v, _, _ = call(state, scan, lim, math.nan, 0.0)
    assert flags & sf.INVALID_INPUT and v == pytest.approx(0.5 - 2.0 * DT)
    state = make_state(last=(0.5, 0.0), dt=0.0)
    flags, v, _, _ = call(state, scan, lim, 0.5, 0.0)
    assert flags == sf.INVALID_INPUT and v == 0.0
    cmd = np.full(2, np.nan)
    assert sf.safety(state, scan, lim, 0.5, 0.0, np.zeros(2), cmd) == sf.INVALID_INPUT
    assert list(cmd) == [0.0, 0.0]


speed = st.floats(-3, 3, allow_nan=False)


@props(300)
@given(
    pv=speed, pw=st.floats(-6, 6, allow_nan=False), last_v=speed, last_w=speed,
    est_v=speed, est_w=speed, stale=st.booleans(), yaw=st.floats(-math.pi, math.pi),
    max_speed=st.floats(0.1, 2), max_reverse=st.floats(0, 1), max_yaw_rate=st.floats(0.1, 4),
    accel=st.floats(0.1, 5), decel=st.floats(0.1, 5), yaw_accel=st.floats(0.1, 10),
    horizon=st.floats(0.05, 3), wheel_speed=st.floats(0.2, 3), tau=st.floats(0, 0.3),
    points=st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), max_size=40),
)
# the wheel limit cuts the ramped command (1, 0.12: turning toward a point just outside the
# margin) to 0.9798 m/s, below the braking floor (0.99 m/s); the turn fails its check and the
# bisection from the floor sends 0.9813 m/s: faster than the free command, not the floor
@example(pv=1.0, pw=4.0, last_v=1.0, last_w=0.0, est_v=1.0, est_w=0.0, stale=False, yaw=0.0,
         max_speed=2.0, max_reverse=0.2, max_yaw_rate=4.0, accel=2.0, decel=0.5, yaw_accel=6.0,
         horizon=1.0, wheel_speed=1.0, tau=0.0, points=[(0.5, 0.251)])
def test_limits_ramps_and_reference(pv, pw, last_v, last_w, est_v, est_w, stale, yaw,
                                    max_speed, max_reverse, max_yaw_rate, accel, decel,
                                    yaw_accel, horizon, wheel_speed, tau, points):
    lim = limits(max_speed=max_speed, max_reverse=max_reverse, max_yaw_rate=max_yaw_rate,
                 max_accel=accel, max_decel=decel, max_yaw_accel=yaw_accel,
                 collision_horizon_s=horizon, max_wheel_speed=wheel_speed,
                 motor_time_constant=tau)
    state = make_state(yaw=yaw, last=(last_v, last_w), speed=(est_v, est_w),
                       stale=float(stale), dt=0.02)
    free = state.copy()
    ref = naive.safety(free, make_scan(free), lim, pv, pw)
    flags_free, v_free, om_free, _ = call(free, make_scan(free), lim, pv, pw)
    assert flags_free == ref[0]
    assert v_free == pytest.approx(ref[1], abs=1e-12) and om_free == pytest.approx(ref[2],
                                                                                   abs=1e-12)
    scan = make_scan(state, points)
    flags, v, om, _ = call(state, scan, lim, pv, pw)
    # within every limit, wheels included
    assert -max_reverse <= v <= max_speed and abs(om) <= max_yaw_rate
    assert max(abs(v - 0.17 * om), abs(v + 0.17 * om)) <= wheel_speed * (1 + 1e-12)
    # the scan only ever reduces the command, and says so; but for two fallbacks: the next
    # step of the braking plan the last command was checked with, tried when the braking
    # floor fails (reversing the motors while the robot still rolls forward, say), itself a
    # decrease from the last command; and, when the speed limits cut the ramped command
    # below the braking floor (hard_brake: the wheel limit scales v down with a new turn),
    # the bisection from the floor toward it, which is no faster than the floor
    reduced = abs(v) <= abs(v_free) + 1e-12 and abs(om) <= abs(om_free) + 1e-12
    if not (reduced and v * v_free >= 0.0 and om * om_free >= 0.0):
        assert flags & (sf.COLLISION_SLOW | sf.COLLISION_STOP)
        if (v, om) == plan_next_step(last_v, last_w, lim, 0.02):
            assert flags & sf.COLLISION_STOP
            assert abs(v) <= abs(last_v) and abs(om) <= abs(last_w)
        else:
            bv, bw = braking_floor((last_v, last_w), (est_v, est_w), lim, 0.02)
            assert flags_free & sf.HARD_BRAKE
            assert abs(v) <= max(abs(bv), abs(v_free)) + 1e-12
            assert abs(om) <= max(abs(bw), abs(om_free)) + 1e-12
    if (v, om) != (v_free, om_free):
        assert flags & (sf.COLLISION_SLOW | sf.COLLISION_STOP)
    # ramps: up from the last command at most, down faster only when flagged
    if -max_reverse <= last_v <= max_speed and abs(last_w) <= max_yaw_rate:
        assert abs(v) <= abs(last_v) + accel * 0.02 + 1e-12
        if not flags & sf.HARD_BRAKE:
            start = naive._down_start(last_v, est_v)
            assert abs(v) >= abs(start) - decel * 0.02 - 1e-12 or v * start < 0
