"""Polygon footprints (robot.footprint): the circle cover, the safety invariant measured
against the exact polygon on each base, the simulator's contact test, the config.

The invariant, through the real kernels: a robot with a polygon footprint (random
rectangles, and an L-shape that is not convex) whose motion follows the sent
commands (the simulators' own models with their first-order lag) never has a
scanned point inside its polygon, whatever is proposed, on the diff_drive,
skid_steer and holonomic kernels.  It starts at rest with every point at least
``margin`` outside the circles covering it; the world is static and fully scanned;
the estimate is the truth.  The polygon is placed at 16 sub-steps of every tick.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import props, soak
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_orch.config import load_config
from robo_orch.config.sections import RobotConfig, SafetyConfig
from robo_orch.core import safety as sf
from robo_orch.core import safety_holonomic as sh
from robo_orch.core import world as w
from robo_orch.core.footprint_stop import (
    check_stop_fp,
    footprint_limits_polygon,
    heading_bound,
)
from robo_orch.core.safety_footprint import safety_footprint
from robo_orch.errors import ConfigError
from robo_orch.footprint import circle_cover, inscribed_radius, outside_distance
from robo_orch.kinematics import kinematics_for
from robo_orch.sim.holonomic import step_holonomic
from robo_orch.sim.robot import step_diff_drive

SUB = 16
L_SHAPE = ((0.35, 0.15), (-0.35, 0.15), (-0.35, -0.15), (0.05, -0.15), (0.05, -0.4),
           (0.35, -0.4))


def polygon_inside(poly: np.ndarray, x, y, yaw, pts: np.ndarray) -> np.ndarray:
    """Which points lie strictly inside the body polygon placed at (x, y, yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)
    dx, dy = pts[:, 0] - x, pts[:, 1] - y
    bx, by = c * dx + s * dy, -s * dx + c * dy
    inside = np.zeros(len(pts), dtype=bool)
    m = len(poly)
    for i in range(m):
        (ax, ay), (ex, ey) = poly[i], poly[(i + 1) % m]
        cross = (ay > by) != (ey > by)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = ax + (by - ay) * (ex - ax) / (ey - ay)
        inside ^= cross & (bx < xi - 1e-6)
    return inside


def test_the_cover_contains_the_polygon_and_states_its_overshoot():
    rng = np.random.default_rng(3)
    for poly in ([(0.4, 0.2), (-0.4, 0.2), (-0.4, -0.2), (0.4, -0.2)], list(L_SHAPE),
                 [(0.3, 0.0), (0.0, 0.25), (-0.3, 0.0), (0.0, -0.25)]):
        circles, over = circle_cover(poly, 0.05)
        assert 1 <= len(circles) <= 12 and over >= 0.0
        # every point of the polygon is in some circle
        xs, ys = zip(*poly, strict=True)
        pts = rng.uniform([min(xs), min(ys)], [max(xs), max(ys)], size=(4000, 2))
        for px, py in pts:
            if outside_distance(px, py, poly) == 0.0:
                assert any(math.hypot(px - cx, py - cy) <= r + 1e-12 for cx, cy, r in circles)
    # a square cell is the best a strip does: 0.207 of the width
    _, over = circle_cover([(0.4, 0.2), (-0.4, 0.2), (-0.4, -0.2), (0.4, -0.2)], 0.05)
    assert over == pytest.approx(0.4 * (math.sqrt(2) - 1) / 2, abs=2e-3)


def test_heading_bound_covers_the_lagged_yaw_of_the_braking_plan():
    for w0, cw, tau in ((0.0, 1.2, 0.08), (1.5, -0.7, 0.25), (-2.0, 0.0, 0.1), (0.3, 2.0, 0.0)):
        dt, ya = 0.02, 6.0
        w, c, total = w0, cw, 0.0
        for _ in range(4000):
            for _ in range(50):
                h = dt / 50
                w = c + (w - c) * (math.exp(-h / tau) if tau > 0 else 0.0)
                total += abs(w) * h
            c = math.copysign(max(abs(c) - ya * dt, 0.0), c)
        assert total <= heading_bound(w0, cw, dt, tau, ya) + 1e-9


