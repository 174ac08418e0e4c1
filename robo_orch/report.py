"""The JSON summary of a mission, its pass/fail criteria, and its plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from robo_orch.config import Config
from robo_orch.session import MissionResult
from robo_orch.trace import COLUMNS

#: summary fields that depend on the wall clock (they differ between identical runs)
WALL_CLOCK_FIELDS = ("wall_time_s", "realtime_factor", "tick_time_us", "period_error_us",
                     "lateness_us", "phase_time_us", "gc_pause_us", "gc_forced", "startup_s",
                     "overruns", "skipped_slots", "stalls")


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 6)


def summarize(result: MissionResult) -> dict[str, Any]:
    """The run's summary as a JSON-ready dict."""
    ctl, st, truth = result.controller, result.stats, result.truth
    trace = ctl.trace.array()
    sim_time = float(trace[-1, COLUMNS.index("t")]) if len(trace) else 0.0
    loop = st.summary()
    summary: dict[str, Any] = {
        "config": result.config.source,
        "backend": result.backend,
        "seed": result.seed,
        "end_reason": ctl.end_reason,
        "goal_reached": ctl.goal_time_s is not None,
        "time_to_goal_s": _finite(ctl.goal_time_s) if ctl.goal_time_s is not None else None,
        "sim_time_s": round(sim_time, 6),
        "wall_time_s": round(result.wall_time_s, 4),
        "realtime_factor": round(sim_time / result.wall_time_s, 2) if result.wall_time_s else None,
        "startup_s": round(result.startup_s, 3),
        "collisions": truth.collisions,
        "min_clearance_m": _finite(truth.min_clearance_m),
        "path_length_m": round(truth.distance_m, 6),
        "final_pose": [round(float(v), 6) for v in truth.pose],
        "estimated_final_pose": [round(float(v), 6) for v in ctl.world.state[2:5]],
        "safety_stops": len(ctl.safety_stops),
        "safety_stop_events": [{"t": round(e.t, 4), "x": round(e.x, 4), "y": round(e.y, 4),
                                "reason": e.reason} for e in ctl.safety_stops],
        "deadman_stops": truth.deadman_stops,
        "sensor_to_actuator_us": {"p50": _finite(truth.latency_us[0]),
                                  "p99": _finite(truth.latency_us[1]),
                                  "max": _finite(truth.latency_us[2])},
        **loop,
        "inputs": ctl.sensing.counters(),
        "warnings": result.warnings,
    }
    passed, failures = judge(result.config, summary)
    summary["success"] = passed
    summary["failed_criteria"] = failures
    return summary


def judge(config: Config, summary: dict[str, Any]) -> tuple[bool, list[str]]:
    """Check a summary against the config's ``[success]`` criteria."""
    crit = config.success
    failures = []
    if crit.goal_reached and not summary["goal_reached"]:
        failures.append(f"goal not reached ({summary['end_reason']})")
    ttg = summary["time_to_goal_s"]
    if ttg is not None and ttg > crit.max_time_s:
        failures.append(f"time to goal {ttg:.1f} s > {crit.max_time_s:g} s")
    if summary["collisions"] > crit.max_collisions:
        failures.append(f"{summary['collisions']} collisions > {crit.max_collisions}")
    clearance = summary["min_clearance_m"]
    if clearance is not None and clearance < crit.min_clearance_m:
        failures.append(f"min clearance {clearance:.3f} m < {crit.min_clearance_m:g} m")
    return not failures, failures


def plot(result: MissionResult, path: str | Path) -> None:
    """Draw the world, the driven path, the waypoints and where safety stops began."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle as CirclePatch
    from matplotlib.patches import Polygon as PolygonPatch

    cfg = result.config
    trace = result.controller.trace.array()
    fig, ax = plt.subplots(figsize=(8, 7))
    world = cfg.world
    if world.bounds:
        x0, y0, x1, y1 = world.bounds
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="k", lw=2)
    for wall in world.walls:
        ax.plot([wall.start[0], wall.end[0]], [wall.start[1], wall.end[1]], color="k", lw=2)
    for c in world.circles:
        ax.add_patch(CirclePatch(c.center, c.radius, color="0.45"))
    for poly in world.polygons:
        ax.add_patch(PolygonPatch(np.array(poly.points), closed=True, color="0.45"))
    col = {name: i for i, name in enumerate(COLUMNS)}
    if len(trace):
        tx, ty = trace[:, col["true_x"]], trace[:, col["true_y"]]
        if np.isfinite(tx).any():
            ax.plot(tx, ty, color="tab:blue", lw=1.8, label="path (ground truth)")
        ax.plot(trace[:, col["x"]], trace[:, col["y"]], color="tab:orange", lw=1, ls="--",
                label="path (estimated)")
    wps = np.array(cfg.mission.waypoints)
    ax.plot(wps[:, 0], wps[:, 1], "o", color="tab:green", ms=8, label="waypoints")
    for i, (x, y) in enumerate(wps):
        ax.annotate(str(i + 1), (x, y), textcoords="offset points", xytext=(6, 6))
    sx, sy, syaw = cfg.mission.start
    ax.plot([sx], [sy], marker=(3, 0, math.degrees(syaw) - 90), color="tab:purple", ms=12,
            ls="none", label="start")
    stops = result.controller.safety_stops
    if stops:
        ax.plot([e.x for e in stops], [e.y for e in stops], "x", color="tab:red", ms=10, mew=2,
                label="safety stop")
    s = summarize(result)
    status = "goal reached" if s["goal_reached"] else s["end_reason"]
    ax.set_title(f"{Path(cfg.source).name}: {status}, {s['sim_time_s']:.1f} s, "
                 f"{s['path_length_m']:.1f} m, {s['collisions']} collisions")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=5, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
