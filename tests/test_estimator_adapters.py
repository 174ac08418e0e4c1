"""The estimator's inputs through input adapters (robo_orch/runtime/measured.py): the
built-in odometry, IMU and GPS handling are adapters, a user's adapter on
``[inputs.odom]`` drives a lockstep mission, and every measurement is checked whichever
adapter made it (real kernels, real checks)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from robo_orch import clock
from robo_orch.bus.counters import Received
from robo_orch.config import load_config
from robo_orch.core.world import World
from robo_orch.kinematics import kinematics_for
from robo_orch.messages import Header, message_type
from robo_orch.missions.report import summarize
from robo_orch.missions.session import run_mission
from robo_orch.runtime.input_checks import InputChecks, adapter_reasons
from robo_orch.runtime.measured import MeasuredInput, measured_inputs

PLUGINS = Path(__file__).with_name("plugins")


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import adapter_plugins

    return adapter_plugins


def _msg(name: str, **values) -> Received:
    mtype = message_type(name)
    fixed = np.zeros((), dtype=mtype.dtype)
    for field, value in values.items():
        fixed[field] = value
    header = Header(1, clock.SIM, mtype.type_id, 0, 1, 0, 1, 1_000, 0, "")
    return Received(header, fixed, None, 1_000)


def _take(config, inp: MeasuredInput, msg: Received) -> tuple[bool, dict]:
    """One message through the input's adapter and checks; (taken, reject counts)."""
    checks = InputChecks(config, [inp.name], clock.SIM, {inp.name: adapter_reasons(inp.cls)})
    world = World(field_shape=(8, 8), max_scan=8, max_path=4, **config.layout.world_sizes())
    taken = inp.take(msg, world.arrays, checks)
    return taken, {k: v for k, v in checks.rejected[inp.name].items() if v}


def test_the_built_in_inputs_run_through_the_built_in_adapters():
    config = load_config(None)
    found = {m.name: (m.cls.kind, m.fuses)
             for m in measured_inputs(config, ["odom", "imu", "scan", "gps"],
                                      kinematics_for(config.robot))}
    assert found == {"odom": ("wheel_speeds", "velocity"), "imu": ("imu_gyro", "yaw_rate"),
                     "gps": ("gps_fix", "position")}
    holo = load_config("demo_holonomic")
    (odom,) = measured_inputs(holo, ["odom"], kinematics_for(holo.robot))
    assert odom.cls.kind == "body_velocity"
    from robo_orch.config.describe import describe_config  # what robo-orch check prints

    lines = {line.split()[0]: line for line in describe_config(config).splitlines()
             if line.startswith("  ") and "max_age=" in line}
    assert [lines[r].rsplit("adapter ", 1)[1] for r in ("odom", "imu", "scan")] == \
        ["wheel_speeds)", "imu_gyro)", "laser_points)"]


@pytest.mark.parametrize("values, taken, rejects", [
    ({"v_left": 0.4, "v_right": 0.6}, True, {}),
    ({"v_left": math.nan, "v_right": 0.6}, False, {"non_finite": 1}),
    ({"v_left": 50.0, "v_right": 50.0}, False, {"out_of_range": 1}),
    ({"v_left": -30.0, "v_right": 30.0}, False, {"out_of_range": 1}),  # a spin: w bound
])
def test_every_odometry_measurement_is_checked(values, taken, rejects):
    config = load_config(None)
    (odom,) = measured_inputs(config, ["odom"], kinematics_for(config.robot))
    assert _take(config, odom, _msg("wheel_odometry", **values)) == (taken, rejects)
    if taken:
        track = kinematics_for(config.robot).track
        assert odom.state[:3].tolist() == [0.5, (0.6 - 0.4) / track, 0.0]


@pytest.mark.parametrize("values, taken, rejects, heading", [
    ({"gyro": [0, 0, 0.2]}, True, {}, None),  # no orientation reported
    ({"gyro": [0, 0, 0.2], "accel": [math.nan] * 3}, True, {}, None),  # accel is not used
    ({"gyro": [0, 0, 0.2], "orientation": [0, 0, math.sin(0.3), math.cos(0.3)]}, True, {},
     0.6),
    ({"gyro": [0, 0, 99.0]}, False, {"out_of_range": 1}, None),
    ({"gyro": [0, 0, math.inf]}, False, {"non_finite": 1}, None),
    ({"gyro": [0, 0, 0.2], "orientation": [0, 0, 0.9, 0.9]}, False, {"quaternion": 1}, None),
    ({"gyro": [0, 0, 0.2], "orientation": [0, 0, math.nan, 1]}, False, {"non_finite": 1}, None),
])
def test_every_imu_measurement_is_checked(values, taken, rejects, heading):
    config = load_config(None)
    (imu,) = measured_inputs(config, ["imu"], kinematics_for(config.robot))
    assert _take(config, imu, _msg("imu", **values)) == (taken, rejects)
    if taken:
        assert imu.state[0] == 0.2 and imu.state[1] == (heading is not None)
        if heading is not None:
            assert imu.state[2] == pytest.approx(heading, abs=1e-12)


