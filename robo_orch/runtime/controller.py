"""The sense-plan-act tick handler the fixed-rate loop drives.

:class:`Controller` wires a :class:`~robo_orch.runtime.sense.Sensing`, a
:class:`~robo_orch.runtime.planner.Planner` and the command publisher to one bus and one
clock.  It also latches the e-stop, records each tick into a :class:`Trace`,
notes where safety stops began, and decides when the mission is over.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robo_orch.backend import SimBackend
from robo_orch.bus import Bus, QoS
from robo_orch.config import Config
from robo_orch.core import field as fieldmod
from robo_orch.core import safety_steps as saf  # (flags and limits; no kernel compiled)
from robo_orch.core import world as W
from robo_orch.messages import FORMAT_VERSION, Header, message_type, new_fixed
from robo_orch.runtime.params import LiveParams
from robo_orch.runtime.planner import Planner
from robo_orch.runtime.sense import Sensing
from robo_orch.runtime.stats import TickStats
from robo_orch.runtime.trace import COLUMNS, Trace, columns_for

#: safety flags that mean the robot is being stopped rather than merely limited
STOP_FLAGS = saf.ESTOP | saf.STALE_STOP | saf.COLLISION_STOP
#: while latched, the e-stop state is re-published about this often, Hz
ESTOP_REPEAT_HZ = 5.0
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
    """World arrays sized from the perception config and the behaviors' layout."""
    p = config.perception
    n = max(8, int(math.ceil(p.field_size / p.field_resolution)))
    sizes = config.layout.world_sizes() if config.layout is not None else {}
    world = W.World(field_shape=(n, n), field_resolution=p.field_resolution,
                    field_cap=config.robot.radius + p.field_clearance_cap,
                    max_scan=p.max_scan_points, **sizes)
    if config.layout is not None:
        config.layout.prepare(world)
    return world


