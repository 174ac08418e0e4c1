"""Loop timing benchmark: the fixed-rate loop against plain ``time.sleep(period)``.

For each rate the loop runs an idle tick handler on the wall clock and records
when each tick started; the baseline does what a naive loop does, sleeping one
period after the other.  Both report the period error (|interval - period|:
p50, p99, max), the drift of the mean period from nominal in parts per million,
and the ticks that started more than one period late (stalls).  When the process
may use ``SCHED_FIFO``, the loop is measured again with real-time priority.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np

from robo_orch.clock import PerfClock
from robo_orch.loop import FixedRateLoop


class _Starts:
    """An idle tick handler that only records when each tick started."""

    def __init__(self, n: int) -> None:
        self.starts = np.zeros(n, dtype=np.int64)
        self.count = 0

    def pre_tick(self, tick: int, now_ns: int) -> None:
        pass

    def sense(self, tick: int, now_ns: int) -> None:
        if self.count < len(self.starts):
            self.starts[self.count] = now_ns
            self.count += 1

    def plan(self, tick: int) -> None:
        pass

    def act(self, tick: int) -> bool:
        return True


def _figures(starts: np.ndarray, period_ns: int) -> dict[str, Any]:
    intervals = np.diff(starts)
    error_us = np.abs(intervals - period_ns) / 1e3
    mean_period = (starts[-1] - starts[0]) / (len(starts) - 1)
    p50, p99 = np.percentile(error_us, [50, 99])
    return {"period_error_us": {"p50": round(float(p50), 2), "p99": round(float(p99), 2),
                                "max": round(float(error_us.max()), 2)},
            "mean_period_drift_ppm": round(float((mean_period - period_ns) / period_ns * 1e6), 1),
            "stalls": int(np.sum(intervals >= 2 * period_ns))}


def measure_loop(rate_hz: float, seconds: float, spin_us: float = 500.0) -> dict[str, Any]:
    """The fixed-rate loop with an idle tick at ``rate_hz`` for ``seconds``."""
    period = int(round(1e9 / rate_hz))
    n = max(10, int(seconds * rate_hz))
    clock = PerfClock()
    handler = _Starts(n)
    loop = FixedRateLoop(clock, period, spin_ns=int(spin_us * 1e3), collect_at_start=False)
    stats = loop.run(handler, max_ticks=n)
    out = _figures(handler.starts, period)
    out["overruns"] = stats.overruns
    return out


def measure_sleep(rate_hz: float, seconds: float) -> dict[str, Any]:
    """The naive baseline: ``time.sleep(period)`` after each (empty) tick."""
    period = int(round(1e9 / rate_hz))
    n = max(10, int(seconds * rate_hz))
    clock = PerfClock()
    starts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        starts[i] = clock.now_ns()
        time.sleep(period / 1e9)
    return _figures(starts, period)


def _set_fifo(priority: int) -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (OSError, AttributeError):
        return False


def _set_normal() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def bench_loop_timing(rates: tuple[float, ...] = (100.0, 500.0, 1000.0),
                      seconds: float = 3.0) -> dict[str, Any]:
    """Loop and baseline at each rate; with SCHED_FIFO too where permitted."""
    results: dict[str, Any] = {"seconds_per_rate": seconds, "rates": {}}
    for rate in rates:
        entry = {"loop": measure_loop(rate, seconds),
                 "sleep_baseline": measure_sleep(rate, seconds)}
        if _set_fifo(50):
            try:
                entry["loop_sched_fifo"] = measure_loop(rate, seconds)
            finally:
                _set_normal()
        results["rates"][f"{rate:g}"] = entry
    return results


def print_loop_timing(results: dict[str, Any]) -> None:
    """A readable table of :func:`bench_loop_timing`'s results."""
    print(f"  loop timing, idle tick, {results['seconds_per_rate']:g} s per rate "
          "(period error p50 / p99 / max us, mean period drift ppm, stalls):")
    for rate, entry in results["rates"].items():
        for name, r in entry.items():
            e = r["period_error_us"]
            print(f"    {rate:>5} Hz {name:<16} {e['p50']:>8} {e['p99']:>9} {e['max']:>9}"
                  f"   drift {r['mean_period_drift_ppm']:>8} ppm   stalls {r['stalls']}")
        base, loop = entry["sleep_baseline"], entry["loop"]
        ratio = base["period_error_us"]["p99"] / max(loop["period_error_us"]["p99"], 0.01)
        print(f"    {rate:>5} Hz p99 period error: loop is {ratio:.0f}x smaller than time.sleep")
