"""What live parameter changes cost a 1 kHz loop, and whether each takes effect within one tick.

Two real-time runs of the demo mission at ``loop.rate_hz = 1000`` (the realtime
simulator in its own process, the loop in this one), each with a client process
on the loop's control endpoint sending :data:`REQUEST_HZ` requests a second over
ipc (on absolute deadlines, so both runs carry the same traffic):

* ``changes``: ``count`` random live changes (``param.set`` of one to three keys
  drawn from :data:`RANGES`, random values in range, all validated by the loop);
* ``baseline``: ``param.get`` of the same keys instead: the same run and the same
  control traffic, without changes.

The two alternate ``rounds`` times (so a load change on a shared machine hits both
alike).  Each reports tick compute time (sense + plan + act: p50, p99, max), overruns (ticks
that ended after their deadline) and ticks run; the changes run also counts the
changes that took effect within one tick (the reply's ``ticks_waited``: the loop
ran the change from the very next tick after the one that served the request).  The robot is slowed
(``safety.max_speed = 0.1``) so the mission outlasts the requests.

``python -m robo_orch.bench.params [--quick] [--count N] [--rounds R]`` runs this section
alone; in ``robo-orch bench`` it is the ``params`` section of the
``robo_orch.benchmarks`` registry group.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

#: live keys the benchmark changes, and the range of their random values
RANGES: dict[str, tuple[float, float]] = {
    "safety.max_accel": (0.5, 1.5),
    "safety.max_yaw_accel": (3.0, 8.0),
    "safety.collision_margin": (0.03, 0.08),
    "behaviors.go_to_goal.k_heading": (1.0, 3.0),
    "behaviors.follow_path.lookahead": (0.4, 0.8),
    "behaviors.avoid_obstacles.heading_weight": (0.3, 0.7),
    "behaviors.avoid_obstacles.clearance_weight": (0.2, 0.6),
    "behaviors.avoid_obstacles.speed_weight": (0.2, 0.4),
}
RATE_HZ = 1000.0
REQUEST_HZ = 400.0  #: requests a second (a change's reply takes a tick or two)
OVERRIDES = ("loop.rate_hz=1000", "safety.max_speed=0.1", "safety.max_reverse=0.05",
             "mission.time_limit_s=100000")


def random_change(rng: random.Random) -> dict[str, float]:
    """One to three keys of :data:`RANGES` with random values in range."""
    keys = rng.sample(sorted(RANGES), rng.randint(1, 3))
    return {k: round(rng.uniform(*RANGES[k]), 4) for k in keys}


def bench_params(quick: bool = False, *, count: int | None = None, rounds: int | None = None,
                 seed: int = 1) -> dict[str, Any]:
    """The baseline and the changes runs (module doc), alternating ``rounds`` times so a load
    change on a shared machine hits both alike; ``count`` requests in all, per kind."""
    count = count or (300 if quick else 10_000)
    rounds = rounds or (1 if quick else 2)  # quick: each run starts a real-time sim
    per_round = max(1, count // rounds)
    out: dict[str, Any] = {"rate_hz": RATE_HZ, "requests": per_round * rounds,
                           "request_hz": REQUEST_HZ, "rounds": rounds, "seed": seed,
                           "overrides": list(OVERRIDES)}
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "changes": []}
    for r in range(rounds):
        for kind in runs:
            runs[kind].append(_measure(kind, per_round, seed + r))
    for kind, results in runs.items():
        out[kind] = _combine(results)
    base, changed = out["baseline"], out["changes"]
    out["tick_p99_ratio"] = (round(changed["tick_us"]["p99"] / base["tick_us"]["p99"], 3)
                             if base["tick_us"]["p99"] else None)
    print_params(out)
    return out


def _combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one kind: counts summed, timing figures as the median over the rounds."""
    out: dict[str, Any] = {"rounds": results}
    for key in ("ticks", "overruns", "skipped_slots", "sent", "refused", "applied",
                "within_one_tick", "late_requests"):
        if all(key in r for r in results):
            out[key] = sum(r[key] for r in results)
    for key in ("max_ticks_waited", "max_index_gap"):
        if all(key in r for r in results):
            out[key] = max(r[key] for r in results)
    for key in ("tick_us", "sense_us"):
        out[key] = {q: statistics.median(r[key][q] for r in results)
                    for q in ("p50", "p99", "max")}
    return out


