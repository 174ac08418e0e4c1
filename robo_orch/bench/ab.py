"""A/B throughput against another checkout (the base commit), alternating rounds.

Loop speed-ups also speed up the ``before`` variant of the ``runner`` section and
the demo of the ``sim`` section, which run this checkout's loop: a same-run
baseline of the *old* code needs the old code.  This script runs the same
measurements in a checkout of the base commit (its own venv) and in this one, in
alternating order (ABBA), and prints the figures, medians and ratios::

    git clone -q REPO /tmp/base && git -C /tmp/base checkout -q BASE_COMMIT
    python3 -m venv /tmp/base/.venv && /tmp/base/.venv/bin/pip install -q -e /tmp/base
    python -m robo_orch.bench.ab --base /tmp/base --rounds 3 [--full] [--json out.json]

Measured per side and round:

* ``demo``: the demo mission in lockstep in two warm processes (one per side, after
  a warm-up run), run by run in turn (ABBA): the realtime factor (simulated s per
  wall s), CPU microseconds per tick and tick time p99 of each run; the ratio is the median of the
  per-pair ratios, so slow changes in the machine's load cancel;
* ``message``: publish, poll and take of one odometry message on a memory hub (the
  best of 7 timeit repeats, three processes per side in turn);
* ``suite``: the scenario suite (``runner`` section sizes: quick 3 scenarios x 2
  seeds, ``--full`` all x 4; only the scenarios both checkouts ship, so that a scenario
  added since the base, with its own speed, does not count as the code's): simulated
  s per wall s of ``before`` (a new process pool per suite whose runs each load their
  config and kernels: the pre-runner figure) with ``--jobs 1`` and ``2``, and of a
  warm runner (the second suite on one :class:`~robo_orch.missions.runner.Runner`) with
  ``--jobs 1`` and ``2``;
* ``per_scenario`` (``--per-scenario``): each scenario both checkouts ship, seed 1, in
  a warm process per side and round: the median wall time per lockstep tick of 5 runs,
  and per scenario the median of the per-round ratios (which scenarios gained, which
  did not).

Only APIs both checkouts share are used (``load_config``, ``run_mission``, ``Runner``,
``robo_orch.bench.runner``).  Ratios: this checkout's over the base's, and this
checkout's warm ``--jobs 2`` over the base's ``before --jobs 2`` (issue 13's
throughput target) and over its own warm ``--jobs 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from robo_orch.bench.measure import write_json

_DEMO = r"""
import json, sys, time
from robo_orch.config import load_config
from robo_orch.missions.report import summarize
from robo_orch.missions.session import run_mission
cfg = load_config(None)
run_mission(cfg, backend="lockstep", seed=1)
print("ready", flush=True)
for line in sys.stdin:
    c0 = time.process_time()
    r = run_mission(cfg, backend="lockstep", seed=1)
    c1 = time.process_time()
    print(json.dumps({"rtf": r.truth.sim_time_s / r.wall_time_s,
                      "cpu_us_per_tick": (c1 - c0) / r.stats.ticks * 1e6,
                      "tick_p99_us": r.stats.tick.summary_us()["p99"]}), flush=True)
"""

_MESSAGE = r"""
import json, sys, timeit
from robo_orch.bus import MemoryHub, QoS, make_bus
from robo_orch.clock import make_clock
from robo_orch.messages import message_type, new_fixed
clock, hub = make_clock("sim"), MemoryHub()
tx = make_bus("memory", clock, publisher_id=1, hub=hub)
rx = make_bus("memory", clock, publisher_id=2, hub=hub)
odom = message_type("wheel_odometry")
pub, sub = tx.publisher("odom", odom), rx.subscribe("odom", odom, QoS.latest())
msg = new_fixed(odom)
def cycle():
    pub.publish(msg, stamp_ns=5)
    sub.poll()
    sub.latest()
n = 20000
print(json.dumps({"message_us": min(timeit.repeat(cycle, number=n, repeat=7)) / n * 1e6}))
"""

_SCENARIOS = r"""
import json
from robo_orch.config import shipped_scenarios
print(json.dumps([p.stem for p in shipped_scenarios()]))
"""

_SUITE = r"""
import json, sys, time
from pathlib import Path
from robo_orch.bench import runner as B
from robo_orch.config import shipped_scenarios
from robo_orch.missions import worker
from robo_orch.missions.runner import Runner

