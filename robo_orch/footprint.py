"""Robot footprints: a circle (``robot.radius``) or a polygon (``robot.footprint``).

Plain Python (no numba), like :mod:`robo_orch.planar`: the config loader and the
drivers' host import it.

A polygon footprint ``[[x, y], ...]`` is given in the body frame (x forward, y
left, the origin the point whose pose the estimator tracks: the axle centre of a
wheeled base, the centre of a holonomic one), convex or not.  Two representations
serve it:

* **the exact polygon**, for the simulator's contact test
  (:mod:`robo_orch.sim.geometry`);
* **a cover by circles** ``(ox, oy, r)`` for the compiled kernels (safety, the
  DWA's clearance): :func:`circle_cover`.  The polygon is cut into ``k`` strips
  across its longer body axis; the part of the polygon inside a strip lies in the
  strip's rectangle ``[a, b] x [lo, hi]`` (``lo``, ``hi`` the polygon's extent in
  the strip: its vertices inside it and its edges' crossings of the strip's
  sides), and the circle through that rectangle's corners covers it.  So the
  union of the circles contains the polygon (**the cover is sound**).  ``k``
  grows from 1 until the *overshoot* (how far the circles reach beyond the
  polygon, measured on 64 points of each circle) is at most ``tolerance``; if
  none up to :data:`MAX_CIRCLES` is, the ``k`` of the least overshoot.  (Strips
  cannot beat square cells: a strip ``a`` long and ``h`` wide overshoots by
  ``hypot(a, h) / 2 - min(a, h) / 2``, least for ``a = h``: a rectangle ``h``
  wide is covered to ``0.207 h`` at best.)

Derived radii: :func:`inscribed_radius` (the largest circle about the origin
inside the polygon) and :func:`circumscribed_radius` (the smallest circle about
the origin containing it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from robo_orch.planar import point_in_polygon, segment_distance

MAX_CIRCLES = 12  #: most circles of a cover (each one is a rollout per safety check)
_SAMPLES = 64  #: points per circle measured for the overshoot

Point = tuple[float, float]
CircleSpec = tuple[float, float, float]


def _edges(poly: Sequence[Point]) -> list[tuple[Point, Point]]:
    pts = list(poly)
    return list(zip(pts, pts[1:] + pts[:1], strict=True))


def boundary_distance(x: float, y: float, poly: Sequence[Point]) -> float:
    """Distance from ``(x, y)`` to the polygon's boundary, m."""
    return min(segment_distance(x, y, ax, ay, bx, by) for (ax, ay), (bx, by) in _edges(poly))


def outside_distance(x: float, y: float, poly: Sequence[Point]) -> float:
    """Distance from ``(x, y)`` to the polygon (0 inside it), m."""
    if point_in_polygon(x, y, list(poly)):
        return 0.0
    return boundary_distance(x, y, poly)


def inscribed_radius(poly: Sequence[Point]) -> float:
    """Radius of the largest circle about the origin inside the polygon (0 if the origin
    is outside it), m."""
    if not point_in_polygon(0.0, 0.0, list(poly)):
        return 0.0
    return boundary_distance(0.0, 0.0, poly)


def circumscribed_radius(poly: Sequence[Point]) -> float:
    """Radius of the smallest circle about the origin containing the polygon, m."""
    return max(math.hypot(x, y) for x, y in poly)


def _extent(poly: Sequence[Point], a: float, b: float, axis: int) -> tuple[float, float] | None:
    """The polygon's extent across ``axis`` inside the strip ``a <= p[axis] <= b``."""
    other = 1 - axis
    vals = [p[other] for p in poly if a <= p[axis] <= b]
    for p, q in _edges(poly):
        for cut in (a, b):
            lo, hi = sorted((p[axis], q[axis]))
            if lo <= cut <= hi and hi > lo:
                t = (cut - p[axis]) / (q[axis] - p[axis])
                vals.append(p[other] + t * (q[other] - p[other]))
    if not vals:
        return None
    return min(vals), max(vals)


def _strips(poly: Sequence[Point], k: int) -> list[CircleSpec]:
    xs = [p[0] for p in poly]
    ys = [p[1] for p in poly]
    axis = 0 if max(xs) - min(xs) >= max(ys) - min(ys) else 1
    lo_a = min(xs) if axis == 0 else min(ys)
    hi_a = max(xs) if axis == 0 else max(ys)
    step = (hi_a - lo_a) / k
    out = []
    for i in range(k):
        a = lo_a + i * step
        b = hi_a if i == k - 1 else a + step
        ext = _extent(poly, a, b, axis)
        if ext is None:
            continue
        c_a = 0.5 * (a + b)
        c_o = 0.5 * (ext[0] + ext[1])
        r = 0.5 * math.hypot(b - a, ext[1] - ext[0])
        out.append((c_a, c_o, r) if axis == 0 else (c_o, c_a, r))
    return out


def overshoot(circles: Sequence[CircleSpec], poly: Sequence[Point]) -> float:
    """How far the circles reach beyond the polygon (measured on 64 points each), m."""
    worst = 0.0
    for cx, cy, r in circles:
        for i in range(_SAMPLES):
            a = 2.0 * math.pi * i / _SAMPLES
            worst = max(worst, outside_distance(cx + r * math.cos(a), cy + r * math.sin(a),
                                                poly))
    return worst


def circle_cover(poly: Sequence[Point], tolerance: float) -> tuple[list[CircleSpec], float]:
    """Circles ``(ox, oy, r)`` whose union contains the polygon, and their overshoot (m):
    the fewest strips (see the module docstring) whose overshoot is at most
    ``tolerance``, else the least overshoot up to :data:`MAX_CIRCLES` circles (computed
    once per polygon and tolerance)."""
    circles, over = _cover(tuple((float(x), float(y)) for x, y in poly), float(tolerance))
    return list(circles), over


@functools.lru_cache(maxsize=64)
def _cover(poly: tuple[Point, ...], tolerance: float) -> tuple[tuple[CircleSpec, ...], float]:
    best: tuple[list[CircleSpec], float] | None = None
    for k in range(1, MAX_CIRCLES + 1):
        circles = _strips(poly, k)
        over = overshoot(circles, poly)
        if over <= tolerance:
            return tuple(circles), over
        if best is None or over < best[1] - 1e-9:
            best = (circles, over)
    assert best is not None
    return tuple(best[0]), best[1]


def polygon_area(poly: Sequence[Point]) -> float:
    """Signed area (positive counter-clockwise), m^2."""
    return 0.5 * sum(ax * by - bx * ay for (ax, ay), (bx, by) in _edges(poly))


def footprint_spread(robot) -> float:
    """How far a robot's polygon footprint reaches beyond its inscribed radius (its
    circumscribed less its inscribed radius; 0 for a round robot), m."""
    poly = list(getattr(robot, "footprint", ()) or ())
    if not poly:
        return 0.0
    return max(0.0, circumscribed_radius(poly) - inscribed_radius(poly))
