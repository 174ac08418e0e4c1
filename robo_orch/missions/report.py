"""The JSON summary of a mission, its pass/fail criteria, and its plots.

The shortest possible path, against which a driven path is measured, is found on
a fine grid over the static world (moving obstacles left out) inflated by the
robot's radius: a 16-neighbour Dijkstra (scipy) through the waypoints' tolerance
discs in order, each leg then pulled taut by line-of-sight shortcuts.  It is
within about a grid cell per turn of the true shortest path.
"""

from __future__ import annotations

import hashlib
import math
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robo_orch.config import Config
from robo_orch.config.world import WorldConfig
from robo_orch.missions.session import MissionResult, loop_health_line
from robo_orch.planar import wall_shapes
from robo_orch.runtime.trace import COLUMNS

#: summary fields that depend on the wall clock (they differ between identical runs)
WALL_CLOCK_FIELDS = ("wall_time_s", "realtime_factor", "tick_time_us", "period_error_us",
                     "lateness_us", "phase_time_us", "gc_pause_us", "gc_forced", "startup_s",
                     "overruns", "skipped_slots", "stalls", "max_tick_ms")


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 6)


def summarize(result: MissionResult, shortest_m: float | None = None) -> dict[str, Any]:
    """The run's summary as a JSON-ready dict.

    ``shortest_m``: the shortest possible path (:func:`shortest_path_length`); with
    it the summary has ``path_ratio`` and the ``max_path_ratio`` criterion is checked.
    """
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
        "shortest_path_m": None if shortest_m is None else _finite(shortest_m),
        "path_ratio": (round(truth.distance_m / shortest_m, 4)
                       if shortest_m and math.isfinite(shortest_m) and ctl.goal_time_s
                       is not None else None),
        "final_pose": [round(float(v), 6) for v in truth.pose],
        # every tick's pose, truth, command and flags: equal hashes, bit-identical runs
        "trace_sha256": hashlib.sha256(np.ascontiguousarray(trace).tobytes()).hexdigest(),
        "estimated_final_pose": [round(float(v), 6) for v in ctl.world.state[2:5]],
        "safety_stops": len(ctl.safety_stops),
        "safety_stop_events": [{"t": round(e.t, 4), "x": round(e.x, 4), "y": round(e.y, 4),
                                "reason": e.reason} for e in ctl.safety_stops],
        "deadman_stops": truth.deadman_stops,
        "sensor_to_actuator_us": {"p50": _finite(truth.latency_us[0]),
                                  "p99": _finite(truth.latency_us[1]),
                                  "max": _finite(truth.latency_us[2])},
        **loop,
        "period_ms": 1e3 / result.config.loop.rate_hz,
        "max_tick_ms": round(st.tick.max * 1e-6, 4),
        "inputs": ctl.sensing.counters(),
        "input_rejects": ctl.sensing.input_rejects(),
        "estimate": ctl.sensing.estimate_health(),
        "simulator_inputs": truth.inputs,
        "warnings": result.warnings + ctl.sensing.health.warnings,
        "interrupted_by": None if result.signal is None else signal.Signals(result.signal).name,
    }
    if getattr(ctl, "joint_spaces", None):  # joints command spaces: commands and flags
        summary["commands"] = ctl.command_counters()
    health = loop_health_line(st, round(1e9 / result.config.loop.rate_hz))
    if health and result.backend != "lockstep":
        summary["warnings"].append(f"the loop missed deadlines: {health}")
    passed, failures = judge(result.config, summary)
    summary["success"] = passed
    summary["failed_criteria"] = failures
    return summary


def estimate_notes(summary: dict[str, Any]) -> str:
    """Verdict text for rejected inputs and estimate recoveries ('' when there were none),
    e.g. ``"rejected inputs: gps std_bounds 1, gated 2; estimate non-finite 1x"``."""
    parts = []
    rejected = []
    for role, counts in summary["input_rejects"].items():
        reasons = ", ".join(f"{why} {n}" for why, n in counts["rejected"].items() if n)
        if reasons:
            rejected.append(f"{role} {reasons}")
    if rejected:
        parts.append("rejected inputs: " + "; ".join(rejected))
    est = summary["estimate"]
    if est["non_finite"]:
        parts.append(f"estimate non-finite {est['non_finite']}x"
                     + (" (still holding)" if est["holding"] else " (recovered)"))
    if est["relocalisations"]:
        parts.append(f"relocalised {est['relocalisations']}x")
    return "; ".join(parts)


