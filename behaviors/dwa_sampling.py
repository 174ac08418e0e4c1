"""The DWA's velocity samples (``avoid_obstacles``) and its per-yaw-rate table.

The window of each speed is sampled evenly, both ends included: (v, w) on a
wheeled base, (vx, vy, w) on a holonomic one (``vy`` sampled only there), and
the reverse speeds below 0 when boxed in.  A speed window that straddles 0
samples it exactly (:func:`speed_sample`), so standing still is recognised.

Per yaw-rate sample the kernel keeps, in the behavior's state array (scratch on
each call), the rotation per rollout step, the sum of the headings the steps use,
the final heading (so any sample's final pose is ``x + v dt * sum``), the best
score any of its samples could reach and whether it was searched; see
:func:`yaw_table`.
"""

from __future__ import annotations

import math

import numba

# per yaw-rate sample, in the behavior's state (used as scratch each run)
RC, RS, SX, SY, HC, HS, BOUND, DONE = range(8)
PER_W = 8


def state_size_for(w_samples: int) -> int:
    """Length of the state array the kernel needs for ``w_samples`` yaw rates."""
    return PER_W * int(w_samples)


@numba.njit(cache=True, inline="always")
def sample(lo, hi, k, n):
    """The k-th of n evenly spaced values from lo to hi."""
    return min(lo + (hi - lo) * k / (n - 1), hi)


@numba.njit(cache=True, inline="always")
def speed_sample(lo, hi, k, n, scale):
    """:func:`sample` of a speed window, exactly 0 within ``1e-9 scale`` of it.

    A window that straddles 0 (reverse, or a lateral speed) samples 0 up to
    rounding; snapped, that sample is recognised as standing still.
    """
    if n < 2:
        return lo
    v = sample(lo, hi, k, n)
    return 0.0 if abs(v) < 1e-9 * scale else v


@numba.njit(cache=True, inline="always")
def skipped(v, vy, speed2):
    """Whether the forward sample (v, vy) is never chosen: standing still, or faster
    than ``sqrt(speed2)`` overall."""
    return (v == 0.0 and vy == 0.0) or v * v + vy * vy > speed2


@numba.njit(cache=True)
def yaw_table(state, c0, s0, w_lo, w_hi, nw, steps, dt):
    """Per yaw-rate sample into ``state``: rotation per step, heading sums, final heading.

    The rollout starts with heading (c0, s0); the bound is left to the caller and
    each row is marked not yet searched.
    """
    for iw in range(nw):
        w = sample(w_lo, w_hi, iw, nw)
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
        row = PER_W * iw
        state[row + RC] = rc
        state[row + RS] = rs
        state[row + SX] = sx
        state[row + SY] = sy
        state[row + HC] = hc
        state[row + HS] = hs
        state[row + DONE] = 0.0
