"""Loop timing benchmark: the fixed-rate loop against plain ``time.sleep(period)``.

For each rate the loop runs an idle tick handler on the wall clock and records
when each tick started; the baseline does what a naive loop does, sleeping one
period after the other.  Both report the period error (|interval - period|:
p50, p99, max), the drift of the mean period from nominal in parts per million,
and the stalls: ticks that started more than one period after the previous one
(counted, never averaged away).  The loop also reports its lateness (start -
deadline) and its own overrun count.

The loop is measured in variants, each in a fresh process so that nothing
leaks between them (``python -m robo_orch.bench.timing child ...``):

* ``loop``: no real-time measures;
* ``loop_slack``: timer slack reduced to 1 ns;
* ``loop_fifo``: SCHED_FIFO priority 50;
* ``loop_rt``: SCHED_FIFO, ``mlockall`` and 1 ns timer slack together.

A variant whose measures the kernel refuses is reported as not permitted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from robo_orch.clock import make_clock
from robo_orch.runtime.loop import FixedRateLoop

#: variant -> keyword arguments of :func:`robo_orch.rt.apply_realtime`
VARIANTS: dict[str, dict[str, Any]] = {
    "loop": {},
    "loop_slack": {"timer_slack_ns": 1},
    "loop_fifo": {"priority": 50},
    "loop_rt": {"priority": 50, "lock_memory": True, "timer_slack_ns": 1},
}
QUICK_VARIANTS = ("loop", "loop_rt")


class _Starts:
    """An idle tick handler that only records when each tick started, and its index."""

    def __init__(self, n: int) -> None:
        self.starts = np.zeros(n, dtype=np.int64)
        self.ticks = np.zeros(n, dtype=np.int64)
        self.count = 0

    def pre_tick(self, tick: int, now_ns: int) -> None:
        pass

    def sense(self, tick: int, now_ns: int) -> None:
        if self.count < len(self.starts):
            self.starts[self.count] = now_ns
            self.ticks[self.count] = tick
            self.count += 1

    def plan(self, tick: int) -> None:
        pass

    def act(self, tick: int) -> bool:
        return True


def _us(values: np.ndarray) -> dict[str, float]:
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2),
            "max": round(float(values.max()), 2)}


def _figures(starts: np.ndarray, period_ns: int,
             ticks: np.ndarray | None = None) -> dict[str, Any]:
    """Period error, drift and stalls of tick ``starts`` (ns) with their slot indices.

    The mean period is the slope of a least-squares line through (slot, start):
    a loop that skips slots after a stall keeps its schedule and shows no drift,
    a loop that sleeps a period after each tick drifts by what each wake-up lost.
    """
    intervals = np.diff(starts)
    error_us = np.abs(intervals - period_ns) / 1e3
    slots = np.arange(len(starts)) if ticks is None else ticks
    mean_period = np.polyfit(slots.astype(np.float64), (starts - starts[0]).astype(np.float64),
                             1)[0]
    return {"period_error_us": _us(error_us),
            "mean_period_drift_ppm": round(float((mean_period - period_ns) / period_ns * 1e6), 1),
            "stalls": int(np.sum(intervals >= 2 * period_ns))}


def measure_loop(rate_hz: float, seconds: float, spin_us: float = 500.0) -> dict[str, Any]:
    """The fixed-rate loop with an idle tick at ``rate_hz`` for ``seconds``."""
    period = int(round(1e9 / rate_hz))
    n = max(10, int(seconds * rate_hz))
    clock = make_clock("perf")
    handler = _Starts(n)
    loop = FixedRateLoop(clock, period, spin_ns=int(spin_us * 1e3), collect_at_start=False)
    stats = loop.run(handler, max_ticks=n)
    out = _figures(handler.starts, period, handler.ticks)
    deadlines = loop.start_ns + handler.ticks * period
    out["lateness_us"] = _us((handler.starts - deadlines) / 1e3)
    out["overruns"] = stats.overruns
    return out


def measure_sleep(rate_hz: float, seconds: float) -> dict[str, Any]:
    """The naive baseline: ``time.sleep(period)`` after each (empty) tick."""
    period = int(round(1e9 / rate_hz))
    n = max(10, int(seconds * rate_hz))
    clock = make_clock("perf")
    starts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        starts[i] = clock.now_ns()
        time.sleep(period / 1e9)
    return _figures(starts, period)


def measure_variant(variant: str, rates: tuple[float, ...], seconds: float) -> dict[str, Any]:
    """In this process: apply ``variant``'s measures, then the loop at each rate.

    ``sleep`` is the baseline.  Returns ``{"permitted": False, ...}`` if the
    kernel refused a measure (the loop is then not measured).
    """
    from robo_orch.rt import apply_realtime

    if variant == "sleep":
        return {"permitted": True, "rates": {f"{r:g}": measure_sleep(r, seconds) for r in rates}}
    refused = apply_realtime(**VARIANTS[variant])
    if refused:
        return {"permitted": False, "refused": refused}
    return {"permitted": True, "rates": {f"{r:g}": measure_loop(r, seconds) for r in rates}}


def _run_child(variant: str, rates: tuple[float, ...], seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "robo_orch.bench.timing", "child", "--variant", variant,
           "--seconds", str(seconds), "--rates", ",".join(f"{r:g}" for r in rates)]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=60 + 2 * seconds * len(rates))
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"permitted": False, "refused": last}
    return json.loads(proc.stdout)


def bench_loop_timing(rates: tuple[float, ...] = (100.0, 500.0, 1000.0),
                      seconds: float = 3.0,
                      variants: tuple[str, ...] = tuple(VARIANTS)) -> dict[str, Any]:
    """The baseline and each loop variant at each rate, each variant in its own process."""
    runs = {name: _run_child(name, rates, seconds) for name in ("sleep", *variants)}
    results: dict[str, Any] = {"seconds_per_rate": seconds, "rates": {},
                               "not_permitted": {k: v["refused"] for k, v in runs.items()
                                                 if not v["permitted"]}}
    for rate in rates:
        key = f"{rate:g}"
        entry = {name: run["rates"][key] for name, run in runs.items() if run["permitted"]}
        results["rates"][key] = entry
    return results


def print_loop_timing(results: dict[str, Any]) -> None:
    """A readable table of :func:`bench_loop_timing`'s results."""
    print(f"  loop timing, idle tick, {results['seconds_per_rate']:g} s per rate and variant "
          "(each in a fresh process):")
    print(f"    {'rate':>7} {'variant':<11} {'period error p50 / p99 / max us':>31} "
          f"{'late p99 us':>11} {'drift ppm':>10} {'stalls':>6} {'overruns':>8}")
    for rate, entry in results["rates"].items():
        for name, r in entry.items():
            e = r["period_error_us"]
            late = r.get("lateness_us", {}).get("p99", "-")
            error = f"{e['p50']:g} / {e['p99']:g} / {e['max']:g}"
            print(f"    {rate + ' Hz':>7} {name:<11} {error:>31} {late:>11} "
                  f"{r['mean_period_drift_ppm']:>10g} {r['stalls']:>6} "
                  f"{r.get('overruns', '-'):>8}")
        base = entry["sleep"]["period_error_us"]["p99"]
        best = min((r["period_error_us"]["p99"], name) for name, r in entry.items()
                   if name != "sleep")
        print(f"    {rate + ' Hz':>7} p99 period error: {best[1]} {best[0]:g} us against "
              f"time.sleep {base:g} us ({base / max(best[0], 0.01):.0f}x smaller)")
    for name, why in results["not_permitted"].items():
        print(f"    {name}: not permitted here ({'; '.join(map(str, why))})")


def main(argv: list[str] | None = None) -> int:
    """``child`` measures one variant in this process and prints JSON; else a whole run."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.timing")
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("child")
    child.add_argument("--variant", choices=("sleep", *VARIANTS), required=True)
    child.add_argument("--rates", required=True)
    child.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "child":
        rates = tuple(float(r) for r in args.rates.split(","))
        print(json.dumps(measure_variant(args.variant, rates, args.seconds)))
    else:
        print_loop_timing(bench_loop_timing())
    return 0


if __name__ == "__main__":
    sys.exit(main())
