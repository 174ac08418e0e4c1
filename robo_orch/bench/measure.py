"""Timing helpers shared by the benchmark sections: per-call times and their summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def time_calls(fn, repeats: int) -> np.ndarray:
    """Wall time of each of ``repeats`` calls, in microseconds."""
    out = np.empty(repeats)
    clock = time.perf_counter_ns
    for i in range(repeats):
        t0 = clock()
        fn()
        out[i] = (clock() - t0) / 1e3
    return out


def time_stats(samples_us: np.ndarray) -> dict[str, float]:
    """p50, p99 and max of timings (us), rounded, with the sample count."""
    p50, p99 = np.percentile(samples_us, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2),
            "max": round(float(samples_us.max()), 2), "n": int(len(samples_us))}


def write_json(path: str | None, figures: Any) -> None:
    """Write a benchmark's figures to ``path`` (a ``--json`` option; None: nothing)."""
    if path:
        Path(path).write_text(json.dumps(figures, indent=2) + "\n")
