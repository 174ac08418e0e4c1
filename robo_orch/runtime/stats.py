"""Fixed-memory timing statistics for long runs.

Each series keeps the most recent ``capacity`` samples in a preallocated ring
(percentiles are over that window) plus the all-time count and maximum, so a
loop can run for hours without its statistics growing.
"""

from __future__ import annotations

import numpy as np


class Series:
    """One stream of integer samples (nanoseconds) in a ring buffer."""

    __slots__ = ("name", "_buf", "_view", "_cap", "_i", "count", "max")

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self._buf = np.empty(capacity, dtype=np.int64)
        self._buf.fill(0)  # touch every page now: no page faults inside the ticks
        # the same memory as a memoryview: storing one int through it costs less than
        # numpy's item assignment (the loop adds seven samples a tick)
        self._view = memoryview(self._buf)
        self._cap = capacity
        self._i = 0
        self.count = 0
        self.max = 0

    def add(self, value: int) -> None:
        """Record one sample."""
        i = self._i
        self._view[i] = value
        i += 1
        self._i = 0 if i == self._cap else i
        self.count += 1
        if value > self.max:
            self.max = value

    @property
    def last(self) -> int:
        """The most recent sample (0 before any)."""
        return int(self._buf[self._i - 1]) if self.count else 0

    def window(self) -> np.ndarray:
        """The samples currently held (a copy, oldest first)."""
        if self.count < len(self._buf):
            return self._buf[: self.count].copy()
        return np.concatenate((self._buf[self._i:], self._buf[: self._i]))

    def summary_us(self) -> dict[str, float]:
        """p50, p99, max (all-time) and mean in microseconds."""
        data = self.window()
        if len(data) == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "n": 0}
        p50, p99 = np.percentile(data, [50, 99])
        return {"p50": round(p50 / 1e3, 2), "p99": round(p99 / 1e3, 2),
                "max": round(self.max / 1e3, 2), "mean": round(float(data.mean()) / 1e3, 2),
                "n": int(self.count)}


class TickStats:
    """Timing of every tick: phases, lateness, period error and GC pauses."""

    PHASES = ("backend", "sense", "plan", "act")
    #: samples each series keeps by default (7 series: 7 MiB, touched at construction)
    CAPACITY = 1 << 17

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.phase = {name: Series(name, capacity) for name in self.PHASES}
        self.tick = Series("tick", capacity)  # sense + plan + act (compute of the loop itself)
        self.lateness = Series("lateness", capacity)
        self.period_error = Series("period_error", capacity)  # |actual - nominal| start interval
        self.gc = Series("gc", 4096)
        self.ticks = 0
        self.overruns = 0
        self.skipped = 0
        self.stalls = 0
        self.gc_forced = 0
        self.triggered = 0  #: ticks started by the trigger topic's arrival
        self.trigger_timeouts = 0  #: ticks started because the trigger stayed silent

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary of everything recorded."""
        return {
            "ticks": self.ticks,
            "overruns": self.overruns,
            "skipped_slots": self.skipped,
            "stalls": self.stalls,
            "tick_time_us": self.tick.summary_us(),
            "period_error_us": self.period_error.summary_us(),
            "lateness_us": self.lateness.summary_us(),
            "phase_time_us": {k: s.summary_us() for k, s in self.phase.items()},
            "gc_pause_us": self.gc.summary_us(),
            "gc_forced": self.gc_forced,
            "triggered_ticks": self.triggered,
            "trigger_timeouts": self.trigger_timeouts,
        }


def mission_capacity(time_limit_s: float, rate_hz: float) -> int:
    """Samples a lockstep mission's series need to keep every tick: its time limit bounds
    its ticks (so its percentiles are over the whole run, as with the default ring), at
    most :attr:`TickStats.CAPACITY`.  A short run then does not allocate and touch 7 MiB
    (3.5 ms, a twentieth of a scenario run in a warm worker)."""
    ticks = time_limit_s * rate_hz
    if not ticks < TickStats.CAPACITY:  # (also inf and nan)
        return TickStats.CAPACITY
    return min(TickStats.CAPACITY, int(ticks) + 16)
