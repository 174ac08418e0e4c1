"""systemd's notify protocol (sd_notify): tell the service manager we are ready, alive, stopping.

A service of ``Type=notify`` is started by systemd with ``NOTIFY_SOCKET`` in its
environment: the address of a unix datagram socket, a path (``/run/systemd/notify``)
or, starting with ``@``, a name in the abstract namespace.  The service sends
newline-separated ``KEY=VALUE`` datagrams to it: ``READY=1`` once it works,
``WATCHDOG=1`` at least every ``WatchdogSec`` (systemd passes the interval in
microseconds as ``WATCHDOG_USEC``, and ``WATCHDOG_PID`` names the process meant),
``STOPPING=1`` on the way out, ``STATUS=...`` as free text for ``systemctl status``.

Without ``NOTIFY_SOCKET`` (not under systemd, or another service type) every call
does nothing.  A send never raises: the robot's loop must not stop because the
service manager went away.  No dependency on systemd's Python bindings.

This is a leaf module (the standard library only).
"""

from __future__ import annotations

import os
import socket

NOTIFY_SOCKET = "NOTIFY_SOCKET"  #: the environment variable systemd sets
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"


def socket_address(value: str) -> str | bytes | None:
    """The address to ``sendto`` for a ``NOTIFY_SOCKET`` value (None: not usable).

    ``@name`` is a socket in the abstract namespace (a leading NUL byte on Linux);
    anything else must be an absolute path.
    """
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """systemd's watchdog timeout for this process in seconds (None: no watchdog).

    None as well when ``WATCHDOG_PID`` names another process (a child inherited
    the variables; only the main process is watched).
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get(WATCHDOG_USEC, ""))
    except ValueError:
        return None
    pid = env.get(WATCHDOG_PID)
    if usec <= 0 or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    return usec / 1e6


class Notifier:
    """A connection to the service manager's notify socket (inert without one).

    ``Notifier()`` reads ``NOTIFY_SOCKET`` once; :meth:`send` and the named helpers
    return whether the datagram went out.
    """

    def __init__(self, address: str | None = None) -> None:
        value = os.environ.get(NOTIFY_SOCKET, "") if address is None else address
        self.address = socket_address(value) if value else None
        self._sock: socket.socket | None = None
        #: datagrams sent, and sends that failed (the manager gone, a full queue)
        self.sent = 0
        self.failed = 0

    @property
    def active(self) -> bool:
        """Whether there is a notify socket to talk to."""
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ...) as one datagram; False if not sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError:
            self.failed += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (with a ``STATUS=`` line when given)."""
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the service is alive."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        """``STOPPING=1``: the service is shutting down on purpose."""
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=text``: shown by ``systemctl status``."""
        return self.send(f"STATUS={text}")

    def close(self) -> None:
        """Close the socket (a later send opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
