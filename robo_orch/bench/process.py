"""Process-level figures: start-up to the first tick, and memory over a long run.

* **Start-up**: ``robo-orch sim --lockstep`` in a fresh process, with the cache
  the current run uses (warm: the kernels load) and, optionally, an empty cache
  (cold: everything compiles); the summary's ``startup_s`` runs from the CLI's
  first import to the first tick.  The baseline is the floor of any numba
  program, measured the same way: a fresh process that imports numpy and numba
  and loads one cached kernel (numba sets up its compiler tables on that first
  kernel, which is most of its cost).
* **Memory**: resident memory of one long lockstep run of the demo robot driving
  laps of an open square, the per-tick trace bounded as on a robot, sampled every
  500 ticks.  Growth is measured from the moment the bounded trace holds all its
  chunks to the end; a run shorter than a million ticks says how it extrapolates.
  ``python -m robo_orch.bench.process memory --ticks 1000000`` runs the full length.
* **The shares' ends**: ``python -m robo_orch.bench.process shares`` runs the demo's two
  compile shares at once on an empty cache, as a cold start does, and says when each
  ends (how to balance them; ``split`` gives each one's CPU time alone).
* **Compile time per module**: ``python -m robo_orch.bench.process compile MODULE ...
  [--base-python BASE/.venv/bin/python]`` imports each module with an empty kernel
  cache in a fresh process, after numba's one-time set-up, and times the import (the
  module's kernels and the callees they compile).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

#: the demo robot on a 5 m square in an empty world, driven in laps
_LAPS = ["world.circles=[]", "world.polygons=[]", "world.walls=[]",
         "world.bounds=[-3.0, -3.0, 8.0, 8.0]",
         # the last row is never reached: the hook re-arms the first when it becomes the target
         "mission.waypoints=[[5.0, 0.0], [5.0, 5.0], [0.0, 5.0], [0.0, 0.0], [5.0, 0.0]]",
         "mission.time_limit_s=1e9"]
_SAMPLE_EVERY = 500  # ticks between resident memory samples
_TRACE_ROWS = 5000  # the bounded trace of the run (a robot keeps the last minutes)

_FLOOR = """
import time
t0 = time.perf_counter()
import numba
import numpy as np

@numba.njit("float64(float64[::1])", cache=True)
def total(a):
    s = 0.0
    for v in a:
        s += v
    return s

