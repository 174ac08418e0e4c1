"""Behavior scheduling: which behaviors run this tick.

Each behavior ``i`` has a rate divisor ``divisors[i] >= 1`` and runs every
``divisors[i]``-th tick.  The caller keeps four arrays per behavior, ordered by
priority beforehand (``due_out`` lists due behaviors in ascending index, so that
order is the run order):

``divisors``    int64   run every k-th tick
``enabled``     uint8   1 = scheduled at all
``was_enabled`` uint8   enabled at the previous call (updated here)
``last_run``    int64   tick of the last run (updated here)

An enabled behavior is due when it was just enabled (``was_enabled[i] == 0``: it
runs now and ``reset_out[i] = 1`` tells the caller to zero its state first) or
when ``tick - last_run[i] >= divisors[i]``.  A disabled behavior is never due and
forgets that it was enabled, so re-enabling it resets its state.

:func:`stagger` sets initial ``last_run`` phases so behaviors sharing a divisor
do not all run on the same tick.
"""

from __future__ import annotations

import numba
import numpy as np

_SCHEDULE_SIG = (
    "int64(int64, int64[::1], uint8[::1], uint8[::1], int64[::1], int64[::1], uint8[::1])"
)


@numba.njit(_SCHEDULE_SIG, cache=True, error_model="numpy")
def schedule(tick, divisors, enabled, was_enabled, last_run, due_out, reset_out):
    """Write the indices of the behaviors due at ``tick`` to ``due_out``; return their count.

    ``reset_out[i]`` is 1 for a behavior enabled since the previous call (zero its
    state before running it), else 0.  ``last_run`` and ``was_enabled`` are updated.
    """
    n_due = 0
    for i in range(divisors.shape[0]):
        reset_out[i] = 0
        if enabled[i] == 0:
            was_enabled[i] = 0
            continue
        due = False
        if was_enabled[i] == 0:
            reset_out[i] = 1
            was_enabled[i] = 1
            due = True
        elif tick - last_run[i] >= divisors[i]:
            due = True
        if due:
            last_run[i] = tick
            due_out[n_due] = i
            n_due += 1
    return n_due


def stagger(divisors: np.ndarray, last_run: np.ndarray) -> None:
    """Set ``last_run`` so behaviors sharing a divisor start on different ticks.

    The ``m`` behaviors with divisor ``d`` (in index order ``j = 0 .. m-1``) get the
    phase ``p_j = (j * d) // m``: distinct ticks when ``m <= d``, evenly spread
    over the ``d`` ticks of the period.  ``last_run[i] = p - d``, so with the loop
    starting at tick 0 behavior ``i`` first runs at tick ``p``, then every ``d``
    ticks.  Divisor 1 gets phase 0 (it runs every tick anyway).

    The offsets only take effect if the caller also sets ``was_enabled[i] = 1``
    for the behaviors enabled at start-up (their state is freshly zeroed anyway):
    otherwise the "just enabled, run now" rule of :func:`schedule` runs every
    behavior at the first tick and all with the same divisor fall in step again.
    A behavior enabled later starts at the tick it is enabled, unstaggered.
    """
    divisors = np.asarray(divisors)
    if divisors.shape != last_run.shape:
        raise ValueError("divisors and last_run must have the same shape")
    if len(divisors) and int(divisors.min()) < 1:
        raise ValueError("divisors must be >= 1")
    for d in np.unique(divisors):
        members = np.flatnonzero(divisors == d)
        m = len(members)
        for j, i in enumerate(members):
            last_run[i] = (j * int(d)) // m - int(d)
