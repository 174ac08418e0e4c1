"""State estimation: an extended Kalman filter fusing wheel odometry, the gyro and fixes.

State ``x = [x, y, yaw, v, w]`` (float64[EKF_LEN], odom frame: m, m, rad in
(-pi, pi], m/s, rad/s) with covariance ``P`` (float64[5, 5]).  Every function
updates ``x`` and ``P`` in place and allocates nothing.

**Motion model** (unicycle, constant velocity, midpoint heading), over ``dt``::

    h    = yaw + w dt / 2
    x'   = x + v dt cos h          y' = y + v dt sin h
    yaw' = wrap(yaw + w dt)        v' = v          w' = w

The midpoint heading makes the step exact to second order on an arc, so a circle
driven at constant (v, w) does not spiral.  Jacobian ``F = I + E`` with the only
non-zero entries of ``E``::

    E[0,2] = -v dt sin h    E[0,3] = dt cos h    E[0,4] = -v dt^2 sin h / 2
    E[1,2] =  v dt cos h    E[1,3] = dt sin h    E[1,4] =  v dt^2 cos h / 2
    E[2,4] =  dt

``P' = F P F^T + Q`` is computed in place (row operations, then column
operations).  **Process noise**: piecewise-constant white forward acceleration
(std ``accel_std``) and yaw acceleration (std ``yaw_accel_std``) over each step::

    g_a = [dt^2/2 cos h, dt^2/2 sin h, 0, dt, 0]     g_b = [0, 0, dt^2/2, 0, dt]
    Q   = accel_std^2 g_a g_a^T + yaw_accel_std^2 g_b g_b^T

**Measurements** all observe one state component directly (``H`` is a unit row),
so every update is a sequence of scalar updates with no matrix inverse:

* odometry: ``v = (v_left + v_right) / 2`` (std ``v_std``), then
  ``w = (v_right - v_left) / wheel_base`` (std ``w_std``);
* gyro: ``w`` (std ``std``);
* position fix: ``x`` then ``y`` (std ``std`` each; its kernels are in
  :mod:`robo_orch.core.estimator_fix`, compiled only for a robot that has one);
* heading fix: ``yaw``, innovation wrapped to (-pi, pi].

A scalar update of component ``j`` with variance ``r``: ``S = P[j,j] + r``,
``K = P[:, j] / S``, ``x += K (z - x[j])`` and the Joseph form
``P = (I - K e_j^T) P (I - K e_j^T)^T + r K K^T`` (a congruence plus a PSD term,
so P stays positive semi-definite under rounding), then P is symmetrised.
The update functions return the normalised innovation squared (sum over the
scalar updates), or -1.0 when an input is not finite or a std is outside
(0, 1e150), whose square would not be finite (then nothing changes).
:func:`ekf_predict` ignores ``dt <= 0``.

**Gating** (:func:`~robo_orch.core.estimator_fix.ekf_position_nis`,
:func:`ekf_yaw_nis`): the Mahalanobis distance squared of a fix before it is fused,
``d2 = r^T (H P H^T + R)^-1 r`` (for independent scalar measurements the sum of the
sequential NIS is the same number).  Under a consistent filter ``d2`` is chi-square
distributed with 2 (position) or 1 (heading) degrees of freedom; :data:`CHI2_2DOF` and
:data:`CHI2_1DOF` are its 0.999 quantiles, the default gates.

**Guard** (:func:`ekf_guard`): after each step the caller checks that ``x`` and
``P`` are finite.  A finite state is copied to a snapshot; a non-finite one is
replaced by the snapshot with its variances widened by ``RECOVER_*`` (the
estimate is restored, but not trusted as before).
"""

from __future__ import annotations

import math

import numba

from robo_orch.core import world as _w
from robo_orch.core.geometry import wheels_to_body, wrap_angle

EKF_X = 0
EKF_Y = 1
EKF_YAW = 2
EKF_V = 3
EKF_W = 4
EKF_LEN = 5

# Initial variances set by ekf_reset: the start pose defines the odom frame (nearly
# exact); the robot is assumed at rest, give or take 0.1 m/s and 0.1 rad/s.
P0_POSITION = 1e-6
P0_YAW = 1e-6
P0_V = 0.01
P0_W = 0.01

# Chi-square quantiles at p = 0.999: a consistent measurement exceeds them once in 1000
CHI2_1DOF = 10.828
CHI2_2DOF = 13.816

# Variances added to the snapshot's diagonal when a non-finite state is restored
RECOVER_POSITION_VAR = 1.0  # m^2
RECOVER_YAW_VAR = 0.1  # rad^2
RECOVER_RATE_VAR = 0.25  # (m/s)^2 and (rad/s)^2

def _sig(result: str, scalars: int) -> str:
    """The signature ``result(x, P, float64 * scalars)`` of an update kernel."""
    return f"{result}({', '.join(['float64[::1]', 'float64[:, ::1]'] + ['float64'] * scalars)})"


