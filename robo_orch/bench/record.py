"""Recording benchmark: what recording costs the loop, and how fast a recording replays.

The demo mission runs with a 100 Hz loop, alternately without and with recording
(same config and seed), in lockstep and in realtime (the simulator in its own
process, ZeroMQ), and the medians over the rounds are compared:

* the tick (sense + plan + act, what the issue's target is about) p50 and p99;
* the act phase, where the tick tap notes the tick (its records are made at the
  next tick's start, timed in the backend phase with the lockstep feed and the
  realtime pipe writes);
* the wall time of the lockstep run, which waits while the recorder process
  writes each batch.

The lockstep recording is then replayed at maximum rate onto a memory bus (the
cost per message does not depend on the recording's length, so the factor holds
for a one-hour recording).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RATE = ("loop.rate_hz=100", "behaviors.avoid_obstacles.divisor=10")


def _mission(backend: str, record_path: str | None, duration_s: float | None) -> dict[str, Any]:
    from robo_orch.config import load_config
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    config = load_config(None, RATE)
    recorder = None
    if record_path:
        from robo_orch.record.writer import Recorder, RecordOptions

        recorder = Recorder(RecordOptions(record_path))
        recorder.start()  # as `--record` does: the process loads while the run starts
    t0 = time.perf_counter()
    try:
        result = run_mission(config, backend=backend, seed=1, duration_s=duration_s,
                             on_start=recorder.attach if recorder else None)
    finally:
        rec = recorder.close() if recorder else None
    wall = time.perf_counter() - t0
    s = summarize(result)
    phases = s["phase_time_us"]
    return {"tick_p50": s["tick_time_us"]["p50"], "tick_p99": s["tick_time_us"]["p99"],
            "act_p50": phases["act"]["p50"], "backend_p50": phases["backend"]["p50"],
            "ticks": result.stats.ticks, "wall_s": wall,
            "messages": rec.messages if rec else 0,
            "raw": sum(rec.raw.values()) if rec else 0,
            "lost": sum(rec.lost.values()) if rec else 0,
            "stopped": rec.stopped if rec else None}


def _pairs(backend: str, rounds: int, duration_s: float | None, path: str) -> dict[str, Any]:
    off, on = [], []
    for _ in range(rounds):
        off.append(_mission(backend, None, duration_s))
        on.append(_mission(backend, path, duration_s))

    def med(runs, key):
        return round(statistics.median(r[key] for r in runs), 2)

    out: dict[str, Any] = {"rounds": rounds}
    for key in ("tick_p50", "tick_p99", "act_p50", "backend_p50", "wall_s"):
        out[key] = {"off": med(off, key), "on": med(on, key)}
    p99 = out["tick_p99"]
    out["tick_p99_change_pct"] = round((p99["on"] - p99["off"]) / p99["off"] * 100, 1) \
        if p99["off"] else None
    # the spread says how much of a change is the machine's noise
    out["tick_p99_range"] = {"off": [min(r["tick_p99"] for r in off),
                                     max(r["tick_p99"] for r in off)],
                             "on": [min(r["tick_p99"] for r in on),
                                    max(r["tick_p99"] for r in on)]}
    p50 = out["tick_p50"]
    out["tick_p50_cost_us"] = round(p50["on"] - p50["off"], 1)
    out["records_cost_us"] = round(out["backend_p50"]["on"] - out["backend_p50"]["off"], 1)
    out["messages"] = on[-1]["messages"]
    out["raw"] = on[-1]["raw"]
    out["lost"] = max(r["lost"] for r in on)
    out["stopped"] = next((r["stopped"] for r in on if r["stopped"]), None)
    return out


def _show(name: str, r: dict[str, Any]) -> None:
    t50, t99, act, back = r["tick_p50"], r["tick_p99"], r["act_p50"], r["backend_p50"]
    spread = r["tick_p99_range"]
    print(f"  recording, {name} (median of {r['rounds']} off/on pairs): tick p50 "
          f"{t50['off']} -> {t50['on']} us ({r['tick_p50_cost_us']:+} us), p99 {t99['off']} -> "
          f"{t99['on']} us ({r['tick_p99_change_pct']:+}%; target < 10%; runs' p99 "
          f"{spread['off'][0]:.0f}-{spread['off'][1]:.0f} off, {spread['on'][0]:.0f}-"
          f"{spread['on'][1]:.0f} on); act p50 "
          f"{act['off']} -> {act['on']} us; backend p50 {back['off']} -> {back['on']} us "
          f"(records made there: {r['records_cost_us']:+} us); run {r['wall_s']['off']} -> "
          f"{r['wall_s']['on']} s wall; {r['raw']} bus messages, {r['messages']} MCAP "
          f"messages, {r['lost']} lost" + (f"; STOPPED: {r['stopped']}" if r["stopped"] else ""))


def bench_recording(quick: bool = False) -> dict[str, Any]:
    """Tick cost with and without recording (lockstep and realtime), replay speed."""
    from robo_orch.bus import make_bus
    from robo_orch.clock import make_clock
    from robo_orch.record.reader import open_recording
    from robo_orch.record.replay import replay

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="robo_orch-bench-") as tmp:
        path = str(Path(tmp) / "demo.mcap")
        _mission("lockstep", None, None)  # warm caches and kernels
        out["lockstep"] = _pairs("lockstep", 2 if quick else 9, None, path)
        _show("lockstep", out["lockstep"])
        recording = open_recording(path)
        bus = make_bus("memory", make_clock("sim"), publisher_id=9)
        stats = replay(recording, bus, bus.clock, rate=0.0)
        bus.close()
        out["replay"] = {"messages": stats.messages, "span_s": round(stats.span_s, 2),
                         "wall_s": round(stats.wall_s, 3),
                         "x_realtime": round(stats.span_s / max(stats.wall_s, 1e-9), 1)}
        r = out["replay"]
        print(f"  replay at maximum rate: {r['messages']} messages, {r['span_s']} s recorded in "
              f"{r['wall_s']} s = {r['x_realtime']}x real time (target >= 50x)")
        duration = 5.0 if quick else 15.0
        out["realtime"] = _pairs("realtime", 1 if quick else 3, duration,
                                 str(Path(tmp) / "realtime.mcap"))
        out["realtime"]["duration_s"] = duration
        _show(f"realtime {duration:g} s", out["realtime"])
    return out
