"""Talking to a running loop: find its control endpoint, send a request, wait for the reply.

:func:`find_control` finds the endpoint the way ``robo-orch topics`` finds runs
(:func:`robo_orch.introspect.endpoints.find_run_dirs`: ``--run-dir``, the
config's ``bus.run_dir``, or every live run in the per-user index), from the
discovery files.  Before connecting to an ``ipc://`` endpoint it checks that the
run directory is private and the socket file is this user's
(:mod:`robo_orch.rundir`): a tool must not send an e-stop to someone else's socket.

:class:`ControlClient` is a DEALER socket; :meth:`ControlClient.call` sends one
request and waits up to a timeout for the reply with the same id (replies to
earlier, abandoned requests are skipped).  A ``tcp://`` endpoint (a remote loop,
``--connect``) is reached over CURVE with the client's key pair, checking the
loop's server key; a refused handshake ends the call at once with
:class:`AccessRefused` instead of a time-out.  Errors are one-line exceptions:
:class:`~robo_orch.control.protocol.NoRunFound` (exit 2),
:class:`~robo_orch.control.protocol.NoAnswer` (3), :class:`AccessRefused` (3),
:class:`~robo_orch.control.protocol.RequestFailed` (3, or 4 for ``not_confirmed``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq

from robo_orch import rundir
from robo_orch.control import protocol as P
from robo_orch.errors import RoboOrchError, UsageError

if TYPE_CHECKING:
    from robo_orch.bus.keys import CurveKeys

_ids = itertools.count(1)
_EVENT = struct.Struct("=HI")


class AccessRefused(RoboOrchError, PermissionError):
    """A remote loop refused this client's CURVE handshake (exit status 3)."""


@dataclass(frozen=True)
class ControlTarget:
    """A loop's control endpoint: where it is and who serves it."""

    endpoint: str
    run_dir: str
    pid: int | None = None
    name: str = ""

    def describe(self) -> str:
        """``robo-orch sim [pid 123] in /run/dir`` (or ``at tcp://...``), as far as known."""
        who = f"{self.name} [pid {self.pid}]" if self.pid else (self.name or "a loop")
        return f"{who} in {self.run_dir}" if self.run_dir else f"{who} at {self.endpoint}"


def find_control(run_dir: str | None = None, config: str | None = None) -> ControlTarget:
    """The one control endpoint selected by ``run_dir`` / ``config`` (or the only live one)."""
    from robo_orch.introspect.endpoints import ACTIVE_DIR, find_run_dirs, read_run_dir

    dirs = find_run_dirs(run_dir, config)
    found: list[ControlTarget] = []
    for d in dirs:
        targets = [ControlTarget(str(p.services[P.SERVICE].get("endpoint", "")), d, p.pid,
                                 p.name) for p in read_run_dir(d) if P.SERVICE in p.services]
        path = os.path.join(d, P.CONTROL_SOCKET)
        if not targets and rundir.socket_in_use(path):  # a loop without a discovery file
            targets = [ControlTarget("ipc://" + path, d)]
        found += targets
    if not found:
        where = ", ".join(dirs) if dirs else os.path.join(rundir.user_base(), ACTIVE_DIR)
        raise P.NoRunFound(f"no running robo_orch loop found in {where}: start `robo-orch run` "
                           "or a realtime `robo-orch sim`, or pass --run-dir/--config "
                           "(lockstep simulations have no control endpoint)")
    if len(found) > 1:
        raise UsageError("several loops are running (" + "; ".join(t.describe() for t in found)
                         + "): pass --run-dir or --config")
    return found[0]


