"""Config loading: defaults, overrides, extends, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, config_error, write_config

from robo_orch.config import embedded_config_path, load_config, shipped_scenarios

REPO = Path(__file__).resolve().parents[1]

MINIMAL = """
[mission]
waypoints = [[3.0, 0.0]]

[behaviors.go_to_goal]
priority = 1
"""


def test_embedded_demo_is_the_repository_config():
    assert embedded_config_path("demo").read_bytes() == (REPO / "config/demo.toml").read_bytes()
    names = {p.name for p in shipped_scenarios()}
    assert names == {p.name for p in (REPO / "config/scenarios").glob("*.toml")}
    assert {"open_field.toml", "cluttered.toml", "doorway.toml", "corridor.toml"} <= names


def test_demo_and_every_scenario_validate():
    config = load_config(None)
    assert config.loop.rate_hz == 50
    assert [b.name for b in config.behaviors] == ["stop", "avoid_obstacles", "go_to_goal",
                                                 "follow_path"]
    for path in shipped_scenarios():
        load_config(path)


def test_minimal_config_gets_defaults(tmp_path):
    config = load_config(write_config(tmp_path, MINIMAL))
    assert config.loop.rate_hz == 50.0
    assert set(config.inputs) == {"odom", "imu", "scan"}
    assert config.behaviors[0].cls.kind == "go_to_goal"
    assert config.behaviors[0].divisor == 1


def test_overrides_reach_sections_and_behavior_parameters(tmp_path):
    config = load_config(None, ["loop.rate_hz=100", "behaviors.avoid_obstacles.divisor=10",
                                "sim.lidar.rays=720", "bus.run_dir=/tmp/x"])
    assert config.loop.rate_hz == 100.0
    assert config.sim.lidar.rays == 720
    assert config.bus.run_dir == "/tmp/x"
    assert next(b for b in config.behaviors if b.name == "avoid_obstacles").divisor == 10


def test_extends_merges_tables_and_replaces_arrays(tmp_path):
    path = write_config(tmp_path, """
        extends = "demo"
        [mission]
        waypoints = [[1.0, 1.0]]
        """)
    config = load_config(path)
    assert config.mission.waypoints == ((1.0, 1.0),)
    assert config.world.bounds == load_config(None).world.bounds


@pytest.mark.parametrize("text, key, words", [
    ("[mission]\n[behaviors.stop]\n", "mission.waypoints", "at least one waypoint"),
    (MINIMAL + '[loop]\nrate_hz = "fast"\n', "loop.rate_hz", "expected a number"),
    (MINIMAL + "[loop]\nrate_hz = -5\n", "loop.rate_hz", "must be >= 0.1"),
    (MINIMAL + "[loop]\nrate_hz = true\n", "loop.rate_hz", "expected a number"),
    (MINIMAL + "[loop]\nrat_hz = 5\n", "loop.rat_hz", "did you mean 'rate_hz'"),
    (MINIMAL + '[behaviors.dance]\nkind = "moonwalk"\n', "behaviors.dance.kind",
     "unknown behavior 'moonwalk'"),
    (MINIMAL + '[sim]\nbackend = "gazebo"\n', "sim.backend", "unknown name 'gazebo'"),
    (MINIMAL + '[bus]\nbackend = "dds"\n', "bus.backend", "unknown name 'dds'"),
    (MINIMAL + "[behaviors.go_to_goal.oops]\n", "behaviors.go_to_goal.oops", "unknown key"),
    (MINIMAL + "[world]\ncircles = [{ center = [3.0, 0.1], radius = 0.5 }]\n",
     "mission.waypoints[0]", "closer than the robot radius"),
    (MINIMAL + "[world]\ncircles = [{ center = [0.0, 0.0], radius = 0.5 }]\n",
     "mission.start", "closer than the robot radius"),
    (MINIMAL + "[world]\ncircles = [{ center = [9.0, 0.0] }]\n", "world.circles[0].radius",
     "missing required key"),
    (MINIMAL + '[inputs.sonar]\ntopic = "x"\n', "inputs.sonar", "unknown key"),
    (MINIMAL + '[loop]\ntrigger = "imuu"\n', "loop.trigger", "did you mean 'imu'"),
    (MINIMAL + '[inputs.scan]\nqos = "fifo"\n', "inputs.scan.qos", "expected 'latest'"),
    (MINIMAL + "[behaviors.go_to_goal.x]\n", "behaviors.go_to_goal.x", "unknown key"),
    ("[mission.waypoints]\n[behaviors.stop]\n", "mission.waypoints", "expected a list"),
])
def test_bad_configs_name_file_key_and_problem(tmp_path, text, key, words):
    path = write_config(tmp_path, text)
    err = config_error(path)
    assert err.source == str(path)
    assert err.key.startswith(key), (err.key, str(err))
    assert words in str(err)
    assert "\n" not in str(err)


def test_toml_syntax_error_and_missing_file(tmp_path):
    err = config_error(write_config(tmp_path, "[loop\nrate_hz = 1\n"))
    assert "invalid TOML" in str(err)
    err = config_error(tmp_path / "absent.toml")
    assert "file not found" in str(err)


def test_unknown_override_key_names_the_set_argument():
    err = config_error(None, ["loop.rate_hx=3"])
    assert err.source == "--set loop.rate_hx=3"
    assert "did you mean 'rate_hz'" in str(err)
    err = config_error(None, ["loop.rate_hz=-1"])
    assert err.source == "--set loop.rate_hz=-1"
    err = config_error(None, ["behaviors.avoid_obstacles.v_samples=1.5"])
    assert err.key == "behaviors.avoid_obstacles.v_samples"


@pytest.mark.parametrize("args", [
    ["check", "does-not-exist.toml"],
    ["check", "--set", "loop.rate_hz=-1"],
    ["sim", "--lockstep", "--set", "mission.waypoints=[[2.5, 0.2]]"],
])
def test_cli_config_errors_exit_2_with_one_line_and_no_traceback(args):
    proc = cli(*args, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("robo-orch: error: ")
    assert "Traceback" not in proc.stderr


def test_cli_check_prints_what_would_run():
    proc = cli("check", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "avoid_obstacles" in proc.stdout and "50 Hz" in proc.stdout
