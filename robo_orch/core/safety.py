"""The safety layer: the last compiled step of every tick, proposal -> command.

:func:`safety` turns the arbitrated proposal into the command sent to the
actuators, in this order:

1. **E-stop** (``state[ESTOP] != 0``, NaN included): zero command at once, no
   ramp; flag :data:`ESTOP`.  (The latch and its reset live in Python.)
2. **Target**: the proposal; when ``state[STALE] != 0`` instead a controlled stop
   from the last command (``state[CMD_V]``, ``state[CMD_W]``) towards zero at
   ``max_decel`` and ``max_yaw_accel``, flag :data:`STALE_STOP`.  A non-finite
   proposal is replaced by zero (a ramped stop) and flagged :data:`INVALID_INPUT`.
3. **Speed limits**: forward ``max_speed``, reverse ``max_reverse``, yaw rate
   ``max_yaw_rate``.  v and w are scaled down by one common factor, so the arc
   (curvature) the behavior asked for is kept; flag :data:`SPEED_CLAMPED`.
4. **Collision check**: the command is rolled forward as an exact arc from the
   estimated pose over ``collision_horizon_s`` in steps of about 0.05 s (at most
   200 steps) against the valid scan points.  A step is *blocked* when some scan
   point is closer than ``radius + margin`` to the robot centre *and* no farther
   than it was at the start pose (a point whose distance grows is being escaped
   from, so driving away from a close wall is allowed).  The free distance is the
   path length up to the last unblocked step.  The allowed speed ``u`` is the
   largest whose travel during this tick plus its braking distance fits in it:
   ``u dt + u^2 / (2 max_decel) = free``, i.e.
   ``u = sqrt((max_decel dt)^2 + 2 max_decel free) - max_decel dt`` (the plain
   ``sqrt(2 max_decel free)`` ignores the one-tick latency and lets the robot end
   a few millimetres inside the margin).  Faster commands have v and w scaled together
   to it (flag :data:`COLLISION_SLOW`); a free distance of zero sets v = 0 and
   keeps w (flag :data:`COLLISION_STOP`: a round robot may rotate in place).  No
   blocked step within the horizon: no limit.  Pure rotation is not checked.
5. **Acceleration limits** from the last command: ``max_accel`` while |v| grows,
   ``max_decel`` while it shrinks (a sign change first brakes to zero, then
   accelerates for the rest of the tick), ``max_yaw_accel`` for w; flag
   :data:`ACCEL_LIMITED`.  A last command beyond the speed limits is clamped
   again afterwards (flag :data:`SPEED_CLAMPED`), so the output never exceeds them.

The result goes to ``cmd_out`` and ``state[CMD_V]``, ``state[CMD_W]``.  Arrays
too short, limits not positive or a loop period not positive give a zero command
and :data:`INVALID_INPUT`.

``mem`` (float64[MEM_LEN]) receives diagnostics of the last call: ``MEM_FREE``
free distance (m, -1 when no step was blocked), ``MEM_ALLOWED`` allowed speed
from the collision check (inf when unlimited), ``MEM_CLEARANCE`` distance from
the robot's surface to the nearest scan point at the start (inf without points),
``MEM_STEPS`` number of collision steps evaluated.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numba
import numpy as np

from robo_orch.core import world as _w

if TYPE_CHECKING:
    from robo_orch.config_schema import SafetyConfig

# --- limits array layout ---------------------------------------------------------
L_MAX_SPEED = 0
L_MAX_REVERSE = 1
L_MAX_YAW_RATE = 2
L_MAX_ACCEL = 3
L_MAX_DECEL = 4
L_MAX_YAW_ACCEL = 5
L_MARGIN = 6
L_HORIZON = 7
L_LEN = 8

# --- returned flags ------------------------------------------------------------------
ESTOP = 1
STALE_STOP = 2
SPEED_CLAMPED = 4
ACCEL_LIMITED = 8
COLLISION_SLOW = 16
COLLISION_STOP = 32
INVALID_INPUT = 64

# --- mem diagnostics layout ------------------------------------------------------------
MEM_FREE = 0
MEM_ALLOWED = 1
MEM_CLEARANCE = 2
MEM_STEPS = 3
MEM_LEN = 8  #: diagnostics; a longer mem (MEM_LEN + 2 * scan rows) also serves as scratch


def mem_size(max_scan: int) -> int:
    """Length of a ``mem`` array with scratch room for ``max_scan`` points."""
    return MEM_LEN + 2 * max_scan

_STEP_S = 0.05  # nominal collision-check time step, s (fixed, not a tunable)
_MAX_STEPS = 200

_SAFETY_SIG = (
    "int64(float64[::1], float64[:, ::1], float64[::1], float64, float64,"
    " float64[::1], float64[::1])"
)


def pack_limits(safety_config: SafetyConfig) -> np.ndarray:
    """The ``limits`` array for :func:`safety` from a ``config_schema.SafetyConfig``."""
    limits = np.zeros(L_LEN, dtype=np.float64)
    limits[L_MAX_SPEED] = safety_config.max_speed
    limits[L_MAX_REVERSE] = safety_config.max_reverse
    limits[L_MAX_YAW_RATE] = safety_config.max_yaw_rate
    limits[L_MAX_ACCEL] = safety_config.max_accel
    limits[L_MAX_DECEL] = safety_config.max_decel
    limits[L_MAX_YAW_ACCEL] = safety_config.max_yaw_accel
    limits[L_MARGIN] = safety_config.collision_margin
    limits[L_HORIZON] = safety_config.collision_horizon_s
    return limits


@numba.njit(cache=True, error_model="numpy")
def _ramp(last, target, up, down):
    """Move from ``last`` towards ``target`` by at most ``up`` while |value| grows
    and ``down`` while it shrinks (both already multiplied by dt)."""
    if last == target:
        return target
    if not ((last > 0.0 and target < 0.0) or (last < 0.0 and target > 0.0)):
        step = up if abs(target) >= abs(last) else down
        d = target - last
        if d > step:
            return last + step
        if d < -step:
            return last - step
        return target
    # crossing zero: brake to zero first, accelerate with the rest of the tick
    if abs(last) >= down:
        return last - math.copysign(down, last)
    mag = min(abs(target), up * (1.0 - abs(last) / down))
    return math.copysign(mag, target)


@numba.njit(cache=True, error_model="numpy")
def _n_steps(horizon):
    """Number of collision-check steps over ``horizon`` (each about _STEP_S long)."""
    return max(1, min(int(math.ceil(horizon / _STEP_S)), _MAX_STEPS))


@numba.njit(cache=True, error_model="numpy")
def _blocked_step(state, scan, n_points, v, w, thr2, horizon, mem):
    """First blocked step (1-based) of the arc (v, w) from the current pose, or 0."""
    x0 = state[_w.X]
    y0 = state[_w.Y]
    yaw0 = state[_w.YAW]
    n_steps = _n_steps(horizon)
    h = horizon / n_steps
    for k in range(1, n_steps + 1):
        t = k * h
        wt = w * t
        chord = v * t if abs(wt) < 1e-9 else 2.0 * v * math.sin(0.5 * wt) / w
        heading = yaw0 + 0.5 * wt
        px = x0 + chord * math.cos(heading)
        py = y0 + chord * math.sin(heading)
        mem[MEM_STEPS] = k
        for j in range(n_points):
            dx = px - scan[j, 0]
            dy = py - scan[j, 1]
            d2 = dx * dx + dy * dy
            if d2 < thr2:
                ex = x0 - scan[j, 0]
                ey = y0 - scan[j, 1]
                if d2 <= ex * ex + ey * ey:
                    return k
    return 0


@numba.njit(cache=True, error_model="numpy")
def _zero_command(state, cmd_out):
    cmd_out[0] = 0.0
    cmd_out[1] = 0.0
    state[_w.CMD_V] = 0.0
    state[_w.CMD_W] = 0.0


@numba.njit(_SAFETY_SIG, cache=True, error_model="numpy")
def safety(state, scan, limits, proposal_v, proposal_w, mem, cmd_out):
    """Turn the proposal into the command (``cmd_out``, ``state[CMD_V/W]``); return flags."""
    if cmd_out.shape[0] < 2:
        return INVALID_INPUT
    if state.shape[0] < _w.STATE_LEN or limits.shape[0] < L_LEN or mem.shape[0] < MEM_LEN:
        cmd_out[0] = 0.0
        cmd_out[1] = 0.0
        return INVALID_INPUT
    mem[MEM_FREE] = -1.0
    mem[MEM_ALLOWED] = np.inf
    mem[MEM_CLEARANCE] = np.inf
    mem[MEM_STEPS] = 0.0
    if state[_w.ESTOP] != 0.0:
        _zero_command(state, cmd_out)
        return ESTOP

    vmax = limits[L_MAX_SPEED]
    vrev = limits[L_MAX_REVERSE]
    wmax = limits[L_MAX_YAW_RATE]
    accel = limits[L_MAX_ACCEL]
    decel = limits[L_MAX_DECEL]
    yaw_accel = limits[L_MAX_YAW_ACCEL]
    margin = limits[L_MARGIN]
    horizon = limits[L_HORIZON]
    dt = state[_w.DT]
    valid = (
        vmax > 0.0 and vrev >= 0.0 and wmax > 0.0 and accel > 0.0 and decel > 0.0
        and yaw_accel > 0.0 and margin >= 0.0 and horizon > 0.0 and dt > 0.0
        and math.isfinite(vmax + vrev + wmax + accel + decel + yaw_accel + margin + horizon + dt)
    )
    if not valid:
        _zero_command(state, cmd_out)
        return INVALID_INPUT

    flags = 0
    last_v = state[_w.CMD_V]
    last_w = state[_w.CMD_W]
    if not (math.isfinite(last_v) and math.isfinite(last_w)):
        last_v = 0.0
        last_w = 0.0

    # 2. target
    if state[_w.STALE] != 0.0:
        v = _ramp(last_v, 0.0, 0.0, decel * dt)
        w = _ramp(last_w, 0.0, 0.0, yaw_accel * dt)
        flags |= STALE_STOP
    elif math.isfinite(proposal_v) and math.isfinite(proposal_w):
        v = proposal_v
        w = proposal_w
    else:
        v = 0.0
        w = 0.0
        flags |= INVALID_INPUT

    # 3. speed limits, keeping the curvature
    s = 1.0
    if v > vmax:
        s = vmax / v
    elif v < -vrev:
        s = vrev / -v
    if abs(w) * s > wmax:
        s = wmax / abs(w)
    if s < 1.0:
        v *= s
        w *= s
        flags |= SPEED_CLAMPED

    # 4. collision check against the scan
    rows = scan.shape[0]
    count = state[_w.SCAN_COUNT]
    n_points = 0
    if count > 0.0:
        n_points = rows if count >= rows else int(count)
    if scan.shape[1] < 2:
        n_points = 0
    radius = state[_w.ROBOT_RADIUS]
    thr = radius + margin
    # only points within reach of the arc can block it: with room in mem (see
    # MEM_LEN), they are gathered there first, so the stepping visits only those
    reach = abs(v) * horizon + thr
    reach2 = reach * reach
    gather = mem.shape[0] >= MEM_LEN + 2 * n_points
    n_near = 0
    if n_points > 0:
        nearest2 = np.inf
        for j in range(n_points):
            dx = state[_w.X] - scan[j, 0]
            dy = state[_w.Y] - scan[j, 1]
            d2 = dx * dx + dy * dy
            nearest2 = min(nearest2, d2)
            if gather and d2 <= reach2:
                mem[MEM_LEN + 2 * n_near] = scan[j, 0]
                mem[MEM_LEN + 2 * n_near + 1] = scan[j, 1]
                n_near += 1
        mem[MEM_CLEARANCE] = math.sqrt(nearest2) - radius
    if v != 0.0 and n_points > 0:
        if not math.isfinite(state[_w.X] + state[_w.Y] + state[_w.YAW] + radius):
            v = 0.0
            flags |= COLLISION_STOP | INVALID_INPUT
        else:
            if gather:
                near = mem[MEM_LEN:MEM_LEN + 2 * n_near].reshape((n_near, 2))
                k = _blocked_step(state, near, n_near, v, w, thr * thr, horizon, mem)
            else:
                k = _blocked_step(state, scan, n_points, v, w, thr * thr, horizon, mem)
            if k > 0:
                free = abs(v) * (k - 1) * horizon / _n_steps(horizon)
                bd = decel * dt
                allowed = 0.0 if free <= 0.0 else math.sqrt(bd * bd + 2.0 * decel * free) - bd
                mem[MEM_FREE] = free
                mem[MEM_ALLOWED] = allowed
                if allowed <= 0.0:
                    v = 0.0
                    flags |= COLLISION_STOP
                elif abs(v) > allowed:
                    s = allowed / abs(v)
                    v *= s
                    w *= s
                    flags |= COLLISION_SLOW

    # 5. acceleration limits from the last command
    v_out = _ramp(last_v, v, accel * dt, decel * dt)
    w_out = _ramp(last_w, w, yaw_accel * dt, yaw_accel * dt)
    if v_out != v or w_out != w:
        flags |= ACCEL_LIMITED
    clamped_v = min(max(v_out, -vrev), vmax)
    clamped_w = min(max(w_out, -wmax), wmax)
    if clamped_v != v_out or clamped_w != w_out:
        flags |= SPEED_CLAMPED

    cmd_out[0] = clamped_v
    cmd_out[1] = clamped_w
    state[_w.CMD_V] = clamped_v
    state[_w.CMD_W] = clamped_w
    return flags

