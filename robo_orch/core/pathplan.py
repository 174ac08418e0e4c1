"""Global path planning on the occupancy grid: A* and line-of-sight smoothing (numba).

Passable cells and cost factors follow :mod:`robo_orch.core.navcost`, baked
into a flat ``fcost`` array per search (``inf`` where impassable).
:func:`astar` finds a cheapest path with the octile distance as heuristic
(admissible and consistent, since every cost factor is at least 1), in
preallocated arrays: an indexed binary heap with decrease-key, and generation
stamps instead of clearing the per-cell arrays for each search.
:func:`smooth` then shortcuts it: from each kept cell it jumps to the farthest
later path cell that it *sees* (:func:`sees`: the straight segment touches
only passable cells, walked as a supercover in integer arithmetic, and comes
no closer to an obstacle than the path cells it replaces, with half a cell of
slack outside the inflation margin).  A shortcut never lengthens the path
(triangle inequality).

A point of the path lies in a passable cell, so it is at least
``lethal - res / sqrt(2)`` from every obstacle (less near a start squeezed
against one); the local planner and the safety layer keep the final margin.
:func:`plan_route` chains legs through the waypoints; it runs with the GIL
released, so the plan_path behavior calls it on a worker thread.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from robo_orch.core.grid import combine
from robo_orch.core.navcost import (
    C_INFLATE,
    C_LETHAL,
    C_MARK,
    C_RADIUS,
    C_RANGE,
    C_RES,
    cost_field,
    open_zone,
    zone_cells2,
)

SQRT2 = math.sqrt(2.0)
_HALF_DIAG = math.sqrt(0.5)

# meta: float64 scratch shared with the caller
M_GEN = 0  #: generation of the last search
M_COST = 1  #: cost of the last path found (m, weighted)
M_EXPANDED = 2  #: cells expanded by the last search
M_COUNT = 3  #: vertices written by plan_route
M_LEG = 4  #: index of the waypoint whose leg failed
M_TOTAL = 5  #: plan_route: total cost of all legs
META_LEN = 8

# plan_route status codes (match robo_orch.core.world NAV_* codes where they overlap)
OK = 0
NO_PATH = 1
GOAL_BLOCKED = 2
START_BLOCKED = 3
TOO_LONG = 5
GOAL_OUTSIDE = 6

_DJ = (0, 0, 1, -1, 1, 1, -1, -1)
_DI = (1, -1, 0, 0, 1, -1, 1, -1)

_ASTAR_SIG = ("int64(float64[::1], int64, int64, float64, int64, int64, int64, int64,"
              " float64[::1], int32[::1], int32[::1], float64[::1], int32[::1], int32[::1],"
              " float64[::1], int64[::1])")
_SMOOTH_SIG = "int64(float64[::1], float64[:, ::1], int64[::1], int64, float64[::1], int64[::1])"
_ROUTE_SIG = ("int64(float64[:, ::1], uint8[:, ::1], float64[:, ::1], float64, float64,"
              " float64[::1], float64, float64, float64, float64[:, ::1], int64, float64[::1],"
              " float64[::1], int32[::1], int32[::1], float64[::1], int32[::1], int32[::1],"
              " float64[::1], int64[::1], int64[::1], float64[:, ::1], int64[::1])")


def alloc_buffers(n_cells: int) -> dict[str, np.ndarray]:
    """Every array :func:`astar` and :func:`plan_route` need for a grid of ``n_cells``."""
    n = int(n_cells)
    return {
        "fcost": np.zeros(n, dtype=np.float64),
        "g": np.zeros(n, dtype=np.float64),
        "parent": np.zeros(n, dtype=np.int32),
        "stamp": np.zeros(n, dtype=np.int32),
        "hkey": np.zeros(n, dtype=np.float64),
        "hnode": np.zeros(n, dtype=np.int32),
        "hpos": np.zeros(n, dtype=np.int32),
        "meta": np.zeros(META_LEN, dtype=np.float64),
        "cells": np.zeros(n, dtype=np.int64),
        "keep": np.zeros(n, dtype=np.int64),
    }


_SEARCH_BUFFERS = ("g", "parent", "stamp", "hkey", "hnode", "hpos", "meta", "cells")


def search_buffers(bufs: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The buffers of :func:`alloc_buffers` in :func:`astar`'s argument order."""
    return tuple(bufs[k] for k in _SEARCH_BUFFERS)


