"""Recording benchmark: what recording costs the loop, and how fast a recording replays.

The demo mission runs in lockstep at a 100 Hz loop, alternately without and with
``--record`` (same seed, same ticks), and the tick compute time (sense + plan +
act, where the recorder's per-tick tap runs) is compared in the same run.  The
recording is then replayed at maximum rate onto a memory bus.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _mission(record_path: str | None) -> dict[str, Any]:
    from robo_orch.config import load_config
    from robo_orch.report import summarize
    from robo_orch.session import run_mission

    config = load_config(None, ("loop.rate_hz=100", "behaviors.avoid_obstacles.divisor=10"))
    recorder = None
    if record_path:
        from robo_orch.record.writer import Recorder, RecordOptions

        recorder = Recorder(RecordOptions(record_path))
    t0 = time.perf_counter()
    try:
        result = run_mission(config, backend="lockstep",
                             on_start=recorder.attach if recorder else None)
    finally:
        rec = recorder.close() if recorder else None
    wall = time.perf_counter() - t0
    s = summarize(result)
    return {"tick_us": s["tick_time_us"], "act_us": s["phase_time_us"]["act"],
            "sim_time_s": s["sim_time_s"], "wall_s": round(wall, 2),
            "messages": rec.messages if rec else 0, "lost": rec.lost if rec else 0}


def bench_recording(quick: bool = False) -> dict[str, Any]:
    """Tick cost with and without recording, and replay speed; prints a short table."""
    from robo_orch.bus import MemoryBus
    from robo_orch.clock import SimClock
    from robo_orch.record.reader import open_recording
    from robo_orch.replay import replay

    rounds = 1 if quick else 3
    off, on = [], []
    with tempfile.TemporaryDirectory(prefix="robo_orch-bench-") as tmp:
        path = str(Path(tmp) / "demo.mcap")
        _mission(None)  # warm caches and kernels
        for _ in range(rounds):
            off.append(_mission(None))
            on.append(_mission(path))
        recording = open_recording(path)
        bus = MemoryBus(SimClock(), publisher_id=9)
        stats = replay(recording, bus, bus.clock, rate=0.0)
        bus.close()

    def med(runs, part, key):
        return statistics.median(r[part][key] for r in runs)

    out = {
        "rounds": rounds,
        "tick_p50_us": {"off": med(off, "tick_us", "p50"), "on": med(on, "tick_us", "p50")},
        "tick_p99_us": {"off": med(off, "tick_us", "p99"), "on": med(on, "tick_us", "p99")},
        "act_p50_us": {"off": med(off, "act_us", "p50"), "on": med(on, "act_us", "p50")},
        "wall_s": {"off": statistics.median(r["wall_s"] for r in off),
                   "on": statistics.median(r["wall_s"] for r in on)},
        "messages_recorded": on[-1]["messages"], "messages_lost": on[-1]["lost"],
        "replay": {"messages": stats.messages, "span_s": round(stats.span_s, 2),
                   "wall_s": round(stats.wall_s, 3),
                   "x_realtime": round(stats.span_s / max(stats.wall_s, 1e-9), 1)},
    }
    p99 = out["tick_p99_us"]
    change = (p99["on"] - p99["off"]) / p99["off"] * 100 if p99["off"] else float("nan")
    out["tick_p99_change_pct"] = round(change, 1)
    print(f"  recording (demo, lockstep, 100 Hz loop, median of {rounds}): tick p50 "
          f"{out['tick_p50_us']['off']} -> {out['tick_p50_us']['on']} us, p99 {p99['off']} -> "
          f"{p99['on']} us ({change:+.0f}%), act p50 {out['act_p50_us']['off']} -> "
          f"{out['act_p50_us']['on']} us; run {out['wall_s']['off']} -> {out['wall_s']['on']} s "
          f"wall ({out['messages_recorded']} messages, {out['messages_lost']} lost)")
    r = out["replay"]
    print(f"  replay at maximum rate: {r['messages']} messages, {r['span_s']} s recorded in "
          f"{r['wall_s']} s = {r['x_realtime']}x real time")
    return out
