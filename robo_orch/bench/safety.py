"""Cost of one safety-kernel call (median and p99, us), in situations that take different paths.

* ``free``: cruising at full speed, the nearest scan point 3 m away (gather only);
* ``near``: 0.6 m/s toward a wall 1 m ahead, among other points (look-ahead
  blocked, one stopping rollout);
* ``braking``: full speed with a wall inside the braking distance (the
  rollouts of the fallback search: bisection, turn in place, zero);
* ``mission``: every tick of the demo mission in lockstep, replayed.

The row ``holonomic`` times :func:`robo_orch.core.safety_holonomic.safety_holonomic`
on the same inputs in the same run (the proposal ``(v, 0, w)``, the estimate's
lateral speed zero), next to the differential-drive kernel's row ``current``;
and in one case of its own, ``slide``: sliding left at 0.6 m/s toward a wall
0.5 m away, proposed straight ahead (the rollouts padded for the lateral motion).
The rows ``rect`` and ``holonomic_rect`` time both kernels with the rectangular
footprint of :data:`robo_orch.bench.bases.RECT` (0.44 m x 0.34 m, its circles
and polygon in ``limits``) on the same inputs.

``python -m robo_orch.bench.safety [--baseline FILE] [--repeats N]``; with
``--baseline`` another version of ``robo_orch/core/safety.py`` (for example
``git show main:robo_orch/core/safety.py > /tmp/old_safety.py``) is timed on the
same inputs in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from types import ModuleType
from typing import Any

import numpy as np

from robo_orch.config import load_config
from robo_orch.core import safety as current
from robo_orch.core import safety_holonomic as holonomic
from robo_orch.core import world as W


def _state(v: float, points: np.ndarray, scan: np.ndarray) -> np.ndarray:
    state = np.zeros(W.STATE_LEN)
    state[W.DT], state[W.ROBOT_RADIUS] = 0.02, 0.2
    state[W.V] = state[W.CMD_V] = v
    scan[: len(points)] = points
    state[W.SCAN_COUNT] = len(points)
    return state


def situations(max_scan: int) -> dict[str, list[tuple[np.ndarray, np.ndarray, float, float]]]:
    """Inputs ``(state, scan, proposal_v, proposal_w)`` per situation."""
    angles = np.linspace(-math.pi, math.pi, 360, endpoint=False)
    ring = np.column_stack([3.0 * np.cos(angles), 3.0 * np.sin(angles)])
    wall = np.column_stack([np.full(101, 1.0), np.linspace(-1.0, 1.0, 101)])
    clutter = np.column_stack([0.6 + 0.01 * np.arange(150), np.where(np.arange(150) % 2, 0.6,
                                                                     -0.6)])
    close = np.column_stack([np.full(101, 0.4), np.linspace(-1.0, 1.0, 101)])
    out = {}
    for name, v, pts, prop in (("free", 0.8, ring, (0.8, 0.0)),
                               ("near", 0.6, np.vstack([wall, clutter, ring]), (0.8, 0.2)),
                               ("braking", 0.8, np.vstack([close, ring]), (0.8, 0.0))):
        scan = np.zeros((max_scan, 2))
        out[name] = [(_state(v, pts, scan), scan, *prop)]
    return out


def slide_inputs(max_scan: int) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """The holonomic case ``slide`` (see the module docstring)."""
    wall = np.column_stack([np.linspace(-2.0, 2.0, 201), np.full(201, 0.5)])
    scan = np.zeros((max_scan, 2))
    state = _state(0.0, wall, scan)
    state[holonomic.VY_SLOT] = state[holonomic.CMD_VY_SLOT] = 0.6
    return [(state, scan, 0.8, 0.0)]


def mission_inputs() -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """Every tick's safety inputs from the demo mission in lockstep."""
    from robo_orch.missions.session import run_mission

    taken = []
    last = [0.0, 0.0]  # the command each tick's kernel started from: the previous one

    def take(ctl: Any) -> None:
        state = ctl.world.state.copy()
        state[W.CMD_V], state[W.CMD_W] = last
        last[:] = ctl.planner.cmd
        taken.append((state, ctl.world.scan.copy(), float(ctl.planner.arb_out[0]),
                      float(ctl.planner.arb_out[1])))

    run_mission(load_config(None), backend="lockstep", progress=take)
    return taken


