"""The navigation stack through the real loop in lockstep (plan_path, recover), and its
per-tick kernels (path tracking, blocked-path check, the recovery state machine)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robo_orch.behaviors import recover as rc
from robo_orch.config import build_config, embedded_config_path, load_config, read_with_extends
from robo_orch.core import navtrack as nt
from robo_orch.core import world as W
from robo_orch.errors import ConfigError
from robo_orch.missions.report import summarize
from robo_orch.missions.session import run_mission
from robo_orch.runtime.controller import make_world
from robo_orch.runtime.planner import Planner
from robo_orch.testing import naive_nav as nn
from robo_orch.testing.naive_nav import seg_dist

U_TRAP = {"bounds": [-1.0, -4.0, 11.0, 4.0], "walls": [
    {"start": [5.0, -1.2], "end": [5.0, 1.2]},
    {"start": [3.2, 1.2], "end": [5.0, 1.2]},
    {"start": [3.2, -1.2], "end": [5.0, -1.2]}]}
#: plan_path without replan triggers: only the recover behavior asks for new plans
TRIGGERS_OFF = {"replan_on_blocked": False, "replan_on_deviation": False}


def nav_config(world, waypoints, *, plan=None, recover=None, lidar=None, start=(0.0, 0.0, 0.0),
               time_limit=60.0):
    """The demo's robot and local planner in another world, plus the navigation behaviors."""
    raw = read_with_extends(embedded_config_path("demo"))
    raw["world"] = world
    raw["mission"] = {"start": list(start), "waypoints": [list(w) for w in waypoints],
                      "time_limit_s": time_limit}
    raw["success"] = {"goal_reached": True}
    raw["sim"]["lidar"].update(lidar or {})
    if plan is not None:
        raw["behaviors"]["plan_path"] = {"kind": "plan_path", "priority": 90, **plan}
    if recover is not None:
        raw["behaviors"]["recover"] = {"kind": "recover", "priority": 80, **recover}
    return build_config(raw, source="test_navigation")


def run(config, seed=1, duration=None):
    """Run in lockstep; returns the summary, the final world state and every path loaded."""
    paths = []

    def watch(ctl):
        s = ctl.world.state
        if not paths or paths[-1][0] != s[W.PATH_VERSION]:
            n = int(s[W.PATH_COUNT])
            paths.append((s[W.PATH_VERSION], s[W.T], ctl.world.path[:n].copy()))

    result = run_mission(config, backend="lockstep", seed=seed, duration_s=duration,
                         progress=watch)
    return summarize(result), result.controller.world.state.copy(), paths, result


def polyline_clearance(start, path, cx, cy, r):
    """Smallest distance from the circle (cx, cy, r) to the polyline start -> path."""
    pts = np.vstack([start, path])
    return min(seg_dist(cx, cy, *p, *q) for p, q in zip(pts, pts[1:], strict=False)) - r


def test_replans_around_a_newly_seen_obstacle():
    world = {"bounds": [-1.0, -3.0, 9.0, 3.0], "circles": [{"center": [4.0, 0.0], "radius": 0.6}]}
    # the planner does not know the post; a 2.5 m lidar sees it only on the way
    config = nav_config(world, [(8.0, 0.0)], plan={"use_map": False}, recover={},
                        lidar={"range_max": 2.5})
    summary, state, paths, _ = run(config)
    assert summary["goal_reached"], summary["end_reason"]
    assert summary["collisions"] == 0 and summary["min_clearance_m"] > 0.2
    first_version, _, first = paths[0]
    assert first_version == 1 and np.array_equal(first, [[8.0, 0.0]])  # straight through it
    replans = [(t, p) for v, t, p in paths if v >= 2]
    assert replans and replans[0][0] > 0.5  # after the post came into view
    # each replan sees more of the post; the last path's vertices and segments keep clear
    assert polyline_clearance(replans[-1][1][0], replans[-1][1], 4.0, 0.0, 0.6) >= 0.2
    assert state[W.RECOVERIES] == 0  # the replanning did it, no recovery needed


def test_recovers_from_a_u_shaped_trap():
    # the trap is not on the planner's map and replanning on new obstacles is off: the
    # robot drives in, the local planner cannot get out, and only recovery helps
    plan = {"use_map": False, **TRIGGERS_OFF}
    with_recovery = run(nav_config(U_TRAP, [(9.0, 0.0)], plan=plan, recover={},
                                   time_limit=80.0))
    summary, state, paths, _ = with_recovery
    assert summary["goal_reached"], summary["end_reason"]
    assert summary["collisions"] == 0
    assert state[W.RECOVERIES] >= 1
    # the new plan, made after the recovery, leads around the trap's outside
    final = paths[-1][2]
    assert paths[-1][0] >= 2 and np.abs(final[:, 1]).max() > 1.5
    without = run(nav_config(U_TRAP, [(9.0, 0.0)], plan=plan, time_limit=80.0))[0]
    assert not without["goal_reached"] and without["end_reason"] == "time limit"


