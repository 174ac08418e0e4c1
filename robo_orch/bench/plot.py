"""``robo-orch bench --plot FILE``: every section of the suite in one figure.

Top row: scaling with lidar rays, DWA samples and scheduled behaviors.  Bottom
row: loop timing (p99 period error per rate and variant, against
``time.sleep``), sensor-to-actuator latency split into its parts (against a
bare ZeroMQ relay), and where a lockstep tick's time goes.  A section missing
from the results leaves its panel empty.
"""

from __future__ import annotations

from typing import Any


def plot_results(results: dict[str, Any], path: str) -> None:
    """Draw the suite's results into a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robo_orch.bench.scaling import draw_scaling

    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    if "scaling" in results:
        draw_scaling(results["scaling"], axes[0])
    if "loop_timing" in results:
        _draw_timing(results["loop_timing"], axes[1, 0])
    if "sensor_to_actuator" in results:
        _draw_latency(results["sensor_to_actuator"], axes[1, 1])
    if "mission" in results:
        _draw_tick(results["mission"], results.get("tick_breakdown"), axes[1, 2])
    fig.suptitle("robo-orch bench" + (" (quick)" if results.get("quick") else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw_timing(timing: dict[str, Any], ax) -> None:
    rates = list(timing["rates"])
    names = sorted({n for entry in timing["rates"].values() for n in entry},
                   key=lambda n: (n != "sleep", n))
    x = [float(r) for r in rates]
    for name in names:
        y = [max(timing["rates"][r][name]["period_error_us"]["p99"], 0.01)
             if name in timing["rates"][r] else float("nan") for r in rates]
        ax.plot(x, y, "s--" if name == "sleep" else "o-",
                label="time.sleep (baseline)" if name == "sleep" else name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{r} Hz" for r in rates])
    ax.set_ylabel("period error p99 (us)")
    ax.set_title("loop timing, idle tick")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _draw_latency(e2e: dict[str, Any], ax) -> None:
    parts = (("transport", "transport (incl. wait for the tick)"), ("in_loop", "in-loop"),
             ("to_actuator", "to actuator"))
    labels, rows = [], []
    for kind in ("ipc", "tcp"):
        for mode, r in (e2e.get(kind) or {}).items():
            labels.append(f"{kind} {mode}")
            rows.append(r)
    y = list(range(len(rows)))
    left = [0.0] * len(rows)
    for key, label in parts:
        widths = [_part_p50(r, key) for r in rows]
        ax.barh(y, widths, left=left, label=f"{label} p50")
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.plot([r["end_to_end"]["p99_us"] or 0.0 for r in rows], y, "k|", markersize=12,
            label="end to end p99")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("symlog", linthresh=100)
    ax.set_title(f"sensor to actuator, {e2e['sensor_rate_hz']:g} Hz sensor (floor: bare relay)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2)
    ax.grid(alpha=0.3, axis="x")


def _part_p50(run: dict[str, Any], key: str) -> float:
    value = (run.get(key) or {}).get("p50_us")
    if value is None and key == "to_actuator":  # the bare relay: the second hop is the rest
        return max((run["end_to_end"]["p50_us"] or 0.0) - (run["transport"]["p50_us"] or 0.0),
                   0.0)
    return value or 0.0


def _draw_tick(mission: dict[str, Any], breakdown: dict[str, Any] | None, ax) -> None:
    phases = mission["phase_mean_us"]
    bars = [("phases", [*phases.items(), ("loop", mission["loop_overhead_us"])])]
    if breakdown:
        kernels = list(breakdown["kernels"].items())[:5]
        rest = breakdown["kernels_us"] - sum(v for _, v in kernels)
        bars.append(("work", [*((f"kernel {k}", v) for k, v in kernels),
                              ("other kernels", rest), ("Python, numpy", breakdown["python_us"])]))
    for i, (_, items) in enumerate(bars):
        bottom = 0.0
        for name, value in items:
            ax.bar(i, value, bottom=bottom, width=0.6)
            if value > 0.04 * mission["wall_per_tick_us"]:
                ax.text(i, bottom + value / 2, f"{name} {value:.0f}", ha="center",
                        va="center", fontsize=7)
            bottom += value
    ax.set_xticks(range(len(bars)), ["by phase", "kernels vs Python"][:len(bars)])
    ax.set_ylabel("mean wall time per tick (us)")
    ax.set_title(f"lockstep tick, demo mission: {mission['realtime_factor']:.0f}x real time")
    ax.grid(alpha=0.3, axis="y")