def load_baseline(path: str) -> ModuleType:
    """Import another version of the safety module from a file."""
    spec = importlib.util.spec_from_file_location("baseline_safety", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # numba's cache looks its module up by name
    spec.loader.exec_module(module)
    return module


def _limits(module: ModuleType) -> np.ndarray:
    config = load_config(None)
    try:
        return module.pack_limits(config.safety, config.robot)
    except TypeError:  # versions before the robot's limits were part of it
        return module.pack_limits(config.safety)


def _rect(lim: np.ndarray) -> np.ndarray:
    from robo_orch.bench.bases import RECT
    from robo_orch.core.footprint_stop import footprint_limits_polygon
    from robo_orch.footprint import circle_cover

    poly = [tuple(p) for p in json.loads(RECT)]
    return footprint_limits_polygon(lim, circle_cover(poly, 0.05)[0], poly)


def _rect_mem(mem_size):
    return lambda n: mem_size(n) + 3 * n


def time_kernel(module: ModuleType, inputs: list, repeats: int,
                rect: bool = False) -> dict[str, float]:
    """Per-call time (us) of ``module.safety`` over ``inputs``: the best of ``repeats``
    per input, then the median and p99 over the inputs (``rect``: with the
    rectangular footprint, through the footprint's kernel)."""
    lim = _limits(module)
    mem_size = module.mem_size
    kernel = module.safety
    if rect:
        from robo_orch.core.safety_footprint import safety_footprint

        lim, mem_size, kernel = _rect(lim), _rect_mem(mem_size), safety_footprint
    cmd = np.zeros(2)

    def call(work, scan, mem, pv, pw):
        kernel(work, scan, lim, pv, pw, mem, cmd)

    rollouts = getattr(module, "MEM_ROLLOUTS", None)
    return _time_calls(call, mem_size, inputs, repeats, rollouts)


def time_holonomic(inputs: list, repeats: int, rect: bool = False) -> dict[str, float]:
    """:func:`time_kernel` for the holonomic kernel, proposing ``(v, 0, w)``."""
    config = load_config(None)
    lim = holonomic.pack_limits_holonomic(config.safety, config.robot)
    mem_size = holonomic.mem_size
    if rect:
        lim, mem_size = _rect(lim), _rect_mem(mem_size)
    cmd = np.zeros(3)

    def call(work, scan, mem, pv, pw):
        holonomic.safety_holonomic(work, scan, lim, pv, 0.0, pw, mem, cmd)

    return _time_calls(call, mem_size, inputs, repeats, current.MEM_ROLLOUTS)


def _time_calls(call, mem_size, inputs: list, repeats: int,
                rollouts_slot: int | None) -> dict[str, float]:
    best = []
    rollouts = []
    for state, scan, pv, pw in inputs:
        mem = np.zeros(mem_size(scan.shape[0]))
        work = state.copy()
        call(work, scan, mem, pv, pw)  # compile / load
        if rollouts_slot is not None:
            rollouts.append(int(mem[rollouts_slot]))
        fastest = math.inf
        for _ in range(repeats):
            work[:] = state
            t0 = time.perf_counter_ns()
            call(work, scan, mem, pv, pw)
            fastest = min(fastest, time.perf_counter_ns() - t0)
        best.append(fastest / 1e3)
    out = {"p50_us": round(float(np.median(best)), 2),
           "p99_us": round(float(np.percentile(best, 99)), 2), "calls": len(best)}
    if rollouts:  # stopping rollouts per call: the most, and how many calls ran more than one
        out["max_rollouts"] = max(rollouts)
        out["calls_searching"] = sum(r > 1 for r in rollouts)
    return out


def run(baseline: str | None = None, repeats: int = 200) -> dict[str, Any]:
    """Time the current kernel (and a baseline file's) in every situation."""
    max_scan = load_config(None).perception.max_scan_points
    cases = situations(max_scan)
    cases["mission"] = mission_inputs()
    kernels = {"current": current}
    if baseline:
        kernels["baseline"] = load_baseline(baseline)
    result = {name: {case: time_kernel(mod, inputs, repeats if case != "mission" else 5)
                     for case, inputs in cases.items()} for name, mod in kernels.items()}
    result["holonomic"] = {case: time_holonomic(inputs, repeats if case != "mission" else 5)
                           for case, inputs in cases.items()}
    result["holonomic"]["slide"] = time_holonomic(slide_inputs(max_scan), repeats)
    result["rect"] = {case: time_kernel(current, inputs, repeats if case != "mission" else 5,
                                        rect=True) for case, inputs in cases.items()}
    result["holonomic_rect"] = {
        case: time_holonomic(inputs, repeats if case != "mission" else 5, rect=True)
        for case, inputs in cases.items()}
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line: print the table and the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", help="another robo_orch/core/safety.py to time alongside")
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args(argv)
    result = run(args.baseline, args.repeats)
    for name, cases in result.items():
        line = ", ".join(f"{c} p50 {r['p50_us']:g} us (p99 {r['p99_us']:g})"
                         for c, r in cases.items())
        print(f"{name:9s} {line}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
