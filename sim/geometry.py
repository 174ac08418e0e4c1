"""The simulated world as flat arrays, and the compiled geometry kernels on it.

:class:`WorldMap` turns a :class:`~robo_orch.config_schema.WorldConfig` into
C-contiguous float64 arrays:

``segments``      float64[n, 4]  (x1, y1, x2, y2): the bounds box, the walls and
                                 every polygon edge
``circles``       float64[m, 3]  (cx, cy, r)
``poly_xy``       float64[k, 2]  the vertices of every polygon, one after another
``poly_offsets``  int64[p + 1]   polygon i owns rows ``poly_offsets[i]:poly_offsets[i + 1]``

Walls and polygon edges have zero thickness and are hit from either side; a ray
that starts inside a circle hits the circle where it leaves it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np
# isort: on

if TYPE_CHECKING:
    from robo_orch.config_schema import WorldConfig


# Below this |sin| between a ray and a segment the two count as parallel (no hit).
_PARALLEL_EPS = 1e-12


@numba.njit(
    "void(float64, float64, float64, float64[::1], float64, float64[:, ::1], "
    "float64[:, ::1], float64[::1])",
    cache=True,
)
def raycast(ox, oy, heading, angles, max_range, segments, circles, out_ranges):
    """Distance along each ray ``heading + angles[i]`` from (ox, oy) to the first hit.

    Writes ``out_ranges[i]``; +inf when nothing is hit within ``max_range``.
    """
    n_seg = segments.shape[0]
    n_circ = circles.shape[0]
    for i in range(angles.shape[0]):
        a = heading + angles[i]
        dx = math.cos(a)
        dy = math.sin(a)
        best = max_range
        hit = False
        for j in range(n_seg):
            x1 = segments[j, 0]
            y1 = segments[j, 1]
            ex = segments[j, 2] - x1
            ey = segments[j, 3] - y1
            denom = dx * ey - dy * ex
            if abs(denom) <= _PARALLEL_EPS * (abs(ex) + abs(ey)):
                continue
            wx = x1 - ox
            wy = y1 - oy
            t = (wx * ey - wy * ex) / denom
            if t < 0.0 or t > best:
                continue
            s = (wx * dy - wy * dx) / denom
            if 0.0 <= s <= 1.0:
                best = t
                hit = True
        for j in range(n_circ):
            # |o + t d - c|^2 = r^2 with |d| = 1:  t^2 + 2 b t + c0 = 0
            px = ox - circles[j, 0]
            py = oy - circles[j, 1]
            r = circles[j, 2]
            b = px * dx + py * dy
            c0 = px * px + py * py - r * r
            disc = b * b - c0
            if disc < 0.0:
                continue
            root = math.sqrt(disc)
            t = -b - root
            if t < 0.0:
                t = -b + root  # the origin is inside the circle: the exit point
                if t < 0.0:
                    continue
            if t <= best:
                best = t
                hit = True
        out_ranges[i] = best if hit else math.inf


@numba.njit("float64(float64, float64, float64, float64, float64, float64)", cache=True)
def point_segment_distance(px, py, x1, y1, x2, y2):
    """Distance from (px, py) to the segment (x1, y1)-(x2, y2)."""
    ex = x2 - x1
    ey = y2 - y1
    wx = px - x1
    wy = py - y1
    len2 = ex * ex + ey * ey
    s = 0.0
    if len2 > 0.0:
        s = (wx * ex + wy * ey) / len2
        if s < 0.0:
            s = 0.0
        elif s > 1.0:
            s = 1.0
    return math.hypot(wx - s * ex, wy - s * ey)


@numba.njit("boolean(float64, float64, float64[:, ::1], int64, int64)", cache=True)
def point_in_polygon(x, y, poly_xy, start, stop):
    """Even-odd test of (x, y) against the polygon in rows ``start:stop`` of ``poly_xy``."""
    inside = False
    j = stop - 1
    for i in range(start, stop):
        xi = poly_xy[i, 0]
        yi = poly_xy[i, 1]
        xj = poly_xy[j, 0]
        yj = poly_xy[j, 1]
        if (yi > y) != (yj > y):
            x_cross = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


@numba.njit(
    "float64(float64, float64, float64[:, ::1], float64[:, ::1], float64[:, ::1], int64[::1])",
    cache=True,
)
def clearance(x, y, segments, circles, poly_xy, poly_offsets):
    """Distance from (x, y) to the nearest obstacle surface; 0.0 inside a circle or polygon."""
    for p in range(poly_offsets.shape[0] - 1):
        if point_in_polygon(x, y, poly_xy, poly_offsets[p], poly_offsets[p + 1]):
            return 0.0
    best = math.inf
    for j in range(circles.shape[0]):
        d = math.hypot(x - circles[j, 0], y - circles[j, 1]) - circles[j, 2]
        if d <= 0.0:
            return 0.0
        if d < best:
            best = d
    for j in range(segments.shape[0]):
        d = point_segment_distance(x, y, segments[j, 0], segments[j, 1],
                                   segments[j, 2], segments[j, 3])
        if d < best:
            best = d
    return best


class WorldMap:
    """The obstacles of a world as flat arrays for the geometry kernels."""

    def __init__(
        self,
        segments: np.ndarray,
        circles: np.ndarray,
        polygons: list[np.ndarray] | tuple[np.ndarray, ...] = (),
        bounds: tuple[float, ...] = (),
    ) -> None:
        self.segments = np.ascontiguousarray(segments, dtype=np.float64).reshape(-1, 4)
        self.circles = np.ascontiguousarray(circles, dtype=np.float64).reshape(-1, 3)
        polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
        sizes = [len(p) for p in polys]
        self.poly_offsets = np.zeros(len(polys) + 1, dtype=np.int64)
        self.poly_offsets[1:] = np.cumsum(sizes, dtype=np.int64)
        self.poly_xy = np.ascontiguousarray(
            np.concatenate(polys) if polys else np.zeros((0, 2)), dtype=np.float64)
        #: (xmin, ymin, xmax, ymax), or () when the world has no outer walls
        self.bounds = tuple(float(b) for b in bounds)

    @classmethod
    def from_config(cls, cfg: WorldConfig) -> WorldMap:
        """Build the map of a validated world section."""
        segs: list[tuple[float, float, float, float]] = []
        if cfg.bounds:
            x0, y0, x1, y1 = cfg.bounds
            corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            segs += _closed_edges(corners)
        segs += [(*w.start, *w.end) for w in cfg.walls]
        polys = [np.asarray(p.points, dtype=np.float64) for p in cfg.polygons]
        for p in cfg.polygons:
            segs += _closed_edges(p.points)
        circles = [(*c.center, c.radius) for c in cfg.circles]
        return cls(np.asarray(segs, dtype=np.float64).reshape(-1, 4),
                   np.asarray(circles, dtype=np.float64).reshape(-1, 3),
                   polys, cfg.bounds)

    def clearance(self, x: float, y: float) -> float:
        """Distance from (x, y) to the nearest obstacle surface (0.0 inside one)."""
        return float(clearance(float(x), float(y), self.segments, self.circles,
                               self.poly_xy, self.poly_offsets))

    def inside_bounds(self, x: float, y: float) -> bool:
        """True when (x, y) is within the bounds box (always, if the world has none)."""
        if not self.bounds:
            return True
        x0, y0, x1, y1 = self.bounds
        return x0 <= x <= x1 and y0 <= y <= y1

    def raycast(self, x: float, y: float, heading: float, angles: np.ndarray,
                max_range: float, out: np.ndarray | None = None) -> np.ndarray:
        """Ranges along ``heading + angles`` from (x, y); +inf where nothing is in range."""
        angles = np.ascontiguousarray(angles, dtype=np.float64)
        if out is None:
            out = np.empty_like(angles)
        raycast(float(x), float(y), float(heading), angles, float(max_range),
                self.segments, self.circles, out)
        return out


def _closed_edges(points) -> list[tuple[float, float, float, float]]:
    pts = list(points)
    return [(*pts[i], *pts[(i + 1) % len(pts)]) for i in range(len(pts))]


def check_placement(world_map: WorldMap, x: float, y: float, radius: float) -> float:
    """Clearance of a disc of ``radius`` at (x, y): centre clearance minus radius.

    Negative means the disc overlaps an obstacle; a centre outside the bounds box
    gives ``-radius`` (as if inside an obstacle).  The caller decides the margin and
    writes the error message.
    """
    if not (math.isfinite(x) and math.isfinite(y)) or not world_map.inside_bounds(x, y):
        return -float(radius)
    return world_map.clearance(x, y) - float(radius)
