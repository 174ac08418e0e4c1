"""The fault campaign as a benchmark, and a real-time sample with the real drivers.

* campaign: ``robo-orch faults`` on the warm-worker runner with ``--jobs 2``: the
  quick variant a few hundred injections on three scenarios, the full one every
  shipped scenario until at least 10,000 injections; the table per fault kind and the
  targets (0 contacts, stale stops within max_age + 1 tick, e-stop within 1 tick,
  every recoverable fault resumed, every mission completed);
* real-time sample (full only): the hardware config with ``--devices serial`` (real
  driver processes on pseudo-terminals, wall clock): each of the motor, lidar and IMU
  drivers killed mid-mission in turn, timed from the kill to a zero command, to the
  robot's standstill, to the driver's data back (restarted by the supervisor), to
  motion; then the mission with garbage bytes on every serial line.

Registered in the ``robo_orch.benchmarks`` group.
"""

from __future__ import annotations

import math
import tempfile
import time
from typing import Any

#: per mode: (scenarios (None: every shipped one), runs per scenario)
SIZES = {"quick": (("maze", "doorway", "cluttered_random"), 12), "full": (None, 160)}
#: the drivers the real-time sample kills, with the input each one feeds
KILLS = (("motors", "odom"), ("lidar", "scan"), ("imu", "imu"))
GARBAGE_RATE = 0.2  #: chance per frame of garbage bytes before it, on every serial line


def campaign(quick: bool, jobs: int = 2, seed: int = 1) -> dict[str, Any]:
    """Run the campaign; print its table and headline; return the figures."""
    from robo_orch.config import shipped_scenarios
    from robo_orch.missions import faults as F
    from robo_orch.missions.runner import Runner

    names, runs = SIZES["quick" if quick else "full"]
    names = list(names or (p.stem for p in shipped_scenarios()))
    t0 = time.perf_counter()
    with Runner(jobs) as runner:
        records, errors, stats = F.run_campaign(F.specs(names, runs, seed), runner)
    wall = time.perf_counter() - t0
    rows = F.table_rows(records)
    totals = F.totals(records, errors, wall, stats.sim_s)
    print(f"  fault campaign ({len(names)} scenarios x {runs} runs, seed {seed}, --jobs {jobs}; "
          "times in s, worst / p99):")
    print("\n".join("    " + line for line in F.format_table(rows).splitlines()))
    print("    " + F.headline(totals))
    for scenario, index in totals["failed_runs"][:5]:
        spec = next(r["spec"] for r in records if (r["scenario"], r["index"]) == (scenario,
                                                                                   index))
        print(f"    FAILED: {F.replay_command(spec)}")
    return {"scenarios": names, "runs_per_scenario": runs, "totals": totals, "table": rows,
            "markdown": F.markdown_table(rows)}


def _serial_mission(run_dir: str, overrides: tuple[str, ...], on_tick=None) -> Any:
    from robo_orch.config import embedded_config_path, load_config
    from robo_orch.missions.session import run_mission

    path = str(embedded_config_path("robot"))
    overrides = (f'bus.run_dir="{run_dir}"', *overrides)
    config = load_config(path, overrides)
    return run_mission(config, backend="realtime", config_path=path, overrides=overrides,
                       devices="serial", progress=on_tick)


