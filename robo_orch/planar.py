"""Planar geometry and differential-drive kinematics in plain Python (no numba).

For code that must not load numba: driver processes (DESIGN: a driver does not
import numba) and config validation (the driver host imports the config
package).  The kernels' versions are in :mod:`robo_orch.core.geometry`.

The wheel/body conversions are the same operations in the same order as the
kernels', so they give the same bits.  The distance functions are not twins of
the kernels': :func:`segment_distance` measures to the closest point ``a + t e``
(the kernel to ``p - a - t e``) with Python's ``math.hypot`` (not the C
library's), and :func:`point_in_polygon` takes each edge's crossing from its
first vertex (the kernel from its second).  They may differ in the last bit, so
config validation and the random obstacle placement keep their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

A = TypeVar("A")  # a float or a numpy array of them


def body_to_wheels(v: float, w: float, wheel_base: float) -> tuple[float, float]:
    """Wheel surface speeds (left, right) for forward speed ``v`` and yaw rate ``w``."""
    half = 0.5 * w * wheel_base
    return v - half, v + half


def wheels_to_body(left: float, right: float, wheel_base: float) -> tuple[float, float]:
    """Forward speed and yaw rate (v, w) of wheel surface speeds ``left``, ``right``."""
    return 0.5 * (left + right), (right - left) / wheel_base


def wheel_speeds(v: float, w: float, wheel_base: float, limit: float) -> tuple[float, float, bool]:
    """Left and right wheel speeds (m/s) for body speeds ``v`` (m/s) and ``w`` (rad/s).

    If a wheel would exceed ``limit`` both are scaled by the same factor (the turn
    radius is kept); non-finite input gives zero.  The flag says a limit was applied.
    """
    if not (math.isfinite(v) and math.isfinite(w)):
        return 0.0, 0.0, True
    left, right = body_to_wheels(v, w, wheel_base)
    peak = max(abs(left), abs(right))
    if peak > limit:
        scale = limit / peak
        return left * scale, right * scale, True
    return left, right, False


def wrap_to_pi(a: A) -> A:
    """``a`` wrapped to [-pi, pi) (elementwise for a numpy array).

    Not :func:`robo_orch.core.geometry.wrap_angle`, which wraps to (-pi, pi] and
    leaves an angle already in range untouched.
    """
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from (px, py) to the segment (ax, ay)-(bx, by)."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def point_in_polygon(x: float, y: float, pts: Sequence[tuple[float, float]]) -> bool:
    """Even-odd test of (x, y) against the polygon with vertices ``pts``."""
    pts = list(pts)
    inside = False
    for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


Segment = tuple[float, float, float, float]  #: (x1, y1, x2, y2)
Disc = tuple[float, float, float]  #: (cx, cy, r)


def wall_shapes(walls: Sequence, thickness: float) -> tuple[list[Segment], list[Disc]]:
    """The walls as the geometry kernels see them: segments and circles.

    A wall of zero ``thickness`` is its segment.  A thick wall is a capsule: its two
    long sides (the segment moved ``thickness / 2`` to either side) and a round cap
    of radius ``thickness / 2`` on each end, so a wall seen end-on has a surface a
    ray can hit.  The distance from outside to this outline is the distance to the
    wall's centre line minus ``thickness / 2``.
    """
    segments: list[Segment] = []
    circles: list[Disc] = []
    half = 0.5 * float(thickness)
    for wall in walls:
        (ax, ay), (bx, by) = wall.start, wall.end
        if half <= 0.0:
            segments.append((ax, ay, bx, by))
            continue
        length = math.hypot(bx - ax, by - ay)
        if length > 0.0:
            nx, ny = -(by - ay) / length * half, (bx - ax) / length * half
            segments += [(ax + nx, ay + ny, bx + nx, by + ny),
                         (ax - nx, ay - ny, bx - nx, by - ny)]
        circles += [(ax, ay, half), (bx, by, half)] if length > 0.0 else [(ax, ay, half)]
    return segments, circles