total(np.ones(3))
print(time.perf_counter() - t0)
"""


def _startup(cache_dir: str | None, compile_jobs: int | None = None,
             python: str | None = None) -> float:
    """``startup_s`` of a short lockstep run in a new process (None: the current cache).

    ``compile_jobs``: ``ROBO_ORCH_COMPILE_JOBS`` for it (1: the cold compile in one
    process, as before robo_orch.hosting.compile; None: the default).  ``python``:
    the interpreter (another checkout's, for a before/after figure; default this one).
    """
    env = dict(os.environ)
    if compile_jobs is not None:
        env["ROBO_ORCH_COMPILE_JOBS"] = str(compile_jobs)
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "s.json"
        cache = ["--cache-dir", cache_dir] if cache_dir else []
        subprocess.run([python or sys.executable, "-m", "robo_orch.cli", "-q", *cache, "sim",
                        "--lockstep", "--duration", "0.2", "--summary", str(summary)],
                       check=False, capture_output=True, timeout=900, env=env,
                       cwd=tmp)  # (not a checkout: python -m would import its package)
        return float(json.loads(summary.read_text())["startup_s"])


def bench_compile_split() -> dict[str, Any]:
    """CPU seconds to compile each half of the demo's kernels, on one new empty cache.

    This process's half first, then the helper's (as in a cold start, where the
    helper finds the distance field already cached), each in a fresh process, so
    the figures do not depend on how busy the machine is.
    """
    from robo_orch.hosting import compile as kernels

    mine, helper = kernels.shares(kernels._raw_config(None, ()), simulator=True)
    halves = {"this_process": mine, "helper": helper}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for name, items in halves.items():
            proc = subprocess.run([sys.executable, "-m", "robo_orch.hosting.compile", *items],
                                  capture_output=True, text=True, timeout=1800, env=env,
                                  check=True)
            cpu = {line.split()[1]: float(line.split()[2]) for line in proc.stdout.splitlines()
                   if line.startswith("compiled ")}
            out[name] = {"cpu_s": round(sum(cpu.values()), 2), "items": cpu}
    total = out["this_process"]["cpu_s"] + out["helper"]["cpu_s"]
    out["one_process_cpu_s"] = round(total, 2)
    out["ideal_ratio"] = round(max(out["this_process"]["cpu_s"], out["helper"]["cpu_s"])
                               / total, 2)
    return out


_SHARE_ENDS = """
import json, subprocess, sys, threading, time
t0 = time.perf_counter()
from robo_orch import _numba_env  # noqa: F401  (the cache directory, before numba)
from robo_orch.hosting import compile as k
mine, helper = (json.loads(sys.argv[1]) if len(sys.argv) > 1
                else k.shares(k._raw_config(None, ()), simulator=True))
proc = subprocess.Popen([sys.executable, "-m", "robo_orch.hosting.compile", *helper],
                        stdout=subprocess.PIPE, text=True)
ends = []
reader = threading.Thread(target=lambda: ends.extend(time.perf_counter() - t0
                                                     for line in proc.stdout))
reader.start()
for item in mine:
    k._compile(item)
mine_s = time.perf_counter() - t0
proc.wait()
reader.join()
print(json.dumps({"this_process_s": mine_s, "helper_s": ends[-1]}))
"""


def bench_share_ends(repeats: int = 3,
                     shares: tuple[list[str], list[str]] | None = None) -> dict[str, Any]:
    """When each share of the demo's cold compile ends, both compiling at once as in a cold
    start (the helper starts later and shares the machine, which ``split`` leaves out):
    seconds from this process's start, medians over ``repeats`` new empty caches.

    ``shares``: (this process's, the helper's) instead of the demo's (items as
    :func:`robo_orch.hosting.compile.shares` gives them).
    """
    rows = []
    extra = [] if shares is None else [json.dumps([list(shares[0]), list(shares[1])])]
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            proc = subprocess.run([sys.executable, "-c", _SHARE_ENDS, *extra],
                                  capture_output=True,
                                  text=True, timeout=1800, check=True, cwd=cache,
                                  env=dict(os.environ, NUMBA_CACHE_DIR=cache))
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = {k: round(statistics.median(r[k] for r in rows), 2)
           for k in ("this_process_s", "helper_s")}
    out["end_s"] = round(statistics.median(max(r.values()) for r in rows), 2)
    out["runs"] = rows
    return out


def bench_cold_start(repeats: int = 2, base_python: str | None = None) -> dict[str, Any]:
    """Empty cache to the first tick of the demo: the two-process compile against one process.

    Runs alternate (one process, then two; then, with ``base_python``, another
    checkout's default start), each on a new empty cache, so all see the same machine
    load; medians and the ratios of the medians.
    """
    serial, parallel, before = [], [], []
    arms = [(1, None, serial), (None, None, parallel)]
    if base_python:
        arms.append((None, base_python, before))
    for _ in range(repeats):
        for jobs, python, out in arms:
            with tempfile.TemporaryDirectory() as cache:
                out.append(_startup(cache, jobs, python))
    base, now = statistics.median(serial), statistics.median(parallel)
    res = {"cold_one_process_s": round(base, 2), "cold_s": round(now, 2),
           "cold_ratio": round(now / base, 2), "runs": {"one_process": serial, "now": parallel},
           "cpus": len(os.sched_getaffinity(0))}
    if before:
        res["cold_base_s"] = round(statistics.median(before), 2)
        res["cold_vs_base"] = round(now / res["cold_base_s"], 2)
        res["runs"]["base"] = before
    return res


_IMPORT_TIME = """
import importlib, sys, time
import numba

@numba.njit("float64(float64)")
def first(x):  # numba's one-time set-up, not any module's
    return x + 1.0

first(1.0)
import robo_orch.core.world
t0 = time.perf_counter()
importlib.import_module(sys.argv[1])
print(time.perf_counter() - t0)
"""


def bench_module_compile(modules: list[str], repeats: int = 4,
                         base_python: str | None = None) -> dict[str, Any]:
    """Seconds to import each module with an empty kernel cache (its kernels compile at
    import) in a fresh process, after numba's one-time set-up: the median of ``repeats``
    runs, and ``base_python``'s (another checkout) in turn with them."""
    pythons = {"now": sys.executable} | ({"base": base_python} if base_python else {})
    times: dict[str, dict[str, list[float]]] = {m: {k: [] for k in pythons} for m in modules}
    for _ in range(repeats):
        for module in modules:
            for label, python in pythons.items():
                with tempfile.TemporaryDirectory() as cache:
                    proc = subprocess.run([python, "-c", _IMPORT_TIME, module], check=False,
                                          capture_output=True, text=True, timeout=600,
                                          env=dict(os.environ, NUMBA_CACHE_DIR=cache),
                                          cwd=cache)  # (in a checkout, -c imports its package)
                if proc.returncode != 0:
                    raise RuntimeError(f"importing {module} with {python} failed:\n"
                                       f"{proc.stderr.strip()}")
                times[module][label].append(float(proc.stdout.split()[-1]))
    return {m: {k: {"median_s": round(statistics.median(v), 3), "runs": [round(x, 3) for x in v]}
                for k, v in by.items()} for m, by in times.items()}


def _numba_floor(script: Path) -> float:
    """numba's own floor: import, one cached kernel, in a fresh process."""
    proc = subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                          text=True, timeout=600)
    return float(proc.stdout.split()[-1])


