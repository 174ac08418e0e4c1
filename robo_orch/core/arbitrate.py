"""Arbitration: one command from the behaviors' proposals.

Inputs, one row or entry per behavior ``i`` (``n`` behaviors):

``proposals[i, OUT_V], proposals[i, OUT_W]``  the last proposal of behavior ``i``
    (a behavior not run this tick keeps its last proposal)
``activations[i]``  its last activation, 0 = no proposal, 1 = wants full control
``enabled[i]``, ``priorities[i]`` (higher wins), ``blendable[i]``

Semantics:

* A behavior is *active* when it is enabled and its activation is > 0 (a NaN
  activation is not active).
* The order is descending priority, ties broken by lower index first.  The
  *winner* is the first active behavior in that order.
* Winner not blendable: the command is its proposal unchanged
  (``out = [v, w, 1, 1]``).
* Winner blendable: a cascade walks the active behaviors in that order, starting
  at the winner, and stops at the first active non-blendable one (behaviors below
  it take no part).  Each blendable behavior takes the weight
  ``a_i * remaining`` with ``a_i = min(activation, 1)``, then
  ``remaining *= 1 - a_i`` (``remaining`` starts at 1).  The command is the
  weighted sum of proposals divided by the sum of weights.  A behavior with
  activation 1 therefore takes all the remaining weight and ends the blend.
  ``out[2]`` is the sum of weights, ``out[3]`` the number of behaviors with a
  weight > 0.
* No active behavior: returns -1 and ``out = [0, 0, 0, 0]``.

``out`` is float64[4] or longer: v, w, total weight, number of blended behaviors;
with room for it (``out[4]``), the lateral speed ``proposals[:, OUT_VY]`` of a
holonomic base, chosen and blended like v (a wheeled base's kernels leave it 0).
The blended command, like any other, still goes through :mod:`robo_orch.core.safety`.
"""

from __future__ import annotations

import numba

from robo_orch.core.world import OUT_V, OUT_VY, OUT_W

#: weights whose total is below TINY_TOTAL are blended times LIFT (a power of two: exact),
#: so that their products with the proposals keep every bit (subnormal activations); each
#: is then below 2**200, and a product overflows only for a proposal beyond 1e248
TINY_TOTAL = 2.0 ** -400
LIFT = 2.0 ** 600

_ARBITRATE_SIG = (
    "int64(float64[:, ::1], float64[::1], uint8[::1], int64[::1], uint8[::1], float64[::1])"
)


# (a signature: the callers' literal -1 would compile two more specialisations)
@numba.njit("boolean(int64, int64, int64, int64)", cache=True, error_model="numpy")
def _precedes(pa, ia, pb, ib):
    """True if behavior a (priority pa, index ia) comes before b in arbitration order."""
    return pa > pb or (pa == pb and ia < ib)


@numba.njit(_ARBITRATE_SIG, cache=True, error_model="numpy")
def arbitrate(proposals, activations, enabled, priorities, blendable, out):
    """Combine the proposals into ``out`` (v, w, total weight, count[, vy]); return the
    winner or -1."""
    n = activations.shape[0]
    lateral = out.shape[0] > 4
    winner = -1
    for i in range(n):
        if enabled[i] != 0 and activations[i] > 0.0 and (
            winner < 0 or _precedes(priorities[i], i, priorities[winner], winner)
        ):
            winner = i
    if winner < 0:
        out[0] = 0.0
        out[1] = 0.0
        out[2] = 0.0
        out[3] = 0.0
        if lateral:
            out[4] = 0.0
        return -1
    if blendable[winner] == 0:
        out[0] = proposals[winner, OUT_V]
        out[1] = proposals[winner, OUT_W]
        out[2] = 1.0
        out[3] = 1.0
        if lateral:
            out[4] = proposals[winner, OUT_VY]
        return winner

    # Cascade in arbitration order without sorting: repeatedly pick the next
    # active behavior after ``cur`` (n is small; O(n^2) allocates nothing).
    remaining = 1.0
    sum_v = 0.0
    sum_w = 0.0
    sum_vy = 0.0
    lift_v = 0.0  # the same sums with every weight times LIFT
    lift_w = 0.0
    lift_vy = 0.0
    total = 0.0
    count = 0
    cur = winner
    while cur >= 0:
        if blendable[cur] == 0:
            break
        a = min(activations[cur], 1.0)
        weight = a * remaining
        if weight > 0.0:
            sum_v += weight * proposals[cur, OUT_V]
            sum_w += weight * proposals[cur, OUT_W]
            sum_vy += weight * proposals[cur, OUT_VY]
            lifted = weight * LIFT
            lift_v += lifted * proposals[cur, OUT_V]
            lift_w += lifted * proposals[cur, OUT_W]
            lift_vy += lifted * proposals[cur, OUT_VY]
            total += weight
            count += 1
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
    norm = total
    if total < TINY_TOTAL:  # a product of such weights may have lost bits; lifted, none did
        sum_v = lift_v
        sum_w = lift_w
        sum_vy = lift_vy
        norm = total * LIFT
    out[0] = sum_v / norm
    out[1] = sum_w / norm
    out[2] = total
    out[3] = count
    if lateral:
        out[4] = sum_vy / norm
    return winner
