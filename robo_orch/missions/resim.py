"""What-if on a simulated recording: ``robo-orch replay FILE --resim [--set k=v]``.

A lockstep recording holds its whole config (``config_raw``, overrides applied) and
its seed, so the mission can be simulated again, closed-loop: the same world and
seed, with changed parameters, the robot reacting to its new commands (``--rerun``
is open-loop: the recorded sensor data is fed back, and it works for real robots).

Two missions run: the recorded config unchanged (its ticks are checked against the
recording, bit for bit: a recording made by another build or machine may not
reproduce) and the changed one.  The report gives the first tick where the changed
run's command or estimated pose differs from the recording, the metrics of both
runs and their differences, and a plot of both paths over the world.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robo_orch.errors import UsageError

#: compared per tick, recorded tick field -> trace column
_FIELDS = {"cmd_v": "cmd_v", "cmd_w": "cmd_w", "x": "x", "y": "y", "yaw": "yaw"}
#: the metrics the report compares
METRICS = ("success", "goal_reached", "time_to_goal_s", "sim_time_s", "path_length_m",
           "min_clearance_m", "collisions", "safety_stops")


@dataclass
class ResimReport:
    """The recorded run re-simulated, and the same mission with changed parameters."""

    overrides: tuple[str, ...]
    recorded: np.ndarray  #: (n, 6): t, cmd_v, cmd_w, x, y, yaw per recorded tick
    base: dict[str, Any]  #: the unchanged config's summary
    changed: dict[str, Any]  #: the changed config's summary
    base_xy: np.ndarray
    changed_xy: np.ndarray
    reproduced: int | None  #: first tick where the unchanged re-run differs (None: none)
    diverged: int | None  #: first tick where the changed run differs from the recording
    diverged_t: float | None = None
    diverged_what: str = ""
    world: Any = None
    start: Any = None
    waypoints: Any = None

    def deltas(self) -> dict[str, tuple[Any, Any]]:
        """metric -> (recorded config's value, changed config's value)."""
        return {k: (self.base.get(k), self.changed.get(k)) for k in METRICS}

    def text(self) -> str:
        """A few lines for a person."""
        n = len(self.recorded)
        lines = [f"closed-loop re-simulation with {' '.join(self.overrides) or 'no change'} "
                 "(same world, same seed)"]
        lines.append("the unchanged config reproduces the recording bit for bit "
                     f"({n} ticks)" if self.reproduced is None else
                     f"warning: the unchanged config differs from the recording from tick "
                     f"{self.reproduced} on (another build or machine?): the comparison "
                     "below is against the recording")
        if self.diverged is None:
            lines.append(f"first divergence: none in the {n} recorded ticks")
        else:
            lines.append(f"first divergence: tick {self.diverged} (t = {self.diverged_t:.3f} s), "
                         f"{self.diverged_what}")
        lines.append(f"{'metric':<18}{'recorded config':>18}{'changed':>14}{'delta':>12}")
        for k, (a, b) in self.deltas().items():
            delta = "" if not _num(a) or not _num(b) or isinstance(a, bool) else f"{b - a:+.4g}"
            lines.append(f"{k:<18}{_show(a):>18}{_show(b):>14}{delta:>12}")
        return "\n".join(lines)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and v is not None


def _show(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def recorded_ticks(recording: Any) -> np.ndarray:
    """The recording's ticks as rows (tick, t, cmd_v, cmd_w, x, y, yaw), in tick order."""
    from robo_orch.record.ticks import TICK_TOPIC

    rows = []
    for raw in recording.raw([TICK_TOPIC]):
        f = raw.decode().fixed
        rows.append((float(f["tick"]), float(f["t"]), *(float(f[k]) for k in _FIELDS)))
    rows.sort(key=lambda r: r[0])
    return np.array(rows, dtype=np.float64).reshape(-1, 2 + len(_FIELDS))


