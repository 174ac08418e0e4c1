"""recover: when progress stalls, rotate in place, back up (or sidestep) and ask for a new plan.

*Progress* is the remaining path length, ``|robot - target| + the length of
the path from the target to its end``, falling below its lowest value so far
by ``progress_distance``.  When the path is replaced (``PATH_VERSION``
changes) the lowest value is carried over, shifted by how much longer (or
shorter) the new path's remaining length is than the old one's at the same
moment: a detour around newly seen obstacles is not a stall, and a robot
circling while the planner keeps handing it the same way again gains nothing
from the new paths.  (Restarting the lowest value at each new path would let
such a robot, replanning every second, never be judged stalled.)  The stall
clock keeps running across new paths.  It is paused while the e-stop is
latched or an input is stale (standing still then is not a stall).

No progress for ``stall_time`` starts a recovery attempt, in steps:

1. ROTATE in place at ``rotate_yaw_rate`` until ``rotate_angle`` has been
   turned (the scan sweeps the surroundings; the global planner marks what it
   sees), or twice the nominal time has passed;
2. BACKUP at ``backup_speed`` for ``backup_distance``, stopping early when the
   robot, moved ``backup_probe`` straight back, would have less than
   ``backup_clearance`` of clearance (the distance field there minus the robot
   radius: a surface distance, right for any radius), or after twice the
   nominal time.  A holonomic base (``BASE_KIND``) backs off *or sidesteps*:
   when the step begins it picks, of the directions back, back-left,
   back-right, left and right (body frame), the one whose point ``backup_probe``
   away has the most clearance (the first in that order on ties), and moves
   that way (``OUT_V``, ``OUT_VY``) without turning, with the same stops
   (the clearance probed along that direction);
3. REPLAN: set ``REPLAN_REQUEST`` and hold still until a new path arrives
   (``PATH_VERSION`` changes) or ``replan_wait`` has passed; then monitoring
   resumes with a fresh stall clock.

Progress of ``reset_distance`` since the first attempt resets the attempt
count.  A stall after ``max_attempts`` attempts sets ``NAV_STATUS`` to
``NAV_RECOVERY_FAILED`` and the controller ends the mission with that reason.

Active (1, not blendable; give it a priority above the local planner) during
the three steps, else 0.  The state survives new paths (``reset_on_new_path``
is false).  ``state[RECOVERIES]`` in the world counts attempts.
Diagnostics: ``out[2]`` mode (0 monitor, 1 rotate, 2 back up, 3 replan),
``out[3]`` seconds without progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.core import world as W
from robo_orch.core.field import field_distance
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`Recover`."""

    stall_time: float = option(5.0, gt=0, le=600,
                               doc="no progress for this long starts a recovery, s", live=True)
    progress_distance: float = option(0.15, gt=0, le=100,
                                      doc="the remaining path must shrink by this much to "
                                          "count as progress, m", live=True)
    rotate_angle: float = option(2 * math.pi, ge=0, le=8 * math.pi,
                                 doc="turn in place this far first, rad", live=True)
    rotate_yaw_rate: float = option(1.2, gt=0, le=20, doc="turning rate, rad/s", live=True)
    backup_distance: float = option(0.3, ge=0, le=10, doc="then back up this far, m", live=True)
    backup_speed: float = option(0.15, gt=0, le=5, doc="backing-up speed, m/s", live=True)
    backup_probe: float = option(0.3, gt=0, le=5,
                                 doc="the clearance behind is that of the robot moved "
                                     "this far straight back, m", live=True)
    backup_clearance: float = option(0.05, ge=0, le=5,
                                     doc="stop backing up when the clearance behind (beyond "
                                         "the robot radius) is below this, m", live=True)
    replan_wait: float = option(1.0, ge=0, le=60,
                                doc="then wait this long at most for a new path, s", live=True)
    max_attempts: int = option(3, ge=1, le=100,
                               doc="a stall after this many attempts fails the mission", live=True)
    reset_distance: float = option(1.0, gt=0, le=1000,
                                   doc="progress this large since the first attempt resets "
                                       "the attempt count, m", live=True)


_P = param_index(Params)
P_STALL_TIME = _P["stall_time"]
P_PROGRESS = _P["progress_distance"]
P_ROTATE_ANGLE = _P["rotate_angle"]
P_ROTATE_RATE = _P["rotate_yaw_rate"]
P_BACKUP_DISTANCE = _P["backup_distance"]
P_BACKUP_SPEED = _P["backup_speed"]
P_BACKUP_PROBE = _P["backup_probe"]
P_BACKUP_CLEARANCE = _P["backup_clearance"]
P_REPLAN_WAIT = _P["replan_wait"]
P_MAX_ATTEMPTS = _P["max_attempts"]
P_RESET_DISTANCE = _P["reset_distance"]

