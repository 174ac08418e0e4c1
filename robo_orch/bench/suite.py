"""``robo-orch bench``: what this computer can do with the demo config.

Every figure is measured next to its baseline in the same run, and reported as
medians (this is meant for shared, noisy machines too):

* the demo mission in lockstep: realtime factor, tick compute against the loop
  period, and where a tick's time goes (compiled kernels or the Python around
  them), and the costliest kernels against plain-numpy and pure-Python versions
  (:mod:`robo_orch.bench.sim`);
* loop timing at 100, 500 and 1000 Hz, with and without real-time measures,
  against ``time.sleep(period)`` (:mod:`robo_orch.bench.timing`);
* one-hop transport latency between processes over ``ipc://`` and ``tcp://``
  against bare ZeroMQ and an OS pipe (:mod:`robo_orch.bench.latency`);
* sensor-to-actuator latency through the loop, split into transport, in-loop and
  the hop to the actuator, fixed-rate and topic-triggered, against a bare
  ZeroMQ relay (:mod:`robo_orch.bench.e2e`);
* scaling with lidar rays, DWA samples and scheduled behaviors
  (:mod:`robo_orch.bench.scaling`);
* start-up to the first tick against numba's own floor, and memory over a long
  run (:mod:`robo_orch.bench.process`);
* the sections of the ``robo_orch.benchmarks`` registry group (built in: curve,
  devices, faults, flood, navigation, orphans, params, parsers, recording, runner; other
  packages add theirs by entry point).

``--json`` writes every figure; ``--plot`` draws them (:mod:`robo_orch.bench.plot`).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

#: per mode: the size of each section (quick must finish in under a minute)
SIZES = {
    "quick": {"missions": 3, "breakdown_runs": 1, "kernel_repeats": 300, "timing_s": 0.3,
              "latency_count": 200, "e2e_count": 300, "e2e_kinds": ("ipc",),
              "e2e_realtime": False, "startup_repeats": 1, "startup_cold": False,
              "memory_ticks": 14_000},
    "full": {"missions": 7, "breakdown_runs": 3, "kernel_repeats": 2000, "timing_s": 5.0,
             "latency_count": 2000, "e2e_count": 2000, "e2e_kinds": ("ipc", "tcp"),
             "e2e_realtime": True, "startup_repeats": 3, "startup_cold": True,
             "memory_ticks": 200_000},
}


def run_bench(json_path: str | None = None, quick: bool = False,
              plot_path: str | None = None) -> int:
    """Run the suite, print tables, and optionally write JSON and a plot."""
    from robo_orch.bench import e2e as bench_e2e
    from robo_orch.bench import latency as bench_latency
    from robo_orch.bench import process as bench_process
    from robo_orch.bench import scaling as bench_scaling
    from robo_orch.bench import sim as bench_sim
    from robo_orch.bench import timing

    size = SIZES["quick" if quick else "full"]
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "processor": platform.processor() or platform.machine(),
                    "cpus": len(_cpus())},
        "quick": quick, "section_s": {},
    }
    t_start = time.perf_counter()
    print("robo-orch bench" + (" (quick)" if quick else ""))
    print("  warming up (compiling or loading kernels)...", flush=True)

    def section(name: str, fn, show=None):
        t0 = time.perf_counter()
        results[name] = out = fn()
        results["section_s"][name] = round(time.perf_counter() - t0, 1)
        if show is not None:
            show(out)
        return out

    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    run_mission(load_config(None), backend="lockstep", duration_s=2.0)  # warm-up, discarded
    mission = section("mission", lambda: bench_sim.bench_mission(size["missions"]))
    section("tick_breakdown", lambda: bench_sim.tick_breakdown(mission["wall_per_tick_us"],
                                                               size["breakdown_runs"]),
            lambda b: bench_sim.print_mission(mission, b))
    section("kernels", lambda: bench_sim.bench_kernels(size["kernel_repeats"]),
            bench_sim.print_kernels)
    section("loop_timing", lambda: timing.bench_loop_timing(
        seconds=size["timing_s"],
        variants=timing.QUICK_VARIANTS if quick else tuple(timing.VARIANTS)),
        timing.print_loop_timing)
    section("latency", lambda: bench_latency.bench_latency(count=size["latency_count"]),
            bench_latency.print_latency)
    section("sensor_to_actuator", lambda: bench_e2e.bench_e2e(
        size["e2e_count"], kinds=size["e2e_kinds"], realtime=size["e2e_realtime"],
        slow_rate=None if quick else 190.0), bench_e2e.print_e2e)
    section("scaling", lambda: bench_scaling.bench_scaling(quick), bench_scaling.print_scaling)
    startup = section("startup", lambda: bench_process.bench_startup(
        cold=size["startup_cold"], repeats=size["startup_repeats"]))
    section("memory", lambda: bench_process.bench_memory(size["memory_ticks"]),
            lambda m: bench_process.print_process(startup, m))
    from robo_orch import registry

    for name in registry.names(registry.BENCHMARKS):
        section(name, lambda name=name: registry.load(registry.BENCHMARKS, name)(quick))
    results["total_s"] = round(time.perf_counter() - t_start, 1)
    slowest = sorted(results["section_s"].items(), key=lambda kv: -kv[1])[:4]
    print(f"  suite took {results['total_s']} s (longest: "
          + ", ".join(f"{k} {v} s" for k, v in slowest) + ")")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
        print(f"  results written to {json_path}")
    if plot_path:
        from robo_orch.bench.plot import plot_results

        plot_results(results, plot_path)
        print(f"  plot written to {plot_path}")
    return 0


def _cpus() -> set[int]:
    import os

    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