def bench_startup(cold: bool = True, repeats: int = 3) -> dict[str, Any]:
    """Start-up to the first tick, warm (median of ``repeats``) and cold, against the floor."""
    # a fixed path, rewritten only when it changes: numba's cache of its kernel then
    # survives between runs, and the first run below loads instead of compiling
    script = Path(tempfile.gettempdir()) / f"robo_orch-bench-floor-{os.getuid()}.py"
    text = textwrap.dedent(_FLOOR)
    if not script.exists() or script.read_text() != text:
        script.write_text(text)
    _numba_floor(script)  # fills the cache if it was empty
    warm, floor = [], []
    for _ in range(repeats):  # interleaved: both see the same machine load
        warm.append(_startup(None))
        floor.append(_numba_floor(script))
    out: dict[str, Any] = {"warm_cache_s": round(statistics.median(warm), 3),
                           "numba_floor_s": round(statistics.median(floor), 3)}
    out["warm_over_floor"] = round(out["warm_cache_s"] / out["numba_floor_s"], 2)
    if cold:
        out.update(bench_cold_start(repeats=1))  # one pair: the suite stays short
    return out


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


class _Laps:
    """Progress hook: re-arms the first waypoint before the last is reached; samples memory."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks
        self.samples: list[tuple[int, int]] = []  # (tick, rss KiB)

    def __call__(self, ctl) -> None:
        from robo_orch.core import world as W

        s = ctl.world.state
        if s[W.TARGET_INDEX] >= s[W.PATH_COUNT] - 1:
            s[W.TARGET_INDEX] = 0.0  # the mission never ends: laps until the tick budget
        rows = ctl.trace.rows
        if rows % _SAMPLE_EVERY == 0:
            self.samples.append((rows, _rss_kib()))
        if rows >= self.ticks:
            ctl.time_limit_s = 0.0  # ends the run after this tick


def bench_memory(ticks: int = 200_000) -> dict[str, Any]:
    """Resident memory over ``ticks`` lockstep ticks of laps, with a bounded trace."""
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission
    from robo_orch.runtime.trace import _CHUNK

    config = load_config(None, _LAPS)
    laps = _Laps(ticks)
    result = run_mission(config, backend="lockstep", progress=laps, trace_rows=_TRACE_ROWS)
    # growth once the bounded trace holds all its chunks (it then reuses the oldest)
    settle = (-(-_TRACE_ROWS // _CHUNK) + 1) * _CHUNK
    settled = [s for s in laps.samples if s[0] > settle]
    if len(settled) < 2:
        raise ValueError(f"memory benchmark: {ticks} ticks are too few to measure growth "
                         f"(the trace settles after {settle})")
    (t0, m0), (t1, m1) = settled[0], settled[-1]
    growth_pct = (m1 - m0) / m0 * 100.0
    return {"ticks": int(result.stats.ticks), "sim_time_s": round(result.truth.sim_time_s, 1),
            "distance_m": round(result.truth.distance_m, 1),
            "rss_start_kib": laps.samples[0][1], "rss_settled_kib": m0, "rss_end_kib": m1,
            "measured_over_ticks": t1 - t0, "growth_kib": m1 - m0,
            "growth_pct": round(growth_pct, 3),
            "growth_pct_per_million_ticks": round(growth_pct * 1e6 / (t1 - t0), 3),
            "extrapolated": int(result.stats.ticks) < 1_000_000,
            "gc_collections": result.stats.gc.count}


def print_process(startup: dict[str, Any], memory: dict[str, Any]) -> None:
    """Readable lines for :func:`bench_startup` and :func:`bench_memory`."""
    cold = startup.get("cold_s")
    cold_text = (f"cold cache {cold} s (one compiling process, same run: "
                 f"{startup['cold_one_process_s']} s, {startup['cold_ratio']}x), "
                 if cold is not None else "")
    print(f"  start-up to first tick (lockstep): {cold_text}warm cache "
          f"{startup['warm_cache_s']} s; numba's own floor (import, one cached kernel) "
          f"{startup['numba_floor_s']} s: {startup['warm_over_floor']}x the floor")
    how = (f"extrapolated from {memory['measured_over_ticks']} ticks"
           if memory["extrapolated"] else f"over {memory['measured_over_ticks']} ticks")
    print(f"  memory of the loop process over {memory['ticks']} lockstep ticks "
          f"({memory['distance_m']:.0f} m driven): resident {memory['rss_start_kib'] / 1024:.1f}"
          f" -> {memory['rss_settled_kib'] / 1024:.1f} MiB once settled -> "
          f"{memory['rss_end_kib'] / 1024:.1f} MiB; growth {memory['growth_kib']} KiB "
          f"({memory['growth_pct']}%), {memory['growth_pct_per_million_ticks']}% per million "
          f"ticks ({how}); {memory['gc_collections']} slack collections")


def main(argv: list[str] | None = None) -> int:
    """``memory [--ticks N]`` or ``startup [--cold]``: one figure, printed and as JSON."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.process")
    sub = parser.add_subparsers(dest="command", required=True)
    mem = sub.add_parser("memory")
    mem.add_argument("--ticks", type=int, default=1_000_000)
    start = sub.add_parser("startup")
    start.add_argument("--cold", action="store_true")
    cold = sub.add_parser("cold", help="empty cache to first tick: two compiling processes "
                          "against one, alternating")
    cold.add_argument("--repeats", type=int, default=2)
    cold.add_argument("--base-python", help="another checkout's python (e.g. BASE/.venv/bin/"
                      "python): its cold start too, in turn, for a before/after figure")
    sub.add_parser("split", help="CPU seconds to compile each half of the demo's kernels")
    ends = sub.add_parser("shares", help="when each share of the demo's cold compile ends, "
                          "both compiling at once")
    ends.add_argument("--repeats", type=int, default=3)
    mods = sub.add_parser("compile", help="seconds to import each module with an empty "
                          "kernel cache (its kernels compile), after numba's set-up")
    mods.add_argument("modules", nargs="+", help="e.g. robo_orch.core.arbitrate")
    mods.add_argument("--repeats", type=int, default=4)
    mods.add_argument("--base-python", help="another checkout's python: the same, in turn")
    args = parser.parse_args(argv)
    if args.command == "compile":
        out = bench_module_compile(args.modules, args.repeats, args.base_python)
        for module, by in out.items():
            print(f"{module}: " + ", ".join(f"{label} {v['median_s']} s" for label, v in
                                            by.items()))
        print(json.dumps(out, indent=2))
        return 0
    if args.command == "shares":
        out = bench_share_ends(args.repeats)
        print(f"cold compile of the demo, both shares at once: this process ends at "
              f"{out['this_process_s']} s, the helper at {out['helper_s']} s (medians)")
        print(json.dumps(out, indent=2))
        return 0
    if args.command == "split":
        print(json.dumps(bench_compile_split(), indent=2))
        return 0
    if args.command == "cold":
        out = bench_cold_start(args.repeats, args.base_python)
        print(f"cold start (empty cache to the first tick, lockstep demo): {out['cold_s']} s; "
              f"one compiling process, same run: {out['cold_one_process_s']} s "
              f"({out['cold_ratio']}x)" + (f"; base: {out['cold_base_s']} s "
                                          f"({out['cold_vs_base']}x)" if "cold_base_s" in out
                                          else ""))
        print(json.dumps(out, indent=2))
        return 0
    run = (lambda: bench_memory(args.ticks)) if args.command == "memory" else \
        (lambda: bench_startup(cold=args.cold))
    print(json.dumps(run(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