def _measure(kind: str, count: int, seed: int) -> dict[str, Any]:
    """One real-time run with a client sending ``count`` requests of ``kind``."""
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    run_dir = tempfile.mkdtemp(prefix="ro-prm-", dir="/tmp")  # ipc paths: short
    overrides = (*OVERRIDES, f'bus.run_dir="{run_dir}"')
    client = subprocess.Popen(
        [sys.executable, "-m", "robo_orch.bench.params", "client", "--run-dir", run_dir,
         "--count", str(count), "--seed", str(seed), "--kind", kind],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    window: dict[str, int] = {}

    def progress(ctl) -> None:
        tick = ctl.completed_tick
        if tick % 200 == 0 and client.poll() is not None:
            ctl.time_limit_s = 0.0  # the client is done: end the run at this tick
            window.setdefault("end", tick)

    try:
        result = run_mission(load_config(None, overrides), backend="realtime",
                             overrides=overrides, duration_s=count * 0.01 + 120.0,
                             progress=progress)
    finally:
        if client.poll() is None:
            client.kill()
        report, _ = client.communicate(timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)
    st = result.stats
    figures = json.loads(report) if report.strip() else {"error": "the client reported nothing"}
    return {"ticks": st.ticks, "overruns": st.overruns, "skipped_slots": st.skipped,
            "tick_us": st.tick.summary_us(), "sense_us": st.phase["sense"].summary_us(),
            "end_reason": result.controller.end_reason,
            "applied": result.controller.live.applied, **figures}


def print_params(out: dict[str, Any]) -> None:
    """The section as a few lines."""
    print(f"  live parameter changes at {out['rate_hz']:g} Hz, {out['requests']} requests at "
          f"{out['request_hz']:g}/s from another process (realtime demo mission; baseline: "
          f"param.get of the same keys), {out['rounds']} alternating rounds (timing: median "
          "over the rounds):")
    print("    run        ticks  overruns  tick p50 / p99 / max us   sense p99 us")
    for kind in ("baseline", "changes"):
        r = out[kind]
        t = r["tick_us"]
        print(f"    {kind:<9} {r['ticks']:>6} {r['overruns']:>9}  {t['p50']:>8.1f} "
              f"{t['p99']:>8.1f} {t['max']:>9.1f}   {r['sense_us']['p99']:>10.1f}")
    c = out["changes"]
    if "within_one_tick" in c:
        print(f"    {c['within_one_tick']} of {c['sent']} changes took effect within one "
              f"tick (the next tick the loop ran; most ticks waited {c['max_ticks_waited']}; "
              f"tick index gap up to {c['max_index_gap']} where overruns skipped slots); "
              f"{c['refused']} refused, {c['applied']} applied by the loop")
        print(f"    tick p99 with changes / without: {out['tick_p99_ratio']}")
    else:
        print(f"    changes: {c.get('error')}")


# --- the client process -------------------------------------------------------------------

def _client(run_dir: str, count: int, seed: int, kind: str) -> dict[str, Any]:
    from robo_orch.control.client import ControlClient, find_control

    deadline = time.monotonic() + 120
    while True:  # the loop is starting: wait until it ticks
        try:
            with ControlClient(find_control(run_dir)) as client:
                if client.call("ping", timeout_s=1.0)["result"]["tick"] > 0:
                    break
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
    rng = random.Random(seed)
    gaps: list[int] = []  # tick indices from the request to the change
    waits: list[int] = []  # ticks the loop ran from the request to the change
    refused = late = 0
    t0 = time.monotonic()
    with ControlClient(find_control(run_dir)) as client:
        for i in range(count):
            delay = t0 + i / REQUEST_HZ - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                late += 1
            change = random_change(rng)
            if kind == "baseline":
                reply = client.call("param.get", {"keys": list(change)}, timeout_s=10)
                refused += not reply.get("ok")
                continue
            reply = client.call("param.set", {"changes": change}, timeout_s=10)
            if not reply.get("ok"):
                refused += 1
                continue
            res = reply["result"]
            waits.append(res["ticks_waited"])
            gaps.append(res["tick"] - res["requested_tick"])
    elapsed = time.monotonic() - t0
    out: dict[str, Any] = {"sent": count, "elapsed_s": round(elapsed, 2), "refused": refused,
                           "requests_per_s": round(count / elapsed, 1) if elapsed else None,
                           "late_requests": late}
    if kind == "changes":
        out.update(within_one_tick=sum(w <= 1 for w in waits),
                   max_ticks_waited=max(waits, default=0), max_index_gap=max(gaps, default=0))
    return out


def main(argv: list[str] | None = None) -> int:
    """This section alone, or (``client ...``) the client process of one run."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.params")
    sub = parser.add_subparsers(dest="what")
    client = sub.add_parser("client")
    client.add_argument("--run-dir", required=True)
    client.add_argument("--count", type=int, required=True)
    client.add_argument("--seed", type=int, default=1)
    client.add_argument("--kind", choices=("baseline", "changes"), required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, help="requests of each kind in all (default "
                        "10,000; --quick 300)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 2; --quick 1)")
    args = parser.parse_args(argv)
    if args.what == "client":
        print(json.dumps(_client(args.run_dir, args.count, args.seed, args.kind)), flush=True)
        return 0
    bench_params(args.quick, count=args.count, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
