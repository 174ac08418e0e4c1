"""Talking to a running loop: find its control endpoint, send a request, wait for the reply.

:func:`find_control` finds the endpoint the way ``robo-orch topics`` finds runs
(:func:`robo_orch.introspect.endpoints.find_run_dirs`: ``--run-dir``, the
config's ``bus.run_dir``, or every live run in the per-user index), from the
discovery files.  Before connecting to an ``ipc://`` endpoint it checks that the
run directory is private and the socket file is this user's
(:mod:`robo_orch.rundir`): a tool must not send an e-stop to someone else's socket.

:class:`ControlClient` is a DEALER socket; :meth:`ControlClient.call` sends one
request and waits up to a timeout for the reply with the same id (replies to
earlier, abandoned requests are skipped).  Errors are one-line exceptions:
:class:`~robo_orch.control.protocol.NoRunFound` (exit 2),
:class:`~robo_orch.control.protocol.NoAnswer` (3),
:class:`~robo_orch.control.protocol.RequestFailed` (3, or 4 for ``not_confirmed``).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import zmq

from robo_orch import rundir
from robo_orch.control import protocol as P
from robo_orch.errors import UsageError

_ids = itertools.count(1)


@dataclass(frozen=True)
class ControlTarget:
    """A loop's control endpoint: where it is and who serves it."""

    endpoint: str
    run_dir: str
    pid: int | None = None
    name: str = ""

    def describe(self) -> str:
        """``robo-orch sim [pid 123] in /run/dir``, as far as known."""
        who = f"{self.name} [pid {self.pid}]" if self.pid else "a loop"
        return f"{who} in {self.run_dir}"


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
                 context: zmq.Context | None = None) -> None:
        self.target = target if isinstance(target, ControlTarget) else ControlTarget(
            str(target), "")
        endpoint = self.target.endpoint
        if endpoint.startswith("ipc://"):
            path = endpoint[len("ipc://"):]
            rundir.check_private_dir(os.path.dirname(path))
            rundir.check_own_socket(path)
        self._own_context = context is None
        self.context = zmq.Context() if context is None else context
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 16 * 1024 * 1024)
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as err:
            sock.close(linger=0)
            raise P.NoRunFound(f"cannot connect to {endpoint}: {err}") from None
        self.socket = sock

    def call(self, op: str, args: dict[str, Any] | None = None, *,
             timeout_s: float = 2.0) -> dict[str, Any]:
        """Send one request and return the whole reply (``ok`` true or false).

        Raises :class:`~robo_orch.control.protocol.NoAnswer` after ``timeout_s``
        without the reply.
        """
        rid = f"{os.getpid()}-{next(_ids)}"
        self.socket.send_multipart([b"", P.request(op, args, rid)])
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not self.socket.poll(max(1, int(left * 1000)), zmq.POLLIN):
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
        self.socket.close(linger=0)
        if self._own_context:
            self.context.term()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
