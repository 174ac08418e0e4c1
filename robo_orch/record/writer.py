"""The recorder: subscribes to the bus and writes MCAP on its own thread.

The loop's thread does two things for the recording: the controller's
:class:`~robo_orch.record.ticks.TickTap` publishes a tick record and a behavior
record after each command, and the sense phase notes which input messages it
consumed.  Everything else -- receiving, re-framing, JSON conversion, compression,
file I/O -- happens on the recorder's writer thread, which has its own bus
(on the same memory hub, or its own ZeroMQ sockets on the same run directory) and
subscribes to every topic of the run with a deep queue.

Nothing is dropped silently.  On a wall clock the loop never waits for the
writer: whatever the writer could not take shows up in the recorder's counters
(``dropped``, ``seq_gaps``).  On a simulated clock (lockstep) the loop waits when
the writer falls more than ``max_lag_ticks`` behind, so a recording of a lockstep
run is complete; waiting does not change what the loop computes.

When the disk fills up or the size cap is reached, recording stops with one line
on stderr and the loop keeps running.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from robo_orch.bus import Bus, QoS
from robo_orch.clock import SIM
from robo_orch.config import INPUT_ROLES
from robo_orch.errors import MessageError
from robo_orch.messages import HEADER, message_type
from robo_orch.record.channels import FoxgloveChannels, RecordingContext, raw_channel
from robo_orch.record.sink import McapSink
from robo_orch.record.ticks import BEHAVIOR_TICK, BEHAVIOR_TOPIC, LOOP_TICK, TICK_TOPIC, TickTap

RECORDER_PUBLISHER_ID = 0xFFFF_FF00  # never publishes; keeps it apart from real nodes
_yield_gil = partial(time.sleep, 0)


@dataclass
class RecordOptions:
    """Where and how to record."""

    path: str
    split_bytes: int | None = None  #: start a new file of the set past this size
    max_bytes: int | None = None  #: stop recording when the whole set reaches this
    compression: str = "zstd"  #: "zstd", "lz4" or "none"
    chunk_size: int = 256 * 1024
    foxglove: bool = True  #: also write the Foxglove channels
    hwm: int = 20_000  #: depth of the recorder's subscription queues (messages)
    max_lag_ticks: int = 50  #: lockstep only: the loop waits beyond this writer lag
    topics: dict[str, str] = field(default_factory=dict)  #: extra topic -> message type


@dataclass
class RecordResult:
    """What a finished recording holds."""

    files: list[Path]
    messages: int  #: MCAP messages written (raw and Foxglove)
    raw: dict[str, int]  #: bus messages recorded, per topic
    lost: dict[str, int]  #: bus messages the recorder missed, per topic (drops + gaps)
    bytes: int
    stopped: str | None  #: why recording stopped early, or None


def _own_bus(bus: Bus, hwm: int) -> Bus:
    """A bus on the same transport as ``bus``, for the writer thread alone."""
    from robo_orch.bus.memory import MemoryBus

    if isinstance(bus, MemoryBus):
        return MemoryBus(bus.clock, publisher_id=RECORDER_PUBLISHER_ID, hub=bus.hub, hwm=hwm)
    from robo_orch.bus.zmq_bus import ZmqBus

    if isinstance(bus, ZmqBus):
        return ZmqBus(bus.clock, publisher_id=RECORDER_PUBLISHER_ID, run_dir=bus.run_dir,
                      hwm=hwm, endpoints=dict(bus._endpoints))
    raise MessageError(f"cannot record a {type(bus).__name__}: only memory and zmq buses")


def topics_of(config, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Every topic of a run and its message type name: inputs, commands, truth, records."""
    topics = {inp.topic: INPUT_ROLES[role] for role, inp in config.inputs.items()}
    topics[config.topics.command] = "velocity_command"
    topics[config.topics.estop] = "estop"
    topics[config.topics.truth] = "pose2d"
    topics[TICK_TOPIC] = LOOP_TICK.name
    topics[BEHAVIOR_TOPIC] = BEHAVIOR_TICK.name
    try:
        message_type("sim_status")
        topics["sim/status"] = "sim_status"
    except MessageError:
        pass
    topics.update(extra or {})
    return topics