def test_a_turn_in_place_reports_a_lowest_clearance_its_swinging_circles_keep():
    """Turning in place, the rollout of each circle's centre stands still (no piece to
    measure), while the circle swings by up to rho: the lowest clearance the check reports
    is still a lower bound of the true circles' clearance to a point beside the swing."""
    poly = ((0.4, 0.15), (-0.4, 0.15), (-0.4, -0.15), (0.4, -0.15))
    circles, _ = circle_cover(list(poly), 0.05)
    fp = np.array([v for c in circles for v in c], dtype=float)
    flat = np.array([v for xy in poly for v in xy], dtype=float)
    w0 = cw = 1.0
    dt, tau, decel, ya, margin = 0.02, 0.08, 1.0, 6.0, 0.05
    ox, oy, r = max(circles, key=lambda c: c[0])  # the front circle
    rho = 2.0 * math.hypot(ox, oy) * math.sin(0.5 * min(heading_bound(w0, cw, dt, tau, ya),
                                                        math.pi))
    # beside the front circle, ahead of its swing, within the margin plus the swing now
    d = r + margin + 0.5 * rho
    q = np.array([[ox + d * math.cos(1.2), oy + d * math.sin(1.2)]])
    ok, low, _ = check_stop_fp(q, 1, np.zeros((1, 3)), fp, len(circles), flat, len(poly),
                               0.0, 0.0, 0.0, 0.0, w0, 0.0, cw, dt, tau, decel, ya, margin)
    # the true swing: the yaw rate through the lag under the braking plan, finely stepped
    theta, w, c, true_low = 0.0, w0, cw, math.inf
    for _ in range(200):
        for _ in range(50):
            h = dt / 50
            w = c + (w - c) * math.exp(-h / tau)
            theta += w * h
            for cx, cy, cr in circles:
                px = math.cos(theta) * cx - math.sin(theta) * cy
                py = math.sin(theta) * cx + math.cos(theta) * cy
                true_low = min(true_low, math.hypot(q[0, 0] - px, q[0, 1] - py) - cr)
        c = math.copysign(max(abs(c) - ya * dt, 0.0), c)
    assert true_low < d - r  # the circle does swing toward the point
    assert low <= true_low + 1e-9, (ok, low, true_low)


def _points(draw, circles, margin):
    pts = [(draw(st.floats(-2.5, 2.5)), draw(st.floats(-2.5, 2.5)))
           for _ in range(draw(st.integers(0, 25)))]
    if draw(st.integers(0, 3)):  # mostly: a wall somewhere near
        dist = draw(st.floats(0.3, 2.0))
        angle = draw(st.floats(-math.pi, math.pi))
        tilt = draw(st.floats(-1.2, 1.2))
        cx, cy = dist * math.cos(angle), dist * math.sin(angle)
        ux, uy = -math.sin(angle + tilt), math.cos(angle + tilt)
        pts += [(cx + s * ux, cy + s * uy) for s in np.linspace(-1.5, 1.5, 91)]
    arr = np.asarray(pts, dtype=float).reshape(-1, 2)
    keep = np.ones(len(arr), dtype=bool)
    for ox, oy, r in circles:  # the robot starts at the origin, yaw 0
        keep &= np.hypot(arr[:, 0] - ox, arr[:, 1] - oy) >= r + margin
    return arr[keep]


