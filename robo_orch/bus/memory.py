"""The in-process bus: the lockstep simulation's and the tests' transport.

Buses share a :class:`MemoryHub` (the in-process "network"): topic -> list of
subscriber inboxes.  Publishing appends the encoded frames to every inbox of the
topic; an inbox at its high-water mark refuses the new message and the refusal
is counted as ``dropped`` on that subscription.  Give each node its own bus (and
its own publisher id) on one hub::

    hub = MemoryHub()
    sim_bus = make_bus("memory", clock, publisher_id=2, hub=hub)
    loop_bus = make_bus("memory", clock, publisher_id=1, hub=hub)

Without ``hub`` a bus joins the process-wide :func:`default_hub`.

A lossy link, for fault injection (``robo-orch faults``): :meth:`MemoryHub.set_loss`
gives a topic a function that decides, per sent message, whether it is lost on the
way.  A lost message has used its sequence number, so subscribers count the gap.
"""

from __future__ import annotations

import sys
import threading
from collections import deque

from robo_orch.bus.base import Bus, Receiver, Sender
from robo_orch.bus.subscription import InboxSubscription
from robo_orch.clock import Clock


class _Topic:
    """The inboxes of one topic, replaced (never mutated) so senders iterate safely."""

    __slots__ = ("inboxes", "loss")

    def __init__(self) -> None:
        self.inboxes: tuple[_Inbox, ...] = ()
        self.loss = None


class MemoryHub:
    """An in-process network joining every :class:`MemoryBus` created with it."""

    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._lock = threading.Lock()

    def topics(self) -> list[str]:
        """Topics that have (or had) publishers or subscribers."""
        return sorted(self._topics)

    def set_loss(self, topic: str, lose) -> None:
        """``lose(frames) -> bool`` decides whether each message sent on ``topic`` is lost
        in transit (None: a perfect link again)."""
        self._topic(topic).loss = lose

    def _topic(self, topic: str) -> _Topic:
        with self._lock:
            return self._topics.setdefault(topic, _Topic())

    def _attach(self, topic: str, inbox: _Inbox) -> None:
        with self._lock:
            entry = self._topics.setdefault(topic, _Topic())
            entry.inboxes = (*entry.inboxes, inbox)

    def _detach(self, topic: str, inbox: _Inbox) -> None:
        with self._lock:
            entry = self._topics.get(topic)
            if entry is not None:
                entry.inboxes = tuple(i for i in entry.inboxes if i is not inbox)


_DEFAULT_HUB: MemoryHub | None = None


def default_hub() -> MemoryHub:
    """The process-wide hub used by buses created without ``hub=``."""
    global _DEFAULT_HUB
    if _DEFAULT_HUB is None:
        _DEFAULT_HUB = MemoryHub()
    return _DEFAULT_HUB


class _Inbox(Receiver):
    """One subscription's queue of frames, with a wake-up for blocking waits."""

    __slots__ = ("queue", "hwm", "max_bytes", "overflow", "oversized", "waiting", "event", "hub",
                 "topic")

    def __init__(self, hub: MemoryHub, topic: str, hwm: int, max_bytes: int | None) -> None:
        self.queue: deque[list[bytes]] = deque()
        self.hwm = hwm
        self.max_bytes = sys.maxsize if max_bytes is None else max_bytes
        self.overflow = 0
        self.oversized = 0
        self.waiting = False
        self.event = threading.Event()
        self.hub = hub
        self.topic = topic

    def recv_frames(self) -> list[bytes] | None:
        queue = self.queue
        return queue.popleft() if queue else None

    recv_next = recv_frames  # no readiness check to skip: one call less per message

    def wait_readable(self, timeout_s: float) -> bool:
        # Clear, announce, then check: a sender appending after the check sees
        # ``waiting`` and sets the event, so no wake-up is lost.
        self.event.clear()
        self.waiting = True
        try:
            if self.queue:
                return True
            return self.event.wait(timeout_s)
        finally:
            self.waiting = False

    def take_overflow(self) -> int:
        n = self.overflow
        if n:
            self.overflow -= n
        return n

    def take_oversized(self) -> int:
        n = self.oversized
        if n:
            self.oversized -= n
        return n

    def close(self) -> None:
        self.hub._detach(self.topic, self)


class _MemorySender(Sender):
    """Delivers frames to every inbox currently subscribed to one topic."""

    __slots__ = ("entry",)

    def __init__(self, entry: _Topic) -> None:
        self.entry = entry

    def send(self, frames: list[bytes]) -> None:
        entry = self.entry
        lose = entry.loss
        if lose is not None and lose(frames):
            return
        # encoded: only the payload can be above a limit (MIN_FRAME_LIMIT bounds the rest)
        self._deliver(frames, len(frames[-1]))

    def send_raw(self, frames: list[bytes]) -> None:
        self._deliver(frames, max(map(len, frames)) if frames else 0)

    def _deliver(self, frames: list[bytes], size: int) -> None:
        for inbox in self.entry.inboxes:
            if size > inbox.max_bytes:
                inbox.oversized += 1
                continue
            queue = inbox.queue
            if len(queue) >= inbox.hwm:
                inbox.overflow += 1
                continue
            queue.append(frames)
            if inbox.waiting:
                inbox.event.set()

    def close(self) -> None:
        """Nothing to release: inboxes belong to their subscriptions."""


class MemoryBus(Bus):
    """In-process bus on a :class:`MemoryHub` (same encode/decode path as zmq)."""

    kind = "memory"
    Hub = MemoryHub
    #: inboxes hold the very list a publisher sent (see ``Bus.in_process``)
    in_process = True
    _subscription_type = InboxSubscription

    def __init__(self, clock: Clock, *, publisher_id: int, incarnation: int = 0,
                 hwm: int = 100, hub: MemoryHub | None = None) -> None:
        super().__init__(clock, publisher_id=publisher_id, incarnation=incarnation, hwm=hwm)
        self.hub = default_hub() if hub is None else hub

    def peer(self, publisher_id: int, *, hwm: int | None = None) -> MemoryBus:
        """Another memory bus on this bus's hub."""
        return MemoryBus(self.clock, publisher_id=publisher_id, hub=self.hub,
                         hwm=self.hwm if hwm is None else hwm)

    def _create_sender(self, topic: str, hwm: int) -> Sender:
        # hwm applies at the inboxes: a memory sender never queues
        return _MemorySender(self.hub._topic(topic))

    def _create_receiver(self, topic: str, hwm: int, max_bytes: int | None = None) -> Receiver:
        inbox = _Inbox(self.hub, topic, hwm, max_bytes)
        self.hub._attach(topic, inbox)
        return inbox
