"""Process-level figures: start-up to the first tick, and memory over a long run.

* **Start-up**: ``robo-orch sim --lockstep`` in a fresh process, once with an
  empty numba cache (everything compiles) and once with the cache it left (the
  kernels load); the summary's ``startup_s`` is process start to the first tick.
* **Memory**: resident memory of a long lockstep run (laps of ``open_field``) with
  the per-tick trace bounded, sampled as it runs; the growth is what a robot
  running for hours would see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _startup(cache_dir: str | None) -> float:
    """``startup_s`` of a short lockstep run in a new process (None: the current cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "s.json"
        cache = ["--cache-dir", cache_dir] if cache_dir else []
        subprocess.run([sys.executable, "-m", "robo_orch.cli", "-q", *cache, "sim", "--lockstep",
                        "--duration", "0.2", "--summary", str(summary)],
                       check=False, capture_output=True, timeout=900)
        return float(json.loads(summary.read_text())["startup_s"])


def bench_startup(cold: bool = True) -> dict[str, Any]:
    """Start-up to the first tick with the current (warm) cache and, optionally, an empty one."""
    out: dict[str, Any] = {"warm_cache_s": sorted(round(_startup(None), 3) for _ in range(3))[1]}
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            out["cold_cache_s"] = round(_startup(cache), 3)
    return out


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def bench_memory(laps: int = 12) -> dict[str, Any]:
    """Resident memory over ``laps`` laps of the open field with a bounded trace."""
    from robo_orch.config import load_config
    from robo_orch.session import run_mission

    waypoints = [[5.0, 0.0], [5.0, 5.0], [0.0, 5.0], [0.0, 0.5]] * laps
    config = load_config("open_field", [f"mission.waypoints={waypoints}",
                                        "mission.time_limit_s=100000",
                                        "success.max_time_s=100000"])
    samples: list[tuple[float, int]] = []

    def sample(ctl) -> None:
        if ctl.trace.rows % 500 == 0:
            samples.append((float(ctl.world.state[0]), _rss_kib()))

    result = run_mission(config, backend="lockstep", progress=sample, trace_rows=5000)
    sim_s = float(result.controller.world.state[0])
    # growth once the bounded trace holds all its chunks (8192 rows at 50 Hz)
    settled = [s for s in samples if s[0] >= 8192 * float(result.controller.world.state[1])]
    if len(settled) < 2:
        raise ValueError("memory benchmark: the run was too short to measure growth")
    (t0, m0), (t1, m1) = settled[0], settled[-1]
    per_hour = (m1 - m0) / (t1 - t0) * 3600 if t1 > t0 else 0.0
    return {"sim_time_s": round(sim_s, 1), "measured_over_s": round(t1 - t0, 1),
            "rss_start_kib": samples[0][1],
            "rss_end_kib": samples[-1][1],
            "growth_kib_per_sim_hour": round(per_hour, 1),
            "gc_collections": result.stats.gc.count}


def print_process(startup: dict[str, Any], memory: dict[str, Any]) -> None:
    """Readable lines for :func:`bench_startup` and :func:`bench_memory`."""
    cold = startup.get("cold_cache_s")
    cold_text = f"cold cache {cold} s, " if cold is not None else ""
    print(f"  start-up to first tick (lockstep): {cold_text}warm cache "
          f"{startup['warm_cache_s']} s (median of 3)")
    print(f"  memory over {memory['sim_time_s']} s of lockstep driving: "
          f"{memory['rss_start_kib'] / 1024:.1f} -> {memory['rss_end_kib'] / 1024:.1f} MiB, "
          f"growth {memory['growth_kib_per_sim_hour']:.0f} KiB per simulated hour over the last "
          f"{memory['measured_over_s']} s, "
          f"{memory['gc_collections']} slack collections")
