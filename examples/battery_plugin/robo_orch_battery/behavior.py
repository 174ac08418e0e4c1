"""``return_home``: drive back to where the mission started when the battery runs low.

Reads the user scalars ``battery_charge`` and ``battery_known`` that the
``battery_charge`` input adapter writes (so a config with this behavior needs that
adapter on an input: the layout refuses a read without a provider).  It records the
robot's position the first time it runs (the mission's start: behaviors run from the
first tick) and stays silent while the charge is known and at least ``low_charge``.
Below it, it latches: it proposes, with activation 1, a heading toward home and a
speed that falls with the heading error, and once within ``home_tolerance`` it
proposes standing still, for good.  Give it a priority above the navigation
behaviors (``go_to_goal``, ``follow_path``) and below ``stop`` and
``avoid_obstacles``, so the safety behaviors still win.

How the mission ends: it does not end early.  The robot parks at home and the run
goes on to ``mission.time_limit_s`` (end reason "time limit"); its goal is not
reached, so a ``[success] goal_reached = true`` mission fails, which is the truth:
it came back instead of finishing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.core.world import OUT_V, OUT_W, YAW, X, Y, kernel_signature
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`ReturnHome`."""

    low_charge: float = option(0.3, gt=0, le=1, doc="turn back below this charge (0-1)",
                               live=True)
    speed: float = option(0.4, gt=0, le=10, doc="speed on the way home, m/s", live=True)
    yaw_gain: float = option(1.5, gt=0, le=100, doc="yaw rate per rad of heading error, 1/s",
                             live=True)
    max_yaw_rate: float = option(1.5, gt=0, le=100, doc="yaw rate limit, rad/s", live=True)
    home_tolerance: float = option(0.3, gt=0, le=10, doc="home within this distance, m",
                                   live=True)


_P = param_index(Params)
P_LOW, P_SPEED, P_GAIN = _P["low_charge"], _P["speed"], _P["yaw_gain"]
P_MAX_W, P_TOL = _P["max_yaw_rate"], _P["home_tolerance"]
# state: home recorded, home x, home y, mode (0 watching, 1 returning, 2 parked)
S_HAVE, S_HX, S_HY, S_MODE = 0, 1, 2, 3


@numba.njit(kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Watch the charge; below ``low_charge`` drive home and park there."""
    ws = world[0]
    if state[S_HAVE] == 0.0:
        state[S_HAVE] = 1.0
        state[S_HX] = ws[X]
        state[S_HY] = ws[Y]
    if state[S_MODE] == 0.0:
        if ws[idx[1]] < 0.5 or ws[idx[0]] >= params[P_LOW]:
            return 0.0
        state[S_MODE] = 1.0
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    dx = state[S_HX] - ws[X]
    dy = state[S_HY] - ws[Y]
    if state[S_MODE] == 2.0 or math.hypot(dx, dy) < params[P_TOL]:
        state[S_MODE] = 2.0
        return 1.0
    err = math.atan2(dy, dx) - ws[YAW]
    err = math.atan2(math.sin(err), math.cos(err))
    w = params[P_GAIN] * err
    limit = params[P_MAX_W]
    out[OUT_W] = min(max(w, -limit), limit)
    out[OUT_V] = params[P_SPEED] * max(0.0, math.cos(err))
    return 1.0


class ReturnHome(Behavior):
    """Drive back to the start when ``battery_charge`` falls below ``low_charge``."""

    kind = "return_home"
    Params = Params
    kernel = step
    reads = ("x", "y", "yaw", "battery_charge", "battery_known")
    state_size = 4
    reset_on_new_path = False  # home is where the mission started, whatever the path
