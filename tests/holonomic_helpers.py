"""Helpers of the holonomic safety kernel's tests (tests/test_safety_holonomic*.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from robo_orch.core import safety_holonomic as sh
from robo_orch.core import world as w

DT = 1.0 / 64  # exact in binary, so ramps land exactly on zero
MAX_SCAN = 1000

SAFETY = dict(max_speed=0.8, max_reverse=0.8, max_yaw_rate=2.0, max_accel=1.0, max_decel=2.0,
              max_yaw_accel=6.0, collision_margin=0.05, collision_horizon_s=1.5)
ROBOT = dict(wheel_base=0.34, axle_distance=0.3, max_wheel_speed=1.2, motor_time_constant=0.08)


def limits(**overrides) -> np.ndarray:
    assert set(overrides) <= set(SAFETY) | set(ROBOT), overrides
    safety = SimpleNamespace(**{k: overrides.get(k, v) for k, v in SAFETY.items()})
    robot = SimpleNamespace(**{k: overrides.get(k, v) for k, v in ROBOT.items()})
    return sh.pack_limits_holonomic(safety, robot)


def make_state(*, yaw=0.0, last=(0.0, 0.0, 0.0), speed=None, estop=0.0, stale=0.0, dt=DT,
               radius=0.2):
    """A state whose last command is ``last`` = (vx, vy, w) and estimate ``speed``
    (default: what was last commanded)."""
    state = np.zeros(w.STATE_LEN)
    state[w.YAW], state[w.DT], state[w.ROBOT_RADIUS] = yaw, dt, radius
    state[w.CMD_V], state[sh.CMD_VY_SLOT], state[w.CMD_W] = last
    state[w.V], state[sh.VY_SLOT], state[w.W] = last if speed is None else speed
    state[w.ESTOP], state[w.STALE] = estop, stale
    return state


def make_scan(state, points=()) -> np.ndarray:
    scan = np.full((MAX_SCAN, 2), 1e3)  # junk beyond SCAN_COUNT must be ignored
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    scan[: len(points)] = points
    state[w.SCAN_COUNT] = len(points)
    return scan


def wall_x(x, y0=-1.0, y1=1.0, n=201):
    return [(x, y) for y in np.linspace(y0, y1, n)]


def wall_y(y, x0=-1.0, x1=1.0, n=201):
    return [(x, y) for x in np.linspace(x0, x1, n)]


def call(state, scan, lim, vx, vy, om):
    """Run the kernel as the loop does; (flags, vx, vy, w, mem)."""
    mem = np.zeros(sh.mem_size(scan.shape[0]))
    cmd = np.full(3, np.nan)
    flags = sh.safety_holonomic(state, scan, lim, vx, vy, om, mem, cmd)
    assert (cmd[0], cmd[1], cmd[2]) == (state[w.CMD_V], state[sh.CMD_VY_SLOT], state[w.CMD_W])
    return flags, cmd[0], cmd[1], cmd[2], mem


def segment_distances(a: np.ndarray, b: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from each point to each segment a[i] -> b[i]: shape (segments, points)."""
    d = (b - a)[:, None, :]
    rel = pts[None, :, :] - a[:, None, :]
    len2 = np.maximum((d * d).sum(-1), 1e-300)
    t = np.clip((rel * d).sum(-1) / len2, 0.0, 1.0)
    return np.hypot(*(rel - t[..., None] * d).transpose(2, 0, 1))