class _KillWatch:
    """Kills the drivers one after the other and times the reaction to each."""

    def __init__(self) -> None:
        self.todo = list(KILLS)
        self.events: list[dict[str, Any]] = []
        self.truth = None
        self.next_at = 4.0
        self.current: dict[str, Any] | None = None

    def __call__(self, ctl: Any) -> None:
        from robo_orch.bus import QoS
        from robo_orch.core import world as W
        from robo_orch.missions.fault_inject import MOVE_V, MOVE_W, STILL_V, STILL_W

        if self.truth is None:
            self.truth = ctl.bus.subscribe(ctl.config.topics.truth, "pose2d", QoS.latest())
            self.v = self.w = 0.0
        if self.truth.poll():
            msg = self.truth.latest()
            if msg is not None:
                self.v, self.w = float(msg.fixed["v"]), float(msg.fixed["w"])
        t = float(ctl.world.state[W.T])
        ev = self.current
        if ev is None:
            if self.todo and t >= self.next_at and not ctl.world.state[W.GOAL_REACHED]:
                name, role = self.todo.pop(0)
                child = ctl.backend.supervisor.children[name]
                self.current = {"driver": name, "input": role, "t_kill": t,
                                "restarts_before": child.restarts, "zero_command_s": None,
                                "standstill_s": None, "data_back_s": None, "motion_s": None,
                                "stale_seen": False}
                child.proc.kill()
            return
        since = t - ev["t_kill"]
        if ev["zero_command_s"] is None and ctl.planner.cmd[0] == 0.0 \
                and ctl.planner.cmd[1] == 0.0:
            ev["zero_command_s"] = round(since, 4)
        if ev["standstill_s"] is None and abs(self.v) < STILL_V and abs(self.w) < STILL_W:
            ev["standstill_s"] = round(since, 4)
        stale = ctl.sensing.checks.stale(ev["input"], ctl.now_ns,
                                         ctl.sensing.max_age_ns[ev["input"]])
        ev["stale_seen"] |= stale
        if ev["data_back_s"] is None and ev["stale_seen"] and not stale:
            ev["data_back_s"] = round(since, 4)
        if ev["data_back_s"] is not None and ev["motion_s"] is None and (
                abs(self.v) > MOVE_V or abs(self.w) > MOVE_W):
            ev["motion_s"] = round(since, 4)
        if ev["motion_s"] is not None or since > 30.0:
            ev["restarts"] = ctl.backend.supervisor.children[ev["driver"]].restarts - \
                ev.pop("restarts_before")
            self.events.append(ev)
            self.current = None
            self.next_at = t + 2.0


def realtime_sample() -> dict[str, Any]:
    """Driver kills and serial garbage with ``--devices serial``; printed and returned."""
    from robo_orch.missions.report import summarize

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="robo_orch-bench-") as run_dir:
        watch = _KillWatch()
        result = _serial_mission(run_dir, ("mission.time_limit_s=120",), watch)
        s = summarize(result)
        out["kills"] = {"events": watch.events, "goal_reached": s["goal_reached"],
                        "collisions": s["collisions"], "sim_time_s": s["sim_time_s"]}
    print("  real time, --devices serial (real driver processes on ptys), each driver killed "
          "mid-mission (s from the kill):")
    for ev in watch.events:
        print(f"    {ev['driver']:<7} zero command {_s(ev['zero_command_s'])}, standstill "
              f"{_s(ev['standstill_s'])}, data back {_s(ev['data_back_s'])} "
              f"({ev['restarts']} restart), motion {_s(ev['motion_s'])}")
    print(f"    mission: {'goal reached' if s['goal_reached'] else s['end_reason']} in "
          f"{s['sim_time_s']:.1f} s, {s['collisions']} collisions")
    runs = {}
    for label, rate in (("clean", 0.0), ("garbage", GARBAGE_RATE)):
        with tempfile.TemporaryDirectory(prefix="robo_orch-bench-") as run_dir:
            sets = tuple(f"sim.faults.{name}.garbage_rate={rate}"
                         for name in ("motors", "lidar", "imu", "gps")) if rate else ()
            s = summarize(_serial_mission(run_dir, sets))
        runs[label] = {"goal_reached": s["goal_reached"], "time_to_goal_s": s["time_to_goal_s"],
                       "safety_stops": s["safety_stops"], "collisions": s["collisions"]}
    out["garbage"] = {"rate": GARBAGE_RATE, **runs}
    print(f"    garbage bytes before {100 * GARBAGE_RATE:.0f}% of the frames on every serial "
          f"line: goal in {_s(runs['garbage']['time_to_goal_s'])} (clean "
          f"{_s(runs['clean']['time_to_goal_s'])}), {runs['garbage']['safety_stops']} safety "
          f"stops (clean {runs['clean']['safety_stops']}), {runs['garbage']['collisions']} "
          "collisions")
    return out


def _s(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.2f} s"


def bench_faults(quick: bool = False) -> dict[str, Any]:
    """The campaign (and, full only, the real-time sample)."""
    out = {"campaign": campaign(quick)}
    if not quick:
        out["realtime"] = realtime_sample()
    return out


if __name__ == "__main__":
    import sys

    if "--realtime" in sys.argv:
        realtime_sample()
    else:
        bench_faults(quick="--quick" in sys.argv)
