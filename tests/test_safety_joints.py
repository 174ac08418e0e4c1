"""core.safety_joints: range, speed, acceleration, stopping, e-stop, stale and bad input.

The property tests drive the kernel with adversarial proposals (far beyond the
limits, NaN and inf, oscillating, flipping modes of attack) and a joint that
does what it is commanded: in velocity mode it moves by ``cmd_vel dt`` from its
measured position, in position mode it is where it was commanded.  Whatever the
proposals, that joint stays within its range, and every command keeps the
speed and acceleration limits (except under e-stop).
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_orch.core import safety_joints as sj

STYLES = ("random", "beyond", "oscillate", "nan", "edges", "steps")


def _toward_zero(c: float, step: float) -> float:
    return math.copysign(max(abs(c) - step, 0.0), c) if c else 0.0


@st.composite
def joint_rows(draw, n: int) -> np.ndarray:
    rows = []
    for _ in range(n):
        lo = draw(st.floats(-5.0, 5.0))
        span = draw(st.floats(0.01, 10.0))
        vmax = draw(st.floats(0.01, 10.0))
        acc = draw(st.floats(0.1, 200.0))
        rows.append([lo, lo + span, vmax, acc])
    return np.ascontiguousarray(rows, dtype=np.float64)


def _proposal(rng: np.random.Generator, style: str, k: int, limits: np.ndarray,
              mode: int) -> np.ndarray:
    n = limits.shape[0]
    lo, hi, vmax = limits[:, sj.L_MIN], limits[:, sj.L_MAX], limits[:, sj.L_MAX_VEL]
    scale = (hi - lo) if mode == sj.MODE_POSITION else vmax
    centre = 0.5 * (lo + hi) if mode == sj.MODE_POSITION else 0.0
    if style == "random":
        return centre + scale * rng.uniform(-1.0, 1.0, n)
    if style == "beyond":
        return centre + scale * rng.choice([-1e9, -3.0, 3.0, 1e9, 1e300], n)
    if style == "oscillate":
        return centre + scale * (50.0 if k % 2 else -50.0) * np.ones(n)
    if style == "nan":
        out = centre + scale * rng.uniform(-2.0, 2.0, n)
        if rng.random() < 0.3:
            out[rng.integers(n)] = rng.choice([np.nan, np.inf, -np.inf])
        return out
    if style == "edges":
        return np.where(rng.random(n) < 0.5, lo, hi) if mode == sj.MODE_POSITION \
            else np.where(rng.random(n) < 0.5, -vmax, vmax)
    # "steps": a new random target every 25 ticks, often beyond the range
    step_rng = np.random.default_rng(k // 25)
    return centre + scale * step_rng.uniform(-1.5, 1.5, n)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 4), data=st.data(), mode=st.sampled_from([0, 1]),
       dt=st.sampled_from([1 / 50, 1 / 64, 1 / 100, 0.004, 0.1]),
       style=st.sampled_from(STYLES), seed=st.integers(0, 2**32 - 1),
       events=st.sampled_from(["none", "stale", "estop", "both"]))
def test_commands_keep_every_limit(n, data, mode, dt, style, seed, events):
    limits = data.draw(joint_rows(n))
    rng = np.random.default_rng(seed)
    lo, hi = limits[:, sj.L_MIN], limits[:, sj.L_MAX]
    vmax, acc = limits[:, sj.L_MAX_VEL], limits[:, sj.L_MAX_ACCEL]
    ad = acc * dt
    pos = lo + (hi - lo) * rng.uniform(0.0, 1.0, n)  # the joint
    last_pos, last_vel = pos.copy(), np.zeros(n)
    cmd_pos, cmd_vel = np.zeros(n), np.zeros(n)
    span = hi - lo
    for k in range(120):
        proposal = _proposal(rng, style, k, limits, mode)
        stale = float(events in ("stale", "both") and 40 <= k < 70)
        estop = float(events in ("estop", "both") and (k in (20, 21, 90) or rng.random() < 0.02))
        flags = sj.safety_joints(limits, pos, last_pos, last_vel, proposal, mode, estop, stale,
                                 dt, cmd_pos, cmd_vel)
        tol_v = 1e-9 * (np.abs(last_vel) + ad) + 1e-12
        # range and speed: always
        assert np.all(cmd_pos >= lo) and np.all(cmd_pos <= hi), (k, cmd_pos, lo, hi)
        assert np.all(np.abs(cmd_vel) <= vmax), (k, cmd_vel, vmax)
        assert not flags & sj.HARD_BRAKE, (k, flags)
        if estop:
            assert flags & sj.ESTOP
            assert np.all(cmd_vel == 0.0)
            np.testing.assert_array_equal(cmd_pos, np.clip(pos, lo, hi))
        else:
            assert np.all(np.abs(cmd_vel - last_vel) <= ad + tol_v), (k, cmd_vel, last_vel, ad)
            if stale or not np.all(np.isfinite(proposal)):
                assert flags & (sj.STALE_STOP if stale else sj.INVALID_INPUT)
                want = np.array([_toward_zero(v, a) for v, a in zip(last_vel, ad, strict=True)])
                np.testing.assert_allclose(cmd_vel, want, rtol=1e-9, atol=1e-12)
            if mode == sj.MODE_POSITION:
                # the setpoint moves by its velocity (the position step obeys both limits)
                np.testing.assert_allclose(cmd_pos - last_pos, cmd_vel * dt,
                                           atol=1e-12 * (1.0 + np.max(np.abs(last_pos))))
        # the joint does what it is commanded
        pos = pos + cmd_vel * dt if mode == sj.MODE_VELOCITY and not estop else cmd_pos.copy()
        assert np.all(pos >= lo - 1e-9 * span) and np.all(pos <= hi + 1e-9 * span), (k, pos)
        last_pos, last_vel = cmd_pos.copy(), cmd_vel.copy()


LIMITS = np.array([[-2.6, 2.6, 2.0, 8.0], [-0.5, 1.2, 1.5, 6.0]])
DT = 1.0 / 50


def _run(mode, proposal, ticks, *, pos=None, limits=LIMITS, follow=True):
    """Drive a joint that follows its command; return (positions, velocities, flags) per tick."""
    n = limits.shape[0]
    pos = np.zeros(n) if pos is None else np.asarray(pos, dtype=np.float64).copy()
    last_pos, last_vel = pos.copy(), np.zeros(n)
    cp, cv = np.zeros(n), np.zeros(n)
    prop = np.asarray(proposal, dtype=np.float64)
    out_p, out_v, out_f = [], [], []
    for _ in range(ticks):
        f = sj.safety_joints(limits, pos, last_pos, last_vel, prop, mode, 0.0, 0.0, DT, cp, cv)
        pos = pos + cv * DT if mode == sj.MODE_VELOCITY else cp.copy()
        last_pos, last_vel = cp.copy(), cv.copy()
        out_p.append(pos.copy())
        out_v.append(cv.copy())
        out_f.append(f)
    return np.array(out_p), np.array(out_v), out_f


def test_position_mode_reaches_a_target_on_a_trapezoid_and_stays():
    target = [2.0, -0.4]
    p, v, flags = _run(sj.MODE_POSITION, target, 150)
    # the pan joint: 2 rad at 2 rad/s with 8 rad/s^2 takes 1.25 s; allow a few ticks
    first = int(np.argmax(np.abs(p[:, 0] - 2.0) < 1e-12))
    assert 0 < first * DT <= 1.25 + 5 * DT
    np.testing.assert_array_equal(p[-1], target)
    assert np.all(v[-10:] == 0.0)
    assert np.max(np.abs(v[:, 0])) == pytest.approx(2.0)  # it cruised at the limit
    assert all(f == 0 for f in flags)


def test_position_target_beyond_the_range_stops_at_the_end():
    p, v, flags = _run(sj.MODE_POSITION, [99.0, -99.0], 200)
    np.testing.assert_array_equal(p[-1], [2.6, -0.5])
    assert all(f & sj.POSITION_LIMITED for f in flags)
    assert np.all(v[-5:] == 0.0)


def test_velocity_mode_stops_before_the_end_and_close_to_it():
    p, v, flags = _run(sj.MODE_VELOCITY, [5.0, -5.0], 300)
    assert np.all(p[:, 0] <= 2.6) and np.all(p[:, 1] >= -0.5)
    assert p[-1, 0] > 2.6 - 1e-3 and p[-1, 1] < -0.5 + 1e-3
    assert np.all(np.abs(v[-1]) < 0.05)
    assert flags[0] & sj.SPEED_CLAMPED and flags[0] & sj.ACCEL_LIMITED
    assert any(f & sj.POSITION_LIMITED for f in flags)


def test_estop_holds_at_once_from_full_speed():
    n = 2
    limits = LIMITS
    pos = np.array([0.1, 0.2])
    last_pos, last_vel = pos.copy(), np.array([2.0, -1.5])
    cp, cv = np.full(n, 9.0), np.full(n, 9.0)
    f = sj.safety_joints(limits, pos, last_pos, last_vel, np.array([1.0, 1.0]), 0, 1.0, 0.0,
                         DT, cp, cv)
    assert f == sj.ESTOP
    np.testing.assert_array_equal(cv, [0.0, 0.0])
    np.testing.assert_array_equal(cp, pos)
    # NaN counts as engaged; an unknown measured position holds the last command
    f = sj.safety_joints(limits, np.array([np.nan, 5.0]), last_pos, last_vel,
                         np.zeros(n), 1, np.nan, 0.0, DT, cp, cv)
    assert f == sj.ESTOP | sj.INVALID_INPUT
    np.testing.assert_array_equal(cp, [0.1, 1.2])  # the second held within its range
    np.testing.assert_array_equal(cv, [0.0, 0.0])


def test_stale_brakes_at_max_accel_to_a_standstill():
    n = 2
    last_pos, last_vel = np.array([0.0, 0.0]), np.array([2.0, -1.5])
    pos = last_pos.copy()
    cp, cv = np.zeros(n), np.zeros(n)
    speeds = []
    for _ in range(30):
        f = sj.safety_joints(LIMITS, pos, last_pos, last_vel, np.array([2.5, 1.0]), 0, 0.0, 1.0,
                             DT, cp, cv)
        assert f == sj.STALE_STOP
        speeds.append(cv.copy())
        last_pos, last_vel, pos = cp.copy(), cv.copy(), cp.copy()
    speeds = np.array(speeds)
    np.testing.assert_allclose(speeds[:3, 0], [2.0 - 0.16, 2.0 - 0.32, 2.0 - 0.48])
    np.testing.assert_allclose(speeds[:3, 1], [-1.5 + 0.12, -1.5 + 0.24, -1.5 + 0.36])
    assert np.all(speeds[-5:] == 0.0)


@pytest.mark.parametrize("bad", [
    dict(dt=0.0), dict(dt=np.nan), dict(mode=7),
    dict(limits=np.array([[1.0, -1.0, 1.0, 1.0], [-0.5, 1.2, 1.5, 6.0]])),
    dict(limits=np.array([[-1.0, 1.0, 0.0, 1.0], [-0.5, 1.2, 1.5, 6.0]])),
    dict(limits=np.array([[-1.0, 1.0, 1.0, np.inf], [-0.5, 1.2, 1.5, 6.0]])),
])
def test_bad_inputs_stop_at_once(bad):
    args = dict(limits=LIMITS, dt=DT, mode=1)
    args.update(bad)
    pos = np.array([0.3, 0.4])
    cp, cv = np.zeros(2), np.ones(2)
    f = sj.safety_joints(np.ascontiguousarray(args["limits"]), pos, pos.copy(),
                         np.array([1.0, 1.0]), np.array([1.0, 1.0]), args["mode"], 0.0, 0.0,
                         args["dt"], cp, cv)
    assert f == sj.INVALID_INPUT
    np.testing.assert_array_equal(cv, [0.0, 0.0])
    np.testing.assert_array_equal(cp, pos)


def test_mismatched_lengths_are_refused():
    cp, cv = np.zeros(2), np.ones(2)
    f = sj.safety_joints(LIMITS, np.zeros(3), np.zeros(2), np.zeros(2), np.zeros(2), 0, 0.0,
                         0.0, DT, cp, cv)
    assert f == sj.INVALID_INPUT
    np.testing.assert_array_equal(cv, [0.0, 0.0])


def test_non_finite_memory_and_measurement():
    cp, cv = np.zeros(2), np.zeros(2)
    # position mode, last command lost: restart at rest from the measured position
    f = sj.safety_joints(LIMITS, np.array([0.5, 0.5]), np.array([np.nan, 0.0]),
                         np.array([0.0, np.inf]), np.array([0.5, 0.5]), 0, 0.0, 0.0, DT, cp, cv)
    assert f & sj.INVALID_INPUT and not f & sj.HARD_BRAKE
    np.testing.assert_array_equal(cp, [0.5, 0.5])
    # velocity mode, measurement lost: dead reckoning on the last command
    f = sj.safety_joints(LIMITS, np.array([np.nan, 0.0]), np.array([2.5, 0.0]),
                         np.array([1.0, 0.0]), np.array([2.0, 0.0]), 1, 0.0, 0.0, DT, cp, cv)
    assert f & sj.INVALID_INPUT
    assert cp[0] <= 2.6 and 2.5 + cv[0] * DT + cv[0] ** 2 / 16.0 <= 2.6 + 1e-12


def test_limits_moved_under_the_command_are_flagged_and_kept():
    cp, cv = np.zeros(2), np.zeros(2)
    # the setpoint is beyond a narrowed range and moving out: clamped in, stopped hard
    f = sj.safety_joints(LIMITS, np.array([2.0, 0.0]), np.array([3.0, 0.0]),
                         np.array([2.0, 0.0]), np.array([3.0, 0.0]), 0, 0.0, 0.0, DT, cp, cv)
    assert f & sj.POSITION_LIMITED and f & sj.HARD_BRAKE
    assert cp[0] == 2.6 and cv[0] == 0.0
    # velocity mode: the joint ran ahead of its command, close to the end at full speed
    f = sj.safety_joints(LIMITS, np.array([2.59, 0.0]), np.array([2.5, 0.0]),
                         np.array([2.0, 0.0]), np.array([2.0, 0.0]), 1, 0.0, 0.0, DT, cp, cv)
    assert f & sj.HARD_BRAKE and f & sj.POSITION_LIMITED
    assert 2.59 + cv[0] * DT <= 2.6


def test_aliased_output_arrays():
    """The last command's arrays may be the output arrays (the runtime does this)."""
    pos = np.zeros(2)
    cp, cv = np.zeros(2), np.zeros(2)
    for _ in range(100):
        sj.safety_joints(LIMITS, pos, cp, cv, np.array([1.0, 1.0]), 0, 0.0, 0.0, DT, cp, cv)
    np.testing.assert_array_equal(cp, [1.0, 1.0])