def route_buffers(bufs: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The buffers of :func:`alloc_buffers` in :func:`plan_route`'s argument order."""
    return (bufs["fcost"], *search_buffers(bufs), bufs["keep"])


@numba.njit(cache=True, inline="always")
def _octile(j, i, gj, gi, res):
    dj = abs(j - gj)
    di = abs(i - gi)
    return res * (max(dj, di) + (SQRT2 - 1.0) * min(dj, di))


@numba.njit(cache=True, inline="always")
def _heap_put(hkey, hnode, hpos, k, key, node):
    """Put ``node`` with ``key`` in heap slot ``k``."""
    hkey[k] = key
    hnode[k] = node
    hpos[node] = k


@numba.njit(cache=True, inline="always")
def _sift_up(hkey, hnode, hpos, k):
    node = hnode[k]
    key = hkey[k]
    while k > 0:
        p = (k - 1) >> 1
        if hkey[p] <= key:
            break
        _heap_put(hkey, hnode, hpos, k, hkey[p], hnode[p])
        k = p
    _heap_put(hkey, hnode, hpos, k, key, node)


@numba.njit(cache=True, inline="always")
def _sift_down(hkey, hnode, hpos, k, n):
    node = hnode[k]
    key = hkey[k]
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and hkey[c + 1] < hkey[c]:
            c += 1
        if hkey[c] >= key:
            break
        _heap_put(hkey, hnode, hpos, k, hkey[c], hnode[c])
        k = c
    _heap_put(hkey, hnode, hpos, k, key, node)


@numba.njit(_ASTAR_SIG, cache=True, nogil=True)
def astar(fcost, ny, nx, res, sj, si, gj, gi, g, parent, stamp, hkey, hnode, hpos, meta,
          cells):
    """Cheapest 8-connected path from cell (sj, si) to (gj, gi) on the cost factors ``fcost``.

    Writes the flat cell indices start..goal to ``cells`` and returns their
    count (0: no path).  ``meta[M_COST]`` gets the path cost (inf if none) and
    ``meta[M_EXPANDED]`` the number of expanded cells.
    """
    # stamp[c] == 2 gen: c is in the heap; 2 gen + 1: closed; anything else: unseen
    gen = int(meta[M_GEN]) + 1
    if gen >= 1 << 29:  # int32 stamps: start over rather than wrap
        stamp[:] = 0
        gen = 1
    meta[M_GEN] = gen
    opened = 2 * gen
    closed = opened + 1
    meta[M_COST] = math.inf
    start = sj * nx + si
    goal = gj * nx + gi
    g[start] = 0.0
    parent[start] = -1
    stamp[start] = opened
    _heap_put(hkey, hnode, hpos, 0, _octile(sj, si, gj, gi, res), start)
    hn = 1
    expanded = 0
    found = False
    while hn > 0:
        cur = hnode[0]
        hn -= 1
        if hn > 0:
            _heap_put(hkey, hnode, hpos, 0, hkey[hn], hnode[hn])
            _sift_down(hkey, hnode, hpos, 0, hn)
        stamp[cur] = closed
        if cur == goal:
            found = True
            break
        expanded += 1
        cj = cur // nx
        ci = cur - cj * nx
        fc = fcost[cur]
        gc = g[cur]
        for k in range(8):
            nj = cj + _DJ[k]
            ni = ci + _DI[k]
            if nj < 0 or ni < 0 or nj >= ny or ni >= nx:
                continue
            nb = nj * nx + ni
            fn = fcost[nb]
            if fn == math.inf or stamp[nb] == closed:
                continue
            step = res
            if k >= 4:
                if fcost[cj * nx + ni] == math.inf or fcost[nj * nx + ci] == math.inf:
                    continue
                step = res * SQRT2
            ng = gc + step * 0.5 * (fc + fn)
            if stamp[nb] != opened:
                stamp[nb] = opened
                g[nb] = ng
                parent[nb] = cur
                hkey[hn] = ng + _octile(nj, ni, gj, gi, res)
                hnode[hn] = nb
                _sift_up(hkey, hnode, hpos, hn)
                hn += 1
            elif ng < g[nb]:
                g[nb] = ng
                parent[nb] = cur
                p = hpos[nb]
                hkey[p] = ng + _octile(nj, ni, gj, gi, res)
                _sift_up(hkey, hnode, hpos, p)
    meta[M_EXPANDED] = expanded
    if not found:
        return 0
    meta[M_COST] = g[goal]
    m = 1
    c = goal
    while c != start:
        c = parent[c]
        m += 1
    c = goal
    for k in range(m - 1, -1, -1):
        cells[k] = c
        c = parent[c]
    return m


@numba.njit(cache=True)
def sees(fcost, d, a, b, dlim):
    """True if the segment between the centres of cells a and b (flat indices) is clear.

    Clear: every cell it passes through is passable with ``d >= dlim``; cells it
    only touches at a corner need only be passable (as for a diagonal move).
    A supercover walk in integer arithmetic.
    """
    nx = d.shape[1]
    aj = a // nx
    ai = a - aj * nx
    bj = b // nx
    bi = b - bj * nx
    adi = abs(bi - ai)
    adj = abs(bj - aj)
    step_i = 1 if bi > ai else -1
    step_j = 1 if bj > aj else -1
    i = ai
    j = aj
    cx = 0
    cy = 0
    while True:
        if d[j, i] < dlim or fcost[j * nx + i] == math.inf:
            return False
        if i == bi and j == bj:
            return True
        # the next x-boundary is crossed at t = (2 cx + 1) / (2 adi), the next y one
        # at (2 cy + 1) / (2 adj): compare without division
        lhs = (2 * cx + 1) * adj
        rhs = (2 * cy + 1) * adi
        if cx >= adi or (cy < adj and lhs > rhs):
            j += step_j
            cy += 1
        elif cy >= adj or lhs < rhs:
            i += step_i
            cx += 1
        else:  # through a corner: the two cells beside it are touched
            if fcost[(j + step_j) * nx + i] == math.inf or fcost[j * nx + i + step_i] == math.inf:
                return False
            i += step_i
            j += step_j
            cx += 1
            cy += 1


@numba.njit(_SMOOTH_SIG, cache=True, nogil=True)
def smooth(fcost, d, cells, m, cp, keep):
    """Shortcut the cell path ``cells[:m]``; write the kept indices (into ``cells``,
    excluding 0, ending with ``m - 1``) to ``keep`` and return their count.

    A shortcut from cell a to cell k must be clear (:func:`sees`) with
    ``dlim = max(min(dk - res / 2, inflate + cost_range), min(dk, inflate))``,
    ``dk`` the least ``d`` of the cells a..k it replaces: it may not come closer
    to an obstacle than they do, less half a cell of grid noise but never into
    the inflation margin if they stay out of it; where the cost gradient is
    flat (beyond ``inflate + cost_range``) anything passable will do.
    """
    nx = d.shape[1]
    inflate = cp[C_INFLATE]
    flat = inflate + cp[C_RANGE]
    half = 0.5 * cp[C_RES]
    a = 0
    n_keep = 0
    while a < m - 1:
        best = a + 1
        ca = cells[a]
        cb = cells[a + 1]
        dmin = min(d[ca // nx, ca % nx], d[cb // nx, cb % nx])
        for k in range(a + 2, m):
            ck = cells[k]
            dk = min(dmin, d[ck // nx, ck % nx])
            if not sees(fcost, d, ca, ck, max(min(dk - half, flat), min(dk, inflate))):
                break
            best = k
            dmin = dk
        keep[n_keep] = best
        n_keep += 1
        a = best
    return n_keep


@numba.njit(_ROUTE_SIG, cache=True, nogil=True)
def plan_route(map_d, marks, d, x0, y0, cp, dmax, sx, sy, wps, first, fcost, g, parent, stamp,
               hkey, hnode, hpos, meta, cells, keep, out_path, out_rows):
    """Plan from (sx, sy) through ``wps[first:]`` on ``map_d`` plus ``marks`` (into ``d``).

    Writes the smoothed vertices (excluding the start; each waypoint exactly) to
    ``out_path``, their count to ``meta[M_COUNT]``, and the row of each waypoint
    ``k >= first`` to ``out_rows[k]`` (-1 for ``k < first``).  Returns a status
    code (``OK``, ``NO_PATH``, ``GOAL_BLOCKED``, ``START_BLOCKED``, ``TOO_LONG``,
    ``GOAL_OUTSIDE``); ``meta[M_LEG]`` is the waypoint of a failed leg.
    """
    ny, nx = d.shape
    res = cp[C_RES]
    radius = cp[C_RADIUS]
    combine(map_d, marks, res, dmax, cp[C_MARK], d)
    cost_field(d, cp, fcost)
    meta[M_COUNT] = 0
    meta[M_TOTAL] = 0.0
    meta[M_LEG] = -1
    for k in range(out_rows.shape[0]):
        out_rows[k] = -1
    sj = int(math.floor((sy - y0) / res))
    si = int(math.floor((sx - x0) / res))
    if not (0 <= si < nx and 0 <= sj < ny):
        return START_BLOCKED
    zone2 = zone_cells2(cp)
    count = 0
    for k in range(first, wps.shape[0]):
        meta[M_LEG] = k
        gx = wps[k, 0]
        gy = wps[k, 1]
        gi = int(math.floor((gx - x0) / res))
        gj = int(math.floor((gy - y0) / res))
        if not (0 <= gi < nx and 0 <= gj < ny):
            return GOAL_OUTSIDE
        if d[gj, gi] + _HALF_DIAG * res < radius:
            return GOAL_BLOCKED
        open_zone(d, cp, sj, si, min(cp[C_LETHAL], d[sj, si]), zone2, False, fcost)
        open_zone(d, cp, gj, gi, radius, zone2, False, fcost)
        m = astar(fcost, ny, nx, res, sj, si, gj, gi, g, parent, stamp, hkey, hnode, hpos, meta,
                  cells)
        n_keep = smooth(fcost, d, cells, m, cp, keep) if m > 0 else 0
        open_zone(d, cp, sj, si, 0.0, zone2, True, fcost)
        open_zone(d, cp, gj, gi, 0.0, zone2, True, fcost)
        if m == 0:
            return NO_PATH
        meta[M_TOTAL] += meta[M_COST]
        if count + n_keep + 1 > out_path.shape[0]:
            return TOO_LONG
        for t in range(n_keep - 1):  # the goal cell itself is replaced by the exact goal
            c = cells[keep[t]]
            cj = c // nx
            out_path[count, 0] = x0 + (c - cj * nx + 0.5) * res
            out_path[count, 1] = y0 + (cj + 0.5) * res
            count += 1
        out_path[count, 0] = gx
        out_path[count, 1] = gy
        out_rows[k] = count
        count += 1
        sj = gj
        si = gi
    meta[M_COUNT] = count
    meta[M_LEG] = -1
    return OK
