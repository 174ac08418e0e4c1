"""One subscription: drains its receiver into a QoS buffer, bounded per poll, and counts."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from robo_orch.bus.counters import Received, TopicCounters, copy_into
from robo_orch.bus.qos import QoS
from robo_orch.bus.transport import Receiver
from robo_orch.clock import Clock, make_clock
from robo_orch.errors import BusError
from robo_orch.messages import DecodeError, Frames, MessageType, decode

#: messages one poll decodes by default (a queue deeper than this: its depth)
DEFAULT_MAX_PER_POLL = 32
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__
_ndarray = np.ndarray
_TIMER = make_clock("perf")  # real time for wait() deadlines, whatever clock stamps messages


class Subscription:
    """Receives one message type on one topic into a ``latest`` or ``queue`` buffer.

    :meth:`poll` moves what the transport holds into the buffer (counting and
    discarding what is malformed, at most ``max_per_poll`` decoded per call);
    :meth:`latest` and :meth:`take` read it.  ``max_bytes`` is the largest frame
    the transport accepts for it.  ``clock`` is the bus's; ``on_close(self)`` is how
    the bus that made it lets it go.
    """

    __slots__ = ("topic", "mtype", "qos", "counters", "max_bytes", "max_per_poll", "_on_close",
                 "_receiver", "_recv", "_recv_next", "_topic_b", "_clock", "_is_latest",
                 "_depth", "_slot", "_queue", "_raw", "_drain")

    def __init__(self, topic: str, mtype: MessageType, qos: QoS, receiver: Receiver, *,
                 clock: Clock, on_close: Callable[[Subscription], None], hwm: int,
                 max_bytes: int | None, max_per_poll: int) -> None:
        self.topic = topic
        self.mtype = mtype
        self.qos = qos
        self.counters = TopicCounters(topic)
        self.max_bytes = max_bytes
        self.max_per_poll = max_per_poll
        self._on_close = on_close
        self._receiver = receiver
        self._recv = receiver.recv_frames
        self._recv_next = receiver.recv_next
        self._topic_b = topic.encode("ascii")
        self._clock = clock
        self._is_latest = qos.kind == "latest"
        self._depth = qos.depth
        self._slot: Received | None = None
        self._queue: deque[Received] = deque()
        # one poll's newest undecoded messages; older ones fall out (dropped)
        self._raw: deque[list[bytes]] = deque(maxlen=max_per_poll)
        self._drain = max_per_poll + hwm  # most messages one poll takes off the transport

    @property
    def pending(self) -> int:
        """Messages buffered and not yet read."""
        return (self._slot is not None) if self._is_latest else len(self._queue)

    def poll(self) -> int:
        """Drain the transport without blocking; return how many valid messages came.

        One call takes at most ``max_per_poll + hwm`` messages off the transport
        and decodes only the newest ``max_per_poll`` of them; the older ones are
        discarded undecoded and counted in ``dropped`` (a known publisher's show
        as ``seq_gaps`` too).  Messages arriving beyond that stay in the
        transport for the next call; while its high-water mark is reached the
        transport refuses newer ones (ZeroMQ at the publisher: ``seq_gaps``; the
        memory bus: ``dropped``).  So a flood costs a tick at most that many
        receives and ``max_per_poll`` decodes.
        """
        receiver = self._receiver
        counters = self.counters
        overflow = receiver.take_overflow()
        if overflow:
            counters.dropped += overflow
        oversized = receiver.take_oversized()
        if oversized:
            counters.malformed += oversized
            counters.malformed_by_reason["oversize"] += oversized
        recv = self._recv
        frames = recv()
        if frames is None:
            lost = receiver.take_disconnects()
            if lost:
                counters.disconnects += lost
            return 0
        recv = self._recv_next
        following = recv()
        if following is None:  # the usual case: one message
            batch = (frames,)
        else:
            batch = raw = self._raw
            append = raw.append
            append(frames)
            frames = following
            limit = self._drain
            taken = 1
            while frames is not None:
                append(frames)
                taken += 1
                if taken >= limit:
                    break
                frames = recv()
            if taken > len(raw):
                counters.dropped += taken - len(raw)
        now = self._clock.now_ns()
        take = self._take
        new = 0
        for frames in batch:
            new += take(frames, now)
        if following is not None:
            self._raw.clear()
        lost = receiver.take_disconnects()
        if lost:
            counters.disconnects += lost
        return new

    def _take(self, frames: list, now: int) -> bool:
        """Check, decode and keep one message's frames; False when refused (counted)."""
        counters = self.counters
        if not frames or frames[0] != self._topic_b:
            counters._reject("frames")
            return False
        mtype = self.mtype
        if type(frames) is Frames and frames.mtype is mtype:
            # in-process, encoded as this type: the header it was encoded from, the
            # payload viewed as decode() would (no header bytes parsed or checked)
            header = frames.header
            payload = frames[2]
            received = _new(Received, (
                header, _ndarray((), mtype.dtype, payload),
                None if mtype.var_dtype is None else _ndarray(
                    (header.count,), mtype.var_dtype, payload, mtype.itemsize), now))
        else:
            try:
                msg = decode(frames, mtype)
            except DecodeError as err:
                counters._reject(err.reason)
                return False
            header = msg.header
            received = _new(Received, (header, msg.fixed, msg.var, now))
        counters._accept(header, now)
        if self._is_latest:
            if self._slot is not None:
                counters.superseded += 1
            self._slot = received
        else:
            queue = self._queue
            if len(queue) >= self._depth:
                queue.popleft()
                counters.dropped += 1
            queue.append(received)
        return True

    def latest(self) -> Received | None:
        """The newest buffered message (consumed); older buffered ones count as superseded."""
        if self._is_latest:
            msg = self._slot
            self._slot = None
            return msg
        queue = self._queue
        if not queue:
            return None
        msg = queue.pop()
        self.counters.superseded += len(queue)
        queue.clear()
        return msg

    def take(self) -> list[Received]:
        """All buffered messages, oldest first (consumed)."""
        if self._is_latest:
            msg = self._slot
            self._slot = None
            return [] if msg is None else [msg]
        out = list(self._queue)
        self._queue.clear()
        return out

    def wait(self, timeout_s: float) -> bool:
        """Block until a valid message is buffered (True) or ``timeout_s`` passes (False).

        Polls into the buffer while waiting; sleeps in the transport between
        polls, so it does not spin.  The timeout is real time, whatever the bus clock.
        """
        if self.pending:
            return True
        deadline = _TIMER.now_ns() + int(max(timeout_s, 0.0) * 1e9)
        while True:
            self.poll()
            if self.pending:
                return True
            remaining = deadline - _TIMER.now_ns()
            if remaining <= 0:
                return False
            self._receiver.wait_readable(remaining * 1e-9)

    def poll_handle(self) -> object | None:
        """What to register with ``zmq.Poller`` to wake on this topic (None: not pollable)."""
        return self._receiver.poll_handle()

    def copy_into(self, received: Received, fixed_out: np.ndarray,
                  var_out: np.ndarray | None) -> int:
        """:func:`copy_into`, counting truncation in this subscription's counters."""
        return copy_into(received, fixed_out, var_out, self.counters)

    def close(self) -> None:
        """Stop receiving and release the transport."""
        self._on_close(self)


def _closed_recv() -> list[bytes] | None:
    raise BusError("poll on a closed subscription or bus")


class InboxSubscription(Subscription):
    """A subscription on an in-process inbox (:mod:`robo_orch.bus.memory`): the same
    counting and buffering, with the inbox's queue and refusal counts read directly
    (the receiver's three ``take_*`` calls and two receives are most of a poll's cost
    in the lockstep simulation).  More than one waiting message: :meth:`Subscription.poll`.
    """

    __slots__ = ()

    def poll(self) -> int:
        """:meth:`Subscription.poll` (an in-process inbox: no disconnects)."""
        if self._recv is _closed_recv:
            _closed_recv()
        inbox = self._receiver
        counters = self.counters
        n = inbox.overflow
        if n:
            inbox.overflow -= n
            counters.dropped += n
        n = inbox.oversized
        if n:
            inbox.oversized -= n
            counters.malformed += n
            counters.malformed_by_reason["oversize"] += n
        queue = inbox.queue
        if not queue:
            return 0
        if len(queue) != 1:
            return Subscription.poll(self)  # the refusals are taken already
        return int(self._take(queue.popleft(), self._clock.now_ns()))
