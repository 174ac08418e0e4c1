"""The control endpoint's server: one ZeroMQ ROUTER socket, served from inside the loop's tick.

:class:`ControlServer` binds ``ipc://{run_dir}/control.sock`` (0600, in the
private run directory) or a given address, records it in the process's
discovery file (service ``control``), and answers requests from a table of
:class:`Operation`\\ s.  :meth:`ControlServer.serve` is called once per tick (the
sense phase) and never blocks: it reads at most :attr:`max_per_tick` requests
(the rest wait in the socket's queue for the next tick), sends every reply with
``NOBLOCK`` (a reply that does not fit the peer's queue is dropped and counted),
and checks the replies that wait for something (:class:`Pending`) until they are
ready or their deadline passes.

Access: each operation says whether it changes the robot (``mutating``).  The
``may_mutate`` hook gets the first frame of a request (a :class:`zmq.Frame`, whose
``get("User-Id")`` is the authenticated key's user id under CURVE) and says
whether its sender may run mutating operations; a read-only peer gets
``forbidden``.  Locally the socket file is 0600 in a 0700 directory, so every
peer is this user and may mutate (the default).  A remote (tcp) endpoint is a
second server sharing the first one's operation table, bound as a CURVE server
by the bus, with :func:`curve_may_mutate`: read-only client keys may watch only.

Malformed requests (not JSON, wrong version, unknown operation, bad arguments)
are answered with an error and counted by code; frames that are not even a
request envelope are counted and dropped.  Messages larger than
:data:`~robo_orch.control.protocol.MAX_REQUEST_BYTES` are dropped by ZeroMQ
itself (``ZMQ_MAXMSGSIZE``), which disconnects the peer.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import zmq

from robo_orch.control import protocol as P


@dataclass(frozen=True)
class Peer:
    """Who sent a request: the ROUTER identity and whether it may change things."""

    identity: bytes
    user_id: str = ""
    may_mutate: bool = True


@dataclass
class Request:
    """One parsed request, handed to an operation's handler."""

    id: str | int
    op: str
    args: dict[str, Any]
    peer: Peer
    received_ns: int


@dataclass
class Outcome:
    """A finished answer: ``error`` is ``(code, message)`` for a failure (``result`` still sent)."""

    result: dict[str, Any]
    error: tuple[str, str] | None = None


class Pending(Protocol):
    """An answer that comes later (the e-stop waits for its tick and the motor driver)."""

    def poll(self, now_ns: int) -> Outcome | None:
        """The outcome once known (the deadline is the pending reply's own business)."""


@dataclass(frozen=True)
class Operation:
    """One entry of the operation table.

    ``handler(request)`` returns a JSON-ready dict (success), an :class:`Outcome`,
    or a :class:`Pending` answered on a later tick; it raises
    :class:`~robo_orch.control.protocol.ProtocolError` (``bad_args``) for bad
    arguments.  ``mutating`` operations change the robot (e-stop, parameters) and
    are refused to read-only peers.
    """

    name: str
    handler: Callable[[Request], Any]
    mutating: bool
    doc: str = ""


@dataclass
class _Waiting:
    envelope: list
    request: Request
    pending: Pending


