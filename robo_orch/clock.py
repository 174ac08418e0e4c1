"""Clocks: one interface, a monotonic wall clock and a simulated clock.

Everything that reads time is handed a :class:`Clock`; nothing else in robo_orch
calls ``time.*``.  Times are integer nanoseconds so that sums of periods do not
drift and stamps compare exactly.

Clocks are chosen by name through :mod:`robo_orch.registry` (group
``robo_orch.clocks``): :func:`make_clock` ``("wall")``, ``("sim")`` or ``("perf")``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from robo_orch import registry

WALL = 0  #: clock id stamped in message headers by a wall clock
SIM = 1  #: clock id stamped in message headers by a simulated clock


class Clock(ABC):
    """A source of time that can also wait for a deadline."""

    #: registry name (``make_clock("wall")``)
    kind: ClassVar[str]
    #: no parameters from config
    Params: ClassVar[type | None] = None
    #: stamped into every message header so a reader knows which time it is
    clock_id: int

    @abstractmethod
    def now_ns(self) -> int:
        """Current time in nanoseconds."""

    def now(self) -> float:
        """Current time in seconds."""
        return self.now_ns() * 1e-9

    @abstractmethod
    def sleep_until_ns(self, deadline_ns: int, spin_ns: int = 0) -> int:
        """Wait until ``deadline_ns``; return the time when the wait ended.

        A wall clock sleeps until ``spin_ns`` before the deadline and then
        busy-waits, because the OS wakes a sleeper late by tens to hundreds of
        microseconds.  A simulated clock jumps straight to the deadline.
        """


class WallClock(Clock):
    """The system's monotonic clock (immune to wall-time jumps)."""

    kind = "wall"
    clock_id = WALL
    _read = staticmethod(time.monotonic_ns)

    def now_ns(self) -> int:
        return self._read()

    def sleep_until_ns(self, deadline_ns: int, spin_ns: int = 0) -> int:
        read = self._read
        now = read()
        remaining = deadline_ns - now - spin_ns
        if remaining > 0:
            time.sleep(remaining * 1e-9)
            now = read()
        while now < deadline_ns:
            now = read()
        return now


class PerfClock(WallClock):
    """The highest-resolution monotonic clock, for measuring durations."""

    kind = "perf"
    _read = staticmethod(time.perf_counter_ns)


class SimClock(Clock):
    """Simulated time: starts at ``start_ns`` and moves only when told to."""

    kind = "sim"
    clock_id = SIM

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)

    def now_ns(self) -> int:
        return self._now

    def advance_to_ns(self, t_ns: int) -> None:
        """Move time forward to ``t_ns`` (never backwards)."""
        if t_ns > self._now:
            self._now = int(t_ns)

    def advance_ns(self, dt_ns: int) -> None:
        """Move time forward by ``dt_ns``."""
        if dt_ns < 0:
            raise ValueError("simulated time cannot run backwards")
        self._now += int(dt_ns)

    def sleep_until_ns(self, deadline_ns: int, spin_ns: int = 0) -> int:
        self.advance_to_ns(deadline_ns)
        return self._now


def make_clock(kind: str, **options: Any) -> Clock:
    """The clock registered as ``kind`` (``wall``, ``sim``, ``perf`` or a plugin's),
    constructed with ``options`` (``make_clock("sim", start_ns=0)``)."""
    return registry.create(registry.CLOCKS, kind, **options)
