"""Listening in on a running robot's bus: topics, their publishers, rates from stamps.

:func:`find_topics` turns the discovery files of one or more run directories
into :class:`TopicInfo` records (plus topics whose socket is bound by a process
that wrote no discovery file).  A :class:`Probe` is one ZeroMQ SUB socket on a
topic's endpoint: it checks every message (header, type, layout, size) with
:func:`robo_orch.messages.decode`, counts what is malformed and keeps
:class:`StampStats`: the publisher's rate and interval statistics computed from
the publishers' own header stamps and sequence numbers, never from arrival times,
so a slow terminal or a loaded machine does not change the figures.
"""

from __future__ import annotations

import glob
import math
import os
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import zmq

from robo_orch.errors import MessageError, RoboOrchError
from robo_orch.introspect.endpoints import ProcessEntry, read_run_dir
from robo_orch.messages import (
    DECODE_REASONS,
    HEADER,
    Decoded,
    DecodeError,
    Header,
    MessageType,
    decode,
    message_type,
)


@dataclass
class TopicInfo:
    """One topic in one run directory: where it is, its type and who publishes it."""

    topic: str
    endpoint: str
    run_dir: str
    mtype: MessageType | None = None
    process: ProcessEntry | None = None  #: None: bound by a process without discovery file

    @property
    def type_name(self) -> str:
        """The message type's name, or ``?`` if not known yet."""
        return self.mtype.name if self.mtype is not None else "?"

    def publisher_text(self) -> str:
        """``id/incarnation name [pid N]`` of the publishing process, as far as known."""
        p = self.process
        if p is None:
            return "? (no discovery file)"
        return f"{p.publisher_id}/{p.incarnation} {p.name} [pid {p.pid}]"


def type_from_layout(layout: dict | None) -> MessageType | None:
    """The message type described by a discovery file (registered types first)."""
    if not layout:
        return None
    try:
        known = message_type(int(layout["type_id"]))
        if known.layout_hash == int(layout["layout_hash"]):
            return known
    except (MessageError, KeyError, TypeError, ValueError):
        pass
    try:
        def dtype(descr):
            return None if descr is None else np.dtype(
                [tuple(tuple(x) if isinstance(x, list) else x for x in f) for f in descr])

        mtype = MessageType(str(layout["name"]), int(layout["type_id"]),
                            dtype(layout["dtype"]), dtype(layout.get("var_dtype")))
    except (MessageError, KeyError, TypeError, ValueError):
        return None
    # the rebuilt layout must hash like the publisher's, or it would misread
    return mtype if mtype.layout_hash == int(layout["layout_hash"]) else None


def find_topics(run_dirs: list[str]) -> list[TopicInfo]:
    """Every topic published in ``run_dirs`` by a live process, sorted by run dir and topic."""
    from robo_orch.rundir import socket_in_use

    out: list[TopicInfo] = []
    for run_dir in run_dirs:
        seen: set[str] = set()
        services: set[str] = {"control.sock"}  # not topics (see robo_orch.control)
        for proc in read_run_dir(run_dir):
            services.update(os.path.basename(str(s.get("endpoint", "")))
                            for s in proc.services.values())
            for topic, entry in proc.topics.items():
                seen.add(topic)
                out.append(TopicInfo(topic, str(entry.get("endpoint", "")), run_dir,
                                     type_from_layout(entry.get("type")), proc))
        for path in sorted(glob.glob(os.path.join(glob.escape(run_dir), "*.sock"))):
            if os.path.basename(path) in services:
                continue
            topic = os.path.basename(path)[:-len(".sock")].replace(".", "/")
            if topic not in seen and socket_in_use(path):
                out.append(TopicInfo(topic, "ipc://" + path, run_dir))
    out.sort(key=lambda t: (t.run_dir, t.topic))
    return out


def topics_from_endpoints(result: dict, where: str) -> list[TopicInfo]:
    """A remote loop's topics from its control endpoint's ``endpoints`` answer, sorted.

    Only ``tcp://`` ones: the others are sockets on the robot's own file system.
    ``where`` (the control endpoint's address) stands in for the run directory.
    """
    out = []
    for topic, entry in sorted((result.get("topics") or {}).items()):
        endpoint = str(entry.get("endpoint", ""))
        if not endpoint.startswith("tcp://"):
            continue
        pub = entry.get("publisher") or {}
        proc = ProcessEntry(pid=int(pub.get("pid", 0)), name=str(pub.get("name", "?")),
                            publisher_id=int(pub.get("id", 0)),
                            incarnation=int(pub.get("incarnation", 0)), run_dir=where)
        out.append(TopicInfo(topic, endpoint, where, type_from_layout(entry.get("type")), proc))
    return out


