"""Benchmark of global planning: the compiled A* next to a plain-Python A* on the same grid.

:func:`bench_plan` builds a seeded cluttered world on a square grid of
``grid_size`` cells (0.1 m cells), with staggered walls that force detours,
and plans corner to corner: the A* kernel alone, the whole
:func:`~robo_orch.core.pathplan.plan_route` (combining the layers, A* and
smoothing), and :func:`robo_orch.testing.naive_nav.astar` with the same rules,
all in the same run.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from robo_orch.config.world import Circle, Wall, WorldConfig
from robo_orch.core import navcost as nc
from robo_orch.core import pathplan as pp
from robo_orch.core.grid import OccupancyGrid
from robo_orch.testing import naive_nav as nn

# the plan_path defaults, the demo robot's radius
RES = 0.1
RADIUS = 0.2
LETHAL_MARGIN = 0.03
MARGIN = 0.1
PENALTY = 4.0
COST_RANGE = 0.15
COST_WEIGHT = 1.0


def bench_world(grid_size: int, seed: int = 0) -> WorldConfig:
    """A square world of ``grid_size`` cells a side: random posts and three staggered walls."""
    side = grid_size * RES
    rng = np.random.default_rng(seed)
    circles = []
    while len(circles) < grid_size // 5:
        c = rng.uniform(0.0, side, 2)
        if min(np.hypot(*c), np.hypot(*(c - side))) > 2.0:
            circles.append(Circle(center=(float(c[0]), float(c[1])),
                                  radius=float(rng.uniform(0.1, 0.03 * side))))
    walls = tuple(Wall(start=(side * f, side * (0.0 if k % 2 == 0 else 0.25)),
                       end=(side * f, side * (0.75 if k % 2 == 0 else 1.0)))
                  for k, f in enumerate((0.25, 0.5, 0.75)))
    return WorldConfig(bounds=(0.0, 0.0, side, side), walls=walls, circles=tuple(circles))


def _stats(samples: list[float]) -> dict[str, float]:
    ms = [s * 1e3 for s in samples]
    return {"p50": round(statistics.median(ms), 4), "min": round(min(ms), 4),
            "max": round(max(ms), 4), "n": len(ms)}


def bench_plan(grid_size: int = 200, repeats: int = 20) -> dict:
    """Median planning time on a ``grid_size`` square grid, compiled vs plain Python (ms)."""
    inflate = RADIUS + MARGIN
    dmax = inflate + COST_RANGE + RES
    cp = nc.cost_params(RES, RADIUS, LETHAL_MARGIN, MARGIN, COST_WEIGHT, COST_RANGE, PENALTY)
    side = grid_size * RES
    start, goal = (0.5, 0.5), (side - 0.5, side - 0.5)
    b = pp.alloc_buffers(grid_size * grid_size)
    for seed in range(50):  # the first seeded world with a way through
        g = OccupancyGrid(bench_world(grid_size, seed), resolution=RES, dmax=dmax)
        sc, gc = g.cell(*start), g.cell(*goal)
        rules = nn.Rules(g.map_d, RES, RADIUS, RADIUS + LETHAL_MARGIN, inflate, COST_WEIGHT,
                         COST_RANGE, PENALTY, sc, gc)
        nc.leg_costs(g.map_d, cp, sc, gc, b["fcost"])
        args = (b["fcost"], g.ny, g.nx, RES, *sc, *gc, *pp.search_buffers(b))
        if pp.astar(*args) > 0:
            break
    d = np.empty_like(g.map_d)
    out = np.zeros((1024, 2))
    rows = np.zeros(1, dtype=np.int64)
    wps = np.array([goal])
    kernel, route = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = pp.astar(*args)
        kernel.append(time.perf_counter() - t0)
    cost, expanded = float(b["meta"][pp.M_COST]), int(b["meta"][pp.M_EXPANDED])
    for _ in range(repeats):
        t0 = time.perf_counter()
        status = pp.plan_route(g.map_d, g.marks, d, g.x0, g.y0, cp, dmax, *start, wps, 0,
                               *pp.route_buffers(b), out, rows)
        route.append(time.perf_counter() - t0)
    python = []
    for _ in range(max(1, min(repeats, 3))):
        t0 = time.perf_counter()
        ref_cost, ref_cells = nn.astar(rules)
        python.append(time.perf_counter() - t0)
    k_ms, p_ms = _stats(kernel), _stats(python)
    return {
        "grid": [g.ny, g.nx],
        "world_seed": seed,
        "resolution_m": RES,
        "path_cells": m,
        "expanded": expanded,
        "path_cost": round(cost, 6),
        "same_cost": bool(m > 0 and abs(cost - ref_cost) <= 1e-9 * max(1.0, ref_cost)),
        "route_ok": status == pp.OK,
        "route_vertices": int(b["meta"][pp.M_COUNT]),
        "kernel_ms": k_ms,
        "route_ms": _stats(route),
        "python_astar_ms": p_ms,
        "speedup": round(p_ms["p50"] / k_ms["p50"], 1) if k_ms["p50"] > 0 else None,
    }


def bench_navigation(quick: bool = False) -> dict:
    """The global-planning benchmark for ``robo-orch bench``: prints a line, returns figures."""
    r = bench_plan(grid_size=200, repeats=5 if quick else 20)
    print(f"  global planning, {r['grid'][0]} x {r['grid'][1]} grid ({r['expanded']} cells "
          f"expanded): A* kernel p50 {r['kernel_ms']['p50']} ms, whole plan (layers, A*, "
          f"smoothing) p50 {r['route_ms']['p50']} ms; plain-Python A* "
          f"{r['python_astar_ms']['p50']} ms ({r['speedup']}x), same cost: {r['same_cost']}")
    return r


if __name__ == "__main__":
    import json

    print(json.dumps(bench_plan(), indent=2))
