"""The ZeroMQ bus: one PUB socket per published topic, one SUB socket per subscription.

Each topic has one endpoint.  By default it is
``ipc://{run_dir}/{topic with '/' replaced by '.'}.sock``; every process of one
robot must be given the same ``run_dir`` (the default is a new private
temporary directory, so only this process knows it).  The run directory is
created 0700 or checked (:mod:`robo_orch.rundir`: a directory another user
owns or could write is refused), and socket files are created 0600.  ``endpoints`` maps a topic
to another address, e.g. ``{"sensor/scan": "tcp://127.0.0.1:5555"}``; a
publisher may bind ``tcp://host:*`` and report the chosen port through
:meth:`ZmqBus.endpoint`.

Security: ``ipc://`` sockets are protected by the run directory (0700) and their
files (0600).  ``tcp://`` sockets need ``curve`` keys (:mod:`robo_orch.bus.keys`):
a publisher serves its topic as a CURVE server and admits only the configured
client keys, a subscription connects as a CURVE client and checks the server's
key, and refusals are counted (:mod:`robo_orch.bus.curve`, :meth:`ZmqBus.tcp_health`).
A tcp endpoint without keys is refused unless ``insecure`` is true (no
authentication, no encryption: a trusted network only).

Every socket sets ``LINGER`` to 0 and its own high-water mark (``SNDHWM`` on
publishers, ``RCVHWM`` on subscriptions).  A PUB socket at its high-water mark
drops whole messages without telling anyone; the subscriber sees them as
``seq_gaps``.  One topic, one publisher: libzmq would let a second bind of an
ipc path take it over silently, so binding an endpoint a live process holds is
refused (:class:`EndpointInUse`, naming that process).

Size limits: every SUB socket sets ``MAXMSGSIZE`` to its subscription's
``max_bytes`` (publishers to :data:`PUB_MAX_BYTES`, for what subscribers send
them), so libzmq refuses a larger frame before allocating it.  It does so by
dropping the connection, without a word and for good; each subscription
therefore has a socket monitor (an inproc PAIR, unbounded so that it can never
block libzmq's I/O thread), read at most every :data:`MONITOR_PERIOD_NS` when
the subscription is polled.  Each dropped connection counts in the
subscription's ``disconnects``, and once the messages that came before it are
read the bus connects again.  A publisher closing its socket drops the
connection too and is counted the same way.  The limit applies per frame:
libzmq accepts a message of any number of frames, which :meth:`recv_frames`
reads in pieces of at most :data:`MAX_FRAMES` frames (each counted malformed).
A message's last frame (its payload) is handed to decoding as a zero-copy
:class:`zmq.Frame`.

Real-time priority: with ``realtime_priority`` > 0 (the loop's SCHED_FIFO
priority), ZeroMQ's I/O threads get the same priority, set on the context before
its first socket starts them; otherwise a loop under SCHED_FIFO can starve the
thread that delivers its messages.  libzmq aborts the process if it cannot apply
a scheduling policy, so it is asked only after :func:`robo_orch.rt.fifo_permitted`
says the kernel allows it; when not, the threads keep the normal policy.

Discovery: a bus that binds topics records them, with its process and publisher
identity, in ``run_dir/endpoints/`` and indexes its run directory per user
(:mod:`robo_orch.bus.discovery`), so ``robo-orch topics`` finds them from
another terminal.  Both files go away when the bus closes.
"""

from __future__ import annotations

import contextlib
import itertools
import os

import zmq

from robo_orch import rundir
from robo_orch.bus.base import Bus, Publisher, Receiver, Sender
from robo_orch.bus.discovery import EndpointsFile, read_run_dir
from robo_orch.bus.keys import CurveKeys
from robo_orch.bus.zmq_ends import (
    MAX_FRAMES,
    MONITOR_PERIOD_NS,
    _inode,
    _ZmqReceiver,
    _ZmqSender,
    bind_private,
)
from robo_orch.clock import Clock
from robo_orch.errors import BusError
from robo_orch.messages import MessageType

_IPC_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
#: largest frame a publisher accepts from its subscribers (subscription requests)
PUB_MAX_BYTES = 1024
_MONITORS = itertools.count()