def test_pack_joint_limits():
    joints = [SimpleNamespace(min=-1.0, max=2.0, max_velocity=3.0, max_accel=4.0)]
    limits = sj.pack_joint_limits(joints)
    assert limits.flags.c_contiguous and limits.shape == (1, sj.L_LEN)
    assert limits[0].tolist() == [-1.0, 2.0, 3.0, 4.0]
    assert sj.FLAG_NAMES[int(math.log2(sj.POSITION_LIMITED))] == "position_limited"
    assert sj.MODES[sj.MODE_POSITION] == "position" and sj.MODES[sj.MODE_VELOCITY] == "velocity"


def _allocations(fn) -> set[str]:
    ir = fn.inspect_llvm(fn.signatures[0])
    return {name for name in re.findall(r"@(NRT_\w+)", ir)
            if name.startswith(("NRT_MemInfo_alloc", "NRT_Allocate"))}


def test_the_kernel_allocates_nothing():
    """Compiled afresh (numba cannot show the IR of cached code) and its LLVM IR searched
    for numba's allocation calls; np.zeros is the control that the search finds one."""
    fresh = numba.njit(sj._SIG, error_model="numpy")(sj.safety_joints.py_func)
    assert _allocations(fresh) == set()
    control = numba.njit("float64[::1](int64)")(lambda n: np.zeros(n))
    assert _allocations(control)