@st.composite
def cases(draw):
    base = draw(st.sampled_from(["diff_drive", "skid_steer", "holonomic"]))
    if draw(st.integers(0, 3)):
        half_l, half_w = draw(st.floats(0.15, 0.6)), draw(st.floats(0.1, 0.3))
        back = draw(st.floats(-0.5, 0.5)) * half_l  # the tracked point off the centre
        poly = ((half_l + back, half_w), (-half_l + back, half_w), (-half_l + back, -half_w),
                (half_l + back, -half_w))
    else:
        poly = L_SHAPE
    circles, _ = circle_cover(list(poly), 0.05)
    margin = draw(st.sampled_from([0.0, 0.02, 0.05]))
    safety = SimpleNamespace(
        max_speed=draw(st.floats(0.2, 1.2)), max_reverse=draw(st.floats(0.0, 0.5)),
        max_yaw_rate=draw(st.floats(0.5, 2.5)), max_accel=draw(st.floats(0.3, 3.0)),
        max_decel=draw(st.floats(0.5, 3.0)), max_yaw_accel=draw(st.floats(1.0, 8.0)),
        collision_margin=margin, collision_horizon_s=draw(st.floats(0.1, 2.0)))
    robot = SimpleNamespace(wheel_base=0.34, axle_distance=0.3,
                            max_wheel_speed=draw(st.floats(0.5, 2.0)),
                            motor_time_constant=draw(st.sampled_from([0.0, 0.08, 0.2])))
    prop = st.tuples(st.floats(-1.5, 1.5), st.floats(-1.0, 1.0), st.floats(-3.0, 3.0))
    plan = draw(st.lists(st.tuples(prop, st.integers(1, 50)), min_size=1, max_size=5))
    return base, poly, circles, safety, robot, plan, _points(draw, circles, margin)


@props(60)
@given(case=cases())
def test_a_polygon_robot_following_the_commands_never_touches_a_scanned_point(case):
    drive(*case)


@pytest.mark.slow
@settings(deadline=None, max_examples=soak(30, 2000), database=None)
@given(case=cases())
def test_polygon_invariant_soak(case):
    """The same on random (not derandomized) cases: 30 a run in the suite, 2000 with
    ROBO_ORCH_SOAK=1.  (The derandomized examples depend on the modules hypothesis has
    seen: a square's contact, fixed in this release, showed up only with others loaded.)"""
    drive(*case)


@pytest.mark.parametrize("base", ["diff_drive", "holonomic"])
def test_a_long_robot_turning_beside_a_wall_keeps_its_ends_off_it(base):
    """The circles' rotation pad: turning in place, the centres of the end circles
    swing toward a wall their translated rollout never comes near."""
    poly = ((0.6, 0.1), (-0.6, 0.1), (-0.6, -0.1), (0.6, -0.1))
    circles, _ = circle_cover(list(poly), 0.05)
    edge = max(math.hypot(x, y) + r for x, y, r in circles)
    wall = np.column_stack([np.linspace(-1.5, 1.5, 301), np.full(301, 0.35)])
    assert edge > 0.35 + 0.1  # the turn would reach the wall
    safety = SimpleNamespace(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.5, max_accel=1.0,
                             max_decel=2.0, max_yaw_accel=8.0, collision_margin=0.0,
                             collision_horizon_s=1.5)
    robot = SimpleNamespace(wheel_base=0.34, axle_distance=0.3, max_wheel_speed=2.0,
                            motor_time_constant=0.08)
    drive(base, poly, circles, safety, robot, [((0.0, 0.0, 2.5), 100)], wall)