__all__ = ["MAX_FRAMES", "MONITOR_PERIOD_NS", "PUB_MAX_BYTES", "EndpointInUse", "ZmqBus",
           "bind_private"]


class EndpointInUse(BusError):
    """Another live process already binds the endpoint (a topic has one publisher)."""

    exit_status = 2


def _bind_error(address: str, what: str, err: zmq.ZMQError) -> BusError:
    """A failed bind; a tcp port someone holds is :class:`EndpointInUse` (exit 2)."""
    if err.errno == zmq.EADDRINUSE and address.startswith("tcp://"):
        return EndpointInUse(f"cannot bind {address} for {what}: another process holds that "
                             "port; a topic has one publisher: stop it, or choose another port")
    return BusError(f"cannot bind {address} for {what}: {err}")


class ZmqBus(Bus):
    """Bus over ZeroMQ PUB/SUB (see the module docstring for endpoints and security).

    ``context`` defaults to a new :class:`zmq.Context` owned (and terminated on
    :meth:`close`) by this bus; a context passed in is left running.
    ``realtime_priority`` > 0 gives the I/O threads of the bus's own context that
    SCHED_FIFO priority where permitted (see the module docstring).
    """

    kind = "zmq"

    def __init__(self, clock: Clock, *, publisher_id: int, incarnation: int = 0,
                 hwm: int = 100, run_dir: str | os.PathLike[str] | None = None,
                 endpoints: dict[str, str] | None = None,
                 context: zmq.Context | None = None, realtime_priority: int = 0,
                 curve: CurveKeys | None = None, insecure: bool = False) -> None:
        super().__init__(clock, publisher_id=publisher_id, incarnation=incarnation, hwm=hwm)
        #: CURVE keys for tcp endpoints; ``insecure``: tcp without them, on purpose
        self.curve = curve
        self.insecure = bool(insecure)
        self._guard = None  # robo_orch.bus.curve.TcpGuard, made at the first tcp socket
        self._own_run_dir = run_dir is None
        self.run_dir = rundir.ensure_run_dir(run_dir)
        with contextlib.suppress(rundir.RunDirUnavailable):  # discovery then warns, and works
            rundir.ensure_user_base()  # the index of live runs: refused now if not private
        self._endpoints = dict(endpoints or {})
        self._bound: dict[str, str] = {}  # topic -> endpoint actually bound here
        #: bound by bind_socket and closed with the bus: (socket, ipc path or None, its inode)
        self._other_sockets: list[tuple[zmq.Socket, str | None, int | None]] = []
        self._directory = EndpointsFile(self.run_dir, self.publisher_id, self.incarnation)
        self._own_context = context is None
        self.context = zmq.Context() if context is None else context
        #: SCHED_FIFO priority of the I/O threads (0: the normal policy)
        self.io_priority = 0
        if realtime_priority > 0 and self._own_context:
            self.set_io_thread_priority(realtime_priority)

    def set_io_thread_priority(self, priority: int) -> bool:
        """Run the context's I/O threads under SCHED_FIFO ``priority`` if permitted.

        Must come before the first socket (which starts the threads); returns
        whether the priority was set.
        """
        from robo_orch.rt import fifo_permitted

        if self._senders or self._subscriptions:
            raise BusError("set the I/O thread priority before the first publisher or "
                           "subscription: the threads already run")
        if not fifo_permitted(priority):
            return False
        self.context.set(zmq.THREAD_SCHED_POLICY, os.SCHED_FIFO)
        self.context.set(zmq.THREAD_PRIORITY, int(priority))
        self.io_priority = int(priority)
        return True

    def peer(self, publisher_id: int, *, hwm: int | None = None) -> ZmqBus:
        """Another ZeroMQ bus in this bus's run directory, with its endpoints."""
        return ZmqBus(self.clock, publisher_id=publisher_id, run_dir=self.run_dir,
                      hwm=self.hwm if hwm is None else hwm, endpoints=dict(self._endpoints),
                      curve=self.curve, insecure=self.insecure)

    # --- tcp and CURVE ---------------------------------------------------------------

    def _tcp(self):
        """The :class:`~robo_orch.bus.curve.TcpGuard` of this bus (made on first use)."""
        if self._guard is None:
            from robo_orch.bus.curve import TcpGuard  # loads zmq.auth: only when tcp is used

            self._guard = TcpGuard(self.context, self.curve, self.insecure)
            if self.curve is not None or self.insecure:
                # tools of this user (topics) find the keys here: paths, never secrets
                self._directory.services["tcp"] = self.security_options()
        return self._guard

    def _bind(self, sock: zmq.Socket, address: str, what: str) -> None:
        """Bind ``sock`` (CURVE server on tcp, a 0600 file on ipc); ZMQError passes through."""
        if address.startswith("tcp://"):
            self._tcp().prepare_server(sock, address, what)
        bind_private(sock, address)
        if address.startswith("tcp://"):
            self._tcp().bound(sock.getsockopt_string(zmq.LAST_ENDPOINT))

    def tcp_health(self) -> dict:
        """tcp security of this bus, JSON-ready: the mechanism (``curve``, ``none`` when
        insecure, or ``unused``), the tcp endpoints served, and the handshakes admitted
        and refused (by reason) with the last refusal."""
        if self._guard is None:
            return {"mechanism": "unused" if self.curve is None else "curve"}
        return self._guard.health()

    def security_options(self) -> dict:
        """How another process rebuilds this bus's security: ``{"keys": dir, "client":
        name}`` or ``{"insecure": true}`` (no secrets: they are re-read from the files)."""
        if self.curve is not None:
            return {"keys": self.curve.directory, "client": self.curve.client_name}
        return {"insecure": True} if self.insecure else {}

    def endpoint(self, topic: str) -> str:
        """The address of ``topic``: the one bound here if any, else the configured one."""
        bound = self._bound.get(topic)
        if bound is not None:
            return bound
        configured = self._endpoints.get(topic)
        if configured is not None:
            return configured
        path = os.path.join(self.run_dir, topic.replace("/", ".") + ".sock")
        if len(os.fsencode(path)) > _IPC_PATH_MAX:
            raise BusError(f"ipc socket path {path!r} is longer than {_IPC_PATH_MAX} bytes; "
                           "use a shorter run_dir or a tcp endpoint for this topic")
        return "ipc://" + path

    def _socket(self, kind: int, hwm_option: int, hwm: int) -> zmq.Socket:
        try:
            sock = self.context.socket(kind)
        except zmq.ZMQError as err:
            raise BusError(f"cannot create a ZeroMQ socket: {err}") from err
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(hwm_option, hwm)
        return sock

    def check_free(self, topic: str) -> None:
        """Raise :class:`EndpointInUse` if a live process binds ``topic``'s ipc endpoint."""
        address = self.endpoint(topic)
        if address.startswith("ipc://") and topic not in self._bound:
            self._check_path_free(topic, address[len("ipc://"):])

    def _check_path_free(self, what: str, path: str) -> None:
        if not rundir.socket_in_use(path):
            return
        owner = ""
        for proc in read_run_dir(os.path.dirname(path)):
            if what in proc.topics or what in proc.services:
                owner = f" (pid {proc.pid}, {proc.name})"
        raise EndpointInUse(f"cannot bind {what}: a live process{owner} already holds {path}; "
                            "a topic has one publisher: stop that process first")

    def bind_socket(self, sock: zmq.Socket, name: str, address: str) -> str:
        """Bind a socket of another kind (the loop's control endpoint) the way topics are bound.

        ``name`` is what the endpoint is called in errors; an ipc endpoint held by a
        live process is refused, and the socket file is created 0600.  Returns the
        bound address.
        """
        path = None
        if address.startswith("ipc://"):
            path = address[len("ipc://"):]
            rundir.ensure_private_dir(os.path.dirname(path) or ".")
            self._check_path_free(name, path)
        try:
            self._bind(sock, address, name)
        except zmq.ZMQError as err:
            raise _bind_error(address, name, err) from err
        self._other_sockets.append((sock, path, _inode(path) if path else None))
        return sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def add_service(self, name: str, info: dict) -> None:
        """Record a service of this process (e.g. ``control``) in its discovery file."""
        self._directory.add_service(name, info)

    def _create_sender(self, topic: str, hwm: int) -> Sender:
        address = self.endpoint(topic)
        path = None
        if address.startswith("ipc://"):
            path = address[len("ipc://"):]
            rundir.ensure_private_dir(os.path.dirname(path) or ".")
            self._check_path_free(topic, path)
        sock = self._socket(zmq.PUB, zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, PUB_MAX_BYTES)
        try:
            self._bind(sock, address, f"topic {topic!r}")
        except zmq.ZMQError as err:
            sock.close(linger=0)
            raise _bind_error(address, f"topic {topic!r}", err) from err
        except BaseException:
            sock.close(linger=0)
            raise
        self._bound[topic] = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._directory.add(topic, self._bound[topic])
        return _ZmqSender(sock, path)

    def publisher(self, topic: str, mtype: MessageType | str | int, *, frame_id: str = "",
                  hwm: int | None = None) -> Publisher:
        """:meth:`Bus.publisher`; also records the topic's type for discovery."""
        pub = super().publisher(topic, mtype, frame_id=frame_id, hwm=hwm)
        self._directory.add(topic, self._bound.get(topic, self.endpoint(topic)), pub.mtype)
        return pub

    def _create_receiver(self, topic: str, hwm: int, max_bytes: int | None = None) -> Receiver:
        address = self.endpoint(topic)
        if address.endswith(":*"):
            raise BusError(f"cannot connect to the wildcard endpoint {address} of {topic!r}: "
                           "pass the address the publisher reported by ZmqBus.endpoint()")
        sock = self._socket(zmq.SUB, zmq.RCVHWM, hwm)
        if max_bytes is not None:
            sock.setsockopt(zmq.MAXMSGSIZE, int(max_bytes))
        # one PUB per endpoint, so take everything: foreign frames are counted, not hidden
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        monitor = None
        on_refused = None
        events = zmq.EVENT_DISCONNECTED
        try:
            if address.startswith("tcp://"):
                guard = self._tcp()
                guard.prepare_client(sock, address, f"topic {topic!r}")
                if guard.keys is not None:
                    from robo_orch.bus.curve import CLIENT_FAILURES

                    events |= CLIENT_FAILURES
                    on_refused = guard.counters.outgoing
            monitor = self._monitor(sock, events)
            sock.connect(address)
        except BaseException as err:
            if monitor is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.disable_monitor()
                monitor.close(linger=0)
            sock.close(linger=0)
            if isinstance(err, zmq.ZMQError):
                raise BusError(f"cannot connect to {address} for topic {topic!r}: "
                               f"{err}") from err
            raise
        return _ZmqReceiver(sock, address, monitor, on_refused)

    def _monitor(self, sock: zmq.Socket, events: int = zmq.EVENT_DISCONNECTED) -> zmq.Socket:
        """The reading end of ``sock``'s monitor: dropped connections (and, over CURVE,
        failed handshakes) only, never full."""
        address = f"inproc://robo_orch-monitor-{os.getpid()}-{next(_MONITORS)}"
        sock.monitor(address, events)
        reader = self.context.socket(zmq.PAIR)
        reader.setsockopt(zmq.LINGER, 0)
        reader.setsockopt(zmq.RCVHWM, 0)  # at a limit libzmq's I/O thread would wait for us
        reader.connect(address)
        return reader

    def _close(self) -> None:
        for sock, path, inode in self._other_sockets:
            sock.close(linger=0)  # before the context terminates (it waits for every socket)
            if path and inode is not None and _inode(path) == inode:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        self._other_sockets.clear()
        self._bound.clear()
        self._directory.close()
        if self._guard is not None:  # its threads' sockets, before the context terminates
            self._guard.close()
            self._guard = None
        if self._own_context:
            self.context.term()
        if self._own_run_dir:
            # only our own socket files were in it, and they are gone by now
            with contextlib.suppress(OSError):
                os.rmdir(self.run_dir)

    def _drop_publisher(self, pub: Publisher) -> None:
        super()._drop_publisher(pub)
        self._bound.pop(pub.topic, None)
        self._directory.remove(pub.topic)
