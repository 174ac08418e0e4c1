"""``robo-orch bench``: what this computer can do with the demo config.

Every figure is measured next to its baseline in the same run, and reported as
medians (this is meant for shared, noisy machines too):

* tick compute time of the demo config in lockstep (p50, p99, max; per phase);
* lockstep realtime factor of the demo mission (simulated s per wall s);
* the DWA kernel (``avoid_obstacles``) against a plain-numpy implementation of the
  same algorithm on the same world, and the ratio;
* loop timing at 100, 500 and 1000 Hz against ``time.sleep(period)``
  (:mod:`robo_orch.bench_timing`);
* transport latency between processes over ``ipc://`` and ``tcp://`` against bare
  ZeroMQ and an OS pipe (:mod:`robo_orch.bench_latency`);
* scaling with lidar rays, DWA samples and scheduled behaviors
  (:mod:`robo_orch.bench_scaling`), drawn with ``--plot``;
* start-up to the first tick with a cold and a warm cache, and memory over a long
  run (:mod:`robo_orch.bench_process`).
"""

from __future__ import annotations

import json
import platform
import statistics
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


def bench_mission(runs: int) -> dict[str, Any]:
    """Demo mission in lockstep: tick compute and realtime factor (median over runs)."""
    from robo_orch.config import load_config
    from robo_orch.report import summarize
    from robo_orch.session import run_mission

    config = load_config(None)
    summaries = []
    for _ in range(runs):
        result = run_mission(config, backend="lockstep")
        summaries.append(summarize(result))
    best = sorted(summaries, key=lambda s: s["tick_time_us"]["p99"])[len(summaries) // 2]
    return {
        "runs": runs,
        "goal_reached": all(s["goal_reached"] for s in summaries),
        "sim_time_s": best["sim_time_s"],
        "ticks": best["ticks"],
        "realtime_factor": statistics.median(s["realtime_factor"] for s in summaries),
        "tick_time_us": best["tick_time_us"],
        "phase_time_us": {k: {"p50": v["p50"], "p99": v["p99"]}
                          for k, v in best["phase_time_us"].items()},
    }


def bench_dwa(repeats: int) -> dict[str, Any]:
    """The compiled DWA against a plain-numpy DWA on a world seen mid-mission."""
    from behaviors import naive
    from behaviors.avoid_obstacles import AvoidObstacles
    from robo_orch.config import load_config
    from robo_orch.session import run_mission

    config = load_config(None)
    # drive into the obstacle field, then take the world the planner saw
    result = run_mission(config, backend="lockstep", duration_s=3.0)
    world = result.controller.world
    spec = next(b for b in config.behaviors if b.cls is AvoidObstacles)
    params = AvoidObstacles.pack_params(spec.params)
    state = AvoidObstacles.new_state(spec.params)
    out = np.zeros(4)
    kernel = AvoidObstacles.kernel
    kernel(world.arrays, params, state, out)
    compiled = time_calls(lambda: kernel(world.arrays, params, state, out), repeats)
    ref_out = np.zeros(4)
    naive.dwa_numpy(world.arrays, params, state.copy(), ref_out)
    numpy_us = time_calls(lambda: naive.dwa_numpy(world.arrays, params, state.copy(), ref_out),
                       max(5, repeats // 50))
    p = spec.params
    return {
        "samples": f"{p.v_samples}x{p.w_samples}x{p.steps}",
        "scan_points": int(world.state[13]),
        "numba_us": time_stats(compiled),
        "numpy_us": time_stats(numpy_us),
        "speedup_p50": round(float(np.median(numpy_us) / np.median(compiled)), 1),
        "same_command": bool(np.allclose(out[:2], ref_out[:2], atol=1e-9)),
    }


def run_bench(json_path: str | None = None, quick: bool = False,
              plot_path: str | None = None) -> int:
    """Run the suite, print tables, and optionally write JSON and a plot."""
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "processor": platform.processor() or platform.machine()},
        "quick": quick,
    }
    print("robo-orch bench" + (" (quick)" if quick else ""))
    print("  warming up (compiling or loading kernels)...", flush=True)
    bench_mission(1)
    results["mission"] = m = bench_mission(1 if quick else 3)
    tick = m["tick_time_us"]
    print(f"  demo mission, lockstep: {m['sim_time_s']:.1f} s simulated, {m['ticks']} ticks, "
          f"realtime factor {m['realtime_factor']:.0f}x (median of {m['runs']})")
    print(f"  tick compute (sense+plan+act): p50 {tick['p50']} us, p99 {tick['p99']} us, "
          f"max {tick['max']} us")
    for name, v in m["phase_time_us"].items():
        print(f"    {name:<8} p50 {v['p50']:>8} us   p99 {v['p99']:>8} us")
    results["dwa"] = d = bench_dwa(300 if quick else 2000)
    print(f"  DWA {d['samples']} on {d['scan_points']} scan points: numba p50 "
          f"{d['numba_us']['p50']} us (p99 {d['numba_us']['p99']}), plain numpy p50 "
          f"{d['numpy_us']['p50']} us: {d['speedup_p50']}x faster, same command: "
          f"{d['same_command']}")
    from robo_orch.bench_latency import bench_latency, print_latency
    from robo_orch.bench_timing import bench_loop_timing, print_loop_timing

    results["loop_timing"] = timing = bench_loop_timing(seconds=1.0 if quick else 5.0)
    print_loop_timing(timing)
    results["latency"] = latency = bench_latency(count=500 if quick else 2000)
    print_latency(latency)
    from robo_orch.bench_scaling import bench_scaling, plot_scaling, print_scaling

    results["scaling"] = scaling = bench_scaling(quick)
    print_scaling(scaling)
    if plot_path:
        plot_scaling(scaling, plot_path)
        print(f"  scaling plot written to {plot_path}")
    from robo_orch.bench_process import bench_memory, bench_startup, print_process

    results["startup"] = startup = bench_startup(cold=not quick)
    results["memory"] = memory = bench_memory(laps=8 if quick else 12)
    print_process(startup, memory)
    from robo_orch import registry

    for name in registry.names(registry.BENCHMARKS):
        results[name] = registry.load(registry.BENCHMARKS, name)(quick)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
        print(f"  results written to {json_path}")
    return 0
