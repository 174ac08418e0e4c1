"""The safety kernel of a ``joints`` command space: n joint positions or velocities.

:func:`safety_joints` turns one proposal for the n joints of a command space (a
pan-tilt head, a gripper, a servo chain) into the command that is sent.  Each
joint ``i`` has the row ``limits[i]``: ``L_MIN``, ``L_MAX`` (position range, rad
or m), ``L_MAX_VEL`` (speed limit) and ``L_MAX_ACCEL`` (acceleration limit);
``a dt`` below is one tick of it.  The command is a *setpoint trajectory*: a
position ``cmd_pos[i]`` and a velocity ``cmd_vel[i]`` per joint, and the last
command (``last_cmd_pos``, ``last_cmd_vel``, the previous call's output; the
arrays may be the same as ``cmd_pos`` and ``cmd_vel``) is where it continues from.

Guarantees, for every call with valid limits (each joint, each tick):

* **range**: ``L_MIN <= cmd_pos <= L_MAX``, always (e-stop included);
* **speed**: ``|cmd_vel| <= L_MAX_VEL``;
* **acceleration**: ``|cmd_vel - last_cmd_vel| <= a dt``, except under e-stop,
  bad input (:data:`INVALID_INPUT`, below) and the cases flagged
  :data:`HARD_BRAKE` (which cannot occur while the joint does what it is
  commanded, see below);
* **stopping**: the velocity command always leaves room to stop before the
  range's ends: ``p + v dt + v^2 / (2 a)`` stays within the range (one tick at
  ``v``, then braking at ``a``), where ``p`` is the setpoint (position mode) or
  the measured position (velocity mode).  Landing exactly on an end within one
  tick at a speed of at most ``a dt`` is also allowed (it stops the next tick).
  So braking at ``a`` (``cmd_vel`` one ``a dt`` closer to zero each tick) is
  always within the limits: a joint that follows its command cannot be driven
  past an end, and the acceleration bound above holds.

Modes (``mode``, the same for every joint of a space):

* :data:`MODE_POSITION`: ``proposal[i]`` is a target position, clamped to the
  range (flag :data:`POSITION_LIMITED` when it was outside).  The setpoint
  moves from ``last_cmd_pos`` toward it on a trapezoidal profile: its velocity
  is the fastest that can still stop at the target (at most ``L_MAX_VEL``),
  changed by at most ``a dt`` per tick, and ``cmd_pos = last_cmd_pos + cmd_vel
  dt`` (so the position step per tick is at most ``L_MAX_VEL dt`` and the step's
  change at most ``a dt^2``).  A target within ``a dt^2`` is landed on exactly.
  The measured position is used only by e-stop and to restart after a lost
  last command.  Routine trapezoid shaping is not flagged.
* :data:`MODE_VELOCITY`: ``proposal[i]`` is a velocity, clamped to the speed
  limit (:data:`SPEED_CLAMPED`), ramped by at most ``a dt`` from the last
  command (:data:`ACCEL_LIMITED`), and reduced so that the joint, following it
  from its *measured* position, stops before either end
  (:data:`POSITION_LIMITED`).  ``cmd_pos`` is where the command takes the joint
  in one tick (the measured position plus ``cmd_vel dt``, within the range).

Overrides, in order:

1. **E-stop** (``estop != 0``, NaN included): hold at once: ``cmd_vel = 0``,
   ``cmd_pos`` the measured position (within the range); no ramp.  Flag
   :data:`ESTOP`.  (The latch and its reset live in Python.)
2. **Stale input** (``stale != 0``, NaN included): a controlled stop: each
   ``cmd_vel`` one ``a dt`` closer to zero per tick, then held at zero (the
   position setpoint stops where braking takes it).  Flag :data:`STALE_STOP`.
3. **Non-finite proposal** (any joint's): the whole proposal is treated as hold,
   the same controlled stop as (2).  Flag :data:`INVALID_INPUT`.

Bad inputs: arrays whose lengths do not match ``limits``, limits out of range
(``L_MIN < L_MAX`` finite, ``L_MAX_VEL`` and ``L_MAX_ACCEL`` positive and
finite), ``dt`` not positive and finite, or an unknown mode: every ``cmd_vel``
zero at once, ``cmd_pos`` the measured position (else the last command),
:data:`INVALID_INPUT`.  A non-finite last command restarts that joint from the
measured position at rest; a non-finite measured position in velocity mode is
replaced by the last commanded one (dead reckoning); both
:data:`INVALID_INPUT`.  A last command outside the range (the limits changed) is
clamped into it (:data:`POSITION_LIMITED`); a command the limits force to change
faster than ``a dt`` (limits changed, or a measured position that ran ahead of
its command) is flagged :data:`HARD_BRAKE`.

What is not guaranteed: the physical joint's own lag.  The stopping guarantee is
for the command; a joint that follows it ``tau`` seconds late runs up to about
``L_MAX_VEL tau`` further, so set ``L_MIN`` / ``L_MAX`` inside the hard stops by
at least that.

Flag bits are those of :mod:`robo_orch.core.safety` where the meaning matches;
:data:`POSITION_LIMITED` is the joints' own (bit 9, above safety.py's bits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numba
import numpy as np

from robo_orch.core.safety_steps import (
    ACCEL_LIMITED,
    ESTOP,
    HARD_BRAKE,
    INVALID_INPUT,
    SPEED_CLAMPED,
    STALE_STOP,
)

__all__ = ["ACCEL_LIMITED", "ESTOP", "FLAG_NAMES", "HARD_BRAKE", "INVALID_INPUT",
           "L_LEN", "L_MAX", "L_MAX_ACCEL", "L_MAX_VEL", "L_MIN", "MODES", "MODE_POSITION",
           "MODE_VELOCITY", "POSITION_LIMITED", "SPEED_CLAMPED", "STALE_STOP", "JointLimits",
           "pack_joint_limits", "safety_joints"]

# --- limits array layout: one row per joint ---------------------------------------
L_MIN = 0
L_MAX = 1
L_MAX_VEL = 2
L_MAX_ACCEL = 3
L_LEN = 4

# --- modes --------------------------------------------------------------------------
MODE_POSITION = 0
MODE_VELOCITY = 1
#: mode names, by mode number (the config's ``mode`` and the messages' ``mode``)
MODES = ("position", "velocity")

# --- flags of its own (safety.py's use bits 0-8) -------------------------------------
#: a position target outside the range was clamped, or the velocity was reduced to
#: stop before an end of the range
POSITION_LIMITED = 512

#: flag names, lowest bit first, for bits 0-9 (safety.py's names, then the joints' own)
FLAG_NAMES = ("estop", "stale_stop", "speed_clamped", "accel_limited", "collision_slow",
              "collision_stop", "invalid_input", "hard_brake", "no_safe_stop",
              "position_limited")

_REL_TOL = 1e-9  # rounding allowance before HARD_BRAKE / POSITION_LIMITED are flagged


class JointLimits(Protocol):
    """What :func:`pack_joint_limits` reads of one joint (the config's joint table)."""

    min: float
    max: float
    max_velocity: float
    max_accel: float


def pack_joint_limits(joints: Sequence[JointLimits]) -> np.ndarray:
    """The ``limits`` array (float64[n, L_LEN], C-contiguous) for :func:`safety_joints`."""
    limits = np.zeros((len(joints), L_LEN), dtype=np.float64)
    for i, j in enumerate(joints):
        limits[i, L_MIN] = j.min
        limits[i, L_MAX] = j.max
        limits[i, L_MAX_VEL] = j.max_velocity
        limits[i, L_MAX_ACCEL] = j.max_accel
    return limits


@numba.njit(cache=True, inline="always")
def _clamp(x, lo, hi):
    if x > hi:
        return hi
    if x < lo:
        return lo
    return x


@numba.njit(cache=True, inline="always")
def _toward_zero(c, step):
    if c > step:
        return c - step
    if c < -step:
        return c + step
    return 0.0


@numba.njit(cache=True, error_model="numpy")
def _reach_speed(r, a, dt):
    """The largest speed ``u >= 0`` that keeps ``u dt + u^2 / (2 a) <= r`` (0 if r <= 0),
    raised to ``r / dt`` where that lands on the end at no more than ``a dt``."""
    if r <= 0.0:
        return 0.0
    ad = a * dt
    # u = sqrt(ad^2 + 2 a r) - ad, written without the cancellation of a small r
    u = 2.0 * a * r / (math.sqrt(ad * ad + 2.0 * a * r) + ad)
    land = r / dt
    if land <= ad and land > u:
        return land
    return u


@numba.njit(cache=True, inline="always")
def _limits_ok(limits, i):
    lo = limits[i, L_MIN]
    hi = limits[i, L_MAX]
    vmax = limits[i, L_MAX_VEL]
    acc = limits[i, L_MAX_ACCEL]
    return (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(vmax)
            and math.isfinite(acc) and lo < hi and vmax > 0.0 and acc > 0.0)


@numba.njit(cache=True, error_model="numpy")
def _hold_position(limits, i, measured, last):
    """The position to hold joint ``i`` at: measured, else the last command, within
    the range when the joint's limits are valid (else the range's middle or 0)."""
    ok = _limits_ok(limits, i)
    if math.isfinite(measured):
        x = measured
    elif math.isfinite(last):
        x = last
    elif ok:
        x = 0.5 * (limits[i, L_MIN] + limits[i, L_MAX])
    else:
        x = 0.0
    if ok:
        x = _clamp(x, limits[i, L_MIN], limits[i, L_MAX])
    return x


_SIG = ("int64(float64[:, ::1], float64[::1], float64[::1], float64[::1], float64[::1],"
        " int64, float64, float64, float64, float64[::1], float64[::1])")


@numba.njit(_SIG, cache=True, error_model="numpy")
def safety_joints(limits, measured_pos, last_cmd_pos, last_cmd_vel, proposal, mode, estop,
                  stale, dt, cmd_pos, cmd_vel):
    """Turn the proposal into the command (``cmd_pos``, ``cmd_vel``); return the flags.

    See the module docstring for the guarantees.  No allocation: safe in the loop.
    """
    n = limits.shape[0]
    if (limits.shape[1] < L_LEN or measured_pos.shape[0] != n or last_cmd_pos.shape[0] != n
            or last_cmd_vel.shape[0] != n or proposal.shape[0] != n or cmd_pos.shape[0] != n
            or cmd_vel.shape[0] != n):
        for i in range(cmd_vel.shape[0]):
            cmd_vel[i] = 0.0
        for i in range(min(cmd_pos.shape[0], measured_pos.shape[0])):
            if math.isfinite(measured_pos[i]):
                cmd_pos[i] = measured_pos[i]
        return INVALID_INPUT

    # 1. e-stop: hold where the joints are, at once
    if estop != 0.0:
        flags = ESTOP
        for i in range(n):
            m = measured_pos[i]
            if not math.isfinite(m):
                flags |= INVALID_INPUT
            cmd_pos[i] = _hold_position(limits, i, m, last_cmd_pos[i])
            cmd_vel[i] = 0.0
        return flags

    valid = dt > 0.0 and math.isfinite(dt) and MODE_POSITION <= mode <= MODE_VELOCITY
    for i in range(n):
        if not _limits_ok(limits, i):
            valid = False
    if not valid:
        for i in range(n):
            cmd_pos[i] = _hold_position(limits, i, measured_pos[i], last_cmd_pos[i])
            cmd_vel[i] = 0.0
        return INVALID_INPUT

    # 2./3. stale input or a non-finite proposal: a controlled stop
    flags = 0
    hold = False
    if stale != 0.0:
        hold = True
        flags |= STALE_STOP
    else:
        for i in range(n):
            if not math.isfinite(proposal[i]):
                hold = True
        if hold:
            flags |= INVALID_INPUT

    position_mode = mode == MODE_POSITION
    for i in range(n):
        lo = limits[i, L_MIN]
        hi = limits[i, L_MAX]
        vmax = limits[i, L_MAX_VEL]
        acc = limits[i, L_MAX_ACCEL]
        ad = acc * dt
        v0 = last_cmd_vel[i]
        p0 = last_cmd_pos[i]
        m = measured_pos[i]
        # where the command continues from
        if position_mode:
            if math.isfinite(p0) and math.isfinite(v0):
                p = p0
            else:
                flags |= INVALID_INPUT
                p = _hold_position(limits, i, m, p0)
                v0 = 0.0
        else:
            if not math.isfinite(v0):
                flags |= INVALID_INPUT
                v0 = 0.0
            if math.isfinite(m):
                p = m
            elif math.isfinite(p0):
                flags |= INVALID_INPUT
                p = p0
            else:  # nothing known of where the joint is: stop it at once
                flags |= INVALID_INPUT
                cmd_pos[i] = _hold_position(limits, i, m, p0)
                cmd_vel[i] = 0.0
                continue
        if position_mode and (p > hi or p < lo):
            flags |= POSITION_LIMITED  # the limits moved under the setpoint
            p = _clamp(p, lo, hi)

        # the wanted velocity
        if hold:
            v_want = _toward_zero(v0, ad)
        elif position_mode:
            target = proposal[i]
            if target > hi or target < lo:
                flags |= POSITION_LIMITED
                target = _clamp(target, lo, hi)
            e = target - p
            if abs(e) <= ad * dt:
                v_want = e / dt  # lands on the target this tick, stops the next
            else:
                v_want = math.copysign(min(vmax, _reach_speed(abs(e), acc, dt)), e)
        else:
            v_want = proposal[i]
            if v_want > vmax or v_want < -vmax:
                flags |= SPEED_CLAMPED
                v_want = _clamp(v_want, -vmax, vmax)

        # acceleration, speed, then the room to stop before either end
        v = _clamp(v_want, v0 - ad, v0 + ad)
        if v != v_want and not position_mode:
            flags |= ACCEL_LIMITED
        if v > vmax or v < -vmax:  # only when the last command exceeds the limit
            flags |= SPEED_CLAMPED
            v = _clamp(v, -vmax, vmax)
        up = _reach_speed(hi - p, acc, dt)
        down = _reach_speed(p - lo, acc, dt)
        tol = _REL_TOL * (abs(v0) + ad) + 1e-300
        if v > up or v < -down:
            if v > up + tol or v < -down - tol:
                flags |= POSITION_LIMITED
            v = _clamp(v, -down, up)
        if v < v0 - ad - tol or v > v0 + ad + tol:
            flags |= HARD_BRAKE
        cmd_vel[i] = v
        cmd_pos[i] = _clamp(p + v * dt, lo, hi)
    return flags
