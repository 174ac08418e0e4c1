"""The occupancy grid the global planner searches (numba kernels).

Cell ``(j, i)`` (rows along y) covers the square centred on
``(x0 + (i + 0.5) res, y0 + (j + 0.5) res)``; ``(x0, y0)`` is the grid's lower
left corner.  Two layers:

``map_d``  float64[ny, nx]  distance (m) from each cell centre to the nearest
                            obstacle of the configured world (walls, polygon
                            edges, circles, the bounds box; 0 inside a circle or
                            polygon), capped at ``dmax``.  Built once.
``marks``  uint8[ny, nx]    nonzero where the lidar saw an obstacle the map does
                            not explain; rays that pass through the hit clear it
                            (:func:`mark_scan`), so a moving obstacle does not leave
                            a permanent trail.  The
                            value also says where in its cell the hit lay, on a
                            15 x 15 sub-grid (:func:`mark_code`, :func:`mark_offset`;
                            1 is the cell centre), so a marked obstacle is as sharp
                            as a mapped one: a gap between two posts seen by the
                            lidar is not narrowed by the cell size.

A plan works on ``d``: ``map_d`` with every marked cell stamped in as an
obstacle at distance ``max(0, |cell centre - hit| - mark_margin)`` (less a
margin because a lidar sees a surface only at its scattered hits, and the hit's
position is kept to res / 30).  How ``d``
becomes blocked cells and costs is in :mod:`robo_orch.core.pathplan`.

The frame is the odom frame, which the estimator starts at the mission's start
pose in world coordinates, so map and odom coordinates coincide (up to drift).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numba
import numpy as np

from robo_orch.core.geometry import point_in_polygon, segment_distance
from robo_orch.errors import ConfigError
from robo_orch.planar import wall_shapes


class WorldShape(Protocol):
    """What the grid reads of a world (the config's ``[world]`` section is one).

    ``bounds`` is ``(x0, y0, x1, y1)`` or empty; each wall has ``start`` and ``end``,
    each polygon ``points``, each circle ``center`` and ``radius`` (m); an optional
    ``wall_thickness`` (m, 0 when absent) makes walls capsules.
    """

    bounds: tuple[float, ...]
    walls: Sequence[Any]
    polygons: Sequence[Any]
    circles: Sequence[Any]

_RASTER_SIG = ("void(float64[:, ::1], float64, float64, float64, float64, float64[:, ::1],"
               " float64[:, ::1], float64[:, ::1], int64[::1])")
_MARK_SIG = ("int64(float64[:, ::1], int64, float64, float64, float64[:, ::1], uint8[:, ::1],"
             " float64, float64, float64, float64, float64, float64, float64, int64[::1],"
             " int64[::1])")
_COMBINE_SIG = ("int64(float64[:, ::1], uint8[:, ::1], float64, float64, float64,"
                " float64[:, ::1])")
_HALF_DIAG = math.sqrt(0.5)


@numba.njit(cache=True, inline="always")
def _span(lo, hi, origin, res, n):
    """Cell indices [a, b) whose centres may lie within [lo, hi] (over-inclusive)."""
    a = max(int(math.floor((lo - origin) / res - 0.5)), 0)
    b = min(int(math.ceil((hi - origin) / res - 0.5)) + 1, n)
    return a, b


@numba.njit(_RASTER_SIG, cache=True)
def rasterize_map(d, x0, y0, res, dmax, segments, circles, poly_xy, poly_offsets):
    """Fill ``d`` with each cell centre's distance to the map obstacles, capped at ``dmax``.

    Each obstacle only touches the cells within ``dmax`` of its bounding box.
    """
    ny, nx = d.shape
    for j in range(ny):
        for i in range(nx):
            d[j, i] = dmax
    for k in range(segments.shape[0]):
        x1 = segments[k, 0]
        y1 = segments[k, 1]
        x2 = segments[k, 2]
        y2 = segments[k, 3]
        i0, i1 = _span(min(x1, x2) - dmax, max(x1, x2) + dmax, x0, res, nx)
        j0, j1 = _span(min(y1, y2) - dmax, max(y1, y2) + dmax, y0, res, ny)
        for j in range(j0, j1):
            cy = y0 + (j + 0.5) * res
            for i in range(i0, i1):
                dd = segment_distance(x0 + (i + 0.5) * res, cy, x1, y1, x2, y2)
                if dd < d[j, i]:
                    d[j, i] = dd
    for k in range(circles.shape[0]):
        cx = circles[k, 0]
        cy = circles[k, 1]
        r = circles[k, 2]
        i0, i1 = _span(cx - r - dmax, cx + r + dmax, x0, res, nx)
        j0, j1 = _span(cy - r - dmax, cy + r + dmax, y0, res, ny)
        for j in range(j0, j1):
            py = y0 + (j + 0.5) * res
            for i in range(i0, i1):
                dd = max(math.hypot(x0 + (i + 0.5) * res - cx, py - cy) - r, 0.0)
                if dd < d[j, i]:
                    d[j, i] = dd
    for p in range(poly_offsets.shape[0] - 1):
        a = poly_offsets[p]
        b = poly_offsets[p + 1]
        xmin = xmax = poly_xy[a, 0]
        ymin = ymax = poly_xy[a, 1]
        for q in range(a, b):
            xmin = min(xmin, poly_xy[q, 0])
            xmax = max(xmax, poly_xy[q, 0])
            ymin = min(ymin, poly_xy[q, 1])
            ymax = max(ymax, poly_xy[q, 1])
        i0, i1 = _span(xmin, xmax, x0, res, nx)
        j0, j1 = _span(ymin, ymax, y0, res, ny)
        for j in range(j0, j1):
            py = y0 + (j + 0.5) * res
            for i in range(i0, i1):
                if point_in_polygon(x0 + (i + 0.5) * res, py, poly_xy, a, b):
                    d[j, i] = 0.0


_SUB = 15  #: sub-cell positions per axis kept in a mark


@numba.njit(cache=True, inline="always")
def mark_code(fx, fy):
    """The mark value for a hit at fractions (fx, fy) in [0, 1) of its cell (1 = centre)."""
    qx = min(max(int(fx * _SUB), 0), _SUB - 1)
    qy = min(max(int(fy * _SUB), 0), _SUB - 1)
    half = _SUB // 2 + 1
    return 1 + ((qy + half) % _SUB) * _SUB + (qx + half) % _SUB


@numba.njit(cache=True, inline="always")
def mark_offset(code):
    """(fx, fy): where in its cell, as fractions of the cell size, the hit of a mark lay."""
    v = int(code) - 1
    half = _SUB // 2
    qx = (v % _SUB + half) % _SUB
    qy = (v // _SUB + half) % _SUB
    return (qx + 0.5) / _SUB, (qy + 0.5) / _SUB


# mark statistics (int64[MARK_STATS_LEN]), kept by mark_scan
MS_COUNT = 0  #: marked cells in the grid
MS_J0 = 1  #: bounding box of every cell marked since the count was last 0 (inclusive)
MS_J1 = 2
MS_I0 = 3
MS_I1 = 4
MS_CLEARED = 5  #: cells cleared by the last call
MARK_STATS_LEN = 6


_COS_ALONG = math.cos(math.radians(15.0))


@numba.njit(cache=True, inline="always")
def _along_marks(marks, j, i, hx, hy, ux, uy):
    """True if cell (j, i), whose hit is at (hx, hy) in cell units, has marked neighbours
    and every one's hit lies within 15 degrees of the direction (ux, uy) (either way) from
    it: the marks there form a line that the direction runs along."""
    ny, nx = marks.shape
    found = False
    for v in range(max(j - 1, 0), min(j + 2, ny)):
        for u in range(max(i - 1, 0), min(i + 2, nx)):
            if (v == j and u == i) or marks[v, u] == 0:
                continue
            qx, qy = mark_offset(marks[v, u])
            dx = u + qx - i - hx
            dy = v + qy - j - hy
            if abs(dx * ux + dy * uy) < _COS_ALONG * math.hypot(dx, dy):
                return False
            found = True
    return found


@numba.njit(cache=True)
def _clear_ray(marks, rx, ry, ux, uy, t0, t1, t_end, radius, x0, y0, res, scratch):
    """Zero the marks of the cells the ray (rx, ry) + t (ux, uy) enters for t0 <= t <= t1 (m)
    whose hit the ray passes within ``radius`` of, at some 0 <= t <= t_end, unless it runs
    along the marks there (:func:`_along_marks`); returns how many.

    Every decision is taken on the marks as they were before this ray (the cells to
    clear are collected in ``scratch`` first; should a ray find more than it holds, the
    cells found so far are cleared before it goes on).
    """
    ny, nx = marks.shape
    fx = (rx + t0 * ux - x0) / res
    fy = (ry + t0 * uy - y0) / res
    i = int(math.floor(fx))
    j = int(math.floor(fy))
    step_i = 1 if ux > 0.0 else -1
    step_j = 1 if uy > 0.0 else -1
    t_x = math.inf
    t_y = math.inf
    dt_x = math.inf
    dt_y = math.inf
    if ux != 0.0:
        t_x = ((i + (1 if ux > 0.0 else 0)) - fx) / ux
        dt_x = 1.0 / abs(ux)
    if uy != 0.0:
        t_y = ((j + (1 if uy > 0.0 else 0)) - fy) / uy
        dt_y = 1.0 / abs(uy)
    limit = (t1 - t0) / res
    cleared = 0
    found = 0
    while 0 <= i < nx and 0 <= j < ny:
        if marks[j, i] != 0:
            hx, hy = mark_offset(marks[j, i])
            px = x0 + (i + hx) * res - rx
            py = y0 + (j + hy) * res - ry
            t = px * ux + py * uy
            if (0.0 <= t <= t_end and abs(px * uy - py * ux) <= radius
                    and not _along_marks(marks, j, i, hx, hy, ux, uy)):
                if found == scratch.shape[0]:
                    for k in range(found):
                        marks[scratch[k] // nx, scratch[k] % nx] = 0
                    cleared += found
                    found = 0
                scratch[found] = j * nx + i
                found += 1
        if t_x < t_y:
            t = t_x
            t_x += dt_x
            i += step_i
        else:
            t = t_y
            t_y += dt_y
            j += step_j
        if t > limit:
            break
    for k in range(found):
        marks[scratch[k] // nx, scratch[k] % nx] = 0
    return cleared + found


@numba.njit(cache=True, inline="always")
def _slab(o, u, lo, hi, t0, t1):
    """Clip the parameter interval [t0, t1] of o + t u to lo <= coordinate <= hi."""
    if u == 0.0:
        if o < lo or o > hi:
            return 1.0, 0.0
        return t0, t1
    a = (lo - o) / u
    b = (hi - o) / u
    if a > b:
        a, b = b, a
    return max(t0, a), min(t1, b)


@numba.njit(_MARK_SIG, cache=True)
def mark_scan(points, count, rx, ry, map_d, marks, x0, y0, res, explain, mark_range,
              clear_gap, clear_radius, new_cells, stats):
    """Update ``marks`` from one scan taken at (rx, ry); return how many cells became marked.

    First every ray clears the marks of the cells it passes through, up to
    ``clear_gap`` short of its hit (and at most ``mark_range``), whose hit it
    passes within ``clear_radius`` of: the ray went through where that hit was
    and found nothing.  But not when the ray runs along the marks there (the
    cell has marked neighbours and every one's hit lies within 15 degrees of the
    ray's direction from its hit): a ray grazing a wall, or sent along it from
    where the wall's line goes on, passes its hits closely without showing that
    they are gone; the marks a moving obstacle leaves behind form no line and are
    cleared.  (Clearing every cell a ray crosses would wipe out a wall seen at a
    shallow angle.)  ``new_cells`` is scratch meanwhile.  Then every hit within
    ``mark_range``
    that no map obstacle explains (cell's ``map_d <= explain + res / sqrt(2)``)
    marks its cell (a cell already marked keeps its first hit).  The flat indices
    ``j * nx + i`` of newly marked cells go to ``new_cells`` (as many as fit); the
    return value counts them all.  ``stats`` (``MS_*``) keeps the number of marked
    cells and their bounding box: rays are only walked where they cross it, and not
    at all while nothing is marked.
    """
    ny, nx = marks.shape
    n = min(count, points.shape[0])
    stats[MS_CLEARED] = 0
    if stats[MS_COUNT] > 0:
        bx0 = x0 + stats[MS_I0] * res
        bx1 = x0 + (stats[MS_I1] + 1) * res
        by0 = y0 + stats[MS_J0] * res
        by1 = y0 + (stats[MS_J1] + 1) * res
        for k in range(n):
            dx = points[k, 0] - rx
            dy = points[k, 1] - ry
            r = math.hypot(dx, dy)
            if not math.isfinite(r) or r <= 0.0:
                continue
            ux = dx / r
            uy = dy / r
            t_end = min(r - clear_gap, mark_range)
            t0, t1 = _slab(rx, ux, bx0, bx1, 0.0, t_end)
            t0, t1 = _slab(ry, uy, by0, by1, t0, t1)
            if t0 <= t1:
                stats[MS_CLEARED] += _clear_ray(marks, rx, ry, ux, uy, t0, t1, t_end,
                                                clear_radius, x0, y0, res, new_cells)
        stats[MS_COUNT] -= stats[MS_CLEARED]
    tol = explain + _HALF_DIAG * res
    n_new = 0
    for k in range(n):
        px = points[k, 0]
        py = points[k, 1]
        r = math.hypot(px - rx, py - ry)
        if not (r <= mark_range):
            continue  # also NaN
        fx = (px - x0) / res
        fy = (py - y0) / res
        i = int(math.floor(fx))
        j = int(math.floor(fy))
        if i < 0 or j < 0 or i >= nx or j >= ny or map_d[j, i] <= tol or marks[j, i] != 0:
            continue
        marks[j, i] = mark_code(fx - i, fy - j)
        if stats[MS_COUNT] == 0:
            stats[MS_J0] = stats[MS_J1] = j
            stats[MS_I0] = stats[MS_I1] = i
        stats[MS_COUNT] += 1
        stats[MS_J0] = min(stats[MS_J0], j)
        stats[MS_J1] = max(stats[MS_J1], j)
        stats[MS_I0] = min(stats[MS_I0], i)
        stats[MS_I1] = max(stats[MS_I1], i)
        if n_new < new_cells.shape[0]:
            new_cells[n_new] = j * nx + i
        n_new += 1
    return n_new


@numba.njit(_COMBINE_SIG, cache=True, nogil=True)
def combine(map_d, marks, res, dmax, mark_margin, d):
    """``d`` = ``map_d`` with every mark's hit stamped in as an obstacle; returns the marks."""
    ny, nx = map_d.shape
    for j in range(ny):
        for i in range(nx):
            d[j, i] = map_d[j, i]
    rad = int(math.ceil((dmax + mark_margin) / res + 1.0))
    count = 0
    for j in range(ny):
        for i in range(nx):
            if marks[j, i] == 0:
                continue
            count += 1
            fx, fy = mark_offset(marks[j, i])
            hx = i + fx - 0.5  # the hit relative to cell centres, in cells
            hy = j + fy - 0.5
            for v in range(max(j - rad, 0), min(j + rad + 1, ny)):
                for u in range(max(i - rad, 0), min(i + rad + 1, nx)):
                    dd = max(math.hypot(u - hx, v - hy) * res - mark_margin, 0.0)
                    if dd < d[v, u]:
                        d[v, u] = dd
    return count


def world_arrays(cfg: WorldShape, use_map: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(segments, circles, poly_xy, poly_offsets) of a world section, as the kernels take them.

    The bounds box is always included; walls, polygons and circles only with ``use_map``.
    """
    segs: list[tuple[float, ...]] = []
    if cfg.bounds:
        x0, y0, x1, y1 = cfg.bounds
        segs += _closed((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    polys: list[tuple[tuple[float, float], ...]] = []
    circles: list[tuple[float, float, float]] = []
    if use_map:
        wall_segments, caps = wall_shapes(cfg.walls, getattr(cfg, "wall_thickness", 0.0))
        segs += wall_segments
        polys = [tuple(p.points) for p in cfg.polygons]
        for pts in polys:
            segs += _closed(*pts)
        circles = [(*c.center, c.radius) for c in cfg.circles] + caps
    offsets = np.zeros(len(polys) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in polys], dtype=np.int64)
    poly_xy = np.array([pt for p in polys for pt in p], dtype=np.float64).reshape(-1, 2)
    return (np.ascontiguousarray(np.array(segs, dtype=np.float64).reshape(-1, 4)),
            np.ascontiguousarray(np.array(circles, dtype=np.float64).reshape(-1, 3)),
            np.ascontiguousarray(poly_xy), offsets)


def _closed(*pts) -> list[tuple[float, ...]]:
    return [(*pts[k], *pts[(k + 1) % len(pts)]) for k in range(len(pts))]


class OccupancyGrid:
    """The map layer and the lidar marks of one planning grid (see the module docstring)."""

    def __init__(self, cfg: WorldShape, *, resolution: float, dmax: float,
                 use_map: bool = True, extra_points: tuple = (), pad: float = 2.0,
                 max_cells: int = 4_000_000, source: str = "config", key: str = "") -> None:
        self.res = float(resolution)
        self.dmax = float(dmax)
        if cfg.bounds:
            x0, y0, x1, y1 = (float(v) for v in cfg.bounds)
        else:
            xs = [p[0] for p in extra_points] + [c.center[0] for c in cfg.circles]
            ys = [p[1] for p in extra_points] + [c.center[1] for c in cfg.circles]
            big = max([c.radius for c in cfg.circles], default=0.0)
            for pts in ([w.start, w.end] for w in cfg.walls):
                xs += [p[0] for p in pts]
                ys += [p[1] for p in pts]
            for poly in cfg.polygons:
                xs += [p[0] for p in poly.points]
                ys += [p[1] for p in poly.points]
            margin = pad + big + dmax
            x0, x1 = min(xs, default=0.0) - margin, max(xs, default=0.0) + margin
            y0, y1 = min(ys, default=0.0) - margin, max(ys, default=0.0) + margin
        self.x0, self.y0 = x0, y0
        fx = max(1.0, (x1 - x0) / self.res - 1e-9)
        fy = max(1.0, (y1 - y0) / self.res - 1e-9)
        too_big = not fx * fy <= max_cells  # as floats first: ints would overflow
        if not too_big:
            self.nx, self.ny = int(math.ceil(fx)), int(math.ceil(fy))
            too_big = self.nx * self.ny > max_cells
        if too_big:
            raise ConfigError(source, key, f"the planning grid would have {fx:.4g} x {fy:.4g} "
                              f"cells, more than max_cells = {max_cells}; use a coarser "
                              "resolution or smaller world bounds")
        self.map_d = np.empty((self.ny, self.nx), dtype=np.float64)
        self.marks = np.zeros((self.ny, self.nx), dtype=np.uint8)
        self.mark_stats = np.zeros(MARK_STATS_LEN, dtype=np.int64)
        self.arrays = world_arrays(cfg, use_map)
        rasterize_map(self.map_d, self.x0, self.y0, self.res, self.dmax, *self.arrays)

    def cell(self, x: float, y: float) -> tuple[int, int] | None:
        """(j, i) of the cell containing (x, y), or None outside the grid."""
        i = math.floor((x - self.x0) / self.res)
        j = math.floor((y - self.y0) / self.res)
        if 0 <= i < self.nx and 0 <= j < self.ny:
            return int(j), int(i)
        return None

    def centre(self, j: int, i: int) -> tuple[float, float]:
        """Odom (x, y) of the centre of cell (j, i)."""
        return self.x0 + (i + 0.5) * self.res, self.y0 + (j + 0.5) * self.res

    def clearance(self, x: float, y: float) -> float:
        """Exact distance from (x, y) to the map obstacles (0 inside one or outside the grid)."""
        segs, circles, poly_xy, offsets = self.arrays
        if self.cell(x, y) is None:
            return 0.0
        for p in range(len(offsets) - 1):
            if point_in_polygon(x, y, poly_xy, offsets[p], offsets[p + 1]):
                return 0.0
        best = math.inf
        for x1, y1, x2, y2 in segs:
            best = min(best, segment_distance(x, y, x1, y1, x2, y2))
        for cx, cy, r in circles:
            best = min(best, max(math.hypot(x - cx, y - cy) - r, 0.0))
        return best
