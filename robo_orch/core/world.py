"""The world arrays every compiled kernel reads: layout and allocation.

The loop owns one :class:`World`.  Its arrays are allocated once, writable and
C-contiguous (arrays from ``np.frombuffer`` are read-only, a different numba type,
and would trigger a compile inside the loop), and are filled in place during the
sense phase.  Kernels receive them as the tuple ``world.arrays``::

    (state, scan, field, path, user)

``state``  float64[STATE_LEN + n] scalars: the built-in slots, indexed by the
                                 constants below, then the plugins' own scalars
                                 (``n`` of them, placed by the config's layout)
``scan``   float64[MAX_SCAN, 2] latest lidar points (x, y) in the odom frame;
                                 ``state[SCAN_COUNT]`` of them are valid
``field``  float64[NY, NX]      distance (m) from each cell centre to the nearest
                                 scan point, odom frame, axis aligned; origin and
                                 resolution in ``state[FIELD_*]``; capped at
                                 ``state[FIELD_CAP]``
``path``   float64[MAX_PATH, 2] mission waypoints (odom frame);
                                 ``state[PATH_COUNT]`` of them are valid
``user``   float64[m]           the plugins' own arrays, one flat buffer laid out
                                 by the config (``robo_orch.config.layout``)

The tuple's arity and types never change with the config (one kernel signature,
:func:`kernel_signature`, so numba's cache serves every config); a plugin finds
its own scalars and arrays through the ``idx`` array the layout gives it.  Every
upper-case int constant defined above ``STATE_LEN`` is a built-in slot, declared by
its lower-case name (``X`` -> ``"x"``); codes (``NAV_*``, ``OUT_*``) come after it.

All positions are in the odom frame (the estimator's frame, fixed at start-up).
Scan points are stored in that frame using the pose estimated when the scan
arrived, so a kernel that runs later sees them where they are, not where the
robot was.
"""

from __future__ import annotations

import numpy as np

# --- state indices -------------------------------------------------------------
T = 0  #: loop time of this tick, s (sim or wall, since start)
DT = 1  #: loop period, s
X = 2  #: estimated x, m
Y = 3  #: estimated y, m
YAW = 4  #: estimated heading, rad, in (-pi, pi]
V = 5  #: estimated forward speed, m/s
W = 6  #: estimated yaw rate, rad/s
TARGET_X = 7  #: current target waypoint x, m
TARGET_Y = 8  #: current target waypoint y, m
TARGET_INDEX = 9  #: index of the current target in ``path``
GOAL_REACHED = 10  #: 1.0 once the last waypoint was reached
ESTOP = 11  #: 1.0 while the e-stop is latched
STALE = 12  #: 1.0 while any required input is stale or missing
SCAN_COUNT = 13  #: number of valid rows in ``scan``
SCAN_T = 14  #: loop time at which the scan was taken, s (-1: never)
FIELD_X0 = 15  #: odom x of the centre of field cell [0, 0], m
FIELD_Y0 = 16  #: odom y of the centre of field cell [0, 0], m
FIELD_RES = 17  #: field cell size, m
FIELD_CAP = 18  #: distances above this are stored as this, m
FIELD_VALID = 19  #: 1.0 once a field has been built from a scan
PATH_COUNT = 20  #: number of valid rows in ``path``
CMD_V = 21  #: last commanded forward speed, m/s
CMD_W = 22  #: last commanded yaw rate, rad/s
ROBOT_RADIUS = 23  #: robot footprint radius, m
NEAREST = 24  #: distance from the robot centre to the nearest scan point, m
GOAL_TOLERANCE = 25  #: distance at which a waypoint counts as reached, m
NAV_STATUS = 26  #: 0 while navigation is fine, else a NAV_* failure code (ends the mission)
REPLAN_REQUEST = 27  #: a kernel sets 1.0 to ask the global planner for a new path
PATH_VERSION = 28  #: incremented each time a new path is loaded into ``path``
RECOVERIES = 29  #: number of recovery attempts started
# slots 30-35: the odometry frame of the safety check (see robo_orch.core.odoframe)
CORR_X = 30  #: x of the transform odometry frame -> estimate frame (all absolute jumps), m
CORR_Y = 31  #: y of that transform, m
CORR_YAW = 32  #: rotation of that transform, rad
SCAN_CORR_X = 33  #: CORR_X when the points in ``scan`` were placed, m
SCAN_CORR_Y = 34  #: CORR_Y when the points in ``scan`` were placed, m
SCAN_CORR_YAW = 35  #: CORR_YAW when the points in ``scan`` were placed, rad
# slot 36: the estimate's; 37-41: the base's (robo_orch.kinematics); 42-47: free
EST_HOLD = 36  #: 1.0 while the estimate holds a controlled stop (non-finite, relocalised)
VY = 37  #: estimated lateral speed (body frame, left positive), m/s; 0 on a wheeled base
CMD_VY = 38  #: last commanded lateral speed, m/s; 0 on a wheeled base
BASE_KIND = 39  #: the base's kinematics, a BASE_* code below (set when the config loads)
STATE_LEN = 48