def first_difference(recorded: np.ndarray, trace: np.ndarray) -> tuple[int | None, str]:
    """The first recorded tick whose command or estimated pose differs in any bit from the
    trace row of the same tick; what differed."""
    from robo_orch.runtime.trace import COLUMNS

    cols = [COLUMNS.index(c) for c in _FIELDS.values()]
    for row in recorded:
        tick = int(row[0])
        if tick >= len(trace):
            return tick, "the re-run ended earlier"
        got = trace[tick, cols]
        want = row[2:]
        bad = [name for name, a, b in zip(_FIELDS, want, got, strict=True)
               if np.float64(a).tobytes() != np.float64(b).tobytes()]
        if bad:
            return tick, ", ".join(f"{k} {a:.6g} -> {b:.6g}" for k, a, b in
                                   zip(_FIELDS, want, got, strict=True) if k in bad)
    return None, ""


def resimulate(recording: Any, overrides: tuple[str, ...]) -> ResimReport:
    """Run the recorded mission unchanged and with ``overrides``; compare (module doc)."""
    from robo_orch.config.load import apply_overrides, build_config
    from robo_orch.missions import worker
    from robo_orch.missions.report import summarize
    from robo_orch.runtime.trace import COLUMNS

    ctx = recording.context
    if ctx.clock != "sim" or not ctx.config_raw:
        raise UsageError(f"{recording.files[0] if hasattr(recording, 'files') else 'recording'}"
                         ": --resim needs a lockstep simulated recording with its config "
                         "(robo-orch sim --lockstep --record); use --rerun for a real robot")
    source = ctx.config_source or "recording"
    base_dir = Path(source).parent

    def config(extra: tuple[str, ...]):
        raw = copy.deepcopy(ctx.config_raw)
        apply_overrides(raw, extra)
        return build_config(raw, source=source, base_dir=base_dir)

    recorded = recorded_ticks(recording)
    runs = []
    for extra in ((), overrides):
        cfg = config(extra)
        result = worker.run(cfg, ctx.seed)
        trace = result.controller.trace.array()
        runs.append((cfg, summarize(result, worker.shortest(cfg)), trace))
    (cfg0, base, trace0), (_, changed, trace1) = runs
    reproduced, _ = first_difference(recorded, trace0)
    diverged, what = first_difference(recorded, trace1)
    xy = [COLUMNS.index("true_x"), COLUMNS.index("true_y")]
    t_div = None
    if diverged is not None:
        t_div = float(recorded[recorded[:, 0] == diverged][0, 1]) if (
            recorded[:, 0] == diverged).any() else None
    return ResimReport(overrides=overrides, recorded=recorded, base=base, changed=changed,
                       base_xy=trace0[:, xy], changed_xy=trace1[:, xy], reproduced=reproduced,
                       diverged=diverged, diverged_t=t_div, diverged_what=what,
                       world=cfg0.world.resolve(cfg0.sim.seed, cfg0.mission.start[:2]),
                       start=cfg0.mission.start, waypoints=cfg0.mission.waypoints)


def plot_resim(report: ResimReport, out: str | Path, title: str = "") -> None:
    """Both true paths over the world, the first divergence marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robo_orch.missions.report import draw_world

    fig, ax = plt.subplots(figsize=(8, 6))
    draw_world(ax, report.world)
    ax.plot(report.base_xy[:, 0], report.base_xy[:, 1], color="0.3", lw=1.6,
            label="recorded config")
    ax.plot(report.changed_xy[:, 0], report.changed_xy[:, 1], color="tab:orange", lw=1.2,
            label=" ".join(report.overrides) or "changed")
    if report.diverged is not None and report.diverged < len(report.changed_xy):
        x, y = report.changed_xy[report.diverged]
        ax.plot([x], [y], "o", mfc="none", mec="tab:red", ms=12, label="first divergence")
    wps = np.array(report.waypoints)
    ax.plot(wps[:, 0], wps[:, 1], "o", color="tab:blue", ms=5)
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


__all__ = ["METRICS", "ResimReport", "first_difference", "plot_resim", "recorded_ticks",
           "resimulate"]
