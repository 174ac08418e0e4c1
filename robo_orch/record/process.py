"""The recorder process: converts and writes a run's messages to MCAP, off the loop's process.

Started by :class:`~robo_orch.record.writer.Recorder` as ``python -m
robo_orch.record.process --ack-fd N``.  Its stdin starts with one JSON line (the
setup: file options, the recording context, the topics with their message
layouts, and the mode), followed by binary frames, each ``<topic index
u16><length u32><data>``, the data being a wire header followed by the payload:

* ``pipe`` mode (lockstep, memory bus): the loop's process forwards every bus
  message, and the loop's tick and behavior records;
* ``zmq`` mode (realtime ``sim`` and ``run``): this process subscribes to the
  topics itself, on the run's ZeroMQ endpoints; stdin carries the loop's tick
  and behavior records (the topics listed as ``fed``), which are not on the bus.

In pipe mode the loop's process may end a batch with an empty :data:`SYNC` frame
and wait: this process writes the batch, then one byte to ``--ack-fd``.  So in
lockstep the writer works only while the loop waits, never during a tick.

A frame with topic index :data:`CONTROL` carries JSON: ``{"lost": {topic: n}}``
(messages the sender could not forward) and ``{"expect": {topic: last_seq}}`` (the
loop's own topics: drain until they are in).  End of stdin ends the recording.
Events go to stdout as JSON lines: ``stopped`` (disk full, size cap or a fault;
the run goes on) and ``result``.  One byte on ``--ack-fd`` says the recorder is
ready (file open; on ZeroMQ, subscriptions connected).  SIGTERM ends the
recording as the end of stdin does; both happen when the loop's process dies,
even by SIGKILL (:mod:`robo_orch.lifeline`), and the file is finished.  Importing
this module loads neither numba nor the loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from robo_orch import lifeline
from robo_orch.messages import HEADER, register
from robo_orch.record.channels import (
    FoxgloveChannels,
    RecordingContext,
    raw_channel,
    type_from_description,
)
from robo_orch.record.sink import McapSink

#: frame prefix: topic index, data length
PREFIX = struct.Struct("<HI")
CONTROL = 0xFFFF
SYNC = 0xFFFE  #: pipe mode: "write what came before, then acknowledge" (empty frame)
_SEQ_STAMP = struct.Struct("<Qq")  # at offset 16 of the wire header
_SEQ_AT = 16
ZMQ_BATCH_S = 0.02  #: zmq mode: gather this long between writes (fewer wake-ups)
DRAIN_TIMEOUT_S = 2.0  #: zmq mode, at the end: wait at most this for expected messages
QUIET_S = 0.05  #: zmq mode, at the end: then until the sockets stay quiet this long
NICE = 5  #: zmq mode: this process runs beside the loop, so it yields the CPU first
SETTLE_S = 0.5  #: zmq mode: time given to the subscriptions before saying "ready" (0.1 s
#: was too short on a loaded 2-core machine: the recording missed the first tick's input)
STOP_GRACE_S = 30.0  #: the loop's process died: finishing the file may take this long


class Writer:
    """Writes raw messages (and their Foxglove conversions) into a :class:`McapSink`."""

    def __init__(self, setup: dict[str, Any], events) -> None:
        self.events = events
        self.context = RecordingContext(**setup["context"])
        self.topics: list[str] = []
        self.types: list[str] = []
        self.mtypes = []
        for topic, desc in setup["topics"]:
            mtype = register(type_from_description(desc))
            self.topics.append(topic)
            self.types.append(mtype.name)
            self.mtypes.append(mtype)
        self.counts = [0] * len(self.topics)
        self.first_seq = [0] * len(self.topics)
        self.last_seq = [0] * len(self.topics)
        self.lost = dict.fromkeys(self.topics, 0)
        self.sink = McapSink(setup["path"], self.context, split_bytes=setup["split_bytes"],
                             max_bytes=setup["max_bytes"], chunk_size=setup["chunk_size"],
                             compression=setup["compression"])
        for topic, mtype in zip(self.topics, self.mtypes, strict=True):
            self.sink.add_channel(raw_channel(topic, mtype))
        self.fox = FoxgloveChannels(self.context) if setup["foxglove"] else None
        if self.fox is not None:
            for spec in self.fox.specs():
                self.sink.add_channel(spec)
        self._order = 0
        self._announced = False
        self.announce_if_stopped()

    def write_batch(self, batch: list[tuple[int, bytes]]) -> None:
        """Write ``(topic index, header + payload)`` items, in stamp order."""
        order = self._order
        items = []
        unpack = _SEQ_STAMP.unpack_from
        for idx, data in batch:
            seq, stamp = unpack(data, _SEQ_AT)
            order += 1
            items.append((stamp, order, idx, seq, data))
        self._order = order
        items.sort()
        sink, fox, topics, types = self.sink, self.fox, self.topics, self.types
        counts, first, last = self.counts, self.first_seq, self.last_seq
        write = sink.write
        for stamp, _, idx, seq, data in items:
            last[idx] = seq
            if not first[idx]:
                first[idx] = seq
            if sink.stopped:
                continue
            if write(topics[idx], stamp, data, stamp, seq):
                counts[idx] += 1
            if fox is not None and not sink.stopped:
                for channel, log_time, text in fox.convert_raw(topics[idx], types[idx], data,
                                                               stamp):
                    write(channel, log_time, text, log_time)
        self.announce_if_stopped()

    def fault(self, err: BaseException) -> None:
        """A bug while writing: stop recording (the run goes on)."""
        if not self.sink.stopped:
            self.sink.stopped = f"recorder fault: {type(err).__name__}: {err}"
        self.announce_if_stopped()

    def announce_if_stopped(self) -> None:
        """Send the ``stopped`` event once, when recording stopped early."""
        sink = self.sink
        if sink.stopped and not self._announced:
            self._announced = True
            self.events({"event": "stopped", "reason": sink.stopped, "kept": sum(self.counts),
                         "files": [str(p) for p in sink.files]})

    def finish(self) -> dict[str, Any]:
        """Close the file set; the ``result`` event's content."""
        raw = dict(zip(self.topics, self.counts, strict=True))
        stats = {"raw_messages": str(sum(self.counts)),
                 **{f"raw:{t}": str(n) for t, n in raw.items()},
                 **{f"lost:{t}": str(n) for t, n in self.lost.items()}}
        self.sink.close(stats)
        self.announce_if_stopped()
        files = [str(p) for p in self.sink.files]
        size = sum(Path(p).stat().st_size for p in files if Path(p).exists())
        return {"event": "result", "files": files, "messages": self.sink.messages, "raw": raw,
                "lost": dict(self.lost), "bytes": size, "stopped": self.sink.stopped}