@pytest.mark.parametrize("base", ["diff_drive", "holonomic"])
def test_a_square_robot_whose_cover_is_one_circle_keeps_its_corners_off_a_wall(base):
    """A square's cover is one circle at the origin, its circumscribed one.  Its limits
    once dropped that circle as "round", so the kernel checked the robot's radius (the
    inscribed one) and a corner drove 6 mm into the wall (found by the property test)."""
    poly = ((0.25, 0.25), (-0.25, 0.25), (-0.25, -0.25), (0.25, -0.25))
    circles, _ = circle_cover(list(poly), 0.05)
    assert len(circles) == 1 and circles[0][:2] == (0.0, 0.0)
    lim = footprint_limits_polygon(kinematics_for(RobotConfig()).pack_limits(SafetyConfig()),
                                   circles, poly)
    assert len(lim) > sf.L_LEN  # the circle and the polygon reach the kernel
    safety = SimpleNamespace(max_speed=1.0, max_reverse=0.0, max_yaw_rate=1.0, max_accel=1.0,
                             max_decel=1.0, max_yaw_accel=2.0, collision_margin=0.0,
                             collision_horizon_s=1.0)
    robot = SimpleNamespace(wheel_base=0.34, axle_distance=0.3, max_wheel_speed=1.0,
                            motor_time_constant=0.0)
    wall = np.column_stack([np.full(91, 0.5), np.linspace(-1.5, 1.5, 91)])
    # turn a little, then drive diagonally at the wall: a corner leads
    drive(base, poly, circles, safety, robot, [((0.0, 0.0, 1.0), 29), ((1.0, 0.0, 0.0), 40)],
          wall)


def test_a_square_footprint_in_config_reaches_the_kernel_as_its_cover_circle():
    cfg = load_config(None, ["robot.footprint=[[0.25, 0.25], [-0.25, 0.25], [-0.25, -0.25], "
                             "[0.25, -0.25]]"])
    kin = kinematics_for(cfg.robot)
    lim = kin.with_footprint(kin.pack_limits(cfg.safety))
    assert lim[sf.L_LEN] == 1.0
    assert lim[sf.L_LEN + 3] == pytest.approx(math.sqrt(2) * 0.25)  # not robot.radius
    assert cfg.robot.radius == pytest.approx(0.25)


@pytest.mark.parametrize("base", ["skid_steer", "holonomic"])
def test_a_point_in_the_covers_overshoot_is_judged_against_the_polygon(base):
    """A point inside a circle but outside the polygon: a turn that sweeps the polygon
    into it is refused (the one-circle rule would exempt it as already touching)."""
    poly = ((0.6, 0.1), (-0.6, 0.1), (-0.6, -0.1), (0.6, -0.1))
    circles, _ = circle_cover(list(poly), 0.05)
    point = np.array([[0.3, 0.13]])
    assert any(math.hypot(0.3 - x, 0.13 - y) < r for x, y, r in circles)
    safety = SimpleNamespace(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.0, max_accel=1.0,
                             max_decel=2.0, max_yaw_accel=8.0, collision_margin=0.02,
                             collision_horizon_s=1.5)
    robot = SimpleNamespace(wheel_base=0.34, axle_distance=0.3, max_wheel_speed=2.0,
                            motor_time_constant=0.08)
    drive(base, poly, circles, safety, robot, [((0.0, 0.0, 2.0), 60), ((0.3, 0.0, 1.0), 60)],
          point)


def test_the_round_robots_kernel_refuses_limits_that_carry_a_footprint():
    """The round kernel compiles no footprint check: given a footprint it must not drive
    (and the footprint's kernel, given the same inputs, does)."""
    poly = [(0.3, 0.2), (-0.3, 0.2), (-0.3, -0.2), (0.3, -0.2)]
    circles, _ = circle_cover(poly, 0.05)
    lim = footprint_limits_polygon(kinematics_for(RobotConfig()).pack_limits(SafetyConfig()),
                                   circles, poly)
    state = np.zeros(w.STATE_LEN)
    state[w.DT], state[w.ROBOT_RADIUS], state[w.CMD_V] = 0.02, 0.2, 0.3
    scan = np.zeros((4, 2))
    mem = np.zeros(sf.mem_size(4) + 3 * 4)
    cmd = np.full(2, np.nan)
    assert sf.safety(state, scan, lim, 0.3, 0.0, mem, cmd) == sf.INVALID_INPUT
    assert tuple(cmd) == (0.0, 0.0)
    state[w.CMD_V] = 0.3
    assert not safety_footprint(state, scan, lim, 0.3, 0.0, mem, cmd) & sf.INVALID_INPUT
    assert cmd[0] == pytest.approx(0.3)


