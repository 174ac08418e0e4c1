"""Global planning kernels against slow references: A* cost equals Dijkstra's on random
grids, smoothing stays clear and never lengthens a path, plan_route's statuses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from robo_orch.bench.nav import bench_plan
from robo_orch.config.world import Circle, Polygon, Wall, WorldConfig
from robo_orch.core import navcost as nc
from robo_orch.core import pathplan as pp
from robo_orch.core.grid import OccupancyGrid
from robo_orch.testing import naive_nav as nn

RES, RADIUS, LETHAL, INFLATE, RANGE, PENALTY = 0.1, 0.2, 0.23, 0.3, 0.5, 4.0


def cp_for(w):
    return nc.cost_params(RES, RADIUS, LETHAL - RADIUS, INFLATE - RADIUS, w, RANGE, PENALTY)


def rules_for(d, w, start, goal):
    return nn.Rules(d, RES, RADIUS, LETHAL, INFLATE, w, RANGE, PENALTY, start, goal)


def random_d(rng, ny, nx, density):
    occupied = rng.random((ny, nx)) < density
    if not occupied.any():
        occupied[0, 0] = True
    return np.ascontiguousarray(distance_transform_edt(~occupied) * RES)


def pick(rng, d, thr):
    free = np.argwhere(d >= thr)
    j, i = free[rng.integers(len(free))]
    return int(j), int(i)


def run_astar(d, start, goal, w, bufs=None):
    ny, nx = d.shape
    b = bufs or pp.alloc_buffers(ny * nx)
    rules = rules_for(d, w, start, goal)
    nc.leg_costs(d, cp_for(w), start, goal, b["fcost"])
    m = pp.astar(b["fcost"], ny, nx, RES, *start, *goal, *pp.search_buffers(b))
    cells = [divmod(int(c), nx) for c in b["cells"][:m]]
    return rules, b, m, cells


@pytest.mark.parametrize("seed", range(40))
def test_astar_cost_equals_dijkstra_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    ny, nx = int(rng.integers(8, 40)), int(rng.integers(8, 40))
    d = random_d(rng, ny, nx, rng.uniform(0.01, 0.12))
    w = float(rng.choice([0.0, 1.0, 3.0]))
    # starts and goals anywhere a robot fits: sometimes inside the inflated zone
    start, goal = pick(rng, d, RADIUS), pick(rng, d, RADIUS)
    rules, b, m, cells = run_astar(d, start, goal, w)
    ref_cost, ref_cells = nn.dijkstra(rules)
    if not ref_cells:
        assert m == 0 and b["meta"][pp.M_COST] == math.inf
        return
    assert m > 0
    assert b["meta"][pp.M_COST] == pytest.approx(ref_cost, rel=1e-12)
    assert cells[0] == start and cells[-1] == goal
    # the kernel's path is made of allowed moves and costs what it says
    assert rules.path_cost(cells) == pytest.approx(ref_cost, rel=1e-12)
    # the plain-Python A* (the benchmark's baseline) agrees too
    assert nn.astar(rules)[0] == pytest.approx(ref_cost, rel=1e-12)


def test_buffers_are_reused_across_searches_without_clearing():
    rng = np.random.default_rng(7)
    d = random_d(rng, 30, 30, 0.05)
    b = pp.alloc_buffers(900)
    for k in range(30):
        start, goal = pick(rng, d, INFLATE), pick(rng, d, INFLATE)
        rules, _, m, cells = run_astar(d, start, goal, 2.0, bufs=b)
        assert b["meta"][pp.M_GEN] == k + 1
        ref = nn.dijkstra(rules)[0]
        assert (m == 0 and ref == math.inf) or b["meta"][pp.M_COST] == pytest.approx(ref)


@pytest.mark.parametrize("seed", range(25))
def test_sees_walks_exactly_the_supercover(seed):
    rng = np.random.default_rng(1000 + seed)
    d = random_d(rng, 20, 20, 0.06)
    nx = d.shape[1]
    start, goal = pick(rng, d, 0.0), pick(rng, d, 0.0)
    rules = rules_for(d, 1.0, start, goal)
    fcost = np.zeros(d.size)
    nc.leg_costs(d, cp_for(1.0), start, goal, fcost)
    assert all((fcost[j * nx + i] < math.inf) == rules.passable(j, i)
               for j in range(d.shape[0]) for i in range(nx))
    for _ in range(30):
        a, b = pick(rng, d, 0.0), pick(rng, d, 0.0)
        dlim = float(rng.uniform(0.0, 0.6))
        got = pp.sees(fcost, d, a[0] * nx + a[1], b[0] * nx + b[1], dlim)
        cover = nn.supercover(a, b)
        # cells the segment passes through (not merely a corner of) must also be deep enough
        inner = nn.supercover(a, b, interior=True)
        want = all(rules.passable(*c) for c in cover) and all(d[c] >= dlim for c in inner)
        assert got == want, (a, b, dlim)


@pytest.mark.parametrize("seed", range(20))
def test_smoothing_stays_clear_and_never_lengthens(seed):
    rng = np.random.default_rng(2000 + seed)
    d = random_d(rng, 40, 40, rng.uniform(0.01, 0.05))
    start, goal = pick(rng, d, INFLATE), pick(rng, d, INFLATE)
    rules, b, m, cells = run_astar(d, start, goal, 3.0)
    if m == 0:
        return
    n_keep = pp.smooth(b["fcost"], d, b["cells"], m, cp_for(3.0), b["keep"])
    kept = [0] + [int(k) for k in b["keep"][:n_keep]]
    assert kept[-1] == m - 1 and kept == sorted(set(kept))
    verts = [cells[k] for k in kept]

    def length(pts):
        return sum(math.dist(p, q) for p, q in zip(pts, pts[1:], strict=False)) * RES

    assert length(verts) <= length(cells) + 1e-9
    for (p, q), (ka, kb) in zip(zip(verts, verts[1:], strict=False),
                                zip(kept, kept[1:], strict=False), strict=True):
        cover = nn.supercover(p, q)
        assert all(rules.passable(*c) for c in cover)
        # no closer to an obstacle than the replaced cells, less half a cell outside the margin
        dk = min(d[c] for c in cells[ka:kb + 1])
        floor = max(min(dk - RES / 2, INFLATE + RANGE), min(dk, INFLATE))
        assert all(d[c] >= floor for c in nn.supercover(p, q, interior=True))


def world_and_grid(world, res=0.1):
    dmax = INFLATE + RANGE + res
    g = OccupancyGrid(world, resolution=res, dmax=dmax, extra_points=((0.0, 0.0),), pad=1.0)
    return g, dmax


def route(g, dmax, start, wps, marks=None, first=0, out_rows=None, w=3.0):
    b = pp.alloc_buffers(g.nx * g.ny)
    d = np.empty_like(g.map_d)
    out = np.zeros((256, 2))
    wps = np.ascontiguousarray(wps, dtype=np.float64)
    rows = np.zeros(len(wps), dtype=np.int64) if out_rows is None else out_rows
    status = pp.plan_route(g.map_d, g.marks if marks is None else marks, d, g.x0, g.y0,
                           cp_for(w), dmax, *start, wps, first,
                           *pp.route_buffers(b), out, rows)
    return status, out[:int(b["meta"][pp.M_COUNT])].copy(), rows, b


def test_route_through_waypoints_keeps_the_robot_clear():
    world = WorldConfig(bounds=(-1.0, -3.0, 11.0, 3.0),
                        circles=(Circle(center=(2.0, 0.0), radius=0.6),
                                 Circle(center=(6.0, 1.2), radius=0.5)),
                        walls=(Wall(start=(4.0, -3.0), end=(4.0, 1.0)),),
                        polygons=(Polygon(points=((7.5, -2.0), (8.5, -2.0), (8.5, 0.5),
                                                  (7.5, 0.5))),))
    g, dmax = world_and_grid(world)
    wps = [(3.0, 2.0), (6.0, -1.0), (10.0, 0.0)]
    status, path, rows, _ = route(g, dmax, (0.0, 0.0), wps)
    assert status == pp.OK
    assert [tuple(path[r]) for r in rows] == wps
    pts = np.vstack([[0.0, 0.0], path])
    for p, q in zip(pts, pts[1:], strict=False):
        for t in np.linspace(0, 1, 200):
            x, y = p + t * (q - p)
            assert g.clearance(x, y) >= RADIUS - 1e-9, (x, y)
    # later waypoints only: rows of skipped waypoints are -1
    status, path2, rows2, _ = route(g, dmax, (3.0, 2.0), wps, first=1)
    assert status == pp.OK and rows2[0] == -1 and tuple(path2[rows2[2]]) == wps[2]


def test_route_failures_say_why():
    box = tuple(Wall(start=s, end=e) for s, e in (((5, -1), (7, -1)), ((7, -1), (7, 1)),
                                                   ((7, 1), (5, 1)), ((5, 1), (5, -1))))
    world = WorldConfig(bounds=(-1.0, -3.0, 9.0, 3.0), walls=box,
                        circles=(Circle(center=(2.0, 2.0), radius=0.4),))
    g, dmax = world_and_grid(world)
    status, _, _, b = route(g, dmax, (0.0, 0.0), [(1.0, 0.0), (6.0, 0.0)])
    assert status == pp.NO_PATH and b["meta"][pp.M_LEG] == 1
    assert route(g, dmax, (0.0, 0.0), [(2.0, 2.0)])[0] == pp.GOAL_BLOCKED
    assert route(g, dmax, (0.0, 0.0), [(20.0, 0.0)])[0] == pp.GOAL_OUTSIDE
    assert route(g, dmax, (-5.0, 0.0), [(1.0, 0.0)])[0] == pp.START_BLOCKED
    # a marked wall across the world blocks what the map alone allows
    marks = np.zeros_like(g.marks)
    j0, i0 = g.cell(3.0, -3.0 + 1e-6)
    marks[:, i0] = 1
    assert route(g, dmax, (0.0, 0.0), [(4.0, 0.0)])[0] == pp.OK
    assert route(g, dmax, (0.0, 0.0), [(4.0, 0.0)], marks=marks)[0] == pp.NO_PATH
    # too many vertices for the path array
    zigzag = [(x * 0.5, 0.4 * (-1) ** x) for x in range(1, 9)]
    out = np.zeros((4, 2))
    b = pp.alloc_buffers(g.nx * g.ny)
    st = pp.plan_route(g.map_d, g.marks, np.empty_like(g.map_d), g.x0, g.y0, cp_for(3.0),
                       dmax, 0.0, 0.0, np.array(zigzag), 0,
                       *pp.route_buffers(b), out, np.zeros(8, dtype=np.int64))
    assert st == pp.TOO_LONG


def test_a_start_squeezed_against_an_obstacle_can_leave():
    world = WorldConfig(bounds=(-1.0, -2.0, 5.0, 2.0), circles=(Circle(center=(0.0, 0.42),
                                                                       radius=0.2),))
    g, dmax = world_and_grid(world)
    start = (0.0, 0.0)  # 0.22 m from the circle: clear of the robot, not of the lethal margin
    assert RADIUS <= g.clearance(*start) < LETHAL
    status, path, _, _ = route(g, dmax, start, [(4.0, 0.0)])
    assert status == pp.OK and tuple(path[-1]) == (4.0, 0.0)


def test_bench_plan_reports_both_planners():
    result = bench_plan(grid_size=40, repeats=3)
    assert result["grid"] == [40, 40]
    assert result["kernel_ms"]["p50"] > 0 and result["python_astar_ms"]["p50"] > 0
    assert result["same_cost"]
