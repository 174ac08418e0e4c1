"""The bases (robo_orch.kinematics): each reaches the demo's goal in lockstep, each
simulator moves as its model says, and ``robot.kinematics`` is checked at load."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

from robo_orch.bus import MemoryBus, MemoryHub
from robo_orch.clock import SimClock
from robo_orch.config import load_config
from robo_orch.config.sections import LidarConfig, RobotConfig, SafetyConfig, SimConfig
from robo_orch.config.world import WorldConfig
from robo_orch.core import world as W
from robo_orch.errors import ConfigError
from robo_orch.kinematics import kinematics_for
from robo_orch.messages import message_type, new_fixed
from robo_orch.missions.session import run_mission
from robo_orch.runtime.controller import make_world
from robo_orch.runtime.sense import Sensing
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


@pytest.mark.parametrize("kinematics", ["diff_drive", "skid_steer", "holonomic"])
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


def test_holonomic_sidesteps_and_its_odometry_and_estimate_follow():
    sim = make_sim(kinematics="holonomic")
    config = load_config(None, ["robot.kinematics=holonomic"])
    hub, clock = MemoryHub(), SimClock()
    world = make_world(config)
    sensing = Sensing(config, MemoryBus(clock, publisher_id=1, hub=hub), world)
    dev = MemoryBus(clock, publisher_id=2, hub=hub)
    odom_pub = dev.publisher("sensor/odom", message_type("body_odometry"))
    imu_pub = dev.publisher("sensor/imu", message_type("imu"))
    odom, imu = new_fixed(message_type("body_odometry")), new_fixed(message_type("imu"))
    assert world.state[W.BASE_KIND] == W.BASE_HOLONOMIC
    for k in range(1, 51):  # 1 s of a pure lateral command
        sim.set_body_command(0.0, 0.4, 0.0)
        sim.step(DT)
        odom["vx"], odom["vy"], odom["w"] = sim.odom
        imu["gyro"] = sim.imu_gyro
        clock.advance_to_ns(k * 20_000_000)
        odom_pub.publish(odom)
        imu_pub.publish(imu)
        sensing.sense(k * 20_000_000, 0)
    x, y, yaw = sim.pose
    assert (x, y, yaw) == pytest.approx((0.0, 0.4, 0.0), abs=1e-9), "sideways, not turning"
    assert sim.vy == pytest.approx(0.4) and sim.v == 0.0
    s = world.state
    assert s[W.VY] == pytest.approx(0.4, abs=0.02), "the lateral speed is estimated"
    assert s[W.Y] == pytest.approx(0.4, abs=0.03) and abs(s[W.X]) < 0.01
    assert abs(s[W.YAW]) < 0.01 and abs(s[W.V]) < 0.02


def test_holonomic_wheel_limit_scales_the_whole_command():
    sim = make_sim(kinematics="holonomic", max_wheel_speed=0.6)
    sim.set_body_command(0.5, 0.5, 0.0)
    vx, vy, w = sim.body_command
    assert vx == pytest.approx(0.3) and vy == pytest.approx(0.3) and w == 0.0


def test_serial_devices_refuse_a_holonomic_base():
    proc = helpers.cli("sim", "--devices", "serial", "--set",
                       "robot.kinematics=holonomic", helpers.ROBOT)
    assert proc.returncode == 2, proc.stderr
    assert "robot.kinematics" in proc.stderr and "Traceback" not in proc.stderr


BASE_SCENARIOS = [f"{name}_{base}" for name in ("demo", "doorway", "maze")
                  for base in ("skid_steer", "holonomic")]


@pytest.mark.slow
def test_the_base_scenarios_pass_on_every_seed(tmp_path):
    """2 seeds each in the suite; the README's figure is 20 (ROBO_ORCH_SOAK=1)."""
    seeds = helpers.soak(2, 20)
    out = tmp_path / "s.json"
    proc = helpers.cli("scenarios", "-q", "--seeds", str(seeds), "--json", str(out),
                       *BASE_SCENARIOS, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert [s["name"] for s in doc["scenarios"]] == BASE_SCENARIOS
    for row in doc["scenarios"]:
        assert row["passed"] and row["runs"] == seeds, row


@pytest.mark.parametrize("kinematics", ["skid_steer", "holonomic"])
def test_no_kernel_compiles_on_a_tick_of_any_base(kinematics):
    probe = Path(__file__).with_name("first_tick_probe.py")
    proc = subprocess.run([sys.executable, str(probe), f"robot.kinematics={kinematics}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dispatchers"] > 10
    assert report["compiled_during_ticks"] == {}, report


def test_arbitration_blends_the_lateral_speed_and_leaves_v_w_as_they_were():
    import numpy as np

    from robo_orch.core.arbitrate import arbitrate

    proposals = np.zeros((2, W.OUT_LEN))
    proposals[:, W.OUT_V] = [0.4, 0.2]
    proposals[:, W.OUT_W] = [0.5, -0.5]
    proposals[:, W.OUT_VY] = [0.3, -0.1]
    args = (np.array([0.5, 1.0]), np.ones(2, np.uint8), np.array([2, 1], np.int64),
            np.ones(2, np.uint8))
    four, five = np.zeros(4), np.zeros(5)
    assert arbitrate(proposals, *args, four) == arbitrate(proposals, *args, five) == 0
    assert list(five[:4]) == list(four), "v, w, weight, count: the same with or without vy"
    assert five[4] == pytest.approx(0.5 * 0.3 + 0.5 * -0.1)
    args[3][0] = 0  # the winner alone
    arbitrate(proposals, *args, five)
    assert five[4] == 0.3


@pytest.mark.parametrize("kind", ["go_to_goal", "follow_path"])
def test_on_a_holonomic_base_the_approach_behaviors_drive_straight_at_the_target(kind):
    import numpy as np

    from robo_orch import registry
    from robo_orch.core.world import World

    cls = registry.load(registry.BEHAVIORS, kind)
    params = cls.Params()
    outs = {}
    for base in (W.BASE_DIFF_DRIVE, W.BASE_HOLONOMIC):
        world = World()
        world.set_path(np.array([[0.0, 3.0]]))  # straight to the left of the robot
        world.state[W.BASE_KIND] = base
        world.state[W.GOAL_TOLERANCE] = 0.25
        out = np.zeros(W.OUT_LEN)
        no_idx = np.zeros(0, dtype=np.int64)  # (built-ins declare no user names)
        assert cls.kernel(world.arrays, no_idx, cls.pack_params(params), cls.new_state(params),
                          out) == 1.0
        outs[base] = out
    diff, holo = outs[W.BASE_DIFF_DRIVE], outs[W.BASE_HOLONOMIC]
    assert diff[W.OUT_VY] == 0.0 and diff[W.OUT_V] == 0.0 and diff[W.OUT_W] > 0.0, \
        "a wheeled base turns in place first"
    assert holo[W.OUT_VY] > 0.1 and abs(holo[W.OUT_V]) < 1e-9 and holo[W.OUT_W] > 0.0, \
        "a holonomic base sidesteps toward it while turning"


def test_the_holonomic_physics_step_matches_a_fine_euler_reference():
    import numpy as np

    from robo_orch.sim.holonomic import STATE_LEN, step_holonomic  # (the simulator's model)

    state = np.zeros(STATE_LEN)
    state[3:] = 0.1, -0.2, 0.3  # moving already: the lag shows
    ref = state.copy()
    cmd, dt, tau = (0.5, 0.4, -1.0), 0.2, 0.08
    step_holonomic(state, *cmd, dt, tau, 0.0, math.inf)
    n = 20000  # the obviously correct version: tiny Euler steps of the same model
    h = dt / n
    x, y, yaw, vx, vy, w = ref
    for _ in range(n):
        c, s = math.cos(yaw), math.sin(yaw)
        x += (c * vx - s * vy) * h
        y += (s * vx + c * vy) * h
        yaw += w * h
        vx += (cmd[0] - vx) / tau * h
        vy += (cmd[1] - vy) / tau * h
        w += (cmd[2] - w) / tau * h
    assert state == pytest.approx([x, y, yaw, vx, vy, w], abs=2e-4)


def test_the_holonomic_simulator_moves_as_the_one_model_says():
    import numpy as np

    from robo_orch.sim.holonomic import STATE_LEN, step_holonomic

    robot = dict(kinematics="holonomic", motor_time_constant=0.08)
    sim = make_simulator(WorldConfig(), RobotConfig(**robot), QUIET, SafetyConfig(),
                         (0.0, 0.0, 0.0))
    ref = np.zeros(STATE_LEN)
    for cmd in [(0.3, 0.2, 0.5)] * 20 + [(0.0, -0.3, -0.8)] * 20:
        sim.set_body_command(*cmd)
        sim.step(DT)
        step_holonomic(ref, *sim.body_command, DT, 0.08, 0.0, math.inf)
    assert list(sim.pose) == list(ref[:3]) and (sim.v, sim.vy, sim.w) == tuple(ref[3:])


def run_sensing(config, sim, command, seconds=0.5):
    """Drive ``sim`` with ``command(sim)`` and feed only its odometry to the sense phase."""
    hub, clock = MemoryHub(), SimClock()
    world = make_world(config)
    sensing = Sensing(config, MemoryBus(clock, publisher_id=1, hub=hub), world)
    mtype = message_type(sensing.kinematics.odometry_type)
    pub = MemoryBus(clock, publisher_id=2, hub=hub).publisher("sensor/odom", mtype)
    odom = new_fixed(mtype)
    view = odom.view(float)
    for k in range(1, round(seconds / DT) + 1):
        command(sim)
        sim.step(DT)
        view[:] = sim.odom
        clock.advance_to_ns(k * 20_000_000)
        pub.publish(odom)
        sensing.sense(k * 20_000_000, 0)
    return world.state


def test_the_skid_steer_estimate_turns_wheel_odometry_with_the_effective_track():
    sim = make_sim(kinematics="skid_steer")
    no_imu = ["inputs.imu.required=false"]
    s = run_sensing(load_config(None, ["robot.kinematics=skid_steer", *no_imu]), sim,
                    lambda sim: sim.set_command(0.0, 1.0))
    assert sim.w == pytest.approx(1.0) and sim.pose[2] == pytest.approx(0.5)
    assert s[W.W] == pytest.approx(1.0, abs=0.05) and s[W.YAW] == pytest.approx(0.5, abs=0.03)
    # the same wheel speeds read as a differential drive: 1.5 times the turn
    sim = make_sim(kinematics="skid_steer")
    s = run_sensing(load_config(None, no_imu), sim, lambda sim: sim.set_command(0.0, 1.0))
    assert s[W.W] == pytest.approx(1.5, abs=0.08)
