"""The distance field kernels against brute force and the pure-Python references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import props
from hypothesis import given
from hypothesis import strategies as st

from robo_orch.core import field as F
from robo_orch.core.world import FIELD_CAP, FIELD_RES, FIELD_VALID, FIELD_X0, FIELD_Y0, World
from robo_orch.testing import naive_behaviors as naive

# Documented in robo_orch/core/field.py: the field never under-estimates, and
# over-estimates by at most this many cells (worst measured 0.37 over ~12 000 fields).
ERROR_BOUND_CELLS = 0.5

SETTINGS = props(25)


def brute_force(points: np.ndarray, state: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Exact capped distance from every cell centre to the nearest point (numpy)."""
    ny, nx = shape
    xs = state[FIELD_X0] + np.arange(nx) * state[FIELD_RES]
    ys = state[FIELD_Y0] + np.arange(ny) * state[FIELD_RES]
    gx, gy = np.meshgrid(xs, ys)
    best = np.full(shape, np.inf)
    for p in points:
        best = np.minimum(best, np.hypot(gx - p[0], gy - p[1]))
    return np.minimum(best, state[FIELD_CAP])


def build(points: np.ndarray, shape=(40, 40), res=0.1, cap=2.0, centre=(0.0, 0.0)) -> World:
    world = World(field_shape=shape, field_resolution=res, field_cap=cap)
    world.scan[: len(points)] = points
    F.build_field(world.scan, len(points), centre[0], centre[1], world.state, world.field,
                  F.alloc_field_scratch(shape))
    return world


def lidar_scan(rng: np.random.Generator, n: int, cx: float, cy: float) -> np.ndarray:
    """A closed, wavy room outline seen from (cx, cy)."""
    a = np.linspace(-np.pi, np.pi, n, endpoint=False)
    r = 1.0 + 2.0 * rng.random() + 0.4 * np.sin(a * rng.integers(1, 6) + rng.random() * 6)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300),
       shape=st.tuples(st.integers(1, 48), st.integers(1, 48)),
       res=st.sampled_from([0.05, 0.1, 0.2]), cap=st.floats(0.3, 3.0),
       spread=st.floats(0.5, 5.0), kind=st.sampled_from(["uniform", "scan", "clusters"]))
def test_build_field_matches_brute_force(seed, n, shape, res, cap, spread, kind):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        points = rng.uniform(-spread, spread, size=(n, 2))
    elif kind == "scan":
        points = lidar_scan(rng, max(n, 1), *rng.uniform(-0.5, 0.5, 2))
    else:
        centres = rng.uniform(-spread, spread, size=(5, 2))
        points = centres[rng.integers(0, 5, n)] + rng.normal(0.0, 0.1, size=(n, 2))
    centre = tuple(rng.uniform(-0.5, 0.5, 2))
    world = build(points, shape, res, cap, centre)
    exact = brute_force(points, world.state, shape)
    err = world.field - exact
    assert err.min() >= -1e-9, "the field must never under-estimate"
    assert err.max() <= ERROR_BOUND_CELLS * res
    near = exact <= res  # the point is in the cell's 3 x 3 block: seeded directly
    np.testing.assert_allclose(world.field[near], exact[near], atol=1e-12)
    assert world.state[FIELD_VALID] == 1.0


def test_build_field_lidar_sized_case():
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(10):
        points = lidar_scan(rng, 360, *rng.uniform(-1, 1, 2))
        world = build(points, (60, 60), 0.1, 2.0)
        err = world.field - brute_force(points, world.state, (60, 60))
        assert err.min() >= -1e-9
        worst = max(worst, err.max())
    assert worst <= ERROR_BOUND_CELLS * 0.1


def test_build_field_agrees_with_pure_python_reference():
    rng = np.random.default_rng(1)
    points = rng.uniform(-1.5, 1.5, size=(40, 2))
    points[3] = (np.nan, 0.0)  # skipped by both
    world = build(points, (16, 20), 0.1, 1.0, centre=(0.2, -0.1))
    state = np.zeros_like(world.state)
    state[FIELD_RES], state[FIELD_CAP] = 0.1, 1.0
    ref = np.zeros((16, 20))
    naive.build_field(points, len(points), 0.2, -0.1, state, ref)
    assert world.state[FIELD_X0] == pytest.approx(state[FIELD_X0])
    assert world.state[FIELD_Y0] == pytest.approx(state[FIELD_Y0])
    assert np.all(world.field >= ref - 1e-12)
    assert np.max(world.field - ref) <= ERROR_BOUND_CELLS * 0.1


def test_build_field_geometry_and_empty_scan():
    world = build(np.zeros((0, 2)), (10, 20), 0.1, 1.5, centre=(3.0, -2.0))
    assert world.state[FIELD_X0] == pytest.approx(3.0 - 9.5 * 0.1)
    assert world.state[FIELD_Y0] == pytest.approx(-2.0 - 4.5 * 0.1)
    assert np.all(world.field == 1.5)
    assert world.state[FIELD_VALID] == 1.0


def test_build_field_point_outside_the_field_still_counts():
    world = build(np.array([[1.3, 0.0]]), (20, 20), 0.1, 2.0)  # field spans x in +-0.95
    exact = brute_force(np.array([[1.3, 0.0]]), world.state, (20, 20))
    np.testing.assert_allclose(world.field, exact, atol=ERROR_BOUND_CELLS * 0.1)
    assert world.field[10, 19] == pytest.approx(math.hypot(1.3 - 0.95, 0.05))