# modes
MONITOR = 0
ROTATE = 1
BACKUP = 2
REPLAN = 3

# persistent state
S_INIT = 0  #: 1.0 once initialised
S_MODE = 1  #: one of the modes above
S_T_PROGRESS = 2  #: time of the last progress, s
S_BEST = 3  #: lowest remaining path length since then, m
S_VERSION = 4  #: PATH_VERSION last seen
S_ATTEMPTS = 5  #: attempts since the last reset
S_T_MODE = 6  #: time the current step began, s
S_TURNED = 7  #: angle turned in ROTATE, rad
S_LAST_YAW = 8  #: heading at the previous run, rad
S_BACK_X = 9  #: position where BACKUP began
S_BACK_Y = 10
S_REM_FIRST = 11  #: remaining length when the first attempt began, m
S_REQ_VERSION = 12  #: PATH_VERSION when the replan was requested
S_LAST_REM = 13  #: remaining length at the previous run, m
S_DIR_X = 14  #: holonomic BACKUP: the direction of the move, world frame (unit vector)
S_DIR_Y = 15
STATE_SIZE = 16

_SQRT_HALF = math.sqrt(0.5)


@numba.njit(cache=True)
def remaining_length(ws, path):
    """|robot - target| + the path length from the target row to the last row."""
    n = min(int(ws[W.PATH_COUNT]), path.shape[0])
    k = min(max(int(ws[W.TARGET_INDEX]), 0), n - 1)
    total = math.hypot(path[k, 0] - ws[W.X], path[k, 1] - ws[W.Y])
    for j in range(k, n - 1):
        total += math.hypot(path[j + 1, 0] - path[j, 0], path[j + 1, 1] - path[j, 1])
    return total


@numba.njit(cache=True, inline="always")
def _switch(state, mode, t):
    """Begin recovery step ``mode`` at time ``t``; returns it."""
    state[S_MODE] = mode
    state[S_T_MODE] = t
    return mode


@numba.njit(cache=True)
def _open_direction(ws, field, state, probe):
    """Holonomic BACKUP: store the most open of back, back-left, back-right, left, right."""
    c = math.cos(ws[W.YAW])
    s = math.sin(ws[W.YAW])
    best = -math.inf
    for k in range(5):  # body-frame unit vectors (bx, by)
        if k == 0:
            bx, by = -1.0, 0.0
        elif k < 3:
            bx, by = -_SQRT_HALF, _SQRT_HALF if k == 1 else -_SQRT_HALF
        else:
            bx, by = 0.0, 1.0 if k == 3 else -1.0
        dx = c * bx - s * by
        dy = s * bx + c * by
        room = field_distance(ws, field, ws[W.X] + probe * dx, ws[W.Y] + probe * dy)
        if room > best:
            best = room
            state[S_DIR_X] = dx
            state[S_DIR_Y] = dy


