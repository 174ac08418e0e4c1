"""The bus interface: publishers, subscriptions, counters and QoS.

:class:`Bus` owns everything a user calls -- encoding, decoding, sequence and
drop counting, the QoS buffer, blocking waits -- and a backend fills a few small
private hooks (the python-can pattern):

* ``_create_sender(topic, hwm) -> Sender``: something whose ``send(frames)``
  hands ``[topic, header, payload]`` to the transport;
* ``_create_receiver(topic, hwm, max_bytes) -> Receiver``: a non-blocking
  ``recv_frames() -> list[bytes] | None`` and a blocking ``wait_readable(timeout_s)``,
  refusing frames above ``max_bytes`` (None: no limit);
* ``_close()``: release what the backend itself owns.

Both backends carry the same bytes through the same :func:`robo_orch.messages.encode`
and :func:`robo_orch.messages.decode`.  Nothing is dropped silently: every
discarded message shows up in a :class:`TopicCounters` field.

Bounded work: a subscription refuses frames above its ``max_bytes`` (by default
the message type's :attr:`~robo_orch.messages.MessageType.max_bytes`), and one
:meth:`Subscription.poll` takes at most ``max_per_poll + hwm`` messages off the
transport and decodes at most ``max_per_poll`` of them, so neither a huge
message nor a flood can stretch a tick.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from robo_orch.bus.qos import QoS
from robo_orch.bus.subscription import DEFAULT_MAX_PER_POLL, Subscription, _closed_recv
from robo_orch.bus.transport import Receiver, Sender
from robo_orch.clock import Clock
from robo_orch.errors import BusError
from robo_orch.messages import (
    MIN_FRAME_LIMIT,
    MessageType,
    encode,
    encode_frames,
    frame_id_bytes,
    message_type,
)

__all__ = ["DEFAULT_MAX_PER_POLL", "Bus", "Publisher", "Receiver", "Sender", "Subscription"]

_TOPIC = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/-]{0,99}$")
_UINT32 = 0xFFFFFFFF


class Publisher:
    """Publishes one message type on one topic, numbering messages from 1."""

    __slots__ = ("topic", "mtype", "frame_id", "sent", "_bus", "_topic_b", "_frame_b",
                 "_sender", "_send", "_seq", "_clock", "_in_process", "_frame_s")

    def __init__(self, bus: Bus, topic: str, mtype: MessageType, frame_id: str,
                 sender: Sender) -> None:
        self.topic = topic
        self.mtype = mtype
        self.frame_id = frame_id
        self.sent = 0  #: messages handed to the transport
        self._bus = bus
        self._topic_b = topic.encode("ascii")
        self._frame_b = frame_id_bytes(frame_id)
        self._sender = sender
        self._send = sender.send
        self._seq = 0
        self._clock = bus.clock
        self._in_process = bus.in_process
        self._frame_s = self._frame_b.decode("ascii")

    def publish(self, fixed: np.ndarray, var: np.ndarray | None = None, *,
                stamp_ns: int | None = None) -> int:
        """Encode and send one message; return its sequence number.

        ``stamp_ns`` defaults to the bus clock's time now.
        """
        seq = self._seq + 1
        if stamp_ns is None:
            stamp_ns = self._clock.now_ns()
        bus = self._bus
        if self._in_process:  # the same bytes, carrying their header (messages.Frames)
            frames = encode_frames(self.mtype, self._topic_b, fixed, var, seq, stamp_ns,
                                   bus.publisher_id, bus.incarnation, self._clock.clock_id,
                                   self._frame_b, self._frame_s)
        else:
            frames = encode(self.mtype, self._topic_b, fixed, var, seq=seq, stamp_ns=stamp_ns,
                            publisher_id=bus.publisher_id, incarnation=bus.incarnation,
                            clock_id=self._clock.clock_id, frame_id=self._frame_b)
        self._send(frames)
        self._seq = seq
        self.sent += 1
        return seq

    def close(self) -> None:
        """Stop publishing on this topic and release the transport."""
        self._bus._drop_publisher(self)


class Bus(ABC):
    """One publisher/subscriber interface; a backend supplies the transport hooks.

    ``publisher_id`` and ``incarnation`` go into every header this bus sends, so
    receivers can count gaps and restarts per sender.  ``hwm`` is the default
    per-topic high-water mark (messages) of senders and receivers.
    """

    #: registry name (``make_bus("zmq", ...)``, ``bus.backend = "zmq"``)
    kind: ClassVar[str]
    #: no parameters of its own from config: the ``[bus]`` section is shared
    Params: ClassVar[type | None] = None
    #: the transport hands the sent list object itself to receivers in this process:
    #: publishers then send :class:`~robo_orch.messages.Frames`, which carry their header,
    #: and subscriptions skip parsing it (the memory bus; never a network transport)
    in_process: ClassVar[bool] = False
    #: the class of this backend's subscriptions (a backend may read its own
    #: receivers more directly; the counting and buffering are Subscription's)
    _subscription_type: ClassVar[type[Subscription]] = Subscription

    def __init__(self, clock: Clock, *, publisher_id: int, incarnation: int = 0,
                 hwm: int = 100) -> None:
        if not 0 <= int(publisher_id) <= _UINT32:
            raise BusError(f"publisher_id must fit in uint32, got {publisher_id}")
        if not 0 <= int(incarnation) <= _UINT32:
            raise BusError(f"incarnation must fit in uint32, got {incarnation}")
        if int(hwm) < 1:
            raise BusError(f"hwm must be >= 1, got {hwm}")
        self.clock = clock
        self.publisher_id = int(publisher_id)
        self.incarnation = int(incarnation)
        self.hwm = int(hwm)
        self._senders: dict[str, Sender] = {}
        self._publishers: dict[str, Publisher] = {}
        self._subscriptions: list[tuple[Subscription, Receiver]] = []
        self._closed = False

    # --- public ------------------------------------------------------------------

    def publisher(self, topic: str, mtype: MessageType | str | int, *, frame_id: str = "",
                  hwm: int | None = None) -> Publisher:
        """A publisher of ``mtype`` on ``topic`` (one per topic per bus)."""
        self._check_open()
        _check_topic(topic)
        if topic in self._publishers:
            raise BusError(f"topic {topic!r} already has a publisher on this bus; "
                           "share that Publisher instead of creating a second one")
        mtype = message_type(mtype)
        sender = self._sender(topic, hwm)
        pub = Publisher(self, topic, mtype, frame_id, sender)
        self._publishers[topic] = pub
        return pub

    def subscribe(self, topic: str, mtype: MessageType | str | int,
                  qos: QoS | str | None = None, *, hwm: int | None = None,
                  max_bytes: int | None = None,
                  max_per_poll: int | None = None) -> Subscription:
        """Subscribe to ``topic``; ``qos`` defaults to ``QoS.latest()`` (or a string).

        ``max_bytes``: the largest frame accepted (default: the type's
        ``max_bytes``).  ``max_per_poll``: messages one :meth:`Subscription.poll`
        decodes (default :data:`DEFAULT_MAX_PER_POLL`, or the queue depth if larger).
        """
        self._check_open()
        _check_topic(topic)
        mtype = message_type(mtype)
        if qos is None:
            qos = QoS.latest()
        elif isinstance(qos, str):
            qos = QoS.parse(qos)
        if max_bytes is None:
            max_bytes = mtype.max_bytes
        elif int(max_bytes) < MIN_FRAME_LIMIT:
            raise BusError(f"max_bytes must be at least {MIN_FRAME_LIMIT}, got {max_bytes}")
        if max_per_poll is None:
            max_per_poll = max(DEFAULT_MAX_PER_POLL, qos.depth)
        elif int(max_per_poll) < 1:
            raise BusError(f"max_per_poll must be >= 1, got {max_per_poll}")
        hwm = self._hwm(hwm)
        receiver = self._create_receiver(topic, hwm, int(max_bytes))
        sub = self._subscription_type(topic, mtype, qos, receiver, clock=self.clock,
                           on_close=self._drop_subscription, hwm=hwm,
                           max_bytes=int(max_bytes), max_per_poll=int(max_per_poll))
        self._subscriptions.append((sub, receiver))
        return sub

    def send_raw(self, topic: str, frames: list[bytes]) -> None:
        """Send frames as they are on ``topic`` (for tests, bridges and replay)."""
        self._check_open()
        _check_topic(topic)
        self._sender(topic, None).send_raw(list(frames))

    def counters(self) -> dict[str, list[dict[str, object]]]:
        """Every open subscription's counters by topic, JSON-ready."""
        out: dict[str, list[dict[str, object]]] = {}
        for sub, _ in self._subscriptions:
            out.setdefault(sub.topic, []).append(sub.counters.as_dict())
        return out

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Open subscriptions of this bus."""
        return tuple(sub for sub, _ in self._subscriptions)

    @property
    def publishers(self) -> tuple[Publisher, ...]:
        """Open publishers of this bus."""
        return tuple(self._publishers.values())

    def peer(self, publisher_id: int, *, hwm: int | None = None) -> Bus:
        """Another bus of this backend on the same network (a recorder, a live view).

        Its own ``publisher_id``; ``hwm`` defaults to this bus's.
        """
        raise BusError(f"a {type(self).__name__} cannot make a bus beside itself")

    def close(self) -> None:
        """Close every publisher and subscription, then the backend (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for sub, receiver in self._subscriptions:
            sub._recv = _closed_recv
            receiver.close()
        self._subscriptions.clear()
        for pub in self._publishers.values():
            pub._send = _closed_send
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        self._publishers.clear()
        self._close()

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- backend hooks -------------------------------------------------------------

    @abstractmethod
    def _create_sender(self, topic: str, hwm: int) -> Sender:
        """Create the transport end that sends ``topic``."""

    @abstractmethod
    def _create_receiver(self, topic: str, hwm: int, max_bytes: int | None = None) -> Receiver:
        """Create the transport end of one subscription to ``topic``.

        Frames above ``max_bytes`` are refused (None: no limit).
        """

    def _close(self) -> None:  # noqa: B027  (optional hook)
        """Release what the backend owns beyond its senders and receivers."""

    # --- internals -----------------------------------------------------------------

    def _hwm(self, hwm: int | None) -> int:
        if hwm is None:
            return self.hwm
        if int(hwm) < 1:
            raise BusError(f"hwm must be >= 1, got {hwm}")
        return int(hwm)

    def _sender(self, topic: str, hwm: int | None) -> Sender:
        sender = self._senders.get(topic)
        if sender is None:
            sender = self._create_sender(topic, self._hwm(hwm))
            self._senders[topic] = sender
        return sender

    def _check_open(self) -> None:
        if self._closed:
            raise BusError("the bus is closed")

    def _drop_publisher(self, pub: Publisher) -> None:
        if self._publishers.get(pub.topic) is pub:
            del self._publishers[pub.topic]
            pub._send = _closed_send
            sender = self._senders.pop(pub.topic, None)
            if sender is not None:
                sender.close()

    def _drop_subscription(self, sub: Subscription) -> None:
        for i, (known, receiver) in enumerate(self._subscriptions):
            if known is sub:
                del self._subscriptions[i]
                sub._recv = _closed_recv
                receiver.close()
                return


def _closed_send(frames: list[bytes]) -> None:
    raise BusError("publish on a closed publisher or bus")


def _check_topic(topic: str) -> None:
    # no '.': the zmq backend maps '/' to '.' in socket file names
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise BusError(f"bad topic {topic!r}: use letters, digits and _ / - "
                       "(at most 100 characters, not starting with a separator)")
