"""The demo mission in lockstep: tick compute, realtime factor, where a tick's time goes,
and the planning kernels against their plain-numpy and pure-Python references.

* :func:`bench_mission`: the whole demo mission, median over runs: the realtime
  factor (simulated s per wall s), tick compute (sense + plan + act: p50, p99,
  max) against the loop period, and the mean time of each phase.
* :func:`tick_breakdown`: one more run under ``cProfile``, only to measure the
  time spent inside compiled kernels (numba reports each call to the profiler;
  native code is not slowed by it).  Everything else in a tick is Python and
  numpy around the kernels: the difference to the unprofiled wall time per tick.
* :func:`bench_kernels`: the costliest kernels on a world seen mid-mission,
  each against its references: the DWA (``avoid_obstacles``) against plain numpy
  and pure Python, the distance field and the scan conversion against pure Python.
"""

from __future__ import annotations

import cProfile
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

from robo_orch.bench.measure import time_calls, time_stats


def bench_mission(runs: int) -> dict[str, Any]:
    """Demo mission in lockstep: realtime factor, tick compute, phases (median over runs)."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    config = load_config(None)
    summaries = [summarize(run_mission(config, backend="lockstep")) for _ in range(runs)]
    middle = sorted(summaries, key=lambda s: s["tick_time_us"]["p99"])[len(summaries) // 2]
    period_us = 1e6 / config.loop.rate_hz
    wall_per_tick = statistics.median(s["wall_time_s"] / s["ticks"] * 1e6 for s in summaries)
    phases = {k: round(statistics.median(s["phase_time_us"][k]["mean"] for s in summaries), 1)
              for k in middle["phase_time_us"]}
    return {
        "runs": runs,
        "goal_reached": all(s["goal_reached"] for s in summaries),
        "sim_time_s": middle["sim_time_s"],
        "ticks": middle["ticks"],
        "realtime_factor": statistics.median(s["realtime_factor"] for s in summaries),
        "realtime_factors": sorted(s["realtime_factor"] for s in summaries),
        "tick_time_us": middle["tick_time_us"],
        "loop_period_us": period_us,
        "tick_p99_share_of_period": round(middle["tick_time_us"]["p99"] / period_us, 4),
        "phase_time_us": {k: {"p50": v["p50"], "p99": v["p99"]}
                          for k, v in middle["phase_time_us"].items()},
        "wall_per_tick_us": round(wall_per_tick, 1),
        "phase_mean_us": phases,
        "loop_overhead_us": round(wall_per_tick - sum(phases.values()), 1),
    }


def _kernel_keys() -> dict[tuple[str, int, str], str]:
    """The keys under which cProfile records the calls of every loaded numba kernel:
    (file, first line, name) through its dispatcher, and the built-in method of its
    compiled entry point when called directly (:mod:`robo_orch.core.direct`)."""
    from numba.core.registry import CPUDispatcher

    out = {}
    for module in list(sys.modules.values()):
        for obj in list(getattr(module, "__dict__", {}).values()):
            if isinstance(obj, CPUDispatcher):
                code = obj.py_func.__code__
                key = (code.co_filename, code.co_firstlineno, code.co_name)
                label = f"{Path(code.co_filename).stem}.{code.co_name}"
                out[key] = label
                out[("~", 0, f"<built-in method {obj.py_func.__module__}.{code.co_name}>")] = \
                    label
    return out


def _profiled_run() -> tuple[dict[str, float], dict[str, int], int, float]:
    """One demo mission with its loop under cProfile: kernel us per tick, call counts."""
    import pstats

    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    profile = cProfile.Profile()
    result = run_mission(load_config(None), backend="lockstep",
                         on_start=lambda ctl: profile.enable())
    profile.disable()
    ticks = result.stats.ticks
    kernels = _kernel_keys()
    per_kernel: dict[str, float] = {}
    # messages encoded (encode, or encode_frames on the in-process bus) and headers
    # parsed (decode; the in-process bus hands a subscriber of the same type the header)
    calls = {"encode": 0, "decode": 0}
    names = {"encode": "encode", "encode_frames": "encode", "decode": "decode"}
    for (path, line, name), row in pstats.Stats(profile).stats.items():
        n_calls, own_s, callers = row[1], row[2], row[4]
        label = kernels.get((path, line, name))
        if label is not None:
            per_kernel[label] = per_kernel.get(label, 0.0) + own_s / ticks * 1e6
        elif name in names and Path(path).parts[-2:] == ("messages", "wire.py"):
            # encode_frames encodes a message with a var part through encode: once
            inner = sum(c[1] for (_, _, caller), c in callers.items()
                        if caller == "encode_frames")
            calls[names[name]] += n_calls - inner
    return per_kernel, calls, ticks, result.truth.sim_time_s


def tick_breakdown(wall_per_tick_us: float, runs: int = 1) -> dict[str, Any]:
    """Time per tick inside compiled kernels (by kernel) and the rest, of the demo mission.

    ``wall_per_tick_us`` is the unprofiled wall time per tick (from :func:`bench_mission`);
    the kernels' times are medians over ``runs`` profiled runs.
    """
    samples = [_profiled_run() for _ in range(runs)]
    per_kernel = {name: statistics.median(s[0].get(name, 0.0) for s in samples)
                  for name in samples[0][0]}
    calls, ticks, sim_s = samples[0][1], samples[0][2], samples[0][3]
    kernel_us = sum(per_kernel.values())
    top = dict(sorted(((k, round(v, 2)) for k, v in per_kernel.items()),
                      key=lambda kv: -kv[1]))
    return {
        "runs": runs,
        "wall_per_tick_us": wall_per_tick_us,
        "kernels_us": round(kernel_us, 1),
        "python_us": round(wall_per_tick_us - kernel_us, 1),
        "kernels": top,
        "messages_encoded_per_tick": round(calls["encode"] / ticks, 2),
        # the in-process bus hands a subscriber of the sender's type the header as sent
        "headers_parsed_per_tick": round(calls["decode"] / ticks, 2),
        # the factor if nothing but the kernels ran: what Python overhead costs
        "kernels_only_realtime_factor": round(sim_s / (kernel_us * ticks * 1e-6), 0),
    }


def mid_mission():
    """The demo config and its controller after 3 s of lockstep driving into the obstacles."""
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    config = load_config(None)
    # drive into the obstacle field, then take the world the planner saw
    return config, run_mission(config, backend="lockstep", duration_s=3.0).controller


def bench_kernels(repeats: int) -> dict[str, Any]:
    """The DWA, the distance field and the scan conversion against their references."""
    from robo_orch.behaviors.avoid_obstacles import AvoidObstacles
    from robo_orch.core import field
    from robo_orch.core import world as W
    from robo_orch.testing import naive_behaviors as naive

    config, ctl = mid_mission()
    world = ctl.world
    spec = next(b for b in config.behaviors if b.cls is AvoidObstacles)
    idx = config.layout.idx[spec.name]
    params = AvoidObstacles.pack_params(spec.params)
    state = AvoidObstacles.new_state(spec.params)
    out, ref_out, py_out = (np.zeros(W.OUT_LEN) for _ in range(3))
    kernel = AvoidObstacles.kernel
    kernel(world.arrays, idx, params, state, out)
    slow = max(3, repeats // 100)
    dwa = {
        "numba": time_stats(time_calls(lambda: kernel(world.arrays, idx, params, state, out),
                                       repeats)),
        "numpy": time_stats(time_calls(
            lambda: naive.dwa_numpy(world.arrays, idx, params, state.copy(), ref_out), slow)),
        "python": time_stats(time_calls(
            lambda: naive.avoid_obstacles_step(world.arrays, idx, params, state.copy(), py_out),
            2)),
        "agrees": bool(np.allclose(out[:2], ref_out[:2], atol=1e-9)
                       and np.allclose(out[:2], py_out[:2], atol=1e-9)),
        "agreement": "same command",
    }
    p = spec.params
    dwa["what"] = f"DWA {p.v_samples}x{p.w_samples} samples x {p.steps} steps"
    s, n = world.state.copy(), int(world.state[W.SCAN_COUNT])
    pts, f, ref = world.scan, world.field.copy(), world.field.copy()
    scratch = field.alloc_field_scratch(f.shape)
    x, y = float(s[W.X]), float(s[W.Y])
    field.build_field(pts, n, x, y, s, f, scratch)
    naive.build_field(pts, n, x, y, s.copy(), ref)
    build = {
        "what": f"distance field {f.shape[1]}x{f.shape[0]} cells from {n} points",
        "numba": time_stats(time_calls(lambda: field.build_field(pts, n, x, y, s, f, scratch),
                                       repeats)),
        "python": time_stats(time_calls(lambda: naive.build_field(pts, n, x, y, s.copy(), ref),
                                        2)),
    }
    # the compiled field is a bounded approximation: never below exact, at most half a
    # cell above it (its tests hold it to that)
    error_cells = (f - ref) / float(s[W.FIELD_RES])
    build["max_error_cells"] = round(float(error_cells.max()), 3)
    build["agrees"] = bool(error_cells.min() >= -1e-9 and error_cells.max() <= 0.5)
    build["agreement"] = f"within half a cell of exact (max {build['max_error_cells']:g})"
    rays = len(ctl.sensing.angles)
    angles = np.linspace(-np.pi, np.pi, rays, endpoint=False)
    ranges = np.full(rays, 3.0)
    a, b = np.zeros((rays, 2)), np.zeros((rays, 2))
    conv = {
        "what": f"scan to points, {rays} rays",
        "numba": time_stats(time_calls(lambda: field.scan_to_points(
            angles, ranges, rays, x, y, 0.3, 0.05, 8.0, a), repeats)),
        "python": time_stats(time_calls(lambda: naive.scan_to_points(
            angles, ranges, rays, x, y, 0.3, 0.05, 8.0, b), max(3, repeats // 20))),
        "agrees": bool(np.allclose(a, b, atol=1e-9)),
        "agreement": "same points",
    }
    for entry in (dwa, build, conv):
        for ref_name in ("numpy", "python"):
            if ref_name in entry:
                entry[f"{ref_name}_over_numba_p50"] = round(
                    entry[ref_name]["p50"] / entry["numba"]["p50"], 1)
    return {"dwa": dwa, "field": build, "scan_to_points": conv}


def print_mission(m: dict[str, Any], breakdown: dict[str, Any] | None) -> None:
    """Readable lines for :func:`bench_mission` and :func:`tick_breakdown`."""
    tick = m["tick_time_us"]
    factors = ", ".join(f"{f:g}" for f in m["realtime_factors"])
    print(f"  demo mission, lockstep: {m['sim_time_s']:.1f} s simulated in {m['ticks']} ticks; "
          f"realtime factor {m['realtime_factor']:.0f}x (median of {m['runs']}: {factors})")
    print(f"  tick compute (sense + plan + act): p50 {tick['p50']} us, p99 {tick['p99']} us, "
          f"max {tick['max']} us; p99 is {100 * m['tick_p99_share_of_period']:.2f}% of the "
          f"{m['loop_period_us'] / 1e3:g} ms period")
    ph = m["phase_mean_us"]
    print(f"  a tick's wall time, mean: {m['wall_per_tick_us']} us = simulator step "
          f"{ph['backend']} + sense {ph['sense']} + plan {ph['plan']} + act {ph['act']} + "
          f"loop {m['loop_overhead_us']}")
    for name, v in m["phase_time_us"].items():
        print(f"    {name:<8} p50 {v['p50']:>8} us   p99 {v['p99']:>8} us")
    if breakdown:
        top = ", ".join(f"{k} {v:g}" for k, v in list(breakdown["kernels"].items())[:6])
        print(f"    of which compiled kernels {breakdown['kernels_us']} us ({top}, ...), Python "
              f"and numpy around them {breakdown['python_us']} us ("
              f"{breakdown['messages_encoded_per_tick']:g} messages encoded per tick, "
              f"{breakdown['headers_parsed_per_tick']:g} headers parsed); kernels alone "
              f"would run {breakdown['kernels_only_realtime_factor']:.0f}x real time")


def print_kernels(k: dict[str, Any]) -> None:
    """Readable lines for :func:`bench_kernels`."""
    print("  kernels on a world seen mid-mission (p50 us; reference / numba):")
    for entry in k.values():
        refs = [f"{name} {entry[name]['p50']:g} ({entry[name + '_over_numba_p50']:g}x)"
                for name in ("numpy", "python") if name in entry]
        agreement = entry["agreement"] if entry["agrees"] else "DISAGREES: " + entry["agreement"]
        print(f"    {entry['what']:<44} numba {entry['numba']['p50']:g} "
              f"(p99 {entry['numba']['p99']:g});  {';  '.join(refs)};  {agreement}")
