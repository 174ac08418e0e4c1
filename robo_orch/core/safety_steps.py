"""The safety layer's steps, shared by its two kernels; see :mod:`robo_orch.core.safety`.

:func:`run_steps` is the whole of steps 1-6.  It is compiled into
:func:`robo_orch.core.safety.safety` (a round robot: no footprint check compiled)
and :func:`robo_orch.core.safety_footprint.safety_footprint` (a polygon
footprint), each a module of its own so that importing one does not compile the
other.  This module compiles only :func:`tally_flags` when imported; the
constants, :func:`pack_limits` and :func:`mem_size` are re-exported by
:mod:`robo_orch.core.safety`.
"""

from __future__ import annotations

import math
from typing import Protocol

import numba
import numpy as np

from robo_orch.core import world as _w
from robo_orch.core.footprint_stop import (
    blocked_step_fp,
    bounding_radius,
    clearance_fp,
    n_circles,
    n_vertices,
    safe_command_fp,
)
from robo_orch.core.odoframe import scan_frame_pose
from robo_orch.core.ramps import apply_limits, below, down_start, ramp2
from robo_orch.core.stopping import (
    SLOWED,
    STOPPING,
    UNSAFE,
    reach,
    safe_command,
    toward_zero,
)


class SafetyLimits(Protocol):
    """What :func:`pack_limits` reads of the limits (the config's ``[safety]`` section)."""

    max_speed: float
    max_reverse: float
    max_yaw_rate: float
    max_accel: float
    max_decel: float
    max_yaw_accel: float
    collision_margin: float
    collision_horizon_s: float


class RobotLimits(Protocol):
    """What :func:`pack_limits` reads of the robot (the config's ``[robot]`` section)."""

    wheel_base: float
    max_wheel_speed: float
    motor_time_constant: float


# --- limits array layout ---------------------------------------------------------
L_MAX_SPEED = 0
L_MAX_REVERSE = 1
L_MAX_YAW_RATE = 2
L_MAX_ACCEL = 3
L_MAX_DECEL = 4
L_MAX_YAW_ACCEL = 5
L_MARGIN = 6
L_HORIZON = 7
L_WHEEL_BASE = 8
L_MAX_WHEEL_SPEED = 9
L_MOTOR_TAU = 10
L_LEN = 11

# --- returned flags ------------------------------------------------------------------
ESTOP = 1
STALE_STOP = 2
SPEED_CLAMPED = 4
ACCEL_LIMITED = 8
COLLISION_SLOW = 16
COLLISION_STOP = 32
INVALID_INPUT = 64
HARD_BRAKE = 128  #: the command dropped faster than max_decel / max_yaw_accel allow
NO_SAFE_STOP = 256  #: even the zero command's rollout comes too close (sent anyway)

# --- mem diagnostics layout ------------------------------------------------------------
MEM_FREE = 0
MEM_ALLOWED = 1
MEM_CLEARANCE = 2
MEM_STEPS = 3
MEM_ROLLOUTS = 4
MEM_PREDICTED = 5
MEM_PAD = 6
MEM_LEN = 8  #: diagnostics; then 3 scratch slots per scan point (see mem_size)


#: flag names, lowest bit first (the order of :func:`tally_flags`'s counts)
FLAG_NAMES = ("estop", "stale_stop", "speed_clamped", "accel_limited", "collision_slow",
              "collision_stop", "invalid_input", "hard_brake", "no_safe_stop")


@numba.njit("void(int64, int64[::1])", cache=True)
def tally_flags(flags, counts):
    """Count one call: ``counts[i] += 1`` for each set bit i < len(counts)."""
    for i in range(counts.shape[0]):
        if flags & (1 << i):
            counts[i] += 1


def mem_size(max_scan: int) -> int:
    """Length of a ``mem`` array with scratch room for ``max_scan`` points."""
    return MEM_LEN + 3 * max_scan


_STEP_S = 0.05  # nominal look-ahead time step, s (fixed, not a tunable)
_MAX_STEPS = 200

