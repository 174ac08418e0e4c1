"""Holonomic (omnidirectional, mecanum) robot model with a first-order lag on each body speed.

The one model of a holonomic base's motion: the simulator
(:class:`robo_orch.sim.omni.OmniSimulator`) steps it, and the holonomic safety
kernel's tests use it as the motion the invariant is checked along.

State: float64[STATE_LEN] = (x, y, yaw, vx, vy, w); ``vx, vy`` body-frame speeds
in m/s, ``w`` the yaw rate, yaw in (-pi, pi].

Each body-frame component follows its command through the same lag:
``u' = (c - u) / tau``, so within a step ``u(t) = c + (u0 - c) exp(-t / tau)`` and
the heading ``theta(t) = theta0 + cw t + (w0 - cw) tau (1 - exp(-t / tau))`` are
exact.  The position integrates ``R(theta(t)) u(t)`` with composite Simpson's
rule on intervals of at most ``tau / 8`` and 0.05 rad of turn (at most 512 per
step); its error is below 1e-7 m per step for speeds of a few m/s.  A command
beyond the mecanum wheel limit ``|vx| + |vy| + |w| half_sum <= max_wheel_speed``
is scaled down as a whole (direction and curvature kept), as a driver that
never lets one wheel clamp does.
"""

from __future__ import annotations

import math

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
# isort: on

from robo_orch.core.geometry import wrap_angle

X = 0
Y = 1
YAW = 2
VX = 3
VY = 4
W = 5
STATE_LEN = 6
_MAX_INTERVALS = 512  # bounds the work of one step however long dt is


@numba.njit(cache=True, inline="always")
def _velocity(t, tau, th0, vx0, vy0, w0, cx, cy, cw):
    """World-frame velocity of the centre at ``t`` into the step."""
    if tau > 0.0:
        g = math.exp(-t / tau)
        gain = tau * (1.0 - g)
    else:
        g = 0.0
        gain = 0.0
    th = th0 + cw * t + (w0 - cw) * gain
    ux = cx + (vx0 - cx) * g
    uy = cy + (vy0 - cy) * g
    c = math.cos(th)
    s = math.sin(th)
    return c * ux - s * uy, s * ux + c * uy


@numba.njit(
    "void(float64[::1], float64, float64, float64, float64, float64, float64, float64)",
    cache=True,
)
def step_holonomic(state, cmd_vx, cmd_vy, cmd_w, dt, tau, half_sum, max_wheel_speed):
    """Advance ``state`` in place by ``dt`` seconds under body-frame speed commands.

    ``half_sum`` is (wheel_base + axle_distance) / 2; ``tau`` <= 0 means the body
    reaches the command at once.
    """
    peak = abs(cmd_vx) + abs(cmd_vy) + abs(cmd_w) * half_sum
    if peak > max_wheel_speed:
        f = max_wheel_speed / peak
        cmd_vx *= f
        cmd_vy *= f
        cmd_w *= f
    if tau <= 0.0:
        tau = 0.0
        state[VX] = cmd_vx
        state[VY] = cmd_vy
        state[W] = cmd_w
    th0 = state[YAW]
    vx0 = state[VX]
    vy0 = state[VY]
    w0 = state[W]
    n = 1
    if tau > 0.0:
        n = int(math.ceil(dt / (0.125 * tau)))
    turn = max(abs(w0), abs(cmd_w)) * dt
    n = max(n, int(math.ceil(turn / 0.05)))
    n = min(max(n, 1), _MAX_INTERVALS // 2)
    h = dt / (2 * n)  # Simpson's rule on 2n intervals
    sx = 0.0
    sy = 0.0
    for i in range(2 * n + 1):
        wgt = 1.0 if i == 0 or i == 2 * n else (4.0 if i % 2 == 1 else 2.0)
        ax, ay = _velocity(i * h, tau, th0, vx0, vy0, w0, cmd_vx, cmd_vy, cmd_w)
        sx += wgt * ax
        sy += wgt * ay
    state[X] += sx * h / 3.0
    state[Y] += sy * h / 3.0
    if tau > 0.0:
        g = math.exp(-dt / tau)
        state[YAW] = wrap_angle(th0 + cmd_w * dt + (w0 - cmd_w) * tau * (1.0 - g))
        state[VX] = cmd_vx + (vx0 - cmd_vx) * g
        state[VY] = cmd_vy + (vy0 - cmd_vy) * g
        state[W] = cmd_w + (w0 - cmd_w) * g
    else:
        state[YAW] = wrap_angle(th0 + cmd_w * dt)
