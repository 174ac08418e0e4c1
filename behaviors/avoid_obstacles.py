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

The search is a branch and bound with the same result as trying every sample:
the heading and progress terms need only the final pose, so each sample's best
possible score (at full clearance) is known before its rollout; yaw rates are
visited from the most promising and rollouts that cannot win are skipped.

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
from robo_orch.core.field import interp_field
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


@numba.njit(cache=True, inline="always")
def _sample(lo, hi, k, n):
    """The k-th of n evenly spaced values from lo to hi."""
    return min(lo + (hi - lo) * k / (n - 1), hi)


@numba.njit(cache=True, inline="always")
def _speed_sample(lo, hi, k, n, scale):
    """:func:`_sample` of a speed window, exactly 0 within ``1e-9 scale`` of it.

    A window that straddles 0 (reverse, or a lateral speed) samples 0 up to
    rounding; snapped, that sample is recognised as standing still.
    """
    if n < 2:
        return lo
    v = _sample(lo, hi, k, n)
    return 0.0 if abs(v) < 1e-9 * scale else v


@numba.njit(cache=True, inline="always")
def _goal_score(x, y, tx, ty, hc, hs, hw, pw, d0, inv_reach):
    """Heading and progress terms for a rollout ending at (x, y) with heading (hc, hs).

    alignment: cos of the angle between the final heading and the direction to
    the target; progress: distance gained toward the target / (max_speed * T).
    """
    gx = tx - x
    gy = ty - y
    dist = math.sqrt(gx * gx + gy * gy)
    align = (hc * gx + hs * gy) / dist if dist > 1e-9 else 1.0
    return hw * align + pw * (d0 - dist) * inv_reach


@numba.njit(cache=True)
def _lowest_clearance(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy, rc, rs, steps, radius,
                      margin):
    """Minimum clearance along one rollout (stops early once below ``margin``).

    Each step moves by the body displacement (``ds`` forward, ``dsy`` left) turned
    by the heading at the start of the step.
    """
    px = x
    py = y
    hc = c0
    hs = s0
    lowest = math.inf
    for _ in range(steps):
        px += ds * hc - dsy * hs
        py += ds * hs + dsy * hc
        t = hc * rc - hs * rs
        hs = hs * rc + hc * rs
        hc = t
        clear = interp_field(field, fx0, fy0, inv, cap, px, py) - radius
        if clear < lowest:
            lowest = clear
            if clear < margin:
                break
    return lowest


@numba.njit(cache=True)
def _lowest_clearance_fp(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy, rc, rs, steps, fp,
                         off, nc, margin):
    """:func:`_lowest_clearance` of the circles ``fp[off + 3 i : off + 3 i + 3]`` (body
    frame) riding along with the rollout's pose."""
    px = x
    py = y
    hc = c0
    hs = s0
    lowest = math.inf
    for _ in range(steps):
        px += ds * hc - dsy * hs
        py += ds * hs + dsy * hc
        t = hc * rc - hs * rs
        hs = hs * rc + hc * rs
        hc = t
        for i in range(nc):
            ox = fp[off + 3 * i]
            oy = fp[off + 3 * i + 1]
            clear = interp_field(field, fx0, fy0, inv, cap, px + hc * ox - hs * oy,
                                 py + hs * ox + hc * oy) - fp[off + 3 * i + 2]
            if clear < lowest:
                lowest = clear
                if clear < margin:
                    return lowest
    return lowest


FOOTPRINT_LEN = 37  #: the ``footprint`` user array: n, then (ox, oy, r) for up to 12 circles


# per yaw-rate sample, in the behavior's state (used as scratch each run)
_RC, _RS, _SX, _SY, _HC, _HS, _BOUND, _DONE = range(8)
_PER_W = 8


def state_size_for(w_samples: int) -> int:
    """Length of the state array the kernel needs for ``w_samples`` yaw rates."""
    return _PER_W * int(w_samples)


