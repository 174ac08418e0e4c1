"""The transport hooks a bus backend implements: a sender and a receiver per topic.

See :mod:`robo_orch.bus.base` for how :class:`~robo_orch.bus.base.Bus` uses them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Sender(ABC):
    """Backend hook: hands encoded frames of one topic to the transport."""

    @abstractmethod
    def send(self, frames: list[bytes]) -> None:
        """Send one encoded message; never blocks (a full transport drops)."""

    def send_raw(self, frames: list[bytes]) -> None:
        """Send frames as they are (any number, any size); never blocks."""
        self.send(frames)

    @abstractmethod
    def close(self) -> None:
        """Release the transport resources of this sender."""


class Receiver(ABC):
    """Backend hook: the transport end of one subscription."""

    @abstractmethod
    def recv_frames(self) -> list[bytes] | None:
        """The next message's frames, or None if none is waiting (never blocks)."""

    def recv_next(self) -> list[bytes] | None:
        """Like :meth:`recv_frames`, right after it returned frames (it may skip the
        readiness check that makes an empty :meth:`recv_frames` cheap)."""
        return self.recv_frames()

    @abstractmethod
    def wait_readable(self, timeout_s: float) -> bool:
        """Block (without spinning) until frames may be waiting, or the timeout."""

    def poll_handle(self) -> object | None:
        """Something ``zmq.Poller`` can wait on (a socket or a file descriptor), or None."""
        return None

    def take_overflow(self) -> int:
        """Messages the transport dropped for this receiver since the last call."""
        return 0

    def take_oversized(self) -> int:
        """Messages refused for a frame above the size limit since the last call."""
        return 0

    def take_disconnects(self) -> int:
        """Connections to a publisher the transport dropped since the last call (an
        oversized frame, or the publisher closing); it connects again once drained."""
        return 0

    @abstractmethod
    def close(self) -> None:
        """Release the transport resources of this receiver."""