class ControlClient:
    """A connection to one loop's control endpoint (a DEALER socket)."""

    def __init__(self, target: ControlTarget | str, *,
                 context: zmq.Context | None = None, curve: CurveKeys | None = None) -> None:
        self.target = target if isinstance(target, ControlTarget) else ControlTarget(
            str(target), "")
        endpoint = self.target.endpoint
        if endpoint.startswith("ipc://"):
            path = endpoint[len("ipc://"):]
            rundir.check_private_dir(os.path.dirname(path))
            rundir.check_own_socket(path)
        elif endpoint.startswith("tcp://") and curve is None:
            raise UsageError(f"{endpoint} is a tcp endpoint, reached over CURVE: pass --keys "
                             "DIR (the robot's server.key and this client's .key_secret)")
        self._own_context = context is None
        self.context = zmq.Context() if context is None else context
        self.monitor: zmq.Socket | None = None
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 16 * 1024 * 1024)
        try:
            if endpoint.startswith("tcp://"):
                self._secure(sock, curve)
            sock.connect(endpoint)
        except (zmq.ZMQError, RoboOrchError) as err:
            self._close_monitor(sock)
            sock.close(linger=0)
            if self._own_context:
                self.context.term()
            if isinstance(err, RoboOrchError):
                raise
            raise P.NoRunFound(f"cannot connect to {endpoint}: {err}") from None
        self.socket = sock

    def _secure(self, sock: zmq.Socket, curve: CurveKeys) -> None:
        """CURVE client options, and a monitor that reports a refused handshake."""
        from robo_orch.bus.curve import CLIENT_FAILURES, client_options

        client_options(sock, curve, f"the control endpoint {self.target.endpoint}")
        address = f"inproc://robo_orch-control-client-{id(self)}"
        sock.monitor(address, CLIENT_FAILURES)
        self.monitor = self.context.socket(zmq.PAIR)
        self.monitor.setsockopt(zmq.LINGER, 0)
        self.monitor.connect(address)
        self._client_name = curve.client_name

    def _close_monitor(self, sock: zmq.Socket) -> None:
        if self.monitor is not None:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None

    def _check_refused(self) -> None:
        """Raise :class:`AccessRefused` if the loop refused this client's handshake."""
        from robo_orch.bus.curve import reason_of

        monitor = self.monitor
        while monitor is not None and monitor.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frames = monitor.recv_multipart()
            reason = reason_of(*_EVENT.unpack_from(frames[0]))
            why = {"unknown_key": f"the loop does not admit the client key "
                                  f"{self._client_name!r}",
                   "bad_handshake": "the server key does not match the loop's (another "
                                    "robot, or someone else holds the port)",
                   "no_curve": "the endpoint does not speak CURVE"}.get(
                       reason, "the handshake failed")
            raise AccessRefused(f"{self.target.endpoint} refused this client: {why} "
                                f"({reason})")

    def call(self, op: str, args: dict[str, Any] | None = None, *,
             timeout_s: float = 2.0) -> dict[str, Any]:
        """Send one request and return the whole reply (``ok`` true or false).

        Raises :class:`~robo_orch.control.protocol.NoAnswer` after ``timeout_s``
        without the reply.
        """
        rid = f"{os.getpid()}-{next(_ids)}"
        self.socket.send_multipart([b"", P.request(op, args, rid)])
        deadline = time.monotonic() + timeout_s
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        if self.monitor is not None:
            poller.register(self.monitor, zmq.POLLIN)
        while (left := deadline - time.monotonic()) > 0:
            ready = dict(poller.poll(max(1, int(left * 1000))))
            if self.monitor in ready:
                self._check_refused()
            if self.socket not in ready:
                continue
            frames = self.socket.recv_multipart()
            try:
                reply = json.loads(frames[-1])
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(reply, dict) and reply.get("id") == rid:
                return reply
        raise P.NoAnswer(f"no answer to {op!r} from {self.target.describe()} within "
                         f"{timeout_s:g} s (is the loop running? its ticks may be stalled)")

    def request(self, op: str, args: dict[str, Any] | None = None, *,
                timeout_s: float = 2.0) -> dict[str, Any]:
        """:meth:`call`, returning the result; an error reply raises ``RequestFailed``."""
        reply = self.call(op, args, timeout_s=timeout_s)
        if not reply.get("ok"):
            raise P.RequestFailed(reply)
        return reply.get("result") or {}

    def close(self) -> None:
        """Close the socket (and the context, if this client made it)."""
        self._close_monitor(self.socket)
        self.socket.close(linger=0)
        if self._own_context:
            self.context.term()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
