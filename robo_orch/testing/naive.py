"""Slow, obviously correct pure-Python references of the planning-core kernels.

The tests compare every compiled kernel with its reference here.  The references
follow the documented semantics in the plainest way (sorting, lists, numpy
matrices and an explicit inverse) and return results instead of writing into
output arrays.  They are not used at run time.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from robo_orch.core import safety as sf
from robo_orch.core import world as w

# --- schedule ----------------------------------------------------------------------


def schedule(tick, divisors, enabled, was_enabled, last_run):
    """Reference of ``schedule.schedule``: (due list, reset list), updating the inputs."""
    due, reset = [], []
    for i in range(len(divisors)):
        if not enabled[i]:
            was_enabled[i] = 0
            continue
        just_enabled = not was_enabled[i]
        if just_enabled or tick - last_run[i] >= divisors[i]:
            due.append(i)
            last_run[i] = tick
        if just_enabled:
            reset.append(i)
        was_enabled[i] = 1
    return due, reset


# --- arbitrate ---------------------------------------------------------------------


def arbitrate(proposals, activations, enabled, priorities, blendable):
    """Reference of ``arbitrate.arbitrate``: (winner, [v, w, total weight, count])."""
    active = [i for i in range(len(activations)) if enabled[i] and activations[i] > 0]
    if not active:
        return -1, [0.0, 0.0, 0.0, 0.0]
    order = sorted(active, key=lambda i: (-priorities[i], i))
    winner = order[0]
    if not blendable[winner]:
        return winner, [proposals[winner][w.OUT_V], proposals[winner][w.OUT_W], 1.0, 1.0]
    remaining = 1.0
    weights = {}
    for i in order:
        if not blendable[i]:
            break
        a = min(activations[i], 1.0)
        if a * remaining > 0:
            weights[i] = a * remaining
        remaining *= 1.0 - a
    total = sum(weights.values())
    # the blend in exact rational arithmetic: the kernel must come within rounding of it
    exact = sum(Fraction(wt) for wt in weights.values())
    v = sum(Fraction(wt) * Fraction(proposals[i][w.OUT_V]) for i, wt in weights.items()) / exact
    om = sum(Fraction(wt) * Fraction(proposals[i][w.OUT_W]) for i, wt in weights.items()) / exact
    return winner, [float(v), float(om), total, float(len(weights))]


# --- safety ------------------------------------------------------------------------


def _ramp(last, target, up_rate, down_rate, dt):
    """Move towards target: |value| grows at up_rate, shrinks at down_rate (per second)."""
    if last == target:
        return target
    if math.copysign(1, last) != math.copysign(1, target) and last and target:
        # through zero: time to stop, then accelerate
        t_stop = abs(last) / down_rate
        if t_stop >= dt:
            return last - math.copysign(down_rate * dt, last)
        return math.copysign(min(abs(target), up_rate * (dt - t_stop)), target)
    rate = up_rate if abs(target) >= abs(last) else down_rate
    if abs(target - last) <= rate * dt:
        return target
    return last + math.copysign(rate * dt, target - last)


def arc_pose(x0, y0, yaw0, v, om, t):
    """Pose after driving (v, om) for t seconds from (x0, y0, yaw0), exactly."""
    if abs(om * t) < 1e-9:
        return x0 + v * t * math.cos(yaw0), y0 + v * t * math.sin(yaw0)
    r = v / om
    return (x0 + r * (math.sin(yaw0 + om * t) - math.sin(yaw0)),
            y0 - r * (math.cos(yaw0 + om * t) - math.cos(yaw0)))


def _limits_scale(v, om, lim):
    """The largest factor <= 1 that brings (v, om) within every speed limit."""
    factors = [1.0]
    if v > lim["L_MAX_SPEED"]:
        factors.append(lim["L_MAX_SPEED"] / v)
    if v < -lim["L_MAX_REVERSE"]:
        factors.append(lim["L_MAX_REVERSE"] / -v)
    if abs(om) > lim["L_MAX_YAW_RATE"]:
        factors.append(lim["L_MAX_YAW_RATE"] / abs(om))
    s = min(factors)
    peak = max(abs(v - om * lim["L_WHEEL_BASE"] / 2), abs(v + om * lim["L_WHEEL_BASE"] / 2)) * s
    if peak > lim["L_MAX_WHEEL_SPEED"]:
        s *= lim["L_MAX_WHEEL_SPEED"] / peak
    return s


def _apply_limits(v, om, lim):
    """(v, om) scaled into the limits, landing exactly on any bound it meets; changed?"""
    s = _limits_scale(v, om, lim)
    if s >= 1.0:
        return v, om, False
    out = []
    for x, lo, hi in ((v * s, -lim["L_MAX_REVERSE"], lim["L_MAX_SPEED"]),
                      (om * s, -lim["L_MAX_YAW_RATE"], lim["L_MAX_YAW_RATE"])):
        for bound in (lo, hi):
            if bound != 0 and abs(x - bound) <= 1e-12 * abs(bound):
                x = bound
        out.append(min(max(x, lo), hi))
    return out[0], out[1], True


def _down_start(last, est):
    """The smaller of the last command and the estimate, in the last command's direction."""
    if last == 0:
        return 0.0
    along = est if math.copysign(1, est) == math.copysign(1, last) else 0.0
    return math.copysign(min(abs(last), abs(along)), last)


