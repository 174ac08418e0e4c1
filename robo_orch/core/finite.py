"""Whether a message's values, copied into an adapter's arrays, are all finite.

One compiled loop instead of ``np.isfinite(a).all()``, which allocates a boolean
array and costs about a microsecond per call on arrays of a few values: the sense
phase asks once per input message (:class:`robo_orch.adapter.MessageBuffers`).
"""

from __future__ import annotations

import math

import numba


@numba.njit("boolean(float64[::1], float64[:, ::1], int64, boolean, boolean)", cache=True)
def all_finite(fixed, var, count, with_fixed, with_var):
    """True if ``fixed`` (when ``with_fixed``) and the first ``count`` values of every row
    of ``var`` (when ``with_var``) are all finite."""
    if with_fixed:
        for k in range(fixed.shape[0]):
            if not math.isfinite(fixed[k]):
                return False
    if with_var:
        for j in range(var.shape[0]):
            for k in range(min(count, var.shape[1])):
                if not math.isfinite(var[j, k]):
                    return False
    return True
