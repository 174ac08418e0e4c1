"""``look_at_goal``: keeps a camera on a pan-tilt head pointed at the goal.

A behavior for a ``joints`` command space (``[commands.pan_tilt]``, two joints
``pan`` and ``tilt``, position mode), not for the base: it proposes the pan angle
that points the camera (mounted on the head, looking along the base's heading at
pan 0) at the goal, the last waypoint of the path (``at_goal = false``: the
current target waypoint), and a constant tilt.  The base's safety lidar is not on
the head: it stays fixed to the base and keeps covering the motion.

The pan is the goal's bearing from the estimated pose, relative to the heading,
wrapped into (-pi, pi]; the space's safety kernel clamps it to the pan range and
moves the joint there within its speed and acceleration limits.  Closer to the
point than ``min_range`` (where the bearing swings or is undefined) the last pan
stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.core.world import PATH_COUNT, TARGET_X, TARGET_Y, YAW, X, Y, kernel_signature
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`LookAtGoal`."""

    tilt: float = option(0.0, ge=-1.6, le=1.6, doc="tilt angle held, rad", live=True)
    at_goal: bool = option(True, doc="look at the last waypoint (the goal); false: at the "
                                     "current target waypoint", live=True)
    min_range: float = option(0.3, gt=0, le=100, doc="closer than this to the point, the last "
                                                    "pan stands, m", live=True)


_P = param_index(Params)
P_TILT, P_AT_GOAL, P_MIN_RANGE = _P["tilt"], _P["at_goal"], _P["min_range"]
OUT_PAN = 0  #: out[j] is joint j of the space: pan, then tilt
OUT_TILT = 1
S_PAN = 0  #: state: the last pan proposed
S_HAVE = 1  #: state: 1.0 once a pan was computed


@numba.njit(kernel_signature(), cache=True, error_model="numpy")
def step(world, idx, params, state, out):
    """Propose (pan, tilt) toward the goal; always active."""
    s = world[0]
    path = world[3]
    n = int(s[PATH_COUNT])
    if params[P_AT_GOAL] != 0.0 and n > 0:
        gx = path[n - 1, 0]
        gy = path[n - 1, 1]
    else:
        gx = s[TARGET_X]
        gy = s[TARGET_Y]
    dx = gx - s[X]
    dy = gy - s[Y]
    if math.hypot(dx, dy) >= params[P_MIN_RANGE] or state[S_HAVE] == 0.0:
        rel = math.atan2(dy, dx) - s[YAW]
        pan = math.atan2(math.sin(rel), math.cos(rel))
        if math.isfinite(pan):
            state[S_PAN] = pan
            state[S_HAVE] = 1.0
    out[OUT_PAN] = state[S_PAN]
    out[OUT_TILT] = params[P_TILT]
    return 1.0


class LookAtGoal(Behavior):
    """Points a pan-tilt head's camera at the goal (a joints behavior)."""

    kind = "look_at_goal"
    Params = Params
    kernel = step
    reads = ("x", "y", "yaw", "target_x", "target_y", "path_count", "path")
    state_size = 2
    command_space = "pan_tilt"  # the space it expects; a config may name another
    joints = ("pan", "tilt")
    joint_mode = "position"
