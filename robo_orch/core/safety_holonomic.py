"""The safety layer of a holonomic (omnidirectional, mecanum) base: proposal -> command.

:func:`safety_holonomic` is :func:`robo_orch.core.safety.safety` for the
body-frame command ``(vx, vy, w)``: the same steps, flags and diagnostics, the
translation handled as one vector.  The command it sends is the command it checked.

1. **E-stop** (``state[ESTOP] != 0``, NaN included): zero at once; flag ``ESTOP``.
2. **Target**: the proposal; while ``state[STALE] != 0`` the braking floor ``b``
   of step 4 instead (flag ``STALE_STOP``); a non-finite proposal is zero, flag
   ``INVALID_INPUT``.
3. **Speed limits**, all three components scaled by one factor (the direction
   of travel and the curvature kept): ``|(vx, vy)| <= max_speed``, ``-vx <=
   max_reverse`` (a base whose lidar sees all round sets it to ``max_speed``),
   ``|w| <= max_yaw_rate`` and the mecanum wheel limit ``|vx| + |vy| + |w|
   (wheel_base + axle_distance) / 2 <= max_wheel_speed``; flag ``SPEED_CLAMPED``.
4. **Acceleration ramps** on the vector (:func:`~robo_orch.core.ramps_holonomic.ramp_vector`):
   along the last command's direction as the differential-drive ramp does a
   speed (up from the last command by ``max_accel dt``, down from the smaller of
   the last command and the estimate's component along it by ``max_decel dt``),
   across it by at most ``max_accel dt``, the magnitude up by at most ``max_accel
   dt`` in all; ``w`` as in the differential-drive layer.  Flag ``ACCEL_LIMITED``;
   the speed limits again.  The braking floor ``b`` is the ramp-down start
   shortened by ``max_decel dt`` in its own direction, ``w`` one tick of
   ``max_yaw_accel`` closer to zero.
5. **Look-ahead**: the centre's path under a constant body command is the arc
   of speed ``|(vx, vy)|``, heading ``yaw + atan2(vy, vx)`` and rate ``w``; it is
   stepped over ``collision_horizon_s`` as in the differential-drive layer, and
   a command faster than the speed that can still stop before the first blocked
   step is scaled down (not below ``|b|``); flags ``COLLISION_SLOW`` / ``STOP``.
6. **Final check** (:mod:`robo_orch.core.stopping_holonomic`): the command's
   stopping rollout (held one tick, then shortened by ``max_decel dt`` a tick in
   its own direction, every body component through the lag
   ``motor_time_constant``) is reduced exactly to the differential-drive rollout
   in the frame turned by the command's direction, the motion across that
   direction bounded by ``|u0_perp| tau`` and added to radius and margin (the
   proof is in that module).  If it fails, the fallbacks of the
   differential-drive layer, each checked in its own direction with its own pad:
   bisection from ``b`` to the command, the last plan's next step, a turn in
   place, zero (``COLLISION_SLOW`` / ``COLLISION_STOP``; ``NO_SAFE_STOP`` when
   even zero fails, sent anyway).  So the scan only reduces the command, except
   through the last plan's next step, which may keep a yaw rate (or speed) that the
   free ramp, starting from the estimate, dropped; it is a decrease from the last
   command and flagged ``COLLISION_STOP``; and where the speed limits cut the ramped
   command below the braking floor (``HARD_BRAKE``: the wheel limit shortens a
   diagonal translation more than one along an axis), the bisection from ``b`` sends
   a command between the two, which can be faster than the command, never than
   ``b`` (one tick of ``max_decel`` from where the robot goes).

Collisions are checked in the scan's odometry frame
(:func:`robo_orch.core.odoframe.scan_frame_pose`).  ``HARD_BRAKE`` is set when
the translation sent is shorter than the braking floor's, or ``w`` below its
floor.  The result goes to ``cmd_out[0:3]`` and ``state[CMD_V]`` (vx),
``state[CMD_VY_SLOT]``, ``state[CMD_W]``; the estimate's lateral speed is
``state[VY_SLOT]``.  ``mem`` has :func:`robo_orch.core.safety.mem_size`'s layout
and diagnostics (``MEM_FREE`` ... ``MEM_PAD``, the pad including the lateral
bound).  Arrays too short, limits out of range, a non-finite estimate or a loop
period not positive give zero and ``INVALID_INPUT``.

A polygon footprint: its circles and the polygon follow the limits, as for
:func:`robo_orch.core.safety.safety` (:mod:`robo_orch.core.footprint_stop`).
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
from robo_orch.core.ramps import below, down_start, ramp2
from robo_orch.core.ramps_holonomic import (
    apply_limits_holonomic,
    down_start_vector,
    ramp_vector,
    shrink,
)
from robo_orch.core.safety_steps import (
    ACCEL_LIMITED,
    COLLISION_SLOW,
    COLLISION_STOP,
    ESTOP,
    FLAG_NAMES,
    HARD_BRAKE,
    INVALID_INPUT,
    MEM_ALLOWED,
    MEM_CLEARANCE,
    MEM_FREE,
    MEM_LEN,
    MEM_PAD,
    MEM_PREDICTED,
    MEM_ROLLOUTS,
    MEM_STEPS,
    NO_SAFE_STOP,
    SPEED_CLAMPED,
    STALE_STOP,
    _blocked_step,
    _n_steps,
    mem_size,
)
from robo_orch.core.stopping import SLOWED, STOPPING, UNSAFE, toward_zero
from robo_orch.core.stopping_holonomic import reach_holonomic, safe_command_holonomic

__all__ = [
    "ACCEL_LIMITED", "COLLISION_SLOW", "COLLISION_STOP", "ESTOP", "FLAG_NAMES", "HARD_BRAKE",
    "INVALID_INPUT", "NO_SAFE_STOP", "SPEED_CLAMPED", "STALE_STOP", "mem_size",
    "pack_limits_holonomic", "safety_holonomic",
]

VY_SLOT = 37  #: estimated lateral (body y) speed, m/s (the bases' world.VY)
CMD_VY_SLOT = 38  #: last commanded lateral speed, m/s (the bases' world.CMD_VY)
AXLE_DISTANCE_DEFAULT = 0.3  #: front-back wheel distance when the robot config has none, m


class HolonomicSafetyLimits(Protocol):
    """What :func:`pack_limits_holonomic` reads of the ``[safety]`` section."""

    max_speed: float
    max_reverse: float
    max_yaw_rate: float
    max_accel: float
    max_decel: float
    max_yaw_accel: float
    collision_margin: float
    collision_horizon_s: float


class HolonomicRobotLimits(Protocol):
    """What :func:`pack_limits_holonomic` reads of the ``[robot]`` section."""

    wheel_base: float  #: left-right wheel distance, m
    axle_distance: float  #: front-back wheel distance, m
    max_wheel_speed: float
    motor_time_constant: float


# --- limits array layout ---------------------------------------------------------
L_MAX_SPEED = 0  #: bound of |(vx, vy)|
L_MAX_REVERSE = 1  #: bound of -vx
L_MAX_YAW_RATE = 2
L_MAX_ACCEL = 3  #: on the translation's magnitude
L_MAX_DECEL = 4  #: on the translation's magnitude
L_MAX_YAW_ACCEL = 5
L_MARGIN = 6
L_HORIZON = 7
L_WHEEL_BASE = 8
L_AXLE_DISTANCE = 9
L_MAX_WHEEL_SPEED = 10
L_MOTOR_TAU = 11
L_LEN = 12

_SIG = (
    "int64(float64[::1], float64[:, ::1], float64[::1], float64, float64, float64,"
    " float64[::1], float64[::1])"
)


def pack_limits_holonomic(safety_config: HolonomicSafetyLimits,
                          robot_config: HolonomicRobotLimits) -> np.ndarray:
    """The ``limits`` array for :func:`safety_holonomic` from the ``[safety]`` and
    ``[robot]`` configs (``axle_distance`` defaults to :data:`AXLE_DISTANCE_DEFAULT`)."""
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
    limits[L_AXLE_DISTANCE] = getattr(robot_config, "axle_distance", AXLE_DISTANCE_DEFAULT)
    limits[L_MAX_WHEEL_SPEED] = robot_config.max_wheel_speed
    limits[L_MOTOR_TAU] = robot_config.motor_time_constant
    return limits


@numba.njit(cache=True, inline="always")
def _send(state, cmd_out, vx, vy, w):
    cmd_out[0] = vx
    cmd_out[1] = vy
    cmd_out[2] = w
    state[_w.CMD_V] = vx
    state[CMD_VY_SLOT] = vy
    state[_w.CMD_W] = w


@numba.njit(_SIG, cache=True, error_model="numpy")
def safety_holonomic(state, scan, limits, pvx, pvy, pw, mem, cmd_out):
    """Turn the proposal ``(pvx, pvy, pw)`` into the command (``cmd_out[0:3]``,
    ``state[CMD_V, CMD_VY_SLOT, CMD_W]``); return the flags."""
    if cmd_out.shape[0] < 3:
        return INVALID_INPUT
    if (state.shape[0] < _w.STATE_LEN or state.shape[0] <= CMD_VY_SLOT
            or limits.shape[0] < L_LEN or mem.shape[0] < MEM_LEN):
        cmd_out[0] = 0.0
        cmd_out[1] = 0.0
        cmd_out[2] = 0.0
        return INVALID_INPUT
    mem[MEM_FREE] = -1.0
    mem[MEM_ALLOWED] = np.inf
    mem[MEM_CLEARANCE] = np.inf
    mem[MEM_STEPS] = 0.0
    mem[MEM_ROLLOUTS] = 0.0
    mem[MEM_PREDICTED] = np.inf
    mem[MEM_PAD] = 0.0
    if state[_w.ESTOP] != 0.0:
        _send(state, cmd_out, 0.0, 0.0, 0.0)
        return ESTOP

    vmax = limits[L_MAX_SPEED]
    vrev = limits[L_MAX_REVERSE]
    wmax = limits[L_MAX_YAW_RATE]
    accel = limits[L_MAX_ACCEL]
    decel = limits[L_MAX_DECEL]
    yaw_accel = limits[L_MAX_YAW_ACCEL]
    margin = limits[L_MARGIN]
    horizon = limits[L_HORIZON]
    base = limits[L_WHEEL_BASE]
    axle = limits[L_AXLE_DISTANCE]
    wheel_max = limits[L_MAX_WHEEL_SPEED]
    tau = limits[L_MOTOR_TAU]
    half_sum = 0.5 * (base + axle)
    dt = state[_w.DT]
    radius = state[_w.ROBOT_RADIUS]
    px, py, pyaw = scan_frame_pose(state)
    ux = state[_w.V]
    uy = state[VY_SLOT]
    w_est = state[_w.W]
    rows = scan.shape[0]
    count = state[_w.SCAN_COUNT]
    n_points = 0
    if count > 0.0 and scan.shape[1] >= 2:
        n_points = rows if count >= rows else int(count)
    nc = n_circles(limits, L_LEN)  # a footprint of several circles (0: the radius)
    nv = n_vertices(limits, L_LEN, nc) if nc > 0 else 0  # and its polygon
    valid = (
        vmax > 0.0 and vrev >= 0.0 and wmax > 0.0 and accel > 0.0 and decel > 0.0
        and yaw_accel > 0.0 and margin >= 0.0 and horizon > 0.0 and dt > 0.0
        and base > 0.0 and axle >= 0.0 and wheel_max > 0.0 and tau >= 0.0 and radius >= 0.0
        and math.isfinite(vmax + vrev + wmax + accel + decel + yaw_accel + margin + horizon
                          + dt + base + axle + wheel_max + tau + radius)
        and math.isfinite(px + py + pyaw + ux + uy + w_est)
        and nc >= 0 and nv >= 0 and mem.shape[0] >= MEM_LEN + (6 if nc > 0 else 3) * n_points
    )
    if not valid:
        _send(state, cmd_out, 0.0, 0.0, 0.0)
        return INVALID_INPUT

    flags = 0
    lx = state[_w.CMD_V]
    ly = state[CMD_VY_SLOT]
    lw = state[_w.CMD_W]
    if not math.isfinite(lx + ly + lw):
        lx = 0.0
        ly = 0.0
        lw = 0.0

    # where a ramp down starts, and the braking floor one tick below it
    sx, sy = down_start_vector(lx, ly, ux, uy)
    start_w = down_start(lw, w_est)
    fx, fy = shrink(sx, sy, decel * dt)
    floor_w = toward_zero(start_w, yaw_accel * dt)

    # 2. target
    if state[_w.STALE] != 0.0:
        vx = fx
        vy = fy
        w = floor_w
        flags |= STALE_STOP
    elif math.isfinite(pvx + pvy + pw):
        vx = pvx
        vy = pvy
        w = pw
    else:
        vx = 0.0
        vy = 0.0
        w = 0.0
        flags |= INVALID_INPUT

    # 3. speed limits, keeping the direction and the curvature
    vx, vy, w, clamped = apply_limits_holonomic(vx, vy, w, vmax, vrev, wmax, half_sum,
                                                wheel_max)
    if clamped:
        flags |= SPEED_CLAMPED

    # 4. acceleration ramps: up from the last command, down from what the robot does
    if flags & STALE_STOP:
        cx = vx  # the floor: one tick of max_decel from the start by construction
        cy = vy
    else:
        cx, cy = ramp_vector(lx, ly, sx, sy, vx, vy, accel * dt, decel * dt)
    cw = ramp2(lw, start_w, w, yaw_accel * dt, yaw_accel * dt)
    if cx != vx or cy != vy or cw != w:
        flags |= ACCEL_LIMITED
    cx, cy, cw, clamped = apply_limits_holonomic(cx, cy, cw, vmax, vrev, wmax, half_sum,
                                                 wheel_max)
    if clamped:
        flags |= SPEED_CLAMPED
    bx, by, bw, _ = apply_limits_holonomic(fx, fy, floor_w, vmax, vrev, wmax, half_sum,
                                           wheel_max)
    # the next step of the braking plan the last command was checked with
    kx, ky = shrink(lx, ly, decel * dt)
    kx, ky, kw, _ = apply_limits_holonomic(kx, ky, toward_zero(lw, yaw_accel * dt), vmax, vrev,
                                           wmax, half_sum, wheel_max)

    # gather the points within reach of the look-ahead and of any stopping rollout
    fp = limits[L_LEN + 1:L_LEN + 1 + 3 * nc]
    poly = limits[L_LEN + 2 + 3 * nc:L_LEN + 2 + 3 * nc + 2 * nv]
    thr = radius + margin if nc == 0 else bounding_radius(fp, nc) + margin
    c_len = math.hypot(cx, cy)
    b_len = math.hypot(bx, by)
    stop_reach = reach_holonomic(ux, uy, w_est, max(c_len, b_len, math.hypot(kx, ky)),
                                 max(abs(cw), abs(bw), abs(kw)), dt, tau, decel,
                                 yaw_accel) + thr
    far = max(c_len * horizon + thr, stop_reach)
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
        mem[MEM_CLEARANCE] = (math.sqrt(nearest2) - radius if nc == 0 else
                              clearance_fp(scan, n_points, px, py, pyaw, fp, nc,
                                           math.sqrt(nearest2)))
    near = mem[MEM_LEN:MEM_LEN + 3 * n_near].reshape((n_near, 3))

    # 5. look-ahead on the ramped command's arc (the centre's, in the travel direction)
    if c_len > 0.0 and n_near > 0:
        if nc == 0:
            k = _blocked_step(near, n_near, px, py, pyaw + math.atan2(cy, cx), c_len, cw,
                              thr * thr, horizon, mem)
        else:
            k = blocked_step_fp(near, n_near, fp, nc, px, py, pyaw, math.atan2(cy, cx), c_len,
                                cw, margin, _n_steps(horizon), horizon, mem, MEM_STEPS)
        if k > 0:
            free = c_len * (k - 1) * horizon / _n_steps(horizon)
            bd = decel * (dt + tau)
            allowed = 0.0 if free <= 0.0 else math.sqrt(bd * bd + 2.0 * decel * free) - bd
            allowed = min(allowed, math.hypot(ux, uy) + accel * dt)
            mem[MEM_FREE] = free
            mem[MEM_ALLOWED] = allowed
            s = min(max(allowed, b_len) / c_len, 1.0)
            if s < 1.0:
                cx *= s
                cy *= s
                if s > 0.0:
                    cw *= s  # the curvature kept; standing (s = 0), w is kept instead
                flags |= COLLISION_STOP if allowed <= 0.0 else COLLISION_SLOW

    # 6. final check of the command to be sent, against the points a stop can reach
    n_stop = np.int64(0)
    for j in range(n_near):
        if near[j, 2] <= stop_reach:
            for c in range(3):
                t = near[n_stop, c]
                near[n_stop, c] = near[j, c]
                near[j, c] = t
            n_stop += 1
    if n_stop > 0:
        if nc == 0:
            cx, cy, cw, outcome, low, pad, rollouts = safe_command_holonomic(
                near, n_stop, px, py, pyaw, ux, uy, w_est, cx, cy, cw, bx, by, bw, kx, ky, kw,
                dt, tau, decel, yaw_accel, radius, thr)
        else:
            scratch = mem[MEM_LEN + 3 * n_points:MEM_LEN + 3 * (n_points + n_stop)].reshape(
                (n_stop, 3))
            cx, cy, cw, outcome, low, pad, rollouts = safe_command_fp(
                True, near, n_stop, scratch, fp, nc, poly, nv, px, py, pyaw, ux, uy, w_est,
                cx, cy, cw, bx, by, bw, kx, ky, kw, dt, tau, decel, yaw_accel, margin)
        if outcome == SLOWED:
            flags |= COLLISION_SLOW
        elif outcome == STOPPING:
            flags |= COLLISION_STOP
        elif outcome == UNSAFE:
            flags |= COLLISION_STOP | NO_SAFE_STOP
        mem[MEM_ROLLOUTS] = rollouts
        mem[MEM_PREDICTED] = low
        mem[MEM_PAD] = pad

    f_len = math.hypot(fx, fy)
    if math.hypot(cx, cy) < f_len * (1.0 - 1e-12) or below(cw, floor_w):
        flags |= HARD_BRAKE
    _send(state, cmd_out, cx, cy, cw)
    return flags