def test_sees_the_trap_and_plans_around_it_without_recovery():
    summary, state, paths, _ = run(nav_config(U_TRAP, [(9.0, 0.0)], plan={"use_map": False},
                                              recover={}))
    assert summary["goal_reached"] and summary["collisions"] == 0
    assert state[W.RECOVERIES] == 0 and len(paths) >= 2 and paths[1][1] < 3.0


def test_lockstep_runs_with_replanning_are_bit_identical():
    config = load_config(None, ["behaviors.plan_path.kind=plan_path",
                                "behaviors.plan_path.priority=90",
                                "behaviors.plan_path.replan_period=1.0",
                                "behaviors.recover.kind=recover",
                                "behaviors.recover.priority=80"])
    first = run(config, seed=3, duration=12.0)
    second = run(config, seed=3, duration=12.0)
    assert first[1][W.PATH_VERSION] >= 10  # the worker thread handed over many plans
    trace_a, trace_b = (r[3].controller.trace.array() for r in (first, second))
    assert np.array_equal(trace_a, trace_b)
    assert all(np.array_equal(p[2], q[2]) and p[1] == q[1]
               for p, q in zip(first[2], second[2], strict=True))


def test_unreachable_goal_fails_at_once_with_the_reason():
    box = [{"start": s, "end": e} for s, e in (([5, -1], [7, -1]), ([7, -1], [7, 1]),
                                               ([7, 1], [5, 1]), ([5, 1], [5, -1]))]
    config = nav_config({"bounds": [-1.0, -3.0, 9.0, 3.0], "walls": box}, [(6.0, 0.0)],
                        plan={}, recover={})
    summary = run(config)[0]
    assert not summary["goal_reached"]
    assert summary["end_reason"].startswith("navigation failed: waypoint 0 (6, 0) unreachable")
    assert summary["sim_time_s"] < 0.1


def test_goal_walled_in_by_unseen_obstacles_fails_after_the_replans():
    box = [{"start": s, "end": e} for s, e in (([5, -1], [7, -1]), ([7, -1], [7, 1]),
                                               ([7, 1], [5, 1]), ([5, 1], [5, -1]))]
    world = {"bounds": [-1.0, -3.0, 9.0, 3.0], "walls": box}
    config = nav_config(world, [(6.0, 0.0)],
                        plan={"use_map": False, "max_plan_failures": 3,
                              "replan_interval": 0.5}, recover={})
    summary, state = run(config)[:2]
    # it tries around the box until it has seen every side, then gives up before the limit
    assert state[W.NAV_STATUS] == W.NAV_GOAL_UNREACHABLE
    assert "obstacles seen on the way block it" in summary["end_reason"]
    assert summary["sim_time_s"] < config.mission.time_limit_s - 5.0
    assert summary["collisions"] == 0
    # without a global planner, recovery runs out of attempts instead
    config = nav_config(world, [(6.0, 0.0)],
                        recover={"stall_time": 2.0, "rotate_angle": 1.5, "max_attempts": 2})
    summary, state = run(config)[:2]
    assert state[W.NAV_STATUS] == W.NAV_RECOVERY_FAILED and state[W.RECOVERIES] == 2
    assert summary["end_reason"] == ("navigation failed: "
                                     + W.NAV_STATUS_TEXT[W.NAV_RECOVERY_FAILED])


def test_planner_refuses_a_start_in_collision_and_bad_parameters():
    config = load_config(None, ["behaviors.plan_path.kind=plan_path"])
    world = make_world(config)
    world.state[W.X], world.state[W.Y] = 2.5, 0.2  # inside the demo's first post
    with pytest.raises(ConfigError, match="in collision on the planning map") as err:
        Planner(config, world)
    assert err.value.key == "mission.start"
    with pytest.raises(ConfigError, match="must be <= inflation_margin") as err:
        load_config(None, ["behaviors.plan_path.kind=plan_path",
                           "behaviors.plan_path.lethal_margin=0.2"])
    assert err.value.key == "behaviors.plan_path.lethal_margin"


