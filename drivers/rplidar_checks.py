"""RPLIDAR scan nodes: the checks a node and the step to the next must pass.

Used by :class:`robo_orch.drivers.rplidar_protocol.RplidarParser` (see its module
docstring for the rules); kept apart so that the parser module holds the
protocol and this one the tables that make the checks fast.
"""

from __future__ import annotations

import functools

import numpy as np

#: angle_q6 of a full turn; a node at or beyond it is damaged
ANGLE_Q6_TURN = 360 * 64

# the steps a node may take from the one before (q6): forwards only (the head turns
# one way and measures in order), at most two mean steps of the last revolution
# (2 deg at least); until a revolution is known, two mean steps of the nodes
# returned so far, and 180 deg before any
LOCKED_BACK = 0
LOCKED_FORWARD_MIN = 2 * 64
START_WITHIN = 30 * 64  # a re-lock takes a start flag only this near 0 deg (q6)
MIN_REV = 8  # fewer nodes from one start flag to the next: a false start, not learnt
#: by a node's first byte: S != !S
B0_OK = np.array([(b ^ (b >> 1)) & 1 == 1 for b in range(256)])
#: by its bytes 1-2 (little-endian): C == 1 and the angle below 360 deg
AC_OK = np.array([(v & 1) == 1 and v >> 1 < ANGLE_Q6_TURN for v in range(65536)])


def forward_limit(span: int, steps: int) -> int:
    """The largest forward step accepted when ``steps`` steps cover ``span`` (q6): two mean
    steps, 2 deg at least, rounded up to a quarter degree (so a few tables serve all)."""
    mean2 = -(-2 * span // max(steps, 1) // 16) * 16
    return min(ANGLE_Q6_TURN // 2, max(LOCKED_FORWARD_MIN, mean2))


@functools.lru_cache(maxsize=64)
def step_table(forward: int) -> np.ndarray:
    """Which angle steps (a uint16 difference of angle_q6) a locked stream accepts: up to
    ``forward``, and up to twice that over 360 deg (a revolution may start anywhere
    within its first step, so the step across the start can be twice as long)."""
    ok = np.zeros(65536, dtype=bool)
    wrap = 65536 - ANGLE_Q6_TURN  # a step over 360 deg shows as wrap + step
    ok[1:forward + 1] = True
    ok[wrap + 1:wrap + min(2 * forward, ANGLE_Q6_TURN // 2) + 1] = True
    if LOCKED_BACK:
        ok[65536 - LOCKED_BACK:] = True
    return ok


def node_ok(u: np.ndarray, n: int, step: int) -> np.ndarray:
    """Check of ``n`` candidate nodes starting every ``step`` bytes of ``u``."""
    stop = step * (n - 1) + 1
    b0 = u[0:stop:step]
    b1 = u[1:stop + 1:step]
    b2 = u[2:stop + 2:step]
    bits = (b0 ^ (b0 >> 1)) & b1 & 1
    angle = (b2.astype(np.uint16) << 7) | (b1 >> 1)
    # (and a start flag only near 0 deg, where a revolution starts)
    near_start = (angle < START_WITHIN) | (angle > ANGLE_Q6_TURN - START_WITHIN)
    return (bits == 1) & (angle < ANGLE_Q6_TURN) & (((b0 & 1) == 0) | near_start)
