"""Position fixes for the EKF (:mod:`robo_orch.core.estimator`): fuse, gate, re-initialise.

Only a robot with an input that fuses a position (the ``gps_fix`` adapter) needs these
kernels, so they live here and compile (on an empty kernel cache) only for such a
config: the sense phase imports this module when one of its inputs fuses
``position``.  The math is the estimator's (its docstring): a position fix is two
scalar updates of ``x`` and ``y``; its gate is the Mahalanobis distance squared
(2 dof) before it is fused.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core.estimator import EKF_LEN, EKF_X, EKF_Y, EKF_YAW, _positive, _scalar_update, _sig
from robo_orch.core.geometry import wrap_angle

_SIG_POSITION = _sig("float64", 3)  # (x, P, px, py, std)
_SIG_SET_POSITION = _sig("void", 3)  # (x, P, px, py, var)


@numba.njit(_SIG_POSITION, cache=True, error_model="numpy")
def ekf_update_position(x, P, px, py, std):
    """Fuse an absolute position fix (odom frame, m); return the NIS or -1."""
    if not (math.isfinite(px) and math.isfinite(py) and _positive(std)):
        return -1.0
    r = std * std
    nis = _scalar_update(x, P, EKF_X, px - x[EKF_X], r)
    nis += _scalar_update(x, P, EKF_Y, py - x[EKF_Y], r)
    x[EKF_YAW] = wrap_angle(x[EKF_YAW])
    return nis


@numba.njit(_SIG_POSITION, cache=True, error_model="numpy")
def ekf_position_nis(x, P, px, py, std):
    """Mahalanobis distance squared of a position fix (2 dof), or -1 if it is invalid."""
    if not (math.isfinite(px) and math.isfinite(py) and _positive(std)):
        return -1.0
    r = std * std
    a = P[EKF_X, EKF_X] + r
    b = 0.5 * (P[EKF_X, EKF_Y] + P[EKF_Y, EKF_X])
    d = P[EKF_Y, EKF_Y] + r
    det = a * d - b * b
    if not det > 0.0:
        return -1.0
    ex = px - x[EKF_X]
    ey = py - x[EKF_Y]
    return (d * ex * ex - 2.0 * b * ex * ey + a * ey * ey) / det


@numba.njit(_SIG_SET_POSITION, cache=True, error_model="numpy")
def ekf_set_position(x, P, px, py, var):
    """Re-initialise the position at (px, py) with variance ``var`` each, uncorrelated."""
    x[EKF_X] = px
    x[EKF_Y] = py
    for a in range(EKF_LEN):
        for j in (EKF_X, EKF_Y):
            P[a, j] = 0.0
            P[j, a] = 0.0
    P[EKF_X, EKF_X] = var
    P[EKF_Y, EKF_Y] = var
