"""Arbitration of a ``joints`` command space: one n-joint proposal from its behaviors.

The same rules as :func:`robo_orch.core.arbitrate.arbitrate` (descending priority,
ties to the lower index; a non-blendable winner's proposal unchanged; a blendable
winner blended in cascade with the active blendable behaviors below it, each
weighted ``min(activation, 1) x remaining``), applied to every column ``j <
out.shape[0]`` of ``proposals``: ``out[j]`` is joint ``j``'s target (position mode)
or velocity (velocity mode).  ``proposals`` has one row per behavior of the space,
at least as many columns as ``out`` (rows of ``max(OUT_LEN, n)``).

No active behavior: returns -1 and leaves ``out`` unchanged (the caller holds).
The result goes through :func:`robo_orch.core.safety_joints.safety_joints`.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core.arbitrate import _precedes, cascade_step, cascade_total

_SIG = "int64(float64[:, ::1], float64[::1], uint8[::1], int64[::1], uint8[::1], float64[::1])"


@numba.njit(_SIG, cache=True, error_model="numpy")
def arbitrate_joints(proposals, activations, enabled, priorities, blendable, out):
    """Combine the proposals of a joints space into ``out``; return the winner or -1."""
    n = activations.shape[0]
    m = min(out.shape[0], proposals.shape[1])
    winner = -1
    for i in range(n):
        if enabled[i] != 0 and activations[i] > 0.0 and (
            winner < 0 or _precedes(priorities[i], i, priorities[winner], winner)
        ):
            winner = i
    if winner < 0:
        return -1
    if blendable[winner] == 0:
        for j in range(m):
            out[j] = proposals[winner, j]
        return winner
    # as arbitrate does: the weights scaled by a power of two that brings the total to
    # [0.5, 1) (exact), so tiny weights still blend within the proposals' range
    total, _ = cascade_total(activations, enabled, priorities, blendable, winner)
    shift = -math.frexp(total)[1]
    for j in range(m):
        out[j] = 0.0
    remaining = 1.0
    cur = winner
    while cur >= 0:
        weight, nxt, remaining = cascade_step(activations, enabled, priorities, blendable,
                                              cur, remaining)
        if weight > 0.0:
            scaled = math.ldexp(weight, shift)
            for j in range(m):
                out[j] += scaled * proposals[cur, j]
        cur = nxt
    norm = math.ldexp(total, shift)
    for j in range(m):
        out[j] /= norm
    return winner
