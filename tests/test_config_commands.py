"""``[commands.NAME]`` of kind joints: parsing, defaults, every refusal, ``check`` output."""

from __future__ import annotations

import pytest
from helpers import cli, config_error, write_config

from robo_orch.config import load_config
from robo_orch.config.network import config_topics
from robo_orch.core import safety_joints as sj

BASE = """
[mission]
waypoints = [[3.0, 0.0]]

[behaviors.go_to_goal]
priority = 1
"""

PAN_TILT = BASE + """
[commands.pan_tilt]
kind = "joints"
topic = "cmd/pan_tilt"
state_topic = "sensor/pan_tilt"
mode = "position"
joints = [ { name = "pan", min = -2.6, max = 2.6, max_velocity = 2.0, max_accel = 8.0 },
           { name = "tilt", min = -0.5, max = 1.2, max_velocity = 1.5, max_accel = 6.0 } ]
"""


def test_no_command_spaces_by_default(tmp_path):
    config = load_config(write_config(tmp_path, BASE))
    assert config.commands == {}
    assert load_config(None).commands == {}


def test_a_pan_tilt_space(tmp_path):
    config = load_config(write_config(tmp_path, PAN_TILT))
    space = config.commands["pan_tilt"]
    assert (space.kind, space.topic, space.state_topic, space.mode) == (
        "joints", "cmd/pan_tilt", "sensor/pan_tilt", "position")
    assert space.mode_number == sj.MODE_POSITION and space.max_age_s == 0.5
    assert [j.name for j in space.joints] == ["pan", "tilt"]
    limits = sj.pack_joint_limits(space.joints)
    assert limits.tolist() == [[-2.6, 2.6, 2.0, 8.0], [-0.5, 1.2, 1.5, 6.0]]
    assert {"cmd/pan_tilt", "sensor/pan_tilt"} <= set(config_topics(config))


def test_several_spaces_and_velocity_mode(tmp_path):
    text = PAN_TILT + """
[commands.gripper]
kind = "joints"
topic = "cmd/gripper"
state_topic = "sensor/gripper"
mode = "velocity"
max_age_s = 0.2
joints = [ { name = "finger", min = 0.0, max = 0.08, max_velocity = 0.05, max_accel = 0.5 } ]
"""
    config = load_config(write_config(tmp_path, text))
    assert list(config.commands) == ["pan_tilt", "gripper"]
    assert config.commands["gripper"].mode_number == sj.MODE_VELOCITY


def _with(tmp_path, replace: tuple[str, str] | None = None, extra: str = ""):
    text = PAN_TILT + extra
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    return config_error(write_config(tmp_path, text))


@pytest.mark.parametrize(("replace", "key", "words"), [
    (("min = -2.6, max = 2.6", "min = 2.6, max = 2.6"), "commands.pan_tilt.joints[0].min",
     "must be < max"),
    (("min = -0.5, max = 1.2", "min = 1.5, max = 1.2"), "commands.pan_tilt.joints[1].min",
     "must be < max"),
    (("max_velocity = 2.0", "max_velocity = 0.0"), "commands.pan_tilt.joints[0].max_velocity",
     "must be > 0"),
    (("max_accel = 6.0", "max_accel = -1.0"), "commands.pan_tilt.joints[1].max_accel",
     "must be > 0"),
    (("min = -2.6", "min = -inf"), "commands.pan_tilt.joints[0].min", "must be finite"),
    (('name = "tilt"', 'name = "pan"'), "commands.pan_tilt.joints[1].name", "unique"),
    (('name = "tilt", ', ""), "commands.pan_tilt.joints[1].name", "missing required key"),
    (('mode = "position"', 'mode = "torque"'), "commands.pan_tilt.mode", "must be one of"),
    (('kind = "joints"', 'kind = "jonits"'), "commands.pan_tilt.kind", "did you mean 'joints'"),
    (('kind = "joints"\n', ""), "commands.pan_tilt.kind", "missing command space kind"),
    (('topic = "cmd/pan_tilt"', 'topic = "cmd/velocity"'), "commands.pan_tilt.topic",
     "already topics.command"),
    (('topic = "cmd/pan_tilt"', 'topic = "cmd/estop"'), "commands.pan_tilt.topic",
     "already topics.estop"),
    (('state_topic = "sensor/pan_tilt"', 'state_topic = "sensor/odom"'),
     "commands.pan_tilt.state_topic", "already inputs.odom.topic"),
    (('state_topic = "sensor/pan_tilt"', 'state_topic = "cmd/pan_tilt"'),
     "commands.pan_tilt.state_topic", "also the command topic"),
    (('topic = "cmd/pan_tilt"', 'topic = "cmd/pan.tilt"'), "commands.pan_tilt.topic",
     "bad topic"),
    (("joints = [", "joints = [] \nold = ["), "commands.pan_tilt.old", "unknown key"),
    (('max_velocity = 2.0', 'max_velocity = 2.0, max_accl = 3.0'),
     "commands.pan_tilt.joints[0].max_accl", "did you mean 'max_accel'"),
])
def test_bad_joint_spaces_are_refused(tmp_path, replace, key, words):
    err = _with(tmp_path, replace)
    assert err.key == key, str(err)
    assert words in err.problem, str(err)
    assert err.source.endswith("robot.toml")


def test_empty_and_oversized_joint_lists(tmp_path):
    text = PAN_TILT.split("joints = [")[0] + "joints = []\n"
    err = config_error(write_config(tmp_path, text))
    assert err.key == "commands.pan_tilt.joints" and "expected 1 to 64 joints" in err.problem
    many = ", ".join(f'{{ name = "j{i}", min = 0.0, max = 1.0, max_velocity = 1.0, '
                     f'max_accel = 1.0 }}' for i in range(65))
    text = PAN_TILT.split("joints = [")[0] + f"joints = [{many}]\n"
    err = config_error(write_config(tmp_path, text))
    assert "got 65" in err.problem


def test_two_spaces_cannot_share_a_topic(tmp_path):
    extra = """
[commands.gripper]
kind = "joints"
topic = "cmd/gripper"
state_topic = "sensor/pan_tilt"
joints = [ { name = "finger", min = 0.0, max = 0.08, max_velocity = 0.05, max_accel = 0.5 } ]
"""
    err = _with(tmp_path, extra=extra)
    assert err.key == "commands.gripper.state_topic"
    assert "already commands.pan_tilt.state_topic" in err.problem


def test_not_a_table(tmp_path):
    err = config_error(write_config(tmp_path, "commands = 3\n" + BASE))
    assert err.key == "commands" and "expected a table" in err.problem
    err = config_error(write_config(tmp_path, BASE + "[commands]\npan_tilt = 3\n"))
    assert err.key == "commands.pan_tilt"


def test_set_override_names_the_argument(tmp_path):
    path = write_config(tmp_path, PAN_TILT)
    with pytest.raises(Exception) as info:
        load_config(path, ["commands.pan_tilt.mode=torque"])
    assert info.value.source == "--set commands.pan_tilt.mode=torque"


def test_cli_check_lists_the_spaces_and_refuses_a_bad_one(tmp_path):
    path = write_config(tmp_path, PAN_TILT)
    proc = cli("check", str(path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pan_tilt" in proc.stdout and "cmd/pan_tilt (joint_command)" in proc.stdout
    assert "tilt" in proc.stdout and "[-0.5, 1.2]" in proc.stdout
    bad = write_config(tmp_path, PAN_TILT.replace("max = 2.6", "max = -3.0"), name="bad.toml")
    proc = cli("check", str(bad), timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "commands.pan_tilt.joints[0].min" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
