"""The scenario suite: every scenario over several seeds, judged by its own criteria.

Each (scenario, seed) is one lockstep mission with ``sim.seed`` set to the seed (so
a seeded obstacle layout follows it too), run on the warm-worker runner
(:mod:`robo_orch.missions.runner`, job ``scenario``).  A run
succeeds when it meets the file's ``[success]`` criteria; a scenario passes when at
least ``success.min_success_rate`` of its runs succeed.  The table reports, per
scenario: success rate, mean time to goal, driven path over the shortest possible
path, minimum clearance, safety stops and why runs failed.  The command,
``robo-orch scenarios``, is :mod:`robo_orch.cli.scenarios`.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from robo_orch.missions.runner import Instance, Outcome, ProgressLine, Runner, describe_error

#: a run that ends on its time limit having moved less than this in the last
#: ``STUCK_WINDOW_S`` is "stuck" (trapped or circling), otherwise a plain "timeout"
STUCK_DISTANCE_M = 1.0
STUCK_WINDOW_S = 15.0
_PLOT_POINTS = 1500  #: driven path points kept per run for the figure


def scenario_name(path: str | Path) -> str:
    """The name a scenario file is shown under (its stem)."""
    return Path(path).stem


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


def scenario_job(instance: Instance) -> dict[str, Any]:
    """The runner's ``scenario`` job: one lockstep run of a scenario with ``sim.seed`` =
    the instance's seed; a JSON-ready record (plus ``xy``, the driven path for the figure)."""
    import numpy as np

    from robo_orch.missions import worker
    from robo_orch.missions.report import summarize
    from robo_orch.runtime.trace import COLUMNS

    config = worker.config_for(instance)
    result = worker.run(config, instance.seed)
    summary = summarize(result, worker.shortest(config))
    trace = result.controller.trace.array()
    xy = trace[:, [COLUMNS.index("true_x"), COLUMNS.index("true_y")]]
    reasons = failure_reasons(summary, xy, 1.0 / config.loop.rate_hz)
    keys = ("success", "end_reason", "goal_reached", "time_to_goal_s", "sim_time_s",
            "wall_time_s", "path_length_m", "shortest_path_m", "path_ratio", "min_clearance_m",
            "collisions", "safety_stops", "failed_criteria", "trace_sha256")
    step = max(1, -(-len(xy) // _PLOT_POINTS))
    return {"scenario": scenario_name(str(instance.config)), "seed": instance.seed,
            **{k: summary[k] for k in keys}, "reasons": reasons, "fault": False,
            "xy": np.ascontiguousarray(xy[::step], dtype=np.float32)}


def scenario_instance(path: str | Path, seed: int, overrides: tuple[str, ...] = (),
                      cost: float = 0.0) -> Instance:
    """The runner instance of one (scenario, seed)."""
    return Instance(config=str(path), seed=seed, overrides=tuple(overrides), job="scenario",
                    key=(str(path), seed), cost=cost)


def record_of(outcome: Outcome) -> dict[str, Any]:
    """A scenario outcome as its record; a run that raised becomes a ``fault`` record."""
    import numpy as np

    if outcome.ok:
        return outcome.value
    path, seed = outcome.instance.key
    return {"scenario": scenario_name(path), "seed": seed, "success": False,
            "reasons": [f"fault: {describe_error(outcome)}"], "fault": True,
            "xy": np.zeros((0, 2))}


def run_one(path: str, seed: int, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """One lockstep run of a scenario with ``sim.seed = seed``, in this process; its record."""
    from robo_orch.missions.worker import execute

    return record_of(execute(scenario_instance(path, seed, overrides)))


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


def run_suite(paths: list[str | Path], seeds: list[int], *, jobs: int | None = None,
              overrides: tuple[str, ...] = (), progress: TextIO | None = None,
              runner: Runner | None = None,
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every scenario x seed; returns (scenario rows, per-run records with ``xy``).

    On ``runner`` (kept open: its workers stay warm for the caller's next suite), else
    on a new one with ``jobs`` workers (default: the CPU count; 1 runs in this process).
    Configs are validated here first, so a bad file fails at once.
    """
    from robo_orch.config import load_config
    from robo_orch.errors import UsageError

    if not seeds:
        raise UsageError("--seeds must be at least 1")
    tasks = [(str(p), s) for p in paths for s in seeds]
    own = runner is None
    if own:
        jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
        runner = Runner(jobs).start()  # workers load while the configs are checked
    try:
        configs = {str(p): load_config(p, overrides) for p in paths}
        instances = [scenario_instance(p, s, overrides, cost=configs[p].mission.time_limit_s)
                     for p, s in tasks]
        bar = ProgressLine(progress, "scenarios", describe=lambda o: (
            f"{scenario_name(o.instance.key[0])} seed {o.instance.seed}"
            + ("" if o.ok else f": {describe_error(o)}")),
            failed=lambda o: not (o.ok and o.value["success"]))
        records = {o.instance.key: record_of(o) for o in runner.run(instances, bar)}
    finally:
        if own:
            runner.close()
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
