"""The two ends of a ZeroMQ topic: a bound PUB socket and a connected SUB socket.

:class:`~robo_orch.bus.zmq_bus.ZmqBus` makes them (its docstring explains the
size limits, the monitors and the security); they only move frames.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import time

import zmq

from robo_orch import rundir
from robo_orch.bus.transport import Receiver, Sender

#: a subscription reads its socket monitor at most this often (when polled), ns
MONITOR_PERIOD_NS = 20_000_000
#: most frames one receive returns; the rest of a longer message comes next time
MAX_FRAMES = 4
_ASK_FIRST = 8  # messages of one poll received after asking whether one is there
_EVENT = struct.Struct("=HI")  # a monitor event's first frame: event, value


def bind_private(sock: zmq.Socket, address: str) -> None:
    """Bind ``sock``; an ``ipc://`` socket file is created 0600 (see :mod:`robo_orch.rundir`)."""
    if address.startswith("ipc://"):
        with rundir.private_files():
            sock.bind(address)
    else:
        sock.bind(address)


class _ZmqSender(Sender):
    """A bound PUB socket; removes its ipc socket file on close (if still ours)."""

    __slots__ = ("socket", "_send", "_path", "_inode")

    def __init__(self, socket: zmq.Socket, path: str | None) -> None:
        self.socket = socket
        self._send = socket.send_multipart
        self._path = path
        self._inode = _inode(path) if path else None

    def send(self, frames: list[bytes]) -> None:
        # PUB never blocks: at the high-water mark the message is dropped
        self._send(frames, zmq.NOBLOCK, copy=True)

    def close(self) -> None:
        self.socket.close(linger=0)
        # another process may have re-bound the same path since: leave its file alone
        if self._path and self._inode is not None and _inode(self._path) == self._inode:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)


class _ZmqReceiver(Receiver):
    """A connected SUB socket receiving every message sent to one endpoint.

    Its monitor reports dropped connections (see the module docstring) and, over
    CURVE, failed handshakes (``on_refused(event, value)``).
    """

    __slots__ = ("socket", "address", "monitor", "_recv", "_events", "_next_check_ns",
                 "_reconnect", "_burst", "_on_refused")

    def __init__(self, socket: zmq.Socket, address: str, monitor: zmq.Socket,
                 on_refused=None) -> None:
        self.socket = socket
        self.address = address
        self.monitor = monitor
        self._recv = socket.recv
        self._events = socket.get
        self._next_check_ns = 0
        self._reconnect = False
        self._burst = 0
        self._on_refused = on_refused

    def recv_frames(self) -> list | None:
        # ask first: a NOBLOCK receive on an empty socket raises zmq.Again, and
        # building that exception costs about ten microseconds on every empty poll
        if not self._events(zmq.EVENTS) & zmq.POLLIN:
            return None
        self._burst = 0
        return self._parts()

    def recv_next(self) -> list | None:
        # asking costs a few microseconds too: deep into a burst (a backlog, a flood)
        # one exception at its end is cheaper than asking before every message
        self._burst += 1
        if self._burst < _ASK_FIRST and not self._events(zmq.EVENTS) & zmq.POLLIN:
            return None
        return self._parts()

    def _parts(self) -> list | None:
        # zero-copy parts: their ``more`` flag saves a getsockopt per frame, and the
        # payload (the last part) is handed on as it is, without a copy
        recv = self._recv
        try:
            part = recv(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None
        frames: list = []
        # the rest of a message is there once its first part is (delivery is atomic)
        while part.more and len(frames) < MAX_FRAMES - 1:
            frames.append(part.bytes)
            part = recv(zmq.NOBLOCK, copy=False)
        frames.append(part if frames else part.bytes)
        return frames

    def take_disconnects(self) -> int:
        now = time.perf_counter_ns()
        if now < self._next_check_ns:
            return 0
        self._next_check_ns = now + MONITOR_PERIOD_NS
        monitor = self.monitor
        lost = 0
        while monitor.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            event, value = _EVENT.unpack_from(monitor.recv(zmq.NOBLOCK))
            while monitor.getsockopt(zmq.RCVMORE):
                monitor.recv(zmq.NOBLOCK)
            if event == zmq.EVENT_DISCONNECTED:
                lost += 1
                self._reconnect = True
            elif self._on_refused is not None:  # a CURVE handshake failed
                self._on_refused(event, value)
        # libzmq never reconnects after a protocol error (an oversized frame); a
        # reconnect discards what the old connection delivered, so read that first
        if self._reconnect and not self._events(zmq.EVENTS) & zmq.POLLIN:
            self._reconnect = False
            with contextlib.suppress(zmq.ZMQError):
                self.socket.disconnect(self.address)
            with contextlib.suppress(zmq.ZMQError):
                self.socket.connect(self.address)
        return lost

    def poll_handle(self) -> zmq.Socket:
        return self.socket

    def wait_readable(self, timeout_s: float) -> bool:
        return bool(self.socket.poll(max(0, math.ceil(timeout_s * 1000)), zmq.POLLIN))

    def close(self) -> None:
        # stop the monitor before closing its reader: libzmq would block on it otherwise
        with contextlib.suppress(zmq.ZMQError):
            self.socket.disable_monitor()
        self.monitor.close(linger=0)
        self.socket.close(linger=0)


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
