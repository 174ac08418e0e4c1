"""Planar geometry and differential-drive kinematics shared by the kernels (numba).

One home for the small formulas the planner, the safety layer, the estimator and
the simulator all use, so that each is written (and rounded) once.  Callers
inline most of them (``inline="always"``), so a kernel that uses one compiles to
the same machine code as when the formula was written out in it.

Several kernels compute *similar* quantities in another order of operations (the
closest point as ``a + t e`` rather than ``p - a - t e``, ``sqrt`` rather than
``hypot``, the angle wrapped through ``atan2``); floating point is not
associative, so those are kept where they are and are not replaced by these.
Plain-Python twins for code that must not load numba (config validation, driver
processes) are in :mod:`robo_orch.planar`.
"""

from __future__ import annotations

import math

import numba

_F = "float64"


@numba.njit(f"{_F}({_F}, {_F}, {_F}, {_F}, {_F}, {_F})", cache=True, inline="always")
def segment_fraction(px, py, ax, ay, ex, ey):
    """Where the point of the segment from (ax, ay) along (ex, ey) closest to (px, py) lies.

    The fraction of the way along, in [0, 1]; 0 for a zero-length segment.
    """
    len2 = ex * ex + ey * ey
    if len2 > 0.0:
        return min(max(((px - ax) * ex + (py - ay) * ey) / len2, 0.0), 1.0)
    return 0.0


@numba.njit(f"{_F}({_F}, {_F}, {_F}, {_F}, {_F}, {_F})", cache=True, inline="always")
def segment_distance(px, py, x1, y1, x2, y2):
    """Distance from (px, py) to the segment (x1, y1)-(x2, y2)."""
    ex = x2 - x1
    ey = y2 - y1
    s = segment_fraction(px, py, x1, y1, ex, ey)
    return math.hypot((px - x1) - s * ex, (py - y1) - s * ey)


@numba.njit(f"UniTuple({_F}, 3)({_F}, {_F}, {_F}, {_F}, {_F}, {_F})", cache=True,
            inline="always")
def closest_on_segment(px, py, ax, ay, bx, by):
    """(distance, x, y) of the point of the segment (ax, ay)-(bx, by) closest to (px, py).

    The distance is measured to the point ``a + s (b - a)`` as computed, so it may
    differ from :func:`segment_distance` in the last bit.
    """
    ex = bx - ax
    ey = by - ay
    s = segment_fraction(px, py, ax, ay, ex, ey)
    qx = ax + s * ex
    qy = ay + s * ey
    return math.hypot(px - qx, py - qy), qx, qy


@numba.njit(f"boolean({_F}, {_F}, {_F}[:, ::1], int64, int64)", cache=True, inline="always")
def point_in_polygon(x, y, poly_xy, start, stop):
    """Even-odd test of (x, y) against the polygon in rows ``start:stop`` of ``poly_xy``."""
    inside = False
    j = stop - 1
    for i in range(start, stop):
        yi = poly_xy[i, 1]
        yj = poly_xy[j, 1]
        if (yi > y) != (yj > y):
            xi = poly_xy[i, 0]
            if x < xi + (y - yi) * (poly_xy[j, 0] - xi) / (yj - yi):
                inside = not inside
        j = i
    return inside


@numba.njit(f"{_F}({_F})", cache=True)
def wrap_angle(a):
    """``a`` wrapped to (-pi, pi]; returned unchanged when it is in range already."""
    if -math.pi < a <= math.pi:
        return a
    two_pi = 2.0 * math.pi
    r = a - two_pi * math.floor((a + math.pi) / two_pi)  # in [-pi, pi) up to rounding
    if r <= -math.pi:
        r += two_pi
    elif r > math.pi:
        r -= two_pi
    return r


@numba.njit(f"UniTuple({_F}, 2)({_F}, {_F}, {_F})", cache=True, inline="always")
def wheels_to_body(left, right, wheel_base):
    """Forward speed and yaw rate (v, w) of wheel surface speeds ``left``, ``right``.

    Also turns the distances the wheels rolled into (distance, heading change).
    """
    return 0.5 * (left + right), (right - left) / wheel_base
