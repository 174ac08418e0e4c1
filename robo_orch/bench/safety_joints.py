"""Cost of one call of the joints safety kernel (us), against the base's safety kernel
in the same run.

Inputs: every tick of a pan-tilt (2 joints) and of a 16-joint arm driven to
targets beyond their ranges and back (position mode) and at velocities beyond
their limits (velocity mode), the joint following its command.  Baseline: the
base's :func:`robo_orch.core.safety.safety` in :mod:`robo_orch.bench.safety`'s
``free`` situation (cruising, the nearest point 3 m away: its cheapest path).
Each kernel is timed as the best of ``repeats`` calls per input, then the median
over the inputs; the two are alternated ``rounds`` times and the medians of the
rounds reported, with their ratio.

``python -m robo_orch.bench.safety_joints [--repeats N] [--rounds K]``
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

from robo_orch.bench import safety as base_bench
from robo_orch.config import load_config
from robo_orch.core import safety as base
from robo_orch.core import safety_joints as sj

DT = 0.02


def joint_inputs(n: int, mode: int) -> list[tuple]:
    """Each tick's kernel inputs for ``n`` joints following their commands for 6 s."""
    rng = np.random.default_rng(n)
    span = rng.uniform(0.5, 3.0, n)
    limits = np.ascontiguousarray(np.column_stack(
        [-span, span, rng.uniform(0.5, 3.0, n), rng.uniform(2.0, 10.0, n)]))
    pos, cmd_pos, cmd_vel = np.zeros(n), np.zeros(n), np.zeros(n)
    out = []
    for k in range(300):
        sign = 1.0 if (k // 75) % 2 == 0 else -1.0
        proposal = sign * (2.0 * span if mode == sj.MODE_POSITION else 2.0 * limits[:, 2])
        out.append((limits, pos.copy(), cmd_pos.copy(), cmd_vel.copy(), proposal))
        sj.safety_joints(limits, pos, cmd_pos, cmd_vel, proposal, mode, 0.0, 0.0, DT, cmd_pos,
                         cmd_vel)
        pos = pos + cmd_vel * DT if mode == sj.MODE_VELOCITY else cmd_pos.copy()
    return out


def time_joints(inputs: list[tuple], mode: int, repeats: int) -> float:
    """Median over the inputs of the best of ``repeats`` calls, us."""
    best = []
    n = inputs[0][0].shape[0]
    cp, cv = np.zeros(n), np.zeros(n)
    for limits, pos, last_p, last_v, proposal in inputs:
        fastest = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            sj.safety_joints(limits, pos, last_p, last_v, proposal, mode, 0.0, 0.0, DT, cp, cv)
            fastest = min(fastest, time.perf_counter_ns() - t0)
        best.append(fastest / 1e3)
    return float(np.median(best))


def run(repeats: int = 50, rounds: int = 5) -> dict[str, Any]:
    """Alternate the joints cases and the baseline ``rounds`` times; medians and ratios."""
    max_scan = load_config(None).perception.max_scan_points
    free = base_bench.situations(max_scan)["free"]
    cases = {f"{name}_{sj.MODES[mode]}": (joint_inputs(n, mode), mode)
             for name, n in (("pan_tilt", 2), ("arm16", 16))
             for mode in (sj.MODE_POSITION, sj.MODE_VELOCITY)}
    times: dict[str, list[float]] = {name: [] for name in cases}
    times["base_free"] = []
    for _ in range(rounds):
        for name, (inputs, mode) in cases.items():
            times[name].append(time_joints(inputs, mode, repeats))
        times["base_free"].append(base_bench.time_kernel(base, free, repeats * 4)["p50_us"])
    med = {name: round(float(np.median(v)), 3) for name, v in times.items()}
    return {"median_us": med,
            "ratio_to_base_free": {name: round(med[name] / med["base_free"], 3)
                                   for name in cases},
            "rounds": rounds, "repeats": repeats}


def main(argv: list[str] | None = None) -> None:
    """Command line: print the table and the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    result = run(args.repeats, args.rounds)
    for name, us in result["median_us"].items():
        ratio = result["ratio_to_base_free"].get(name)
        print(f"{name:20s} {us:8.3f} us" + (f"  ({ratio:g}x the base kernel, free)"
                                              if ratio is not None else ""))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
