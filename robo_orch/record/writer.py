"""The recorder: MCAP is written by a separate process, so the loop's process barely notices.

The loop's process does little for the recording: the sense phase notes which
input messages it consumed, and the controller's
:class:`~robo_orch.record.ticks.TickTap` makes a tick record and a behavior record
of each tick at the start of the next one (in the backend phase, not in the tick;
``robo_orch.bench.record`` measures it) and appends them to a buffer for the
recorder process.  Everything else -- JSON conversion, MCAP framing, compression,
file I/O -- happens in the recorder process (:mod:`robo_orch.record.process`),
which never holds the loop's interpreter lock:

* on ZeroMQ (realtime ``sim``, ``run``) it subscribes to every topic of the run
  itself, with deep queues, and takes the tick records from its stdin pipe, which
  the loop's process writes without blocking every ~8 KB (a pipe write costs less
  than the two ZeroMQ sends per tick that publishing them would).  The loop never
  waits for it; whatever it misses shows up in :attr:`RecordResult.lost` (queue
  overflow, sequence gaps, and the loop's own commands that never arrived);
* on the memory bus (lockstep, one process) it cannot subscribe, so the loop's
  process forwards the raw frames: each tick's messages are taken from raw
  receivers on the hub and appended to a buffer, which goes down a pipe in
  batches of ``flush_bytes``, in the backend phase (before the simulator step),
  never inside a tick.  The loop then waits, still in the backend phase, until
  the recorder process has written the batch: the recorder never runs during a
  tick (on a busy machine a process running beside the loop steals its core for
  milliseconds at a time), the recording is complete, and what the loop computes
  does not change.  ``overlap=True`` lets the recorder write while the loop goes
  on instead (shorter runs where a core is free).

When the disk fills up or the size cap is reached, recording stops with one line
on stderr and the loop keeps running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from robo_orch import lifeline
from robo_orch.backend import SimBackend
from robo_orch.bus import Bus
from robo_orch.config import INPUT_ROLES
from robo_orch.errors import MessageError
from robo_orch.kinematics import kinematics_for
from robo_orch.messages import message_type
from robo_orch.record.channels import RecordingContext, type_description
from robo_orch.record.params import PARAM_CHANGE, PARAMS_TOPIC, change_json, param_frames
from robo_orch.record.process import CONTROL, PREFIX, SYNC
from robo_orch.record.ticks import BEHAVIOR_TICK, BEHAVIOR_TOPIC, LOOP_TICK, TICK_TOPIC, TickTap

RECORDER_PUBLISHER_ID = 0xFFFF_FF00  # never publishes; keeps it apart from real nodes
_PIPE_BYTES = 1 << 20  # asked of the kernel for the lockstep pipe (Linux caps it)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_SYNC_FRAME = PREFIX.pack(SYNC, 0)
_REALTIME_FLUSH_BYTES = 8 * 1024  # realtime: one pipe write per ~15 ticks at 100 Hz
_MAX_PENDING = 16 << 20  # records queued beyond this (recorder process stuck) are dropped
_ACK_TIMEOUT_S = 120.0  # lockstep: a batch not written by then means a stuck recorder


@dataclass
class RecordOptions:
    """Where and how to record."""

    path: str
    split_bytes: int | None = None  #: start a new file of the set past this size
    max_bytes: int | None = None  #: stop recording when the whole set reaches this
    compression: str = "zstd"  #: "zstd", "lz4" or "none"
    chunk_size: int = 256 * 1024
    foxglove: bool = True  #: also write the Foxglove channels
    hwm: int = 20_000  #: zmq: depth of the recorder's subscription queues (messages)
    flush_bytes: int = 1 << 20  #: lockstep: hand frames to the writer in batches this big
    overlap: bool = False  #: lockstep: do not wait while the recorder writes a batch
    topics: dict[str, str] = field(default_factory=dict)  #: extra topic -> message type
    ready_timeout_s: float = 10.0  #: zmq: wait this long for the recorder's subscriptions


@dataclass
class RecordResult:
    """What a finished recording holds."""

    files: list[Path]
    messages: int  #: MCAP messages written (raw and Foxglove)
    raw: dict[str, int]  #: bus messages recorded, per topic
    lost: dict[str, int]  #: bus messages the recorder missed, per topic (drops + gaps)
    bytes: int
    stopped: str | None  #: why recording stopped early, or None


def topics_of(config, extra: dict[str, str] | None = None,
              backend: SimBackend | None = None) -> dict[str, str]:
    """Every topic of a run and its message type name, all from the config and the plugins:
    the inputs, the command, e-stop and truth topics, each command space's command and
    state topics, each driver's outputs
    (:meth:`~robo_orch.driver.Driver.output_topics`), the simulator backend's own topics
    (:meth:`~robo_orch.backend.SimBackend.topics`), the tick records, and ``extra``."""
    kin = kinematics_for(config.robot)  # the base's odometry and command types
    adapters = {spec.input: spec.cls.message for spec in getattr(config, "adapters", ())}
    topics = {inp.topic: adapters[role] if role in adapters
              else kin.odometry_type if role == "odom" else INPUT_ROLES[role]
              for role, inp in config.inputs.items()}
    topics[config.topics.command] = kin.command_type
    topics[config.topics.estop] = "estop"
    topics[config.topics.truth] = "pose2d"
    for space in getattr(config, "commands", {}).values():  # joints command spaces
        topics[space.topic] = "joint_command"
        topics[space.state_topic] = "joint_state"
    for driver in config.drivers.values():
        for topic, type_name in driver.cls.output_topics(driver.params).items():
            topics.setdefault(topic, type_name)
    if backend is not None:
        topics.update(backend.topics())
    topics[TICK_TOPIC] = LOOP_TICK.name
    topics[BEHAVIOR_TOPIC] = BEHAVIOR_TICK.name
    topics[PARAMS_TOPIC] = PARAM_CHANGE.name
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
        self.tap: TickTap | None = None
        self._controller = None
        self._proc: subprocess.Popen | None = None
        self._fd = -1  # write end of the recorder process's stdin
        self._events: threading.Thread | None = None
        self._attached = False
        self._sync = False  # lockstep: wait while the recorder writes each batch
        self._result: dict | None = None
        self._announced = False
        self._bus: Bus | None = None
        self._names: list[str] = []  # recorded topics, by index
        self._receivers: list = []  # (topic index, raw receiver): the lockstep feed
        # topic indices of the tick, behavior and parameter change records
        self._tap_index = (0, 0, 0)
        self._tap_lost = [0, 0, 0]  # records not forwarded (the recorder process lagged)
        self._param_seq = 0
        self._buf = bytearray()
        self._flush_at = options.flush_bytes
        self._lockstep = False
        self._broken = False
        self._ack = -1  # read end of the recorder's acknowledgements (ready, batch written)

    @property
    def pid(self) -> int | None:
        """The recorder process's id (None before :meth:`start` and after :meth:`close`)."""
        return None if self._proc is None else self._proc.pid

    @property
    def attached(self) -> bool:
        """True between :meth:`attach` and :meth:`close`."""
        return self._attached

    # --- start and stop -----------------------------------------------------------
    def start(self) -> None:
        """Start the recorder process (it loads its modules while the run starts up).

        Optional: :meth:`attach` starts it if needed.
        """
        if self._proc is not None:
            return
        self._ack, ack_w = os.pipe()
        try:
            # it finishes the file and exits when this process dies, even on SIGKILL
            self._proc = lifeline.popen(
                [sys.executable, "-m", "robo_orch.record.process", "--ack-fd", str(ack_w)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, pass_fds=(ack_w,))
        finally:
            os.close(ack_w)  # the child's copy is the only one: its exit gives EOF
        self._fd = self._proc.stdin.fileno()
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._fd, _F_SETPIPE_SZ, _PIPE_BYTES)
        self._events = threading.Thread(target=self._read_events, name="robo_orch-recorder",
                                        daemon=True)
        self._events.start()

    def attach(self, controller) -> None:
        """Install the tick tap, set the recorder process up, and feed or connect it.

        Returns once the recorder is ready (its file open; on ZeroMQ, subscribed).
        """
        from robo_orch.bus.memory import MemoryBus

        opts = self.options
        bus = controller.bus
        lockstep = self._lockstep = isinstance(bus, MemoryBus)
        if not lockstep and not hasattr(bus, "run_dir"):
            raise MessageError(f"cannot record a {type(bus).__name__}: only memory and zmq "
                               "buses")
        self.start()
        ctx = RecordingContext.from_controller(controller, seed=self.seed,
                                               overrides=self.overrides)
        topics = list(topics_of(controller.config, opts.topics, controller.backend).items())
        names = self._names = [t for t, _ in topics]
        self._tap_index = (names.index(TICK_TOPIC), names.index(BEHAVIOR_TOPIC),
                           names.index(PARAMS_TOPIC))
        self._controller = controller
        self._attached = True
        # the tap's records come down the pipe: no bus traffic for them
        self.tap = TickTap(controller, publish=False, sink=self._record).attach(controller)
        controller.live.listeners.append(self._record_change)  # live parameter changes
        fed = [TICK_TOPIC, BEHAVIOR_TOPIC, PARAMS_TOPIC]
        setup = {"mode": "pipe" if lockstep else "zmq", "path": str(opts.path),
                 "split_bytes": opts.split_bytes, "max_bytes": opts.max_bytes,
                 "chunk_size": opts.chunk_size, "compression": opts.compression,
                 "foxglove": opts.foxglove, "context": asdict(ctx),
                 "topics": [[t, type_description(message_type(n))] for t, n in topics]}
        if not lockstep:
            setup["zmq"] = {"run_dir": str(bus.run_dir), "hwm": opts.hwm, "fed": fed,
                            "publisher_id": RECORDER_PUBLISHER_ID,
                            "endpoints": {t: bus.endpoint(t) for t in names if t not in fed},
                            # tcp topics: the recorder connects with the loop's keys
                            "security": getattr(bus, "security_options", dict)()}
            self._flush_at = min(opts.flush_bytes, _REALTIME_FLUSH_BYTES)
        self._write_all((json.dumps(setup) + "\n").encode())
        # ready: the file is open (and on ZeroMQ the subscriptions are connected)
        ready, _, _ = select.select([self._ack], [], [], opts.ready_timeout_s)
        if ready and not os.read(self._ack, 1):
            self._broken = True  # it exited already; its result says why
        elif not ready:
            print(f"robo-orch: the recorder process was not ready within "
                  f"{opts.ready_timeout_s:g} s; the run starts anyway", file=self.stderr,
                  flush=True)
        if lockstep:
            self._sync = not opts.overlap
            self._bus = bus.peer(RECORDER_PUBLISHER_ID)
            # raw receivers (a backend hook of the bus): the frames as sent, undecoded
            self._receivers = [(i, self._bus._create_receiver(t, 1 << 30))
                               for i, t in enumerate(names) if t not in fed]
            self.tap.before = self._feed
        else:
            os.set_blocking(self._fd, False)  # the loop never waits for the recorder

    def close(self) -> RecordResult:
        """Stop tapping, let the recorder process finish the file; return the result."""
        controller = self._controller
        if controller is not None and self.tap is not None:
            self.tap.flush()  # the last tick's records
            TickTap.detach(controller)
            if self._record_change in controller.live.listeners:
                controller.live.listeners.remove(self._record_change)
        self.tap = self._controller = None
        if self._proc is None:
            return RecordResult([], 0, {}, {}, 0, None)
        if not self._attached:  # started, never attached: nothing to record
            return self._stop_process(None)
        lost = {TICK_TOPIC: self._tap_lost[0], BEHAVIOR_TOPIC: self._tap_lost[1],
                PARAMS_TOPIC: self._tap_lost[2]}
        control: dict = {"lost": lost}
        if self._lockstep:
            self._feed(flush=True)
            for i, receiver in self._receivers:
                lost[self._names[i]] = receiver.take_overflow()
                receiver.close()
        else:
            os.set_blocking(self._fd, True)
            if controller is not None:
                control["expect"] = {controller.config.topics.command: controller.cmd_pub.sent}
        data = json.dumps(control).encode()
        self._buf += PREFIX.pack(CONTROL, len(data)) + data
        self._write_all(self._buf)
        self._buf.clear()
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        self._attached = False
        return self._stop_process(controller)

    def _stop_process(self, controller) -> RecordResult:
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._events.join(timeout=10)
        os.close(self._ack)
        res, code = self._result, self._proc.returncode
        self._proc = None
        if res is None:
            if controller is None:
                return RecordResult([], 0, {}, {}, 0, None)
            res = {"files": [], "messages": 0, "raw": {}, "lost": {}, "bytes": 0,
                   "stopped": f"the recorder process ended without a result (exit status "
                              f"{code})"}
            self._announce(res["stopped"], 0, [])
        return RecordResult(files=[Path(p) for p in res["files"]], messages=res["messages"],
                            raw=res["raw"], lost=res["lost"], bytes=res["bytes"],
                            stopped=res["stopped"])

    # --- the loop's side ----------------------------------------------------------------
    def _record(self, kind: int, head: bytes, payload) -> None:
        """The tap's sink (at the next tick's start): queue one record for the recorder."""
        buf = self._buf
        if len(buf) > _MAX_PENDING:  # the recorder process is stuck: count, do not grow
            self._tap_lost[kind] += 1
            return
        buf += PREFIX.pack(self._tap_index[kind], len(head) + len(payload))
        buf += head
        buf += payload
        if kind and not self._lockstep and len(buf) >= self._flush_at:
            self._write_some()

    def _record_change(self, tick: int, now_ns: int, change) -> None:
        """A live parameter change was applied before ``tick`` (loop thread, between ticks):
        queue its ``loop/params`` record, stamped with the tick's time."""
        self._param_seq += 1
        head, payload = param_frames(self._controller.bus, self._param_seq, tick, now_ns,
                                     change_json(tick, change))
        self._record(2, head, payload)

    def _feed(self, flush: bool = False) -> None:
        """Lockstep, at each tick's start: forward the bus's frames; write full batches."""
        buf, pack = self._buf, PREFIX.pack
        for i, receiver in self._receivers:
            recv = receiver.recv_frames
            frames = recv()
            while frames is not None:
                head, payload = frames[1], frames[2]
                buf += pack(i, len(head) + len(payload))
                buf += head
                buf += payload
                frames = recv()
        if len(buf) >= self._flush_at or (flush and buf):
            if self._sync:
                buf += _SYNC_FRAME
            self._write_all(buf)
            buf.clear()
            if self._sync and not self._broken:
                self._wait_ack()

    def _wait_ack(self) -> None:
        """Lockstep: wait until the recorder process has written the batch."""
        ready, _, _ = select.select([self._ack], [], [], _ACK_TIMEOUT_S)
        if not ready or not os.read(self._ack, 1):
            # gone (its exit says why), or stuck: the run goes on without it
            self._broken = True
            if not ready:
                self._announce(f"the recorder process did not write a batch within "
                               f"{_ACK_TIMEOUT_S:g} s", 0, [])

    def _write_some(self) -> None:
        """Realtime: write what the pipe takes now, keep the rest (never blocks)."""
        if self._broken:
            self._buf.clear()
            return
        try:
            n = os.write(self._fd, self._buf)
        except BlockingIOError:
            return
        except OSError:
            self._broken = True
            self._buf.clear()
            return
        del self._buf[:n]

    def _write_all(self, data) -> None:
        if self._broken:
            return
        view = memoryview(data)
        try:
            while len(view):
                view = view[os.write(self._fd, view):]
        except OSError:
            self._broken = True  # the recorder process is gone; its exit says why

    # --- events from the recorder process --------------------------------------------
    def _read_events(self) -> None:
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("event")
            if kind == "stopped":
                self._announce(msg["reason"], msg["kept"], msg["files"])
            elif kind == "result":
                self._result = msg

    def _announce(self, reason: str, kept: int, files: list[str]) -> None:
        if self._announced:
            return
        self._announced = True
        print(f"robo-orch: recording stopped: {reason}; the run goes on; "
              f"{kept} bus messages kept in {', '.join(files) or '-'}",
              file=self.stderr, flush=True)
