"""CURVE on the ZeroMQ bus's tcp sockets: who may connect, and a count of who was refused.

A :class:`TcpGuard` belongs to one :class:`~robo_orch.bus.zmq_bus.ZmqBus` (one
ZeroMQ context) and is made at its first ``tcp://`` socket.  ``ipc://`` sockets
never see it: they are protected by the run directory's permissions.

* A socket that binds tcp (a publisher, the loop's control endpoint) is a CURVE
  server with the robot's server key pair.  Before the first such bind a ZAP
  handler (:class:`KeyAuthenticator`, pyzmq's :class:`~zmq.auth.thread.ThreadAuthenticator`)
  starts in the context and admits exactly the configured client public keys;
  each admitted connection carries the User-Id ``rw:NAME`` or ``ro:NAME``
  (:attr:`~robo_orch.bus.keys.ClientKey.user_id`), which the control endpoint
  reads to refuse changes to read-only clients.  The handler must run first:
  without one, libzmq would admit any client that knows the server's public key.
* A socket that connects over tcp (a subscription, a tool) is a CURVE client with
  this process's client key pair and checks the server's public key, so a
  process that took a topic's port first (without the server secret) cannot
  feed it anything.

A peer without an admitted key gets nothing and can send nothing: the
handshake fails before any message.  Every refusal is counted by reason from
the server sockets' monitors (read by a small thread, :class:`_Watch`, so an
unread monitor can never grow), and failed handshakes of this process's own
connections are counted by its subscriptions (:meth:`RefusalCounters.outgoing`).

``insecure`` (``bus.insecure = true``) allows tcp without CURVE (NULL
mechanism: no authentication, no encryption); without keys or that flag a tcp
endpoint is refused with one line saying how to make keys.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from typing import Any

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from robo_orch.bus.keys import NO_KEYS_HINT, CurveKeys
from robo_orch.errors import BusError

#: the ZAP domain of the bus's CURVE server sockets
ZAP_DOMAIN = "robo_orch"
#: the events a server socket's monitor reports (handshakes only)
SERVER_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                 | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
#: handshake failures a client socket's monitor reports
CLIENT_FAILURES = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                   | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
#: why a handshake failed, as counted
REASONS = ("unknown_key", "no_curve", "bad_handshake", "protocol", "incomplete")
_EVENT = struct.Struct("=HI")
_CRYPTO = (zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, zmq.PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE)


def reason_of(event: int, value: int) -> str:
    """The counted reason of a failed handshake (see :data:`REASONS`)."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return "unknown_key"  # the ZAP handler said no
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return "no_curve"  # a plain (NULL) peer, or one with another mechanism
        if value in _CRYPTO:
            return "bad_handshake"  # another server key, or a forged handshake
        return "protocol"
    # the peer went away mid-handshake or spoke no ZMTP; a plain (NULL) peer that hangs
    # up on the CURVE greeting first lands here too
    return "incomplete"


def is_tcp(address: str) -> bool:
    """Whether ``address`` is a ``tcp://`` endpoint (the ones CURVE protects)."""
    return address.startswith("tcp://")


def server_options(sock: zmq.Socket, keys: CurveKeys, what: str) -> None:
    """Make ``sock`` a CURVE server with the robot's key pair (before it binds)."""
    if keys.server_secret is None:
        raise BusError(f"cannot serve {what} over tcp: {keys.directory} has no "
                       "server.key_secret (a machine that publishes needs the robot's "
                       "server key pair)")
    sock.curve_secretkey = keys.server_secret
    sock.curve_publickey = keys.server_public
    sock.curve_server = True
    sock.zap_domain = ZAP_DOMAIN.encode()


def client_options(sock: zmq.Socket, keys: CurveKeys, what: str) -> None:
    """Make ``sock`` a CURVE client with this process's key pair (before it connects)."""
    if keys.client_secret is None or keys.client_public is None:
        raise BusError(f"cannot connect to {what} over tcp: no client key chosen in "
                       f"{keys.directory} (bus.client_key, or --key NAME)")
    sock.curve_secretkey = keys.client_secret
    sock.curve_publickey = keys.client_public
    sock.curve_serverkey = keys.server_public


