"""Slow, obviously correct references of the navigation kernels, for tests and the benchmark.

Plain Python on the same grid layout and the same rules as
:mod:`robo_orch.core.grid` and :mod:`robo_orch.core.pathplan`, written
independently: per-cell brute force for the map, Dijkstra and a heapq A* for
the search, exact rational geometry for the cells a segment touches.
"""

from __future__ import annotations

import heapq
import math
from fractions import Fraction

import numpy as np

SQRT2 = math.sqrt(2.0)


def seg_dist(px, py, x1, y1, x2, y2) -> float:
    """Distance from a point to a segment."""
    ex, ey = x2 - x1, y2 - y1
    len2 = ex * ex + ey * ey
    s = 0.0 if len2 == 0 else max(0.0, min(1.0, ((px - x1) * ex + (py - y1) * ey) / len2))
    return math.hypot(px - x1 - s * ex, py - y1 - s * ey)


def inside_polygon(pts, x, y) -> bool:
    """Even-odd point-in-polygon test."""
    inside = False
    for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def rasterize(nx, ny, x0, y0, res, dmax, segments, circles, polygons) -> np.ndarray:
    """Every cell centre's distance to every obstacle, capped at ``dmax`` (polygons as lists)."""
    d = np.empty((ny, nx))
    for j in range(ny):
        for i in range(nx):
            x, y = x0 + (i + 0.5) * res, y0 + (j + 0.5) * res
            best = dmax
            for s in segments:
                best = min(best, seg_dist(x, y, *s))
            for cx, cy, r in circles:
                best = min(best, max(0.0, math.hypot(x - cx, y - cy) - r))
            if any(inside_polygon(list(p), x, y) for p in polygons):
                best = 0.0
            d[j, i] = best
    return d


def mark_hit(code, j, i, x0, y0, res):
    """Where the hit of a mark lay: the centre of its sub-cell (15 x 15 per cell, with
    value 1 at the cell centre and the sub-cells numbered on from there, wrapping)."""
    row, col = divmod(int(code) - 1, 15)
    qx, qy = (col + 7) % 15, (row + 7) % 15
    return x0 + (i + (qx + 0.5) / 15) * res, y0 + (j + (qy + 0.5) / 15) * res


def mark_value(px, py, x0, y0, res) -> int:
    """The mark for a hit at (px, py): the inverse of :func:`mark_hit` on its sub-cell."""
    i, j = math.floor((px - x0) / res), math.floor((py - y0) / res)
    qx = min(int(((px - x0) / res - i) * 15), 14)
    qy = min(int(((py - y0) / res - j) * 15), 14)
    return 1 + ((qy - 7) % 15) * 15 + (qx - 7) % 15


def combine(map_d, marks, res, dmax, mark_margin) -> np.ndarray:
    """``map_d`` with each mark an obstacle at |cell centre - hit| - margin."""
    d = np.array(map_d, dtype=float)
    ny, nx = d.shape
    for mj, mi in zip(*np.nonzero(marks), strict=True):
        hx, hy = mark_hit(marks[mj, mi], mj, mi, 0.0, 0.0, res)
        for j in range(ny):
            for i in range(nx):
                dd = max(math.hypot((i + 0.5) * res - hx, (j + 0.5) * res - hy) - mark_margin,
                         0.0)
                d[j, i] = min(d[j, i], dd)
    return d