seeds, names = B.SIZES[sys.argv[1]]
names = sys.argv[2].split(",") if len(sys.argv) > 2 else names  # (both sides ship them)
paths = [str(p) for p in shipped_scenarios() if names is None or Path(p).stem in names]
tasks = [(p, s) for p in paths for s in range(1, seeds + 1)]
B._old_run_one(paths[0], 1)
out = {}
for jobs in (1, 2):
    sim, wall = B._before(tasks, jobs)
    out[f"before_j{jobs}"] = sim / wall
    worker.clear_caches()
    with Runner(jobs).start() as runner:
        B._suite(runner, tasks)
        sim, wall = B._suite(runner, tasks)
    out[f"warm_j{jobs}"] = sim / wall
print(json.dumps(out))
"""


_PER_SCENARIO = r"""
import json, statistics, sys, time
from pathlib import Path
from robo_orch.config import load_config, shipped_scenarios
from robo_orch.missions.session import run_mission

names, runs = sys.argv[1].split(","), int(sys.argv[2])
paths = {Path(p).stem: p for p in shipped_scenarios()}
out = {}
for name in names:
    cfg = load_config(paths[name])
    run_mission(cfg, backend="lockstep", seed=1)  # warm: kernels, grids, caches
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = run_mission(cfg, backend="lockstep", seed=1)
        walls.append(time.perf_counter() - t0)
    us = statistics.median(walls) / r.stats.ticks * 1e6
    out[name] = {"ticks": r.stats.ticks, "us_per_tick": us}
