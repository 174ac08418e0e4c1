"""``robo-orch replay``: republish a recording, or re-run the loop on its inputs.

Replay (:func:`replay`) sends the recorded wire frames, unchanged, on a bus at
their original pace (``rate`` 2 = twice as fast, 0 = as fast as possible).  The
pace follows a :class:`Clock`: on a wall clock the replay sleeps until each
message is due; on a :class:`SimClock` it moves the simulated time to each
message's recorded time, so in-process subscribers on that clock see the
original timing exactly.

Re-run (:func:`rerun`) is open-loop: for each recorded tick it feeds a fresh
controller exactly the input messages that tick consumed (the tick records list
them by topic, publisher and sequence number), at the tick's recorded time, and
compares the command with the recorded one.  The recorded motion does not react
to the re-run's commands.  Live parameter changes recorded on ``loop/params``
(:mod:`~robo_orch.record.params`) are validated and applied before the tick they
took effect at, as the loop applied them.  With the same config (the one the run
started with), machine and build the commands are bit-identical; otherwise
:class:`RerunReport` says where they diverge.
"""

from __future__ import annotations

import argparse
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from robo_orch.bus import Bus, MemoryHub, QoS, make_bus
from robo_orch.clock import Clock, SimClock, make_clock
from robo_orch.record.params import PARAMS_TOPIC, parse_payload
from robo_orch.record.reader import REORDER_WINDOW_NS, RawMessage, Recording, open_recording
from robo_orch.record.ticks import ROLES, TICK_TOPIC

_PURGE_NS = 10_000_000_000  # unconsumed inputs older than this behind the tick are dropped


@dataclass
class ReplayStats:
    """What a replay sent."""

    messages: int = 0
    first_ns: int = 0  #: recorded log time of the first message sent
    last_ns: int = 0
    wall_s: float = 0.0  #: real time the replay took

    @property
    def span_s(self) -> float:
        """Recorded time covered, s."""
        return (self.last_ns - self.first_ns) * 1e-9


def replay(recording: Recording, bus: Bus, clock: Clock, *, rate: float = 1.0,
           topics: list[str] | None = None) -> ReplayStats:
    """Republish ``recording``'s bus messages on ``bus`` paced by ``clock`` (see module doc)."""
    import time

    stats = ReplayStats()
    t_wall = time.perf_counter()
    first = None
    start = 0
    for raw in recording.raw(topics):
        if first is None:
            first = stats.first_ns = raw.log_time_ns
            if isinstance(clock, SimClock):
                clock.advance_to_ns(first)
            start = clock.now_ns()
        if rate > 0:
            clock.sleep_until_ns(start + int((raw.log_time_ns - first) / rate))
        bus.send_raw(raw.topic, raw.frames)
        stats.messages += 1
        stats.last_ns = raw.log_time_ns
    stats.wall_s = time.perf_counter() - t_wall
    return stats


@dataclass
class RerunReport:
    """Recorded and re-run commands of every tick, and where they differ."""

    ticks: np.ndarray  #: tick index per compared tick
    t: np.ndarray  #: loop time, s
    recorded: np.ndarray  #: (n, 2) recorded v, w
    rerun: np.ndarray  #: (n, 2) re-run v, w
    identical: np.ndarray  #: (n,) bool: both commands bit-identical
    missing_inputs: int = 0  #: consumed inputs not found in the recording (inexact ticks)
    notes: list[str] = field(default_factory=list)
    #: live parameter changes applied at their recorded ticks, and those refused
    param_changes: int = 0
    param_refused: int = 0

    @property
    def diverged(self) -> bool:
        """True if any tick's command differs in any bit."""
        return not bool(self.identical.all())

    @property
    def first_divergence(self) -> int | None:
        """Index (into the arrays) of the first differing tick, or None."""
        bad = np.flatnonzero(~self.identical)
        return int(bad[0]) if len(bad) else None

    def max_difference(self) -> tuple[float, float]:
        """Largest absolute difference of v (m/s) and w (rad/s)."""
        if not len(self.t):
            return 0.0, 0.0
        d = np.abs(self.rerun - self.recorded)
        return float(d[:, 0].max()), float(d[:, 1].max())

    def text(self) -> str:
        """A few lines for a person."""
        lines = [f"open-loop re-run of {len(self.t)} ticks: the recorded sensor inputs were fed "
                 "to the loop; the recorded motion does not react to the re-run's commands"]
        if self.missing_inputs:
            lines.append(f"warning: {self.missing_inputs} consumed input messages were missing "
                         "from the recording: those ticks are not exact")
        if self.param_changes or self.param_refused:
            lines.append(f"{self.param_changes} live parameter changes applied at their recorded "
                         "ticks" + (f"; warning: {self.param_refused} refused by this config"
                                    if self.param_refused else ""))
        lines += self.notes
        i = self.first_divergence
        if i is None:
            lines.append("commands: bit-identical on every tick")
        else:
            dv, dw = self.max_difference()
            lines.append(f"commands diverge: first at tick {int(self.ticks[i])} (t = "
                         f"{self.t[i]:.3f} s), {int((~self.identical).sum())} of "
                         f"{len(self.t)} ticks differ; max |dv| = {dv:.6g} m/s, "
                         f"max |dw| = {dw:.6g} rad/s")
        return "\n".join(lines)


