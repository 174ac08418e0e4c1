"""The scenario suite: every scenario over several seeds, judged by its own criteria.

Each (scenario, seed) is one lockstep mission with ``sim.seed`` set to the seed (so
a seeded obstacle layout follows it too), run in a pool of worker processes.  A run
succeeds when it meets the file's ``[success]`` criteria; a scenario passes when at
least ``success.min_success_rate`` of its runs succeed.  The table reports, per
scenario: success rate, mean time to goal, driven path over the shortest possible
path, minimum clearance, safety stops and why runs failed.  The command,
``robo-orch scenarios``, is :mod:`robo_orch.cli.scenarios`.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TextIO

#: a run that ends on its time limit having moved less than this in the last
#: ``STUCK_WINDOW_S`` is "stuck" (trapped or circling), otherwise a plain "timeout"
STUCK_DISTANCE_M = 1.0
STUCK_WINDOW_S = 15.0
_PLOT_POINTS = 1500  #: driven path points kept per run for the figure


def scenario_name(path: str | Path) -> str:
    """The name a scenario file is shown under (its stem)."""
    return Path(path).stem


@functools.lru_cache(maxsize=64)
def _shortest(path: str, overrides: tuple[str, ...], layout_seed: int | None) -> float:
    """Shortest possible path of a scenario (cached: one Dijkstra per world per worker)."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import shortest_path_length

    seed = [f"sim.seed={layout_seed}"] if layout_seed is not None else []
    cfg = load_config(path, (*overrides, *seed), with_behaviors=False)
    world = cfg.world.resolve(cfg.sim.seed, cfg.mission.start[:2])
    return shortest_path_length(world, cfg.mission.start, cfg.mission.waypoints,
                                cfg.robot.radius, cfg.mission.goal_tolerance)


def failure_reasons(summary: dict[str, Any], trace_xy: Any, dt: float) -> list[str]:
    """Short tags for why a run failed its criteria: stuck, timeout, collision, ..."""
    reasons = []
    for text in summary["failed_criteria"]:
        if text.startswith("goal not reached"):
            if summary["end_reason"] != "time limit":
                # e.g. "navigation failed: <details>": the tag, the details stay in end_reason
                reasons.append(summary["end_reason"].split(":")[0])
                continue
            window = max(1, int(STUCK_WINDOW_S / dt))
            tail = trace_xy[-window:]
            moved = float(abs(tail[-1] - tail[0]).max()) if len(tail) else 0.0
            reasons.append("stuck" if moved < STUCK_DISTANCE_M else "timeout")
        elif text.startswith("time to goal"):
            reasons.append("slow")
        elif "collisions" in text:
            reasons.append("collision")
        elif text.startswith("min clearance"):
            reasons.append("clearance")
        elif text.startswith("path"):
            reasons.append("long path")
        else:
            reasons.append(text)
    if "collision" in reasons and "clearance" in reasons:
        reasons.remove("clearance")  # a collision is zero clearance: say it once
    return reasons


