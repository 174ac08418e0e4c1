"""The simulated world as flat arrays, and the compiled geometry kernels on it.

:class:`WorldMap` turns a :class:`~robo_orch.config.sections.WorldConfig` into
C-contiguous float64 arrays:

``segments``      float64[n, 4]  (x1, y1, x2, y2): the bounds box, the walls and
                                 every polygon edge
``circles``       float64[m, 3]  (cx, cy, r)
``poly_xy``       float64[k, 2]  the vertices of every polygon, one after another
``poly_offsets``  int64[p + 1]   polygon i owns rows ``poly_offsets[i]:poly_offsets[i + 1]``

A wall ``world.wall_thickness`` thick is its two long sides in ``segments`` and a
round cap on each end in ``circles`` (:func:`~robo_orch.planar.wall_shapes`);
segments (and polygon edges) are hit from either side; a ray that starts inside a
circle hits the circle where it leaves it.

Moving obstacles are circles too: they occupy the last rows of ``circles``
(from ``first_mover`` on), and :meth:`WorldMap.move_to` rewrites those rows for a
time, so the clearance, collision and ray-casting kernels see them unchanged.
Their paths are kept as

``mover_params``   float64[q, 4]  (radius, speed, mode, delay_s); mode: robo_orch.sim.movers.MODE_*
``mover_xy``       float64[v, 2]  every mover's path vertices, one after another
                                  (a ``loop`` path repeats its first vertex at the end)
``mover_s``        float64[v]     arc length from the mover's first vertex, m
``mover_offsets``  int64[q + 1]   mover i owns vertex rows ``mover_offsets[i]:[i + 1]``
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np
# isort: on

from robo_orch.core.geometry import point_in_polygon, segment_distance
from robo_orch.planar import wall_shapes

if TYPE_CHECKING:
    from robo_orch.config.world import WorldConfig


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
        d = segment_distance(x, y, segments[j, 0], segments[j, 1],
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
        movers: Sequence[Any] = (),
    ) -> None:
        """``movers``: objects with ``radius``, ``path``, ``speed``, ``mode`` and ``delay_s``
        (a :class:`~robo_orch.config.sections.MovingCircle`)."""
        self.segments = np.ascontiguousarray(segments, dtype=np.float64).reshape(-1, 4)
        static = np.asarray(circles, dtype=np.float64).reshape(-1, 3)
        #: row of ``circles`` where the moving obstacles begin
        self.first_mover = len(static)
        self.circles = np.ascontiguousarray(
            np.concatenate([static, np.zeros((len(movers), 3))]), dtype=np.float64)
        self._init_movers(movers)
        polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
        sizes = [len(p) for p in polys]
        self.poly_offsets = np.zeros(len(polys) + 1, dtype=np.int64)
        self.poly_offsets[1:] = np.cumsum(sizes, dtype=np.int64)
        self.poly_xy = np.ascontiguousarray(
            np.concatenate(polys) if polys else np.zeros((0, 2)), dtype=np.float64)
        #: (xmin, ymin, xmax, ymax), or () when the world has no outer walls
        self.bounds = tuple(float(b) for b in bounds)
        self.move_to(0.0)

    def _init_movers(self, movers: Sequence[Any]) -> None:
        modes: dict[str, int] = {}
        if movers:  # (its kernel compiles only for a world that has moving obstacles)
            from robo_orch.sim import movers as kernel

            modes = kernel.MODES
            self._place_movers = kernel.place_movers
        paths = []
        for m in movers:
            pts = np.asarray(m.path, dtype=np.float64).reshape(-1, 2)
            if m.mode == "loop":
                pts = np.concatenate([pts, pts[:1]])
            paths.append(pts)
        self.mover_params = np.array([[m.radius, m.speed, modes[m.mode], m.delay_s]
                                      for m in movers], dtype=np.float64).reshape(-1, 4)
        self.mover_offsets = np.zeros(len(paths) + 1, dtype=np.int64)
        self.mover_offsets[1:] = np.cumsum([len(p) for p in paths], dtype=np.int64)
        self.mover_xy = np.ascontiguousarray(
            np.concatenate(paths) if paths else np.zeros((0, 2)), dtype=np.float64)
        self.mover_s = np.concatenate(
            [np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
             for p in paths]) if paths else np.zeros(0)

    @property
    def n_movers(self) -> int:
        """Number of moving obstacles."""
        return len(self.mover_params)

    def move_to(self, t: float) -> None:
        """Put every moving obstacle where it is at time ``t`` s (in place; no allocation)."""
        if len(self.mover_params):
            self._place_movers(float(t), self.mover_params, self.mover_xy, self.mover_s,
                               self.mover_offsets, self.circles, self.first_mover)

    @classmethod
    def from_config(cls, cfg: WorldConfig) -> WorldMap:
        """Build the map of a validated world section (random obstacles already resolved:
        :meth:`~robo_orch.config.sections.WorldConfig.resolve`)."""
        segs: list[tuple[float, float, float, float]] = []
        if cfg.bounds:
            x0, y0, x1, y1 = cfg.bounds
            corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            segs += _closed_edges(corners)
        wall_segments, caps = wall_shapes(cfg.walls, cfg.wall_thickness)
        segs += wall_segments
        polys = [np.asarray(p.points, dtype=np.float64) for p in cfg.polygons]
        for p in cfg.polygons:
            segs += _closed_edges(p.points)
        circles = [(*c.center, c.radius) for c in cfg.circles] + caps
        return cls(np.asarray(segs, dtype=np.float64).reshape(-1, 4),
                   np.asarray(circles, dtype=np.float64).reshape(-1, 3),
                   polys, cfg.bounds, cfg.moving)

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
