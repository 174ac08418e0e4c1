"""Moving obstacles of the simulated world: where each one is at a time.

Only a world with moving obstacles (``[[world.moving]]``) imports this module, so
its kernel compiles (on an empty kernel cache) only for such a world;
:class:`~robo_orch.sim.geometry.WorldMap` holds the arrays it reads (see its
module's docstring: ``mover_params``, ``mover_xy``, ``mover_s``, ``mover_offsets``).
"""

from __future__ import annotations

import numba

MODE_BOUNCE = 0  #: a moving obstacle turns back at each end of its path
MODE_LOOP = 1  #: it goes round its closed path
MODE_ONCE = 2  #: it stops at the end of its path
MODES = {"bounce": MODE_BOUNCE, "loop": MODE_LOOP, "once": MODE_ONCE}


@numba.njit(
    "void(float64, float64[:, ::1], float64[:, ::1], float64[::1], int64[::1], "
    "float64[:, ::1], int64)",
    cache=True,
)
def place_movers(t, params, path_xy, path_s, offsets, circles, first):
    """Write moving obstacle ``i``'s circle at time ``t`` into ``circles[first + i]``."""
    for i in range(params.shape[0]):
        speed = params[i, 1]
        mode = int(params[i, 2])
        delay = params[i, 3]
        a = offsets[i]
        b = offsets[i + 1]
        total = path_s[b - 1]
        s = speed * (t - delay) if t > delay else 0.0
        if total <= 0.0:
            s = 0.0
        elif mode == MODE_BOUNCE:
            s = s % (2.0 * total)
            if s > total:
                s = 2.0 * total - s
        elif mode == MODE_LOOP:
            s = s % total
        elif s > total:
            s = total
        k = a
        while k < b - 2 and path_s[k + 1] < s:
            k += 1
        seg = path_s[k + 1] - path_s[k]
        f = (s - path_s[k]) / seg if seg > 0.0 else 0.0
        circles[first + i, 0] = path_xy[k, 0] + f * (path_xy[k + 1, 0] - path_xy[k, 0])
        circles[first + i, 1] = path_xy[k, 1] + f * (path_xy[k + 1, 1] - path_xy[k, 1])
        circles[first + i, 2] = params[i, 0]