class StampStats:
    """Rate and intervals of one topic from its publishers' stamps and sequence numbers.

    The rate over the last ``window`` intervals is (messages the publisher sent,
    from the sequence numbers) / (time between their stamps), so messages lost on
    the way do not lower it.  Interval statistics use consecutive pairs only
    (sequence step 1).  A new publisher or incarnation starts a new series.
    """

    def __init__(self, window: int = 100) -> None:
        self.window = max(int(window), 1)
        self.received = 0
        self.seq_gaps = 0
        self.out_of_order = 0
        self.restarts = 0
        self.last: Header | None = None
        self._last: dict[int, tuple[int, int, int]] = {}  # publisher -> incarnation, seq, stamp
        self._steps: deque[tuple[int, int]] = deque(maxlen=self.window)  # (dseq, dt_ns)

    def add(self, header: Header) -> None:
        """Count one valid message."""
        self.received += 1
        self.last = header
        prev = self._last.get(header.publisher_id)
        self._last[header.publisher_id] = (header.incarnation, header.seq, header.stamp_ns)
        if prev is None:
            return
        incarnation, seq, stamp = prev
        if header.incarnation != incarnation:
            self.restarts += 1
            self._steps.clear()
            return
        dseq = header.seq - seq
        if dseq <= 0:
            self.out_of_order += 1
            return
        self.seq_gaps += dseq - 1
        self._steps.append((dseq, header.stamp_ns - stamp))

    @property
    def samples(self) -> int:
        """Intervals in the window."""
        return len(self._steps)

    @property
    def rate_hz(self) -> float:
        """Messages per second of stamp time over the window (nan: too few)."""
        span = sum(dt for _, dt in self._steps)
        if not self._steps or span <= 0:
            return math.nan
        return sum(dseq for dseq, _ in self._steps) * 1e9 / span

    def intervals_s(self) -> np.ndarray:
        """Stamp intervals between consecutive messages (sequence step 1) in the window, s."""
        return np.array([dt for dseq, dt in self._steps if dseq == 1], dtype=np.float64) * 1e-9

    def summary(self) -> dict[str, float | int]:
        """Rate, interval min/max/mean/std (s), window size and counters."""
        iv = self.intervals_s()
        nan = math.nan
        return {"rate_hz": self.rate_hz, "min_s": float(iv.min()) if iv.size else nan,
                "max_s": float(iv.max()) if iv.size else nan,
                "mean_s": float(iv.mean()) if iv.size else nan,
                "std_s": float(iv.std()) if iv.size else nan, "window": self.samples,
                "received": self.received, "seq_gaps": self.seq_gaps,
                "out_of_order": self.out_of_order, "restarts": self.restarts}


@dataclass
class Probe:
    """A SUB socket on one topic: validates each message and keeps :class:`StampStats`."""

    info: TopicInfo
    context: zmq.Context
    window: int = 100
    hwm: int = 10_000
    #: CURVE keys for a tcp endpoint (default: those its publisher's discovery file names)
    curve: object | None = None
    stats: StampStats = field(init=False)
    malformed: dict[str, int] = field(init=False)
    socket: zmq.Socket = field(init=False)
    _topic_b: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.stats = StampStats(self.window)
        self.malformed = dict.fromkeys(DECODE_REASONS, 0)
        self._topic_b = self.info.topic.encode("ascii")
        sock = self.context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, self.hwm)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        try:
            if self.info.endpoint.startswith("tcp://"):
                self._secure(sock)
            sock.connect(self.info.endpoint)
        except (zmq.ZMQError, RoboOrchError) as err:
            sock.close(linger=0)
            if isinstance(err, RoboOrchError):
                raise
            raise MessageError(f"cannot connect to {self.info.endpoint} for "
                               f"{self.info.topic!r}: {err}") from err
        self.socket = sock

    def _secure(self, sock: zmq.Socket) -> None:
        """CURVE client options for a tcp endpoint (plain tcp when its publisher says so)."""
        from robo_orch.bus.curve import client_options
        from robo_orch.bus.keys import security_kwargs

        curve = self.curve
        if curve is None:
            proc = self.info.process
            known = dict(proc.services.get("tcp") or {}) if proc is not None else {}
            if known.get("insecure"):
                return
            if not known.get("keys"):
                raise MessageError(f"{self.info.topic} is on {self.info.endpoint} (CURVE): "
                                   "pass --keys DIR or --config with bus.keys")
            curve = security_kwargs(known)["curve"]
        client_options(sock, curve, f"topic {self.info.topic!r}")

    @property
    def malformed_total(self) -> int:
        """Invalid messages, all reasons."""
        return sum(self.malformed.values())

    def read(self) -> Decoded | Header | None:
        """The next valid message without blocking (None: nothing waiting).

        Decoded when the topic's type is known, else only its :class:`Header`.
        Invalid messages are counted in :attr:`malformed` and skipped.
        """
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return None
            msg = self._check(frames)
            if msg is not None:
                return msg

    def _check(self, frames: list[bytes]) -> Decoded | Header | None:
        if len(frames) != 3 or frames[0] != self._topic_b:
            self.malformed["frames"] += 1
            return None
        if self.info.mtype is None:
            self._learn_type(frames[1])
        if self.info.mtype is None:
            if len(frames[1]) != HEADER.size:
                self.malformed["header"] += 1
                return None
            header = Header(*HEADER.unpack(frames[1])[:-1], frame_id="")
            self.stats.add(header)
            return header
        try:
            msg = decode(frames, self.info.mtype)
        except DecodeError as err:
            self.malformed[err.reason] += 1
            return None
        self.stats.add(msg.header)
        return msg

    def _learn_type(self, head: bytes) -> None:
        """A topic without a discovery file: take its type from the first header, if known."""
        if len(head) != HEADER.size:
            return
        _, _, type_id, layout_hash, *_ = HEADER.unpack(head)
        try:
            known = message_type(type_id)
        except MessageError:
            return
        if known.layout_hash == layout_hash:
            self.info.mtype = known

    def close(self) -> None:
        """Close the socket."""
        self.socket.close(linger=0)


def poll(probes: list[Probe], timeout_s: float) -> list[Probe]:
    """Probes with messages waiting, after waiting up to ``timeout_s``."""
    poller = zmq.Poller()
    for p in probes:
        poller.register(p.socket, zmq.POLLIN)
    ready = dict(poller.poll(max(0, int(timeout_s * 1000))))
    return [p for p in probes if p.socket in ready]