def test_a_user_odometry_adapter_is_held_to_the_same_bounds_and_names_its_own_rejects(
        tmp_path, plugins):
    path = tmp_path / "robot.toml"
    path.write_text('extends = "demo"\n[inputs.odom]\ntopic = "sensor/odom"\n'
                    'adapter = "adapter_plugins:CalibratedWheels"\nmax_slip = 0.5\n')
    config = load_config(path)
    (odom,) = measured_inputs(config, ["odom"], kinematics_for(config.robot))
    assert odom.cls is plugins.CalibratedWheels
    assert adapter_reasons(odom.cls) == ("non_finite", "out_of_range", "future_stamp",
                                         "too_old", "slip")
    assert _take(config, odom, _msg("wheel_odometry", v_left=0.2, v_right=0.9)) == \
        (False, {"slip": 1})
    assert _take(config, odom, _msg("wheel_odometry", v_left=40.0, v_right=40.1)) == \
        (False, {"out_of_range": 1})  # its kernel took it; the velocity check did not


def test_a_user_odometry_adapter_drives_the_demo_exactly_as_the_built_in(tmp_path, plugins):
    demo = load_config(None)
    path = tmp_path / "robot.toml"
    path.write_text('extends = "demo"\n[inputs.odom]\ntopic = "sensor/odom"\n'
                    'adapter = "adapter_plugins:CalibratedWheels"\n'
                    f'track = {kinematics_for(demo.robot).track!r}\n')
    config = load_config(path)
    built_in = summarize(run_mission(demo, seed=1, backend="lockstep"))
    result = run_mission(config, seed=1, backend="lockstep")
    user = summarize(result)
    assert user["goal_reached"] and user["trace_sha256"] == built_in["trace_sha256"]
    ctl = result.controller
    counted = ctl.world.state[config.layout.names["odom_messages"].index]
    accepted = ctl.sensing.input_rejects()["odom"]["accepted"]
    assert accepted > 1000 and counted == accepted


class _Fixes:
    """Publishes a position fix ``offset`` metres east of the truth every 10 ticks."""

    def __init__(self, topic: str, offset: float) -> None:
        self.topic, self.offset, self.pub, self.sent = topic, offset, None, 0

    def __call__(self, ctl) -> None:
        if self.pub is None:
            self.pub = ctl.bus.publisher(self.topic, message_type("position_fix"))
            self.msg = np.zeros((), dtype=message_type("position_fix").dtype)
        if (ctl.trace.rows - 1) % 10 == 0:
            x, y = ctl._truth[0], ctl._truth[1]
            self.msg["x"], self.msg["y"], self.msg["std"] = x + self.offset, y, 0.03
            self.pub.publish(self.msg, stamp_ns=ctl.now_ns)
            self.sent += 1


def test_an_input_of_another_name_fuses_a_second_position_source(tmp_path):
    path = tmp_path / "robot.toml"
    path.write_text('extends = "demo"\n[inputs.rtk]\ntopic = "test/rtk"\nadapter = "gps_fix"\n'
                    'required = false\nmax_age_s = 0.5\n')
    config = load_config(path)
    fixes = _Fixes("test/rtk", 0.1)
    result = run_mission(config, seed=1, backend="lockstep", duration_s=10.0, progress=fixes)
    counts = result.controller.sensing.input_rejects()["rtk"]
    # every fix fused but the one published after the last tick
    assert counts["accepted"] == fixes.sent - 1 > 40 and not any(counts["rejected"].values())
    from robo_orch.runtime.trace import COLUMNS

    tr = result.controller.trace.array()
    col = {name: i for i, name in enumerate(COLUMNS)}
    east = tr[-100:, col["x"]] - tr[-100:, col["true_x"]]
    # pulled toward the fixes, 0.1 m east of the truth (0.066 m; without them -0.001 m)
    assert east.mean() > 0.05


def test_the_estimator_loads_fix_kernels_and_the_lateral_filter_only_for_robots_with_them(
        tmp_path):
    """Loaded (and on an empty cache compiled) only where used: a GPS's position-fix
    kernels, a holonomic base's lateral-speed filter."""
    rtk = tmp_path / "rtk.toml"
    rtk.write_text('extends = "demo"\n[inputs.rtk]\ntopic = "test/rtk"\nadapter = "gps_fix"\n'
                   'required = false\n')
    for source, fixes, lateral in ((None, False, False), (rtk, True, False),
                                   ("demo_holonomic", False, True)):
        result = run_mission(load_config(source), seed=1, backend="lockstep", duration_s=0.1)
        estimate = result.controller.sensing.estimate
        assert (estimate._fix is not None, estimate._lat is not None) == (fixes, lateral)
