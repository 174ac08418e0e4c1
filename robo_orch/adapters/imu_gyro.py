"""``imu_gyro``: an IMU's gyro rate and orientation -> the estimator's yaw rate and heading.

The built-in handling of the ``imu`` input runs through this adapter.  The kernel
takes the gyro's z rate and, when the IMU reports an orientation (a quaternion that
is not all zeros), checks its norm (farther than ``quaternion_tolerance`` from 1:
the message is rejected as ``quaternion``; not finite: ``non_finite``) and turns it
into a heading.  It leaves ``(yaw_rate, has_heading, heading)`` in its ``state``
and declares ``fuses = "yaw_rate"``: the sense phase checks the rate against
``estimator.max_gyro_rate``, fuses it, and fuses the heading as ``estimator.imu_yaw``
says (aligned first in ``relative`` mode, behind the heading gate).  The
accelerometer is not used, so its values are not checked (``finite_fixed`` False):
a broken accelerometer does not silence a good gyro.  Its parameter comes from
``estimator.quaternion_tolerance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.adapter import ACCEPTED, InputAdapter, adapter_signature
from robo_orch.behavior import param_index
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """How far from a unit norm a reported orientation may be."""

    quaternion_tolerance: float = option(0.05, gt=0, lt=1, doc="largest | |q| - 1 | taken")


P_TOL = param_index(Params)["quaternion_tolerance"]
F_GZ = 2  #: imu's fixed part: gyro[3] (0-2), accel[3] (3-5), orientation x, y, z, w (6-9)
F_QX, F_QY, F_QZ, F_QW = 6, 7, 8, 9
S_RATE, S_HAS_HEADING, S_HEADING = 0, 1, 2  #: the yaw-rate measurement left in ``state``
#: statuses of the reject reasons (``rejects``)
NON_FINITE, QUATERNION = -2.0, -3.0


@numba.njit(adapter_signature(), cache=True)
def adapt(world, idx, fixed, var, count, params, state):
    """The gyro's z rate; the heading of a reported orientation of unit norm."""
    state[S_RATE] = fixed[F_GZ]
    state[S_HAS_HEADING] = 0.0
    qx = fixed[F_QX]
    qy = fixed[F_QY]
    qz = fixed[F_QZ]
    qw = fixed[F_QW]
    if qx == 0.0 and qy == 0.0 and qz == 0.0 and qw == 0.0:
        return ACCEPTED  # no orientation reported
    n2 = qx * qx + qy * qy + qz * qz + qw * qw
    if not math.isfinite(n2):
        return NON_FINITE
    if abs(math.sqrt(n2) - 1.0) > params[P_TOL]:
        return QUATERNION
    state[S_HAS_HEADING] = 1.0
    state[S_HEADING] = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
    return ACCEPTED


class ImuGyro(InputAdapter):
    """``imu`` -> the yaw rate and (when reported) the heading, fused by the estimator."""

    kind = "imu_gyro"
    Params = Params
    kernel = adapt
    message = "imu"
    state_size = 3
    finite_fixed = False
    rejects = ("out_of_range", "non_finite", "quaternion")
    fuses = "yaw_rate"
