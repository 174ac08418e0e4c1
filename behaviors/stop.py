"""stop: propose standing still while the e-stop is latched or the goal is reached.

The config gives it the highest priority, so when it is active it wins
arbitration outright (it is not blendable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.core.world import ESTOP, GOAL_REACHED, OUT_V, OUT_W, kernel_signature
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`Stop`."""

    on_goal: bool = option(True, doc="also stop once the last waypoint was reached", live=True)


_P = param_index(Params)
P_ON_GOAL = _P["on_goal"]


@numba.njit(kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Propose (0, 0); active when ESTOP is latched, or on GOAL_REACHED if ``on_goal``."""
    ws = world[0]
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    if ws[ESTOP] >= 0.5:
        return 1.0
    if params[P_ON_GOAL] != 0.0 and ws[GOAL_REACHED] >= 0.5:
        return 1.0
    return 0.0


class Stop(Behavior):
    """Hold the robot still (e-stop latched, or mission done)."""

    kind = "stop"
    Params = Params
    kernel = step
    reads = ("estop", "goal_reached")
    state_size = 1
    blendable = False