#: the signature of both kernels (safety, safety_footprint)
SAFETY_SIG = (
    "int64(float64[::1], float64[:, ::1], float64[::1], float64, float64,"
    " float64[::1], float64[::1])"
)


def pack_limits(safety_config: SafetyLimits, robot_config: RobotLimits) -> np.ndarray:
    """The ``limits`` array of the safety kernels from the ``[safety]`` and ``[robot]`` configs."""
    limits = np.zeros(L_LEN, dtype=np.float64)
    limits[L_MAX_SPEED] = safety_config.max_speed
    limits[L_MAX_REVERSE] = safety_config.max_reverse
    limits[L_MAX_YAW_RATE] = safety_config.max_yaw_rate
    limits[L_MAX_ACCEL] = safety_config.max_accel
    limits[L_MAX_DECEL] = safety_config.max_decel
    limits[L_MAX_YAW_ACCEL] = safety_config.max_yaw_accel
    limits[L_MARGIN] = safety_config.collision_margin
    limits[L_HORIZON] = safety_config.collision_horizon_s
    limits[L_WHEEL_BASE] = robot_config.wheel_base
    limits[L_MAX_WHEEL_SPEED] = robot_config.max_wheel_speed
    limits[L_MOTOR_TAU] = robot_config.motor_time_constant
    return limits


@numba.njit(cache=True, error_model="numpy")
def _n_steps(horizon):
    """Number of look-ahead steps over ``horizon`` (each about _STEP_S long)."""
    return max(1, min(int(math.ceil(horizon / _STEP_S)), _MAX_STEPS))


@numba.njit(cache=True, error_model="numpy")
def _blocked_step(near, n, x0, y0, yaw0, v, w, thr2, horizon, mem):
    """First blocked look-ahead step (1-based) of the arc (v, w), or 0."""
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
        for j in range(n):
            dx = px - near[j, 0]
            dy = py - near[j, 1]
            d2 = dx * dx + dy * dy
            if d2 < thr2 and d2 <= near[j, 2] * near[j, 2]:
                return k
    return 0


@numba.njit(cache=True)
def _send(state, cmd_out, v, w):
    cmd_out[0] = v
    cmd_out[1] = w
    state[_w.CMD_V] = v
    state[_w.CMD_W] = w


