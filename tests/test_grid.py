"""The occupancy grid: map rasterisation, lidar marks and their clearing, the combined layer,
each against a slow per-cell reference (robo_orch.testing.naive_nav)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robo_orch.config.world import Circle, Polygon, Wall, WorldConfig
from robo_orch.core import grid as gr
from robo_orch.errors import ConfigError
from robo_orch.testing import naive_nav as nn


def random_world(rng) -> WorldConfig:
    walls = tuple(Wall(start=tuple(rng.uniform(-1, 5, 2)), end=tuple(rng.uniform(-1, 5, 2)))
                  for _ in range(rng.integers(0, 4)))
    circles = tuple(Circle(center=tuple(rng.uniform(-1, 5, 2)), radius=float(rng.uniform(0.05, 1)))
                    for _ in range(rng.integers(0, 4)))
    polys = []
    for _ in range(rng.integers(0, 3)):
        c = rng.uniform(0, 4, 2)
        k = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * math.pi, k))
        rad = rng.uniform(0.2, 1.0, k)
        polys.append(Polygon(points=tuple((float(c[0] + r * math.cos(a)),
                                           float(c[1] + r * math.sin(a)))
                                          for a, r in zip(ang, rad, strict=True))))
    bounds = (-1.5, -1.2, 5.3, 4.9) if rng.random() < 0.7 else ()
    return WorldConfig(bounds=bounds, walls=walls, circles=circles, polygons=tuple(polys))


@pytest.mark.parametrize("seed", range(12))
def test_rasterisation_matches_per_cell_geometry(seed):
    rng = np.random.default_rng(seed)
    world = random_world(rng)
    res = float(rng.choice([0.1, 0.17, 0.25]))
    dmax = float(rng.uniform(0.3, 1.2))
    use_map = bool(rng.random() < 0.8)
    g = gr.OccupancyGrid(world, resolution=res, dmax=dmax, use_map=use_map,
                         extra_points=((0.0, 0.0),), pad=1.0)
    segs, circles, poly_xy, offsets = g.arrays
    polygons = [[tuple(p) for p in poly_xy[offsets[k]:offsets[k + 1]]]
                for k in range(len(offsets) - 1)]
    ref = nn.rasterize(g.nx, g.ny, g.x0, g.y0, res, dmax, [tuple(s) for s in segs],
                       [tuple(c) for c in circles], polygons)
    np.testing.assert_allclose(g.map_d, ref, atol=1e-12)
    assert (g.map_d == 0).any() == (ref == 0).any()
    if not use_map:
        assert len(circles) == 0 and len(polygons) == 0
    # the exact clearance agrees with the cell values at cell centres
    for _ in range(20):
        j, i = int(rng.integers(g.ny)), int(rng.integers(g.nx))
        assert min(g.clearance(*g.centre(j, i)), dmax) == pytest.approx(ref[j, i], abs=1e-12)


def test_grid_covers_the_bounds_or_the_points_and_refuses_huge_grids():
    g = gr.OccupancyGrid(WorldConfig(bounds=(-1.0, -2.0, 3.0, 2.0)), resolution=0.1, dmax=0.5)
    assert (g.nx, g.ny, g.x0, g.y0) == (40, 40, -1.0, -2.0)
    assert g.cell(-1.0, -2.0) == (0, 0) and g.cell(2.99, 1.99) == (39, 39)
    assert g.cell(3.01, 0.0) is None and g.clearance(3.5, 0.0) == 0.0
    free = gr.OccupancyGrid(WorldConfig(), resolution=0.1, dmax=0.5,
                            extra_points=((0.0, 0.0), (4.0, 1.0)), pad=1.0)
    assert free.cell(0.0, 0.0) is not None and free.cell(4.0, 1.0) is not None
    assert free.cell(-1.4, 0.0) is not None and free.cell(-1.6, 0.0) is None
    with pytest.raises(ConfigError, match="max_cells"):
        gr.OccupancyGrid(WorldConfig(bounds=(0.0, 0.0, 100.0, 100.0)), resolution=0.01,
                         dmax=0.5, max_cells=1_000_000)


def _scan_points(rx, ry, world_map_clearance, ranges_fn, n=180):
    ang = np.linspace(-math.pi, math.pi, n, endpoint=False)
    r = np.array([ranges_fn(a) for a in ang])
    return np.ascontiguousarray(np.c_[rx + r * np.cos(ang), ry + r * np.sin(ang)])


def test_marks_only_what_the_map_does_not_explain_and_rays_clear_marks():
    world = WorldConfig(bounds=(-3.0, -3.0, 3.0, 3.0))
    g = gr.OccupancyGrid(world, resolution=0.1, dmax=0.6)
    new = np.zeros(512, dtype=np.int64)

    def mark(points, rx=0.0, ry=0.0, mark_range=6.0):
        return gr.mark_scan(points, len(points), rx, ry, g.map_d, g.marks, g.x0, g.y0, g.res,
                            0.1, mark_range, 0.2, 0.05, new, g.mark_stats)

    # a robot at the origin sees the bounds box (explained) ...
    box = _scan_points(0.0, 0.0, None, lambda a: min(3.0 / max(abs(math.cos(a)), 1e-9),
                                                     3.0 / max(abs(math.sin(a)), 1e-9)))
    assert mark(box) == 0 and g.marks.sum() == 0
    # ... and a post at (1.5, 0) that is not on the map
    post = np.array([[1.5, 0.0], [1.5, 0.05], [1.45, -0.05], [np.nan, 0.0]])
    n = mark(post)
    marked = {g.cell(x, y) for x, y in post[:3]}
    assert n == len(marked) and set(zip(*np.nonzero(g.marks), strict=True)) == marked
    assert {divmod(int(c), g.nx) for c in new[:n]} == marked
    assert mark(post) == 0  # marking again adds nothing new
    assert mark(np.array([[2.5, 2.5]]), mark_range=3.0) == 0  # beyond mark_range
    # the post has gone: a ray from elsewhere through its cells to the wall clears them
    mark(np.array([[3.0, 0.0], [3.0, 0.05], [3.0, -0.05]]), rx=0.5)
    assert g.marks.sum() == 0 and g.mark_stats[gr.MS_COUNT] == 0
    # but a ray ending right behind a mark (within clear_gap) leaves it
    mark(post)
    mark(np.array([[1.6, 0.0]]))
    assert g.marks[g.cell(1.5, 0.0)] != 0


def test_a_ray_clears_a_mark_only_by_going_through_its_hit_across_the_surface():
    world = WorldConfig(bounds=(-3.0, -3.0, 3.0, 3.0))
    new = np.zeros(512, dtype=np.int64)
    g = gr.OccupancyGrid(world, resolution=0.1, dmax=0.6)

    def scan(points, rx, ry):
        pts = np.ascontiguousarray(points, dtype=float)
        return gr.mark_scan(pts, len(pts), rx, ry, g.map_d, g.marks, g.x0, g.y0, g.res, 0.1,
                            6.0, 0.2, 0.03, new, g.mark_stats)

    # a lone hit at (1.02, 0.05): a ray crossing its cell 5 cm from it leaves it ...
    lone = g.cell(1.02, 0.05)
    scan([(1.02, 0.05)], 0.0, 0.0)
    scan([(2.9, 0.0)], 0.0, 0.0)  # (the far ends of these rays are on the map's bounds)
    assert g.marks[lone] != 0
    # ... one through it clears it
    scan([(2.9, 2.9 * 0.05 / 1.02)], 0.0, 0.0)
    assert g.marks[lone] == 0
    # a wall's hits along y = 0.98: a ray sent along the wall's line, 5 mm off it,
    # passes every hit closely but shows nothing ...
    wall = np.c_[np.linspace(-0.5, 0.5, 21), np.full(21, 0.98)]
    assert scan(wall, 0.0, 0.0) == 11
    scan([(2.9, 0.985)], -2.9, 0.985)
    assert np.count_nonzero(g.marks) == 11
    # ... one across it, through the hit at (0, 0.98), clears that one alone
    scan([(0.0, 2.9)], 0.0, -2.0)
    assert np.count_nonzero(g.marks) == 10 and g.marks[g.cell(0.0, 0.98)] == 0


@pytest.mark.parametrize("seed", range(5))
def test_combined_layer_matches_reference(seed):
    rng = np.random.default_rng(100 + seed)
    world = random_world(rng)
    g = gr.OccupancyGrid(world, resolution=0.2, dmax=0.8, extra_points=((0.0, 0.0),), pad=1.0)
    codes = rng.integers(1, 15 * 15 + 1, g.marks.shape)  # hits anywhere in their cells
    g.marks[:] = np.where(rng.random(g.marks.shape) < 0.02, codes, 0).astype(np.uint8)
    d = np.empty_like(g.map_d)
    margin = float(rng.choice([0.0, 0.1, 0.25]))
    count = gr.combine(g.map_d, g.marks, g.res, g.dmax, margin, d)
    assert count == np.count_nonzero(g.marks)
    np.testing.assert_allclose(d, nn.combine(g.map_d, g.marks, g.res, g.dmax, margin),
                               atol=1e-12)
    assert np.all(d <= g.map_d)


@pytest.mark.parametrize("seed", range(6))
def test_marking_and_clearing_match_reference_over_many_scans(seed):
    rng = np.random.default_rng(500 + seed)
    world = WorldConfig(bounds=(-2.0, -2.0, 2.0, 2.0),
                        circles=(Circle(center=(1.0, 1.0), radius=0.3),))
    g = gr.OccupancyGrid(world, resolution=0.2, dmax=0.6)
    ref_marks = g.marks.copy()
    new = np.zeros(64, dtype=np.int64)
    for _ in range(25):
        rx, ry = rng.uniform(-1.5, 1.5, 2)
        n = int(rng.integers(1, 30))
        pts = np.ascontiguousarray(rng.uniform(-2.2, 2.2, (n, 2)))
        explain, rng_max, gap = 0.1, float(rng.uniform(1.0, 4.0)), float(rng.uniform(0, 0.5))
        radius = float(rng.choice([0.05, 0.15, 10.0]))  # 10: every cell the ray crosses
        got = gr.mark_scan(pts, n, rx, ry, g.map_d, g.marks, g.x0, g.y0, g.res, explain,
                           rng_max, gap, radius, new, g.mark_stats)
        want = nn.mark_scan(pts, rx, ry, g.map_d, ref_marks, g.x0, g.y0, g.res, explain,
                            rng_max, gap, radius)
        assert got == len(want)
        assert sorted(divmod(int(c), g.nx) for c in new[:got]) == sorted(want)
        np.testing.assert_array_equal(g.marks, ref_marks)
        assert g.mark_stats[gr.MS_COUNT] == np.count_nonzero(g.marks)
        if g.mark_stats[gr.MS_COUNT]:
            js, is_ = np.nonzero(g.marks)
            st = g.mark_stats
            assert st[gr.MS_J0] <= js.min() and js.max() <= st[gr.MS_J1]
            assert st[gr.MS_I0] <= is_.min() and is_.max() <= st[gr.MS_I1]