def _ramp_from(last, start, target, up_rate, down_rate, dt):
    """Up from ``last``; down from ``start``, never below the target."""
    opposite = (last > 0 > target) or (last < 0 < target)
    if abs(target) >= abs(last) and not opposite:
        return _ramp(last, target, up_rate, down_rate, dt)
    if abs(target) >= abs(start) and not opposite:
        return target
    return _ramp(start, target, up_rate, down_rate, dt)


def safety(state, scan, limits, proposal_v, proposal_w):
    """Reference of ``safety.safety`` without scan points (steps 1-4: e-stop, target,
    limits, ramps) for valid inputs: (flags, v, w); state untouched.  The look-ahead
    and the final check are tested against the simulator (tests/test_safety_invariant.py).
    """
    assert int(state[w.SCAN_COUNT]) <= 0, "reference of the point-free steps only"
    if state[w.ESTOP] != 0:
        return sf.ESTOP, 0.0, 0.0
    lim = {k: limits[getattr(sf, k)] for k in dir(sf) if k.startswith("L_") and k != "L_LEN"}
    dt = state[w.DT]
    last_v, last_w = state[w.CMD_V], state[w.CMD_W]
    start_v, start_w = _down_start(last_v, state[w.V]), _down_start(last_w, state[w.W])
    floor_v = _ramp(start_v, 0.0, 0.0, lim["L_MAX_DECEL"], dt)
    floor_w = _ramp(start_w, 0.0, 0.0, lim["L_MAX_YAW_ACCEL"], dt)
    flags = 0
    if state[w.STALE] != 0:
        v, om = floor_v, floor_w
        flags |= sf.STALE_STOP
    else:
        v, om = proposal_v, proposal_w
    v, om, clamped = _apply_limits(v, om, lim)
    if clamped:
        flags |= sf.SPEED_CLAMPED
    v_out = _ramp_from(last_v, start_v, v, lim["L_MAX_ACCEL"], lim["L_MAX_DECEL"], dt)
    w_out = _ramp_from(last_w, start_w, om, lim["L_MAX_YAW_ACCEL"], lim["L_MAX_YAW_ACCEL"], dt)
    if v_out != v or w_out != om:
        flags |= sf.ACCEL_LIMITED
    v_out, w_out, clamped = _apply_limits(v_out, w_out, lim)
    if clamped:
        flags |= sf.SPEED_CLAMPED
    below = [(floor > 0 and x < floor) or (floor < 0 and x > floor)
             for x, floor in ((v_out, floor_v), (w_out, floor_w))]
    if any(below):
        flags |= sf.HARD_BRAKE
    return flags, v_out, w_out


# --- estimator ---------------------------------------------------------------------


def wrap(a):
    """Angle wrapped to (-pi, pi]."""
    a = math.atan2(math.sin(a), math.cos(a))
    return math.pi if a == -math.pi else a


def ekf_predict(x, P, dt, accel_std, yaw_accel_std):
    """Reference prediction with explicit F and Q matrices; returns (x, P)."""
    px, py, yaw, v, om = x
    h = yaw + om * dt / 2
    x_new = np.array([px + v * dt * math.cos(h), py + v * dt * math.sin(h),
                      wrap(yaw + om * dt), v, om])
    F = np.eye(5)
    F[0, 2:5] = [-v * dt * math.sin(h), dt * math.cos(h), -v * dt * dt / 2 * math.sin(h)]
    F[1, 2:5] = [v * dt * math.cos(h), dt * math.sin(h), v * dt * dt / 2 * math.cos(h)]
    F[2, 4] = dt
    ga = np.array([dt * dt / 2 * math.cos(h), dt * dt / 2 * math.sin(h), 0, dt, 0])
    gb = np.array([0, 0, dt * dt / 2, 0, dt])
    Q = accel_std**2 * np.outer(ga, ga) + yaw_accel_std**2 * np.outer(gb, gb)
    return x_new, F @ P @ F.T + Q


def ekf_update(x, P, rows, z, stds, angle_rows=()):
    """Reference joint linear update (matrix inverse, Joseph form); returns (x, P).

    ``rows`` are the observed state components, ``z`` their measured values.
    """
    H = np.zeros((len(rows), 5))
    for k, j in enumerate(rows):
        H[k, j] = 1.0
    R = np.diag(np.asarray(stds, dtype=float) ** 2)
    innovation = np.asarray(z, dtype=float) - H @ x
    for k, j in enumerate(rows):
        if j in angle_rows:
            innovation[k] = wrap(innovation[k])
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    A = np.eye(5) - K @ H
    x_new = x + K @ innovation
    x_new[2] = wrap(x_new[2])
    return x_new, A @ P @ A.T + K @ R @ K.T


# --- mission -----------------------------------------------------------------------


def update_mission(state, path):
    """Reference of ``mission.update_mission``; updates ``state``, returns 1 on reaching."""
    if state[w.GOAL_REACHED]:
        return 0
    count = int(state[w.PATH_COUNT])
    if count <= 0:
        return 0
    index = min(max(int(state[w.TARGET_INDEX]), 0), count - 1)
    reached = 0
    while math.dist((state[w.X], state[w.Y]), path[index]) < state[w.GOAL_TOLERANCE]:
        if index == count - 1:
            state[w.GOAL_REACHED] = 1.0
            reached = 1
            break
        index += 1
    state[w.TARGET_INDEX] = index
    state[w.TARGET_X], state[w.TARGET_Y] = path[index]
    return reached
