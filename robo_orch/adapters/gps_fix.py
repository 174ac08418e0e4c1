"""``gps_fix``: a position fix of the GPS antenna -> a position of the robot's centre.

The built-in handling of the ``gps`` input runs through this adapter: the sense phase
checks each fix's stamps, writes the current estimate to the world, and calls the
kernel, which moves the fix from the antenna to the robot's centre with the estimated
heading (its error is small beside the fix's own) and leaves ``(x, y, std)`` in its
``state``.  The adapter declares ``fuses = "position"``: the sense phase checks that
position (``non_finite``, ``std_bounds``) and the estimator fuses it, behind its
Mahalanobis gate (:mod:`robo_orch.runtime.estimate_health`).  Its parameters come from
``estimator.gps_antenna`` (the antenna's position on the robot, body frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.adapter import ACCEPTED, InputAdapter, adapter_signature
from robo_orch.behavior import param_index
from robo_orch.core.world import YAW
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """The antenna's position on the robot (``estimator.gps_antenna`` for the ``gps`` input)."""

    antenna_x: float = option(0.0, ge=-100, le=100, doc="antenna ahead of the centre, m")
    antenna_y: float = option(0.0, ge=-100, le=100, doc="antenna left of the centre, m")


_P = param_index(Params)
P_AX, P_AY = _P["antenna_x"], _P["antenna_y"]
F_X, F_Y, F_STD = 0, 1, 2  #: position_fix's fixed part: x, y, std
S_X, S_Y, S_STD = 0, 1, 2  #: what the kernel leaves in ``state`` for the estimator


@numba.njit(adapter_signature(), cache=True)
def adapt(world, idx, fixed, var, count, params, state):
    """The robot centre's position: the fix minus the antenna offset turned by ``yaw``."""
    yaw = world[0][YAW]
    c = math.cos(yaw)
    s = math.sin(yaw)
    ax = params[P_AX]
    ay = params[P_AY]
    state[S_X] = fixed[F_X] - (c * ax - s * ay)
    state[S_Y] = fixed[F_Y] - (s * ax + c * ay)
    state[S_STD] = fixed[F_STD]
    return ACCEPTED


class GpsFix(InputAdapter):
    """``position_fix`` -> the robot centre's position, fused by the estimator."""

    kind = "gps_fix"
    Params = Params
    kernel = adapt
    message = "position_fix"
    reads = ("yaw",)
    state_size = 3
    finite_fixed = False  # an infinite std is out of bounds (std_bounds), not non-finite
    rejects = ()
    fuses = "position"