@numba.njit(W.kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Watch progress; rotate, back up and request a replan on a stall (module docstring)."""
    ws = world[0]
    field = world[2]
    path = world[3]
    out[W.OUT_V] = 0.0
    out[W.OUT_W] = 0.0
    out[W.OUT_VY] = 0.0
    out[2] = 0.0
    out[3] = 0.0
    if ws[W.GOAL_REACHED] != 0.0 or ws[W.PATH_COUNT] < 1.0 or ws[W.NAV_STATUS] != 0.0:
        state[S_MODE] = MONITOR
        return 0.0
    t = ws[W.T]
    rem = remaining_length(ws, path)
    if state[S_INIT] == 0.0:
        state[S_INIT] = 1.0
        state[S_MODE] = MONITOR
        state[S_T_PROGRESS] = t
        state[S_BEST] = rem
        state[S_VERSION] = ws[W.PATH_VERSION]
        state[S_LAST_REM] = rem
    if ws[W.PATH_VERSION] != state[S_VERSION]:
        state[S_VERSION] = ws[W.PATH_VERSION]
        state[S_BEST] += rem - state[S_LAST_REM]  # the same progress, in the new path's terms
    state[S_LAST_REM] = rem
    mode = int(state[S_MODE])

    if mode == MONITOR:
        if ws[W.STALE] != 0.0 or ws[W.ESTOP] != 0.0:
            state[S_T_PROGRESS] = t
        if rem < state[S_BEST] - params[P_PROGRESS]:
            state[S_BEST] = rem
            state[S_T_PROGRESS] = t
        if state[S_ATTEMPTS] > 0.0 and rem < state[S_REM_FIRST] - params[P_RESET_DISTANCE]:
            state[S_ATTEMPTS] = 0.0
        out[2] = MONITOR
        out[3] = t - state[S_T_PROGRESS]
        if t - state[S_T_PROGRESS] < params[P_STALL_TIME]:
            return 0.0
        if state[S_ATTEMPTS] >= params[P_MAX_ATTEMPTS]:
            ws[W.NAV_STATUS] = W.NAV_RECOVERY_FAILED
            return 0.0
        if state[S_ATTEMPTS] == 0.0:
            state[S_REM_FIRST] = rem
        state[S_ATTEMPTS] += 1.0
        ws[W.RECOVERIES] += 1.0
        mode = _switch(state, ROTATE, t)
        state[S_TURNED] = 0.0
        state[S_LAST_YAW] = ws[W.YAW]

    if mode == ROTATE:
        dyaw = ws[W.YAW] - state[S_LAST_YAW]
        state[S_TURNED] += abs(math.atan2(math.sin(dyaw), math.cos(dyaw)))
        state[S_LAST_YAW] = ws[W.YAW]
        rate = params[P_ROTATE_RATE]
        angle = params[P_ROTATE_ANGLE]
        if state[S_TURNED] < angle and t - state[S_T_MODE] < 2.0 * angle / rate:
            out[W.OUT_W] = rate
            out[2] = ROTATE
            return 1.0
        mode = _switch(state, BACKUP, t)
        state[S_BACK_X] = ws[W.X]
        state[S_BACK_Y] = ws[W.Y]
        holonomic = ws[W.BASE_KIND] == W.BASE_HOLONOMIC
        if holonomic:
            _open_direction(ws, field, state, params[P_BACKUP_PROBE])

    if mode == BACKUP:
        speed = params[P_BACKUP_SPEED]
        dist = params[P_BACKUP_DISTANCE]
        moved = math.hypot(ws[W.X] - state[S_BACK_X], ws[W.Y] - state[S_BACK_Y])
        probe = params[P_BACKUP_PROBE]
        holonomic = ws[W.BASE_KIND] == W.BASE_HOLONOMIC
        if holonomic:
            dx = state[S_DIR_X]
            dy = state[S_DIR_Y]
        else:  # straight back
            dx = -math.cos(ws[W.YAW])
            dy = -math.sin(ws[W.YAW])
        bx = ws[W.X] + probe * dx
        by = ws[W.Y] + probe * dy
        behind = field_distance(ws, field, bx, by) - ws[W.ROBOT_RADIUS]
        if (moved < dist and behind >= params[P_BACKUP_CLEARANCE]
                and t - state[S_T_MODE] < 2.0 * dist / speed):
            if holonomic:  # the world-frame direction in the body frame
                c = math.cos(ws[W.YAW])
                s = math.sin(ws[W.YAW])
                out[W.OUT_V] = speed * (c * dx + s * dy)
                out[W.OUT_VY] = speed * (c * dy - s * dx)
            else:
                out[W.OUT_V] = -speed
            out[2] = BACKUP
            return 1.0
        mode = _switch(state, REPLAN, t)
        state[S_REQ_VERSION] = ws[W.PATH_VERSION]
        ws[W.REPLAN_REQUEST] = 1.0

    # REPLAN: hold still until a new path arrives or the wait is over
    if ws[W.PATH_VERSION] == state[S_REQ_VERSION] and t - state[S_T_MODE] < params[P_REPLAN_WAIT]:
        out[2] = REPLAN
        return 1.0
    state[S_MODE] = MONITOR
    state[S_T_PROGRESS] = t
    state[S_BEST] = rem
    return 0.0


class Recover(Behavior):
    """Stall watchdog and recovery steps (rotate, back up, replan); see the module docstring."""

    kind = "recover"
    Params = Params
    kernel = step
    reads = ("t", "x", "y", "yaw", "base_kind", "target_index", "goal_reached", "estop", "stale",
             "path_count", "path_version", "nav_status", "robot_radius", "field_x0", "field_y0",
             "field_res", "field_cap", "field_valid", "path", "field")
    writes = ("nav_status", "recoveries", "replan_request")
    #: plan_path writes both too: each only sets them from 0 (plan_path clears the request)
    merge = {"nav_status": "latch", "replan_request": "latch"}
    state_size = STATE_SIZE
    blendable = False
    reset_on_new_path = False