def judge(config: Config, summary: dict[str, Any]) -> tuple[bool, list[str]]:
    """Check a summary against the config's ``[success]`` criteria.

    The loop-timing bounds (``max_overruns``, ``max_tick_ms``) apply to real-time
    runs only: a lockstep verdict depends on nothing the wall clock measures.
    """
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
    ratio = summary.get("path_ratio")
    if ratio is not None and ratio > crit.max_path_ratio:
        failures.append(f"path {ratio:.2f} x the shortest > {crit.max_path_ratio:g}")
    if summary.get("backend") != "lockstep":
        if crit.max_overruns is not None and summary["overruns"] > crit.max_overruns:
            failures.append(f"{summary['overruns']} overruns > {crit.max_overruns}")
        worst_ms = summary["tick_time_us"]["max"] * 1e-3
        if worst_ms > crit.max_tick_ms:
            failures.append(f"worst tick {worst_ms:.3g} ms > {crit.max_tick_ms:g} ms")
    return not failures, failures


def draw_world(ax: Any, world: WorldConfig) -> None:
    """Draw a (resolved) world's obstacles; moving ones at their start, paths dashed."""
    from matplotlib.patches import Circle as CirclePatch
    from matplotlib.patches import Polygon as PolygonPatch

    if world.bounds:
        x0, y0, x1, y1 = world.bounds
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="k", lw=2)
    for wall in world.walls:
        ax.plot([wall.start[0], wall.end[0]], [wall.start[1], wall.end[1]], color="k", lw=2,
                solid_capstyle="round")
    for c in world.circles:
        ax.add_patch(CirclePatch(c.center, c.radius, color="0.45"))
    for poly in world.polygons:
        ax.add_patch(PolygonPatch(np.array(poly.points), closed=True, color="0.45"))
    for m in world.moving:
        pts = np.array(m.path + (m.path[:1] if m.mode == "loop" else ()))
        ax.plot(pts[:, 0], pts[:, 1], color="tab:red", lw=1, ls=":")
        ax.add_patch(CirclePatch(m.path[0], m.radius, fc="none", ec="tab:red", ls="--"))


