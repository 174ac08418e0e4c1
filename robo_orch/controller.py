"""The sense-plan-act tick handler the fixed-rate loop drives.

:class:`Controller` wires a :class:`~robo_orch.sense.Sensing`, a
:class:`~robo_orch.planner.Planner` and the command publisher to one bus and one
clock.  It also latches the e-stop, records each tick into a :class:`Trace`,
notes where safety stops began, and decides when the mission is over.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robo_orch.backend import SimBackend
from robo_orch.bus import Bus, QoS
from robo_orch.config import Config
from robo_orch.core import field as fieldmod
from robo_orch.core import safety as saf
from robo_orch.core import world as W
from robo_orch.messages import message_type, new_fixed
from robo_orch.planner import Planner
from robo_orch.sense import Sensing
from robo_orch.stats import TickStats
from robo_orch.trace import COLUMNS, Trace

#: safety flags that mean the robot is being stopped rather than merely limited
STOP_FLAGS = saf.ESTOP | saf.STALE_STOP | saf.COLLISION_STOP
_COL = {name: i for i, name in enumerate(COLUMNS)}


@dataclass
class SafetyStop:
    """Where and why a safety stop began."""

    t: float
    x: float
    y: float
    reason: str


def flag_names(flags: int) -> str:
    """Human-readable names of safety flags, e.g. ``"stale_stop+collision_slow"``."""
    names = [name for i, name in enumerate(saf.FLAG_NAMES) if flags & (1 << i)]
    return "+".join(names) or "none"


def make_world(config: Config) -> W.World:
    """World arrays sized from the perception config."""
    p = config.perception
    n = max(8, int(math.ceil(p.field_size / p.field_resolution)))
    return W.World(field_shape=(n, n), field_resolution=p.field_resolution,
                   field_cap=config.robot.radius + p.field_clearance_cap,
                   max_scan=p.max_scan_points)


class Controller:
    """One robot's sense-plan-act cycle on a bus, driven by :class:`FixedRateLoop`."""

    def __init__(self, config: Config, bus: Bus, *, backend: SimBackend | None = None,
                 duration_s: float | None = None,
                 progress: Callable[[Controller], None] | None = None,
                 stats: TickStats | None = None, trace_rows: int | None = None) -> None:
        self.config = config
        self.bus = bus
        self.backend = backend
        self.world = make_world(config)
        self.sensing = Sensing(config, bus, self.world)
        self.planner = Planner(config, self.world, deterministic=self._deterministic())
        topics = config.topics
        self._cmd_type = message_type("velocity_command")
        self.cmd_pub = bus.publisher(topics.command, self._cmd_type, frame_id="base_link")
        self._cmd_msg = new_fixed(self._cmd_type)
        self.estop_sub = bus.subscribe(topics.estop, message_type("estop"), QoS.queue(64))
        self.truth_sub = (bus.subscribe(topics.truth, message_type("pose2d"), QoS.latest())
                          if backend is not None else None)
        self.trace = Trace(trace_rows)
        self.safety_stops: list[SafetyStop] = []
        self.estop_latched = False
        self.time_limit_s = min(config.mission.time_limit_s,
                                duration_s if duration_s is not None else math.inf)
        self.goal_time_s: float | None = None
        self.end_reason = ""
        self.progress = progress
        #: optional recorder hook: ``tap.before_tick()`` starts each tick (in the backend
        #: phase), ``tap(controller, tick)`` runs right after each command is published
        self.tap = None
        self.stats = stats
        self.t0_ns: int | None = None
        self.now_ns = 0
        self._prev_flags = 0
        self._truth = np.full(3, np.nan)

    # --- e-stop -------------------------------------------------------------------
    def engage_estop(self) -> None:
        """Latch the e-stop: the next command is zero and stays zero until reset."""
        self.estop_latched = True
        self.world.state[W.ESTOP] = 1.0

    def reset_estop(self) -> None:
        """Release a latched e-stop (motion resumes through the normal limits)."""
        self.estop_latched = False
        self.world.state[W.ESTOP] = 0.0

    # --- the tick -----------------------------------------------------------------
    def pre_tick(self, tick: int, now_ns: int) -> None:
        """Let the backend run before sensing (lockstep: one simulator step)."""
        if self.t0_ns is None:
            self.t0_ns = now_ns
        self.now_ns = now_ns
        if self.tap is not None:
            self.tap.before_tick()
        if self.backend is not None:
            self.backend.pre_tick(tick, now_ns)

    def sense(self, tick: int, now_ns: int) -> None:
        """Handle e-stop requests, then bring the world up to date."""
        if self.estop_sub.poll():
            for msg in self.estop_sub.take():
                if self.sensing.consumed is not None:
                    self.sensing.consumed.append(("estop", msg.header))
                if msg.fixed["engage"]:
                    self.engage_estop()
                else:
                    self.reset_estop()
        self.sensing.sense(now_ns, self.t0_ns)
        if self.truth_sub is not None and self.truth_sub.poll():
            msg = self.truth_sub.latest()
            if msg is not None:
                f = msg.fixed
                self._truth[0], self._truth[1], self._truth[2] = f["x"], f["y"], f["yaw"]

    def plan(self, tick: int) -> None:
        """Run the compiled planning core."""
        self.planner.plan(tick)

    def act(self, tick: int) -> bool:
        """Publish the command, record the tick, and say whether to go on."""
        planner, s = self.planner, self.world.state
        msg = self._cmd_msg
        msg["v"] = planner.cmd[0]
        msg["w"] = planner.cmd[1]
        # stamped with the newest input it was computed from (the data's time, as a
        # ROS header would be), so the actuator side can measure sensor-to-actuator
        self.cmd_pub.publish(msg, stamp_ns=self.sensing.input_stamp_ns or self.now_ns)
        if self.tap is not None:  # a recorder's per-tick record (robo_orch.record)
            self.tap(self, tick)
        t = s[W.T]
        row = self.trace.append_row()
        row[0], row[1], row[2], row[3] = t, s[W.X], s[W.Y], s[W.YAW]
        row[4], row[5], row[6] = self._truth
        row[7], row[8], row[9], row[10] = planner.cmd[0], planner.cmd[1], planner.flags, \
            planner.winner
        stopping = planner.flags & STOP_FLAGS
        if stopping and not (self._prev_flags & STOP_FLAGS):
            self.safety_stops.append(SafetyStop(t, s[W.X], s[W.Y], flag_names(stopping)))
        self._prev_flags = planner.flags
        if self.progress is not None:
            self.progress(self)
        return not self._finished(t)

    def _finished(self, t: float) -> bool:
        s = self.world.state
        if s[W.GOAL_REACHED] and self.goal_time_s is None:
            self.goal_time_s = t
        if self.goal_time_s is not None and abs(s[W.CMD_V]) < 1e-3 and abs(s[W.CMD_W]) < 1e-3:
            self.end_reason = "goal reached"
            return True
        if s[W.NAV_STATUS] > 0 and self.goal_time_s is None:
            why = self.planner.failure_reason() or W.NAV_STATUS_TEXT.get(
                int(s[W.NAV_STATUS]), f"code {int(s[W.NAV_STATUS])}")
            self.end_reason = f"navigation failed: {why}"
            return True
        if t >= self.time_limit_s:
            self.end_reason = "time limit"
            return True
        return False

    def _deterministic(self) -> bool:
        """Lockstep runs hand results of worker threads over on fixed ticks."""
        return self.backend is not None and self.backend.name == "lockstep"

    # --- start and stop -------------------------------------------------------------
    def warmup(self) -> None:
        """Run every kernel once on scratch copies so the first tick compiles nothing."""
        world = make_world(self.config)
        world.set_path(self.world.path[: int(self.world.state[W.PATH_COUNT])])
        world.state[:] = self.world.state
        pts = np.array([[1.0, 0.0], [0.0, 1.0]])
        world.scan[:2] = pts
        world.state[W.SCAN_COUNT] = 2
        fieldmod.build_field(world.scan, 2, 0.0, 0.0, world.state, world.field,
                             fieldmod.alloc_field_scratch(world.field.shape))
        fieldmod.nearest_distance(world.scan, 2, 0.0, 0.0)
        planner = Planner(self.config, world, deterministic=True)
        for tick in range(int(max(planner.divisors.max(), 1)) + 1):
            planner.plan(tick)
        self.sensing.warmup()

    def publish_stop(self) -> None:
        """Send an explicit zero command (on shutdown; the actuator deadman is the backup)."""
        msg = self._cmd_msg
        msg["v"] = 0.0
        msg["w"] = 0.0
        self.cmd_pub.publish(msg, stamp_ns=self.now_ns)

    @property
    def distance_to_goal(self) -> float:
        """Straight-line distance from the estimated pose to the last waypoint, m."""
        s = self.world.state
        n = int(s[W.PATH_COUNT])
        gx, gy = self.world.path[n - 1]
        return math.hypot(gx - s[W.X], gy - s[W.Y])