class Rules:
    """Passability and cost of cells, as the pathplan module docstring states them."""

    def __init__(self, d, res, radius, lethal, inflate, w, cost_range, penalty, start, goal):
        self.d, self.res, self.lethal, self.inflate, self.w = d, res, lethal, inflate, w
        self.cost_range, self.penalty = cost_range, penalty
        self.start, self.goal = start, goal
        self.s_thr = min(lethal, d[start])
        self.g_thr = radius
        # squared zone radius in cells: (inflate + res) / res, squared, rounded down
        self.zone2 = int((inflate / res + 1.0) ** 2 + 1e-6)

    def passable(self, j, i) -> bool:
        ny, nx = self.d.shape
        if not (0 <= j < ny and 0 <= i < nx):
            return False
        dv = self.d[j, i]
        if dv >= self.lethal or (j, i) in (self.start, self.goal):
            return True
        near_start = (j - self.start[0]) ** 2 + (i - self.start[1]) ** 2 <= self.zone2
        near_goal = (j - self.goal[0]) ** 2 + (i - self.goal[1]) ** 2 <= self.zone2
        return (near_start and dv >= self.s_thr) or (near_goal and dv >= self.g_thr)

    def factor(self, j, i) -> float:
        dv = self.d[j, i]
        if dv >= self.inflate:
            c = (dv - self.inflate) / self.cost_range
            return 1.0 if c >= 1.0 else 1.0 + self.w * (1.0 - c) ** 2
        deep = 1.0 if dv < self.lethal else (self.inflate - dv) / (self.inflate - self.lethal)
        return (1.0 + self.w) * (1.0 + self.penalty * deep)

    def neighbours(self, j, i):
        """(cell, move cost) of every allowed move from (j, i)."""
        for dj in (-1, 0, 1):
            for di in (-1, 0, 1):
                if (dj, di) == (0, 0) or not self.passable(j + dj, i + di):
                    continue
                if dj and di and not (self.passable(j, i + di) and self.passable(j + dj, i)):
                    continue
                length = self.res * (SQRT2 if dj and di else 1.0)
                yield (j + dj, i + di), length * 0.5 * (self.factor(j, i)
                                                        + self.factor(j + dj, i + di))

    def path_cost(self, cells) -> float:
        """Sum of the move costs along a cell path (raises if a move is not allowed)."""
        total = 0.0
        for a, b in zip(cells, cells[1:], strict=False):
            moves = dict(self.neighbours(*a))
            if b not in moves:
                raise ValueError(f"move {a} -> {b} is not allowed")
            total += moves[b]
        return total

    def octile(self, j, i) -> float:
        dj, di = abs(j - self.goal[0]), abs(i - self.goal[1])
        return self.res * (max(dj, di) + (SQRT2 - 1.0) * min(dj, di))


def dijkstra(rules: Rules) -> tuple[float, list]:
    """Cheapest path cost and cells from start to goal (inf, [] if none)."""
    return _search(rules, lambda j, i: 0.0)


def astar(rules: Rules) -> tuple[float, list]:
    """Plain-Python A* with the octile heuristic (heapq, lazy deletion)."""
    return _search(rules, rules.octile)


def _search(rules: Rules, h) -> tuple[float, list]:
    start, goal = rules.start, rules.goal
    best = {start: 0.0}
    parent = {start: None}
    heap = [(h(*start), 0.0, start)]
    done = set()
    while heap:
        _, g, cell = heapq.heappop(heap)
        if cell in done:
            continue
        done.add(cell)
        if cell == goal:
            path = []
            while cell is not None:
                path.append(cell)
                cell = parent[cell]
            return g, path[::-1]
        for nb, cost in rules.neighbours(*cell):
            ng = g + cost
            if nb not in done and ng < best.get(nb, math.inf):
                best[nb] = ng
                parent[nb] = cell
                heapq.heappush(heap, (ng + h(*nb), ng, nb))
    return math.inf, []


def supercover(a, b, *, interior: bool = False) -> set:
    """Cells (j, i) whose closed unit square (centred on the cell) meets segment a-b.

    Exact: the clipping runs on rationals, so a segment through a corner touches
    the cells beside it.  ``interior``: only cells whose open square it meets.
    """
    (aj, ai), (bj, bi) = a, b
    out = set()
    for j in range(min(aj, bj) - 1, max(aj, bj) + 2):
        for i in range(min(ai, bi) - 1, max(ai, bi) + 2):
            lo, hi = Fraction(0), Fraction(1)
            for p0, dp, c in ((ai, bi - ai, i), (aj, bj - aj, j)):
                half = Fraction(1, 2)
                if dp == 0:
                    if not (abs(p0 - c) < half if interior else abs(p0 - c) <= half):
                        lo, hi = Fraction(1), Fraction(0)
                    continue
                t1 = Fraction(c - p0) / dp - half / abs(dp)
                t2 = Fraction(c - p0) / dp + half / abs(dp)
                lo, hi = max(lo, min(t1, t2)), min(hi, max(t1, t2))
            if lo < hi or (lo == hi and not interior):
                out.add((j, i))
    return out


