"""The sections of a robo_orch config file, as validated dataclasses.

The ``[world]`` section and its obstacles are in :mod:`robo_orch.config.world`.

Every field has a default except where noted, so a config names only what it
changes.  ``robo-orch check CONFIG`` prints the resolved values; the README's
config reference is generated from the ``doc`` strings here.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from robo_orch.config.world import Point
from robo_orch.errors import ConfigError
from robo_orch.schema import option


@dataclass(frozen=True)
class LoopConfig:
    """The fixed-rate control loop."""

    rate_hz: float = option(50.0, ge=0.1, le=10000, doc="tick rate of the control loop, Hz")
    overrun: str = option("skip", choices=("skip", "catch_up"),
                          doc="late tick: 'skip' to the next free slot and count it, or "
                              "'catch_up' by running late ticks back to back")
    spin_us: float = option(500.0, ge=0, le=100_000,
                            doc="busy-wait this long before each deadline "
                                "instead of sleeping (wall clock only), us")
    realtime_priority: int = option(0, ge=0, le=99,
                                    doc="SCHED_FIFO priority for the loop thread; 0 = off")
    cpu: int = option(-1, ge=-1, le=1023, doc="pin the loop process to this CPU; -1 = no pinning")
    lock_memory: bool = option(False, doc="mlockall: keep every page in RAM (needs "
                                          "CAP_IPC_LOCK or a memlock limit)")
    timer_slack_ns: int = option(0, ge=0, le=1_000_000_000,
                                 doc="timer slack for the loop's sleeps, ns; 0 = "
                                     "leave the kernel default (50 us)")
    trigger: str = option("", doc="input role whose arrival starts a tick (e.g. 'imu'); "
                                  "empty = fixed rate; lockstep always runs at the fixed rate")
    trigger_timeout_s: float = option(0.0, ge=0, le=60,
                                      doc="with a trigger: tick anyway after this "
                                                    "long without a message; 0 = two periods")
    input_wait_s: float = option(5.0, ge=0, le=3600,
                                 doc="`robo-orch run`: the longest it waits for every required "
                                     "input before the first tick (one still missing then: the "
                                     "robot holds still, stale, until it arrives)")
    gc_mode: str = option("slack", choices=("slack", "default"),
                          doc="'slack': freeze start-up objects and collect only in the "
                              "slack before a deadline; 'default': Python's own collector")


@dataclass(frozen=True)
class BusConfig:
    """The message bus between the loop and drivers or the simulator."""

    backend: str = option("zmq", doc="bus backend for real-time runs ('zmq' or 'memory'); "
                                     "lockstep always uses 'memory'")
    run_dir: str = option("", doc="directory for ipc:// sockets, created 0700 (refused if "
                                  "another user owns it or others can write it); empty = a "
                                  "private temporary directory per simulation, the per-user "
                                  "directory for `robo-orch run`")
    hwm: int = option(100, ge=1, le=1_000_000,
                      doc="ZeroMQ high-water mark per topic socket, messages")
    max_per_poll: int = option(32, ge=1, le=100_000,
                               doc="input messages decoded per tick and input (a "
                                   "deeper queue: its depth); older ones are "
                                   "dropped undecoded and counted")
    endpoints: dict[str, str] = option({}, doc="topic -> address, e.g. \"sensor/scan\" = "
                                       "\"tcp://192.168.1.20:5601\": the publisher binds it, "
                                       "subscribers connect to it (tcp needs keys); other "
                                       "topics use ipc:// in run_dir")
    tcp_base: str = option("", doc="'tcp://ADDRESS:PORT': the control endpoint at PORT and "
                                   "every topic the config names at PORT+1, PORT+2, ... in "
                                   "sorted order (`robo-orch check` lists them; endpoints "
                                   "overrides one); ADDRESS is this robot's IP address")
    control_endpoint: str = option("", doc="tcp address of the loop's control endpoint for "
                                           "remote tools (beside the local ipc one), e.g. "
                                           "'tcp://192.168.1.10:5600'; empty = tcp_base's "
                                           "port, or local only")
    keys: str = option("", doc="CURVE key directory made by `robo-orch keys generate DIR` "
                               "(relative: to the config file); required with any tcp "
                               "endpoint")
    client_key: str = option("robot", doc="the client key (keys/clients/NAME or "
                                          "keys/readonly/NAME) this config's processes "
                                          "connect with")
    insecure: bool = option(False, doc="allow tcp without CURVE keys: no authentication, no "
                                       "encryption (warns at every start)")


@dataclass(frozen=True)
class InputConfig:
    """One sensor stream the loop consumes."""

    topic: str = option(doc="bus topic")
    qos: str = option("latest", doc="'latest' (keep the newest) or 'queue:N' (keep N)")
    max_age_s: float = option(0.5, gt=0, le=3600,
                              doc="older than this (or never received) is stale "
                                  "and brings the robot to a controlled stop")
    required: bool = option(True, doc="a stale required input stops the robot")
    max_bytes: int = option(0, ge=0, le=1 << 30,
                            doc="largest frame accepted, bytes (a larger one is "
                                "refused and counted); 0 = the message type's "
                                "limit (laser_scan: 16384 points)")
    adapter: str = option("", doc="input adapter that maps its messages to world names "
                                  "(robo_orch.adapters registry); '' = the built-in "
                                  "adapter of odom, imu, scan, gps; the input's other "
                                  "keys are the adapter's parameters")

    def validate(self, source: str, prefix: str) -> None:
        from robo_orch.bus.qos import QoS  # local: the bus package is not needed to parse

        try:
            QoS.parse(self.qos)
        except ValueError as err:
            raise ConfigError(source, f"{prefix}.qos", str(err)) from None
        if 0 < self.max_bytes < 1024:
            raise ConfigError(source, f"{prefix}.max_bytes",
                              f"{self.max_bytes} bytes would refuse every message; use 0 for "
                              "the message type's limit, or at least 1024")


def default_inputs() -> dict[str, InputConfig]:
    """The inputs of a differential-drive robot with a lidar and an IMU."""
    return {
        "odom": InputConfig(topic="sensor/odom", max_age_s=0.2),
        "imu": InputConfig(topic="sensor/imu", max_age_s=0.2),
        "scan": InputConfig(topic="sensor/scan", max_age_s=0.5),
    }


@dataclass(frozen=True)
class SafetyConfig:
    """Limits the safety layer enforces on every command (and the actuator side repeats)."""

    max_speed: float = option(0.8, gt=0, le=100, doc="forward speed limit, m/s")
    max_reverse: float = option(0.2, ge=0, le=100, doc="reverse speed limit, m/s")
    max_yaw_rate: float = option(2.0, gt=0, le=100, doc="yaw rate limit, rad/s")
    max_accel: float = option(1.0, gt=0, le=1000, doc="forward acceleration limit, m/s^2",
                              live=True)
    max_decel: float = option(2.0, gt=0, le=1000,
                              doc="braking limit for controlled and collision "
                                  "stops (a collision stop that cannot be made "
                                  "within it brakes harder, flagged hard_brake), "
                                  "m/s^2", live=True)
    max_yaw_accel: float = option(6.0, gt=0, le=1000, doc="yaw acceleration limit, rad/s^2",
                                  live=True)
    collision_margin: float = option(0.05, ge=0, le=10,
                                     doc="clearance kept beyond the robot "
                                         "radius, m", live=True)
    collision_horizon_s: float = option(1.5, gt=0, le=60,
                                        doc="how far ahead the command's arc "
                                            "is looked at to slow down early, s; "
                                            "at least the stopping time "
                                            "max(max_speed, max_reverse) / max_decel "
                                            "+ one loop period + "
                                            "robot.motor_time_constant", live=True)
    deadman_s: float = option(0.5, gt=0, le=60,
                              doc="actuator side: stop when no command arrived "
                                  "for this long, s")
    allow_blind: bool = option(False, doc="allow motion without a required scan and a "
                                          "required odometry input (warns at every start)")


@dataclass(frozen=True)
class RobotConfig:
    """The robot's base (used by the core and by the simulator; see the README's "Bases")."""

    radius: float = option(0.2, gt=0, le=50, doc="footprint radius, m (with a polygon "
                                                 "footprint: set to its inscribed radius)")
    footprint: tuple[Point, ...] = option((), doc="polygon footprint [[x, y], ...] in the "
                                                  "body frame (x forward), convex or not, "
                                                  "around the origin; empty: the circle of "
                                                  "robot.radius")
    footprint_tolerance: float = option(0.05, gt=0, le=1,
                                        doc="how far the circles covering a polygon "
                                            "footprint may reach beyond it, m (the "
                                            "cover takes at most 12 circles)")
    kinematics: str = option("diff_drive", doc="the base: 'diff_drive' (v, w), 'skid_steer' "
                                               "(v, w; the wheels slip sideways when "
                                               "turning) or 'holonomic' (vx, vy, w: mecanum "
                                               "or omni wheels); a registered name or "
                                               "module:Class")
    wheel_base: float = option(0.34, gt=0, le=50, doc="distance between the left and right "
                                                      "wheels, m")
    skid_factor: float = option(1.5, ge=1, le=10,
                                doc="skid_steer: the yaw rate is (v_right - v_left) / "
                                    "(skid_factor * wheel_base) (1 = no slip)")
    axle_distance: float = option(0.3, gt=0, le=50,
                                  doc="holonomic: distance between the front and rear "
                                      "wheels, m")
    max_wheel_speed: float = option(1.2, gt=0, le=100, doc="wheel surface speed limit, m/s")
    motor_time_constant: float = option(0.08, ge=0, le=10, doc="first-order wheel speed lag, s "
                                        "(0: none; else at least 0.001)")

    def validate(self, source: str, prefix: str) -> None:
        from robo_orch import registry  # a leaf: the kinematics themselves load later

        known = registry.names(registry.KINEMATICS)
        if self.kinematics not in known and ":" not in self.kinematics:
            close = difflib.get_close_matches(self.kinematics, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(source, f"{prefix}.kinematics",
                              f"unknown kinematics '{self.kinematics}' (known: "
                              f"{', '.join(known)}){hint}")
        if self.footprint:
            from robo_orch.footprint import inscribed_radius, polygon_area

            pts = list(self.footprint)
            if not 3 <= len(pts) <= 64 or not all(math.isfinite(c) for p in pts for c in p):
                raise ConfigError(source, f"{prefix}.footprint",
                                  "a polygon footprint needs 3 to 64 finite points")
            if abs(polygon_area(pts)) < 1e-6 or inscribed_radius(pts) <= 0.0:
                raise ConfigError(source, f"{prefix}.footprint",
                                  "the polygon must have an area and contain the origin "
                                  "(the point the pose tracks) strictly inside")
        # the safety check steps the lag in quarters of it: a tiny lag means millions of
        # steps per tick (and 5e-324 divides by zero)
        if 0 < self.motor_time_constant < 0.001:
            raise ConfigError(source, f"{prefix}.motor_time_constant",
                              f"must be 0 (no lag) or at least 0.001 s, got "
                              f"{self.motor_time_constant:g}")

    def circles(self) -> tuple[list[tuple[float, float, float]], float]:
        """The footprint as circles ``(ox, oy, r)`` in the body frame and their overshoot,
        m (a circle footprint: the one circle of ``radius``, overshoot 0)."""
        if not self.footprint:
            return [(0.0, 0.0, float(self.radius))], 0.0
        from robo_orch.footprint import circle_cover

        return circle_cover(list(self.footprint), self.footprint_tolerance)


@dataclass(frozen=True)
class LidarConfig:
    """The simulated 2D lidar (mounted at the robot centre)."""

    rays: int = option(360, ge=8, le=8192, doc="rays per scan")
    range_max: float = option(8.0, gt=0, le=1000, doc="maximum range, m")
    range_min: float = option(0.05, ge=0, le=1000, doc="minimum range, m")
    rate_hz: float = option(10.0, ge=0.01, le=1000, doc="scans per second")
    noise_std: float = option(0.01, ge=0, le=100, doc="range noise standard deviation, m")


@dataclass(frozen=True)
class DeviceFaults:
    """Faults a device emulator injects into its byte stream (``sim.faults.NAME``)."""

    garbage_rate: float = option(0.0, ge=0, le=1, doc="chance per frame of random bytes "
                                                     "inserted before it")
    drop_rate: float = option(0.0, ge=0, le=1, doc="chance per byte of being lost")
    corrupt_rate: float = option(0.0, ge=0, le=1, doc="chance per frame of a corrupted "
                                                     "checksum")
    silent: bool = option(False, doc="the device stops answering")


@dataclass(frozen=True)
class SimConfig:
    """The simulator backend and its sensor models."""

    backend: str = option("realtime", doc="'realtime' (own process, ZeroMQ) or 'lockstep' "
                                          "(in the loop's process, simulated clock)")
    seed: int = option(1, ge=0, doc="seed of every noise source")
    physics_hz: float = option(0.0, ge=0, le=10000,
                               doc="realtime backend's physics rate; 0 = the "
                                   "loop rate")
    odom_rate_hz: float = option(50.0, ge=0.01, le=10000, doc="wheel odometry messages per second")
    imu_rate_hz: float = option(50.0, ge=0.01, le=10000, doc="IMU messages per second")
    odom_noise_std: float = option(0.01, ge=0, doc="wheel speed noise, m/s")
    imu_yaw_rate_noise_std: float = option(0.01, ge=0, doc="gyro noise, rad/s")
    imu_yaw_rate_bias: float = option(0.0, doc="gyro bias, rad/s")
    imu_accel_noise_std: float = option(0.05, ge=0, doc="accelerometer noise, m/s^2")
    lidar: LidarConfig = option(LidarConfig(), doc="the lidar")
    ready_timeout_s: float = option(20.0, gt=0, le=3600,
                                    doc="realtime backend: how long to wait "
                                        "for the simulator process")
    faults: dict[str, DeviceFaults] = option({}, doc="--devices serial: faults injected by "
                                            "the emulator of driver NAME (sim.faults.NAME)")


@dataclass(frozen=True)
class MissionConfig:
    """Where the robot starts and where it must go."""

    start: tuple[float, float, float] = option((0.0, 0.0, 0.0), doc="start pose [x, y, yaw]")
    waypoints: tuple[Point, ...] = option((), doc="waypoints [[x, y], ...]; the last is the "
                                                  "goal (required)")
    goal_tolerance: float = option(0.25, gt=0, doc="distance at which a waypoint counts "
                                                   "as reached, m")
    time_limit_s: float = option(120.0, gt=0, doc="give up after this much (simulated) time")

    def validate(self, source: str, prefix: str) -> None:
        if not self.waypoints:
            raise ConfigError(source, f"{prefix}.waypoints", "at least one waypoint is required")
        if not all(math.isfinite(v) for p in self.waypoints for v in p):
            raise ConfigError(source, f"{prefix}.waypoints", "waypoints must be finite")


@dataclass(frozen=True)
class PerceptionConfig:
    """The distance field built from each scan for the local planner."""

    field_size: float = option(4.6, gt=0, le=100,
                               doc="side of the square field around the robot, m "
                                                 "(cover the local planner's reach)")
    field_resolution: float = option(0.1, gt=0, le=10, doc="field cell size, m")
    max_scan_points: int = option(2048, ge=8, le=65536, doc="scan points kept per scan; "
                                  "extra points are dropped and counted")
    field_clearance_cap: float = option(1.05, gt=0, le=100, doc="field distances are capped at "
                                        "robot.radius + this, m (at least the local "
                                        "planner's activation_clearance)")
    min_scan_returns: int = option(1, ge=0, le=65536,
                                   doc="a scan with fewer returns is rejected (no_returns) and "
                                       "keeps nothing fresh: a lidar that sees nothing stops "
                                       "the robot like a silent one; 0 takes empty scans as "
                                       "open space")

    #: keys once measured from the robot centre, now from its surface (refused at load)
    CENTRE_KEYS: ClassVar[dict[str, str]] = {"field_cap": "field_clearance_cap"}
    MAX_CELLS: ClassVar[int] = 1000  #: field cells per side

    def validate(self, source: str, prefix: str) -> None:
        cells = self.field_size / self.field_resolution
        if not cells <= self.MAX_CELLS:
            raise ConfigError(source, f"{prefix}.field_resolution",
                              f"field_size / field_resolution = {cells:.4g} cells per side, "
                              f"more than {self.MAX_CELLS}; use a coarser resolution")


@dataclass(frozen=True)
class SuccessConfig:
    """What counts as success for this mission (scenario files state it)."""

    goal_reached: bool = option(True, doc="the last waypoint must be reached")
    max_time_s: float = option(math.inf, gt=0, doc="within this much simulated time, s")
    max_collisions: int = option(0, ge=0, doc="at most this many collisions")
    min_clearance_m: float = option(0.0, ge=0, doc="the robot's surface stays this far "
                                                   "from obstacles, m")
    max_path_ratio: float = option(math.inf, ge=1, doc="driven path at most this many times "
                                                       "the shortest possible path (checked "
                                                       "by `robo-orch scenarios`)")
    max_overruns: int | None = option(None, ge=0, doc="real-time runs: at most this many "
                                      "overruns (ticks that ended after their deadline); "
                                      "lockstep verdicts ignore it; unset = no bound")
    max_tick_ms: float = option(math.inf, gt=0, doc="real-time runs: the longest tick "
                                                    "(sense + plan + act) at most this long, "
                                                    "ms; lockstep verdicts ignore it")
    min_success_rate: float = option(1.0, ge=0, le=1, doc="`robo-orch scenarios`: the "
                                                          "scenario passes when at least "
                                                          "this share of its seeds succeed")


@dataclass(frozen=True)
class BehaviorEntry:
    """How the core schedules one behavior; its own parameters sit beside these keys."""

    kind: str = option(doc="registered behavior name, a module path or a .py file")
    priority: int = option(0, doc="higher wins arbitration")
    divisor: int = option(1, ge=1, doc="run every divisor-th tick")
    enabled: bool = option(True, doc="scheduled at all", live=True)
    blendable: bool | None = option(None, doc="override the behavior's own blendable flag")
    space: str | None = option(None, doc="command space it proposes for: 'base' or a "
                                         "[commands.NAME] (default: the behavior's own "
                                         "command_space)")
    params: Any = option(None, doc="(the behavior's own keys, validated by its class)")
