"""avoid_obstacles: a dynamic window approach (DWA) local planner toward the target.

Samples commands in the base's own control space (world slot ``BASE_KIND``): on
a wheeled base ``v_samples x w_samples`` of (v, w); on a holonomic base
``v_samples x vy_samples x w_samples`` of (vx, vy, w), samples faster than
``max_speed`` overall skipped (the lateral speed goes to ``out[OUT_VY]``).  The
window is the current V (VY), W +- acceleration * ``window_s`` (``max_accel``
for both speeds), clamped to [0, max_speed], [-max_speed, max_speed] and
[-max_yaw_rate, max_yaw_rate], evenly spaced including both ends.  Each is
rolled out from the current pose for ``steps`` steps of ``rollout_dt``
(x += dt (vx cos(th) - vy sin(th)), y += dt (vx sin(th) + vy cos(th)), then
th += w dt: the heading is a unit vector rotated by a per-sample precomputed
rotation, no trigonometry per step).
After each step the clearance is ``field_distance - ROBOT_RADIUS``, or for a
polygon footprint the least ``field_distance(centre) - r`` of the circles covering
it (``robot.footprint``; the circles ride along with the rollout's heading, and
the behavior's user array ``footprint`` holds them: ``n``, then ``ox, oy, r`` per
circle, written when the robot starts); a rollout whose clearance drops below
``collision_margin`` is rejected.  The others score

    heading_weight * cos(angle between the final heading and the direction
                         from the final position to the target)
    + progress_weight * (distance to the target gained) / (max_speed * steps * dt)
    + clearance_weight * min(min clearance along the rollout, clearance_cap)
    + speed_weight * v   (the forward speed vx on a holonomic base)

and the best wins (the first in (w, vy, v) order on ties).  Two additions to the
textbook score, both needed in the shipped scenarios: without the progress
term a robot facing the target across an obstacle scores best by slowing down
in front of it (long constant-command rollouts that curve around it end facing
away); and samples with v = 0 (and vy = 0) are never chosen, because turning
on the spot to face the target otherwise pins the robot at the margin.  If no moving sample
is admissible and ``max_reverse`` > 0 (default 0: off), reverse speeds are
sampled across [max(V - window, -max_reverse), min(V + window, 0)) (with the
same yaw rates and lateral speeds; admissible if the clearance stays above the
margin or, for a robot already within it, above the clearance it has now) and
the best admissible one is proposed:
backing off gains nothing toward the target, so a reverse sample scores
``heading_weight * alignment + clearance_weight * min(clearance at the end of
its rollout, clearance_cap)``, the room it makes.  Reversing is thus a way out
when boxed in (facing a wall or a dead end), never a choice while some forward
motion is admissible; with the default the proposals are those of the forward
search alone.  If nothing is admissible the proposal is to turn in place at
``recovery_yaw_rate`` (at most ``max_yaw_rate``) toward the more open side
(field probed at 45 and 90 degrees either side, ``probe_clearance`` beyond the
robot's surface).

Cost: the branch and bound below computes a bound for every sample (441 on a
wheeled base, 1323 on a holonomic one with the defaults) and rolls out only the
samples that can still win; ``out[3]`` counts the rollouts.

The search is a branch and bound with the same result as trying every sample
(:mod:`robo_orch.behaviors.dwa_search`); the samples and the per-yaw-rate table
are in :mod:`~robo_orch.behaviors.dwa_sampling`, the rollouts and their clearance
in :mod:`~robo_orch.behaviors.dwa_rollout`.  This module holds the parameters,
the activation, the window and the turn in place.

Activation, from ``c`` = the robot's clearance (field distance at the robot
centre minus ROBOT_RADIUS): 0 when ``c >= activation_clearance`` (or the field
is at its cap, or not valid), rising linearly to 1 at
``full_activation_clearance``; 0 when GOAL_REACHED or there is no path.  Every
distance here is from the robot's surface, so a larger robot engages as early.
An inactive kernel returns at once without rolling anything out.
Diagnostics: ``out[2]`` best score, ``out[3]`` number of rollouts simulated.
The state array is scratch for the per-yaw-rate data (see :meth:`new_state`).

Note: the field is bilinear between cell centres, which can over-estimate the
clearance next to a point by up to ``res / sqrt(2)`` (see
:mod:`robo_orch.core.field`); ``collision_margin`` plus the safety layer's
check against the raw scan cover that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numba
import numpy as np

from robo_orch.behavior import Behavior, param_index
from robo_orch.behaviors.dwa_rollout import FOOTPRINT_LEN
from robo_orch.behaviors.dwa_sampling import PER_W, sample, speed_sample, state_size_for, yaw_table
from robo_orch.behaviors.dwa_search import best_forward, best_reverse
from robo_orch.core.field import field_value
from robo_orch.core.world import (
    BASE_HOLONOMIC,
    BASE_KIND,
    FIELD_CAP,
    FIELD_RES,
    FIELD_VALID,
    FIELD_X0,
    FIELD_Y0,
    GOAL_REACHED,
    OUT_V,
    OUT_VY,
    OUT_W,
    PATH_COUNT,
    ROBOT_RADIUS,
    TARGET_X,
    TARGET_Y,
    VY,
    YAW,
    V,
    W,
    X,
    Y,
    kernel_signature,
)
from robo_orch.schema import check_order, option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`AvoidObstacles`."""

    max_speed: float = option(0.6, gt=0, le=10, doc="forward speed limit of the window, m/s",
                              live=True)
    max_yaw_rate: float = option(1.5, gt=0, le=20, doc="yaw rate limit of the window, rad/s",
                                 live=True)
    max_accel: float = option(1.0, gt=0, le=50, doc="forward acceleration, m/s^2", live=True)
    max_yaw_accel: float = option(3.0, gt=0, le=100, doc="yaw acceleration, rad/s^2", live=True)
    window_s: float = option(0.3, gt=0, le=5,
                             doc="the window is reachable within this time, s", live=True)
    v_samples: int = option(21, ge=2, le=201, doc="speed samples across the window", live=True)
    w_samples: int = option(21, ge=2, le=201, doc="yaw rate samples across the window")
    steps: int = option(30, ge=1, le=1000, doc="rollout length, steps", live=True)
    rollout_dt: float = option(0.1, gt=0, le=2, doc="rollout step, s", live=True)
    heading_weight: float = option(0.5, ge=0, doc="weight of the final alignment with the target",
                                   live=True)
    progress_weight: float = option(2.0, ge=0,
                                    doc="weight of the distance gained toward the target, as a "
                                        "fraction of max_speed * rollout time", live=True)
    clearance_weight: float = option(0.4, ge=0, doc="weight of the minimum clearance, 1/m",
                                     live=True)
    speed_weight: float = option(0.3, ge=0, doc="weight of the speed, s/m", live=True)
    clearance_cap: float = option(0.8, gt=0, le=20,
                                  doc="clearance beyond this scores no higher, m", live=True)
    collision_margin: float = option(0.07, ge=0, le=5,
                                     doc="reject rollouts whose clearance (beyond the robot "
                                         "radius) drops below this, m", live=True)
    activation_clearance: float = option(1.0, gt=0, le=50,
                                         doc="start taking part when an obstacle is this "
                                             "close to the robot's surface, m", live=True)
    full_activation_clearance: float = option(0.3, ge=0, le=50,
                                              doc="full activation at this distance from the "
                                                  "robot's surface, m", live=True)
    recovery_yaw_rate: float = option(0.8, gt=0, le=20,
                                      doc="turn-in-place rate when every rollout collides, rad/s",
                                      live=True)
    probe_clearance: float = option(0.4, gt=0, le=20,
                                    doc="the open side is probed this far beyond the robot's "
                                        "surface, m", live=True)
    max_reverse: float = option(0.0, ge=0, le=10,
                                doc="reverse speed limit of the window, m/s; 0: never "
                                    "reverses (keep it within safety.max_reverse, which the "
                                    "safety layer enforces)", live=True)
    vy_samples: int = option(3, ge=1, le=51,
                             doc="lateral speed samples across the window (holonomic bases "
                                 "only; the others sample vy = 0)", live=True)

    #: keys once measured from the robot centre, now from its surface (refused at load)
    CENTRE_KEYS: ClassVar[dict[str, str]] = {
        "activation_range": "activation_clearance",
        "activation_full": "full_activation_clearance",
        "probe_distance": "probe_clearance",
    }

    def validate(self, source: str, prefix: str) -> None:
        """Cross-field checks."""
        check_order(self, source, prefix, "full_activation_clearance", "activation_clearance",
                    strict=True)


