"""``wheel_speeds``: wheel odometry (left and right surface speeds) -> the base's velocity.

The built-in handling of the ``odom`` input of a wheeled base (``diff_drive``,
``skid_steer``) runs through this adapter: the kernel turns the two wheel speeds
into the forward speed and yaw rate with the base's track (a skid-steer base's
effective track) and leaves ``(v, w, 0)`` in its ``state``.  It declares ``fuses =
"velocity"``: the sense phase checks the wheel speeds that velocity means against
``estimator.wheel_speed_factor * robot.max_wheel_speed`` and the EKF fuses it.
Its parameter comes from the kinematics (``Kinematics.track``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba

from robo_orch.adapter import ACCEPTED, InputAdapter, adapter_signature
from robo_orch.behavior import param_index
from robo_orch.core.geometry import wheels_to_body
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """The track the wheel speeds are turned into a yaw rate with."""

    track: float = option(0.3, gt=0, le=100, doc="distance between the wheels' contact "
                          "lines (a skid-steer base's effective track), m")


P_TRACK = param_index(Params)["track"]
F_LEFT, F_RIGHT = 0, 1  #: wheel_odometry's fixed part: v_left, v_right
S_V, S_W, S_VY = 0, 1, 2  #: the velocity measurement left in ``state``


@numba.njit(adapter_signature(), cache=True)
def adapt(world, idx, fixed, var, count, params, state):
    """Forward speed and yaw rate of the two wheels' speeds; no lateral speed."""
    v, w = wheels_to_body(fixed[F_LEFT], fixed[F_RIGHT], params[P_TRACK])
    state[S_V] = v
    state[S_W] = w
    state[S_VY] = 0.0
    return ACCEPTED


class WheelSpeeds(InputAdapter):
    """``wheel_odometry`` -> the base's velocity ``(v, w)``, fused by the estimator."""

    kind = "wheel_speeds"
    Params = Params
    kernel = adapt
    message = "wheel_odometry"
    state_size = 3
    # every field enters the measurement, whose check rejects a non-finite one: no
    # second pass over the message
    finite_fixed = False
    rejects = ()
    fuses = "velocity"
