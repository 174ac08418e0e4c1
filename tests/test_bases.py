"""The bases (robo_orch.kinematics): each reaches the demo's goal in lockstep, each
simulator moves as its model says, and ``robot.kinematics`` is checked at load."""

from __future__ import annotations

import math

import helpers
import pytest

from robo_orch.config import load_config
from robo_orch.config.sections import LidarConfig, RobotConfig, SafetyConfig, SimConfig
from robo_orch.config.world import WorldConfig
from robo_orch.errors import ConfigError
from robo_orch.kinematics import kinematics_for
from robo_orch.missions.session import run_mission
from robo_orch.sim.simulator import make_simulator

DT = 0.02
QUIET = SimConfig(odom_noise_std=0.0, imu_yaw_rate_noise_std=0.0, imu_accel_noise_std=0.0,
                  lidar=LidarConfig(noise_std=0.0, range_min=0.0, range_max=20.0))


def make_sim(**robot):
    return make_simulator(WorldConfig(), RobotConfig(motor_time_constant=0.0, **robot), QUIET,
                          SafetyConfig(), (0.0, 0.0, 0.0))


def run_demo(kinematics: str, seed: int = 1):
    config = load_config(None, [f"robot.kinematics={kinematics}"])
    return run_mission(config, backend="lockstep", seed=seed)


@pytest.mark.parametrize("kinematics", ["diff_drive", "skid_steer"])
def test_each_base_reaches_the_demo_goal_in_lockstep(kinematics):
    result = run_demo(kinematics)
    truth, ctl = result.truth, result.controller
    assert ctl.end_reason == "goal reached", ctl.end_reason
    assert truth.collisions == 0
    assert math.dist(truth.pose[:2], (12.0, 0.5)) < 0.4


def test_skid_steer_turns_less_for_the_same_wheel_speeds():
    diff, skid = make_sim(), make_sim(kinematics="skid_steer", skid_factor=1.5)
    assert skid.wheel_base == pytest.approx(1.5 * diff.wheel_base)
    diff.set_command(0.0, 1.0)
    skid.set_command(0.0, 1.0 / 1.5)
    assert skid.wheel_command == pytest.approx(diff.wheel_command), "the same wheel speeds"
    for _ in range(25):
        diff.step(DT)
        skid.step(DT)
    assert diff.pose[2] == pytest.approx(0.5, abs=1e-9)
    assert skid.pose[2] == pytest.approx(0.5 / 1.5, abs=1e-9), "yaw / skid_factor"
    # the estimator's odometry and the safety kernel's wheel limit use the same track
    robot = RobotConfig(kinematics="skid_steer", skid_factor=1.5)
    kin = kinematics_for(robot)
    assert kin.track == pytest.approx(1.5 * robot.wheel_base)
    from robo_orch.core import safety
    assert kin.pack_limits(SafetyConfig())[safety.L_WHEEL_BASE] == kin.track


def test_unknown_kinematics_is_refused_with_a_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'skid_steer'"):
        load_config(None, ["robot.kinematics=skid_stear"])
    proc = helpers.cli("check", "--set", "robot.kinematics=holonomix")
    assert proc.returncode == 2
    assert "robot.kinematics" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
