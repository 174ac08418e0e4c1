"""Sensor models: a 2D lidar, wheel odometry and an IMU, with seeded Gaussian noise.

Each model owns preallocated output arrays and refreshes them in place from the
ground truth; noise is drawn from a :class:`numpy.random.Generator` handed in by
the caller, into a preallocated buffer, so a measurement allocates nothing.

Odometry and the IMU measure on every step of a lockstep run, where one
``standard_normal`` call costs more than the measurement itself, so they draw
their noise for :data:`NOISE_BLOCK` measurements at a time (:class:`NoiseBlock`).
A generator's normals do not depend on how the draws are split into calls, so
the values, and every run, are exactly those of one draw per measurement.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np

from robo_orch.core.direct import direct
# isort: on

from robo_orch.sim.geometry import WorldMap, raycast

if TYPE_CHECKING:
    from robo_orch.config.sections import LidarConfig

GRAVITY = 9.81  #: m/s^2, what the accelerometer's z axis reads at rest
NOISE_BLOCK = 64  #: measurements of odometry and IMU noise drawn per generator call


@numba.njit("void(float64[::1], float64[::1], float64, float64, float64)", cache=True)
def apply_range_noise(ranges, noise, noise_std, range_min, range_max):
    """Add ``noise_std * noise`` to each range; no return or out of limits -> 0.0.

    0.0 is the wire convention for "no return" (any value <= 0 means the same).
    """
    for i in range(ranges.shape[0]):
        r = ranges[i]
        if not math.isfinite(r):
            ranges[i] = 0.0
            continue
        r += noise_std * noise[i]
        if r > range_max or r < range_min:
            r = 0.0
        ranges[i] = r


@numba.njit("void(float64[::1], float64[::1], int64, float64, float64, float64)", cache=True)
def _fill_odom(values, noise, i, v_left, v_right, noise_std):
    values[0] = v_left + noise_std * noise[i]
    values[1] = v_right + noise_std * noise[i + 1]


@numba.njit(
    "void(float64[::1], float64[::1], float64[::1], int64, float64, float64, float64, "
    "float64, float64, float64)",
    cache=True,
)
def _fill_imu(gyro, accel, noise, i, v, w, accel_forward, gyro_std, gyro_bias, accel_std):
    gyro[0] = gyro_std * noise[i]
    gyro[1] = gyro_std * noise[i + 1]
    gyro[2] = w + gyro_bias + gyro_std * noise[i + 2]
    accel[0] = accel_forward + accel_std * noise[i + 3]
    accel[1] = v * w + accel_std * noise[i + 4]  # centripetal
    accel[2] = GRAVITY + accel_std * noise[i + 5]


# every step's noise fills, past the dispatcher (robo_orch.core.direct): their arrays
# are the sensors' own (np.zeros below)
_fill_odom_direct = direct(_fill_odom)
_fill_imu_direct = direct(_fill_imu)


class NoiseBlock:
    """Standard normal draws for ``per`` values a measurement, ``block`` measurements at a time.

    :meth:`take` returns the offset in :attr:`values` of the next measurement's
    draws.  A different generator (a reset made new ones) discards what is left.
    The generator runs ahead of the measurements by up to one block, so nothing
    else may draw from it.
    """

    __slots__ = ("values", "per", "_next", "_rng")

    def __init__(self, per: int, block: int = NOISE_BLOCK) -> None:
        self.values = np.zeros(per * block, dtype=np.float64)
        self.per = per
        self._next = len(self.values)
        self._rng: np.random.Generator | None = None

    def take(self, rng: np.random.Generator) -> int:
        """Offset of ``per`` fresh draws from ``rng`` in :attr:`values`."""
        i = self._next
        if i == len(self.values) or rng is not self._rng:
            self._rng = rng
            rng.standard_normal(out=self.values)
            i = 0
        self._next = i + self.per
        return i


def scan_angles(rays: int) -> np.ndarray:
    """``rays`` angles evenly spaced over [-pi, pi), robot frame."""
    return -math.pi + (2.0 * math.pi / rays) * np.arange(rays, dtype=np.float64)


class Lidar:
    """A 2D lidar at the robot centre: ray-cast ranges plus Gaussian noise."""

    def __init__(self, cfg: LidarConfig) -> None:
        self.rays = int(cfg.rays)
        self.range_min = float(cfg.range_min)
        self.range_max = float(cfg.range_max)
        self.noise_std = float(cfg.noise_std)
        self.angles = scan_angles(self.rays)
        self.ranges = np.zeros(self.rays, dtype=np.float64)
        self._noise = np.zeros(self.rays, dtype=np.float64)

    def measure(self, world: WorldMap, x: float, y: float, yaw: float,
                rng: np.random.Generator) -> None:
        """Refresh :attr:`ranges` for a robot at (x, y, yaw)."""
        raycast(x, y, yaw, self.angles, self.range_max, world.segments, world.circles,
                self.ranges)
        rng.standard_normal(out=self._noise)
        apply_range_noise(self.ranges, self._noise, self.noise_std, self.range_min,
                          self.range_max)


class WheelOdometry:
    """Measured wheel surface speeds: true speed plus Gaussian noise."""

    def __init__(self, noise_std: float) -> None:
        self.noise_std = float(noise_std)
        #: (v_left, v_right), m/s
        self.values = np.zeros(2, dtype=np.float64)
        self._noise = NoiseBlock(2)

    def measure(self, v_left: float, v_right: float, rng: np.random.Generator) -> None:
        """Refresh :attr:`values` from the true wheel speeds."""
        noise = self._noise
        _fill_odom_direct(self.values, noise.values, noise.take(rng), v_left, v_right,
                          self.noise_std)


class Imu:
    """A planar IMU: gyro z is the yaw rate plus bias and noise, accel is body frame."""

    def __init__(self, gyro_noise_std: float, gyro_bias: float, accel_noise_std: float) -> None:
        self.gyro_noise_std = float(gyro_noise_std)
        self.gyro_bias = float(gyro_bias)
        self.accel_noise_std = float(accel_noise_std)
        #: angular rate (x, y, z), rad/s
        self.gyro = np.zeros(3, dtype=np.float64)
        #: specific force (x forward, y left, z up), m/s^2
        self.accel = np.zeros(3, dtype=np.float64)
        self._noise = NoiseBlock(6)

    def measure(self, v: float, w: float, accel_forward: float,
                rng: np.random.Generator) -> None:
        """Refresh :attr:`gyro` and :attr:`accel` from speed, yaw rate and acceleration."""
        noise = self._noise
        _fill_imu_direct(self.gyro, self.accel, noise.values, noise.take(rng), v, w,
                         accel_forward, self.gyro_noise_std, self.gyro_bias,
                         self.accel_noise_std)
