"""The scenario suite's throughput: the warm-worker runner against the pool it replaced.

Throughput is aggregate simulated seconds per wall second over the suite (every
shipped scenario x seeds), measured in the same run for:

* ``before``: the suite as ``robo-orch scenarios`` ran it before the runner: a new
  process pool per suite (``jobs`` spawned workers; ``jobs=1`` in this process), each
  run loading its config and compiling (or loading) its kernels again;
* ``runner, cold``: a new :class:`~robo_orch.missions.runner.Runner` (its workers
  started, their caches empty), what one ``robo-orch scenarios`` costs now;
* ``runner, warm``: a second suite on the same runner, what sweeps and tuning see.

``--jobs 1`` and ``--jobs 2``.  Registered in the ``robo_orch.benchmarks`` group.
``python -m robo_orch.bench.runner --switch``: the GIL switch interval the runner's
own process uses beside its workers, against the default (:func:`bench_dispatch_switch`);
``--overhead``: a warm worker's time per instance outside the mission's loop
(:func:`bench_instance_overhead`).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

#: per mode: seeds per scenario, and scenarios (None: every shipped one)
SIZES = {"quick": (2, ("doorway", "corridor", "maze")), "full": (4, None)}


@functools.lru_cache(maxsize=64)
def _old_shortest(path: str, layout_seed: int | None) -> float:
    from robo_orch.config import load_config
    from robo_orch.missions.report import shortest_path_length

    seed = [f"sim.seed={layout_seed}"] if layout_seed is not None else []
    cfg = load_config(path, seed, with_behaviors=False)
    world = cfg.world.resolve(cfg.sim.seed, cfg.mission.start[:2])
    return shortest_path_length(world, cfg.mission.start, cfg.mission.waypoints,
                                cfg.robot.radius, cfg.mission.goal_tolerance)


def _old_run_one(path: str, seed: int) -> float:
    """One run as the suite did it before the runner; its simulated seconds."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    config = load_config(path, (f"sim.seed={seed}",))
    result = run_mission(config, backend="lockstep", seed=seed)
    summarize(result, _old_shortest(path, seed if config.world.random.count else None))
    return result.truth.sim_time_s


def _before(tasks: list[tuple[str, int]], jobs: int) -> tuple[float, float]:
    from robo_orch import lifeline, registry

    t0 = time.perf_counter()
    registry.load(registry.SIM_BACKENDS, "lockstep")
    if jobs == 1:
        _old_shortest.cache_clear()
        sim = sum(_old_run_one(p, s) for p, s in tasks)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                 **lifeline.pool_options()) as pool:
            sim = sum(pool.map(_old_run_one, *zip(*tasks, strict=True)))
    return sim, time.perf_counter() - t0


@functools.lru_cache(maxsize=64)
def _time_limit(path: str) -> float:
    from robo_orch.config import load_config

    return load_config(path).mission.time_limit_s


def _suite(runner: Any, tasks: list[tuple[str, int]]) -> tuple[float, float]:
    from robo_orch.missions.scenarios import scenario_instance

    # the cost `robo-orch scenarios` gives them (the time limit): the longest go first
    instances = [scenario_instance(p, s, cost=_time_limit(p)) for p, s in tasks]
    t0 = time.perf_counter()
    outcomes = list(runner.run(instances))
    bad = [o.error for o in outcomes if not o.ok]
    if bad:
        raise RuntimeError(f"a scenario run failed: {bad[0]}")
    return sum(o.sim_s for o in outcomes), time.perf_counter() - t0


def bench_runner(quick: bool = False) -> dict[str, Any]:
    """Suite throughput before and with the runner, ``--jobs`` 1 and 2; printed and returned."""
    from robo_orch.config import shipped_scenarios
    from robo_orch.missions import worker
    from robo_orch.missions.runner import Runner

    seeds, names = SIZES["quick" if quick else "full"]
    paths = [str(p) for p in shipped_scenarios() if names is None or Path(p).stem in names]
    tasks = [(p, s) for p in paths for s in range(1, seeds + 1)]
    load = os.getloadavg()[0]  # other work on the machine skews --jobs 2 first
    out: dict[str, Any] = {"runs": len(tasks), "scenarios": len(paths), "seeds": seeds,
                           "load_average": round(load, 2)}
    print(f"  scenario suite throughput ({len(paths)} scenarios x {seeds} seeds = {len(tasks)} "
          f"runs; simulated s per wall s, same run; load average {load:.1f} on "
          f"{os.cpu_count()} CPUs):")
    _old_run_one(paths[0], 1)  # this process's imports and kernels, for every variant
    for jobs in (1, 2):
        sim, wall = _before(tasks, jobs)
        row = {"before": {"sim_s": round(sim, 1), "wall_s": round(wall, 2),
                          "throughput": round(sim / wall, 1)}}
        worker.clear_caches()  # the runner in this process starts as cold as a new one
        t0 = time.perf_counter()
        with Runner(jobs).start() as runner:
            sim, _ = _suite(runner, tasks)
            cold = time.perf_counter() - t0  # with the workers' start
            row["runner_cold"] = {"sim_s": round(sim, 1), "wall_s": round(cold, 2),
                                  "throughput": round(sim / cold, 1)}
            sim, wall = _suite(runner, tasks)
            row["runner_warm"] = {"sim_s": round(sim, 1), "wall_s": round(wall, 2),
                                  "throughput": round(sim / wall, 1)}
        row["cold_over_before"] = round(row["runner_cold"]["throughput"]
                                        / row["before"]["throughput"], 2)
        row["warm_over_before"] = round(row["runner_warm"]["throughput"]
                                        / row["before"]["throughput"], 2)
        out[f"jobs_{jobs}"] = row
        print(f"    --jobs {jobs}: before {row['before']['throughput']:6.1f}x "
              f"({row['before']['wall_s']:.1f} s), runner cold "
              f"{row['runner_cold']['throughput']:6.1f}x ({row['runner_cold']['wall_s']:.1f} s, "
              f"{row['cold_over_before']:.2f}x before), warm "
              f"{row['runner_warm']['throughput']:6.1f}x ({row['runner_warm']['wall_s']:.1f} s, "
              f"{row['warm_over_before']:.2f}x before)")
    out["jobs2_over_jobs1_warm"] = round(out["jobs_2"]["runner_warm"]["throughput"]
                                         / out["jobs_1"]["runner_warm"]["throughput"], 2)
    print(f"    --jobs 2 over --jobs 1 (warm): {out['jobs2_over_jobs1_warm']:.2f}x")
    out["instance_overhead"] = bench_instance_overhead(1 if quick else 3)
    return out


