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

import numba

from robo_orch.core.arbitrate import LIFT, TINY_TOTAL, _precedes

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
    # blended as arbitrate does; a total below TINY_TOTAL blends again, each weight times LIFT
    lift = 1.0
    for _ in range(2):
        for j in range(m):
            out[j] = 0.0
        remaining = 1.0
        total = 0.0
        cur = winner
        while cur >= 0:
            if blendable[cur] == 0:
                break
            a = min(activations[cur], 1.0)
            weight = a * remaining
            if weight > 0.0:
                for j in range(m):
                    out[j] += weight * lift * proposals[cur, j]
                total += weight
            remaining *= 1.0 - a
            if remaining <= 0.0:
                break
            nxt = -1
            for i in range(n):
                if (
                    enabled[i] != 0
                    and activations[i] > 0.0
                    and _precedes(priorities[cur], cur, priorities[i], i)
                    and (nxt < 0 or _precedes(priorities[i], i, priorities[nxt], nxt))
                ):
                    nxt = i
            cur = nxt
        if total >= TINY_TOTAL:
            break
        lift = LIFT
    for j in range(m):
        out[j] /= total * lift
    return winner