def _open_square_meets(x0, y0, x1, y1, cx0, cy0, cx1, cy1) -> bool:
    """Does the segment (x0, y0)-(x1, y1) meet the open box (cx0, cx1) x (cy0, cy1)?"""
    lo, hi = 0.0, 1.0
    for p, dp, a, b in ((x0, x1 - x0, cx0, cx1), (y0, y1 - y0, cy0, cy1)):
        if dp == 0.0:
            if not a < p < b:
                return False
            continue
        t1, t2 = sorted(((a - p) / dp, (b - p) / dp))
        lo, hi = max(lo, t1), min(hi, t2)
    return lo < hi


def _runs_along(marks, j, i, ux, uy, x0, y0, res) -> bool:
    """True if (j, i) has marked neighbours and the hit of every one lies within 15
    degrees of the direction (ux, uy), seen from the hit of (j, i), either way."""
    ny, nx = marks.shape
    hx, hy = mark_hit(marks[j, i], j, i, x0, y0, res)
    angles = []
    for v in range(j - 1, j + 2):
        for u in range(i - 1, i + 2):
            if (v, u) == (j, i) or not (0 <= v < ny and 0 <= u < nx) or not marks[v, u]:
                continue
            qx, qy = mark_hit(marks[v, u], v, u, x0, y0, res)
            angles.append(math.degrees(math.atan2(abs((qx - hx) * uy - (qy - hy) * ux),
                                                  abs((qx - hx) * ux + (qy - hy) * uy))))
    return bool(angles) and max(angles) <= 15.0


def _passes(ax, ay, bx, by, px, py, radius) -> bool:
    """True if the segment a-b passes p within ``radius``, p's foot lying on the segment."""
    ex, ey = bx - ax, by - ay
    length = math.hypot(ex, ey)
    if length == 0:
        return False
    along = ((px - ax) * ex + (py - ay) * ey) / length
    across = abs((px - ax) * ey - (py - ay) * ex) / length
    return 0 <= along <= length and across <= radius


def mark_scan(points, rx, ry, map_d, marks, x0, y0, res, explain, mark_range, clear_gap,
              clear_radius):
    """Reference of :func:`robo_orch.core.grid.mark_scan`: returns the newly marked cells.

    Every ray clears each mark whose cell's open square its segment (up to
    ``clear_gap`` short of the hit, at most ``mark_range``) meets and whose hit
    the segment passes (its foot on the segment) within ``clear_radius`` of,
    unless a marked neighbour's hit lies within 15 degrees of the ray's direction
    from it; then unexplained hits mark.
    """
    ny, nx = marks.shape
    for px, py in points:
        r = math.hypot(px - rx, py - ry)
        if not math.isfinite(r) or r <= 0:
            continue
        reach = min(r - clear_gap, mark_range)
        if reach < 0:
            continue
        ex, ey = rx + (px - rx) / r * reach, ry + (py - ry) / r * reach
        gone = [(j, i) for j in range(ny) for i in range(nx)
                if marks[j, i] and _open_square_meets(rx, ry, ex, ey, x0 + i * res, y0 + j * res,
                                                      x0 + (i + 1) * res, y0 + (j + 1) * res)
                and _passes(rx, ry, ex, ey, *mark_hit(marks[j, i], j, i, x0, y0, res),
                            clear_radius)
                and not _runs_along(marks, j, i, (px - rx) / r, (py - ry) / r, x0, y0, res)]
        for j, i in gone:  # decided on the marks as they were before this ray
            marks[j, i] = 0
    new = []
    for px, py in points:
        if not math.hypot(px - rx, py - ry) <= mark_range:
            continue
        i, j = math.floor((px - x0) / res), math.floor((py - y0) / res)
        if 0 <= i < nx and 0 <= j < ny and map_d[j, i] > explain + math.sqrt(0.5) * res \
                and not marks[j, i]:
            marks[j, i] = mark_value(px, py, x0, y0, res)
            new.append((j, i))
    return new
