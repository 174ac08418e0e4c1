"""Issue 10, findings 1 and 2 through the real loop (lockstep): a large robot with
bad planner settings and a slow actuator never touches an obstacle and is never
commanded into one; configs that could not stop in time are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import config_error, write_config

from robo_orch.config import load_config
from robo_orch.errors import ConfigError
from robo_orch.missions.session import run_mission

# a wall across the way to the goal: the goal-seeking behaviors drive straight at it
WALL_AHEAD = """
extends = "demo"
[robot]
radius = 0.95
motor_time_constant = {tau}
[safety]
max_decel = {decel}
collision_horizon_s = 2.0
[world]
bounds = [-3.0, -6.0, 14.0, 6.0]
circles = []
polygons = []
walls = [{{ start = [4.0, -2.0], end = [4.0, 2.0] }}]
[mission]
start = [0.0, 0.0, 0.0]
waypoints = [[8.0, 0.0]]
time_limit_s = 12.0
"""


def wall_ahead(tmp_path: Path, *, tau: float, decel: float, overrides=()):
    path = tmp_path / "wall_ahead.toml"
    path.write_text(WALL_AHEAD.format(tau=tau, decel=decel))
    return load_config(path, overrides)


def run_and_watch(config):
    """Run to the time limit; return (sim collisions, ticks commanded forward while touching)."""
    pushing = []

    def watch(ctl):
        sim = ctl.backend.sim
        if sim.clearance() < 0.005 and ctl.planner.cmd[0] > 0.0:
            pushing.append((round(sim.t, 2), float(ctl.planner.cmd[0]), ctl.planner.flags))

    result = run_mission(config, backend="lockstep", progress=watch)
    counters = result.controller.planner.safety_counters()
    assert counters["ticks"] == result.controller.trace.rows
    assert counters["collision_stop"] > 0  # the wall did stop it
    return result.truth.collisions, pushing


@pytest.mark.parametrize("tau, decel", [(0.25, 0.5), (0.25, 2.0), (0.08, 2.0)])
def test_large_robot_with_late_planner_and_slow_motors_never_touches(tmp_path, tau, decel):
    # finding 1: robot.radius 0.95 with the DWA's distances at their defaults, which
    # were measured from the robot centre: it engaged 0.25 m before contact.  The
    # late activation is kept here on purpose (the safety layer must hold anyway).
    late = ("behaviors.avoid_obstacles.activation_clearance=0.25",
            "behaviors.avoid_obstacles.full_activation_clearance=0.0")
    config = wall_ahead(tmp_path, tau=tau, decel=decel, overrides=late)
    collisions, pushing = run_and_watch(config)
    assert collisions == 0
    assert pushing == [], "commanded forward while standing against the wall"


def test_horizon_shorter_than_the_stopping_time_is_refused(tmp_path):
    # finding 2: 1.0 m/s with 0.2 m/s^2 braking needs 5 s (+ a tick + the motor lag)
    err = config_error(write_config(tmp_path, 'extends = "demo"\n[safety]\nmax_speed = 1.0\n'
                                    'max_decel = 0.2\ncollision_horizon_s = 1.5\n'))
    assert err.key == "safety.collision_horizon_s"
    assert "5.1" in err.problem  # 1.0 / 0.2 + 0.02 + 0.08 s, the value that would work


def test_centre_keys_are_refused_with_the_surface_value(tmp_path):
    # finding 2: the DWA's distances and the field cap were measured from the robot
    # centre; their new names are measured from its surface, and the old names are
    # refused (never silently reinterpreted) with the value that means the same
    err = config_error(write_config(tmp_path, 'extends = "demo"\n[robot]\nradius = 0.95\n'
                                    '[behaviors.avoid_obstacles]\nactivation_range = 1.2\n'))
    assert err.key == "behaviors.avoid_obstacles.activation_range"
    assert "activation_clearance = 0.25" in err.problem
    err = config_error(None, ["perception.field_cap=1.25"])
    assert err.source == "--set perception.field_cap=1.25"
    assert "field_clearance_cap = 1.05" in err.problem
    for old, new in (("activation_full=0.5", "full_activation_clearance = 0.3"),
                     ("probe_distance=0.6", "probe_clearance = 0.4")):
        with pytest.raises(ConfigError, match=new):
            load_config(None, [f"behaviors.avoid_obstacles.{old}"])


def test_surface_defaults_reproduce_the_centre_defaults_at_radius_0_2():
    from robo_orch.behaviors.avoid_obstacles import Params
    from robo_orch.core import world as W
    from robo_orch.runtime.controller import make_world

    p = Params()
    assert p.activation_clearance + 0.2 == 1.2 and p.full_activation_clearance + 0.2 == 0.5
    assert p.probe_clearance + 0.2 == pytest.approx(0.6, abs=1e-15)
    assert make_world(load_config(None)).state[W.FIELD_CAP] == 1.25
    big = make_world(load_config(None, ["robot.radius=0.5"]))
    assert big.state[W.FIELD_CAP] == 1.55  # the same reach beyond a larger robot


def test_horizon_check_covers_reverse_and_the_motor_lag(tmp_path):
    ok = load_config(None, ["safety.collision_horizon_s=0.5"])  # 0.8 / 2 + 0.02 + 0.08
    assert ok.safety.collision_horizon_s == 0.5
    with pytest.raises(ConfigError, match="at least 0.5"):
        load_config(None, ["safety.collision_horizon_s=0.49"])
    with pytest.raises(ConfigError, match="at least 1.35"):
        load_config(None, ["safety.max_reverse=2.5", "safety.collision_horizon_s=1.3"])
    with pytest.raises(ConfigError, match="at least 1.57"):
        load_config(None, ["robot.motor_time_constant=1.15"])