def bench_dispatch_switch(rounds: int = 8) -> dict[str, Any]:
    """Warm ``--jobs 2`` suites on one runner, alternating the GIL switch interval this
    process runs instances with (the default 5 ms against ``DISPATCH_SWITCH_S``): the
    median throughput of each and the share of the suite the worker process waited."""
    import statistics

    from robo_orch.config import shipped_scenarios
    from robo_orch.missions import runner as runner_module
    from robo_orch.missions.scenarios import scenario_instance

    tasks = [(str(p), s) for p in shipped_scenarios() for s in range(1, SIZES["full"][0] + 1)]
    chosen, default = runner_module.DISPATCH_SWITCH_S, 0.005
    rates: dict[float, list[float]] = {default: [], chosen: []}
    idle: dict[float, list[float]] = {default: [], chosen: []}
    try:
        with runner_module.Runner(2).start() as runner:
            _suite(runner, tasks)  # warm
            for k in range(rounds):
                for value in (default, chosen) if k % 2 else (chosen, default):
                    runner_module.DISPATCH_SWITCH_S = value
                    t0 = time.perf_counter()
                    outcomes = list(runner.run([scenario_instance(p, s, cost=_time_limit(p))
                                                for p, s in tasks]))
                    wall = time.perf_counter() - t0
                    rates[value].append(sum(o.sim_s for o in outcomes) / wall)
                    remote = sum(o.wall_s for o in outcomes if o.worker != os.getpid())
                    idle[value].append(1.0 - remote / wall)
    finally:
        runner_module.DISPATCH_SWITCH_S = chosen
    out = {str(v): {"throughput": round(statistics.median(rates[v]), 1),
                    "worker_idle_share": round(statistics.median(idle[v]), 3)}
           for v in rates}
    out["ratio"] = round(statistics.median(rates[chosen]) / statistics.median(rates[default]), 3)
    print(f"  warm --jobs 2 suites, {rounds} each, alternating: switch interval 5 ms "
          f"{out[str(default)]['throughput']}x (worker idle "
          f"{100 * out[str(default)]['worker_idle_share']:.1f}%), {chosen * 1e3:g} ms "
          f"{out[str(chosen)]['throughput']}x ({100 * out[str(chosen)]['worker_idle_share']:.1f}%)"
          f": x{out['ratio']}")
    return out


def bench_instance_overhead(repeats: int = 3) -> dict[str, Any]:
    """What a warm worker spends on a scenario instance outside its mission's loop (config
    from the cache, building the simulator, bus and controller, the summary): the median of
    the instance's wall time minus its loop's, over the quick scenarios, ``repeats`` each,
    in this process after one warm-up run of each."""
    import statistics

    from robo_orch.config import shipped_scenarios
    from robo_orch.missions import worker
    from robo_orch.missions.scenarios import scenario_instance

    paths = [str(p) for p in shipped_scenarios() if p.stem in SIZES["quick"][1]]
    for p in paths:
        worker.execute(scenario_instance(p, 1))
    outside, loop = [], []
    for _ in range(repeats):
        for p in paths:
            outcome = worker.execute(scenario_instance(p, 1))
            outside.append(outcome.wall_s - outcome.value["wall_time_s"])
            loop.append(outcome.value["wall_time_s"])
    out = {"outside_loop_ms": round(statistics.median(outside) * 1e3, 2),
           "loop_ms": round(statistics.median(loop) * 1e3, 1), "runs": len(outside)}
    print(f"  a scenario instance in a warm worker: {out['outside_loop_ms']} ms outside the "
          f"mission's loop, {out['loop_ms']} ms in it (medians of {out['runs']} runs)")
    return out


if __name__ == "__main__":
    import sys

    if "--switch" in sys.argv:
        bench_dispatch_switch()
    elif "--overhead" in sys.argv:
        bench_instance_overhead()
    else:
        bench_runner(quick="--quick" in sys.argv)
