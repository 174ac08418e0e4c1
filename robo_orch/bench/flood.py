"""Flood benchmark: the demo mission while a foreign process floods one of its inputs.

The setup reproduces the issue's finding: the loop subscribes to an input that
nobody else publishes -- a GPS input, ``required = false``, on ``sensor/gps``
(the demo's simulator has no GPS) -- and a foreign process binds that topic's
endpoint in the run directory and sends malformed ``position_fix`` messages
(correct topic and header, a payload one byte too long, so every one gets as
far as the last check of decoding) as fast as a Python loop hands them to
ZeroMQ.  Any same-user process can do this to an input whose driver is not
running, and a faulty GPS driver would do it from the inside.  The loop's SUB
socket connects to the flooder like to any publisher.

The mission runs in real time (the simulator in its own process, ZeroMQ),
alternately without and with the flood, in pairs, in the same run; the figures
are the loop's tick (sense + plan + act) p99 and max, the sense phase's p99,
overruns, the goal, and the actuator deadman (the simulator's), with medians
over the pairs.  The quick variant runs one short pair and does not wait for
the goal.

The second figure is the per-publisher sequence table: a subscription hears
one message from each of many random publisher ids, and the memory the
process grew by is measured (RSS, a fresh process per case) with the table's
bound and with the bound lifted (what the code did before it had one).

``python -m robo_orch.bench.flood [--quick]`` prints a whole run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from robo_orch.bench.measure import write_json

GPS_TOPIC = "sensor/gps"
#: the mission's overrides: an input nobody publishes, where the flooder binds
GPS_INPUT = (f"inputs.gps.topic={GPS_TOPIC}", "inputs.gps.required=false")


def _flood(endpoint: str) -> int:
    """The foreign process: bind ``endpoint`` and send malformed messages until SIGTERM."""
    import zmq

    from robo_orch import messages as m

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    fixed = m.new_fixed(m.POSITION_FIX)
    topic, head, payload = m.encode(m.POSITION_FIX, GPS_TOPIC, fixed, seq=1, stamp_ns=0,
                                    publisher_id=666)
    frames = [topic, head, payload + b"\0"]  # decode refuses it at its last check: size
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    send = sock.send_multipart
    sent = 0
    t0 = time.perf_counter()
    while not stop:
        for _ in range(1000):
            send(frames)  # a PUB never blocks: at its high-water mark it drops
        sent += 1000
    seconds = time.perf_counter() - t0
    sock.close()
    ctx.term()
    print(json.dumps({"sent": sent, "seconds": seconds}), flush=True)
    return 0


class _Flooder:
    """The flooding process of one mission."""

    def __init__(self, run_dir: str) -> None:
        path = os.path.join(run_dir, GPS_TOPIC.replace("/", ".") + ".sock")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robo_orch.bench.flood", "flood", "--endpoint",
             "ipc://" + path], stdout=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while not os.path.exists(path):  # bound before the loop connects
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the flooding process did not start")
            time.sleep(0.02)

    def stop(self) -> dict[str, Any]:
        """Stop it; what it sent."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
            return json.loads(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            self.proc.kill()
            self.proc.wait()
            return {"sent": 0, "seconds": 0.0}


def _mission(flood: bool, duration_s: float | None) -> dict[str, Any]:
    """One real-time demo mission, with or without the flooder; its figures."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    run_dir = tempfile.mkdtemp(prefix="robo_orch-flood-")
    overrides = (*GPS_INPUT, f"bus.run_dir={run_dir}")
    flooder = _Flooder(run_dir) if flood else None
    try:
        result = run_mission(load_config(None, overrides), backend="realtime",
                             overrides=overrides, duration_s=duration_s)
    finally:
        sent = flooder.stop() if flooder is not None else {"sent": 0, "seconds": 0.0}
        shutil.rmtree(run_dir, ignore_errors=True)
    s = summarize(result)
    gps = s["inputs"]["gps"]
    return {"tick_p99_us": s["tick_time_us"]["p99"], "tick_max_us": s["tick_time_us"]["max"],
            "sense_p99_us": s["phase_time_us"]["sense"]["p99"], "overruns": s["overruns"],
            "ticks": s["ticks"], "goal_reached": s["goal_reached"],
            "time_to_goal_s": s["time_to_goal_s"], "deadman_stops": s["deadman_stops"],
            "collisions": s["collisions"], "end_reason": s["end_reason"],
            "gps_malformed": gps["malformed"], "gps_dropped": gps["dropped"],
            "gps_disconnects": gps.get("disconnects", 0),
            "flood_sent": sent["sent"],
            "flood_rate_per_s": round(sent["sent"] / sent["seconds"]) if sent["seconds"] else 0}


def bench_pairs(pairs: int, duration_s: float | None) -> dict[str, Any]:
    """``pairs`` missions without and with the flood, alternating; medians and every run."""
    runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "flood": []}
    for _ in range(pairs):
        runs["quiet"].append(_mission(False, duration_s))
        runs["flood"].append(_mission(True, duration_s))

    def med(kind: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[kind]), 1)

    out: dict[str, Any] = {"pairs": pairs, "duration_s": duration_s, "runs": runs}
    for key in ("tick_p99_us", "tick_max_us", "sense_p99_us", "overruns", "deadman_stops",
                "gps_malformed", "gps_dropped", "flood_sent", "flood_rate_per_s"):
        out[key] = {kind: med(kind, key) for kind in runs}
    out["goal_reached"] = {kind: sum(r["goal_reached"] for r in runs[kind]) for kind in runs}
    out["collisions"] = {kind: sum(r["collisions"] for r in runs[kind]) for kind in runs}
    return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _table(ids: int, bounded: bool) -> dict[str, Any]:
    """One subscription hears one message from each of ``ids`` random publisher ids."""
    import gc

    import numpy as np

    from robo_orch import messages as m
    from robo_orch.bus import MemoryHub, TopicCounters, make_bus
    from robo_orch.clock import make_clock

    hub = MemoryHub()
    tx = make_bus("memory", make_clock("sim"), publisher_id=1, hub=hub)
    rx = make_bus("memory", make_clock("sim"), publisher_id=2, hub=hub)
    batch = 4096
    sub = rx.subscribe("cmd/estop", m.ESTOP, hwm=batch, max_per_poll=batch)
    if not bounded:  # the bound lifted: what every subscription did before it had one
        sub.counters = TopicCounters("cmd/estop", max_publishers=1 << 62)
    pids = np.random.default_rng(0).choice(1 << 32, ids, replace=False).tolist()
    fixed = m.new_fixed(m.ESTOP)
    head = m.HEADER
    topic, header, payload = m.encode(m.ESTOP, "cmd/estop", fixed, seq=1, stamp_ns=0)
    fields = list(head.unpack(header))
    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter()
    for start in range(0, ids, batch):
        for pid in pids[start:start + batch]:
            fields[4] = pid
            tx.send_raw("cmd/estop", [topic, head.pack(*fields), payload])
        sub.poll()
    seconds = time.perf_counter() - t0
    gc.collect()
    grown = _rss_bytes() - before
    c = sub.counters
    return {"ids": ids, "bounded": bounded, "rss_growth_mib": round(grown / 2**20, 1),
            "publishers": c.publishers, "evicted": c.publishers_evicted,
            "received": c.received, "seconds": round(seconds, 2)}


def bench_table(ids: int) -> dict[str, Any]:
    """The sequence table's memory for ``ids`` publisher ids, bound lifted and bounded."""
    out = {}
    for bounded in (False, True):
        cmd = [sys.executable, "-m", "robo_orch.bench.flood", "table", "--ids", str(ids)]
        if bounded:
            cmd.append("--bounded")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        out["bounded" if bounded else "unbounded"] = json.loads(done.stdout)
    return out


def print_flood(r: dict[str, Any]) -> None:
    """Readable lines of :func:`bench_flood`'s results."""
    f = r["flood"]
    what = (f"{f['duration_s']:g} s" if f["duration_s"] else "to the goal")
    print(f"  input flood (demo mission, realtime, {what}; a foreign process floods "
          f"{GPS_TOPIC} with malformed messages; medians of {f['pairs']} quiet/flood pairs):")
    t99, tmax, s99 = f["tick_p99_us"], f["tick_max_us"], f["sense_p99_us"]
    print(f"    tick p99 {t99['quiet'] / 1e3:.2f} ms quiet, {t99['flood'] / 1e3:.2f} ms flooded; "
          f"max {tmax['quiet'] / 1e3:.2f} / {tmax['flood'] / 1e3:.2f} ms; sense p99 "
          f"{s99['quiet'] / 1e3:.2f} / {s99['flood'] / 1e3:.2f} ms; overruns "
          f"{f['overruns']['quiet']:g} / {f['overruns']['flood']:g}")
    print(f"    goal reached {f['goal_reached']['quiet']}/{f['pairs']} quiet, "
          f"{f['goal_reached']['flood']}/{f['pairs']} flooded; deadman stops "
          f"{f['deadman_stops']['quiet']:g} / {f['deadman_stops']['flood']:g}; collisions "
          f"{f['collisions']['quiet']} / {f['collisions']['flood']}; the flooder sent "
          f"{f['flood_rate_per_s']['flood']:,.0f} messages/s, the loop decoded "
          f"{f['gps_malformed']['flood']:,.0f} (malformed) and dropped "
          f"{f['gps_dropped']['flood']:,.0f} undecoded")
    t = r["table"]
    u, b = t["unbounded"], t["bounded"]
    print(f"  publisher-id table, {u['ids']:,} random publisher ids on one subscription: "
          f"+{u['rss_growth_mib']} MiB with the bound lifted, +{b['rss_growth_mib']} MiB "
          f"bounded ({b['publishers']} kept, {b['evicted']:,} evicted)")


def bench_flood(quick: bool = False) -> dict[str, Any]:
    """The flood and publisher-table benchmark for ``robo-orch bench``; prints, returns."""
    out = {"flood": bench_pairs(1, 4.0) if quick else bench_pairs(3, None),
           "table": bench_table(100_000 if quick else 1_000_000)}
    print_flood(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m robo_orch.bench.flood [--quick]``; ``flood``/``table``: the child processes."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.flood")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    sub = parser.add_subparsers(dest="child")
    flood = sub.add_parser("flood")
    flood.add_argument("--endpoint", required=True)
    table = sub.add_parser("table")
    table.add_argument("--ids", type=int, required=True)
    table.add_argument("--bounded", action="store_true")
    args = parser.parse_args(argv)
    if args.child == "flood":
        return _flood(args.endpoint)
    if args.child == "table":
        print(json.dumps(_table(args.ids, args.bounded)))
        return 0
    results = bench_flood(args.quick)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