print(json.dumps(out))
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _side(python: str, cwd: Path, code: str, *args: str) -> Any:
    done = subprocess.run([python, "-c", code, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{python} in {cwd} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _demo_pairs(sides: dict[str, tuple[str, Path]], runs: int) -> list[dict[str, Any]]:
    """The demo mission run by run in turn in two warm processes (base, head, head,
    base, ...): each pair of runs sees nearly the same load on the machine."""
    procs = {side: subprocess.Popen([python, "-c", _DEMO], cwd=cwd, env=_env(), text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for side, (python, cwd) in sides.items()}
    try:
        for proc in procs.values():
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a demo process did not start")
        pairs = []
        for i in range(runs):
            pair = {}
            for side in (("base", "head") if i % 2 == 0 else ("head", "base")):
                procs[side].stdin.write("run\n")
                procs[side].stdin.flush()
                pair[side] = json.loads(procs[side].stdout.readline())
            pairs.append(pair)
        return pairs
    finally:
        for proc in procs.values():
            proc.stdin.close()
            proc.wait(timeout=60)


def _per_scenario(sides: dict[str, tuple[str, Path]], names: list[str], rounds: int,
                  runs: int = 5) -> dict[str, dict[str, Any]]:
    """Each scenario's lockstep tick (seed 1, median of ``runs`` in a warm process) on both
    sides, in alternating rounds; per scenario the medians and the median per-round ratio."""
    samples = []
    for r in range(rounds):
        order = ("base", "head") if r % 2 == 0 else ("head", "base")
        samples.append({side: _side(*sides[side], _PER_SCENARIO, ",".join(names), str(runs))
                        for side in order})
    out = {}
    for name in names:
        out[name] = {
            "ticks": {side: samples[0][side][name]["ticks"] for side in ("base", "head")},
            "us_per_tick": {side: round(statistics.median(s[side][name]["us_per_tick"]
                                                          for s in samples), 1)
                            for side in ("base", "head")},
            "base_over_head": round(statistics.median(
                s["base"][name]["us_per_tick"] / s["head"][name]["us_per_tick"]
                for s in samples), 3)}
    return out


def _quick_names() -> tuple[str, ...]:
    from robo_orch.bench.runner import SIZES

    return SIZES["quick"][1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the alternating rounds; print and return the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="checkout of the base commit")
    ap.add_argument("--base-python", help="its python (default: BASE/.venv/bin/python)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--demo-runs", type=int, default=20, help="demo runs per side, in turn")
    ap.add_argument("--full", action="store_true", help="every scenario x 4 seeds")
    ap.add_argument("--no-suite", action="store_true")
    ap.add_argument("--per-scenario", action="store_true",
                    help="also each scenario's tick on both sides (alternating rounds, "
                    "at least 2)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    base = Path(args.base).resolve()
    sides = {"base": (args.base_python or str(base / ".venv" / "bin" / "python"), base),
             "head": (sys.executable, Path(__file__).resolve().parents[2])}
    pairs = _demo_pairs(sides, args.demo_runs)
    messages = [{side: _side(*sides[side], _MESSAGE, "") for side in order}
                for order in (("base", "head"), ("head", "base"), ("base", "head"))]
    rounds: list[dict[str, Any]] = []
    # the scenarios both sides ship: the suite grows with the project, and a scenario's own
    # speed (a footprint robot's, say) would otherwise count as the code's
    common = sorted(set.intersection(*(set(_side(*sides[s], _SCENARIOS)) for s in sides)))
    size = "full" if args.full else "quick"
    names = common if args.full else [n for n in _quick_names() if n in common]
    for r in range(0 if args.no_suite else args.rounds):
        order = ("base", "head") if r % 2 == 0 else ("head", "base")
        row: dict[str, Any] = {"order": order}
        for side in order:
            python, cwd = sides[side]
            row[f"{side}_suite"] = _side(python, cwd, _SUITE, size, ",".join(names))
        rounds.append(row)
        print(f"suite round {r + 1} ({'/'.join(order)}, load {os.getloadavg()[0]:.1f}): "
              + json.dumps({k: v for k, v in row.items() if k != "order"}), flush=True)

    def med(side: str, name: str, key: str) -> float:
        return statistics.median(row[f"{side}_{name}"][key] for row in rounds)

    out: dict[str, Any] = {"demo_pairs": pairs, "messages": messages, "rounds": rounds,
                           "scenarios": names, "median": {}}
    m = out["median"]
    m["message_us"] = {s: round(statistics.median(p[s]["message_us"] for p in messages), 2)
                       for s in ("base", "head")}
    for key in ("rtf", "cpu_us_per_tick", "tick_p99_us"):
        m[f"demo_{key}"] = {s: round(statistics.median(p[s][key] for p in pairs), 1)
                            for s in ("base", "head")}
    m["demo_rtf_head_over_base"] = round(
        statistics.median(p["head"]["rtf"] / p["base"]["rtf"] for p in pairs), 2)
    m["demo_tick_p99_head_over_base"] = round(statistics.median(
        p["head"]["tick_p99_us"] / p["base"]["tick_p99_us"] for p in pairs), 2)
    m["demo_cpu_base_over_head"] = round(statistics.median(
        p["base"]["cpu_us_per_tick"] / p["head"]["cpu_us_per_tick"] for p in pairs), 2)
    if not args.no_suite:
        for key in ("before_j1", "before_j2", "warm_j1", "warm_j2"):
            m[f"suite_{key}"] = {s: round(med(s, "suite", key), 1) for s in ("base", "head")}
        m["head_warm_j2_over_base_before_j2"] = round(statistics.median(
            row["head_suite"]["warm_j2"] / row["base_suite"]["before_j2"] for row in rounds), 2)
        m["head_warm_j2_over_head_warm_j1"] = round(statistics.median(
            row["head_suite"]["warm_j2"] / row["head_suite"]["warm_j1"] for row in rounds), 2)
        m["base_warm_j2_over_base_before_j2"] = round(statistics.median(
            row["base_suite"]["warm_j2"] / row["base_suite"]["before_j2"] for row in rounds), 2)
    print("medians over rounds (ratios: median of the per-round ratios):")
    for key, value in m.items():
        print(f"  {key}: {value}")
    if args.per_scenario:
        out["per_scenario"] = _per_scenario(sides, common, max(2, args.rounds))
        print("each scenario's lockstep tick, seed 1 (us; base / head, median per-round ratio):")
        for name, row in out["per_scenario"].items():
            us = row["us_per_tick"]
            print(f"  {name:<20} {us['base']:>7} {us['head']:>7}  x{row['base_over_head']:.2f}"
                  f"  ({row['ticks']['head']} ticks)")
    write_json(args.json, out)
    return out


#: the base checkout for the ``throughput`` section of ``robo-orch bench``
BASE_ENV = "ROBO_ORCH_BENCH_BASE"


def bench_throughput(quick: bool = False) -> dict[str, Any]:
    """``robo-orch bench`` section ``throughput``: :func:`main` against the checkout named by
    ``$ROBO_ORCH_BENCH_BASE`` (skipped without it); quick: 8 demo pairs, one quick suite
    round; else 20 pairs and two rounds of the whole suite."""
    base = os.environ.get(BASE_ENV)
    if not base:
        print(f"  skipped: set {BASE_ENV} to a checkout of the base commit with its own .venv "
              "(see python -m robo_orch.bench.ab --help)")
        return {"skipped": f"{BASE_ENV} not set"}
    argv = ["--base", base] + (["--demo-runs", "8", "--rounds", "1"] if quick
                               else ["--demo-runs", "20", "--rounds", "2", "--full"])
    return main(argv)


if __name__ == "__main__":
    main()
