"""Per-tick bookkeeping of the global path (numba): marks, blocked path, progress, deviation.

:func:`nav_update` is the one compiled call the plan_path behavior's service
makes every tick (see :mod:`robo_orch.behaviors.plan_path` for what each step is for).

``track`` (float64[TRACK_LEN]) carries what persists between calls:
``TR_SCAN_T`` the scan time last marked, ``TR_START_X/Y`` where the current
path starts (the robot when it was planned), ``TR_NEXT_WP`` the next mission
waypoint not yet reached, ``TR_NEW`` cells newly marked by the last scan,
``TR_DEVIATION`` the robot's distance to the path ahead.

Path rows: segment ``k`` runs from ``path[k - 1]`` (from the start for
``k = 0``) to ``path[k]``; ``wp_rows[k]`` is the row of mission waypoint ``k``
(-1 if it was reached before the path was planned), ascending.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core import world as W
from robo_orch.core.geometry import closest_on_segment, segment_distance
from robo_orch.core.grid import mark_offset, mark_scan

TR_SCAN_T = 0
TR_START_X = 1
TR_START_Y = 2
TR_NEXT_WP = 3
TR_NEW = 4
TR_DEVIATION = 5
TRACK_LEN = 8

BLOCKED = 1  #: nav_update flag: a new mark blocks the path ahead
DEVIATED = 2  #: nav_update flag: the robot is too far from the path

#: segments past the target searched for progress and deviation
LOOKAHEAD_SEGMENTS = 3

_UPDATE_SIG = ("int64(float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1],"
               " uint8[:, ::1], float64[:, ::1], float64, float64, float64, float64, float64,"
               " float64, float64, float64, float64, float64, float64, float64, float64,"
               " float64[::1], int64[::1], int64[::1], int64[::1])")


@numba.njit(cache=True)
def _seg_start(path, track, k):
    if k == 0:
        return track[TR_START_X], track[TR_START_Y]
    return path[k - 1, 0], path[k - 1, 1]


@numba.njit(cache=True)
def marks_block_path(new_cells, n_new, marks, d_plan, x0, y0, res, rx, ry, path, target, n,
                     lethal, inflate, mark_margin):
    """True if a newly marked cell blocks the path ahead.

    The path ahead runs from the robot (rx, ry) to ``path[target]`` and on to
    ``path[n - 1]``.  The mark's distance to a segment is its hit's distance less
    ``mark_margin`` (as :func:`robo_orch.core.grid.combine` stamps it).  It
    blocks the segment when that is below ``lethal`` (no way through), or below
    ``inflate`` and also more than a cell below ``d_plan`` (the grid the path was
    planned on) at the segment's point closest to the mark: an
    obstacle the plan did not know comes into the inflation margin.  (A new mark
    no closer than what the plan already passed, such as the lidar's scatter on a
    known obstacle beside a narrow way, changes nothing.)  Within ``inflate + res``
    of the robot or of the goal the limit is ``lethal`` alone, since there the
    path may have to run inside the inflation margin.
    """
    ny, nx = d_plan.shape
    gx = path[n - 1, 0]
    gy = path[n - 1, 1]
    near = inflate + res
    for q in range(min(n_new, new_cells.shape[0])):
        c = new_cells[q]
        j = c // nx
        i = c - j * nx
        fx, fy = mark_offset(marks[j, i])
        cx = x0 + (i + fx) * res
        cy = y0 + (j + fy) * res
        limit = inflate
        if math.hypot(cx - gx, cy - gy) < near or math.hypot(cx - rx, cy - ry) < near:
            limit = lethal
        ax = rx
        ay = ry
        for k in range(target, n):
            dd, qx, qy = closest_on_segment(cx, cy, ax, ay, path[k, 0], path[k, 1])
            md = dd - mark_margin
            if md < lethal:
                return True
            if md < limit:
                qi = min(max(int(math.floor((qx - x0) / res)), 0), nx - 1)
                qj = min(max(int(math.floor((qy - y0) / res)), 0), ny - 1)
                if md < d_plan[qj, qi] - res:
                    return True
            ax = path[k, 0]
            ay = path[k, 1]
    return False


@numba.njit(_UPDATE_SIG, cache=True)
def nav_update(state, path, scan, map_d, marks, d_plan, x0, y0, res, inflate, lethal,
               mark_margin, mark_on, explain, mark_range, clear_gap, clear_radius, check_blocked,
               deviation, track, new_cells, mark_stats, wp_rows):
    """Mark the newest scan, advance the target, check the path; returns BLOCKED | DEVIATED.

    ``mark_on`` and ``check_blocked`` are 0/1; ``deviation`` <= 0 disables that check;
    ``mark_stats`` is the grid's :data:`~robo_orch.core.grid.MARK_STATS_LEN` statistics;
    ``d_plan`` the grid the current path was planned on (see :func:`marks_block_path`).
    """
    flags = 0
    n = min(int(state[W.PATH_COUNT]), path.shape[0])
    rx = state[W.X]
    ry = state[W.Y]
    target = min(max(int(state[W.TARGET_INDEX]), 0), max(n - 1, 0))
    k = 0
    while k < wp_rows.shape[0] and wp_rows[k] < target:
        k += 1
    track[TR_NEXT_WP] = k
    hold = wp_rows[k] if k < wp_rows.shape[0] else n - 1

    if mark_on != 0.0 and state[W.SCAN_T] != track[TR_SCAN_T] and state[W.SCAN_COUNT] > 0.0:
        track[TR_SCAN_T] = state[W.SCAN_T]
        n_new = mark_scan(scan, int(state[W.SCAN_COUNT]), rx, ry, map_d, marks, x0, y0, res,
                          explain, mark_range, clear_gap, clear_radius, new_cells,
                          mark_stats)
        track[TR_NEW] = n_new
        if (n_new > 0 and n > 0 and check_blocked != 0.0
                and marks_block_path(new_cells, n_new, marks, d_plan, x0, y0, res, rx, ry,
                                     path, target, n, lethal, inflate, mark_margin)):
            flags |= BLOCKED
    if n == 0 or state[W.GOAL_REACHED] != 0.0:
        return flags

    # progress: the closest of the next few segments, never past the held waypoint
    best = target
    best_d = math.inf
    for j in range(target, min(hold, target + LOOKAHEAD_SEGMENTS) + 1):
        ax, ay = _seg_start(path, track, j)
        dd = segment_distance(rx, ry, ax, ay, path[j, 0], path[j, 1])
        if dd < best_d:
            best_d = dd
            best = j
    if best > target:
        target = best
        state[W.TARGET_INDEX] = target
        state[W.TARGET_X] = path[target, 0]
        state[W.TARGET_Y] = path[target, 1]

    dev = math.inf
    for j in range(target, min(n - 1, target + LOOKAHEAD_SEGMENTS) + 1):
        ax, ay = _seg_start(path, track, j)
        dev = min(dev, segment_distance(rx, ry, ax, ay, path[j, 0], path[j, 1]))
    track[TR_DEVIATION] = dev
    if deviation > 0.0 and dev > deviation:
        flags |= DEVIATED
    return flags