def test_build_field_rejects_small_scratch():
    world = World(field_shape=(10, 10))
    with pytest.raises(ValueError):
        F.build_field(world.scan, 0, 0.0, 0.0, world.state, world.field,
                      F.alloc_field_scratch((5, 5)))


def random_field_world(seed: int) -> World:
    rng = np.random.default_rng(seed)
    world = World(field_shape=(7, 9), field_resolution=0.25, field_cap=3.0)
    world.field[:] = rng.uniform(0.0, 3.0, size=(7, 9))
    world.state[FIELD_X0], world.state[FIELD_Y0] = -1.0, 0.5
    world.state[FIELD_VALID] = 1.0
    return world


@SETTINGS
@given(seed=st.integers(0, 1000), fx=st.floats(0.0, 8.0), fy=st.floats(0.0, 6.0))
def test_field_distance_interpolates_between_the_cell_centres(seed, fx, fy):
    world = random_field_world(seed)
    f, s = world.field, world.state
    x, y = -1.0 + fx * 0.25, 0.5 + fy * 0.25
    i, j = min(int(fx), 7), min(int(fy), 5)
    got = F.field_distance(s, f, x, y)
    around = f[j:j + 2, i:i + 2]  # the four centres around (x, y)
    assert around.min() - 1e-12 <= got <= around.max() + 1e-12
    assert naive.field_distance(s, f, x, y) == pytest.approx(got, abs=1e-12)
    # the distance to a straight wall grows linearly: between centres it is read exactly
    gx, gy = np.random.default_rng(seed).uniform(-0.5, 0.5, 2)
    cy, cx = np.mgrid[0:7, 0:9]
    world.field[:] = 2.0 + gx * (-1.0 + 0.25 * cx) + gy * (0.5 + 0.25 * cy)
    assert F.field_distance(s, world.field, x, y) == pytest.approx(2.0 + gx * x + gy * y,
                                                                   abs=1e-12)


def test_field_distance_at_centres_edges_and_outside():
    world = random_field_world(3)
    f, s = world.field, world.state
    assert F.field_distance(s, f, -1.0 + 2 * 0.25, 0.5 + 3 * 0.25) == f[3, 2]
    # within half a cell beyond the last centre: the edge value
    assert F.field_distance(s, f, -1.0 - 0.1, 0.5) == pytest.approx(f[0, 0])
    assert F.field_distance(s, f, -1.0 + 8 * 0.25 + 0.12, 0.5 + 6 * 0.25) == pytest.approx(f[6, 8])
    for x, y in [(-1.2, 0.5), (1.2, 1.0), (0.0, 0.2), (0.0, 2.2), (math.nan, 0.0)]:
        assert F.field_distance(s, f, x, y) == 3.0
        assert naive.field_distance(s, f, x, y) == 3.0
    s[FIELD_VALID] = 0.0
    assert F.field_distance(s, f, 0.0, 1.0) == 3.0


def test_scan_to_points_frame_transform():
    out = np.zeros((8, 2))
    angles = np.array([0.0, math.pi / 2, -math.pi / 2])
    ranges = np.array([1.0, 2.0, 0.5])
    n = F.scan_to_points(angles, ranges, 3, 1.0, 2.0, math.pi / 2, 0.05, 10.0, out)
    assert n == 3
    np.testing.assert_allclose(out[:3], [[1.0, 3.0], [-1.0, 2.0], [1.5, 2.0]], atol=1e-12)


def test_scan_to_points_skips_no_returns():
    out = np.zeros((8, 2))
    ranges = np.array([0.0, -1.0, np.nan, np.inf, 0.01, 11.0, 1.0, 10.0])
    angles = np.zeros(8)
    angles[7] = np.nan
    n = F.scan_to_points(angles, ranges, 8, 0.0, 0.0, 0.0, 0.05, 10.0, out)
    assert n == 1
    np.testing.assert_allclose(out[0], [1.0, 0.0])
    # count limits the rays read; out_points limits the points written
    assert F.scan_to_points(angles, ranges, 6, 0.0, 0.0, 0.0, 0.05, 10.0, out) == 0
    small = np.zeros((2, 2))
    many = np.ones(5)
    assert F.scan_to_points(np.zeros(5), many, 5, 0.0, 0.0, 0.0, 0.0, 5.0, small) == 2


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 50), pose=st.tuples(
    st.floats(-5, 5), st.floats(-5, 5), st.floats(-math.pi, math.pi)))
def test_scan_to_points_matches_reference(seed, n, pose):
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-math.pi, math.pi, n)
    ranges = rng.uniform(-1.0, 9.0, n)
    ranges[rng.random(n) < 0.1] = np.nan
    out, ref = np.zeros((64, 2)), np.zeros((64, 2))
    k = F.scan_to_points(angles, ranges, n, *pose, 0.1, 8.0, out)
    assert k == naive.scan_to_points(angles, ranges, n, *pose, 0.1, 8.0, ref)
    np.testing.assert_allclose(out[:k], ref[:k], atol=1e-12)


def test_nearest_distance():
    points = np.array([[1.0, 0.0], [0.0, -3.0], [5.0, 5.0]])
    assert F.nearest_distance(points, 3, 0.0, 0.0) == pytest.approx(1.0)
    assert F.nearest_distance(points, 3, 0.0, -2.0) == pytest.approx(1.0)
    assert F.nearest_distance(points, 0, 0.0, 0.0) == math.inf
    assert naive.nearest_distance(points, 2, 4.0, 4.0) == pytest.approx(
        F.nearest_distance(points, 2, 4.0, 4.0))
