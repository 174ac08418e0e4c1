"""The world map and its compiled geometry kernels against analytic answers and references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from robo_orch.config.world import Circle, Polygon, Wall, WorldConfig
from robo_orch.sim.geometry import WorldMap, check_placement, clearance

INF = math.inf


def make_map(segments=(), circles=(), polygons=()) -> WorldMap:
    """A map from raw tuples; polygon edges are added to the segments as from_config does."""
    segs = list(segments)
    for poly in polygons:
        segs += [(*poly[i], *poly[(i + 1) % len(poly)]) for i in range(len(poly))]
    return WorldMap(np.array(segs, dtype=float).reshape(-1, 4),
                    np.array(circles, dtype=float).reshape(-1, 3), [np.array(p) for p in polygons])


def cast(wm: WorldMap, x, y, heading, angles, max_range=100.0) -> np.ndarray:
    return wm.raycast(x, y, heading, np.asarray(angles, dtype=float), max_range)


# --- slow, obviously correct references ------------------------------------------------

def ref_ray(ox, oy, a, max_range, segments, circles, eps):
    """First hit along the ray; eps > 0 grows every obstacle a little, eps < 0 shrinks it."""
    dx, dy = math.cos(a), math.sin(a)
    hits = []
    for x1, y1, x2, y2 in segments:
        ex, ey = x2 - x1, y2 - y1
        # o + t d = p1 + s e  <=>  [[dx, -ex], [dy, -ey]] @ [t, s] = p1 - o
        det = -dx * ey + ex * dy
        if abs(det) <= 1e-12 * (abs(ex) + abs(ey)):
            continue
        bx, by = x1 - ox, y1 - oy
        t = (-ey * bx + ex * by) / det
        s = (-dy * bx + dx * by) / det
        if -eps <= s <= 1.0 + eps and t >= -eps:
            hits.append(max(t, 0.0))
    for cx, cy, r in circles:
        # growing a circle around the origin moves its exit point further: shrink it
        r = r - eps if math.hypot(cx - ox, cy - oy) < r else r + eps
        if r <= 0:
            continue
        tc = (cx - ox) * dx + (cy - oy) * dy  # closest approach along the ray
        d2 = (cx - ox) ** 2 + (cy - oy) ** 2 - tc * tc
        if d2 > r * r:
            continue
        half = math.sqrt(max(r * r - d2, 0.0))
        for t in (tc - half, tc + half):
            if t >= 0.0:
                hits.append(t)
                break
    hits = [t for t in hits if t <= max_range + eps]
    return min(hits) if hits else INF


def ref_segment_distance(px, py, x1, y1, x2, y2):
    """The nearer endpoint, or the perpendicular distance if its foot lies on the segment."""
    best = min(math.hypot(px - x1, py - y1), math.hypot(px - x2, py - y2))
    length = math.hypot(x2 - x1, y2 - y1)
    if length > 0:
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        along = (px - x1) * ux + (py - y1) * uy
        if 0.0 <= along <= length:
            best = min(best, abs((px - x1) * uy - (py - y1) * ux))
    return best


def ref_winding(px, py, poly) -> int:
    """Winding number of poly around (px, py), by summing signed angles."""
    total = 0.0
    for i in range(len(poly)):
        ax, ay = poly[i][0] - px, poly[i][1] - py
        bx, by = poly[(i + 1) % len(poly)][0] - px, poly[(i + 1) % len(poly)][1] - py
        total += math.atan2(ax * by - ay * bx, ax * bx + ay * by)
    return round(total / (2 * math.pi))


# --- raycast: analytic answers -----------------------------------------------------------

WALL_X3 = (3.0, -5.0, 3.0, 5.0)


def test_ray_perpendicular_to_wall():
    wm = make_map(segments=[WALL_X3])
    assert cast(wm, 0.0, 0.0, 0.0, [0.0])[0] == pytest.approx(3.0, abs=1e-12)
    # heading and ray angle add up: heading pi/2 with a ray at -pi/2 looks along +x
    assert cast(wm, 1.0, 0.0, math.pi / 2, [-math.pi / 2])[0] == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("angle", [0.3, -0.7, 1.2])
def test_ray_at_angle_to_wall(angle):
    wm = make_map(segments=[(3.0, -50.0, 3.0, 50.0)])
    assert cast(wm, 0.0, 0.0, 0.0, [angle])[0] == pytest.approx(3.0 / math.cos(angle), rel=1e-12)


def test_ray_through_circle_centre():
    wm = make_map(circles=[(5.0, 2.0, 1.5)])
    a = math.atan2(2.0, 5.0)
    assert cast(wm, 0.0, 0.0, a, [0.0])[0] == pytest.approx(math.hypot(5, 2) - 1.5, rel=1e-12)


def test_ray_from_inside_circle_hits_its_edge():
    wm = make_map(circles=[(0.0, 0.0, 2.0)])
    ranges = cast(wm, 0.5, 0.0, 0.0, [0.0, math.pi])
    np.testing.assert_allclose(ranges, [1.5, 2.5], rtol=1e-12)


def test_ray_that_misses_everything_is_inf():
    wm = make_map(segments=[WALL_X3], circles=[(0.0, 5.0, 1.0)])
    assert cast(wm, 0.0, 0.0, math.pi, [0.0])[0] == INF  # wall and circle are behind
    assert cast(wm, 0.0, 0.0, -math.pi / 2, [0.0])[0] == INF
    assert cast(make_map(), 0.0, 0.0, 0.0, [0.0, 1.0])[1] == INF  # empty world


def test_hit_beyond_max_range_is_inf():
    wm = make_map(segments=[WALL_X3])
    assert cast(wm, 0.0, 0.0, 0.0, [0.0], max_range=2.9)[0] == INF
    assert cast(wm, 0.0, 0.0, 0.0, [0.0], max_range=3.1)[0] == pytest.approx(3.0)


def test_nearest_of_several_obstacles_wins():
    wm = make_map(segments=[(6.0, -1.0, 6.0, 1.0), WALL_X3, (4.0, -1.0, 4.0, 1.0)],
                  circles=[(10.0, 0.0, 1.0), (2.5, 0.0, 0.25)])
    assert cast(wm, 0.0, 0.0, 0.0, [0.0])[0] == pytest.approx(2.25, abs=1e-12)
    # off the small circle's line the wall at x = 3 is the nearest
    assert cast(wm, 0.0, 0.0, 0.0, [0.3])[0] == pytest.approx(3.0 / math.cos(0.3))


def test_polygon_edges_are_hit_from_outside_and_inside():
    square = [(2.0, -1.0), (4.0, -1.0), (4.0, 1.0), (2.0, 1.0)]
    wm = make_map(polygons=[square])
    assert cast(wm, 0.0, 0.0, 0.0, [0.0])[0] == pytest.approx(2.0)
    assert cast(wm, 0.0, 0.0, 0.0, [math.atan2(1.0, 4.0)])[0] == pytest.approx(math.hypot(2, 0.5))
    assert cast(wm, 3.0, 0.0, 0.0, [math.pi / 2])[0] == pytest.approx(1.0)


def test_world_map_from_config_collects_every_surface():
    cfg = WorldConfig(bounds=(-5.0, -4.0, 5.0, 4.0),
                      walls=(Wall(start=(1.0, 1.0), end=(2.0, 2.0)),),
                      circles=(Circle(center=(0.0, 2.0), radius=0.5),),
                      polygons=(Polygon(points=((2.0, -1.0), (3.0, -1.0), (2.5, 0.0))),),
                      wall_thickness=0.0)
    wm = WorldMap.from_config(cfg)
    assert wm.segments.shape == (4 + 1 + 3, 4) and wm.circles.shape == (1, 3)
    assert wm.segments.flags.c_contiguous and wm.segments.dtype == np.float64
    np.testing.assert_array_equal(wm.poly_offsets, [0, 3])
    # the bounds box: looking down from the origin hits ymin = -4
    assert wm.raycast(0.0, 0.0, -math.pi / 2, np.zeros(1), 100.0)[0] == pytest.approx(4.0)
    assert wm.raycast(0.0, 0.0, math.pi, np.zeros(1), 100.0)[0] == pytest.approx(5.0)


def test_a_thick_wall_is_seen_end_on_and_every_clearance_agrees():
    # a zero-thickness wall seen along its length is invisible to every ray; a thick
    # one is a capsule: its round end is hit straight on, its sides from beside it
    wall = (Wall(start=(3.0, 0.0), end=(7.0, 0.0)),)
    thin = WorldMap.from_config(WorldConfig(walls=wall, wall_thickness=0.0))
    thick_cfg = WorldConfig(walls=wall, wall_thickness=0.1)
    thick = WorldMap.from_config(thick_cfg)
    assert thin.raycast(0.0, 0.0, 0.0, np.zeros(1), 20.0)[0] == math.inf
    assert thick.raycast(0.0, 0.0, 0.0, np.zeros(1), 20.0)[0] == pytest.approx(2.95)
    assert thick.raycast(5.0, 2.0, -math.pi / 2, np.zeros(1), 20.0)[0] == pytest.approx(1.95)
    from robo_orch.config.world import world_clearance
    from robo_orch.core.grid import OccupancyGrid
    from robo_orch.missions.report import static_clearance

    grid = OccupancyGrid(thick_cfg, resolution=0.1, dmax=2.0, extra_points=((0.0, 0.0),))
    for x, y in [(0.0, 0.0), (5.0, 1.0), (7.5, 0.3), (2.0, -0.5), (5.0, 0.02)]:
        expected = max(0.0, math.dist((x, y), (min(max(x, 3.0), 7.0), 0.0)) - 0.05)
        if expected > 0.0:  # outside: the distance to the capsule's surface
            assert thick.clearance(x, y) == pytest.approx(expected)
        else:  # inside the wall's thickness: collides with any robot
            assert thick.clearance(x, y) < 0.05
        assert world_clearance(thick_cfg, x, y) == pytest.approx(expected, abs=1e-12) or (
            expected == 0.0 and world_clearance(thick_cfg, x, y) < 0.05)
        assert static_clearance(thick_cfg, np.array([[x, y]]))[0] == pytest.approx(
            thick.clearance(x, y))
        assert grid.clearance(x, y) == pytest.approx(thick.clearance(x, y))


coord = st.floats(-8.0, 8.0, allow_nan=False)
segment = st.tuples(coord, coord, coord, coord)
circle = st.tuples(coord, coord, st.floats(0.05, 3.0))


@settings(max_examples=150, deadline=None)
@given(segments=st.lists(segment, max_size=8), circles=st.lists(circle, max_size=5),
       ox=coord, oy=coord, heading=st.floats(-4.0, 4.0), max_range=st.floats(0.5, 30.0))
def test_raycast_matches_reference(segments, circles, ox, oy, heading, max_range):
    # an origin on a circle's surface has no stable answer (touching or not)
    assume(all(abs(math.hypot(cx - ox, cy - oy) - r) > 1e-5 for cx, cy, r in circles))
    wm = make_map(segments=segments, circles=circles)
    angles = np.linspace(-math.pi, math.pi, 24, endpoint=False)
    ranges = cast(wm, ox, oy, heading, angles, max_range)
    for a, got in zip(angles, ranges, strict=True):
        # grazing hits are ambiguous: the kernel must lie between the reference on
        # slightly grown obstacles (hits more, nearer) and on slightly shrunk ones
        near = ref_ray(ox, oy, heading + a, max_range, segments, circles, 1e-7)
        far = ref_ray(ox, oy, heading + a, max_range, segments, circles, -1e-7)
        assert near - 1e-6 <= got <= far + 1e-6, (a, near, got, far)
        if near == far:
            assert got == pytest.approx(near, rel=1e-9, abs=1e-9)


# --- clearance ------------------------------------------------------------------------------

def clr(wm: WorldMap, x, y) -> float:
    return clearance(float(x), float(y), wm.segments, wm.circles, wm.poly_xy, wm.poly_offsets)


def test_clearance_inside_circle_and_polygon_is_zero():
    l_shape = [(0.0, 0.0), (4.0, 0.0), (4.0, 1.0), (1.0, 1.0), (1.0, 4.0), (0.0, 4.0)]
    wm = make_map(circles=[(10.0, 10.0, 1.0)], polygons=[l_shape])
    assert clr(wm, 10.2, 9.7) == 0.0
    assert clr(wm, 0.5, 3.5) == 0.0 and clr(wm, 3.5, 0.5) == 0.0
    # in the notch of the L: outside, 1 m from both arms' inner edges at (2, 2)
    assert clr(wm, 2.0, 2.0) == pytest.approx(1.0)
    assert clr(wm, 13.0, 10.0) == pytest.approx(2.0)


def test_clearance_to_segment_interior_and_endpoint():
    wm = make_map(segments=[(0.0, 0.0, 4.0, 0.0)])
    assert clr(wm, 2.0, 1.5) == pytest.approx(1.5)  # the perpendicular foot is inside
    assert clr(wm, 7.0, 4.0) == pytest.approx(5.0)  # nearest is the endpoint (4, 0)
    assert clr(wm, -3.0, -4.0) == pytest.approx(5.0)  # and (0, 0) on the other side
    assert clr(make_map(), 1.0, 1.0) == INF


def test_check_placement_reports_surface_clearance():
    cfg = WorldConfig(bounds=(0.0, 0.0, 10.0, 10.0), circles=(Circle(center=(5.0, 5.0),
                                                                      radius=1.0),))
    wm = WorldMap.from_config(cfg)
    assert check_placement(wm, 2.0, 5.0, 0.2) == pytest.approx(1.8)  # circle 2 m, wall 2 m
    assert check_placement(wm, 0.1, 5.0, 0.2) == pytest.approx(-0.1)  # overlaps the wall
    assert check_placement(wm, 5.0, 5.0, 0.2) == pytest.approx(-0.2)  # inside the circle
    assert check_placement(wm, -3.0, 5.0, 0.2) < 0.0  # outside the bounds


@settings(max_examples=100, deadline=None)
@given(segments=st.lists(segment, max_size=5), circles=st.lists(circle, max_size=4),
       tri=st.lists(st.tuples(coord, coord), min_size=3, max_size=6), px=coord, py=coord)
def test_clearance_matches_reference(segments, circles, tri, px, py):
    wm = make_map(segments=segments, circles=circles, polygons=[tri])
    got = clr(wm, px, py)
    edges = [(*tri[i], *tri[(i + 1) % len(tri)]) for i in range(len(tri))]
    d_surface = min([ref_segment_distance(px, py, *s) for s in segments + edges]
                    + [math.hypot(px - cx, py - cy) - r for cx, cy, r in circles])
    if d_surface > 1e-6 and all(math.hypot(px - cx, py - cy) > r for cx, cy, r in circles):
        inside_poly = ref_winding(px, py, tri) % 2 == 1
        # a self-intersecting polygon: even-odd and winding parity agree away from edges
        expected = 0.0 if inside_poly else d_surface
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    else:
        assert got <= max(d_surface, 0.0) + 1e-9
