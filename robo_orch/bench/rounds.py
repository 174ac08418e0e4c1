"""Lockstep demo variants measured in rotated rounds, and their medians and ratios.

Shared by the ``bases`` and ``spaces`` sections: each variant (a loaded config)
runs the mission once per round, the order rotated each round so a load change on a
shared machine hits every variant alike; per variant the medians of the realtime
factor, tick p99 and CPU per tick, and against a baseline variant the median of the
per-round ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

#: the figures of one run, as :func:`run_demo` returns them
KEYS = ("rtf", "tick_p99_us", "cpu_us_per_tick")


def run_demo(config: Any, label: str) -> dict[str, float]:
    """One lockstep mission of ``config`` (seed 1): realtime factor, tick p99, CPU per tick."""
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    c0 = time.process_time()
    result = run_mission(config, backend="lockstep", seed=1)
    cpu = time.process_time() - c0
    s = summarize(result)
    if not s["goal_reached"]:
        raise RuntimeError(f"{label} did not reach its goal: {s['end_reason']}")
    return {"rtf": s["realtime_factor"], "tick_p99_us": s["tick_time_us"]["p99"],
            "cpu_us_per_tick": cpu / s["ticks"] * 1e6}


def rotated_rounds(configs: Mapping[str, Any], pairs: int) -> dict[str, list[dict[str, float]]]:
    """Each variant's runs over ``pairs`` rounds (after one warm-up run each), the order
    rotated by one every round."""
    names = list(configs)
    for name in names:  # warm-up
        run_demo(configs[name], name)
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for i in range(pairs):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            runs[name].append(run_demo(configs[name], name))
    return runs


def medians(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The median of each figure over the runs."""
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in KEYS}


def ratios(runs: list[dict[str, float]], baseline: list[dict[str, float]],
           suffix: str = "_ratio") -> dict[str, float]:
    """Per figure, the median of the per-round ratios against ``baseline``'s runs."""
    return {f"{k}{suffix}": round(statistics.median(
        r[k] / d[k] for r, d in zip(runs, baseline, strict=True)), 3) for k in KEYS}


def row_line(name: str, row: Mapping[str, Any], width: int) -> str:
    """One variant's printed line: its medians and, when it has them, its ratios."""
    ratio = "" if "rtf_ratio" not in row else (
        f"  (x{row['rtf_ratio']:.3f} rtf, x{row['tick_p99_us_ratio']:.3f} p99, "
        f"x{row['cpu_us_per_tick_ratio']:.3f} cpu)")
    return (f"  {name:<{width}} realtime factor {row['rtf']:7.1f}x  tick p99 "
            f"{row['tick_p99_us']:7.1f} us  cpu/tick {row['cpu_us_per_tick']:6.1f} us{ratio}")