class Recorder:
    """Records one run into MCAP (see the module docstring).

    Usage: ``rec = Recorder(options)``; ``rec.attach(controller)`` before the first
    tick (``run_mission(on_start=rec.attach)``); ``rec.close()`` after the run.
    """

    def __init__(self, options: RecordOptions, *, seed: int | None = None,
                 overrides: tuple[str, ...] = (), stderr=None) -> None:
        self.options = options
        self.seed = seed
        self.overrides = tuple(overrides)
        self.stderr = stderr if stderr is not None else sys.stderr
        self.sink: McapSink | None = None
        self.tap: TickTap | None = None
        self.raw_counts: dict[str, int] = {}
        self._controller = None
        self._bus: Bus | None = None
        self._subs: list = []
        self._fox: FoxgloveChannels | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._caught_up = threading.Condition()
        self._ticks_published = 0
        self._ticks_written = 0
        self._block = False
        self._loop_busy = False
        self._announced = False
        self._order = 0

    # --- start and stop -----------------------------------------------------------
    def attach(self, controller) -> None:
        """Subscribe, open the file, install the tick tap and start the writer thread."""
        opts = self.options
        ctx = RecordingContext.from_controller(controller, seed=self.seed,
                                               overrides=self.overrides)
        self.sink = McapSink(opts.path, ctx, split_bytes=opts.split_bytes,
                             max_bytes=opts.max_bytes, chunk_size=opts.chunk_size,
                             compression=opts.compression)
        self._bus = _own_bus(controller.bus, opts.hwm)
        for topic, type_name in topics_of(controller.config, opts.topics).items():
            mtype = message_type(type_name)
            self._subs.append(self._bus.subscribe(topic, mtype, QoS.queue(opts.hwm)))
            self.sink.add_channel(raw_channel(topic, mtype))
            self.raw_counts[topic] = 0
        if opts.foxglove:
            self._fox = FoxgloveChannels(ctx)
            for spec in self._fox.specs():
                self.sink.add_channel(spec)
        self._block = controller.bus.clock.clock_id == SIM
        self._controller = controller
        self.tap = TickTap(controller, after=self._after_tick,
                           before=self._before_tick).attach(controller)
        self._thread = threading.Thread(target=self._run, name="robo_orch-recorder", daemon=True)
        self._thread.start()
        self._announce_if_stopped()

    def close(self) -> RecordResult:
        """Stop tapping, write what is still queued, finish the file; return the result."""
        if self._controller is not None:
            TickTap.detach(self._controller)
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
        lost = {}
        for sub in self._subs:
            c = sub.counters
            lost[sub.topic] = c.dropped + c.seq_gaps + c.malformed
        result = RecordResult(files=[], messages=0, raw=dict(self.raw_counts), lost=lost,
                              bytes=0, stopped=None)
        if self.sink is not None:
            stats = {"raw_messages": str(sum(self.raw_counts.values())),
                     **{f"raw:{t}": str(n) for t, n in self.raw_counts.items()},
                     **{f"lost:{t}": str(n) for t, n in lost.items()}}
            self.sink.close(stats)
            self._announce_if_stopped()
            result.files = list(self.sink.files)
            result.messages = self.sink.messages
            result.bytes = sum(p.stat().st_size for p in self.sink.files if p.exists())
            result.stopped = self.sink.stopped
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        return result

    # --- loop side (called from the controller's act phase) ---------------------------
    def _before_tick(self) -> None:
        self._loop_busy = True
        if self._block:
            self._throttle()

    def _after_tick(self) -> None:
        self._ticks_published += 1
        self._loop_busy = False
        self._wake.set()

    def _throttle(self) -> None:
        # lockstep only: let the writer catch up (time that the loop's statistics count
        # as the backend phase, where the simulator step is, not as the tick)
        if self._ticks_published - self._ticks_written > self.options.max_lag_ticks:
            with self._caught_up:
                self._caught_up.wait_for(self._writer_caught_up, timeout=5.0)

    def _writer_caught_up(self) -> bool:
        return (self._ticks_published - self._ticks_written <= self.options.max_lag_ticks // 2
                or self._thread is None or not self._thread.is_alive())

    # --- writer thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                if self._drain() == 0:
                    if stopping:
                        break
                    self._wake.wait(0.02)
                    self._wake.clear()
        except Exception as err:  # a writer bug must not take the robot down with it
            if self.sink is not None and not self.sink.stopped:
                self.sink.stopped = f"recorder fault: {type(err).__name__}: {err}"
        finally:
            with self._caught_up:
                self._ticks_written = 1 << 62
                self._caught_up.notify_all()

    def _drain(self) -> int:
        batch = []
        order = self._order
        for sub in self._subs:
            sub.poll()
            if sub.pending:
                topic, name = sub.topic, sub.mtype.name
                for msg in sub.take():
                    order += 1
                    batch.append((msg.header.stamp_ns, order, topic, name, msg))
        self._order = order
        if not batch:
            return 0
        batch.sort(key=lambda item: (item[0], item[1]))
        sink, fox, counts = self.sink, self._fox, self.raw_counts
        ticks = 0
        for stamp, _, topic, name, msg in batch:
            if name == "loop_tick":
                ticks += 1
            if sink.stopped:
                continue
            h = msg.header
            head = HEADER.pack(h.version, h.clock_id, h.type_id, h.layout_hash, h.publisher_id,
                               h.incarnation, h.seq, h.stamp_ns, h.count,
                               h.frame_id.encode("ascii"))
            base = msg.fixed.base
            payload = base if type(base) is bytes else bytes(base)
            if sink.write(topic, stamp, head + payload, stamp, h.seq):
                counts[topic] += 1
            if fox is not None and not sink.stopped:
                for channel, log_time, data in fox.convert(topic, name, h, msg.fixed, msg.var):
                    sink.write(channel, log_time, data, log_time)
            # a loop thread waiting for the GIL gets it within one message; on a wall
            # clock the writer also pauses while a tick runs (it works in the slack)
            _yield_gil()
            while self._loop_busy and not self._block and not self._stop.is_set():
                time.sleep(0.0002)
        if ticks:
            with self._caught_up:
                self._ticks_written += ticks
                self._caught_up.notify_all()
        if sink.stopped:
            self._announce_if_stopped()
        return len(batch)

    def _announce_if_stopped(self) -> None:
        sink = self.sink
        if sink is None or not sink.stopped or self._announced:
            return
        self._announced = True
        kept = sum(self.raw_counts.values())
        print(f"robo-orch: recording stopped: {sink.stopped}; the run goes on; "
              f"{kept} bus messages kept in {', '.join(map(str, sink.files)) or '-'}",
              file=self.stderr, flush=True)
