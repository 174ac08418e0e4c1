"""Speed limits and acceleration ramps of the holonomic safety layer, on the velocity vector.

The body-frame command is ``(vx, vy, w)``.  The translation ``(vx, vy)`` is one
vector: its magnitude is bounded and ramped as a whole (see
:mod:`robo_orch.core.safety_holonomic`); ``w`` is ramped by itself, as in the
differential-drive layer (:mod:`robo_orch.core.ramps`).

Values passed as ``up`` and ``down`` are already multiplied by the loop period.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core.ramps import ramp2


@numba.njit(cache=True, inline="always")
def limit_scale_holonomic(vx, vy, w, vmax, vrev, wmax, half_sum, wheel_max):
    """The largest factor <= 1 that brings ``(vx, vy, w)`` within every speed limit:
    ``|(vx, vy)| <= vmax``, ``-vx <= vrev``, ``|w| <= wmax`` and the mecanum wheel
    limit ``|vx| + |vy| + |w| half_sum <= wheel_max`` (``half_sum`` = (wheel_base +
    axle_distance) / 2)."""
    s = 1.0
    speed = math.hypot(vx, vy)
    if speed > vmax:
        s = vmax / speed
    if -vx * s > vrev:
        s = vrev / -vx
    if abs(w) * s > wmax:
        s = wmax / abs(w)
    peak = (abs(vx) + abs(vy) + abs(w) * half_sum) * s
    if peak > wheel_max:
        s *= wheel_max / peak
    return s


@numba.njit(cache=True)
def apply_limits_holonomic(vx, vy, w, vmax, vrev, wmax, half_sum, wheel_max):
    """``(vx, vy, w)`` scaled by one factor (:func:`limit_scale_holonomic`: the
    direction and the curvature kept), ``vx`` and ``w`` landing on a bound they meet;
    and whether they changed."""
    s = limit_scale_holonomic(vx, vy, w, vmax, vrev, wmax, half_sum, wheel_max)
    if s >= 1.0:
        return vx, vy, w, False
    vx = max(vx * s, -vrev)
    return vx, vy * s, min(max(w * s, -wmax), wmax), True


@numba.njit(cache=True, inline="always")
def down_start_vector(lx, ly, ex, ey):
    """Where a ramp down starts: the last command ``(lx, ly)`` scaled to the
    estimate's component along it, never beyond the last command nor below zero
    (:func:`robo_orch.core.ramps.down_start` for a vector)."""
    m = math.hypot(lx, ly)
    if m == 0.0:
        return 0.0, 0.0
    along = (ex * lx + ey * ly) / m
    if along >= m:
        return lx, ly
    if along <= 0.0:
        return 0.0, 0.0
    f = along / m
    return lx * f, ly * f


@numba.njit(cache=True, inline="always")
def shrink(x, y, step):
    """The vector ``(x, y)`` shortened by ``step`` in its own direction, stopping at zero
    (also when it is within rounding of ``step``, which repeated scaling leaves)."""
    m = math.hypot(x, y)
    if m <= step * (1.0 + 1e-12):
        return 0.0, 0.0
    f = (m - step) / m
    return x * f, y * f


@numba.njit(cache=True)
def ramp_vector(lx, ly, sx, sy, tx, ty, up, down):
    """Ramp the last command ``(lx, ly)`` toward the target ``(tx, ty)``.

    In the last command's direction the component ramps as :func:`ramp2` does a
    scalar (up from the last command by ``up``, down from the start ``(sx, sy)``
    of :func:`down_start_vector` by ``down``, never below the target; reversing
    brakes to zero first); across it, the component grows by at most ``up``; and
    the magnitude grows by at most ``up`` in all (the vector scaled back if the
    two parts exceed it).  A target within reach is returned exactly.
    """
    m = math.hypot(lx, ly)
    if m == 0.0:
        t = math.hypot(tx, ty)
        if t <= up:
            return tx, ty
        f = up / t
        return tx * f, ty * f
    ux = lx / m
    uy = ly / m
    a = tx * ux + ty * uy
    p = ty * ux - tx * uy
    along = ramp2(m, math.hypot(sx, sy), a, up, down)
    across = min(max(p, -up), up)
    if along == a and across == p and math.hypot(tx, ty) <= m + up:
        return tx, ty
    cx = along * ux - across * uy
    cy = along * uy + across * ux
    c = math.hypot(cx, cy)
    if c > m + up:
        f = (m + up) / c
        cx *= f
        cy *= f
    return cx, cy