def drive(base, poly, circles, safety, robot, plan, points):
    """Run the base's safety kernel on ``plan`` and the simulated motion; assert that no
    scanned point is ever inside the polygon."""
    holo = base == "holonomic"
    track = robot.wheel_base * (1.5 if base == "skid_steer" else 1.0)
    if holo:
        lim = sh.pack_limits_holonomic(safety, robot)
    else:
        lim = sf.pack_limits(safety, SimpleNamespace(
            wheel_base=track, max_wheel_speed=robot.max_wheel_speed,
            motor_time_constant=robot.motor_time_constant))
    lim = footprint_limits_polygon(lim, circles, poly)
    dt, tau = 0.02, robot.motor_time_constant
    state = np.zeros(w.STATE_LEN)
    state[w.DT], state[w.ROBOT_RADIUS] = dt, inscribed_radius(list(poly))
    scan = np.zeros((max(len(points), 1), 2))
    scan[: len(points)] = points
    state[w.SCAN_COUNT] = len(points)
    mem = np.zeros(sf.mem_size(scan.shape[0]) + 3 * scan.shape[0])
    cmd = np.zeros(3 if holo else 2)
    truth = np.zeros(6 if holo else 5)
    body = np.asarray(poly)
    half_sum = 0.5 * (robot.wheel_base + robot.axle_distance)
    for (pv, pvy, pw), ticks in plan:
        for _ in range(ticks):
            if holo:
                flags = sh.safety_holonomic(state, scan, lim, pv, pvy, pw, mem, cmd)
            else:
                flags = safety_footprint(state, scan, lim, pv, pw, mem, cmd)
            assert not flags & sf.INVALID_INPUT
            for _ in range(SUB):
                if holo:
                    step_holonomic(truth, cmd[0], cmd[1], cmd[2], dt / SUB, tau, half_sum,
                                   robot.max_wheel_speed)
                else:
                    left, right = cmd[0] - 0.5 * cmd[1] * track, cmd[0] + 0.5 * cmd[1] * track
                    step_diff_drive(truth, left, right, dt / SUB, tau, track, 1e9)
                if len(points):
                    hit = polygon_inside(body, truth[0], truth[1], truth[2], points)
                    assert not hit.any(), (base, flags, points[hit][:3])
            state[w.X], state[w.Y], state[w.YAW] = truth[:3]
            if holo:
                state[w.V], state[sh.VY_SLOT], state[w.W] = truth[3:6]
            else:
                state[w.V] = 0.5 * (truth[3] + truth[4])
                state[w.W] = (truth[4] - truth[3]) / track


def test_a_footprint_in_config_reaches_the_kernels_the_dwa_and_check(tmp_path):
    cfg = load_config(None, ["robot.footprint=[[0.3, 0.2], [-0.3, 0.2], [-0.3, -0.2], "
                             "[0.3, -0.2]]"])
    assert cfg.robot.radius == pytest.approx(0.2)  # the inscribed radius
    circles, _ = cfg.robot.circles()
    from robo_orch.kinematics import kinematics_for

    kin = kinematics_for(cfg.robot)
    lim = kin.pack_limits(cfg.safety)
    assert lim[sf.L_LEN] == len(circles) and lim.shape[0] == sf.L_LEN + 2 + 3 * len(circles) + 8
    assert kin.mem_size(100) == sf.mem_size(100) + 300
    assert kin.safety_kernel() is safety_footprint
    assert kinematics_for(RobotConfig()).safety_kernel() is sf.safety
    # the DWA's footprint array, written when the robot starts; robo-orch check's line
    from robo_orch.behaviors.avoid_obstacles import AvoidObstacles
    from robo_orch.config.describe import describe_config
    from robo_orch.runtime.controller import make_world

    world = make_world(cfg)
    dwa = next(b for b in cfg.behaviors if b.cls is AvoidObstacles)
    AvoidObstacles.make_service(dwa.params, cfg, world)
    off = cfg.layout.names["footprint"].index
    assert world.user[off] == len(circles)
    assert tuple(world.user[off + 1:off + 4]) == pytest.approx(circles[0])
    assert f"covered by {len(circles)} circles" in describe_config(cfg)
    bad = tmp_path / "bad.toml"
    bad.write_text('[robot]\nfootprint = [[1.0, 1.0], [2.0, 1.0], [2.0, 2.0]]\n')
    with pytest.raises(ConfigError, match="robot.footprint"):
        load_config(bad)
    assert RobotConfig().circles() == ([(0.0, 0.0, 0.2)], 0.0)