@numba.njit(cache=True, error_model="numpy")
def run_steps(state, scan, limits, proposal_v, proposal_w, mem, cmd_out, footprint):
    """Steps 1-6 of :mod:`robo_orch.core.safety`; returns the flags.  ``footprint`` None: the
    round robot only (numba compiles no footprint check; limits with one are invalid);
    True: a footprint when the limits carry one."""
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
    mem[MEM_ROLLOUTS] = 0.0
    mem[MEM_PREDICTED] = np.inf
    mem[MEM_PAD] = 0.0
    if state[_w.ESTOP] != 0.0:
        _send(state, cmd_out, 0.0, 0.0)
        return ESTOP

    vmax = limits[L_MAX_SPEED]
    vrev = limits[L_MAX_REVERSE]
    wmax = limits[L_MAX_YAW_RATE]
    accel = limits[L_MAX_ACCEL]
    decel = limits[L_MAX_DECEL]
    yaw_accel = limits[L_MAX_YAW_ACCEL]
    margin = limits[L_MARGIN]
    horizon = limits[L_HORIZON]
    half_base = 0.5 * limits[L_WHEEL_BASE]
    wheel_max = limits[L_MAX_WHEEL_SPEED]
    tau = limits[L_MOTOR_TAU]
    dt = state[_w.DT]
    radius = state[_w.ROBOT_RADIUS]
    px, py, pyaw = scan_frame_pose(state)
    v_est = state[_w.V]
    w_est = state[_w.W]
    rows = scan.shape[0]
    count = state[_w.SCAN_COUNT]
    n_points = 0
    if count > 0.0 and scan.shape[1] >= 2:
        n_points = rows if count >= rows else int(count)
    if footprint is None:  # (numba prunes the other branch: no footprint parsing compiled)
        nc = 0 if limits.shape[0] <= L_LEN or limits[L_LEN] == 0.0 else -1  # (-1: refused)
        nv = 0
    else:
        nc = n_circles(limits, L_LEN)  # a footprint of several circles (0: the radius)
        nv = n_vertices(limits, L_LEN, nc) if nc > 0 else 0  # and its polygon
    valid = (
        vmax > 0.0 and vrev >= 0.0 and wmax > 0.0 and accel > 0.0 and decel > 0.0
        and yaw_accel > 0.0 and margin >= 0.0 and horizon > 0.0 and dt > 0.0
        and half_base > 0.0 and wheel_max > 0.0 and tau >= 0.0 and radius >= 0.0
        and math.isfinite(vmax + vrev + wmax + accel + decel + yaw_accel + margin + horizon
                          + dt + half_base + wheel_max + tau + radius)
        and math.isfinite(px + py + pyaw + v_est + w_est)
        and nc >= 0 and nv >= 0 and (footprint is not None or nc == 0)
        and mem.shape[0] >= MEM_LEN + (6 if nc > 0 else 3) * n_points
    )
    if not valid:
        _send(state, cmd_out, 0.0, 0.0)
        return INVALID_INPUT

    flags = 0
    last_v = state[_w.CMD_V]
    last_w = state[_w.CMD_W]
    if not (math.isfinite(last_v) and math.isfinite(last_w)):
        last_v = 0.0
        last_w = 0.0

    # where a ramp down starts, and the braking floor one tick below it
    start_v = down_start(last_v, v_est)
    start_w = down_start(last_w, w_est)
    floor_v = toward_zero(start_v, decel * dt)
    floor_w = toward_zero(start_w, yaw_accel * dt)

    # 2. target
    if state[_w.STALE] != 0.0:
        v = floor_v
        w = floor_w
        flags |= STALE_STOP
    elif math.isfinite(proposal_v) and math.isfinite(proposal_w):
        v = proposal_v
        w = proposal_w
    else:
        v = 0.0
        w = 0.0
        flags |= INVALID_INPUT

    # 3. speed limits, keeping the curvature
    v, w, clamped = apply_limits(v, w, vmax, vrev, wmax, half_base, wheel_max)
    if clamped:
        flags |= SPEED_CLAMPED

    # 4. acceleration ramps: up from the last command, down from what the robot does
    cv = ramp2(last_v, start_v, v, accel * dt, decel * dt)
    cw = ramp2(last_w, start_w, w, yaw_accel * dt, yaw_accel * dt)
    if cv != v or cw != w:
        flags |= ACCEL_LIMITED
    cv, cw, clamped = apply_limits(cv, cw, vmax, vrev, wmax, half_base, wheel_max)
    if clamped:
        flags |= SPEED_CLAMPED
    # the braking floor b, within the speed limits too
    bv, bw, _ = apply_limits(floor_v, floor_w, vmax, vrev, wmax, half_base, wheel_max)

    # gather the points within reach of the look-ahead and of any stopping rollout
    fp = limits[L_LEN + 1:L_LEN + 1 + 3 * nc]
    poly = limits[L_LEN + 2 + 3 * nc:L_LEN + 2 + 3 * nc + 2 * nv]
    thr = radius + margin if footprint is None or nc == 0 else bounding_radius(fp, nc) + margin
    stop_reach = reach(v_est, w_est, max(abs(cv), abs(bv)), max(abs(cw), abs(bw)), dt, tau,
                       decel, yaw_accel) + thr
    far = max(abs(cv) * horizon + thr, stop_reach)
    reach2 = far * far
    n_near = np.int64(0)  # (not the literal 0: numba would compile every callee for it too)
    nearest2 = np.inf
    for j in range(n_points):
        dx = px - scan[j, 0]
        dy = py - scan[j, 1]
        d2 = dx * dx + dy * dy
        nearest2 = min(nearest2, d2)
        if d2 <= reach2:
            k = MEM_LEN + 3 * n_near
            mem[k] = scan[j, 0]
            mem[k + 1] = scan[j, 1]
            mem[k + 2] = math.sqrt(d2)
            n_near += 1
    if n_points > 0:
        mem[MEM_CLEARANCE] = (math.sqrt(nearest2) - radius if footprint is None or nc == 0 else
                              clearance_fp(scan, n_points, px, py, pyaw, fp, nc,
                                           math.sqrt(nearest2)))
    near = mem[MEM_LEN:MEM_LEN + 3 * n_near].reshape((n_near, 3))

    # 5. look-ahead on the ramped command's arc
    if cv != 0.0 and n_near > 0:
        if footprint is None or nc == 0:
            k = _blocked_step(near, n_near, px, py, pyaw, cv, cw, thr * thr, horizon, mem)
        else:
            k = blocked_step_fp(near, n_near, fp, nc, px, py, pyaw, 0.0 if cv > 0.0 else math.pi,
                                abs(cv), cw, margin, _n_steps(horizon), horizon, mem, MEM_STEPS)
        if k > 0:
            free = abs(cv) * (k - 1) * horizon / _n_steps(horizon)
            bd = decel * (dt + tau)
            allowed = 0.0 if free <= 0.0 else math.sqrt(bd * bd + 2.0 * decel * free) - bd
            allowed = min(allowed, abs(v_est) + accel * dt)
            mem[MEM_FREE] = free
            mem[MEM_ALLOWED] = allowed
            s = min(max(allowed, abs(bv)) / abs(cv), 1.0)
            if s < 1.0:
                # no harder than max_decel here: the final check brakes harder if it must
                cv *= s
                if s > 0.0:
                    cw *= s  # the curvature kept; standing (s = 0), w is kept instead
                flags |= COLLISION_STOP if allowed <= 0.0 else COLLISION_SLOW

    # 6. final check of the command to be sent, against the points a stop can reach
    # (moved to the front of the gathered ones)
    n_stop = np.int64(0)
    for j in range(n_near):
        if near[j, 2] <= stop_reach:
            for c in range(3):
                t = near[n_stop, c]
                near[n_stop, c] = near[j, c]
                near[j, c] = t
            n_stop += 1
    n_near = n_stop
    if n_near > 0:
        # the next step of the braking plan the last command was checked with
        kv, kw, _ = apply_limits(toward_zero(last_v, decel * dt),
                                 toward_zero(last_w, yaw_accel * dt),
                                 vmax, vrev, wmax, half_base, wheel_max)
        if footprint is None or nc == 0:
            cv, cw, outcome, low, pad, rollouts = safe_command(
                near, n_near, px, py, pyaw, v_est, w_est, cv, cw, bv, bw, kv, kw, dt, tau,
                decel, yaw_accel, radius, thr)
        else:
            scratch = mem[MEM_LEN + 3 * n_points:MEM_LEN + 3 * (n_points + n_near)].reshape(
                (n_near, 3))
            cv, _, cw, outcome, low, pad, rollouts = safe_command_fp(
                False, near, n_near, scratch, fp, nc, poly, nv, px, py, pyaw, v_est, 0.0,
                w_est, cv, 0.0, cw, bv, 0.0, bw, kv, 0.0, kw, dt, tau, decel, yaw_accel,
                margin)
        if outcome == SLOWED:
            flags |= COLLISION_SLOW
        elif outcome == STOPPING:
            flags |= COLLISION_STOP
        elif outcome == UNSAFE:
            flags |= COLLISION_STOP | NO_SAFE_STOP
        mem[MEM_ROLLOUTS] = rollouts
        mem[MEM_PREDICTED] = low
        mem[MEM_PAD] = pad

    if below(cv, floor_v) or below(cw, floor_w):
        flags |= HARD_BRAKE
    _send(state, cmd_out, cv, cw)
    return flags