# --- BASE_KIND codes (robo_orch.kinematics): what a kernel may propose -------------
BASE_DIFF_DRIVE = 0  #: (v, w); the wheels roll without slip
BASE_SKID_STEER = 1  #: (v, w); the wheels slip sideways when turning
BASE_HOLONOMIC = 2  #: (vx, vy, w): moves sideways too (mecanum or omni wheels)

# --- NAV_STATUS codes (see :data:`NAV_STATUS_TEXT`) -------------------------------
NAV_OK = 0
NAV_GOAL_UNREACHABLE = 1
NAV_GOAL_BLOCKED = 2
NAV_START_BLOCKED = 3
NAV_RECOVERY_FAILED = 4
NAV_PATH_TOO_LONG = 5
NAV_GOAL_OUTSIDE = 6
NAV_STATUS_TEXT = {
    NAV_GOAL_UNREACHABLE: "goal unreachable: no collision-free path on the map",
    NAV_GOAL_BLOCKED: "goal inside an obstacle",
    NAV_START_BLOCKED: "start in collision or outside the map",
    NAV_RECOVERY_FAILED: "no progress toward the goal after every recovery attempt",
    NAV_PATH_TOO_LONG: "planned path has more vertices than the path array holds",
    NAV_GOAL_OUTSIDE: "goal outside the planning grid",
}

# --- behavior output ------------------------------------------------------------
OUT_V = 0  #: proposed forward speed, m/s
OUT_W = 1  #: proposed yaw rate, rad/s
OUT_VY = 4  #: proposed lateral speed (holonomic bases; others ignore it), m/s
OUT_LEN = 8  #: index 2, 3: two kernel-specific diagnostics; 5-7: free

DEFAULT_MAX_SCAN = 2048
DEFAULT_MAX_PATH = 256


class World:
    """Preallocated arrays shared by the sense phase and every kernel."""

    def __init__(
        self,
        *,
        field_shape: tuple[int, int] = (64, 64),
        field_resolution: float = 0.1,
        field_cap: float = 2.0,
        max_scan: int = DEFAULT_MAX_SCAN,
        max_path: int = DEFAULT_MAX_PATH,
        user_scalars: int = 0,
        user_len: int = 0,
    ) -> None:
        self.state = np.zeros(STATE_LEN + user_scalars, dtype=np.float64)
        self.user = np.zeros(user_len, dtype=np.float64)
        self.scan = np.zeros((max_scan, 2), dtype=np.float64)
        self.field = np.full(field_shape, field_cap, dtype=np.float64)
        self.path = np.zeros((max_path, 2), dtype=np.float64)
        self.state[FIELD_RES] = field_resolution
        self.state[FIELD_CAP] = field_cap
        self.state[SCAN_T] = -1.0
        self.arrays = (self.state, self.scan, self.field, self.path, self.user)

    def set_path(self, points: np.ndarray) -> None:
        """Copy mission waypoints into ``path`` and point the target at the first."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(points) > len(self.path):
            raise ValueError(f"at most {len(self.path)} waypoints, got {len(points)}")
        self.path[: len(points)] = points
        self.state[PATH_COUNT] = len(points)
        self.state[TARGET_INDEX] = 0
        self.state[GOAL_REACHED] = 0.0
        if len(points):
            self.state[TARGET_X], self.state[TARGET_Y] = points[0]


def kernel_signature() -> str:
    """The numba signature every behavior kernel is compiled with (permanent).

    ``step(world, idx, params, state, out) -> activation``: ``world`` the tuple
    ``(state, scan, field, path, user)``, ``idx`` the behavior's int64 index array
    (see :mod:`robo_orch.behavior`).
    """
    return ("float64(Tuple((float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1],"
            " float64[::1])), int64[::1], float64[::1], float64[::1], float64[::1])")