def test_the_simulator_stops_the_exact_polygon_at_a_wall_and_measures_its_clearance():
    from robo_orch.config.sections import SafetyConfig, SimConfig
    from robo_orch.config.world import Wall, WorldConfig
    from robo_orch.sim.simulator import make_simulator

    world = WorldConfig(bounds=(-2.0, -2.0, 3.0, 2.0), walls=(Wall((1.0, -1.5), (1.0, 1.5)),))
    rect = ((0.5, 0.2), (-0.5, 0.2), (-0.5, -0.2), (0.5, -0.2))
    sim = make_simulator(world, RobotConfig(footprint=rect, radius=0.2, motor_time_constant=0.0),
                         SimConfig(), SafetyConfig(), (0.2, 0.0, 0.3))
    # the polygon's clearance, against the world's own distance along its boundary
    c, s = math.cos(0.3), math.sin(0.3)
    boundary = [((1 - t) * ax + t * bx, (1 - t) * ay + t * by)
                for (ax, ay), (bx, by) in zip(rect, rect[1:] + rect[:1], strict=True)
                for t in np.linspace(0.0, 1.0, 400)]
    sampled = min(sim.world_map.clearance(0.2 + c * x - s * y, s * x + c * y)
                  for x, y in boundary)
    assert sim.clearance() == pytest.approx(sampled, abs=2e-3)
    assert sim.clearance() < 0.3 < sim.world_map.clearance(0.2, 0.0) - 0.2
    for _ in range(100):  # straight into the wall: the corner meets it first
        sim.set_command(0.3, 0.0)
        sim.step(0.02)
    assert sim.collisions == 1 and sim.clearance() >= 0.0
    assert sim.world_map.clearance(sim.state[0], sim.state[1]) > 0.4  # the centre is far


def test_plan_path_inflates_by_the_inscribed_radius_and_costs_out_to_the_circumscribed():
    from robo_orch.behaviors.plan_path import PlanPath
    from robo_orch.config import shipped_scenarios
    from robo_orch.core import navcost as nc
    from robo_orch.runtime.controller import make_world

    path = next(p for p in shipped_scenarios() if p.stem == "doorway_skid_steer_rect")
    cps = []
    for sets in ([], ["robot.footprint=[]"]):
        cfg = load_config(path, sets)
        spec = next(b for b in cfg.behaviors if b.cls is PlanPath)
        world = make_world(cfg)
        world.state[w.X], world.state[w.Y] = cfg.mission.start[:2]
        cps.append((PlanPath.make_service(spec.params, cfg, world, deterministic=True).cp,
                    spec.params))
    (rect, p), (round_, _) = cps
    assert rect[nc.C_LETHAL] == pytest.approx(0.15 + p.lethal_margin)  # inscribed
    assert rect[nc.C_INFLATE] == pytest.approx(math.hypot(0.25, 0.15) + p.inflation_margin)
    assert round_[nc.C_LETHAL] == pytest.approx(0.2 + p.lethal_margin)  # robot.radius
    assert round_[nc.C_INFLATE] == pytest.approx(0.2 + p.inflation_margin)
