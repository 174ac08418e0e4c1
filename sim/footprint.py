"""The simulator's contact test for a polygon footprint: the exact polygon against the world.

A robot with ``robot.footprint`` is the polygon itself here (not the circles the
kernels check with): :func:`footprint_clearance` is the distance from the
polygon, placed at a pose, to the nearest obstacle of a
:class:`~robo_orch.sim.geometry.WorldMap` (segments, circles, polygons), 0 when
they overlap.  Two closed sets are disjoint exactly when no edge of one crosses an
edge of the other and neither contains a point of the other; their distance is
then the least distance between their edges (and, for a circle, from its centre
to the polygon's edges, less its radius).

:class:`FootprintContact` runs it after every physics step of a
:class:`~robo_orch.sim.simulator.Simulator`: a step that ends with the polygon
overlapping an obstacle is undone and the base stopped, as the round robot's own
test does (whose disc, of the inscribed radius, lies inside the polygon: any
contact it finds is the polygon's too).
"""

from __future__ import annotations

import math

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np
# isort: on

from robo_orch.core.direct import direct, require_contiguous
from robo_orch.core.geometry import point_in_polygon, segment_distance


@numba.njit(cache=True, inline="always")
def _cross(ax, ay, bx, by, cx, cy):
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@numba.njit(cache=True)
def segments_distance(ax, ay, bx, by, cx, cy, dx, dy):
    """Distance between the segments ab and cd (0 when they cross or touch), m."""
    d1 = _cross(ax, ay, bx, by, cx, cy)
    d2 = _cross(ax, ay, bx, by, dx, dy)
    d3 = _cross(cx, cy, dx, dy, ax, ay)
    d4 = _cross(cx, cy, dx, dy, bx, by)
    if ((d1 > 0.0 and d2 < 0.0) or (d1 < 0.0 and d2 > 0.0)) and (
            (d3 > 0.0 and d4 < 0.0) or (d3 < 0.0 and d4 > 0.0)):
        return 0.0
    return min(segment_distance(ax, ay, cx, cy, dx, dy), segment_distance(bx, by, cx, cy, dx, dy),
               segment_distance(cx, cy, ax, ay, bx, by), segment_distance(dx, dy, ax, ay, bx, by))


@numba.njit(cache=True)
def place(body, x, y, yaw, out):
    """The body-frame polygon ``body`` at pose (x, y, yaw), into ``out``."""
    c = math.cos(yaw)
    s = math.sin(yaw)
    for i in range(body.shape[0]):
        out[i, 0] = x + c * body[i, 0] - s * body[i, 1]
        out[i, 1] = y + s * body[i, 0] + c * body[i, 1]


@numba.njit(
    "float64(float64[:, ::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], int64[::1])",
    cache=True,
)
def footprint_clearance(fp, segments, circles, poly_xy, poly_offsets):
    """Distance from the polygon ``fp`` (world frame) to the nearest obstacle, 0 on
    overlap, m."""
    m = fp.shape[0]
    best = math.inf
    for j in range(circles.shape[0]):
        cx = circles[j, 0]
        cy = circles[j, 1]
        if point_in_polygon(cx, cy, fp, 0, m):
            return 0.0
        for i in range(m):
            k = (i + 1) % m
            d = segment_distance(cx, cy, fp[i, 0], fp[i, 1], fp[k, 0], fp[k, 1]) - circles[j, 2]
            if d <= 0.0:
                return 0.0
            best = min(best, d)
    for j in range(segments.shape[0]):
        if point_in_polygon(segments[j, 0], segments[j, 1], fp, 0, m):
            return 0.0
        for i in range(m):
            k = (i + 1) % m
            d = segments_distance(fp[i, 0], fp[i, 1], fp[k, 0], fp[k, 1], segments[j, 0],
                                  segments[j, 1], segments[j, 2], segments[j, 3])
            if d <= 0.0:
                return 0.0
            best = min(best, d)
    # polygon edges are in ``segments`` too; left: one polygon inside the other
    for p in range(poly_offsets.shape[0] - 1):
        a = poly_offsets[p]
        b = poly_offsets[p + 1]
        if b > a and point_in_polygon(fp[0, 0], fp[0, 1], poly_xy, a, b):
            return 0.0
    return best


@numba.njit(
    "void(float64[::1], float64[::1], float64[::1], float64[:, ::1], float64[:, ::1], "
    "float64[:, ::1], float64[:, ::1], float64[:, ::1], int64[::1], float64)",
    cache=True,
)
def footprint_step(state, prev, info, body, fp, segments, circles, poly_xy, poly_offsets,
                   radius):
    """After a physics step: undo it (pose back to ``prev``, velocities zero) when the
    polygon overlaps an obstacle; ``info`` as the physics step writes it (clearance:
    the polygon's plus ``radius``, so the simulator's ``clearance - radius`` is the
    polygon's surface clearance)."""
    place(body, state[0], state[1], state[2], fp)
    c = footprint_clearance(fp, segments, circles, poly_xy, poly_offsets)
    info[0] = c + radius
    if info[2] != 0.0:
        return  # already undone by the round test
    if c <= 0.0:
        for i in range(state.shape[0]):
            state[i] = prev[i] if i < 3 else 0.0
        info[1] = 0.0
        info[2] = 1.0


_footprint_step = direct(footprint_step)


class FootprintContact:
    """The polygon contact test of one simulator (see the module docstring)."""

    def __init__(self, polygon, state: np.ndarray, world_map) -> None:
        self.body = np.ascontiguousarray(np.asarray(polygon, dtype=np.float64).reshape(-1, 2))
        self.fp = np.zeros_like(self.body)
        self.prev = np.zeros_like(state)
        self.world_map = world_map
        require_contiguous(body=(self.body, 2), fp=(self.fp, 2), prev=(self.prev, 1))

    def before(self, state: np.ndarray) -> None:
        """Remember the pose before a step."""
        self.prev[:] = state

    def after(self, state: np.ndarray, info: np.ndarray, radius: float) -> None:
        """Test the step just taken; undo it on contact (see :func:`footprint_step`)."""
        wm = self.world_map
        _footprint_step(state, self.prev, info, self.body, self.fp, wm.segments, wm.circles,
                        wm.poly_xy, wm.poly_offsets, radius)

    def clearance(self, x: float, y: float, yaw: float) -> float:
        """The polygon's clearance at a pose, m (0 on overlap)."""
        wm = self.world_map
        place(self.body, x, y, yaw, self.fp)
        return float(footprint_clearance(self.fp, wm.segments, wm.circles, wm.poly_xy,
                                         wm.poly_offsets))
