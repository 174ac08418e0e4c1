"""The DWA's rollouts and their scores (``avoid_obstacles``): clearance and goal terms.

A rollout holds one command for ``steps`` steps: each step moves by the body
displacement (``ds`` forward, ``dsy`` left) turned by the heading at the start of
the step, then the heading (a unit vector) turns by the precomputed rotation
(``rc``, ``rs``), with no trigonometry per step.  After each step the clearance
is ``field_distance - ROBOT_RADIUS`` (:func:`lowest_clearance`), or for a polygon
footprint the least ``field_distance(centre) - r`` of the circles covering it,
riding along with the rollout's pose (the same function; the circles
are the behavior's user array ``footprint``: ``n``, then ``ox, oy, r`` per
circle).  :func:`goal_score` scores the final pose's heading and progress.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core.field import interp_field

FOOTPRINT_LEN = 37  #: the ``footprint`` user array: n, then (ox, oy, r) for up to 12 circles


@numba.njit(cache=True, inline="always")
def goal_score(x, y, tx, ty, hc, hs, hw, pw, d0, inv_reach):
    """Heading and progress terms for a rollout ending at (x, y) with heading (hc, hs).

    alignment: cos of the angle between the final heading and the direction to
    the target; progress: distance gained toward the target / (max_speed * T).
    """
    gx = tx - x
    gy = ty - y
    dist = math.sqrt(gx * gx + gy * gy)
    align = (hc * gx + hs * gy) / dist if dist > 1e-9 else 1.0
    return hw * align + pw * (d0 - dist) * inv_reach


# (a signature: callers passing a literal 0 for ``off`` and ``nc`` get this one compile)
@numba.njit("float64(float64[:, ::1], " + "float64, " * 12 + "int64, float64, float64[::1], "
            "int64, int64, float64)", cache=True)
def lowest_clearance(field, fx0, fy0, inv, cap, x, y, c0, s0, ds, dsy, rc, rs, steps, radius,
                     fp, off, nc, margin):
    """Minimum clearance along one rollout (stops early once below ``margin``).

    Each step moves by the body displacement (``ds`` forward, ``dsy`` left) turned
    by the heading at the start of the step.  ``nc`` = 0: the round robot of
    ``radius``; else the circles ``fp[off + 3 i : off + 3 i + 3]`` (body frame)
    riding along with the rollout's pose.  (One function for both: a round robot's
    cold start compiles no second rollout, ~0.5 s.)
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
        for i in range(max(nc, 1)):  # (one inlined field lookup: each costs compile time)
            ox = 0.0
            oy = 0.0
            r = radius
            if nc > 0:
                ox = fp[off + 3 * i]
                oy = fp[off + 3 * i + 1]
                r = fp[off + 3 * i + 2]
            # (a round robot's offset is 0: px + 0.0 - 0.0 is px, bit for bit)
            clear = interp_field(field, fx0, fy0, inv, cap, px + hc * ox - hs * oy,
                                 py + hs * ox + hc * oy) - r
            if clear < lowest:
                lowest = clear
                if clear < margin:
                    return lowest
    return lowest