def parse_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete frames at the start of ``buf`` and the incomplete rest."""
    out = []
    off, end = 0, len(buf)
    unpack = PREFIX.unpack_from
    while off + 6 <= end:
        idx, n = unpack(buf, off)
        if off + 6 + n > end:
            break
        out.append((idx, buf[off + 6:off + 6 + n]))
        off += 6 + n
    return out, buf[off:]


def _control(writer: Writer, data: bytes, expect: dict[str, int]) -> None:
    msg = json.loads(data)
    for topic, n in msg.get("lost", {}).items():
        if topic in writer.lost:
            writer.lost[topic] += int(n)
    expect.update(msg.get("expect", {}))


class StopFlag:
    """Set from a signal handler (an Event's lock could deadlock there): a plain flag."""

    def __init__(self) -> None:
        self.requested = False

    def set(self, *_: Any) -> None:
        """Ask the recording to end."""
        self.requested = True


def run_pipe(writer: Writer, stdin, ack_fd: int, stop: StopFlag | None = None) -> None:
    """Pipe mode: write what arrives on stdin until it ends (or ``stop``), acknowledging syncs."""
    rest = b""
    expect: dict[str, int] = {}
    stop = stop or StopFlag()
    while not stop.requested:
        chunk = stdin.read1(1 << 20)
        if not chunk:
            break
        frames, rest = parse_frames(rest + chunk if rest else chunk)
        batch = []
        syncs = 0
        for idx, data in frames:
            if idx == SYNC:
                syncs += 1
            elif idx == CONTROL:
                _control(writer, data, expect)
            elif len(data) >= HEADER.size:
                batch.append((idx, data))
        if batch and not writer.sink.stopped:
            try:
                writer.write_batch(batch)
            except Exception as err:  # keep reading: the loop must never block on us
                writer.fault(err)
        if syncs:
            os.write(ack_fd, b"k" * syncs)


def run_zmq(writer: Writer, setup: dict[str, Any], stdin, ready,
            stop: StopFlag | None = None) -> None:
    """ZeroMQ mode: subscribe to the topics, take the tap's records from stdin, until it ends.

    ``stop`` set (SIGTERM) ends it as the end of stdin does.
    """
    import zmq

    from robo_orch.bus import QoS, make_bus
    from robo_orch.clock import make_clock

    opts = setup["zmq"]
    hwm = int(opts["hwm"])
    from robo_orch.bus.keys import security_kwargs

    bus = make_bus("zmq", make_clock("wall"), publisher_id=int(opts["publisher_id"]),
                   run_dir=opts["run_dir"], hwm=hwm, endpoints=opts["endpoints"],
                   **security_kwargs(opts.get("security") or {}))
    subs = [(i, bus.subscribe(t, m, QoS.queue(hwm), hwm=hwm))
            for i, (t, m) in enumerate(zip(writer.topics, writer.mtypes, strict=True))
            if t not in opts["fed"]]
    # the loop's first tick may use messages of topics already bound: let the
    # connections to them settle (an ipc connection takes well under a millisecond;
    # ZeroMQ cannot be asked whether a SUB socket is connected)
    if any(_bound(opts["endpoints"].get(s.topic, "")) for _, s in subs):
        time.sleep(SETTLE_S)
    expect: dict[str, int] = {}
    fed: deque = deque()  # (topic index, data) from stdin, appended by the reader thread
    ended = threading.Event()
    stop = stop or StopFlag()

    def read_stdin() -> None:
        rest = b""
        while True:
            chunk = stdin.read1(1 << 20)
            if not chunk:
                break
            frames, rest = parse_frames(rest + chunk if rest else chunk)
            for idx, data in frames:
                if idx == CONTROL:
                    _control(writer, data, expect)
                elif idx != SYNC:
                    fed.append((idx, data))
        ended.set()

    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    ready()
    # only now: at a lower priority on a loaded CPU the connections above may not
    # settle before the loop's first tick, and the recording would miss what it used
    with contextlib.suppress(OSError):
        os.nice(NICE)  # the loop's process (and the simulator) come first on a busy CPU
    poller = zmq.Poller()
    for _, sub in subs:
        poller.register(sub.poll_handle(), zmq.POLLIN)
    try:
        while not ended.is_set() and not stop.requested:
            poller.poll(200)
            _drain(writer, subs, fed)
            ended.wait(ZMQ_BATCH_S)
        index = {t: i for i, t in enumerate(writer.topics)}
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if _drain(writer, subs, fed):
                quiet_since = time.monotonic()
            done = all(writer.last_seq[index[t]] >= n for t, n in expect.items() if t in index)
            if done and time.monotonic() - quiet_since > QUIET_S:
                break
            time.sleep(0.005)
        for topic, n in expect.items():  # the loop's own topics: missed at either end
            i = index.get(topic)
            if i is None or not n:
                continue
            first, last = writer.first_seq[i], writer.last_seq[i]
            writer.lost[topic] += n if not first else first - 1 + max(n - last, 0)
        for _, sub in subs:
            c = sub.counters
            writer.lost[sub.topic] += c.dropped + c.seq_gaps + c.malformed
    finally:
        bus.close()


def _drain(writer: Writer, subs, fed: deque) -> int:
    batch = []
    while fed:
        batch.append(fed.popleft())
    pack = HEADER.pack
    for i, sub in subs:
        if not sub.poll() and not sub.pending:
            continue
        for msg in sub.take():
            h = msg.header
            base = msg.fixed.base
            payload = base if isinstance(base, (bytes, memoryview)) else msg.fixed.tobytes() + (
                b"" if msg.var is None else msg.var.tobytes())
            head = pack(h.version, h.clock_id, h.type_id, h.layout_hash, h.publisher_id,
                        h.incarnation, h.seq, h.stamp_ns, h.count, h.frame_id.encode("ascii"))
            batch.append((i, head + bytes(payload)))
    if batch and not writer.sink.stopped:
        try:
            writer.write_batch(batch)
        except Exception as err:  # a writer bug must not take the run down
            writer.fault(err)
    return len(batch)


def _bound(endpoint: str) -> bool:
    """Whether a publisher holds ``endpoint`` now (known for ipc:// only)."""
    return endpoint.startswith("ipc://") and os.path.exists(endpoint[len("ipc://"):])


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the setup, record until stdin ends, report the result."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m robo_orch.record.process")
    parser.add_argument("--ack-fd", type=int, required=True,
                        help="write one byte here when ready and after each sync frame")
    ack_fd = parser.parse_args(argv).ack_fd
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the loop's process says when to stop
    # SIGTERM (also when the loop's process dies, robo_orch.lifeline): finish the file
    stop = StopFlag()
    lifeline.on_terminate(stop.set)
    lifeline.attach(grace_s=STOP_GRACE_S)
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file size limit gives EFBIG instead
    stdin = sys.stdin.buffer
    out = sys.stdout
    lock = threading.Lock()

    def events(msg: dict[str, Any]) -> None:
        with lock:
            try:
                out.write(json.dumps(msg) + "\n")
                out.flush()
            except OSError:  # the loop's process is gone: the file still gets finished
                lifeline.mute_broken_output()

    line = stdin.readline()
    if not line:
        return 0  # started, then not needed
    setup = json.loads(line)
    writer = Writer(setup, events)
    try:
        if setup["mode"] == "pipe":
            os.write(ack_fd, b"r")
            run_pipe(writer, stdin, ack_fd, stop)
        else:
            run_zmq(writer, setup, stdin, lambda: os.write(ack_fd, b"r"), stop)
    except Exception as err:
        writer.fault(err)
    events(writer.finish())
    return 0


if __name__ == "__main__":
    code = main()
    # the file is closed and the result sent: skip the interpreter's teardown, which
    # aborts when the stdin reader thread is still blocked in a read (SIGTERM ended
    # the recording before the end of stdin came) holding the stream's lock
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
