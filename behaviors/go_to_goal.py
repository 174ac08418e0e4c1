"""go_to_goal: turn toward the current target and drive to it.

The yaw rate is proportional to the heading error (saturated at
``max_yaw_rate``).  Beyond ``rotate_threshold`` the robot turns in place; below
it the speed falls linearly with the heading error, so the two regimes join
without a jump.  Within ``slow_radius`` of the final waypoint (the last path
row) the speed ramps down with the distance, to no less than ``min_speed``.

On a holonomic base (``BASE_KIND``) it drives straight at the target instead,
the speed split into ``OUT_V`` and ``OUT_VY`` along the bearing, while it turns
toward it at the same yaw rate (no turning in place).

Active (1) while there is a path and ``GOAL_REACHED`` is 0.  Diagnostics:
``out[2]`` heading error (rad), ``out[3]`` distance to the target (m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.behaviors.approach import ApproachParams
from robo_orch.core.world import (
    BASE_HOLONOMIC,
    BASE_KIND,
    GOAL_REACHED,
    OUT_V,
    OUT_VY,
    OUT_W,
    PATH_COUNT,
    TARGET_X,
    TARGET_Y,
    YAW,
    X,
    Y,
    kernel_signature,
)
from robo_orch.schema import option


@dataclass(frozen=True)
class Params(ApproachParams):
    """Tunables of :class:`GoToGoal`."""

    k_heading: float = option(2.0, gt=0, le=50, doc="yaw rate per radian of heading error, 1/s",
                              live=True)
    rotate_threshold: float = option(0.8, gt=0, le=math.pi,
                                     doc="turn in place when the heading error exceeds this, rad",
                                     live=True)


_P = param_index(Params)
P_MAX_SPEED = _P["max_speed"]
P_MAX_YAW_RATE = _P["max_yaw_rate"]
P_K_HEADING = _P["k_heading"]
P_ROTATE_THRESHOLD = _P["rotate_threshold"]
P_SLOW_RADIUS = _P["slow_radius"]
P_MIN_SPEED = _P["min_speed"]


@numba.njit(kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Propose (v, w) (holonomic: (vx, vy, w)) toward (TARGET_X, TARGET_Y); see the module
    docstring."""
    ws = world[0]
    path = world[3]
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    out[OUT_VY] = 0.0
    n = min(int(ws[PATH_COUNT]), path.shape[0])
    if n <= 0 or ws[GOAL_REACHED] != 0.0:
        return 0.0
    x = ws[X]
    y = ws[Y]
    c = math.cos(ws[YAW])
    s = math.sin(ws[YAW])
    dx = ws[TARGET_X] - x
    dy = ws[TARGET_Y] - y
    err = math.atan2(c * dy - s * dx, c * dx + s * dy)  # target bearing in the robot frame

    w_max = params[P_MAX_YAW_RATE]
    w = min(max(params[P_K_HEADING] * err, -w_max), w_max)

    d_goal = math.hypot(path[n - 1, 0] - x, path[n - 1, 1] - y)
    v_max = params[P_MAX_SPEED]
    slow = params[P_SLOW_RADIUS]
    v = v_max if d_goal >= slow else v_max * d_goal / slow
    v = max(v, params[P_MIN_SPEED])
    if ws[BASE_KIND] == BASE_HOLONOMIC:  # straight at the target, turning toward it
        out[OUT_V] = v * math.cos(err)
        out[OUT_VY] = v * math.sin(err)
        out[OUT_W] = w
        out[2] = err
        out[3] = math.hypot(dx, dy)
        return 1.0
    limit = params[P_ROTATE_THRESHOLD]
    ae = abs(err)
    v = 0.0 if ae >= limit else v * (1.0 - ae / limit)

    out[OUT_V] = v
    out[OUT_W] = w
    out[2] = err
    out[3] = math.hypot(dx, dy)
    return 1.0


class GoToGoal(Behavior):
    """Steer straight at the current target waypoint."""

    kind = "go_to_goal"
    Params = Params
    kernel = step
    reads = ("x", "y", "yaw", "target_x", "target_y", "goal_reached", "path_count", "path",
             "base_kind")
    state_size = 1
    blendable = True
