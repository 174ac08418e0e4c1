"""Speed limits and acceleration ramps of the safety layer (see :mod:`robo_orch.core.safety`).

Values passed as ``up`` and ``down`` are already multiplied by the loop period.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, error_model="numpy")
def ramp(last, target, up, down):
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


@numba.njit(cache=True)
def down_start(last, est):
    """Where a ramp down starts: the smaller of ``last`` and ``est`` in last's direction."""
    if last > 0.0:
        return min(last, max(est, 0.0))
    if last < 0.0:
        return max(last, min(est, 0.0))
    return 0.0


@numba.njit(cache=True, error_model="numpy")
def ramp2(last, start, target, up, down):
    """Ramp ``last`` toward ``target``: up from ``last`` by ``up``; down from ``start``
    (:func:`down_start`) by ``down``, never below the target (a target between
    ``start`` and ``last`` is taken as it is); a sign change brakes to zero first."""
    opposite = (last > 0.0 and target < 0.0) or (last < 0.0 and target > 0.0)
    if abs(target) >= abs(last) and not opposite:
        return ramp(last, target, up, down)
    if abs(target) >= abs(start) and not opposite:
        return target  # between the actual speed and the last command
    return ramp(start, target, up, down)


@numba.njit(cache=True)
def limit_scale(v, w, vmax, vrev, wmax, half_base, wheel_max):
    """The largest factor <= 1 that brings (v, w) within every speed limit."""
    s = 1.0
    if v > vmax:
        s = vmax / v
    elif v < -vrev:
        s = vrev / -v
    if abs(w) * s > wmax:
        s = wmax / abs(w)
    peak = (abs(v) + abs(w) * half_base) * s
    if peak > wheel_max:
        s *= wheel_max / peak
    return s


@numba.njit(cache=True)
def _snap(x, bound):
    """``x`` set to ``bound`` when it is within rounding of it (|bound| > 0)."""
    return bound if abs(x - bound) <= 1e-12 * abs(bound) else x


@numba.njit(cache=True)
def apply_limits(v, w, vmax, vrev, wmax, half_base, wheel_max):
    """(v, w) scaled by :func:`limit_scale`, landing exactly on a bound it meets; and
    whether they changed."""
    s = limit_scale(v, w, vmax, vrev, wmax, half_base, wheel_max)
    if s >= 1.0:
        return v, w, False
    v = _snap(_snap(v * s, vmax), -vrev) if vrev > 0.0 else _snap(v * s, vmax)
    w = _snap(_snap(w * s, wmax), -wmax)
    return min(max(v, -vrev), vmax), min(max(w, -wmax), wmax), True


@numba.njit(cache=True)
def below(value, floor):
    """True when ``value`` is nearer zero than ``floor`` (or on the other side of it)."""
    if floor > 0.0:
        return value < floor
    if floor < 0.0:
        return value > floor
    return False