def time_limit(config: Config, duration_s: float | None) -> float:
    """Simulated seconds after which a mission ends: the mission's time limit, or
    ``duration_s`` if sooner."""
    return min(config.mission.time_limit_s, duration_s if duration_s is not None else math.inf)


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
        kin = self.sensing.kinematics
        #: a holonomic base: the command is (vx, vy, w) (robo_orch.kinematics)
        self._lateral = kin.lateral
        self._cmd_type = message_type(kin.command_type)
        self.cmd_pub = bus.publisher(topics.command, self._cmd_type, frame_id="base_link")
        self._cmd_msg = new_fixed(self._cmd_type)
        self._estop_type = message_type("estop")
        # the loop alone publishes the e-stop: binding it here also refuses to start
        # while another live process holds the topic
        self.estop_pub = bus.publisher(topics.estop, self._estop_type)
        self._estop_msg = new_fixed(self._estop_type)
        self._estop_every = max(1, int(round(config.loop.rate_hz / ESTOP_REPEAT_HZ)))
        self._estop_events: list[tuple[str, Header]] = []
        self.truth_sub = (bus.subscribe(topics.truth, message_type("pose2d"), QoS.latest())
                          if backend is not None else None)
        self.trace = Trace(trace_rows, columns_for(self._lateral))
        self.safety_stops: list[SafetyStop] = []
        self.estop_latched = False
        self.time_limit_s = time_limit(config, duration_s)
        self.goal_time_s: float | None = None
        self.end_reason = ""
        self.progress = progress
        #: the real-time loop's control endpoint (:mod:`robo_orch.control`; None in lockstep):
        #: ``control.serve(now_ns)`` runs at the start of every sense phase
        self.control = None
        #: the tick in progress, and the last tick whose command has been published
        self.tick = -1
        self.completed_tick = -1
        self._planned = False
        self._health_sources: dict[str, Callable[[], dict]] = {}
        #: optional recorder hook: ``tap.before_tick()`` starts each tick (in the backend
        #: phase), ``tap(controller, tick)`` runs right after each command is published
        self.tap = None
        self.stats = stats
        #: live parameter changes, applied at the start of a tick (:mod:`.params`)
        self.live = LiveParams(self)
        self._live_queue = self.live._queue
        self.add_health("params", self.live.health)
        self.t0_ns: int | None = None
        self.now_ns = 0
        self._prev_flags = 0
        self._truth = np.full(3, np.nan)
        #: the joints command spaces (:class:`~robo_orch.runtime.joints.JointSpace`) by
        #: name, each with the plan of its behaviors (None: none target it, it holds)
        self.joint_spaces: dict[str, Any] = {}
        if config.joint_spaces:  # (imported only then: the import compiles their kernels)
            from robo_orch.runtime.joints import joint_spaces

            self.joint_spaces = joint_spaces(config, bus)
        self._spaces = [(js, self.planner.spaces.get(name))
                        for name, js in self.joint_spaces.items()]

    # --- e-stop -------------------------------------------------------------------
    def engage_estop(self) -> int:
        """Latch the e-stop: the next command is zero and stays zero until reset."""
        return self.set_estop(True)

    def reset_estop(self) -> int:
        """Release a latched e-stop (motion resumes through the normal limits)."""
        return self.set_estop(False)

    def set_estop(self, engage: bool) -> int:
        """Latch (or release) the e-stop now and publish the state on the e-stop topic.

        Returns the first tick whose command obeys it: this one when called before
        the plan phase (the control endpoint serves requests in the sense phase),
        else the next.  The state is published even when it does not change, so an
        explicit release also reaches an actuator that latched on its own.
        """
        self.estop_latched = bool(engage)
        self.world.state[W.ESTOP] = 1.0 if engage else 0.0
        self._estop_msg["engage"] = 1 if engage else 0
        stamp = self.now_ns or self.bus.clock.now_ns()
        seq = self.estop_pub.publish(self._estop_msg, stamp_ns=stamp)
        if self.sensing.consumed is not None:  # a recorder: noted as this tick's input
            bus, mtype = self.bus, self._estop_type
            self._estop_events.append(("estop", Header(
                FORMAT_VERSION, bus.clock.clock_id, mtype.type_id, mtype.layout_hash,
                bus.publisher_id, bus.incarnation, seq, stamp, 0, "")))
        return self.tick if self.tick >= 0 and not self._planned else self.tick + 1

    def _publish_estop_state(self) -> None:
        self.estop_pub.publish(self._estop_msg, stamp_ns=self.now_ns)

    # --- health ---------------------------------------------------------------------
    def add_health(self, name: str, source: Callable[[], dict]) -> None:
        """Add ``source()`` (a JSON-ready dict) to :meth:`health` under ``name``."""
        self._health_sources[name] = source

    def health(self) -> dict:
        """The loop's health, JSON-ready: what the control endpoint's ``status`` answers.

        ``loop`` (ticks, overruns, skipped slots, stalls, worst tick against the
        period), ``safety`` (e-stop, flags of the last command, staleness, safety
        stops, ticks per safety flag), ``inputs`` (per-input bus counters), ``input_rejects`` and
        ``estimate`` (input checks, estimate recoveries) and one entry per
        :meth:`add_health` source.
        """
        s, planner, st = self.world.state, self.planner, self.stats
        period_ms = 1e3 / self.config.loop.rate_hz
        loop = {"rate_hz": self.config.loop.rate_hz, "period_ms": period_ms,
                "ticks": self.completed_tick + 1}
        if st is not None:
            loop.update(ticks=st.ticks, overruns=st.overruns, skipped_slots=st.skipped,
                        stalls=st.stalls, max_tick_ms=st.tick.max * 1e-6,
                        max_lateness_ms=st.lateness.max * 1e-6)
        out = {"pid": os.getpid(), "tick": self.completed_tick, "t": float(s[W.T]), "loop": loop,
               "safety": {"estop": self.estop_latched, "flags": int(planner.flags),
                          "flag_names": flag_names(int(planner.flags)),
                          "stale": bool(s[W.STALE]), "safety_stops": len(self.safety_stops),
                          "command": [float(c) for c in planner.cmd],
                          "flag_ticks": planner.safety_counters()},
               "inputs": self.sensing.counters(),
               "input_rejects": self.sensing.input_rejects(),
               "estimate": self.sensing.estimate_health()}
        if self.joint_spaces:
            out["commands"] = self.command_counters()
        for name, source in self._health_sources.items():
            out[name] = source()
        return out

    def command_counters(self) -> dict:
        """Per joints command space: commands sent, refused states, ticks per safety flag."""
        return {name: js.counters() for name, js in self.joint_spaces.items()}

    # --- the tick -----------------------------------------------------------------
    def pre_tick(self, tick: int, now_ns: int) -> None:
        """Between ticks: the previous tick's records, the waiting live parameter changes
        (:class:`LiveParams`), then the backend (lockstep: one simulator step)."""
        if self.t0_ns is None:
            self.t0_ns = now_ns
        self.now_ns = now_ns
        if self.tap is not None:
            self.tap.before_tick()
        if self._live_queue:
            self.live.apply_pending(tick, now_ns)
        if self.backend is not None:
            self.backend.pre_tick(tick, now_ns)

    def sense(self, tick: int, now_ns: int) -> None:
        """Serve the control endpoint (e-stop requests), then bring the world up to date."""
        self.tick = tick
        self._planned = False
        if self.control is not None:
            self.control.serve(now_ns)
        if self._estop_events:  # changes since the last sense: this tick's inputs
            if self.sensing.consumed is not None:
                self.sensing.consumed.extend(self._estop_events)
            self._estop_events.clear()
        self.sensing.sense(now_ns, self.t0_ns)
        for js, _ in self._spaces:
            js.sense(now_ns)
        if self.truth_sub is not None and self.truth_sub.poll():
            msg = self.truth_sub.latest()
            if msg is not None:
                f = msg.fixed
                self._truth[0], self._truth[1], self._truth[2] = f["x"], f["y"], f["yaw"]

    def plan(self, tick: int) -> None:
        """Run the compiled planning core."""
        self.planner.plan(tick)
        self._planned = True

    def act(self, tick: int) -> bool:
        """Publish the command, record the tick, and say whether to go on."""
        planner, s = self.planner, self.world.state
        msg = self._cmd_msg
        if self._lateral:
            msg["vx"] = planner.cmd[0]
            msg["vy"] = planner.cmd[1]
            msg["w"] = planner.cmd[2]
        else:
            msg["v"] = planner.cmd[0]
            msg["w"] = planner.cmd[1]
        # stamped with the newest input it was computed from (the data's time, as a
        # ROS header would be), so the actuator side can measure sensor-to-actuator
        self.cmd_pub.publish(msg, stamp_ns=self.sensing.input_stamp_ns or self.now_ns)
        if self._spaces:
            self._act_spaces()
        self.completed_tick = tick
        if self.estop_latched and tick % self._estop_every == 0:
            self._publish_estop_state()  # so a restarted actuator driver learns it
        if self.tap is not None:  # a recorder's per-tick record (robo_orch.record)
            self.tap(self, tick)
        t = s[W.T]
        row = self.trace.append_row()
        row[0], row[1], row[2], row[3] = t, s[W.X], s[W.Y], s[W.YAW]
        row[4], row[5], row[6] = self._truth
        row[7], row[8], row[9], row[10] = planner.cmd[0], planner.cmd[-1], planner.flags, \
            planner.winner
        if self._lateral:  # (LATERAL_COLUMNS)
            row[11], row[12] = s[W.VY], planner.cmd[1]
        stopping = planner.flags & STOP_FLAGS
        if stopping and not (self._prev_flags & STOP_FLAGS):
            self.safety_stops.append(SafetyStop(t, s[W.X], s[W.Y], flag_names(stopping)))
        self._prev_flags = planner.flags
        if self.progress is not None:
            self.progress(self)
        return not self._finished(t)

    def _act_spaces(self) -> None:
        """After the base: each joints space's arbitrated proposal (or a hold) through its
        safety kernel (the e-stop latch and the loop's stale inputs apply) to its topic."""
        estop = self.estop_latched
        stale = self.world.state[W.STALE] != 0.0
        for js, plan in self._spaces:
            if plan is not None and plan.winner >= 0:
                np.copyto(js.proposal, plan.out)
            else:
                js.hold()
            js.act(self.now_ns, estop=estop, stale=stale)

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
        return self.backend is not None and self.backend.kind == "lockstep"

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
        divisors = [1, *planner.divisors]
        for space in planner.spaces.values():
            divisors.extend(space.divisors)
        for tick in range(int(max(divisors)) + 1):
            planner.plan(tick)
        self.sensing.warmup()

    def publish_stop(self) -> None:
        """Send an explicit zero command (on shutdown; the actuator deadman is the backup)."""
        msg = self._cmd_msg
        for name in msg.dtype.names:  # (v, w) or (vx, vy, w)
            msg[name] = 0.0
        self.cmd_pub.publish(msg, stamp_ns=self.now_ns)

    @property
    def distance_to_goal(self) -> float:
        """Straight-line distance from the estimated pose to the last waypoint, m."""
        s = self.world.state
        n = int(s[W.PATH_COUNT])
        gx, gy = self.world.path[n - 1]
        return math.hypot(gx - s[W.X], gy - s[W.Y])