class RefusalCounters:
    """Handshakes on this process's tcp sockets: admitted, refused by reason, and the last."""

    def __init__(self) -> None:
        self.admitted = 0  #: peers that completed a CURVE handshake with a server socket
        self.refused = 0  #: handshakes a server socket refused, all reasons
        self.refused_by_reason = dict.fromkeys(REASONS, 0)
        #: this process's own connections whose handshake failed (wrong server key, or
        #: someone else holding the port), by reason
        self.outgoing_failed = dict.fromkeys(REASONS, 0)
        self.last_refused: dict[str, Any] | None = None
        self.last_unknown_key: str | None = None  #: z85 public key the ZAP handler refused

    def server_event(self, event: int, value: int, endpoint: str) -> None:
        """Count one handshake event of a server socket."""
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.admitted += 1
            return
        reason = reason_of(event, value)
        self.refused += 1
        self.refused_by_reason[reason] += 1
        self.last_refused = {"endpoint": endpoint, "reason": reason,
                             "unix_time": round(time.time(), 3)}

    def outgoing(self, event: int, value: int) -> None:
        """Count one failed handshake of a connection this process made."""
        self.outgoing_failed[reason_of(event, value)] += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters."""
        return {"admitted": self.admitted, "refused": self.refused,
                "refused_by_reason": dict(self.refused_by_reason),
                "outgoing_failed": dict(self.outgoing_failed),
                "last_refused": self.last_refused, "last_unknown_key": self.last_unknown_key}


class KeyAuthenticator(ThreadAuthenticator):
    """The ZAP handler of one context: admits the configured client keys, nothing else."""

    def __init__(self, context: zmq.Context, admitted: dict, counters: RefusalCounters) -> None:
        super().__init__(context)
        self.admitted = dict(admitted)
        self.counters = counters
        self.configure_curve_callback(ZAP_DOMAIN, self)

    def callback(self, domain: str, key: bytes) -> bool:
        """pyzmq's credentials-provider hook: is the (z85) client key admitted?"""
        if key in self.admitted:
            return True
        self.counters.last_unknown_key = key.decode("ascii", "replace")
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        """``rw:NAME`` or ``ro:NAME`` of an admitted key (pyzmq's documented override)."""
        client = self.admitted.get(z85.encode(client_public_key))
        return client.user_id if client is not None else ""


class _Watch(threading.Thread):
    """Reads the server sockets' monitors (they are unbounded: someone must drain them)."""

    def __init__(self, context: zmq.Context, counters: RefusalCounters) -> None:
        super().__init__(name="robo_orch-tcp-watch", daemon=True)
        self.counters = counters
        address = f"inproc://robo_orch-tcp-watch-{id(self)}"
        self._wake = context.socket(zmq.PAIR)  # the owner's end (the bus's thread)
        self._wake.setsockopt(zmq.LINGER, 0)
        self._wake.bind(address)
        self._inbox = context.socket(zmq.PAIR)  # the thread's end
        self._inbox.setsockopt(zmq.LINGER, 0)
        self._inbox.connect(address)
        self._lock = threading.Lock()
        self._new: list[tuple[zmq.Socket, str]] = []
        self.start()

    def add(self, reader: zmq.Socket, endpoint: str) -> None:
        """Hand a monitor's reading end over to the thread (it owns it from now on)."""
        with self._lock:
            self._new.append((reader, endpoint))
        self._wake.send(b"add")

    def stop(self) -> None:
        """Stop the thread; it closes every reader it owns."""
        if self.is_alive():
            self._wake.send(b"stop")
            self.join(timeout=5.0)
        self._wake.close(linger=0)

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._inbox, zmq.POLLIN)
        readers: dict[zmq.Socket, str] = {}
        try:
            while True:
                for sock, _ in poller.poll():
                    if sock is self._inbox:
                        if self._inbox.recv() == b"stop":
                            return
                        with self._lock:
                            new, self._new = self._new, []
                        for reader, endpoint in new:
                            readers[reader] = endpoint
                            poller.register(reader, zmq.POLLIN)
                    else:
                        try:
                            self._read(sock, readers[sock])
                        except zmq.ZMQError:  # its socket closed meanwhile: nothing to count
                            poller.unregister(sock)
        finally:
            for reader in readers:
                reader.close(linger=0)
            self._inbox.close(linger=0)

    def _read(self, reader: zmq.Socket, endpoint: str) -> None:
        while reader.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frames = reader.recv_multipart(zmq.NOBLOCK)
            event, value = _EVENT.unpack_from(frames[0])
            if len(frames) > 1:
                endpoint = frames[1].decode(errors="replace") or endpoint
            if event & SERVER_EVENTS:
                self.counters.server_event(event, value, endpoint)