def plot(result: MissionResult, path: str | Path) -> None:
    """Draw the world, the driven path, the waypoints and where safety stops began."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result.config
    trace = result.controller.trace.array()
    fig, ax = plt.subplots(figsize=(8, 7))
    draw_world(ax, cfg.world.resolve(cfg.sim.seed, cfg.mission.start[:2]))
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


def plot_panels(panels: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Many runs in one figure grid, one panel per world.

    Each panel is a dict: ``title``, ``world`` (resolved), ``start`` (x, y, yaw),
    ``waypoints`` and ``runs``, a list of (xy array, succeeded) drawn green or red.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, max(1, len(panels)))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels, strict=False):
        draw_world(ax, panel["world"])
        for xy, ok in panel["runs"]:
            ax.plot(xy[:, 0], xy[:, 1], color="tab:green" if ok else "tab:red", lw=1,
                    alpha=0.7)
        wps = np.array(panel["waypoints"])
        ax.plot(wps[:, 0], wps[:, 1], "o", color="tab:blue", ms=5)
        ax.plot([panel["start"][0]], [panel["start"][1]], "^", color="tab:purple", ms=7)
        ax.set_title(panel["title"], fontsize=9)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- the shortest possible path ------------------------------------------------------------

def static_clearance(world: WorldConfig, pts: np.ndarray) -> np.ndarray:
    """Distance from each point (rows of ``pts``) to the nearest static obstacle surface.

    0 inside a circle or polygon or outside the bounds; moving obstacles are ignored.
    """
    x, y = pts[:, 0], pts[:, 1]
    segs, caps = wall_shapes(world.walls, world.wall_thickness)
    inside = np.zeros(len(pts), dtype=bool)
    rings = [p.points for p in world.polygons]
    if world.bounds:
        x0, y0, x1, y1 = world.bounds
        rings.append(((x0, y0), (x1, y0), (x1, y1), (x0, y1)))
        inside |= (x < x0) | (x > x1) | (y < y0) | (y > y1)
    for k, ring in enumerate(rings):
        crossing = np.zeros(len(pts), dtype=bool)
        for (ax, ay), (bx, by) in zip(ring, ring[1:] + ring[:1], strict=True):
            segs.append((ax, ay, bx, by))
            if k < len(world.polygons) and ay != by:
                crossing ^= ((ay > y) != (by > y)) & (x < ax + (y - ay) * (bx - ax) / (by - ay))
        inside |= crossing
    best = np.full(len(pts), np.inf)
    for ax, ay, bx, by in segs:
        ex, ey = bx - ax, by - ay
        len2 = ex * ex + ey * ey
        s = np.clip(((x - ax) * ex + (y - ay) * ey) / len2, 0.0, 1.0) if len2 else 0.0
        np.minimum(best, np.hypot(x - ax - s * ex, y - ay - s * ey), out=best)
    for cx, cy, r in [*((*c.center, c.radius) for c in world.circles), *caps]:
        np.minimum(best, np.hypot(x - cx, y - cy) - r, out=best)
    best[inside] = 0.0
    return np.maximum(best, 0.0)


# neighbour offsets (rows, cols) and the cells each move passes through
_MOVES = (((0, 1), ()), ((1, 0), ()), ((1, 1), ((1, 0), (0, 1))), ((1, -1), ((1, 0), (0, -1))),
          ((1, 2), ((0, 1), (1, 1))), ((2, 1), ((1, 0), (1, 1))),
          ((1, -2), ((0, -1), (1, -1))), ((2, -1), ((1, 0), (1, -1))))


def _shifted(free: np.ndarray, di: int, dj: int) -> np.ndarray:
    """out[i, j] = free[i + di, j + dj], False outside the grid."""
    ny, nx = free.shape
    out = np.zeros_like(free)
    out[max(0, -di):ny - max(0, di), max(0, -dj):nx - max(0, dj)] = \
        free[max(0, di):ny + min(0, di), max(0, dj):nx + min(0, dj)]
    return out


def shortest_path_length(world: WorldConfig, start: Sequence[float],
                         waypoints: Sequence[Sequence[float]], radius: float,
                         tolerance: float = 0.0, resolution: float = 0.05) -> float:
    """Length of the shortest collision-free path of a disc of ``radius`` from ``start``
    that comes within ``tolerance`` of each waypoint in order; inf when there is none.

    ``world`` must be resolved (random obstacles placed); moving obstacles are ignored.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    points = np.array([start[:2], *[w[:2] for w in waypoints]], dtype=float)
    if world.bounds:
        lo, hi = np.array(world.bounds[:2]), np.array(world.bounds[2:])
    else:
        geo = [*points, *(p for w in world.walls for p in (w.start, w.end)),
               *(p for poly in world.polygons for p in poly.points),
               *(np.array(c.center) + d * c.radius for c in world.circles for d in (-1, 1))]
        lo, hi = np.min(geo, axis=0) - radius - 1.0, np.max(geo, axis=0) + radius + 1.0
    res = max(resolution, math.sqrt(float(np.prod(hi - lo)) / 400_000))
    nx, ny = int(math.ceil((hi[0] - lo[0]) / res)) + 1, int(math.ceil((hi[1] - lo[1]) / res)) + 1
    gx, gy = np.meshgrid(lo[0] + res * np.arange(nx), lo[1] + res * np.arange(ny))
    centres = np.column_stack([gx.ravel(), gy.ravel()])
    free = (static_clearance(world, centres) >= radius).reshape(ny, nx)
    n = nx * ny
    index = np.arange(n).reshape(ny, nx)
    src, dst, cost = [], [], []
    for (di, dj), via in _MOVES:
        ok = free & _shifted(free, di, dj)
        for vi, vj in via:
            ok &= _shifted(free, vi, vj)
        a = index[ok]
        b = a + di * nx + dj
        src += [a, b]
        dst += [b, a]
        cost += [np.full(2 * len(a), res * math.hypot(di, dj))]
    src_a, dst_a, cost_a = np.concatenate(src), np.concatenate(dst), np.concatenate(cost)

    def snap(p: np.ndarray) -> int:
        d = np.hypot(centres[:, 0] - p[0], centres[:, 1] - p[1])
        d[~free.ravel()] = np.inf
        return int(np.argmin(d)) if np.isfinite(d.min()) else -1

    def disc(p: np.ndarray) -> np.ndarray:
        d = np.hypot(centres[:, 0] - p[0], centres[:, 1] - p[1])
        cells = np.flatnonzero((d <= tolerance) & free.ravel())
        return cells if len(cells) else np.array([snap(p)])

    first = snap(points[0])
    if first < 0:
        return math.inf
    # leg k starts from the cells of the tolerance disc of waypoint k - 1, each at the
    # cost of reaching it: a super-source node n with those costs as edge weights
    preds, dist = [], None
    for k in range(1, len(points)):
        if k == 1:
            graph = csr_matrix((cost_a, (src_a, dst_a)), shape=(n, n))
            dist, pred = dijkstra(graph, indices=first, return_predecessors=True)
        else:
            cells = disc(points[k - 1])
            w = dist[cells]
            keep = np.isfinite(w)
            if not keep.any():
                return math.inf
            graph = csr_matrix(
                (np.concatenate([cost_a, w[keep] + 1e-12]),
                 (np.concatenate([src_a, np.full(keep.sum(), n)]),
                  np.concatenate([dst_a, cells[keep]]))), shape=(n + 1, n + 1))
            dist, pred = dijkstra(graph, indices=n, return_predecessors=True)
            dist = dist[:n]
        preds.append(pred)
    goal_cells = disc(points[-1])
    end = int(goal_cells[np.argmin(dist[goal_cells])])
    if not math.isfinite(dist[end]):
        return math.inf
    legs = []
    node = end
    for pred in reversed(preds):
        leg = [node]
        while pred[node] >= 0 and pred[node] != n:
            node = int(pred[node])
            leg.append(node)
        legs.append(centres[leg[::-1]])
    legs[-1][0] = points[0]
    return float(sum(_taut_length(leg, free, lo, res) for leg in legs))


