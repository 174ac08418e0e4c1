"""follow_path: pure pursuit along the mission polyline.

The polyline starts where the robot was when the behavior (re)started and runs
through ``path[TARGET_INDEX at that moment]`` ... ``path[PATH_COUNT - 1]``, so
a fresh start follows the line to the first waypoint and a re-enable does not
send the robot back to waypoints already passed.  Segment ``k`` ends at
``path[k]`` and starts at ``path[k - 1]`` (at the recorded start for the first
segment).

Each run:

1. progress: among the segments from the current one onward, up to
   ``search_distance`` of path length ahead, pick the one closest to the robot
   (the earliest on ties).  Progress only moves forward.
2. the lookahead point lies ``lookahead`` along the path from the closest
   point on that segment (the path end if the path is shorter).
3. pure pursuit: curvature ``k = 2 * ly / (lx^2 + ly^2)`` with (lx, ly) the
   lookahead point in the robot frame; ``w = v * k``.  If that exceeds
   ``max_yaw_rate`` the speed is reduced to keep the curvature.  When the
   lookahead point's bearing exceeds ``rotate_threshold`` the robot turns in place.
   The speed ramps down within ``slow_radius`` of the path end (to ``min_speed``).

On a holonomic base (``BASE_KIND``) step 3 drives straight at the lookahead point
instead (the speed split into ``OUT_V`` and ``OUT_VY``), turning toward it at the
pure-pursuit yaw rate ``v * k`` (saturated), never in place.

Active (1) until the path end is within ``GOAL_TOLERANCE`` of the robot, then 0.
Diagnostics: ``out[2]`` progress (segment index), ``out[3]`` distance to the
closest point of the path (cross-track error, m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.behaviors.approach import ApproachParams
from robo_orch.core.geometry import segment_fraction
from robo_orch.core.world import (
    BASE_HOLONOMIC,
    BASE_KIND,
    GOAL_TOLERANCE,
    OUT_V,
    OUT_VY,
    OUT_W,
    PATH_COUNT,
    TARGET_INDEX,
    YAW,
    X,
    Y,
    kernel_signature,
)
from robo_orch.schema import option


@dataclass(frozen=True)
class Params(ApproachParams):
    """Tunables of :class:`FollowPath`."""

    lookahead: float = option(0.6, gt=0, le=20, doc="pure pursuit lookahead distance, m", live=True)
    rotate_threshold: float = option(1.2, gt=0, le=math.pi,
                                     doc="turn in place when the lookahead point's bearing "
                                         "exceeds this, rad", live=True)
    search_distance: float = option(2.0, gt=0, le=100,
                                    doc="how far along the path, past the current segment, "
                                        "the progress search looks, m", live=True)


_P = param_index(Params)
P_MAX_SPEED = _P["max_speed"]
P_MAX_YAW_RATE = _P["max_yaw_rate"]
P_LOOKAHEAD = _P["lookahead"]
P_ROTATE_THRESHOLD = _P["rotate_threshold"]
P_SLOW_RADIUS = _P["slow_radius"]
P_MIN_SPEED = _P["min_speed"]
P_SEARCH_DISTANCE = _P["search_distance"]

# persistent state
S_INIT = 0  #: 1.0 once the start below was recorded
S_START_X = 1  #: robot position when the behavior (re)started
S_START_Y = 2
S_FIRST = 3  #: index of the first path row after the start
S_SEGMENT = 4  #: progress: index of the path row ending the current segment
STATE_SIZE = 5


@numba.njit(kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Pure pursuit along the path; see the module docstring."""
    ws = world[0]
    path = world[3]
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    out[OUT_VY] = 0.0
    n = min(int(ws[PATH_COUNT]), path.shape[0])
    if n <= 0:
        return 0.0
    x = ws[X]
    y = ws[Y]
    if state[S_INIT] == 0.0:
        state[S_INIT] = 1.0
        state[S_START_X] = x
        state[S_START_Y] = y
        first = min(max(int(ws[TARGET_INDEX]), 0), n - 1)
        state[S_FIRST] = first
        state[S_SEGMENT] = first
    first = min(int(state[S_FIRST]), n - 1)
    seg = min(max(int(state[S_SEGMENT]), first), n - 1)

    ex = path[n - 1, 0]
    ey = path[n - 1, 1]
    d_end = math.hypot(ex - x, ey - y)
    if d_end <= ws[GOAL_TOLERANCE]:
        state[S_SEGMENT] = seg
        return 0.0

    # 1. progress: closest segment within the search window, never backwards
    best_d2 = math.inf
    best_t = 0.0
    best_j = seg
    travelled = 0.0
    for j in range(seg, n):
        ax = state[S_START_X] if j == first else path[j - 1, 0]
        ay = state[S_START_Y] if j == first else path[j - 1, 1]
        bx = path[j, 0]
        by = path[j, 1]
        sx = bx - ax
        sy = by - ay
        t = segment_fraction(x, y, ax, ay, sx, sy)
        qx = ax + t * sx - x
        qy = ay + t * sy - y
        d2 = qx * qx + qy * qy
        if d2 < best_d2:
            best_d2 = d2
            best_t = t
            best_j = j
        travelled += math.sqrt(sx * sx + sy * sy)
        if travelled > params[P_SEARCH_DISTANCE]:
            break
    seg = best_j
    state[S_SEGMENT] = seg

    # 2. lookahead point: walk `lookahead` along the path from the closest point
    ax = state[S_START_X] if seg == first else path[seg - 1, 0]
    ay = state[S_START_Y] if seg == first else path[seg - 1, 1]
    px = ax + best_t * (path[seg, 0] - ax)
    py = ay + best_t * (path[seg, 1] - ay)
    remaining = params[P_LOOKAHEAD]
    lx_w = ex
    ly_w = ey
    for j in range(seg, n):
        bx = path[j, 0]
        by = path[j, 1]
        d = math.hypot(bx - px, by - py)
        if d >= remaining:
            f = remaining / d
            lx_w = px + f * (bx - px)
            ly_w = py + f * (by - py)
            break
        remaining -= d
        px = bx
        py = by

    # 3. pure pursuit
    c = math.cos(ws[YAW])
    s = math.sin(ws[YAW])
    dx = lx_w - x
    dy = ly_w - y
    lx = c * dx + s * dy
    ly = -s * dx + c * dy
    alpha = math.atan2(ly, lx)
    w_max = params[P_MAX_YAW_RATE]
    v_max = params[P_MAX_SPEED]
    slow = params[P_SLOW_RADIUS]
    v = v_max if d_end >= slow else v_max * d_end / slow
    v = max(v, params[P_MIN_SPEED])
    if ws[BASE_KIND] == BASE_HOLONOMIC:  # straight at the lookahead point, turning to it
        l2 = lx * lx + ly * ly
        w = 0.0 if l2 <= 1e-12 else v * 2.0 * ly / l2
        out[OUT_V] = v * math.cos(alpha)
        out[OUT_VY] = v * math.sin(alpha)
        out[OUT_W] = min(max(w, -w_max), w_max)
        out[2] = seg
        out[3] = math.sqrt(best_d2)
        return 1.0
    w = 0.0
    if abs(alpha) > params[P_ROTATE_THRESHOLD]:
        v = 0.0
        w = w_max if alpha > 0.0 else -w_max
    else:
        l2 = lx * lx + ly * ly
        if l2 > 1e-12:
            k = 2.0 * ly / l2
            w = v * k
            if abs(w) > w_max:
                w = w_max if w > 0.0 else -w_max
                v = w_max / abs(k)
    out[OUT_V] = v
    out[OUT_W] = w
    out[2] = seg
    out[3] = math.sqrt(best_d2)
    return 1.0


class FollowPath(Behavior):
    """Pure pursuit along the mission waypoints."""

    kind = "follow_path"
    Params = Params
    kernel = step
    reads = ("x", "y", "yaw", "target_index", "path_count", "goal_tolerance", "path",
             "base_kind")
    state_size = STATE_SIZE
    blendable = True