class _Feeder:
    """Matches tick records with the input messages they consumed, in stream order."""

    def __init__(self, recording: Recording) -> None:
        ctx = recording.context
        self.role_topic = dict(ctx.roles)
        self.role_topic["estop"] = ctx.estop_topic
        self.inputs = {topic: {} for topic in self.role_topic.values()}
        self.ticks: deque = deque()
        self.behaviors: dict[int, RawMessage] = {}
        #: tick -> the live parameter changes applied before it (``loop/params``)
        self.params: dict[int, list[dict]] = {}
        self.newest_ns = 0
        self.missing = 0

    def add(self, raw: RawMessage) -> None:
        self.newest_ns = max(self.newest_ns, raw.log_time_ns)
        if raw.topic == TICK_TOPIC:
            self.ticks.append(raw.decode())
        elif raw.topic == PARAMS_TOPIC:
            change = parse_payload(raw.payload)
            self.params.setdefault(int(change["tick"]), []).append(change)
        elif raw.topic in self.inputs:
            h = raw.decode().header
            self.inputs[raw.topic][(h.publisher_id, h.incarnation, h.seq)] = raw

    def ready(self, final: bool) -> bool:
        if not self.ticks:
            return False
        if final or self.newest_ns > self.ticks[0].header.stamp_ns + REORDER_WINDOW_NS:
            return True
        return all(self._key(e) in self.inputs.get(self._topic(e), ()) for e in self.ticks[0].var)

    def _topic(self, entry) -> str:
        return self.role_topic.get(ROLES[int(entry["role"])], "")

    @staticmethod
    def _key(entry) -> tuple[int, int, int]:
        return int(entry["publisher_id"]), int(entry["incarnation"]), int(entry["seq"])

    def pop(self):
        """The next tick record and its inputs as ``[(role, RawMessage)]``."""
        rec = self.ticks.popleft()
        used = []
        for e in rec.var:
            found = self.inputs.get(self._topic(e), {}).pop(self._key(e), None)
            if found is None:
                self.missing += 1
            else:
                used.append((ROLES[int(e["role"])], found))
        horizon = rec.header.stamp_ns - _PURGE_NS
        for pending in self.inputs.values():
            for key in [k for k, m in pending.items() if m.log_time_ns < horizon]:
                del pending[key]
        return rec, used


class _RecordedInputs:
    """The re-run's backend: a lockstep run whose inputs come from the recording.

    Named ``lockstep`` so the controller asks for tick-deterministic behaviors, as
    in the lockstep run that made the recording; the inputs are fed by :func:`rerun`.
    """

    kind = "lockstep"

    def pre_tick(self, tick: int, now_ns: int) -> None:
        """Nothing: :func:`rerun` has fed the tick's inputs already."""


