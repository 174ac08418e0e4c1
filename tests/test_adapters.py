"""Input adapters (robo_orch/adapter.py): the checker on every built-in adapter and on a
plugin's, the checker failing where it must, the built-in gps_fix adapter's numbers, and
the config of adapter inputs (their one-line errors)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from robo_orch import registry
from robo_orch.adapter import MessageBuffers
from robo_orch.config import load_config
from robo_orch.core import world as W
from robo_orch.errors import ConfigError
from robo_orch.messages import message_type
from robo_orch.testing import CheckFailed, check_adapter

PLUGINS = Path(__file__).with_name("plugins")


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import adapter_plugins

    return adapter_plugins


def _fix(x: float, y: float, std: float) -> np.ndarray:
    fix = np.zeros((), dtype=message_type("position_fix").dtype)
    fix["x"], fix["y"], fix["std"] = x, y, std
    return fix


def _fields(name: str, **values) -> np.ndarray:
    fixed = np.zeros((), dtype=message_type(name).dtype)
    for field, value in values.items():
        fixed[field] = value
    return fixed


def _scan(ranges: list[float]) -> tuple[np.ndarray, np.ndarray]:
    mtype = message_type("laser_scan")
    fixed = np.zeros((), dtype=mtype.dtype)
    fixed["range_min"], fixed["range_max"] = 0.05, 8.0
    var = np.zeros(len(ranges), dtype=mtype.var_dtype)
    var["angle"] = np.linspace(-1.0, 1.0, len(ranges))
    var["range"] = ranges
    return fixed, var


@pytest.mark.parametrize("name", sorted(registry.BUILTINS[registry.ADAPTERS]))
def test_every_built_in_adapter_keeps_the_contract(name):
    cls = registry.load(registry.ADAPTERS, name)
    sample = {"position_fix": (_fix(1.0, 2.0, 0.5), None),
              "laser_scan": _scan([2.0, np.inf, 0.01, 1.5, 3.0]),
              "wheel_odometry": (_fields("wheel_odometry", v_left=0.4, v_right=0.6), None),
              "body_odometry": (_fields("body_odometry", vx=0.4, vy=-0.1, w=0.3), None),
              "imu": (_fields("imu", gyro=[0.0, 0.0, 0.2],
                              orientation=[0.0, 0.0, 0.38268343, 0.92387953]), None),
              }[cls.message]
    report = check_adapter(cls, sample=sample)
    assert report.ok and not report.skipped, str(report)


def test_a_plugin_adapter_reading_a_variable_part_keeps_the_contract(plugins):
    mtype = message_type("laser_scan")
    fixed, var = _scan([2.0, np.inf, 0.01, 1.5, 3.0])
    report = check_adapter(plugins.NearestReturn, sample=(fixed, var))
    assert report.passed == ["convention", "message", "params", "declarations", "signature",
                             "runs", "writes_declared", "no_compile", "layout_independent"]
    buf = MessageBuffers(mtype)  # what the kernel saw: one contiguous row per field
    assert buf.load(fixed, var) == 5 and buf.var[1, :5].tolist() == var["range"].tolist()
    assert not buf.finite(5, True) and buf.finite(5, False)


def test_the_checker_names_each_broken_rule(plugins):
    with pytest.raises(CheckFailed) as err:
        check_adapter(plugins.Sloppy, sample=(_fix(1.0, 2.0, 0.5), None))
    assert set(err.value.report.failed) == {"signature", "writes_declared", "no_compile"}
    assert "target_x" in err.value.report.failed["writes_declared"]
    report = check_adapter(int, raise_on_failure=False)
    assert list(report.failed) == ["convention"] and "message" in report.skipped


def test_gps_fix_moves_the_fix_from_the_antenna_to_the_centre_as_the_estimator_did():
    cls = registry.load(registry.ADAPTERS, "gps_fix")
    ax, ay = 0.3, -0.1
    params = cls.pack_params(cls.Params(antenna_x=ax, antenna_y=ay))
    world = W.World(field_shape=(8, 8), max_scan=8, max_path=4)
    buf = MessageBuffers(message_type("position_fix"))
    state = cls.new_state(None)
    for yaw in (0.0, 0.7, -2.9, math.pi):
        world.state[W.YAW] = yaw
        buf.load(_fix(4.0, -1.0, 0.8), None)
        status = cls.kernel(world.arrays, np.zeros(0, dtype=np.int64), buf.fixed, buf.var, 0,
                            params, state)
        c, s = math.cos(yaw), math.sin(yaw)
        assert status > 0
        assert state.tolist() == [4.0 - (c * ax - s * ay), -1.0 - (s * ax + c * ay), 0.8]


@pytest.mark.parametrize("table, key, problem", [
    ('[inputs.sonar]\ntopic = "sensor/sonar"\n', "inputs.sonar",
     'needs an input adapter: adapter = "KIND"'),
    ('[inputs.scan]\ntopic = "sensor/scan"\nadapter = "laser_points"\n', "inputs.scan.adapter",
     "'scan' is a built-in input"),
    ('[inputs.odom]\ntopic = "sensor/odom"\nadapter = "gps_fix"\n', "inputs.odom.adapter",
     "inputs.odom takes an adapter that fuses 'velocity'; gps_fix fuses 'position'"),
    ('[inputs.imu]\ntopic = "sensor/imu"\nadapter = "adapter_plugins:NearestReturn"\n',
     "inputs.imu.adapter", "fuses 'yaw_rate'; nearest_return hands the estimator nothing"),
    ('[inputs.rtk]\ntopic = "sensor/rtk"\nadapter = "gps_fx"\n', "inputs.rtk.adapter",
     "did you mean 'gps_fix'?"),
    ('[inputs.front]\ntopic = "sensor/scan"\nadapter = "adapter_plugins:NearestReturn"\n'
     'min_rang = 0.1\n', "inputs.front.min_rang", "unknown key"),
])
def test_adapter_inputs_are_validated_at_load(tmp_path, plugins, table, key, problem):
    path = tmp_path / "robot.toml"
    path.write_text('extends = "demo"\n' + table)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key and problem in err.value.problem, str(err.value)


def test_an_adapter_input_provides_the_names_a_behavior_reads(tmp_path, plugins):
    path = tmp_path / "robot.toml"
    path.write_text('extends = "demo"\n[inputs.front]\ntopic = "sensor/scan"\n'
                    'adapter = "adapter_plugins:NearestReturn"\nrequired = false\n'
                    'min_range = 0.1\n')
    config = load_config(path)
    (spec,) = config.adapters
    assert spec.input == "front" and spec.params.min_range == 0.1
    nearest = config.layout.names["nearest_return"]
    assert nearest.writers == ["inputs.front"] and nearest.index == W.STATE_LEN
    assert config.layout.idx["inputs.front"].tolist() == [W.STATE_LEN]
    assert config.inputs["front"].adapter == "adapter_plugins:NearestReturn"
    from robo_orch.config.describe import describe_config  # what robo-orch check prints

    text = describe_config(config)
    assert "laser_scan" in text.split("front", 1)[1].splitlines()[0]
    assert "adapter adapter_plugins:NearestReturn" in text
    assert "written by inputs.front" in text


def test_the_built_in_adapters_leave_the_world_as_the_code_they_replaced():
    from robo_orch.bench.adapters import bench_adapters

    out = bench_adapters(quick=True, rounds=1)  # raises if the two paths' worlds differ
    assert out["scan"]["same_results"] and out["gps"]["same_results"]
