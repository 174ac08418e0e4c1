"""``laser_points``: a lidar scan -> the world's scan points and distance field.

The built-in handling of the ``scan`` input runs through this adapter.  The sense
phase checks the scan's limits (``scan_limits``) and stamps, copies the newest scan
into the adapter's arrays and calls the kernel, which converts the rays with a
return to odom-frame points using this tick's pose estimate, and, when at least
``min_returns`` of them are valid, makes them the world's ``scan`` (``scan_count``,
the odometry frame they were placed in, ``scan_t``) and rebuilds the distance
``field`` around the robot.  A scan with fewer returns leaves the previous one in
place and returns :data:`NO_RETURNS` (the sense phase counts ``no_returns``): a lidar
that sees nothing is treated as a silent one, not as empty space.

Its parameters come from the config (``perception.min_scan_returns``,
``perception.max_scan_points`` and the field's size); its ``state`` holds its
scratch: the converted points (a scan is taken only once it has enough returns)
and the distance transform's planes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from robo_orch.adapter import ACCEPTED, InputAdapter, adapter_signature
from robo_orch.behavior import param_index
from robo_orch.core.field import build_field, scan_to_points
from robo_orch.core.odoframe import mark_scan
from robo_orch.core.world import SCAN_COUNT, SCAN_T, YAW, T, X, Y
from robo_orch.schema import option

#: status of a scan with fewer returns than ``min_returns`` (counted as ``no_returns``)
NO_RETURNS = -2.0


@dataclass(frozen=True)
class Params:
    """Sizes and the return threshold (from ``[perception]`` for the ``scan`` input)."""

    min_returns: int = option(1, ge=0, le=65536, doc="fewer valid rays: not taken")
    max_points: int = option(2048, ge=1, le=65536, doc="rows of the world's scan")
    field_ny: int = option(64, ge=1, le=100000, doc="rows of the distance field")
    field_nx: int = option(64, ge=1, le=100000, doc="columns of the distance field")


_P = param_index(Params)
P_MIN, P_MAX, P_NY, P_NX = _P["min_returns"], _P["max_points"], _P["field_ny"], _P["field_nx"]
F_RANGE_MIN, F_RANGE_MAX = 0, 1  #: laser_scan's fixed part starts range_min, range_max
V_ANGLE, V_RANGE = 0, 1  #: its variable part: angle, range


def scratch_length(ny: int, nx: int) -> int:
    """Length of the distance transform's scratch (robo_orch.core.field.alloc_field_scratch)."""
    return 3 * (ny * (nx + 2) + nx * (ny + 2))


@numba.njit(adapter_signature(), cache=True)
def adapt(world, idx, fixed, var, count, params, state):
    """Convert, and take the scan if it has enough returns; rebuild the field."""
    s = world[0]
    scan = world[1]
    n = int(params[P_MAX])
    points = state[:2 * n].reshape((n, 2))
    written = scan_to_points(var[V_ANGLE], var[V_RANGE], count, s[X], s[Y], s[YAW],
                             fixed[F_RANGE_MIN], fixed[F_RANGE_MAX], points)
    if written < params[P_MIN]:
        return NO_RETURNS
    for i in range(written):  # (a loop, not a slice assignment: numba compiles a
        scan[i, 0] = points[i, 0]  # shape-mismatch message for that, 2 s per process)
        scan[i, 1] = points[i, 1]
    s[SCAN_COUNT] = written
    mark_scan(s)  # safety: the points' frame
    s[SCAN_T] = s[T]
    build_field(scan, written, s[X], s[Y], s, world[2], state[2 * n:])
    return ACCEPTED


class LaserPoints(InputAdapter):
    """``laser_scan`` -> the world's ``scan``, ``scan_count``, ``scan_t`` and ``field``."""

    kind = "laser_points"
    Params = Params
    kernel = adapt
    message = "laser_scan"
    reads = ("x", "y", "yaw", "t", "field_res", "field_cap", "corr_x", "corr_y", "corr_yaw")
    writes = ("scan", "scan_count", "scan_t", "field", "field_x0", "field_y0", "field_valid",
              "scan_corr_x", "scan_corr_y", "scan_corr_yaw")
    finite_var = False  # rays without a return may be infinite: skipped one by one

    @classmethod
    def new_state(cls, params: Params) -> np.ndarray:
        """Scratch: the converted points, then the distance transform's planes."""
        return np.zeros(2 * params.max_points + scratch_length(params.field_ny, params.field_nx))
