"""A holonomic (mecanum or omni-wheel) base: body-velocity physics and its simulator.

State: float64[STATE_LEN] = (x, y, yaw, vx, vy, w): pose in the world, velocity in
the body frame (vx forward, vy left, m/s; w rad/s).  The motion is the one model
of a holonomic base, :func:`robo_orch.sim.holonomic.step_holonomic` (each body
component follows the command through the same first-order lag, the speeds and
the heading exact, the position by Simpson's rule within 1e-7 m per step), which
the holonomic safety kernel's tests also use as their reference.

The wheels' limit: a mecanum wheel turns at ``vx +- vy +- k w`` with ``k =
(wheel_base + axle_distance) / 2``, so a command whose ``|vx| + |vy| + k |w|``
exceeds ``robot.max_wheel_speed`` is scaled down as a whole (direction kept).
The odometry reports the body velocity (``body_odometry``) plus noise.
"""

from __future__ import annotations

import math

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np
# isort: on

from robo_orch.core.direct import direct
from robo_orch.sim.geometry import clearance
from robo_orch.sim.holonomic import STATE_LEN, VX, VY, YAW, W, X, Y, step_holonomic
from robo_orch.sim.sensors import NoiseBlock
from robo_orch.sim.simulator import (
    IMU,
    INFO_CLEARANCE,
    INFO_COLLIDED,
    INFO_MOVED,
    ODOM,
    SCAN,
    Simulator,
)

__all__ = ["STATE_LEN", "BodyOdometry", "OmniSimulator", "physics_step_omni", "wheel_scale"]


@numba.njit(
    "void(float64[::1], float64[::1], float64, float64, float64, float64, float64, float64, "
    "float64[:, ::1], float64[:, ::1], float64[:, ::1], int64[::1])",
    cache=True,
)
def physics_step_omni(state, info, cmd_vx, cmd_vy, cmd_w, dt, tau, radius, segments,
                      circles, poly_xy, poly_offsets):
    """One holonomic step plus the collision test; a colliding step is undone, stopped."""
    x0 = state[X]
    y0 = state[Y]
    yaw0 = state[YAW]
    # the simulator scales commands to the wheel limit when it accepts them
    step_holonomic(state, cmd_vx, cmd_vy, cmd_w, dt, tau, 0.0, math.inf)
    c = clearance(state[X], state[Y], segments, circles, poly_xy, poly_offsets)
    info[INFO_CLEARANCE] = c
    if c < radius:
        state[X] = x0
        state[Y] = y0
        state[YAW] = yaw0
        state[VX] = 0.0
        state[VY] = 0.0
        state[W] = 0.0
        info[INFO_MOVED] = 0.0
        info[INFO_COLLIDED] = 1.0
    else:
        info[INFO_MOVED] = math.hypot(state[X] - x0, state[Y] - y0)
        info[INFO_COLLIDED] = 0.0


@numba.njit("void(float64[::1], float64[::1], int64, float64, float64, float64, float64, "
            "float64)", cache=True)
def _fill_body_odom(values, noise, i, vx, vy, w, v_std, w_std):
    values[0] = vx + v_std * noise[i]
    values[1] = vy + v_std * noise[i + 1]
    values[2] = w + w_std * noise[i + 2]


_physics_omni = direct(physics_step_omni)
_fill_body_odom_direct = direct(_fill_body_odom)


def wheel_scale(vx: float, vy: float, w: float, k: float, limit: float) -> float:
    """The factor (<= 1) that keeps every mecanum wheel within ``limit``."""
    peak = abs(vx) + abs(vy) + k * abs(w)
    return limit / peak if peak > limit else 1.0


class BodyOdometry:
    """Measured body velocity (vx, vy, w): the truth plus Gaussian noise."""

    def __init__(self, v_std: float, w_std: float) -> None:
        self.v_std = float(v_std)
        self.w_std = float(w_std)
        #: (vx, vy, w)
        self.values = np.zeros(3, dtype=np.float64)
        self._noise = NoiseBlock(3)

    def measure(self, vx: float, vy: float, w: float, rng: np.random.Generator) -> None:
        noise = self._noise
        _fill_body_odom_direct(self.values, noise.values, noise.take(rng), vx, vy, w,
                               self.v_std, self.w_std)


