"""The DWA's cost per call (``avoid_obstacles``) in each base's control space.

Seeded cluttered worlds (posts around the robot within the activation distance,
so the kernel is active; the target 4 m away in a random direction; random
speeds within the window), each called through the real compiled kernel:

* ``diff_drive``: (v, w), 21 x 21 samples (the defaults);
* ``holonomic``: (vx, vy, w), 21 x 3 x 21 samples (``BASE_KIND`` = holonomic, its
  lateral speed random too);
* ``reverse``: (v, w) with ``max_reverse`` = 0.2 (costs more only when boxed in);
* ``before`` (with ``--before FILE``): the kernel of another version of
  ``behaviors/avoid_obstacles.py`` (e.g. ``git show BASE:behaviors/avoid_obstacles.py
  > /tmp/before.py``), on the same (v, w) worlds.  Only that file is swapped: since
  the kernel's parts moved to ``behaviors/dwa_*.py`` a version that imports them
  runs with this tree's parts.

The variants run in turn, the order rotated every round; per round the median
microseconds per call over the worlds; printed: the median over rounds and the
median of the per-round ratios against ``diff_drive``, plus the rollouts per call.
Rerun (``robo-orch bench`` section ``dwa`` runs it without ``before``)::

    python -m robo_orch.bench.dwa --rounds 9 [--worlds 300] [--before FILE] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from typing import Any

import numpy as np

from robo_orch.bench.measure import write_json


def _worlds(n: int, seed: int = 0) -> list[Any]:
    from robo_orch.core import field as F
    from robo_orch.core import world as wd
    from robo_orch.core.world import World

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        world = World(field_shape=(60, 60), field_resolution=0.1, field_cap=2.0)
        s = world.state
        s[wd.YAW] = rng.uniform(-np.pi, np.pi)
        s[wd.V], s[wd.W], s[wd.VY] = rng.uniform(0.0, 0.6), rng.uniform(-1, 1), 0.0
        s[wd.ROBOT_RADIUS], s[wd.GOAL_TOLERANCE], s[wd.DT] = 0.2, 0.25, 0.02
        a = rng.uniform(-np.pi, np.pi)
        world.set_path(np.array([[4.0 * np.cos(a), 4.0 * np.sin(a)]]))
        s[wd.TARGET_X], s[wd.TARGET_Y] = world.path[0]
        centres = rng.uniform(-2.0, 2.0, size=(8, 2))
        centres = centres[np.hypot(*centres.T) > 0.55]
        ang = np.linspace(-np.pi, np.pi, 24, endpoint=False)
        pts = np.concatenate([c + 0.15 * np.stack([np.cos(ang), np.sin(ang)], 1)
                              for c in centres]) if len(centres) else np.zeros((0, 2))
        if not len(pts) or np.hypot(*pts.T).min() > 1.1:
            continue  # the DWA would be inactive
        world.scan[: len(pts)] = pts
        s[wd.SCAN_COUNT] = len(pts)
        F.build_field(world.scan, len(pts), 0.0, 0.0, s, world.field,
                      F.alloc_field_scratch(world.field.shape))
        out.append((world, rng.uniform(-0.3, 0.3)))
    return out


def _time(kernel, worlds, params, state, base_kind: float, vy: bool) -> tuple[float, float]:
    """Median microseconds per call over ``worlds`` and the mean rollouts per call."""
    from robo_orch.core import world as wd

    idx = np.zeros(0, dtype=np.int64)
    out = np.zeros(wd.OUT_LEN)
    times = []
    rollouts = 0.0
    for world, lateral in worlds:
        s = world.state
        s[wd.BASE_KIND] = base_kind
        s[wd.VY] = lateral if vy else 0.0
        arrays = world.arrays
        t0 = time.perf_counter_ns()
        kernel(arrays, idx, params, state, out)
        times.append(time.perf_counter_ns() - t0)
        rollouts += out[3]
    return statistics.median(times) / 1e3, rollouts / len(worlds)


def _load_before(path: str):
    spec = importlib.util.spec_from_file_location("_dwa_before", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod  # (dataclasses look their module up)
    spec.loader.exec_module(mod)
    return mod


def bench_dwa(rounds: int = 9, n_worlds: int = 300, before: str | None = None) -> dict[str, Any]:
    """The figures of the module docstring."""
    from robo_orch.behaviors import avoid_obstacles as ao
    from robo_orch.core import world as wd

    cls = ao.AvoidObstacles
    worlds = _worlds(n_worlds)
    variants: dict[str, tuple] = {
        "diff_drive": (ao.step, cls.pack_params(ao.Params()), wd.BASE_DIFF_DRIVE, False),
        "holonomic": (ao.step, cls.pack_params(ao.Params()), wd.BASE_HOLONOMIC, True),
        "reverse": (ao.step, cls.pack_params(ao.Params(max_reverse=0.2)), wd.BASE_DIFF_DRIVE,
                    False),
    }
    if before:
        old = _load_before(before)
        variants["before"] = (old.step, old.AvoidObstacles.pack_params(old.Params()),
                              wd.BASE_DIFF_DRIVE, False)
    state = cls.new_state(ao.Params())
    for kernel, params, kind, vy in variants.values():  # compile / load, warm caches
        _time(kernel, worlds[:5], params, state, kind, vy)
    names = list(variants)
    runs: dict[str, list[float]] = {k: [] for k in names}
    rollouts: dict[str, float] = {}
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            kernel, params, kind, vy = variants[name]
            us, rolls = _time(kernel, worlds, params, state, kind, vy)
            runs[name].append(us)
            rollouts[name] = rolls
    out: dict[str, Any] = {"rounds": rounds, "worlds": len(worlds), "variants": {}}
    for name in names:
        row = {"us_per_call": round(statistics.median(runs[name]), 2),
               "rollouts_per_call": round(rollouts[name], 1)}
        if name != "diff_drive":
            row["ratio"] = round(statistics.median(
                a / b for a, b in zip(runs[name], runs["diff_drive"], strict=True)), 3)
        out["variants"][name] = row
    return out


def print_dwa(r: dict[str, Any]) -> None:
    print(f"  avoid_obstacles per call, {r['worlds']} worlds, {r['rounds']} interleaved rounds "
          "(medians; ratio = median of per-round ratios against diff_drive)")
    for name, row in r["variants"].items():
        ratio = f"  x{row['ratio']:.3f}" if "ratio" in row else ""
        print(f"  {name:<11} {row['us_per_call']:8.2f} us/call  "
              f"{row['rollouts_per_call']:6.1f} rollouts/call{ratio}")


def bench_section(quick: bool = False) -> dict[str, Any]:
    """``robo-orch bench`` section ``dwa``: 9 rounds of 300 worlds (quick: 3 of 100)."""
    r = bench_dwa(3, 100) if quick else bench_dwa()
    print_dwa(r)
    return r


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--worlds", type=int, default=300)
    p.add_argument("--before", help="another version of behaviors/avoid_obstacles.py")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    r = bench_dwa(args.rounds, args.worlds, args.before)
    print_dwa(r)
    write_json(args.json, r)
    return r


if __name__ == "__main__":
    main()