@dataclass
class ServerCounters:
    """What the server has seen, JSON-ready through :meth:`as_dict`."""

    requests: int = 0
    replies: int = 0
    replies_dropped: int = 0  #: the peer's queue was full (or it was gone)
    malformed: Counter = field(default_factory=Counter)  #: by error code
    not_envelopes: int = 0  #: frames that were not [identity, (empty,) payload]
    forbidden: int = 0
    internal_errors: int = 0
    bounded_ticks: int = 0  #: ticks that stopped reading at max_per_tick

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters."""
        return {"requests": self.requests, "replies": self.replies,
                "replies_dropped": self.replies_dropped, "malformed": dict(self.malformed),
                "not_envelopes": self.not_envelopes, "forbidden": self.forbidden,
                "internal_errors": self.internal_errors, "bounded_ticks": self.bounded_ticks}


class ControlServer:
    """A ROUTER socket answering :class:`Operation` requests, served between ticks.

    ``bus`` is the loop's :class:`~robo_orch.bus.zmq_bus.ZmqBus`: the socket uses
    its context, is bound like its topics (an endpoint a live process holds is
    refused, the socket file is 0600), is recorded in its discovery file, and is
    closed with it.
    """

    #: requests read per :meth:`serve` call (one tick)
    max_per_tick = 8
    #: replies that may wait at once (more: ``busy``)
    max_pending = 16

    def __init__(self, bus, *, address: str | None = None,
                 may_mutate: Callable[[zmq.Frame], bool] | None = None,
                 service: str | None = P.SERVICE,
                 operations: dict[str, Operation] | None = None) -> None:
        self.bus = bus
        #: the operation table (another server's, shared, when given)
        self.operations: dict[str, Operation] = {} if operations is None else operations
        #: discovery service name the table is published under (None: not published)
        self.service = service
        #: more facts for the discovery entry (e.g. the remote tcp endpoint)
        self.advertise: dict[str, Any] = {}
        self.counters = ServerCounters()
        self._may_mutate = may_mutate
        self._waiting: list[_Waiting] = []
        sock = bus.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 64)
        sock.setsockopt(zmq.SNDHWM, 64)
        sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_REQUEST_BYTES)
        self.socket = sock
        address = address or "ipc://" + os.path.join(bus.run_dir, P.CONTROL_SOCKET)
        try:
            self.endpoint = bus.bind_socket(sock, P.SERVICE, address)
        except BaseException:
            sock.close(linger=0)
            raise
        self._events = sock.getsockopt
        self._recv = sock.recv_multipart
        self._send = sock.send_multipart

    def register(self, op: Operation) -> None:
        """Add (or replace) an operation, then re-publish the table in the discovery file."""
        self.operations[op.name] = op
        self.publish()

    def publish(self) -> None:
        """(Re-)write this endpoint and its operation table in the discovery file."""
        if self.service is None:
            return
        self.bus.add_service(self.service, {
            "endpoint": self.endpoint, "version": P.PROTOCOL_VERSION, "pid": os.getpid(),
            "ops": {name: {"mutating": o.mutating, "doc": o.doc}
                    for name, o in sorted(self.operations.items())}, **self.advertise})

    @property
    def pending(self) -> int:
        """Replies waiting for their outcome."""
        return len(self._waiting)

    def serve(self, now_ns: int) -> int:
        """Read and answer up to :attr:`max_per_tick` requests, then the pending replies.

        Never blocks.  Returns how many requests were read.
        """
        n = 0
        while self._events(zmq.EVENTS) & zmq.POLLIN:
            if n == self.max_per_tick:
                self.counters.bounded_ticks += 1
                break
            try:
                frames = self._recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            n += 1
            self._handle(frames, now_ns)
        if self._waiting:
            self._check_waiting(now_ns)
        return n

    def _handle(self, frames: list, now_ns: int) -> None:
        c = self.counters
        # [identity, payload] from a DEALER, [identity, b"", payload] from a REQ
        if len(frames) == 2 or (len(frames) == 3 and len(frames[1]) == 0):
            envelope, payload = [f.bytes for f in frames[:-1]], frames[-1].bytes
        else:
            c.not_envelopes += 1
            return
        c.requests += 1
        try:
            rid, name, args = P.parse_request(payload)
        except P.ProtocolError as err:
            c.malformed[err.code] += 1
            self._reply(envelope, P.reply_error(P.request_id(payload), err.code, str(err)))
            return
        op = self.operations.get(name)
        if op is None:
            c.malformed["unknown_op"] += 1
            self._reply(envelope, P.reply_error(rid, "unknown_op", f"no operation {name!r} "
                                                f"(known: {', '.join(sorted(self.operations))})"))
            return
        may_mutate = True if self._may_mutate is None else bool(self._may_mutate(frames[0]))
        peer = Peer(envelope[0], _user_id(frames[0]), may_mutate)
        if op.mutating and not may_mutate:
            c.forbidden += 1
            self._reply(envelope, P.reply_error(rid, "forbidden", f"{name} changes the robot "
                                                "and this client has read-only access"))
            return
        if len(self._waiting) >= self.max_pending:
            self._reply(envelope, P.reply_error(rid, "busy", f"{len(self._waiting)} requests "
                                                "are waiting already; try again"))
            return
        request = Request(rid, name, args, peer, now_ns)
        try:
            answer = op.handler(request)
        except P.ProtocolError as err:
            c.malformed[err.code] += 1
            self._reply(envelope, P.reply_error(rid, err.code, str(err)))
            return
        except Exception as err:  # a bug in a handler must not stop the loop
            c.internal_errors += 1
            self._reply(envelope, P.reply_error(rid, "internal", f"{type(err).__name__}: {err}"))
            return
        if isinstance(answer, dict):
            self._reply(envelope, P.reply_ok(rid, answer))
        elif isinstance(answer, Outcome):
            self._answer(envelope, rid, answer)
        else:
            self._waiting.append(_Waiting(envelope, request, answer))

    def _check_waiting(self, now_ns: int) -> None:
        still = []
        for w in self._waiting:
            try:
                outcome = w.pending.poll(now_ns)
            except Exception as err:  # a bug in a handler must not stop the loop
                self.counters.internal_errors += 1
                outcome = Outcome({}, ("internal", f"{type(err).__name__}: {err}"))
            if outcome is None:
                still.append(w)
            else:
                self._answer(w.envelope, w.request.id, outcome)
        self._waiting = still

    def _answer(self, envelope: list, rid, outcome: Outcome) -> None:
        if outcome.error is None:
            self._reply(envelope, P.reply_ok(rid, outcome.result))
        else:
            self._reply(envelope, P.reply_error(rid, *outcome.error, result=outcome.result))

    def _reply(self, envelope: list, payload: bytes) -> None:
        try:
            self._send([*envelope, payload], zmq.NOBLOCK)
            self.counters.replies += 1
        except zmq.ZMQError:  # full, or the peer is gone (EHOSTUNREACH with ROUTER_MANDATORY)
            self.counters.replies_dropped += 1

    def close(self) -> None:
        """Close the socket (the bus closes it too, before its context)."""
        self.socket.close(linger=0)


def curve_may_mutate(frame) -> bool:
    """The ``may_mutate`` hook of a CURVE socket: only full-access client keys may change
    the robot (their ZAP User-Id is ``rw:NAME``; read-only keys carry ``ro:NAME``)."""
    from robo_orch.bus.keys import may_change

    return may_change(_user_id(frame))


def _user_id(frame) -> str:
    try:
        return frame.get("User-Id") or ""
    except (zmq.ZMQError, AttributeError, UnicodeDecodeError):
        return ""