def _taut_length(pts: np.ndarray, free: np.ndarray, lo: np.ndarray, res: float) -> float:
    """Length of a grid path pulled taut on the free grid.

    Greedy line-of-sight shortcuts, alternately forward and backward over the path
    resampled every cell: each pass only shortens it, and the backward passes fix
    the corners a forward pass cuts late.
    """
    def visible(a: np.ndarray, b: np.ndarray) -> bool:
        steps = int(math.ceil(math.dist(a, b) / (0.5 * res))) + 1
        t = np.linspace(0.0, 1.0, steps)[:, None]
        cells = np.rint((a + t * (b - a) - lo) / res).astype(int)
        return bool(free[cells[:, 1], cells[:, 0]].all())

    def shortcut(path: np.ndarray) -> np.ndarray:
        out, i = [path[0]], 0
        while i < len(path) - 1:
            j = i + 1
            while j + 1 < len(path) and visible(path[i], path[j + 1]):
                j += 1
            out.append(path[j])
            i = j
        return np.array(out)

    def resample(path: np.ndarray) -> np.ndarray:
        parts = [np.linspace(a, b, max(2, int(math.dist(a, b) / res) + 1))[:-1]
                 for a, b in zip(path[:-1], path[1:], strict=True)]
        return np.concatenate([*parts, path[-1:]])

    path = shortcut(pts)
    for _ in range(3):
        path = shortcut(resample(path)[::-1])
    return float(np.hypot(*np.diff(path, axis=0).T).sum())