def rerun(recording: Recording, config, *, params: bool = True) -> RerunReport:
    """Feed the recorded inputs through a fresh controller for ``config``, tick by tick.

    ``params``: apply the recorded live parameter changes at their ticks (False: run
    on ``config`` throughout, to see what the changes did).
    """
    from robo_orch.errors import ConfigError
    from robo_orch.runtime.controller import Controller

    clock = make_clock("sim")
    bus = make_bus("memory", clock, publisher_id=1, hub=MemoryHub(), hwm=10_000)
    feed_bus = bus.peer(2)
    controller = Controller(config, bus, backend=_RecordedInputs())
    controller.warmup()
    cmd_sub = feed_bus.subscribe(config.topics.command, "velocity_command", QoS.latest())
    new_topic = {role: inp.topic for role, inp in config.inputs.items()}
    feeder = _Feeder(recording)
    ticks, times, rec_cmd, new_cmd, same = [], [], [], [], []
    notes = []
    dropped_roles: set[str] = set()
    changes = [0, 0]  # applied, refused

    def run_tick(final: bool) -> None:
        while feeder.ready(final):
            rec, used = feeder.pop()
            f = rec.fixed
            tick, now = int(f["tick"]), int(f["now_ns"])
            clock.advance_to_ns(now)
            estops = []
            for role, raw in used:
                if role == "estop":  # the loop latches it itself: applied like a request
                    estops.append(bool(raw.decode().fixed["engage"]))
                    continue
                topic = new_topic.get(role)
                if topic is None:
                    dropped_roles.add(role)
                    continue
                feed_bus.send_raw(topic, [topic.encode("ascii"), raw.header_bytes, raw.payload])
            tickets = []
            for change in feeder.params.pop(tick, ()) if params else ():
                try:  # validated again, on this config, as the loop validated it
                    proposed = controller.live.propose(change["changes"], change["source"])
                except ConfigError as err:
                    changes[1] += 1
                    notes.append(f"warning: the change at tick {tick} was refused: {err}")
                    continue
                tickets.append(controller.live.submit(proposed))
            controller.pre_tick(tick, now)  # applies them, between ticks, as the loop did
            changes[0] += sum(t.tick == tick for t in tickets)
            for engage in estops:  # before sense, where the original loop applied them
                controller.set_estop(engage)
            controller.sense(tick, now)
            controller.plan(tick)
            controller.act(tick)
            cmd_sub.poll()
            msg = cmd_sub.latest()
            v, w = (float(msg.fixed["v"]), float(msg.fixed["w"])) if msg is not None else (
                np.nan, np.nan)
            ticks.append(tick)
            times.append(float(f["t"]))
            rec_cmd.append((float(f["cmd_v"]), float(f["cmd_w"])))
            new_cmd.append((v, w))
            same.append(np.float64(v).tobytes() == f["cmd_v"].tobytes()
                        and np.float64(w).tobytes() == f["cmd_w"].tobytes())

    try:
        for raw in recording.raw([TICK_TOPIC, PARAMS_TOPIC, *feeder.inputs]):
            feeder.add(raw)
            run_tick(False)
        run_tick(True)
    finally:
        bus.close()
        feed_bus.close()
    if dropped_roles:
        notes.append(f"note: the config has no input for {', '.join(sorted(dropped_roles))}: "
                     "those recorded messages were not fed")
    return RerunReport(np.array(ticks, dtype=np.int64), np.array(times),
                       np.array(rec_cmd).reshape(-1, 2), np.array(new_cmd).reshape(-1, 2),
                       np.array(same, dtype=bool), feeder.missing, notes, *changes)


# --- command line --------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    """Run ``robo-orch replay``; exit 0 (done / identical), 1 (re-run diverged)."""
    from robo_orch.errors import UsageError

    recording = open_recording(args.recording)
    if args.rerun:
        return _cmd_rerun(args, recording)
    if args.rate < 0:
        raise UsageError(f"--rate must be >= 0, got {args.rate}")
    from robo_orch.messages import message_type
    from robo_orch.rundir import default_run_dir

    clock = make_clock("wall")
    run_dir = args.run_dir or default_run_dir()
    bus = make_bus("zmq", clock, publisher_id=0xFFFF_FF01, run_dir=run_dir)
    try:
        for topic, info in recording.channels.items():
            if not info.get("skip") and (args.topics is None or _match(topic, args.topics)):
                bus.publisher(topic, message_type(info["type"]))  # bind before the start
        clock.sleep_until_ns(clock.now_ns() + 300_000_000)  # let subscribers connect
        stats = replay(recording, bus, clock, rate=args.rate, topics=args.topics)
        # sockets close with LINGER 0: give the last messages time to leave
        clock.sleep_until_ns(clock.now_ns() + 300_000_000)
    finally:
        bus.close()
    factor = stats.span_s / stats.wall_s if stats.wall_s else float("inf")
    print(f"replayed {stats.messages} messages covering {stats.span_s:.2f} s in "
          f"{stats.wall_s:.2f} s ({factor:.1f}x real time) into {run_dir}")
    return 0


def _match(topic: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatch

    return any(topic == p or fnmatch(topic, p) for p in patterns)


def _cmd_rerun(args: argparse.Namespace, recording: Recording) -> int:
    from pathlib import Path

    from robo_orch.config import load_config
    from robo_orch.record.plot import plot_rerun

    config = load_config(args.rerun, tuple(args.set))
    report = rerun(recording, config)
    print(report.text())
    plot_path = args.plot
    if plot_path is None and report.diverged:
        plot_path = str(Path(args.recording).with_suffix("")) + "-rerun.png"
    if plot_path:
        plot_rerun(report, plot_path, title=f"{Path(args.recording).name} re-run with "
                   f"{Path(config.source).name} {' '.join(args.set)}".strip())
        print(f"plot written to {plot_path}")
    return 1 if report.diverged else 0
