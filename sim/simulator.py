"""The simulator core: ``reset(seed) / step(dt)`` over the world, robot and sensor models.

The backends (lockstep, realtime) own the bus; this class owns the physics, the
actuator-side checks (limits, latched e-stop, deadman), the sensor schedules and
the ground-truth bookkeeping.  Time is kept in integer nanoseconds so sensor
schedules are phase-stable: a 10 Hz lidar stepped with dt = 0.02 s fires on
exactly every 5th step.

Moving obstacles are moved to the end of the step before the robot: one that
runs into the robot counts as a collision like any other (the robot's step is
undone and its wheels stopped), and the lidar sees them where they are.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np
# isort: on

from robo_orch.core.direct import direct, require_contiguous
from robo_orch.core.geometry import wrap_angle
from robo_orch.errors import BackendError, ConfigError
from robo_orch.kinematics import kinematics_for
from robo_orch.planar import wheel_speeds, wheels_to_body
from robo_orch.sim.geometry import WorldMap, check_placement, clearance
from robo_orch.sim.robot import STATE_LEN, V_LEFT, V_RIGHT, YAW, X, Y, step_diff_drive
from robo_orch.sim.sensors import Imu, Lidar, WheelOdometry

if TYPE_CHECKING:
    from robo_orch.config.sections import RobotConfig, SafetyConfig, SimConfig
    from robo_orch.config.world import WorldConfig

ODOM = 1  #: step() flag: a wheel odometry measurement is due
IMU = 2  #: step() flag: an IMU measurement is due
SCAN = 4  #: step() flag: a lidar scan is due

# indices of the physics kernel's ``info`` output
INFO_CLEARANCE = 0  #: clearance of the robot centre after the step (before any restore), m
INFO_MOVED = 1  #: distance the centre moved in the step, m
INFO_COLLIDED = 2  #: 1.0 when the step ended in collision and was undone
INFO_LEN = 3

_NS = 1_000_000_000


@numba.njit(
    "void(float64[::1], float64[::1], float64, float64, float64, float64, float64, float64, "
    "float64, float64[:, ::1], float64[:, ::1], float64[:, ::1], int64[::1])",
    cache=True,
)
def physics_step(state, info, cmd_left, cmd_right, dt, tau, wheel_base, max_wheel_speed,
                 radius, segments, circles, poly_xy, poly_offsets):
    """One robot step plus the collision test; a colliding step is undone, wheels stopped."""
    x0 = state[X]
    y0 = state[Y]
    yaw0 = state[YAW]
    step_diff_drive(state, cmd_left, cmd_right, dt, tau, wheel_base, max_wheel_speed)
    c = clearance(state[X], state[Y], segments, circles, poly_xy, poly_offsets)
    info[INFO_CLEARANCE] = c
    if c < radius:
        state[X] = x0
        state[Y] = y0
        state[YAW] = yaw0
        state[V_LEFT] = 0.0
        state[V_RIGHT] = 0.0
        info[INFO_MOVED] = 0.0
        info[INFO_COLLIDED] = 1.0
    else:
        info[INFO_MOVED] = math.hypot(state[X] - x0, state[Y] - y0)
        info[INFO_COLLIDED] = 0.0


#: every step's physics, past the dispatcher (robo_orch.core.direct): its arrays are the
#: Simulator's own and its world map's, checked where they are made
_physics_step = direct(physics_step)


class _Schedule:
    """Due times k * 1e9 / rate ns (k = 1, 2, ...) of one sensor, without drift."""

    __slots__ = ("rate", "index", "next_ns")

    def __init__(self, rate_hz: float) -> None:
        self.rate = float(rate_hz)
        self.reset()

    def reset(self) -> None:
        self.index = 1
        self.next_ns = round(_NS / self.rate)

    def due(self, t_ns: int) -> bool:
        """True once per step in which one or more due times were reached."""
        if t_ns < self.next_ns:
            return False
        k = max(self.index + 1, int(t_ns * self.rate / _NS))
        while round(k * _NS / self.rate) <= t_ns:
            k += 1
        self.index = k
        self.next_ns = round(k * _NS / self.rate)
        return True


def make_simulator(world: WorldConfig, robot: RobotConfig, sim: SimConfig,
                   safety: SafetyConfig, start: tuple[float, float, float]) -> Simulator:
    """The simulator of ``robot.kinematics``'s base (its ``simulator`` class)."""
    target = kinematics_for(robot).simulator
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(world, robot, sim, safety, start)