class TcpGuard:
    """CURVE for one bus's tcp sockets (see the module docstring).

    ``keys`` None with ``insecure`` True: tcp without CURVE, allowed on purpose.
    """

    def __init__(self, context: zmq.Context, keys: CurveKeys | None,
                 insecure: bool = False) -> None:
        self.context = context
        self.keys = keys
        self.insecure = insecure and keys is None
        self.counters = RefusalCounters()
        self.endpoints: list[str] = []  #: tcp endpoints served here
        self._auth: KeyAuthenticator | None = None
        self._watch: _Watch | None = None
        self._monitors = 0

    @property
    def mechanism(self) -> str:
        """``curve``, or ``none`` (insecure)."""
        return "none" if self.keys is None else "curve"

    def _check(self, address: str, what: str) -> None:
        if self.keys is None and not self.insecure:
            raise BusError(f"{what} is on {address}, and tcp needs CURVE keys: {NO_KEYS_HINT}")

    def prepare_server(self, sock: zmq.Socket, address: str, what: str) -> None:
        """Before ``sock`` binds ``address``: CURVE server options, ZAP handler, monitor."""
        self._check(address, what)
        if self.keys is None:
            return
        server_options(sock, self.keys, what)
        if self._auth is None:
            auth = KeyAuthenticator(self.context, self.keys.admitted, self.counters)
            try:
                auth.start()
            except zmq.ZMQError as err:  # another handler holds this context's ZAP endpoint
                raise BusError(f"cannot start the ZAP authenticator: {err}") from err
            self._auth = auth
            self._watch = _Watch(self.context, self.counters)
        self._monitors += 1
        monitor = f"inproc://robo_orch-tcp-monitor-{id(self)}-{self._monitors}"
        sock.monitor(monitor, SERVER_EVENTS)
        reader = self.context.socket(zmq.PAIR)
        reader.setsockopt(zmq.LINGER, 0)
        reader.setsockopt(zmq.RCVHWM, 0)  # never full: libzmq's I/O thread must not wait
        reader.connect(monitor)
        self._watch.add(reader, address)

    def bound(self, endpoint: str) -> None:
        """Note an endpoint served here (for :meth:`health`)."""
        self.endpoints.append(endpoint)

    def prepare_client(self, sock: zmq.Socket, address: str, what: str) -> None:
        """Before ``sock`` connects to ``address``: CURVE client options."""
        self._check(address, what)
        if self.keys is not None:
            client_options(sock, self.keys, what)

    def health(self) -> dict[str, Any]:
        """JSON-ready: mechanism, served endpoints and the refusal counters."""
        out: dict[str, Any] = {"mechanism": self.mechanism, "endpoints": list(self.endpoints)}
        if self.keys is not None:
            out["keys"] = self.keys.directory
            out["client"] = self.keys.client_name
            out["admitted_keys"] = len(self.keys.admitted)
        return out | self.counters.as_dict()

    def close(self) -> None:
        """Stop the monitor thread and the ZAP handler (before the context terminates)."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self._auth is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._auth.stop()
            self._auth = None