_SIG_PREDICT = _sig("void", 3)  # (x, P, dt, accel_std, yaw_accel_std)
_SIG_ODOMETRY = _sig("float64", 5)  # (x, P, v_left, v_right, wheel_base, v_std, w_std)
_SIG_SCALAR = _sig("float64", 2)  # (x, P, z, std)
_SIG_SCALAR2 = _sig("float64", 4)  # (x, P, v, w, v_std, w_std)
_SIG_RESET = _sig("void", 3)  # (x, P, x0, y0, yaw0)
_SIG_WRITE = "void(float64[::1], float64[::1])"  # (x, state)
_SIG_GUARD = "boolean(float64[::1], float64[:, ::1], float64[::1], float64[:, ::1])"


@numba.njit(cache=True, error_model="numpy")
def _positive(std):
    """A usable standard deviation: positive, finite, and with a finite square."""
    return 0.0 < std < 1e150


@numba.njit(cache=True, error_model="numpy")
def _symmetrise(P):
    for a in range(EKF_LEN):
        for b in range(a + 1, EKF_LEN):
            m = 0.5 * (P[a, b] + P[b, a])
            P[a, b] = m
            P[b, a] = m


# (a signature: called with the component as a constant, numba would compile a copy
# for each component)
@numba.njit("float64(float64[::1], float64[:, ::1], int64, float64, float64)", cache=True,
            error_model="numpy")
def _scalar_update(x, P, j, innovation, r):
    """Scalar update of component ``j`` (Joseph form); returns the NIS."""
    s = P[j, j] + r
    k = (P[0, j] / s, P[1, j] / s, P[2, j] / s, P[3, j] / s, P[4, j] / s)
    for a in range(EKF_LEN):
        x[a] += k[a] * innovation
    kj = k[j]
    # A P with A = I - k e_j^T: rows other than j use the old row j, so do j last
    for a in range(EKF_LEN):
        if a != j:
            ka = k[a]
            for b in range(EKF_LEN):
                P[a, b] -= ka * P[j, b]
    for b in range(EKF_LEN):
        P[j, b] *= 1.0 - kj
    # (A P) A^T: columns other than j use the old column j, so do j last
    for b in range(EKF_LEN):
        if b != j:
            kb = k[b]
            for a in range(EKF_LEN):
                P[a, b] -= P[a, j] * kb
    for a in range(EKF_LEN):
        P[a, j] *= 1.0 - kj
    for a in range(EKF_LEN):
        for b in range(EKF_LEN):
            P[a, b] += r * k[a] * k[b]
    _symmetrise(P)
    return innovation * innovation / s


@numba.njit(_SIG_PREDICT, cache=True, error_model="numpy")
def ekf_predict(x, P, dt, accel_std, yaw_accel_std):
    """Propagate ``x`` and ``P`` over ``dt`` seconds (see the module docstring)."""
    if not dt > 0.0:
        return
    v = x[EKF_V]
    w = x[EKF_W]
    h = x[EKF_YAW] + 0.5 * w * dt
    c = math.cos(h)
    s = math.sin(h)
    x[EKF_X] += v * dt * c
    x[EKF_Y] += v * dt * s
    x[EKF_YAW] = wrap_angle(x[EKF_YAW] + w * dt)

    e02 = -v * dt * s
    e03 = dt * c
    e04 = -0.5 * v * dt * dt * s
    e12 = v * dt * c
    e13 = dt * s
    e14 = 0.5 * v * dt * dt * c
    # F P: row 0 and row 1 read the old row 2, so row 2 goes last
    for b in range(EKF_LEN):
        P[0, b] += e02 * P[2, b] + e03 * P[3, b] + e04 * P[4, b]
        P[1, b] += e12 * P[2, b] + e13 * P[3, b] + e14 * P[4, b]
        P[2, b] += dt * P[4, b]
    # (F P) F^T: the same on columns
    for a in range(EKF_LEN):
        P[a, 0] += e02 * P[a, 2] + e03 * P[a, 3] + e04 * P[a, 4]
        P[a, 1] += e12 * P[a, 2] + e13 * P[a, 3] + e14 * P[a, 4]
        P[a, 2] += dt * P[a, 4]

    qa = accel_std * accel_std
    qb = yaw_accel_std * yaw_accel_std
    half = 0.5 * dt * dt
    ga = (half * c, half * s, 0.0, dt, 0.0)
    gb = (0.0, 0.0, half, 0.0, dt)
    for a in range(EKF_LEN):
        for b in range(EKF_LEN):
            P[a, b] += qa * ga[a] * ga[b] + qb * gb[a] * gb[b]
    _symmetrise(P)


@numba.njit(cache=True, inline="always", error_model="numpy")
def _velocity_update(x, P, v, w, v_std, w_std):
    nis = _scalar_update(x, P, EKF_V, v - x[EKF_V], v_std * v_std)
    nis += _scalar_update(x, P, EKF_W, w - x[EKF_W], w_std * w_std)
    x[EKF_YAW] = wrap_angle(x[EKF_YAW])
    return nis


