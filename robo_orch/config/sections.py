"""The sections of a robo_orch config file, as validated dataclasses.

Every field has a default except where noted, so a config names only what it
changes.  ``robo-orch check CONFIG`` prints the resolved values; the README's
config reference is generated from the ``doc`` strings here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from robo_orch.errors import ConfigError
from robo_orch.planar import segment_distance
from robo_orch.schema import option

Point = tuple[float, float]


@dataclass(frozen=True)
class LoopConfig:
    """The fixed-rate control loop."""

    rate_hz: float = option(50.0, gt=0, le=10000, doc="tick rate of the control loop, Hz")
    overrun: str = option("skip", choices=("skip", "catch_up"),
                          doc="late tick: 'skip' to the next free slot and count it, or "
                              "'catch_up' by running late ticks back to back")
    spin_us: float = option(500.0, ge=0, doc="busy-wait this long before each deadline "
                                             "instead of sleeping (wall clock only), us")
    realtime_priority: int = option(0, ge=0, le=99,
                                    doc="SCHED_FIFO priority for the loop thread; 0 = off")
    cpu: int = option(-1, ge=-1, doc="pin the loop process to this CPU; -1 = no pinning")
    lock_memory: bool = option(False, doc="mlockall: keep every page in RAM (needs "
                                          "CAP_IPC_LOCK or a memlock limit)")
    timer_slack_ns: int = option(0, ge=0, doc="timer slack for the loop's sleeps, ns; 0 = "
                                              "leave the kernel default (50 us)")
    trigger: str = option("", doc="input role whose arrival starts a tick (e.g. 'imu'); "
                                  "empty = fixed rate; lockstep always runs at the fixed rate")
    trigger_timeout_s: float = option(0.0, ge=0, doc="with a trigger: tick anyway after this "
                                                    "long without a message; 0 = two periods")
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
    hwm: int = option(100, ge=1, doc="ZeroMQ high-water mark per topic socket, messages")
    max_per_poll: int = option(32, ge=1, doc="input messages decoded per tick and input (a "
                                             "deeper queue: its depth); older ones are "
                                             "dropped undecoded and counted")


@dataclass(frozen=True)
class InputConfig:
    """One sensor stream the loop consumes."""

    topic: str = option(doc="bus topic")
    qos: str = option("latest", doc="'latest' (keep the newest) or 'queue:N' (keep N)")
    max_age_s: float = option(0.5, gt=0, doc="older than this (or never received) is stale "
                                             "and brings the robot to a controlled stop")
    required: bool = option(True, doc="a stale required input stops the robot")
    max_bytes: int = option(0, ge=0, doc="largest frame accepted, bytes (a larger one is "
                                         "refused and counted); 0 = the message type's "
                                         "limit (laser_scan: 16384 points)")

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

    max_speed: float = option(0.8, gt=0, doc="forward speed limit, m/s")
    max_reverse: float = option(0.2, ge=0, doc="reverse speed limit, m/s")
    max_yaw_rate: float = option(2.0, gt=0, doc="yaw rate limit, rad/s")
    max_accel: float = option(1.0, gt=0, doc="forward acceleration limit, m/s^2")
    max_decel: float = option(2.0, gt=0, doc="braking limit for controlled and collision "
                                             "stops (a collision stop that cannot be made "
                                             "within it brakes harder, flagged hard_brake), "
                                             "m/s^2")
    max_yaw_accel: float = option(6.0, gt=0, doc="yaw acceleration limit, rad/s^2")
    collision_margin: float = option(0.05, ge=0, doc="clearance kept beyond the robot "
                                                     "radius, m")
    collision_horizon_s: float = option(1.5, gt=0, doc="how far ahead the command's arc "
                                                       "is looked at to slow down early, s; "
                                                       "at least the stopping time "
                                                       "max(max_speed, max_reverse) / max_decel "
                                                       "+ one loop period + "
                                                       "robot.motor_time_constant")
    deadman_s: float = option(0.5, gt=0, doc="actuator side: stop when no command arrived "
                                             "for this long, s")
    allow_blind: bool = option(False, doc="allow motion without a required scan and a "
                                          "required odometry input (warns at every start)")


@dataclass(frozen=True)
class RobotConfig:
    """The differential-drive robot (used by the core and by the simulator)."""

    radius: float = option(0.2, gt=0, doc="footprint radius, m")
    wheel_base: float = option(0.34, gt=0, doc="distance between the wheels, m")
    max_wheel_speed: float = option(1.2, gt=0, doc="wheel surface speed limit, m/s")
    motor_time_constant: float = option(0.08, ge=0, doc="first-order wheel speed lag, s")


@dataclass(frozen=True)
class Circle:
    """A round obstacle."""

    center: Point = option(doc="centre (x, y), m")
    radius: float = option(gt=0, doc="radius, m")


@dataclass(frozen=True)
class Wall:
    """A straight wall segment of zero thickness."""

    start: Point = option(doc="(x, y), m")
    end: Point = option(doc="(x, y), m")


@dataclass(frozen=True)
class Polygon:
    """A closed polygonal obstacle."""

    points: tuple[Point, ...] = option(doc="vertices [[x, y], ...] in order, m")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.points) < 3:
            raise ConfigError(source, f"{prefix}.points", "a polygon needs at least 3 points")


@dataclass(frozen=True)
class MovingCircle:
    """A round obstacle moving at constant speed along a path (simulation only)."""

    radius: float = option(gt=0, doc="radius, m")
    path: tuple[Point, ...] = option(doc="[[x, y], ...], at least 2 points; the obstacle "
                                         "starts at the first")
    speed: float = option(gt=0, doc="speed along the path, m/s")
    mode: str = option("bounce", choices=("bounce", "loop", "once"),
                       doc="at the path end: 'bounce' back, 'loop' to the first point, or "
                           "stop there ('once')")
    delay_s: float = option(0.0, ge=0, doc="wait this long at the first point, s")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.path) < 2:
            raise ConfigError(source, f"{prefix}.path", "a path needs at least 2 points")
        if not all(math.isfinite(v) for p in self.path for v in p):
            raise ConfigError(source, f"{prefix}.path", "points must be finite")
        if path_length(self.path) <= 0.0:
            raise ConfigError(source, f"{prefix}.path", "the path has zero length")


@dataclass(frozen=True)
class RandomObstacles:
    """Round obstacles placed at random, the layout fixed by ``sim.seed``.

    Every obstacle keeps ``min_gap`` of free space to every other surface, so with
    ``min_gap`` above the robot's diameter every layout leaves a way through.
    """

    count: int = option(0, ge=0, le=1000, doc="obstacles to place (fewer when they do not "
                                               "fit); 0 = none")
    region: tuple[float, ...] = option((), doc="[xmin, ymin, xmax, ymax] the obstacles lie "
                                               "in; empty = the bounds")
    radius: tuple[float, float] = option((0.3, 0.5), doc="[min, max] radius, m")
    min_gap: float = option(0.6, ge=0, doc="free space kept between an obstacle and any "
                                           "other surface, m")
    keep_clear: tuple[Point, ...] = option((), doc="points kept free of obstacles (the "
                                                   "goal, say); the start always is")
    clear_radius: float = option(1.0, ge=0, doc="free radius around the start and each "
                                                "keep_clear point, m")

    def validate(self, source: str, prefix: str) -> None:
        lo, hi = self.radius
        if not 0 < lo <= hi:
            raise ConfigError(source, f"{prefix}.radius", "need 0 < min <= max")
        if self.region and (len(self.region) != 4 or not (
                self.region[0] < self.region[2] and self.region[1] < self.region[3])):
            raise ConfigError(source, f"{prefix}.region", "expected [xmin, ymin, xmax, ymax] "
                              "with xmin < xmax and ymin < ymax")


@dataclass(frozen=True)
class WorldConfig:
    """The simulated world: an optional bounding box and obstacles."""

    bounds: tuple[float, ...] = option((), doc="[xmin, ymin, xmax, ymax]: walls around the "
                                               "world; empty = no outer walls")
    walls: tuple[Wall, ...] = option((), doc="wall segments")
    circles: tuple[Circle, ...] = option((), doc="round obstacles")
    polygons: tuple[Polygon, ...] = option((), doc="polygonal obstacles")
    moving: tuple[MovingCircle, ...] = option((), doc="moving round obstacles (simulation "
                                                      "only; not part of any map)")
    random: RandomObstacles = option(RandomObstacles(), doc="round obstacles placed from "
                                                            "the seed")

    def validate(self, source: str, prefix: str) -> None:
        if self.bounds:
            if len(self.bounds) != 4:
                raise ConfigError(source, f"{prefix}.bounds", "expected [xmin, ymin, xmax, ymax]")
            xmin, ymin, xmax, ymax = self.bounds
            if not (xmin < xmax and ymin < ymax):
                raise ConfigError(source, f"{prefix}.bounds", "need xmin < xmax and ymin < ymax")
        if self.random.count and not (self.random.region or self.bounds):
            raise ConfigError(source, f"{prefix}.random.region", "random obstacles need a "
                              "region (or world bounds)")

    def resolve(self, seed: int, start: Point) -> WorldConfig:
        """This world with its random obstacles placed for ``seed``: plain circles only.

        The same (world, seed, start) always gives the same layout.  The simulator
        calls this with ``sim.seed`` and ``mission.start``; anything that needs the
        simulated obstacles (a map, a plot) must do the same.
        """
        if self.random.count == 0:
            return self
        placed = _place_random(self, int(seed), (float(start[0]), float(start[1])))
        return dataclasses.replace(self, circles=self.circles + placed,
                                   random=RandomObstacles())


def path_length(points: tuple[Point, ...]) -> float:
    """Length of a polyline, m."""
    return sum(math.dist(a, b) for a, b in zip(points, points[1:], strict=False))


def _place_random(world: WorldConfig, seed: int, start: Point) -> tuple[Circle, ...]:
    """Rejection sampling of the random obstacles (see :class:`RandomObstacles`)."""
    import numpy as np

    from robo_orch.config.load import world_clearance  # config imports us

    spec = world.random
    static = dataclasses.replace(world, random=RandomObstacles(), moving=())
    x0, y0, x1, y1 = spec.region or world.bounds
    keep = [start, *spec.keep_clear]
    # a moving obstacle's path is a surface too: keep the gap to its swept band
    sweeps = []
    for m in world.moving:
        pts = m.path + (m.path[:1] if m.mode == "loop" else ())
        sweeps += [(a, b, m.radius) for a, b in zip(pts, pts[1:], strict=False)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x6F62])))
    placed: list[Circle] = []
    gap = spec.min_gap
    for _ in range(spec.count * 200):
        if len(placed) == spec.count:
            break
        r = float(rng.uniform(spec.radius[0], spec.radius[1]))
        if x1 - x0 <= 2 * r or y1 - y0 <= 2 * r:
            continue
        cx = float(rng.uniform(x0 + r, x1 - r))
        cy = float(rng.uniform(y0 + r, y1 - r))
        if any(math.dist((cx, cy), k) < spec.clear_radius + r for k in keep):
            continue
        if world_clearance(static, cx, cy) < r + gap:
            continue
        if any(math.dist((cx, cy), c.center) < r + c.radius + gap for c in placed):
            continue
        if any(segment_distance(cx, cy, *a, *b) < r + rm + gap for a, b, rm in sweeps):
            continue
        placed.append(Circle(center=(cx, cy), radius=r))
    return tuple(placed)


@dataclass(frozen=True)
class LidarConfig:
    """The simulated 2D lidar (mounted at the robot centre)."""

    rays: int = option(360, ge=8, le=8192, doc="rays per scan")
    range_max: float = option(8.0, gt=0, doc="maximum range, m")
    range_min: float = option(0.05, ge=0, doc="minimum range, m")
    rate_hz: float = option(10.0, gt=0, doc="scans per second")
    noise_std: float = option(0.01, ge=0, doc="range noise standard deviation, m")


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
    physics_hz: float = option(0.0, ge=0, doc="realtime backend's physics rate; 0 = the "
                                              "loop rate")
    odom_rate_hz: float = option(50.0, gt=0, doc="wheel odometry messages per second")
    imu_rate_hz: float = option(50.0, gt=0, doc="IMU messages per second")
    odom_noise_std: float = option(0.01, ge=0, doc="wheel speed noise, m/s")
    imu_yaw_rate_noise_std: float = option(0.01, ge=0, doc="gyro noise, rad/s")
    imu_yaw_rate_bias: float = option(0.0, doc="gyro bias, rad/s")
    imu_accel_noise_std: float = option(0.05, ge=0, doc="accelerometer noise, m/s^2")
    lidar: LidarConfig = option(LidarConfig(), doc="the lidar")
    ready_timeout_s: float = option(20.0, gt=0, doc="realtime backend: how long to wait "
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

    field_size: float = option(4.6, gt=0, doc="side of the square field around the robot, m "
                                                 "(cover the local planner's reach)")
    field_resolution: float = option(0.1, gt=0, doc="field cell size, m")
    max_scan_points: int = option(2048, ge=8, le=65536, doc="scan points kept per scan; "
                                  "extra points are dropped and counted")
    field_clearance_cap: float = option(1.05, gt=0, doc="field distances are capped at "
                                        "robot.radius + this, m (at least the local "
                                        "planner's activation_clearance)")

    #: keys once measured from the robot centre, now from its surface (refused at load)
    CENTRE_KEYS: ClassVar[dict[str, str]] = {"field_cap": "field_clearance_cap"}


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
    enabled: bool = option(True, doc="scheduled at all")
    blendable: bool | None = option(None, doc="override the behavior's own blendable flag")
    params: Any = option(None, doc="(the behavior's own keys, validated by its class)")