_P = param_index(Params)
P_MAX_SPEED = _P["max_speed"]
P_MAX_YAW_RATE = _P["max_yaw_rate"]
P_MAX_ACCEL = _P["max_accel"]
P_MAX_YAW_ACCEL = _P["max_yaw_accel"]
P_WINDOW_S = _P["window_s"]
P_V_SAMPLES = _P["v_samples"]
P_W_SAMPLES = _P["w_samples"]
P_STEPS = _P["steps"]
P_ROLLOUT_DT = _P["rollout_dt"]
P_HEADING_WEIGHT = _P["heading_weight"]
P_PROGRESS_WEIGHT = _P["progress_weight"]
P_CLEARANCE_WEIGHT = _P["clearance_weight"]
P_SPEED_WEIGHT = _P["speed_weight"]
P_CLEARANCE_CAP = _P["clearance_cap"]
P_COLLISION_MARGIN = _P["collision_margin"]
P_ACTIVATION_CLEARANCE = _P["activation_clearance"]
P_FULL_ACTIVATION_CLEARANCE = _P["full_activation_clearance"]
P_RECOVERY_YAW_RATE = _P["recovery_yaw_rate"]
P_PROBE_CLEARANCE = _P["probe_clearance"]
P_MAX_REVERSE = _P["max_reverse"]
P_VY_SAMPLES = _P["vy_samples"]

