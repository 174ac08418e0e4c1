"""The lateral speed of a holonomic base: a small filter beside the EKF.

The EKF (:mod:`robo_orch.core.estimator`) keeps ``[x, y, yaw, v, w]`` for every
base and its numbers do not change here.  A holonomic base also moves sideways:
``lat = [vy, var]`` (float64[LAT_LEN]) holds the estimated lateral speed (body
frame, left positive, m/s) and its variance, filtered on its own:

* :func:`lateral_predict`, after :func:`~robo_orch.core.estimator.ekf_predict`
  over the same ``dt``: moves the EKF's position by ``vy dt`` across the mid-step
  heading ``h = yaw - w dt / 2``, adds ``var g g^T`` (``g = dt (-sin h, cos h)``)
  to the position covariance, and grows ``var`` by ``(accel_std dt)^2``;
* :func:`lateral_update`: a scalar Kalman update with a measured vy (odometry);
  returns the NIS, or -1.0 for a non-finite input or a std outside (0, 1e150);
* :func:`lateral_write`: ``state[VY] = vy``.

The coupling between vy and the pose is kept only through the position variance
(the cross-covariances of vy are dropped): a lateral speed error widens the
position's uncertainty but is not corrected by a position fix.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core import world as _w
from robo_orch.core.estimator import EKF_W, EKF_X, EKF_Y, EKF_YAW, P0_V

LAT_VY = 0
LAT_VAR = 1
LAT_LEN = 2


@numba.njit("void(float64[::1])", cache=True, error_model="numpy")
def lateral_reset(lat):
    """At rest, with the EKF's initial speed variance."""
    lat[LAT_VY] = 0.0
    lat[LAT_VAR] = P0_V


@numba.njit("void(float64[::1], float64[::1], float64[:, ::1], float64, float64)", cache=True,
            error_model="numpy")
def lateral_predict(lat, x, P, dt, accel_std):
    """Move the EKF's position by the lateral speed over ``dt`` (see the module docstring)."""
    if not dt > 0.0:
        return
    vy = lat[LAT_VY]
    var = lat[LAT_VAR]
    h = x[EKF_YAW] - 0.5 * x[EKF_W] * dt
    s = math.sin(h)
    c = math.cos(h)
    x[EKF_X] -= vy * dt * s
    x[EKF_Y] += vy * dt * c
    q = var * dt * dt
    P[EKF_X, EKF_X] += q * s * s
    P[EKF_Y, EKF_Y] += q * c * c
    P[EKF_X, EKF_Y] -= q * s * c
    P[EKF_Y, EKF_X] -= q * s * c
    lat[LAT_VAR] = var + accel_std * accel_std * dt * dt


@numba.njit("float64(float64[::1], float64, float64)", cache=True, error_model="numpy")
def lateral_update(lat, vy, std):
    """Fuse a measured lateral speed (m/s); return the NIS or -1."""
    if not (math.isfinite(vy) and 0.0 < std < 1e150):
        return -1.0
    r = std * std
    s = lat[LAT_VAR] + r
    k = lat[LAT_VAR] / s
    e = vy - lat[LAT_VY]
    lat[LAT_VY] += k * e
    lat[LAT_VAR] = (1.0 - k) * (1.0 - k) * lat[LAT_VAR] + k * k * r
    if not (math.isfinite(lat[LAT_VY]) and math.isfinite(lat[LAT_VAR])):
        lat[LAT_VY] = 0.0
        lat[LAT_VAR] = P0_V
    return e * e / s


@numba.njit("void(float64[::1], float64[::1])", cache=True, error_model="numpy")
def lateral_write(lat, state):
    """Copy the estimated lateral speed into the world state (VY)."""
    state[_w.VY] = lat[LAT_VY]
