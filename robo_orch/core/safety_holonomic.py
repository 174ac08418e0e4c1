"""TEMPORARY placeholder of the holonomic safety kernel (replaced by w6-holosafe at merge).

A conservative stand-in with the agreed interface, so the holonomic base runs end
to end before the real kernel lands:
``safety_holonomic(state, scan, limits, pvx, pvy, pw, mem, cmd_out) -> int64 flags``
and ``pack_limits_holonomic(safety_cfg, robot_cfg)``; the flag bits are those of
:mod:`robo_orch.core.safety`.

1. E-stop: zero at once.  Stale inputs: the braking floor (each component one tick
   of its limit closer to zero).  A non-finite proposal: zero.
2. Limits: vx in [-max_reverse, max_speed], the planar speed |(vx, vy)| <=
   max_speed, |w| <= max_yaw_rate, and every mecanum wheel
   |vx| + |vy| + k |w| <= max_wheel_speed (k = (wheel_base + axle_distance) / 2),
   all by one factor (the direction kept).
3. Ramps: the velocity vector changes by at most max_accel dt while its length
   grows, max_decel dt while it shrinks; w by max_yaw_accel dt.
4. Collision: the centre's straight stopping path along the command's direction
   (one tick, the motor lag, then braking at max_decel) must not come within
   radius + margin of a scan point ahead; the speed is cut to the largest that
   stops before the first such point (zero if the robot is already within it and
   moving toward it).  Turning in place never moves a circular footprint.

Reads ``state[VY]``; writes ``state[CMD_V]`` (vx), ``state[CMD_VY]``, ``state[CMD_W]``
and ``cmd_out[0..2] = vx, vy, w``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from robo_orch.core import world as _w
from robo_orch.core.odoframe import scan_frame_pose
from robo_orch.core.safety import (
    ACCEL_LIMITED,
    COLLISION_SLOW,
    COLLISION_STOP,
    ESTOP,
    HARD_BRAKE,
    INVALID_INPUT,
    SPEED_CLAMPED,
    STALE_STOP,
)

L_MAX_SPEED = 0
L_MAX_REVERSE = 1
L_MAX_YAW_RATE = 2
L_MAX_ACCEL = 3
L_MAX_DECEL = 4
L_MAX_YAW_ACCEL = 5
L_MARGIN = 6
L_HORIZON = 7
L_WHEEL_K = 8
L_MAX_WHEEL_SPEED = 9
L_MOTOR_TAU = 10
L_LEN = 11

MEM_FREE = 0
MEM_ALLOWED = 1
MEM_CLEARANCE = 2
MEM_LEN = 8


def mem_size(max_scan: int) -> int:
    """Length of the ``mem`` array (diagnostics only)."""
    return MEM_LEN


def pack_limits_holonomic(safety_cfg, robot_cfg) -> np.ndarray:
    """The ``limits`` array from the ``[safety]`` and ``[robot]`` configs."""
    limits = np.zeros(L_LEN, dtype=np.float64)
    limits[L_MAX_SPEED] = safety_cfg.max_speed
    limits[L_MAX_REVERSE] = safety_cfg.max_reverse
    limits[L_MAX_YAW_RATE] = safety_cfg.max_yaw_rate
    limits[L_MAX_ACCEL] = safety_cfg.max_accel
    limits[L_MAX_DECEL] = safety_cfg.max_decel
    limits[L_MAX_YAW_ACCEL] = safety_cfg.max_yaw_accel
    limits[L_MARGIN] = safety_cfg.collision_margin
    limits[L_HORIZON] = safety_cfg.collision_horizon_s
    limits[L_WHEEL_K] = 0.5 * (robot_cfg.wheel_base + robot_cfg.axle_distance)
    limits[L_MAX_WHEEL_SPEED] = robot_cfg.max_wheel_speed
    limits[L_MOTOR_TAU] = robot_cfg.motor_time_constant
    return limits


@numba.njit(cache=True, inline="always")
def _send(state, cmd_out, vx, vy, w):
    cmd_out[0] = vx
    cmd_out[1] = vy
    cmd_out[2] = w
    state[_w.CMD_V] = vx
    state[_w.CMD_VY] = vy
    state[_w.CMD_W] = w


@numba.njit(cache=True, error_model="numpy")
def _limit(vx, vy, w, vmax, vrev, wmax, k, wheel_max):
    """The factor <= 1 that brings (vx, vy, w) within every speed limit."""
    s = 1.0
    if vx > vmax:
        s = min(s, vmax / vx)
    elif vx < -vrev:
        s = min(s, vrev / -vx) if vrev > 0.0 else 0.0
    sp = math.hypot(vx, vy)
    if sp > vmax:
        s = min(s, vmax / sp)
    if abs(w) > wmax:
        s = min(s, wmax / abs(w))
    peak = abs(vx) + abs(vy) + k * abs(w)
    if peak > wheel_max:
        s = min(s, wheel_max / peak)
    return s


@numba.njit(cache=True, error_model="numpy")
def _toward(last, target, step):
    d = target - last
    if d > step:
        return last + step
    if d < -step:
        return last - step
    return target


@numba.njit("int64(float64[::1], float64[:, ::1], float64[::1], float64, float64, float64, "
            "float64[::1], float64[::1])", cache=True, error_model="numpy")
def safety_holonomic(state, scan, limits, pvx, pvy, pw, mem, cmd_out):
    """Turn the proposal (vx, vy, w) into the command; return the flags (see above)."""
    if cmd_out.shape[0] < 3:
        return INVALID_INPUT
    if state.shape[0] < _w.STATE_LEN or limits.shape[0] < L_LEN or mem.shape[0] < MEM_LEN:
        cmd_out[0] = 0.0
        cmd_out[1] = 0.0
        cmd_out[2] = 0.0
        return INVALID_INPUT
    mem[MEM_FREE] = -1.0
    mem[MEM_ALLOWED] = np.inf
    mem[MEM_CLEARANCE] = np.inf
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
    k = limits[L_WHEEL_K]
    wheel_max = limits[L_MAX_WHEEL_SPEED]
    tau = limits[L_MOTOR_TAU]
    dt = state[_w.DT]
    radius = state[_w.ROBOT_RADIUS]
    px, py, pyaw = scan_frame_pose(state)
    valid = (vmax > 0.0 and vrev >= 0.0 and wmax > 0.0 and accel > 0.0 and decel > 0.0
             and yaw_accel > 0.0 and margin >= 0.0 and k >= 0.0 and wheel_max > 0.0
             and tau >= 0.0 and dt > 0.0 and radius >= 0.0
             and math.isfinite(vmax + vrev + wmax + accel + decel + yaw_accel + margin + k
                               + wheel_max + tau + dt + radius)
             and math.isfinite(px + py + pyaw + state[_w.V] + state[_w.VY] + state[_w.W]))
    if not valid:
        _send(state, cmd_out, 0.0, 0.0, 0.0)
        return INVALID_INPUT
    flags = 0
    lvx = state[_w.CMD_V]
    lvy = state[_w.CMD_VY]
    lw = state[_w.CMD_W]
    if not (math.isfinite(lvx) and math.isfinite(lvy) and math.isfinite(lw)):
        lvx = 0.0
        lvy = 0.0
        lw = 0.0
    # the braking floor: the last command's velocity one tick of max_decel shorter
    last_sp = math.hypot(lvx, lvy)
    fs = 0.0 if last_sp <= decel * dt else (last_sp - decel * dt) / last_sp
    fvx = lvx * fs
    fvy = lvy * fs
    fw = _toward(lw, 0.0, yaw_accel * dt)
    if state[_w.STALE] != 0.0:
        vx = fvx
        vy = fvy
        w = fw
        flags |= STALE_STOP
    elif math.isfinite(pvx) and math.isfinite(pvy) and math.isfinite(pw):
        vx = pvx
        vy = pvy
        w = pw
    else:
        vx = 0.0
        vy = 0.0
        w = 0.0
        flags |= INVALID_INPUT
    s = _limit(vx, vy, w, vmax, vrev, wmax, k, wheel_max)
    if s < 1.0:
        vx *= s
        vy *= s
        w *= s
        flags |= SPEED_CLAMPED
    # ramps: the velocity vector, then w
    dx = vx - lvx
    dy = vy - lvy
    dn = math.hypot(dx, dy)
    step = (accel if math.hypot(vx, vy) >= last_sp else decel) * dt
    if dn > step:
        vx = lvx + dx * step / dn
        vy = lvy + dy * step / dn
        flags |= ACCEL_LIMITED
    cw = _toward(lw, w, yaw_accel * dt)
    if cw != w:
        w = cw
        flags |= ACCEL_LIMITED
    s = _limit(vx, vy, w, vmax, vrev, wmax, k, wheel_max)
    if s < 1.0:
        vx *= s
        vy *= s
        w *= s
        flags |= SPEED_CLAMPED
    # collision: the centre's straight stopping path along the command's direction
    rows = scan.shape[0]
    count = state[_w.SCAN_COUNT]
    n = 0
    if count > 0.0 and scan.shape[1] >= 2:
        n = rows if count >= rows else int(count)
    thr = radius + margin
    u = math.hypot(vx, vy)
    nearest2 = np.inf
    free = np.inf
    if u > 0.0:
        h = pyaw + math.atan2(vy, vx)
        ex = math.cos(h)
        ey = math.sin(h)
    else:
        ex = 0.0
        ey = 0.0
    for j in range(n):
        qx = scan[j, 0] - px
        qy = scan[j, 1] - py
        nearest2 = min(nearest2, qx * qx + qy * qy)
        if u > 0.0:
            along = qx * ex + qy * ey
            side = qx * ey - qy * ex
            if along > 0.0 and abs(side) < thr:
                f = along - math.sqrt(thr * thr - side * side)
                if f < free:
                    free = f
    if n > 0:
        mem[MEM_CLEARANCE] = math.sqrt(nearest2) - radius
    if u > 0.0 and free < np.inf:
        bd = decel * (dt + tau)
        allowed = 0.0 if free <= 0.0 else math.sqrt(bd * bd + 2.0 * decel * free) - bd
        mem[MEM_FREE] = free
        mem[MEM_ALLOWED] = allowed
        if u > allowed:
            sc = allowed / u
            vx *= sc
            vy *= sc
            flags |= COLLISION_STOP if allowed <= 0.0 else COLLISION_SLOW
    if math.hypot(vx, vy) < math.hypot(fvx, fvy) - 1e-12 or abs(w) < abs(fw) - 1e-12:
        flags |= HARD_BRAKE
    _send(state, cmd_out, vx, vy, w)
    return flags