_SQRT_HALF = math.sqrt(0.5)


@numba.njit(kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """DWA toward (TARGET_X, TARGET_Y); see the module docstring."""
    ws = world[0]
    field = world[2]
    fp = world[4]
    fp_off = idx[0] + 1 if idx.shape[0] > 0 else 0  # the first circle's ox
    nc = int(fp[idx[0]]) if idx.shape[0] > 0 else 0  # 0: the circle of ROBOT_RADIUS
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    out[OUT_VY] = 0.0
    out[2] = 0.0
    out[3] = 0.0
    if ws[GOAL_REACHED] != 0.0 or ws[PATH_COUNT] < 1.0 or ws[FIELD_VALID] == 0.0:
        return 0.0
    x = ws[X]
    y = ws[Y]
    cap = ws[FIELD_CAP]
    fx0 = ws[FIELD_X0]
    fy0 = ws[FIELD_Y0]
    inv = 1.0 / ws[FIELD_RES]

    d_near = field_value(field, fx0, fy0, inv, cap, x, y)
    radius = ws[ROBOT_RADIUS]  # the activation distances are from the robot's surface
    a_range = params[P_ACTIVATION_CLEARANCE] + radius
    a_full = params[P_FULL_ACTIVATION_CLEARANCE] + radius
    if d_near >= cap or d_near >= a_range:
        return 0.0
    activation = min((a_range - d_near) / (a_range - a_full), 1.0)

    nv = int(params[P_V_SAMPLES])
    nw = int(params[P_W_SAMPLES])
    holonomic = ws[BASE_KIND] == BASE_HOLONOMIC
    nvy = max(int(params[P_VY_SAMPLES]), 1) if holonomic else 1
    if state.shape[0] < PER_W * nw:
        raise ValueError("avoid_obstacles: state too small; use AvoidObstacles.new_state")
    win = params[P_WINDOW_S]
    v_max = params[P_MAX_SPEED]
    w_max = params[P_MAX_YAW_RATE]
    dv = params[P_MAX_ACCEL] * win
    dw = params[P_MAX_YAW_ACCEL] * win
    v_lo = min(max(ws[V] - dv, 0.0), v_max)
    v_hi = min(max(ws[V] + dv, 0.0), v_max)
    vy_lo = 0.0
    vy_hi = 0.0
    if nvy > 1:
        vy_lo = min(max(ws[VY] - dv, -v_max), v_max)
        vy_hi = min(max(ws[VY] + dv, -v_max), v_max)
    speed2 = v_max * v_max
    w_lo = min(max(ws[W] - dw, -w_max), w_max)
    w_hi = min(max(ws[W] + dw, -w_max), w_max)
    steps = int(params[P_STEPS])
    dt = params[P_ROLLOUT_DT]
    margin = params[P_COLLISION_MARGIN]
    clear_cap = params[P_CLEARANCE_CAP]
    hw = params[P_HEADING_WEIGHT]
    pw = params[P_PROGRESS_WEIGHT]
    cw = params[P_CLEARANCE_WEIGHT]
    sw = params[P_SPEED_WEIGHT]
    tx = ws[TARGET_X]
    ty = ws[TARGET_Y]
    c0 = math.cos(ws[YAW])
    s0 = math.sin(ws[YAW])
    d0 = math.sqrt((tx - x) * (tx - x) + (ty - y) * (ty - y))
    inv_reach = 1.0 / (v_max * steps * dt)

    yaw_table(state, c0, s0, w_lo, w_hi, nw, steps, dt)
    best, best_k, rollouts = best_forward(field, fx0, fy0, inv, cap, x, y, c0, s0, v_lo, v_hi, nv,
                                          vy_lo, vy_hi, nvy, nw, state, steps, dt, speed2, v_max,
                                          radius, margin, fp, fp_off, nc, tx, ty, hw, pw, cw, sw,
                                          clear_cap, d0, inv_reach)
    if best_k < 0 and params[P_MAX_REVERSE] > 0.0:
        rollouts += best_reverse(field, fx0, fy0, inv, cap, x, y, c0, s0, ws[V] - dv, ws[V] + dv,
                                 params[P_MAX_REVERSE], nv, vy_lo, vy_hi, nvy, w_lo, w_hi, nw,
                                 state, steps, dt, radius, min(margin, d_near - radius), tx,
                                 ty, hw, cw, clear_cap, v_max, out)
        if out[OUT_V] < 0.0:
            out[3] = rollouts
            return activation
    if best_k < 0:
        r = params[P_PROBE_CLEARANCE] + radius
        left = 0.0
        right = 0.0
        for k in range(2):  # 90 and 45 degrees to each side
            if k == 0:
                ux = -s0
                uy = c0
            else:
                ux = _SQRT_HALF * (c0 - s0)
                uy = _SQRT_HALF * (s0 + c0)
            left += field_value(field, fx0, fy0, inv, cap, x + r * ux, y + r * uy)
            # mirror of u about the heading: 2 (u . h) h - u
            dot = ux * c0 + uy * s0
            right += field_value(field, fx0, fy0, inv, cap, x + r * (2.0 * dot * c0 - ux),
                                  y + r * (2.0 * dot * s0 - uy))
        rate = min(params[P_RECOVERY_YAW_RATE], w_max)
        out[OUT_W] = rate if left >= right else -rate
    else:
        out[OUT_V] = speed_sample(v_lo, v_hi, best_k % nv, nv, v_max)
        out[OUT_W] = sample(w_lo, w_hi, best_k // (nv * nvy), nw)
        if nvy > 1:
            out[OUT_VY] = speed_sample(vy_lo, vy_hi, (best_k // nv) % nvy, nvy, v_max)
        out[2] = best
    out[3] = rollouts
    return activation


class AvoidObstacles(Behavior):
    """Dynamic window local planner that steers around obstacles in the field."""

    kind = "avoid_obstacles"
    Params = Params
    kernel = step
    reads = ("x", "y", "yaw", "v", "w", "target_x", "target_y", "goal_reached", "path_count",
             "field_x0", "field_y0", "field_res", "field_cap", "field_valid", "robot_radius",
             "field", "vy", "base_kind")
    arrays = {"footprint": FOOTPRINT_LEN}
    state_size = state_size_for(21)
    blendable = True

    @classmethod
    def make_service(cls, params: Any, config: Any, world: Any, *,
                     deterministic: bool = False) -> None:
        """Write the robot's footprint circles into the ``footprint`` array (none for a
        round robot: ``n = 0``, the kernel uses ROBOT_RADIUS)."""
        robot = getattr(config, "robot", None)
        layout = getattr(config, "layout", None)
        if robot is None or layout is None or "footprint" not in layout.names:
            return None
        off = layout.names["footprint"].index
        view = world.user[off:off + FOOTPRINT_LEN]
        view[:] = 0.0
        if getattr(robot, "footprint", ()):
            circles = robot.circles()[0][:12]
            view[0] = len(circles)
            for i, c in enumerate(circles):
                view[1 + 3 * i:4 + 3 * i] = c
        return None

    @classmethod
    def new_state(cls, params: Any) -> np.ndarray:
        """Scratch for the per-yaw-rate rollout data, sized from ``w_samples``."""
        n = params.w_samples if params is not None else 21
        return np.zeros(state_size_for(n), dtype=np.float64)