@numba.njit(cache=True)
def _reverse(field, fx0, fy0, inv, cap, x, y, c0, s0, lo, hi, max_reverse, nv, vy_lo, vy_hi,
             nvy, w_lo, w_hi, nw, state, steps, dt, radius, margin, tx, ty, hw, cw, clear_cap,
             v_max, out):
    """Boxed in: the best reverse sample into ``out`` (OUT_V < 0), if any; the rollouts.

    Samples ``v`` < 0 across [max(lo, -max_reverse), min(hi, 0)] (``state`` holds
    the per-yaw-rate data of the forward search).  A reverse rollout is admissible
    when its clearance stays at least ``margin`` (the caller passes the lower of
    the collision margin and the clearance where the robot is: a robot already
    within the margin may back out as long as it comes no closer).  Backing off gains nothing
    toward the target, so a reverse sample scores its final alignment plus the
    room it makes: ``heading_weight * align + clearance_weight * min(clearance
    at its end, clearance_cap)``; first in (w, vy, v) order on ties.
    """
    r_lo = max(lo, -max_reverse)
    r_hi = min(hi, 0.0)
    if r_lo >= r_hi:
        return 0
    best = -math.inf
    rollouts = 0
    for iw in range(nw):
        row = _PER_W * iw
        rc = state[row + _RC]
        rs = state[row + _RS]
        sx = state[row + _SX]
        sy = state[row + _SY]
        hc = state[row + _HC]
        hs = state[row + _HS]
        for ivy in range(nvy):
            vy = _speed_sample(vy_lo, vy_hi, ivy, nvy, v_max)
            dsy = vy * dt
            for iv in range(nv):
                v = _speed_sample(r_lo, r_hi, iv, nv, v_max)
                if v >= 0.0:
                    continue
                ds = v * dt
                rollouts += 1
                lowest = _lowest_clearance(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy, rc,
                                           rs, steps, radius, margin)
                if lowest < margin:
                    continue
                fx = x + ds * sx - dsy * sy
                fy = y + ds * sy + dsy * sx
                room = interp_field(field, fx0, fy0, inv, cap, fx, fy) - radius
                score = _goal_score(fx, fy, tx, ty, hc, hs, hw, 0.0, 0.0, 0.0) \
                    + cw * min(room, clear_cap)
                if score > best:
                    best = score
                    out[OUT_V] = v
                    out[OUT_VY] = vy
                    out[OUT_W] = _sample(w_lo, w_hi, iw, nw)
                    out[2] = score
    return rollouts


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

    d_near = interp_field(field, fx0, fy0, inv, cap, x, y)
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
    if state.shape[0] < _PER_W * nw:
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

    # Per yaw rate: the rotation per step, the sum of the headings the steps
    # use and the final heading (so any sample's final pose is x + v dt * sum),
    # and the best score any of its samples could reach (at full clearance).
    for iw in range(nw):
        w = _sample(w_lo, w_hi, iw, nw)
        rc = math.cos(w * dt)
        rs = math.sin(w * dt)
        hc = c0
        hs = s0
        sx = 0.0
        sy = 0.0
        for _ in range(steps):
            sx += hc
            sy += hs
            t = hc * rc - hs * rs
            hs = hs * rc + hc * rs
            hc = t
        top = -math.inf
        for ivy in range(nvy):
            vy = _speed_sample(vy_lo, vy_hi, ivy, nvy, v_max)
            dsy = vy * dt
            for iv in range(nv):
                v = _speed_sample(v_lo, v_hi, iv, nv, v_max)
                if (v == 0.0 and vy == 0.0) or v * v + vy * vy > speed2:
                    continue  # standing still is never chosen (see the module docstring)
                ds = v * dt
                goal = _goal_score(x + ds * sx - dsy * sy, y + ds * sy + dsy * sx, tx, ty, hc,
                                   hs, hw, pw, d0, inv_reach)
                top = max(top, goal + cw * clear_cap + sw * v)
        row = _PER_W * iw
        state[row + _RC] = rc
        state[row + _RS] = rs
        state[row + _SX] = sx
        state[row + _SY] = sy
        state[row + _HC] = hc
        state[row + _HS] = hs
        state[row + _BOUND] = top
        state[row + _DONE] = 0.0

    # Branch and bound: visit yaw rates from the most promising, roll out only
    # samples whose bound can still beat (or tie-win against) the best so far.
    # Ties go to the first sample in (w, v) order, as in an exhaustive search.
    best = -math.inf
    best_k = -1
    rollouts = 0
    for _ in range(nw):
        iw = -1
        top = -math.inf
        for j in range(nw):
            row = _PER_W * j
            if state[row + _DONE] == 0.0 and (iw < 0 or state[row + _BOUND] > top):
                iw = j
                top = state[row + _BOUND]
        if top < best:
            break  # no remaining sample can reach the best score
        row = _PER_W * iw
        state[row + _DONE] = 1.0
        rc = state[row + _RC]
        rs = state[row + _RS]
        sx = state[row + _SX]
        sy = state[row + _SY]
        hc = state[row + _HC]
        hs = state[row + _HS]
        for ivy in range(nvy):
            vy = _speed_sample(vy_lo, vy_hi, ivy, nvy, v_max)
            dsy = vy * dt
            for iv in range(nv - 1, -1, -1):  # fast first: usually the better bound
                k = (iw * nvy + ivy) * nv + iv
                v = _speed_sample(v_lo, v_hi, iv, nv, v_max)
                if (v == 0.0 and vy == 0.0) or v * v + vy * vy > speed2:
                    continue
                ds = v * dt
                goal = _goal_score(x + ds * sx - dsy * sy, y + ds * sy + dsy * sx, tx, ty, hc,
                                   hs, hw, pw, d0, inv_reach)
                bound = goal + cw * clear_cap + sw * v
                if bound < best or (bound == best and k > best_k):
                    continue
                rollouts += 1
                if nc == 0:
                    lowest = _lowest_clearance(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy,
                                               rc, rs, steps, radius, margin)
                else:
                    lowest = _lowest_clearance_fp(field, fx0, fy0, inv, cap, x, y, c0, s0, ds,
                                                  dsy, rc, rs, steps, fp, fp_off, nc, margin)
                if lowest < margin:
                    continue
                score = goal + cw * min(lowest, clear_cap) + sw * v
                if score > best or (score == best and k < best_k):
                    best = score
                    best_k = k

    if best_k < 0 and params[P_MAX_REVERSE] > 0.0:
        rollouts += _reverse(field, fx0, fy0, inv, cap, x, y, c0, s0, ws[V] - dv, ws[V] + dv,
                             params[P_MAX_REVERSE], nv, vy_lo, vy_hi, nvy, w_lo, w_hi, nw,
                             state, steps, dt, radius, min(margin, d_near - radius), tx, ty,
                             hw, cw, clear_cap, v_max, out)
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
            left += interp_field(field, fx0, fy0, inv, cap, x + r * ux, y + r * uy)
            # mirror of u about the heading: 2 (u . h) h - u
            dot = ux * c0 + uy * s0
            right += interp_field(field, fx0, fy0, inv, cap, x + r * (2.0 * dot * c0 - ux),
                                  y + r * (2.0 * dot * s0 - uy))
        rate = min(params[P_RECOVERY_YAW_RATE], w_max)
        out[OUT_W] = rate if left >= right else -rate
    else:
        out[OUT_V] = _speed_sample(v_lo, v_hi, best_k % nv, nv, v_max)
        out[OUT_W] = _sample(w_lo, w_hi, best_k // (nv * nvy), nw)
        if nvy > 1:
            out[OUT_VY] = _speed_sample(vy_lo, vy_hi, (best_k // nv) % nvy, nvy, v_max)
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
