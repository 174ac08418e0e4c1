"""core.safety: e-stop, stale stop, limits, collision check; against the reference."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_orch.core import naive
from robo_orch.core import safety as sf
from robo_orch.core import world as w

DT = 1.0 / 64  # exact in binary, so ramps land exactly on zero
MAX_SCAN = 1000


# SafetyConfig's defaults; a plain namespace keeps these tests independent of config parsing
DEFAULTS = dict(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.0, max_accel=1.0, max_decel=2.0,
                max_yaw_accel=6.0, collision_margin=0.05, collision_horizon_s=1.5, deadman_s=0.5)


def limits(**overrides) -> np.ndarray:
    return sf.pack_limits(SimpleNamespace(**{**DEFAULTS, **overrides}))


def make_state(*, x=0.0, y=0.0, yaw=0.0, last=(0.0, 0.0), estop=0.0, stale=0.0,
               radius=0.2, dt=DT):
    state = np.zeros(w.STATE_LEN)
    state[w.X], state[w.Y], state[w.YAW] = x, y, yaw
    state[w.DT] = dt
    state[w.CMD_V], state[w.CMD_W] = last
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
    """Run the kernel twice, without and with scratch room in ``mem`` (the planner's
    way: only points within reach are stepped); both must give the same answer."""
    gathered_state = state.copy()
    mem = np.zeros(sf.MEM_LEN)
    cmd = np.full(2, np.nan)
    flags = sf.safety(state, scan, lim, v, om, mem, cmd)
    assert cmd[0] == state[w.CMD_V] and cmd[1] == state[w.CMD_W]
    big_mem = np.zeros(sf.mem_size(scan.shape[0]))
    cmd2 = np.full(2, np.nan)
    flags2 = sf.safety(gathered_state, scan, lim, v, om, big_mem, cmd2)
    assert flags2 == flags and np.array_equal(cmd2, cmd, equal_nan=True)
    assert np.array_equal(big_mem[:sf.MEM_LEN], mem, equal_nan=True) or \
        big_mem[sf.MEM_STEPS] <= mem[sf.MEM_STEPS]
    return flags, cmd[0], cmd[1], mem


def test_pack_limits_layout():
    from robo_orch.config_schema import SafetyConfig

    assert {k: getattr(SafetyConfig(), k) for k in DEFAULTS} == DEFAULTS
    cfg = SafetyConfig(max_speed=0.7, max_reverse=0.1, max_yaw_rate=1.5, max_accel=0.9,
                       max_decel=1.9, max_yaw_accel=5.0, collision_margin=0.04,
                       collision_horizon_s=1.2)
    lim = sf.pack_limits(cfg)
    assert lim.dtype == np.float64 and lim.shape == (sf.L_LEN,)
    assert lim[sf.L_MAX_SPEED] == 0.7 and lim[sf.L_MAX_REVERSE] == 0.1
    assert lim[sf.L_MAX_YAW_RATE] == 1.5 and lim[sf.L_MAX_ACCEL] == 0.9
    assert lim[sf.L_MAX_DECEL] == 1.9 and lim[sf.L_MAX_YAW_ACCEL] == 5.0
    assert lim[sf.L_MARGIN] == 0.04 and lim[sf.L_HORIZON] == 1.2


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


def test_driving_towards_a_wall_never_gets_closer_than_the_margin():
    lim = limits(**FAST, max_speed=0.8)
    lim[sf.L_MAX_ACCEL] = 1.0
    state = make_state()
    scan = make_scan(state, wall_x(1.5))
    for _ in range(600):
        _, v, om, _ = call(state, scan, lim, 0.8, 0.0)
        state[w.X] += v * DT
    assert state[w.X] <= 1.5 - 0.25 + 1e-9
    assert state[w.X] > 1.5 - 0.25 - 0.05  # and it does not stop far short
    assert state[w.CMD_V] == 0.0


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


@settings(derandomize=True, deadline=None, max_examples=300)
@given(
    pv=speed, pw=st.floats(-6, 6, allow_nan=False), last_v=speed, last_w=speed,
    stale=st.booleans(), yaw=st.floats(-math.pi, math.pi),
    max_speed=st.floats(0.1, 2), max_reverse=st.floats(0, 1), max_yaw_rate=st.floats(0.1, 4),
    accel=st.floats(0.1, 5), decel=st.floats(0.1, 5), yaw_accel=st.floats(0.1, 10),
    horizon=st.floats(0.05, 3),
    points=st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), max_size=40),
)
def test_never_exceeds_limits_and_matches_reference(pv, pw, last_v, last_w, stale, yaw,
                                                    max_speed, max_reverse, max_yaw_rate,
                                                    accel, decel, yaw_accel, horizon, points):
    lim = limits(max_speed=max_speed, max_reverse=max_reverse, max_yaw_rate=max_yaw_rate,
                 max_accel=accel, max_decel=decel, max_yaw_accel=yaw_accel,
                 collision_horizon_s=horizon)
    state = make_state(yaw=yaw, last=(last_v, last_w), stale=float(stale), dt=0.02)
    scan = make_scan(state, points)
    ref = naive.safety(state.copy(), scan, lim, pv, pw)
    flags, v, om, _ = call(state, scan, lim, pv, pw)
    assert flags == ref[0]
    assert v == pytest.approx(ref[1], abs=1e-12) and om == pytest.approx(ref[2], abs=1e-12)
    assert -max_reverse <= v <= max_speed
    assert abs(om) <= max_yaw_rate
    if -max_reverse <= last_v <= max_speed and abs(last_w) <= max_yaw_rate:
        assert abs(v - last_v) <= max(accel, decel) * 0.02 + 1e-12
        assert abs(om - last_w) <= yaw_accel * 0.02 + 1e-12
