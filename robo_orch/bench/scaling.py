"""How the planning core and the simulator scale: lidar rays, DWA samples, behaviors.

* **Lidar rays** (90 to 2048): a 10 s lockstep run of the demo mission per ray
  count: tick compute (p50, p99) and the realtime factor.
* **DWA samples** (v x w from 5 x 5 to 41 x 41): the ``avoid_obstacles`` kernel on
  a world seen mid-mission.
* **Scheduled behaviors** (1 to 64 ``go_to_goal`` copies plus ``stop``): one
  planning step (schedule, kernels, arbitration, safety).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robo_orch.bench.measure import time_calls, time_stats
from robo_orch.bench.sim import mid_mission


def _median_us(fn, repeats: int) -> tuple[float, float]:
    stats = time_stats(time_calls(fn, repeats))
    return stats["p50"], stats["p99"]


def scale_rays(rays: tuple[int, ...], seconds: float) -> list[dict[str, Any]]:
    """Lockstep demo mission for ``seconds`` per lidar ray count."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    rows = []
    run_mission(load_config(None), backend="lockstep", duration_s=seconds)  # warm-up, discarded
    for n in rays:
        config = load_config(None, [f"sim.lidar.rays={n}", f"perception.max_scan_points={n}"])
        s = summarize(run_mission(config, backend="lockstep", duration_s=seconds))
        rows.append({"rays": n, "tick_p50_us": s["tick_time_us"]["p50"],
                     "tick_p99_us": s["tick_time_us"]["p99"],
                     "realtime_factor": s["realtime_factor"]})
    return rows


def scale_dwa(samples: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    """The DWA kernel for ``n x n`` samples on the same mid-mission world."""
    from robo_orch import schema
    from robo_orch.behaviors.avoid_obstacles import AvoidObstacles
    from robo_orch.core import world as W

    _, ctl = mid_mission()
    world = ctl.world
    planner = ctl.planner
    idx = planner.idx[planner.names.index("avoid_obstacles")]  # (its footprint array)
    rows = []
    for n in samples:
        params = schema.build(AvoidObstacles.Params, {"v_samples": n, "w_samples": n},
                              source="bench")
        packed = AvoidObstacles.pack_params(params)
        state = AvoidObstacles.new_state(params)
        out = np.zeros(W.OUT_LEN)
        AvoidObstacles.kernel(world.arrays, idx, packed, state, out)
        p50, p99 = _median_us(lambda p=packed, st=state, o=out:
                              AvoidObstacles.kernel(world.arrays, idx, p, st, o), repeats)
        rows.append({"samples": f"{n}x{n}", "rollouts": n * n, "p50_us": p50, "p99_us": p99})
    return rows


def scale_behaviors(counts: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    """One planning step with ``n`` scheduled ``go_to_goal`` behaviors (plus ``stop``)."""
    from robo_orch.config import build_config, read_with_extends
    from robo_orch.config import embedded_config_path as demo_path
    from robo_orch.core import world as W
    from robo_orch.runtime.controller import make_world
    from robo_orch.runtime.planner import Planner

    config, ctl = mid_mission()
    rows = []
    for n in counts:
        raw = read_with_extends(demo_path("demo"))
        raw["behaviors"] = {"stop": {"kind": "stop", "priority": 1000}}
        for i in range(n):
            raw["behaviors"][f"g{i}"] = {"kind": "go_to_goal", "priority": i}
        cfg = build_config(raw, source="bench")
        world = make_world(cfg)  # sized for this layout; the mid-mission scene copied in
        world.state[:W.STATE_LEN] = ctl.world.state[:W.STATE_LEN]
        for name in ("scan", "field", "path"):
            getattr(world, name)[...] = getattr(ctl.world, name)
        planner = Planner(cfg, world)
        planner.plan(0)
        tick = [1]

        def step(planner=planner, tick=tick) -> None:
            planner.plan(tick[0])
            tick[0] += 1

        p50, p99 = _median_us(step, repeats)
        rows.append({"behaviors": len(planner.names), "plan_p50_us": p50, "plan_p99_us": p99})
    return rows


def bench_scaling(quick: bool) -> dict[str, Any]:
    """All three sweeps; ``quick`` uses fewer points and repetitions."""
    rays = (90, 360, 1440) if quick else (90, 180, 360, 720, 1440, 2048)
    samples = (5, 11, 21, 31) if quick else (5, 11, 15, 21, 31, 41)
    counts = (1, 8, 64) if quick else (1, 2, 4, 8, 16, 32, 64)
    repeats = 200 if quick else 1000
    return {"rays": scale_rays(rays, 5.0 if quick else 10.0),
            "dwa": scale_dwa(samples, repeats),
            "behaviors": scale_behaviors(counts, repeats)}


def print_scaling(results: dict[str, Any]) -> None:
    """Readable tables of :func:`bench_scaling`'s results."""
    print("  scaling with lidar rays (lockstep demo): rays, tick p50 / p99 us, realtime factor")
    for r in results["rays"]:
        print(f"    {r['rays']:>5} {r['tick_p50_us']:>9} {r['tick_p99_us']:>9} "
              f"{r['realtime_factor']:>8}x")
    print("  scaling with DWA samples (30 steps each): samples, p50 / p99 us")
    for r in results["dwa"]:
        print(f"    {r['samples']:>7} {r['p50_us']:>9} {r['p99_us']:>9}")
    print("  scaling with scheduled behaviors: behaviors, plan p50 / p99 us")
    for r in results["behaviors"]:
        print(f"    {r['behaviors']:>5} {r['plan_p50_us']:>9} {r['plan_p99_us']:>9}")


def plot_scaling(results: dict[str, Any], path: str) -> None:
    """The three scaling curves in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    draw_scaling(results, axes)
    fig.suptitle("robo-orch bench: scaling")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_scaling(results: dict[str, Any], axes) -> None:
    """Draw the three scaling curves into three matplotlib axes."""
    rays = results["rays"]
    x = [r["rays"] for r in rays]
    axes[0].plot(x, [r["tick_p50_us"] for r in rays], "o-", label="tick p50")
    axes[0].plot(x, [r["tick_p99_us"] for r in rays], "s--", label="tick p99")
    axes[0].set_xlabel("lidar rays")
    axes[0].set_ylabel("tick compute (us)")
    twin = axes[0].twinx()
    twin.plot(x, [r["realtime_factor"] for r in rays], "^:", color="tab:green",
              label="realtime factor")
    twin.set_ylabel("lockstep realtime factor (x)")
    axes[0].legend(loc="upper left", fontsize=8)
    twin.legend(loc="upper right", fontsize=8)
    dwa = results["dwa"]
    axes[1].plot([r["rollouts"] for r in dwa], [r["p50_us"] for r in dwa], "o-", label="p50")
    axes[1].plot([r["rollouts"] for r in dwa], [r["p99_us"] for r in dwa], "s--", label="p99")
    axes[1].set_xlabel("DWA rollouts (v x w samples, 30 steps)")
    axes[1].set_ylabel("kernel time (us)")
    axes[1].legend(fontsize=8)
    beh = results["behaviors"]
    axes[2].plot([r["behaviors"] for r in beh], [r["plan_p50_us"] for r in beh], "o-",
                 label="p50")
    axes[2].plot([r["behaviors"] for r in beh], [r["plan_p99_us"] for r in beh], "s--",
                 label="p99")
    axes[2].set_xscale("log", base=2)
    axes[2].set_xlabel("scheduled behaviors")
    axes[2].set_ylabel("planning step (us)")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
