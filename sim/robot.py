"""Differential-drive robot model with a first-order lag on each wheel.

State: float64[STATE_LEN] = (x, y, yaw, v_left, v_right); wheel speeds are surface
speeds in m/s, yaw in (-pi, pi].

Within a step each wheel follows ``v' = (cmd - v) / tau`` exactly, and the distance
each wheel rolls is integrated exactly, so the heading change and the signed
distance travelled are exact; the pose moves along the constant-curvature arc with that length and
heading change (the only approximation: the curvature is taken as constant over a
step, or over sub-steps of at most tau / 4 while the wheels accelerate).
"""

from __future__ import annotations

import math

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
# isort: on

from robo_orch.core.geometry import wheels_to_body, wrap_angle

X = 0
Y = 1
YAW = 2
V_LEFT = 3
V_RIGHT = 4
STATE_LEN = 5
_MAX_SUBSTEPS = 16  # bounds the work of one step however long dt is


@numba.njit("float64(float64, float64)", cache=True)
def _clamp_abs(v, limit):
    if v > limit:
        return limit
    if v < -limit:
        return -limit
    return v


@numba.njit("void(float64[::1], float64, float64, float64)", cache=True)
def _arc_move(state, dist_left, dist_right, wheel_base):
    """Move the pose along the constant-curvature arc the two wheel distances define."""
    ds, dyaw = wheels_to_body(dist_left, dist_right, wheel_base)
    half = 0.5 * dyaw
    # chord of the arc = ds * sin(half) / half (series near a straight line)
    sinc = 1.0 - half * half / 6.0 if abs(half) < 1e-6 else math.sin(half) / half
    chord = ds * sinc
    yaw = state[YAW]
    state[X] += chord * math.cos(yaw + half)
    state[Y] += chord * math.sin(yaw + half)
    state[YAW] = wrap_angle(yaw + dyaw)


@numba.njit(
    "void(float64[::1], float64, float64, float64, float64, float64, float64)", cache=True
)
def step_diff_drive(state, cmd_left, cmd_right, dt, tau, wheel_base, max_wheel_speed):
    """Advance ``state`` in place by ``dt`` seconds under wheel speed commands.

    Commands are clamped to +-``max_wheel_speed``; ``tau`` <= 0 means the wheels
    reach the command at once.  A step longer than tau / 4 is split into equal
    sub-steps so that the arc approximation stays small while the wheels accelerate.
    """
    cl = _clamp_abs(cmd_left, max_wheel_speed)
    cr = _clamp_abs(cmd_right, max_wheel_speed)
    if tau <= 0.0:
        _arc_move(state, cl * dt, cr * dt, wheel_base)
        state[V_LEFT] = cl
        state[V_RIGHT] = cr
        return
    n = int(math.ceil(dt / (0.25 * tau)))
    n = min(max(n, 1), _MAX_SUBSTEPS)
    h = dt / n
    decay = math.exp(-h / tau)
    gain = tau * (1.0 - decay)
    for _ in range(n):
        vl0 = state[V_LEFT]
        vr0 = state[V_RIGHT]
        # exact integral of the exponential approach over the sub-step
        _arc_move(state, cl * h + (vl0 - cl) * gain, cr * h + (vr0 - cr) * gain, wheel_base)
        state[V_LEFT] = cl + (vl0 - cl) * decay
        state[V_RIGHT] = cr + (vr0 - cr) * decay
