"""``robo-orch plot``: a picture of a recording, and the re-run comparison plot.

:func:`plot_recording` draws four panels from a recording alone (no config
needed: the world and the mission travel in the recording's context): the path
over the world, the commands over time, each behavior's activation over time
with the winner, and the loop's timing.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from robo_orch.record.reader import Recording, open_recording
from robo_orch.record.ticks import BEHAVIOR_TOPIC, TICK_TOPIC


def recording_arrays(recording: Recording) -> dict[str, np.ndarray]:
    """Per-tick arrays of a recording: t, x, y, cmd, flags, winner, timing, activations."""
    ctx = recording.context
    rows, acts, truth, lateral = [], [], [], []
    for raw in recording.raw([TICK_TOPIC, BEHAVIOR_TOPIC, ctx.truth_topic, ctx.command_topic]):
        msg = raw.decode()
        f = msg.fixed
        if raw.topic == TICK_TOPIC:
            rows.append((f["t"], f["x"], f["y"], f["cmd_v"], f["cmd_w"], f["flags"],
                         f["winner"], f["lateness_ns"], f["prev_sense_ns"] + f["prev_plan_ns"]
                         + f["prev_act_ns"], f["now_ns"]))
        elif raw.topic == BEHAVIOR_TOPIC:
            acts.append((int(f["now_ns"]), np.array(msg.var["activation"], dtype=np.float64)))
        elif raw.topic == ctx.command_topic:
            if "vy" in f.dtype.names:  # a holonomic base's body_velocity_command
                lateral.append((raw.log_time_ns, float(f["vy"])))
        else:
            truth.append((f["x"], f["y"]))
    data = np.array(rows, dtype=np.float64).reshape(-1, 10)
    out = {name: data[:, i] for i, name in enumerate(
        ("t", "x", "y", "cmd_v", "cmd_w", "flags", "winner", "lateness_ns", "tick_ns",
         "now_ns"))}
    n_beh = len(ctx.behaviors)
    out["activations"] = (np.vstack([a for _, a in acts]) if acts
                          else np.zeros((0, n_beh)))
    out["activation_t"] = (np.array([ns for ns, _ in acts], dtype=np.float64)
                           - (out["now_ns"][0] - out["t"][0] * 1e9 if len(data) else 0)) * 1e-9
    out["truth"] = np.array(truth, dtype=np.float64).reshape(-1, 2)
    # the lateral command of a holonomic base, from the recorded command messages (the
    # tick records keep v and w; their layout is that of every earlier recording)
    lat = np.array(lateral, dtype=np.float64).reshape(-1, 2)
    out["cmd_vy"] = lat[:, 1]
    out["cmd_vy_t"] = (lat[:, 0] - (out["now_ns"][0] - out["t"][0] * 1e9 if len(data) else 0)) \
        * 1e-9
    return out


def _draw_world(ax, ctx) -> None:
    from matplotlib.patches import Circle, Polygon

    w = ctx.world
    if w.get("bounds"):
        x0, y0, x1, y1 = w["bounds"]
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="k", lw=2)
    for (sx, sy), (ex, ey) in w.get("walls", ()):
        ax.plot([sx, ex], [sy, ey], color="k", lw=2)
    for center, r in w.get("circles", ()):
        ax.add_patch(Circle(center, r, color="0.45"))
    for poly in w.get("polygons", ()):
        ax.add_patch(Polygon(np.array(poly), closed=True, color="0.45"))
    if ctx.waypoints:
        wps = np.array(ctx.waypoints)
        ax.plot(wps[:, 0], wps[:, 1], "o", color="tab:green", ms=8, label="waypoints")


def plot_recording(recording: Recording, out: str | Path) -> None:
    """Write the four-panel PNG of ``recording`` to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx = recording.context
    d = recording_arrays(recording)
    fig = plt.figure(figsize=(12, 9))
    grid = fig.add_gridspec(3, 2, width_ratios=[1.1, 1])
    ax_map = fig.add_subplot(grid[:, 0])
    _draw_world(ax_map, ctx)
    if len(d["truth"]):
        ax_map.plot(d["truth"][:, 0], d["truth"][:, 1], color="tab:blue", lw=1.8,
                    label="path (ground truth)")
    ax_map.plot(d["x"], d["y"], color="tab:orange", lw=1, ls="--", label="path (estimated)")
    sx, sy, syaw = ctx.start
    ax_map.plot([sx], [sy], marker=(3, 0, math.degrees(syaw) - 90), color="tab:purple", ms=12,
                ls="none", label="start")
    ax_map.set_aspect("equal")
    ax_map.grid(alpha=0.3)
    ax_map.set_xlabel("x (m)")
    ax_map.set_ylabel("y (m)")
    ax_map.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=8)
    ax_map.set_title(f"{Path(recording.files[0]).name}: {len(d['t'])} ticks, "
                     f"{d['t'][-1] if len(d['t']) else 0:.1f} s")

    t = d["t"]
    ax_cmd = fig.add_subplot(grid[0, 1])
    ax_cmd.plot(t, d["cmd_v"], label="v (m/s)", color="tab:blue")
    if np.any(d["cmd_vy"] != 0.0):  # a holonomic base
        ax_cmd.plot(d["cmd_vy_t"], d["cmd_vy"], label="vy (m/s)", color="tab:green", lw=0.8)
    ax_cmd.plot(t, d["cmd_w"], label="w (rad/s)", color="tab:red", lw=0.8)
    ax_cmd.set_ylabel("command")
    ax_cmd.legend(fontsize=8, loc="upper right")
    ax_cmd.grid(alpha=0.3)

    ax_act = fig.add_subplot(grid[1, 1], sharex=ax_cmd)
    acts = d["activations"]
    for i, name in enumerate(ctx.behaviors):
        if acts.shape[0] and i < acts.shape[1]:
            ax_act.plot(d["activation_t"], acts[:, i], label=name, lw=1)
    if len(t):
        ax_win = ax_act.twinx()
        ax_win.plot(t, d["winner"], ".", ms=1.5, color="k", alpha=0.4)
        ax_win.set_yticks(range(len(ctx.behaviors)), ctx.behaviors, fontsize=7)
        ax_win.set_ylim(-0.5, max(len(ctx.behaviors), 1) - 0.5)
    ax_act.set_ylabel("activation (dots: winner)")
    ax_act.legend(fontsize=7, loc="upper left")
    ax_act.grid(alpha=0.3)

    ax_t = fig.add_subplot(grid[2, 1], sharex=ax_cmd)
    tick_us, late_us = d["tick_ns"][1:] * 1e-3, d["lateness_ns"] * 1e-3
    ax_t.plot(t[:-1], tick_us, lw=0.7, label="tick compute (us)")
    ax_t.plot(t, late_us, lw=0.7, label="lateness (us)")
    if len(tick_us):
        ax_t.axhline(np.percentile(tick_us, 99), color="tab:blue", ls=":",
                     label=f"tick p99 {np.percentile(tick_us, 99):.0f} us")
    ax_t.set_yscale("symlog", linthresh=10)
    ax_t.set_ylim(bottom=0)
    ax_t.set_xlabel(f"loop time (s, {ctx.clock} clock)")
    ax_t.set_ylabel("loop timing")
    ax_t.legend(fontsize=7, loc="upper right")
    ax_t.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_rerun(report, out: str | Path, *, title: str = "") -> None:
    """Recorded vs re-run commands, their difference, and the first divergence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    t = report.t
    for ax, i, unit in ((axes[0], 0, "v (m/s)"), (axes[1], 1, "w (rad/s)")):
        ax.plot(t, report.recorded[:, i], label="recorded", color="0.3", lw=1.6)
        ax.plot(t, report.rerun[:, i], label="re-run", color="tab:orange", lw=1, ls="--")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    diff = report.rerun - report.recorded
    axes[2].plot(t, diff[:, 0], label="dv", lw=0.8)
    axes[2].plot(t, diff[:, 1], label="dw", lw=0.8)
    axes[2].set_ylabel("re-run - recorded")
    axes[2].set_xlabel("loop time (s)")
    axes[2].grid(alpha=0.3)
    first = report.first_divergence
    for ax in axes:
        if first is not None:
            ax.axvline(t[first], color="tab:red", ls=":", lw=1)
    axes[2].legend(fontsize=8, loc="upper right")
    status = ("bit-identical" if first is None else
              f"first divergence at tick {int(report.ticks[first])} (t = {t[first]:.2f} s)")
    axes[0].set_title(f"{title}\nopen-loop re-run: {status}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Run ``robo-orch plot``."""
    recording = open_recording(args.recording)
    out = args.out or str(Path(args.recording).with_suffix(".png"))
    plot_recording(recording, out)
    print(f"plot written to {out}")
    return 0
