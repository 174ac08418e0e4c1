"""``body_velocity``: a base's measured body velocity ``(vx, vy, w)`` -> the estimator.

The built-in handling of the ``odom`` input of a base that moves sideways
(``holonomic``: its odometry is ``body_odometry``) runs through this adapter: the
kernel leaves ``(vx, w, vy)`` in its ``state``, which the sense phase checks and the
EKF (forward speed, yaw rate) and the lateral-speed filter (``vy``) fuse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba

from robo_orch.adapter import ACCEPTED, InputAdapter, adapter_signature

F_VX, F_VY, F_W = 0, 1, 2  #: body_odometry's fixed part: vx, vy, w
S_V, S_W, S_VY = 0, 1, 2  #: the velocity measurement left in ``state``


@dataclass(frozen=True)
class Params:
    """No parameters: the message is the measurement."""


@numba.njit(adapter_signature(), cache=True)
def adapt(world, idx, fixed, var, count, params, state):
    """The body velocity, reordered as the estimator's ``(v, w, vy)``."""
    state[S_V] = fixed[F_VX]
    state[S_W] = fixed[F_W]
    state[S_VY] = fixed[F_VY]
    return ACCEPTED


class BodyVelocity(InputAdapter):
    """``body_odometry`` -> the base's velocity ``(vx, w, vy)``, fused by the estimator."""

    kind = "body_velocity"
    Params = Params
    kernel = adapt
    message = "body_odometry"
    state_size = 3
    # every field enters the measurement, whose check rejects a non-finite one: no
    # second pass over the message
    finite_fixed = False
    rejects = ()
    fuses = "velocity"