class Simulator:
    """A wheeled (v, w) robot with lidar, wheel odometry and IMU in a 2D world.

    A differential drive, or a skid-steer base: the wheel speed <-> (v, w)
    conversions use the kinematics' track (``skid_factor * wheel_base``), so the
    same wheel speeds turn a skid-steer base more slowly.  Subclasses for other
    bases override :meth:`_make_odometry`, :meth:`_physics`, :meth:`_forward_speed`
    and :meth:`_measure` (see :mod:`robo_orch.sim.omni`).
    """

    STATE_LEN = STATE_LEN  #: length of :attr:`state`

    def __init__(self, world: WorldConfig, robot: RobotConfig, sim: SimConfig,
                 safety: SafetyConfig, start: tuple[float, float, float]) -> None:
        #: the world with its random obstacles placed (for ``sim.seed``; see
        #: :meth:`WorldConfig.resolve`): what the robot drives in
        self.world = world.resolve(sim.seed, start[:2])
        self.world_map = WorldMap.from_config(self.world)
        self.robot_cfg = robot
        self.sim_cfg = sim
        self.safety_cfg = safety
        self.start = (float(start[0]), float(start[1]), float(start[2]))
        self.radius = float(robot.radius)
        #: the base's kinematics (robo_orch.kinematics)
        self.kinematics = kinematics_for(robot)
        #: track of the wheel speed <-> (v, w) conversions (skid steer: the effective one)
        self.wheel_base = float(self.kinematics.track)
        self.max_wheel_speed = float(robot.max_wheel_speed)
        self.tau = float(robot.motor_time_constant)
        self._deadman_ns = round(safety.deadman_s * _NS)

        self.lidar = Lidar(sim.lidar)
        self.odometry = self._make_odometry(sim)
        self.imu = Imu(sim.imu_yaw_rate_noise_std, sim.imu_yaw_rate_bias,
                       sim.imu_accel_noise_std)
        self._odom_sched = _Schedule(sim.odom_rate_hz)
        self._imu_sched = _Schedule(sim.imu_rate_hz)
        self._scan_sched = _Schedule(sim.lidar.rate_hz)

        #: ground truth (x, y, yaw, v_left, v_right); read it, do not write it
        self.state = np.zeros(self.STATE_LEN, dtype=np.float64)
        self._info = np.zeros(INFO_LEN, dtype=np.float64)
        #: the exact polygon's contact test (None: the round robot of ``radius``)
        self.contact = None
        if getattr(robot, "footprint", ()):  # (imported only then: it compiles its kernels)
            from robo_orch.sim.footprint import FootprintContact

            self.contact = FootprintContact(robot.footprint, self.state, self.world_map)
        wm = self.world_map
        require_contiguous(state=(self.state, 1), info=(self._info, 1),
                           segments=(wm.segments, 2), circles=(wm.circles, 2),
                           poly_xy=(wm.poly_xy, 2), poly_offsets=(wm.poly_offsets, 1))
        # sensor outputs, refreshed in place when due
        self.odom = self.odometry.values
        self.imu_gyro = self.imu.gyro
        self.imu_accel = self.imu.accel
        self.scan_angles = self.lidar.angles
        self.scan_ranges = self.lidar.ranges
        #: valid entries of ``scan_angles`` / ``scan_ranges`` (every ray, every scan)
        self.scan_count = self.lidar.rays
        self.lidar_range_min = self.lidar.range_min
        self.lidar_range_max = self.lidar.range_max
        self.reset(sim.seed)

    # --- episode ---------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Back to the start pose at time 0 with zeroed counters; re-seed every noise source.

        ``seed`` None uses ``SimConfig.seed``.  The lidar, odometry and IMU draw from
        independent streams, so changing one sensor's settings leaves the others'
        noise unchanged.  Every sensor output holds a measurement taken at time 0
        (not counted in the ``*_seq`` counters, which count measurements made by
        :meth:`step`).
        """
        self.seed = int(self.sim_cfg.seed if seed is None else seed)
        lidar_ss, odom_ss, imu_ss = np.random.SeedSequence(self.seed).spawn(3)
        self._rng_lidar = np.random.Generator(np.random.PCG64(lidar_ss))
        self._rng_odom = np.random.Generator(np.random.PCG64(odom_ss))
        self._rng_imu = np.random.Generator(np.random.PCG64(imu_ss))

        self.world_map.move_to(0.0)
        self.state[:] = 0.0
        self.state[X], self.state[Y] = self.start[0], self.start[1]
        self.state[YAW] = wrap_angle(self.start[2])
        self.t_ns = 0
        self._cmd_left = 0.0
        self._cmd_right = 0.0
        self._cmd_t_ns = 0
        self._have_cmd = False
        self._deadman_active = False
        self.estop = False
        self.in_collision = False
        self.collisions = 0
        self.deadman_stops = 0
        self.rejected_commands = 0
        self.distance = 0.0
        self.steps = 0
        self.min_clearance = self.clearance()
        for sched in (self._odom_sched, self._imu_sched, self._scan_sched):
            sched.reset()
        self.odom_seq = self.imu_seq = self.scan_seq = 0
        # real data from time 0, so publishing before the first step publishes the truth
        self._measure(ODOM | IMU | SCAN, 0.0)

    def validate_start(self, source: str = "config") -> float:
        """Raise :class:`ConfigError` if the start disc overlaps an obstacle or leaves the bounds.

        Returns the start clearance (centre clearance minus the robot radius), m.
        """
        x, y, yaw = self.start
        margin = check_placement(self.world_map, x, y, self.radius)
        if self.contact is not None and margin >= 0.0 and math.isfinite(yaw):
            margin = self.contact.clearance(x, y, yaw)
            if margin <= 0.0:
                raise ConfigError(source, "mission.start",
                                  f"start ({x:g}, {y:g}, yaw {yaw:g}): the footprint "
                                  f"overlaps an obstacle")
        if not math.isfinite(yaw):
            raise ConfigError(source, "mission.start", "yaw must be finite")
        if margin < 0.0:
            raise ConfigError(source, "mission.start",
                              f"start ({x:g}, {y:g}) overlaps an obstacle or leaves the "
                              f"world: clearance {margin + self.radius:.3f} m < robot radius "
                              f"{self.radius:g} m")
        return margin

    # --- actuator side ---------------------------------------------------------------
    def set_command(self, v: float, w: float, t: float | None = None) -> None:
        """Accept a (v, w) command stamped ``t`` s (None: now), clamped to every limit.

        Speed, reverse speed and yaw rate are clamped to the safety limits; if a wheel
        would exceed ``max_wheel_speed`` both wheels are scaled together, keeping the
        curvature.  A non-finite command is replaced by a stop and counted in
        ``rejected_commands``; while the e-stop is engaged every command is a stop.
        """
        v = float(v)
        w = float(w)
        if not (math.isfinite(v) and math.isfinite(w)):
            self.rejected_commands += 1
            v = w = 0.0
        s = self.safety_cfg
        v = min(max(v, -s.max_reverse), s.max_speed)
        w = min(max(w, -s.max_yaw_rate), s.max_yaw_rate)
        left, right, _ = wheel_speeds(v, w, self.wheel_base, self.max_wheel_speed)
        if self.estop:
            left = right = 0.0  # a command sent while e-stopped never runs later
        self._cmd_left = left
        self._cmd_right = right
        self._cmd_t_ns = self.t_ns if t is None else round(float(t) * _NS)
        self._have_cmd = True

    @property
    def wheel_command(self) -> tuple[float, float]:
        """The clamped wheel speed command (left, right) last accepted, m/s."""
        return self._cmd_left, self._cmd_right

    def set_estop(self, engaged: bool) -> None:
        """Latch (True) or release (False) the e-stop; engaging also drops the stored command.

        After a release the robot stays stopped until a new command arrives.
        """
        if engaged:
            self._cmd_left = self._cmd_right = 0.0
        self.estop = bool(engaged)

    # --- physics -----------------------------------------------------------------------
    def step(self, dt: float) -> int:
        """Advance by ``dt`` s; return ODOM | IMU | SCAN flags of the sensors refreshed."""
        dt_ns = round(dt * _NS)
        if dt_ns <= 0:
            raise BackendError(f"simulator step dt must be positive, got {dt!r}")
        dt = dt_ns / _NS
        stop = False
        if self.estop:
            stop = True
        elif self.t_ns - self._cmd_t_ns > self._deadman_ns:
            if self._have_cmd and not self._deadman_active:
                self.deadman_stops += 1
            self._deadman_active = True
            stop = True
        else:
            self._deadman_active = False

        v_before = self._forward_speed()
        wm = self.world_map
        wm.move_to((self.t_ns + dt_ns) / _NS)  # moving obstacles first: they can hit the robot
        info = self._info
        contact = self.contact
        if contact is not None:
            contact.before(self.state)
        self._physics(dt, stop)
        if contact is not None:
            contact.after(self.state, info, self.radius)
        self.t_ns += dt_ns
        self.steps += 1
        margin = info[INFO_CLEARANCE] - self.radius
        if margin < self.min_clearance:
            self.min_clearance = margin
        if info[INFO_COLLIDED] != 0.0:
            if not self.in_collision:
                self.collisions += 1
            self.in_collision = True
        elif info[INFO_MOVED] > 0.0:
            self.in_collision = False  # the contact episode ends when the robot drives free
            self.distance += info[INFO_MOVED]

        t_ns = self.t_ns
        flags = 0
        if self._odom_sched.due(t_ns):
            flags |= ODOM
            self.odom_seq += 1
        if self._imu_sched.due(t_ns):
            flags |= IMU
            self.imu_seq += 1
        if self._scan_sched.due(t_ns):
            flags |= SCAN
            self.scan_seq += 1
        if flags:
            self._measure(flags, (self._forward_speed() - v_before) / dt)
        return flags

    def _make_odometry(self, sim: SimConfig):
        """The odometry sensor (its ``values`` are what the odometry message carries)."""
        return WheelOdometry(sim.odom_noise_std)

    def _forward_speed(self) -> float:
        state = self.state
        return 0.5 * (state[V_LEFT] + state[V_RIGHT])

    def _physics(self, dt: float, stop: bool) -> None:
        """Step the robot by ``dt`` under its command (zero when ``stop``), into ``_info``."""
        left, right = (0.0, 0.0) if stop else (self._cmd_left, self._cmd_right)
        wm = self.world_map
        _physics_step(self.state, self._info, left, right, dt, self.tau, self.wheel_base,
                      self.max_wheel_speed, self.radius, wm.segments, wm.circles,
                      wm.poly_xy, wm.poly_offsets)

    def _measure(self, flags: int, accel_forward: float) -> None:
        """Refresh the outputs of the sensors in ``flags`` from the current truth."""
        state = self.state
        t_ns = self.t_ns
        if flags & ODOM:
            self.odometry.measure(state[V_LEFT], state[V_RIGHT], self._rng_odom)
            self.odom_t_ns = t_ns
        if flags & IMU:
            v, w = wheels_to_body(state[V_LEFT], state[V_RIGHT], self.wheel_base)
            self.imu.measure(v, w, accel_forward, self._rng_imu)
            self.imu_t_ns = t_ns
        if flags & SCAN:
            self.lidar.measure(self.world_map, state[X], state[Y], state[YAW], self._rng_lidar)
            self.scan_t_ns = t_ns

    # --- ground truth --------------------------------------------------------------------
    @property
    def pose(self) -> tuple[float, float, float]:
        """True pose (x, y, yaw)."""
        s = self.state
        return float(s[X]), float(s[Y]), float(s[YAW])

    @property
    def v(self) -> float:
        """True forward speed, m/s."""
        return 0.5 * float(self.state[V_LEFT] + self.state[V_RIGHT])

    @property
    def w(self) -> float:
        """True yaw rate, rad/s."""
        return float(wheels_to_body(self.state[V_LEFT], self.state[V_RIGHT], self.wheel_base)[1])

    @property
    def t(self) -> float:
        """Simulated time since reset, s."""
        return self.t_ns / _NS

    def clearance(self) -> float:
        """Current clearance of the robot's surface (centre clearance minus radius; a
        polygon footprint's own), m."""
        if self.contact is not None:
            return self.contact.clearance(self.state[X], self.state[Y], self.state[YAW])
        return self.world_map.clearance(self.state[X], self.state[Y]) - self.radius
