"""The DWA's searches (``avoid_obstacles``): forward branch and bound, reverse when boxed in.

:func:`best_forward` finds the best admissible forward sample with the same
result as trying every sample: the heading and progress terms need only the final
pose, so each sample's best possible score (at full clearance) is known before
its rollout; yaw rates are visited from the most promising and rollouts that
cannot win are skipped.  :func:`best_reverse` tries the reverse speeds when no
forward sample is admissible.  Ties go to the first sample in (w, vy, v) order,
as in an exhaustive search.
"""

from __future__ import annotations

import math

import numba

from robo_orch.behaviors.dwa_rollout import goal_score, lowest_clearance
from robo_orch.behaviors.dwa_sampling import (
    BOUND,
    DONE,
    HC,
    HS,
    PER_W,
    RC,
    RS,
    SX,
    SY,
    sample,
    skipped,
    speed_sample,
)
from robo_orch.core.field import field_value
from robo_orch.core.world import OUT_V, OUT_VY, OUT_W


@numba.njit(cache=True)
def best_forward(field, fx0, fy0, inv, cap, x, y, c0, s0, v_lo, v_hi, nv, vy_lo, vy_hi, nvy, nw,
                 state, steps, dt, speed2, v_max, radius, margin, fp, fp_off, nc, tx, ty, hw, pw,
                 cw, sw, clear_cap, d0, inv_reach):
    """(best score, its sample index ``k = (iw * nvy + ivy) * nv + iv`` or -1, rollouts).

    ``state`` holds the per-yaw-rate table (:func:`~robo_orch.behaviors.dwa_sampling.yaw_table`);
    this fills in each row's bound.  ``nc`` > 0: the footprint circles
    ``fp[fp_off:]``, else the round robot of ``radius``.
    """
    # the best score any sample of each yaw rate could reach (at full clearance)
    for iw in range(nw):
        row = PER_W * iw
        sx = state[row + SX]
        sy = state[row + SY]
        hc = state[row + HC]
        hs = state[row + HS]
        top = -math.inf
        for ivy in range(nvy):
            vy = speed_sample(vy_lo, vy_hi, ivy, nvy, v_max)
            dsy = vy * dt
            for iv in range(nv):
                v = speed_sample(v_lo, v_hi, iv, nv, v_max)
                if skipped(v, vy, speed2):
                    continue  # standing still is never chosen (avoid_obstacles' docstring)
                ds = v * dt
                goal = goal_score(x + ds * sx - dsy * sy, y + ds * sy + dsy * sx, tx, ty, hc,
                                  hs, hw, pw, d0, inv_reach)
                top = max(top, goal + cw * clear_cap + sw * v)
        state[row + BOUND] = top

    # Branch and bound: visit yaw rates from the most promising, roll out only
    # samples whose bound can still beat (or tie-win against) the best so far.
    best = -math.inf
    best_k = -1
    rollouts = 0
    for _ in range(nw):
        iw = -1
        top = -math.inf
        for j in range(nw):
            row = PER_W * j
            if state[row + DONE] == 0.0 and (iw < 0 or state[row + BOUND] > top):
                iw = j
                top = state[row + BOUND]
        if top < best:
            break  # no remaining sample can reach the best score
        row = PER_W * iw
        state[row + DONE] = 1.0
        rc = state[row + RC]
        rs = state[row + RS]
        sx = state[row + SX]
        sy = state[row + SY]
        hc = state[row + HC]
        hs = state[row + HS]
        for ivy in range(nvy):
            vy = speed_sample(vy_lo, vy_hi, ivy, nvy, v_max)
            dsy = vy * dt
            for iv in range(nv - 1, -1, -1):  # fast first: usually the better bound
                k = (iw * nvy + ivy) * nv + iv
                v = speed_sample(v_lo, v_hi, iv, nv, v_max)
                if skipped(v, vy, speed2):
                    continue
                ds = v * dt
                goal = goal_score(x + ds * sx - dsy * sy, y + ds * sy + dsy * sx, tx, ty, hc,
                                  hs, hw, pw, d0, inv_reach)
                bound = goal + cw * clear_cap + sw * v
                if bound < best or (bound == best and k > best_k):
                    continue
                rollouts += 1
                lowest = lowest_clearance(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy, rc,
                                          rs, steps, radius, fp, fp_off, nc, margin)
                if lowest < margin:
                    continue
                score = goal + cw * min(lowest, clear_cap) + sw * v
                if score > best or (score == best and k < best_k):
                    best = score
                    best_k = k
    return best, best_k, rollouts


@numba.njit(cache=True)
def best_reverse(field, fx0, fy0, inv, cap, x, y, c0, s0, lo, hi, max_reverse, nv, vy_lo, vy_hi,
                 nvy, w_lo, w_hi, nw, state, steps, dt, radius, margin, tx, ty, hw, cw, clear_cap,
                 v_max, out):
    """Boxed in: the best reverse sample into ``out`` (OUT_V < 0), if any; the rollouts.

    Samples ``v`` < 0 across [max(lo, -max_reverse), min(hi, 0)], with the lateral
    speed no faster than ``v_max`` overall (``state`` holds the per-yaw-rate data of
    the forward search).  A reverse rollout is admissible
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
        row = PER_W * iw
        rc = state[row + RC]
        rs = state[row + RS]
        sx = state[row + SX]
        sy = state[row + SY]
        hc = state[row + HC]
        hs = state[row + HS]
        for ivy in range(nvy):
            vy = speed_sample(vy_lo, vy_hi, ivy, nvy, v_max)
            dsy = vy * dt
            for iv in range(nv):
                v = speed_sample(r_lo, r_hi, iv, nv, v_max)
                if v >= 0.0 or v * v + vy * vy > v_max * v_max:
                    continue  # (a reverse sample too is never faster than max_speed overall)
                ds = v * dt
                rollouts += 1
                lowest = lowest_clearance(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy, rc,
                                          rs, steps, radius, state, 0, 0, margin)
                if lowest < margin:
                    continue
                fx = x + ds * sx - dsy * sy
                fy = y + ds * sy + dsy * sx
                room = field_value(field, fx0, fy0, inv, cap, fx, fy) - radius
                score = goal_score(fx, fy, tx, ty, hc, hs, hw, 0.0, 0.0, 0.0) \
                    + cw * min(room, clear_cap)
                if score > best:
                    best = score
                    out[OUT_V] = v
                    out[OUT_VY] = vy
                    out[OUT_W] = sample(w_lo, w_hi, iw, nw)
                    out[2] = score
    return rollouts