@numba.njit(_SIG_ODOMETRY, cache=True, error_model="numpy")
def ekf_update_odometry(x, P, v_left, v_right, wheel_base, v_std, w_std):
    """Fuse wheel speeds (m/s) as forward speed then yaw rate; return the NIS or -1."""
    if not (
        math.isfinite(v_left) and math.isfinite(v_right) and wheel_base > 0.0
        and _positive(v_std) and _positive(w_std)
    ):
        return -1.0
    v_meas, w_meas = wheels_to_body(v_left, v_right, wheel_base)
    return _velocity_update(x, P, v_meas, w_meas, v_std, w_std)


@numba.njit(_SIG_SCALAR2, cache=True, error_model="numpy")
def ekf_update_velocity(x, P, v, w, v_std, w_std):
    """Fuse a measured forward speed (m/s) then yaw rate (rad/s); return the NIS or -1."""
    if not (math.isfinite(v) and math.isfinite(w) and _positive(v_std) and _positive(w_std)):
        return -1.0
    return _velocity_update(x, P, v, w, v_std, w_std)


@numba.njit(_SIG_SCALAR, cache=True, error_model="numpy")
def ekf_update_yaw_rate(x, P, gyro_z, std):
    """Fuse a gyro yaw rate (rad/s); return the NIS or -1."""
    if not (math.isfinite(gyro_z) and _positive(std)):
        return -1.0
    nis = _scalar_update(x, P, EKF_W, gyro_z - x[EKF_W], std * std)
    x[EKF_YAW] = wrap_angle(x[EKF_YAW])
    return nis


@numba.njit(_SIG_SCALAR, cache=True, error_model="numpy")
def ekf_update_yaw(x, P, yaw, std):
    """Fuse an absolute heading (rad) with a wrapped innovation; return the NIS or -1."""
    if not (math.isfinite(yaw) and _positive(std)):
        return -1.0
    nis = _scalar_update(x, P, EKF_YAW, wrap_angle(yaw - x[EKF_YAW]), std * std)
    x[EKF_YAW] = wrap_angle(x[EKF_YAW])
    return nis


@numba.njit(_SIG_RESET, cache=True, error_model="numpy")
def ekf_reset(x, P, x0, y0, yaw0):
    """Start at pose (x0, y0, yaw0) at rest, with the initial variances ``P0_*``."""
    x[EKF_X] = x0
    x[EKF_Y] = y0
    x[EKF_YAW] = wrap_angle(yaw0)
    x[EKF_V] = 0.0
    x[EKF_W] = 0.0
    for a in range(EKF_LEN):
        for b in range(EKF_LEN):
            P[a, b] = 0.0
    P[EKF_X, EKF_X] = P0_POSITION
    P[EKF_Y, EKF_Y] = P0_POSITION
    P[EKF_YAW, EKF_YAW] = P0_YAW
    P[EKF_V, EKF_V] = P0_V
    P[EKF_W, EKF_W] = P0_W


@numba.njit(_SIG_WRITE, cache=True, error_model="numpy")
def ekf_write_world(x, state):
    """Copy the estimated pose and velocities into the world state (X, Y, YAW, V, W)."""
    state[_w.X] = x[EKF_X]
    state[_w.Y] = x[EKF_Y]
    state[_w.YAW] = x[EKF_YAW]
    state[_w.V] = x[EKF_V]
    state[_w.W] = x[EKF_W]


@numba.njit(_SIG_SCALAR, cache=True, error_model="numpy")
def ekf_yaw_nis(x, P, yaw, std):
    """Mahalanobis distance squared of a heading (1 dof, wrapped), or -1 if it is invalid."""
    if not (math.isfinite(yaw) and _positive(std)):
        return -1.0
    s = P[EKF_YAW, EKF_YAW] + std * std
    if not s > 0.0:
        return -1.0
    e = wrap_angle(yaw - x[EKF_YAW])
    return e * e / s


@numba.njit(_SIG_GUARD, cache=True, error_model="numpy")
def ekf_guard(x, P, x_good, P_good):
    """True if ``x`` and ``P`` are finite (then copied to the snapshot ``x_good``,
    ``P_good``); else restore the snapshot with widened variances and return False."""
    finite = True
    for a in range(EKF_LEN):
        if not math.isfinite(x[a]):
            finite = False
        for b in range(EKF_LEN):
            if not math.isfinite(P[a, b]):
                finite = False
    if finite:
        for a in range(EKF_LEN):
            x_good[a] = x[a]
            for b in range(EKF_LEN):
                P_good[a, b] = P[a, b]
        return True
    for a in range(EKF_LEN):
        x[a] = x_good[a]
        for b in range(EKF_LEN):
            P[a, b] = P_good[a, b]
    P[EKF_X, EKF_X] += RECOVER_POSITION_VAR
    P[EKF_Y, EKF_Y] += RECOVER_POSITION_VAR
    P[EKF_YAW, EKF_YAW] += RECOVER_YAW_VAR
    P[EKF_V, EKF_V] += RECOVER_RATE_VAR
    P[EKF_W, EKF_W] += RECOVER_RATE_VAR
    return False