# --- per-tick kernels ---------------------------------------------------------------------
def tracking_world(path, x, y, target=0):
    world = W.World()
    s = world.state
    world.path[:len(path)] = path
    s[W.PATH_COUNT], s[W.TARGET_INDEX], s[W.X], s[W.Y] = len(path), target, x, y
    s[W.ROBOT_RADIUS], s[W.SCAN_T] = 0.2, -1.0
    return world


def track(world, wp_rows, deviation=1.0):
    grid = np.zeros((4, 4))
    marks = np.zeros((4, 4), dtype=np.uint8)
    tr = np.zeros(nt.TRACK_LEN)
    tr[nt.TR_SCAN_T] = -1.0
    flags = nt.nav_update(world.state, world.path, world.scan, grid, marks, grid, 0.0, 0.0, 0.1,
                          0.3, 0.23, 0.1, 1.0, 0.1, 6.0, 0.2, 0.05, 1.0, deviation, tr,
                          np.zeros(8, dtype=np.int64), np.zeros(6, dtype=np.int64),
                          np.array(wp_rows, dtype=np.int64))
    return flags, tr


def test_tracking_advances_past_left_vertices_but_not_past_a_waypoint():
    path = [(1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (2.0, 2.0)]
    world = tracking_world(path, 2.05, 0.5)
    flags, tr = track(world, [3])
    assert world.state[W.TARGET_INDEX] == 2 and world.state[W.TARGET_X] == 2.0
    assert flags == 0 and tr[nt.TR_DEVIATION] == pytest.approx(0.05)
    world = tracking_world(path, 2.05, 0.5)
    track(world, [1, 3])  # a mission waypoint at row 1 must be reached first
    assert world.state[W.TARGET_INDEX] == 1
    world = tracking_world(path, 3.5, 0.5, target=2)
    flags, tr = track(world, [3])
    assert flags == nt.DEVIATED and tr[nt.TR_NEXT_WP] == 0


@pytest.mark.parametrize("seed", range(20))
def test_blocked_path_check_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    nx, res, x0, y0, lethal, inflate = 50, 0.1, -1.0, -2.0, 0.23, 0.3
    path = rng.uniform(0, 3.5, (int(rng.integers(1, 6)), 2)) + [-0.5, -1.5]
    rx, ry = rng.uniform(-0.5, 3.0, 2) + [0.0, -1.5]
    target = int(rng.integers(len(path)))
    cells = rng.integers(0, nx * nx, int(rng.integers(1, 6)))
    marks = np.zeros((nx, nx), dtype=np.uint8)
    for c in cells:  # a hit somewhere in each cell
        j, i = divmod(int(c), nx)
        hx, hy = x0 + (i + rng.uniform()) * res, y0 + (j + rng.uniform()) * res
        marks[j, i] = nn.mark_value(hx, hy, x0, y0, res)
    # what the plan knew: obstacles everywhere at a random distance of 0..0.6 m
    d_plan = rng.uniform(0.0, 0.6, (nx, nx))
    got = nt.marks_block_path(cells, len(cells), marks, d_plan, x0, y0, res, rx, ry, path,
                              target, len(path), lethal, inflate, 0.1)
    want = False
    for c in cells:
        j, i = divmod(int(c), nx)
        cx, cy = nn.mark_hit(marks[j, i], j, i, x0, y0, res)
        near = min(math.dist((cx, cy), path[-1]), math.dist((cx, cy), (rx, ry)))
        limit = lethal if near < inflate + res else inflate
        pts = [(rx, ry)] + [tuple(p) for p in path[target:]]
        for p, q in zip(pts, pts[1:], strict=False):
            # the segment's point closest to the mark, by dense sampling
            t = np.linspace(0.0, 1.0, 20001)[:, None]
            line = np.asarray(p) + t * (np.asarray(q) - np.asarray(p))
            k = int(np.argmin(np.hypot(line[:, 0] - cx, line[:, 1] - cy)))
            dist = math.dist(line[k], (cx, cy)) - 0.1
            known = d_plan[int((line[k, 1] - y0) // res), int((line[k, 0] - x0) // res)]
            want = want or dist < lethal or (dist < limit and dist < known - res)
    assert got == want


def test_a_mark_beside_what_the_plan_passed_does_not_block():
    # the path runs along y = 0.25; a hit at the centre of the cell around (2.05, 0.75)
    # counts 0.5 - 0.1 = 0.4 m from it, inside the inflation margin (0.5 here)
    nx, res, lethal, inflate = 40, 0.1, 0.23, 0.5
    path = np.array([[3.5, 0.25]])
    marks = np.ones((nx, nx), dtype=np.uint8)  # 1: the hit at the cell centre
    args = (marks, 0.0, 0.0, res, 0.05, 0.25, path, 0, 1, lethal, inflate, 0.1)
    mark = np.array([7 * nx + 20])
    # lidar scatter on an obstacle the plan already passed 0.4 m away: nothing new
    assert not nt.marks_block_path(mark, 1, args[0], np.full((nx, nx), 0.4), *args[1:])
    # the same mark where the plan saw nothing within 1 m: blocked
    assert nt.marks_block_path(mark, 1, args[0], np.full((nx, nx), 1.0), *args[1:])
    # within the lethal margin (0.2 - 0.1 = 0.1 m) it always blocks
    assert nt.marks_block_path(np.array([4 * nx + 20]), 1, args[0], np.full((nx, nx), 0.0),
                               *args[1:])


def circling_stalls(replan_path, seconds=12.0):
    """Drive a robot round a 0.5 m circle around (2, 0) every pi s while a planner hands
    it a new path (``replan_path(x, y)``) every second; when recover steps in, or None."""
    params = rc.Recover.pack_params(rc.Params(stall_time=3.0))
    world = tracking_world([(5.0, 0.0)], 2.5, 0.0)
    s = world.state
    state = np.zeros(rc.STATE_SIZE)
    out = np.zeros(W.OUT_LEN)
    dt = 0.1
    for k in range(int(seconds / dt)):
        s[W.T] = k * dt
        s[W.X], s[W.Y] = 2.0 + 0.5 * math.cos(2 * k * dt), 0.5 * math.sin(2 * k * dt)
        if k and k % 10 == 0:
            pts = replan_path(s[W.X], s[W.Y])
            world.path[:len(pts)] = pts
            s[W.PATH_COUNT], s[W.TARGET_INDEX] = len(pts), 0
            s[W.PATH_VERSION] += 1.0
        if rc.step(world.arrays, np.zeros(0, dtype=np.int64), params, state, out):
            return s[W.T]
    return None


def test_a_robot_circling_between_replans_is_judged_stalled():
    # straight to the goal: each new path starts where the robot is; circling makes
    # its remaining length swing by a metre, which must not count as progress
    assert circling_stalls(lambda x, y: [(5.0, 0.0)]) == pytest.approx(3.0, abs=0.15)
    # a new path that goes around a newly seen obstacle (longer each time) is no excuse
    grow = iter(range(100))
    t = circling_stalls(lambda x, y: [(3.5, 1.0 + 0.3 * next(grow)), (5.0, 0.0)])
    assert t == pytest.approx(3.0, abs=0.15)


def test_following_a_longer_new_path_is_progress():
    params = rc.Recover.pack_params(rc.Params(stall_time=2.0))
    world = tracking_world([(8.0, 0.0)], 0.0, 0.0)
    s = world.state
    state = np.zeros(rc.STATE_SIZE)
    out = np.zeros(W.OUT_LEN)
    for k in range(300):  # 0.2 m/s along the path; at 3 s a detour 3 m longer arrives
        s[W.T] = k * 0.1
        if k == 30:
            world.path[:2] = [(3.0, 1.5), (8.0, 0.0)]
            s[W.PATH_COUNT], s[W.PATH_VERSION] = 2, 1.0
        if k < 30:
            s[W.X] += 0.02
        else:
            n = int(s[W.PATH_COUNT])
            tx, ty = world.path[min(int(s[W.TARGET_INDEX]), n - 1)]
            d = math.hypot(tx - s[W.X], ty - s[W.Y])
            s[W.X] += 0.02 * (tx - s[W.X]) / d
            s[W.Y] += 0.02 * (ty - s[W.Y]) / d
            if d < 0.1:
                s[W.TARGET_INDEX] = 1
        assert rc.step(world.arrays, np.zeros(0, dtype=np.int64), params, state, out) == 0.0


def test_a_disabled_planner_leaves_the_path_alone_until_enabled():
    world = {"bounds": [-1.0, -3.0, 9.0, 3.0], "circles": [{"center": [4.0, 0.0], "radius": 0.6}]}
    config = nav_config(world, [(8.0, 0.0)], plan={"enabled": False})
    seen = {}

    def enable_at_tick_50(ctl):
        tick = ctl.trace.rows - 1
        seen[tick] = ctl.world.state[W.PATH_VERSION]
        if tick == 50:
            ctl.planner.set_enabled("plan_path", True)

    run_mission(config, backend="lockstep", duration_s=2.0, progress=enable_at_tick_50)
    assert seen[50] == 0 and seen[51] == 1  # planned on the first tick it ran
