"""Mission progress: advance the target waypoint as the robot reaches each one.

The target is ``path[state[TARGET_INDEX]]`` (mirrored in ``TARGET_X``,
``TARGET_Y``).  When the robot's centre is closer than ``GOAL_TOLERANCE`` to the
target, the index advances (several waypoints in one call if they are all within
tolerance).  Reaching the last valid row (``PATH_COUNT - 1``) sets
``GOAL_REACHED = 1`` and leaves the target on that row.  Once the goal is reached
nothing changes until the caller loads a new path (``World.set_path``).
"""

from __future__ import annotations

import math

import numba

from robo_orch.core import world as _w

_SIGNATURE = "int64(float64[::1], float64[:, ::1])"


@numba.njit(_SIGNATURE, cache=True, error_model="numpy")
def update_mission(state, path):
    """Advance the target waypoint; return 1 on the call that reaches the goal, else 0."""
    if state[_w.GOAL_REACHED] != 0.0:
        return 0
    count_f = state[_w.PATH_COUNT]
    if not count_f > 0.0:
        return 0
    count = min(int(count_f), path.shape[0])
    index_f = state[_w.TARGET_INDEX]
    index = int(index_f) if index_f > 0.0 else 0
    index = min(index, count - 1)
    tol = state[_w.GOAL_TOLERANCE]
    x = state[_w.X]
    y = state[_w.Y]
    reached = 0
    while True:
        tx = path[index, 0]
        ty = path[index, 1]
        if not math.hypot(x - tx, y - ty) < tol:
            break
        if index + 1 >= count:
            state[_w.GOAL_REACHED] = 1.0
            reached = 1
            break
        index += 1
    state[_w.TARGET_INDEX] = index
    state[_w.TARGET_X] = path[index, 0]
    state[_w.TARGET_Y] = path[index, 1]
    return reached