class OmniSimulator(Simulator):
    """The simulator of a holonomic base: commands (vx, vy, w), odometry ``body_odometry``."""

    STATE_LEN = STATE_LEN

    def __init__(self, world, robot, sim, safety, start) -> None:
        #: k of the wheel limit |vx| + |vy| + k |w| (see the module docstring)
        self.k = 0.5 * (float(robot.wheel_base) + float(robot.axle_distance))
        super().__init__(world, robot, sim, safety, start)

    def _make_odometry(self, sim) -> BodyOdometry:
        return BodyOdometry(sim.odom_noise_std, sim.odom_noise_std / self.k)

    def reset(self, seed: int | None = None) -> None:
        self._cmd_vx = self._cmd_vy = self._cmd_w = 0.0
        super().reset(seed)

    def set_command(self, v: float, w: float, t: float | None = None) -> None:
        """A (v, w) command: a body command without lateral speed."""
        self.set_body_command(v, 0.0, w, t)

    def set_body_command(self, vx: float, vy: float, w: float, t: float | None = None) -> None:
        """Accept a body velocity command stamped ``t`` s, clamped to every limit.

        vx to [-max_reverse, max_speed], vy to +-max_speed, w to +-max_yaw_rate, then
        all three scaled together so that no wheel exceeds ``max_wheel_speed``.
        """
        vx, vy, w = float(vx), float(vy), float(w)
        if not (math.isfinite(vx) and math.isfinite(vy) and math.isfinite(w)):
            self.rejected_commands += 1
            vx = vy = w = 0.0
        s = self.safety_cfg
        vx = min(max(vx, -s.max_reverse), s.max_speed)
        vy = min(max(vy, -s.max_speed), s.max_speed)
        w = min(max(w, -s.max_yaw_rate), s.max_yaw_rate)
        f = wheel_scale(vx, vy, w, self.k, self.max_wheel_speed)
        if self.estop:
            f = 0.0
        self._cmd_vx, self._cmd_vy, self._cmd_w = vx * f, vy * f, w * f
        self._cmd_t_ns = self.t_ns if t is None else round(float(t) * 1e9)
        self._have_cmd = True

    @property
    def body_command(self) -> tuple[float, float, float]:
        """The clamped body command (vx, vy, w) last accepted."""
        return self._cmd_vx, self._cmd_vy, self._cmd_w

    def set_estop(self, engaged: bool) -> None:
        if engaged:
            self._cmd_vx = self._cmd_vy = self._cmd_w = 0.0
        self.estop = bool(engaged)

    def _forward_speed(self) -> float:
        return float(self.state[VX])

    def _physics(self, dt: float, stop: bool) -> None:
        wm = self.world_map
        vx, vy, w = (0.0, 0.0, 0.0) if stop else (self._cmd_vx, self._cmd_vy, self._cmd_w)
        _physics_omni(self.state, self._info, vx, vy, w, dt, self.tau, self.radius,
                      wm.segments, wm.circles, wm.poly_xy, wm.poly_offsets)

    def _measure(self, flags: int, accel_forward: float) -> None:
        state = self.state
        t_ns = self.t_ns
        if flags & ODOM:
            self.odometry.measure(state[VX], state[VY], state[W], self._rng_odom)
            self.odom_t_ns = t_ns
        if flags & IMU:
            self.imu.measure(state[VX], state[W], accel_forward, self._rng_imu)
            self.imu_t_ns = t_ns
        if flags & SCAN:
            self.lidar.measure(self.world_map, state[X], state[Y], state[YAW], self._rng_lidar)
            self.scan_t_ns = t_ns

    @property
    def v(self) -> float:
        return float(self.state[VX])

    @property
    def vy(self) -> float:
        """True lateral speed, m/s."""
        return float(self.state[VY])

    @property
    def w(self) -> float:
        return float(self.state[W])
