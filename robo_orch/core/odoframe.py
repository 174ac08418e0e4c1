"""The odometry frame: where the robot is relative to the last scan, whatever the fixes say.

The estimate (``state[X, Y, YAW]``) moves through two kinds of change: EKF
prediction with the odometry and gyro updates (relative motion), and absolute
updates (a position fix, a heading fix) that make it jump.  The scan's points
were placed with the estimate of their time, so after a jump the estimate and
the points no longer agree by exactly the jump.  The safety check must see the
obstacles where the robot's own motion since the scan puts them, so it works in
the *odometry frame*: the estimate with every absolute jump removed.

``state[CORR_X, CORR_Y, CORR_YAW]`` hold the transform ``C`` from the odometry
frame to the estimate frame (the composition of every jump so far; identity at
start, as the zeroed state is).  Each absolute update is bracketed by
:func:`hold` (before) and :func:`absorb_jump` (after): the jump
``J = after o before^-1`` is composed into ``C``.  When a scan is taken,
:func:`mark_scan` copies ``C`` to ``state[SCAN_CORR_*]`` (``S``).  The pose of
the robot in the frame of the scan's points is then ``S o C^-1 o estimate``
(:func:`scan_frame_pose`), which no jump after the scan changes.

Transforms and poses are ``(x, y, yaw)``; ``a o b`` maps a point by ``b``, then ``a``.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core import world as _w


@numba.njit(cache=True)
def _wrap(a):
    if -math.pi < a <= math.pi:
        return a
    r = math.atan2(math.sin(a), math.cos(a))
    return math.pi if r == -math.pi else r


@numba.njit(cache=True)
def compose(ax, ay, ath, bx, by, bth):
    """``a o b`` of two rigid 2D transforms (x, y, yaw)."""
    c = math.cos(ath)
    s = math.sin(ath)
    return ax + c * bx - s * by, ay + s * bx + c * by, _wrap(ath + bth)


@numba.njit(cache=True)
def invert(ax, ay, ath):
    """``a^-1`` of a rigid 2D transform (x, y, yaw)."""
    c = math.cos(ath)
    s = math.sin(ath)
    return -(c * ax + s * ay), s * ax - c * ay, _wrap(-ath)


@numba.njit("void(float64[::1], float64[::1])", cache=True)
def hold(x, before):
    """Keep the estimate's pose (``x[0:3]``) in ``before[0:3]`` ahead of an absolute update."""
    before[0] = x[0]
    before[1] = x[1]
    before[2] = x[2]


@numba.njit("void(float64[::1], float64[::1], float64[::1])", cache=True)
def absorb_jump(before, x, state):
    """Compose the jump from ``before`` to the estimate ``x[0:3]`` into ``state[CORR_*]``.

    A non-finite pose on either side changes nothing (the estimator's own checks
    deal with it).
    """
    if not math.isfinite(before[0] + before[1] + before[2] + x[0] + x[1] + x[2]):
        return
    if before[0] == x[0] and before[1] == x[1] and before[2] == x[2]:
        return
    ix, iy, ith = invert(before[0], before[1], before[2])
    jx, jy, jth = compose(x[0], x[1], x[2], ix, iy, ith)
    cx, cy, cth = compose(jx, jy, jth, state[_w.CORR_X], state[_w.CORR_Y], state[_w.CORR_YAW])
    state[_w.CORR_X] = cx
    state[_w.CORR_Y] = cy
    state[_w.CORR_YAW] = cth


@numba.njit("void(float64[::1])", cache=True)
def mark_scan(state):
    """Note the correction in force when the scan in the world's ``scan`` was placed."""
    state[_w.SCAN_CORR_X] = state[_w.CORR_X]
    state[_w.SCAN_CORR_Y] = state[_w.CORR_Y]
    state[_w.SCAN_CORR_YAW] = state[_w.CORR_YAW]


@numba.njit(cache=True)
def scan_frame_pose(state):
    """The robot's pose in the frame of the scan's points: ``S o C^-1 o estimate``.

    Exactly the estimate while no absolute update came after the scan.
    """
    x = state[_w.X]
    y = state[_w.Y]
    yaw = state[_w.YAW]
    cx = state[_w.CORR_X]
    cy = state[_w.CORR_Y]
    cth = state[_w.CORR_YAW]
    sx = state[_w.SCAN_CORR_X]
    sy = state[_w.SCAN_CORR_Y]
    sth = state[_w.SCAN_CORR_YAW]
    if cx == sx and cy == sy and cth == sth:
        return x, y, yaw
    ix, iy, ith = invert(cx, cy, cth)
    dx, dy, dth = compose(sx, sy, sth, ix, iy, ith)
    return compose(dx, dy, dth, x, y, yaw)


@numba.njit("UniTuple(float64, 3)(float64[::1])", cache=True)
def scan_frame_pose_of(state):
    """:func:`scan_frame_pose` as a callable kernel (for tests and tools)."""
    return scan_frame_pose(state)
