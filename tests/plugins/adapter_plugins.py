"""Input adapters for tests/test_adapters.py: one that keeps the contract, one that does not."""

from __future__ import annotations

from dataclasses import dataclass

import numba

from robo_orch.adapter import ACCEPTED, IGNORED, InputAdapter, adapter_signature
from robo_orch.core.world import TARGET_X
from robo_orch.schema import option


@dataclass(frozen=True)
class NearestParams:
    min_range: float = option(0.05, ge=0, le=100, doc="shorter returns are not counted, m")


@numba.njit(adapter_signature(), cache=True)
def _nearest(world, idx, fixed, var, count, params, state):
    best = 1e300
    for k in range(count):  # var[0] the angles, var[1] the ranges
        r = var[1, k]
        if params[0] <= r < best:
            best = r
    if best == 1e300:
        return IGNORED
    world[0][idx[0]] = best
    return ACCEPTED


class NearestReturn(InputAdapter):
    """laser_scan -> the user scalar ``nearest_return``: its shortest range."""

    kind = "nearest_return"
    Params = NearestParams
    kernel = _nearest
    message = "laser_scan"
    scalars = ("nearest_return",)
    writes = ("nearest_return",)
    finite_var = False  # rays without a return are infinite


@dataclass(frozen=True)
class NoParams:
    pass


@numba.njit(cache=True)  # lazily compiled: the first call compiles
def _sloppy(world, idx, fixed, var, count, params, state):
    world[0][TARGET_X] = fixed[0]  # not declared
    return ACCEPTED


class Sloppy(InputAdapter):
    kind = "sloppy"
    Params = NoParams
    kernel = _sloppy
    message = "position_fix"


@dataclass(frozen=True)
class WheelParams:
    track: float = option(0.3, gt=0, le=10, doc="distance between the wheels, m")
    left_scale: float = option(1.0, gt=0, le=2, doc="left wheel speed calibration")
    right_scale: float = option(1.0, gt=0, le=2, doc="right wheel speed calibration")
    max_slip: float = option(1e9, gt=0, doc="wheel speed difference beyond this: 'slip', m/s")


@numba.njit(adapter_signature(), cache=True)
def _wheels(world, idx, fixed, var, count, params, state):
    left = fixed[0] * params[1]
    right = fixed[1] * params[2]
    if abs(right - left) > params[3]:
        return -2.0  # rejects[1]: 'slip'
    state[0] = 0.5 * (left + right)
    state[1] = (right - left) / params[0]
    state[2] = 0.0
    world[0][idx[0]] += 1.0  # odom_messages
    return ACCEPTED


class CalibratedWheels(InputAdapter):
    """wheel_odometry with per-wheel calibration -> the base's velocity (a user's odometry
    adapter on ``[inputs.odom]``); counts what it took in the user scalar ``odom_messages``
    and rejects a wheel speed difference beyond ``max_slip`` as ``slip``."""

    kind = "calibrated_wheels"
    Params = WheelParams
    kernel = _wheels
    message = "wheel_odometry"
    scalars = ("odom_messages",)
    writes = ("odom_messages",)
    state_size = 3
    rejects = ("out_of_range", "slip")
    fuses = "velocity"
