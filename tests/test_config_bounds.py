"""Config values that would break the tools are refused at load, naming the key.

Every rate and size key has an upper bound; keys whose tiny values break the
simulator or the safety check have a lower one; an empty port is refused; a speed
the motor driver cannot reach is warned about; a misspelt scenario name gets a
suggestion.  The sweep runs every numeric key of a navigation config at extreme
values through a short lockstep run: each is refused, or the run completes.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing

import pytest
from helpers import ROBOT, cli

from robo_orch import registry
from robo_orch.config import load_config
from robo_orch.config.load import _SECTIONS, start_warnings
from robo_orch.config.sections import InputConfig
from robo_orch.driver import DriverSpec
from robo_orch.errors import ConfigError
from robo_orch.missions.session import run_mission

#: field names of rate and size keys (durations are rates' inverses)
RATE_OR_SIZE = re.compile(r"(_hz|_s|_ms|_us|_ns|size|bytes|hwm|rays|points|count|cells|baud"
                          r"|per_poll)$")
#: pass/fail criteria compared as floats whose "no limit" is infinity
CRITERIA = {"mission.time_limit_s", "success.max_time_s", "success.max_tick_ms"}
NAVIGATION = "cluttered"  #: a shipped scenario with every built-in behavior


def _numeric(cls: type, prefix: str):
    """(dotted key, type, field metadata) of every int or float option of ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
            tp = args[0]
        if tp in (int, float):
            yield f"{prefix}.{f.name}", tp, f.metadata
        elif dataclasses.is_dataclass(tp):
            yield from _numeric(tp, f"{prefix}.{f.name}")


def _config_keys(config):
    """Numeric keys of the sections, the inputs and the behaviors of ``config``."""
    for name, cls in _SECTIONS.items():
        yield from _numeric(cls, name)
    for role in config.inputs:
        yield from _numeric(InputConfig, f"inputs.{role}")
    for b in config.behaviors:
        yield from _numeric(b.cls.Params, f"behaviors.{b.name}")


def _driver_keys(config):
    for name, drv in config.drivers.items():
        yield from _numeric(DriverSpec, f"drivers.{name}")
        yield from _numeric(drv.cls.Params, f"drivers.{name}")


def _huge(tp: type) -> str:
    return "1e308" if tp is float else str(10**30)


def _refused(path, key: str, value: str) -> bool:
    try:
        load_config(path, [f"{key}={value}"], with_behaviors=key.startswith("behaviors."))
    except ConfigError as err:
        assert err.key == key, (key, str(err))
        return True
    return False


def test_every_rate_and_size_key_has_an_upper_bound():
    nav, robot = load_config(NAVIGATION), load_config(ROBOT)
    assert {b.cls.kind for b in nav.behaviors} == set(registry.names(registry.BEHAVIORS))
    assert {d.cls.kind for d in robot.drivers.values()} == set(registry.names(registry.DRIVERS))
    unbounded = []
    for path, keys in ((NAVIGATION, _config_keys(nav)), (ROBOT, _driver_keys(robot))):
        for key, tp, meta in keys:
            if (RATE_OR_SIZE.search(key) and key not in CRITERIA and not meta.get("choices")
                    and not _refused(path, key, _huge(tp))):
                unbounded.append(key)
    assert unbounded == []


@pytest.mark.parametrize("key, value", [("speed", 1e308), ("delay_s", 1e308)])
def test_a_moving_obstacle_s_speed_and_delay_are_bounded(key, value):
    from robo_orch import schema
    from robo_orch.config.world import MovingCircle

    table = {"radius": 0.3, "path": [[0, 0], [1, 0]], "speed": 0.5, key: value}
    with pytest.raises(ConfigError, match=f"world.moving\\[0\\].{key}: must be <="):
        schema.build(MovingCircle, table, source="t.toml", prefix="world.moving[0]")


def test_check_refuses_a_lidar_rate_of_1e308_with_one_line():
    proc = cli("check", "--set", "sim.lidar.rate_hz=1e308", timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "sim.lidar.rate_hz" in lines[0] and "<=" in lines[0]


@pytest.mark.parametrize("value, ok", [("5e-324", False), ("1e-5", False), ("0", True),
                                       ("0.001", True), ("0.08", True)])
def test_a_tiny_motor_lag_is_refused(value, ok):
    if ok:
        assert load_config(None, [f"robot.motor_time_constant={value}"])
    else:
        assert _refused(None, "robot.motor_time_constant", value)


def test_a_field_with_too_many_cells_is_refused():
    assert _refused(None, "perception.field_resolution", "1e-6")
    assert _refused(None, "perception.field_size", "1e6")


@pytest.mark.slow
def test_every_numeric_key_at_an_extreme_is_refused_or_runs():
    base = load_config(NAVIGATION)
    crashed = []
    for key, tp, meta in _config_keys(base):
        if tp is float:
            values = ["1e308", "1e6", "-1e308"]
            if meta.get("gt") is not None or meta.get("ge") is not None:
                values.append("5e-324")
        else:
            values = [str(10**30), str(2**62), str(10**9), str(-(10**9))]
        for value in values:
            try:
                config = load_config(NAVIGATION, [f"{key}={value}"])
                run_mission(config, backend="lockstep", seed=1, duration_s=0.2)
            except ConfigError:
                continue
            except Exception as err:  # noqa: BLE001 (the finding: any other failure)
                crashed.append(f"{key}={value}: {type(err).__name__}: {err}"[:160])
    assert crashed == []


@pytest.mark.parametrize("port", ["", "   "])
def test_an_empty_port_is_refused(port):
    with pytest.raises(ConfigError) as info:
        load_config(ROBOT, [f'drivers.motors.port="{port}"'])
    assert info.value.key == "drivers.motors.port" and "empty" in info.value.problem


FAST = ["--set", "safety.max_speed=5", "--set", "safety.collision_horizon_s=3.5",
        "--set", "drivers.motors.max_wheel_speed=0.5"]


def test_a_speed_the_motor_driver_cannot_reach_is_warned_about():
    (line,) = start_warnings(load_config(ROBOT, FAST[1::2]))
    assert "drivers.motors.max_wheel_speed" in line and "0.5" in line
    assert "safety.max_speed" in line and "robot.max_wheel_speed" in line
    assert start_warnings(load_config(ROBOT)) == []  # the template is consistent
    proc = cli("check", ROBOT, *FAST, timeout=60)
    assert proc.returncode == 0, proc.stderr
    warned = [x for x in proc.stderr.splitlines() if "max_wheel_speed" in x]
    assert warned == [line] and line.startswith("robo-orch: warning: ")


def test_a_robot_wheel_limit_above_the_motor_drivers_is_warned_about():
    (line,) = start_warnings(load_config(ROBOT, ["robot.max_wheel_speed=1.5"]))
    assert "robot.max_wheel_speed" in line and "safety.max_speed" not in line


@pytest.mark.parametrize("argv", [["sim", "mazee", "--lockstep"], ["scenarios", "mazee"],
                                  ["check", "u_trapp"]])
def test_a_misspelt_scenario_name_gets_a_suggestion(argv):
    proc = cli(*argv, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    want = "maze" if "mazee" in argv else "u_trap"
    assert len(lines) == 1 and f"did you mean '{want}'" in lines[0], proc.stderr