def run_one(path: str, seed: int, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """One lockstep run of a scenario with ``sim.seed = seed``; a JSON-ready record
    (plus ``xy``, the driven path for the figure)."""
    import numpy as np

    from robo_orch.config import load_config
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission
    from robo_orch.runtime.trace import COLUMNS

    record: dict[str, Any] = {"scenario": scenario_name(path), "seed": seed}
    try:
        config = load_config(path, (*overrides, f"sim.seed={seed}"))
        result = run_mission(config, backend="lockstep", seed=seed)
        layout = seed if config.world.random.count else None
        summary = summarize(result, _shortest(str(path), tuple(overrides), layout))
        trace = result.controller.trace.array()
        xy = trace[:, [COLUMNS.index("true_x"), COLUMNS.index("true_y")]]
        reasons = failure_reasons(summary, xy, 1.0 / config.loop.rate_hz)
    except Exception as err:  # a fault in one run must not hide the others
        return {**record, "success": False, "reasons": [f"fault: {type(err).__name__}: {err}"],
                "fault": True, "xy": np.zeros((0, 2))}
    keys = ("success", "end_reason", "goal_reached", "time_to_goal_s", "sim_time_s",
            "wall_time_s", "path_length_m", "shortest_path_m", "path_ratio", "min_clearance_m",
            "collisions", "safety_stops", "failed_criteria")
    step = max(1, -(-len(xy) // _PLOT_POINTS))
    return {**record, **{k: summary[k] for k in keys}, "reasons": reasons, "fault": False,
            "xy": np.ascontiguousarray(xy[::step], dtype=np.float32)}


def aggregate(name: str, config: Any, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's row: rates, means and its pass/fail verdict."""
    crit = config.success
    ok = [r for r in runs if r["success"]]
    reached = [r for r in runs if r.get("goal_reached")]
    ratios = [r["path_ratio"] for r in reached if r.get("path_ratio") is not None]
    clear = [r["min_clearance_m"] for r in runs if r.get("min_clearance_m") is not None]
    need = crit.min_success_rate
    rate = len(ok) / len(runs) if runs else 0.0
    return {
        "name": name, "config": config.source, "runs": len(runs), "successes": len(ok),
        "success_rate": round(rate, 4), "min_success_rate": need,
        "passed": bool(runs) and len(ok) >= math.ceil(need * len(runs) - 1e-9),
        "mean_time_to_goal_s": _mean([r["time_to_goal_s"] for r in reached]),
        "mean_path_ratio": _mean(ratios),
        "max_path_ratio": round(max(ratios), 4) if ratios else None,
        "min_clearance_m": round(min(clear), 4) if clear else None,
        "mean_safety_stops": _mean([r["safety_stops"] for r in runs if "safety_stops" in r]),
        "failures": dict(Counter(reason for r in runs for reason in r["reasons"])),
        "criteria": {k: (None if isinstance(v, float) and math.isinf(v) else v)
                     for k, v in vars(crit).items()},
        "run_results": [{k: v for k, v in r.items() if k != "xy"} for r in runs],
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def format_table(rows: list[dict[str, Any]]) -> str:
    """The scenario table as aligned text."""
    head = ("scenario", "success", "need", "time to goal", "path/shortest", "min clear",
            "stops", "failures", "result")
    lines = []
    for r in rows:
        ratio = "-" if r["mean_path_ratio"] is None else \
            f"{r['mean_path_ratio']:.2f} (max {r['max_path_ratio']:.2f})"
        fails = ", ".join(f"{k} x{n}" for k, n in sorted(r["failures"].items())) or "-"
        lines.append((
            r["name"], f"{r['successes']}/{r['runs']} {100 * r['success_rate']:.0f}%",
            f"{100 * r['min_success_rate']:.0f}%",
            "-" if r["mean_time_to_goal_s"] is None else f"{r['mean_time_to_goal_s']:.1f} s",
            ratio, "-" if r["min_clearance_m"] is None else f"{r['min_clearance_m']:.3f} m",
            "-" if r["mean_safety_stops"] is None else f"{r['mean_safety_stops']:.1f}",
            fails, "pass" if r["passed"] else "FAIL"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*line).rstrip() for line in [head, *lines])


class _Progress:
    """One status line on stderr: rewritten on a terminal, every few seconds in a log."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream, self.total, self.done, self.failed = stream, total, 0, 0
        self.t0 = time.perf_counter()
        self._last = -math.inf
        self.tty = stream is not None and stream.isatty()

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.failed += not record["success"]
        now = time.perf_counter()
        if self.stream is None or (not self.tty and now - self._last < 5.0
                                   and self.done < self.total):
            return
        self._last = now
        text = (f"scenarios: {self.done}/{self.total} runs, {self.failed} failed, "
                f"{now - self.t0:.1f} s (last: {record['scenario']} seed {record['seed']})")
        self.stream.write(("\r" + text + "\033[K") if self.tty else text + "\n")
        if self.tty and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run_suite(paths: list[str | Path], seeds: list[int], *, jobs: int | None = None,
              overrides: tuple[str, ...] = (), progress: TextIO | None = None,
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every scenario x seed; returns (scenario rows, per-run records with ``xy``).

    ``jobs`` worker processes (default: the CPU count); 1 runs in this process.
    Configs are validated here first, so a bad file fails at once.
    """
    from robo_orch import registry
    from robo_orch.config import load_config
    from robo_orch.errors import UsageError

    if not seeds:
        raise UsageError("--seeds must be at least 1")
    configs = {str(p): load_config(p, overrides) for p in paths}
    registry.load(registry.SIM_BACKENDS, "lockstep")  # compile the simulator once, here
    tasks = [(str(p), s) for p in paths for s in seeds]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    bar = _Progress(progress, len(tasks))
    records: dict[tuple[str, int], dict[str, Any]] = {}
    if jobs == 1:
        for path, seed in tasks:
            records[(path, seed)] = rec = run_one(path, seed, overrides)
            bar.update(rec)
    else:
        # spawn: workers start clean (no inherited sockets or threads) and load kernels
        # from the cache the validation above filled; they die with this process
        from robo_orch import lifeline

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                 **lifeline.pool_options()) as pool:
            futures = {pool.submit(run_one, path, seed, overrides): (path, seed)
                       for path, seed in tasks}
            for fut in as_completed(futures):
                records[futures[fut]] = rec = fut.result()
                bar.update(rec)
    runs = [records[t] for t in tasks]
    rows = [aggregate(scenario_name(p), configs[str(p)],
                      [r for (path, _), r in zip(tasks, runs, strict=True) if path == str(p)])
            for p in paths]
    return rows, runs


def plot_suite(paths: list[str | Path], runs: list[dict[str, Any]], out: str | Path,
               overrides: tuple[str, ...] = ()) -> None:
    """Every run's path over its world: one panel per scenario (per seed when the
    scenario's obstacles are placed from the seed)."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import plot_panels

    panels = []
    for p in paths:
        mine = [r for r in runs if r["scenario"] == scenario_name(p)]
        config = load_config(p, overrides, with_behaviors=False)
        groups = ([[r] for r in mine] if config.world.random.count else [mine])
        for group in groups:
            seed = group[0]["seed"]
            world = config.world.resolve(seed, config.mission.start[:2])
            ok = sum(r["success"] for r in group)
            title = f"{scenario_name(p)}" + (f" seed {seed}" if config.world.random.count
                                             else "") + f": {ok}/{len(group)} ok"
            panels.append({"title": title, "world": world, "start": config.mission.start,
                           "waypoints": config.mission.waypoints,
                           "runs": [(r["xy"], r["success"]) for r in group]})
    plot_panels(panels, out)
