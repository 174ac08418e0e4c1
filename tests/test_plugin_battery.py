"""The battery part of the plugin example (examples/battery_plugin), installed as its own
distribution: its input adapter ``battery_charge`` takes ``battery_state`` messages into a
user scalar, and its behavior ``return_home`` reads it and brings the robot back to its
start when the charge runs low.  One lockstep mission: a simulated battery publishes on
the lockstep bus, driven by the simulated time, beside the simulator's own sensors."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from robo_orch import messages
from robo_orch.bus import make_bus
from robo_orch.config import load_config
from robo_orch.core import world as W
from robo_orch.errors import ConfigError
from robo_orch.missions.session import run_mission
from robo_orch.sim.lockstep import LockstepBackend
from robo_orch.testing import check_adapter, check_behavior

BATTERY_PUBLISHER_ID = 3

CONFIG = """
[loop]
rate_hz = 50

[inputs.battery]
topic = "sensor/battery"
adapter = "battery_charge"
max_age_s = 1.0
tolerance = 0.02          # the adapter's own parameter

[world]
bounds = [-3.0, -3.0, 10.0, 3.0]

[mission]
start = [0.0, 0.0, 0.0]
waypoints = [[8.0, 0.0]]
time_limit_s = 14.0

[behaviors.stop]
priority = 100

[behaviors.return_home]
priority = 20
low_charge = 0.3

[behaviors.go_to_goal]
priority = 10
"""


class BatteryLockstep(LockstepBackend):
    """The lockstep simulator plus the example's simulated battery on the same bus: at
    half charge, draining 5 % a second, it falls below 30 % after 4 s.  Its ``kind`` stays
    ``lockstep``: the loop runs it as one (no waiting for inputs, deterministic hand-overs)."""

    def start(self, bus) -> None:
        from robo_orch_battery.simulated import SimulatedBattery

        super().start(bus)
        self.battery_bus = make_bus("memory", self.clock, publisher_id=BATTERY_PUBLISHER_ID,
                                    hub=self.hub)
        self.battery = SimulatedBattery(self.battery_bus, "sensor/battery", rate_hz=10.0,
                                        charge=0.5, drain=0.05)

    def pre_tick(self, tick: int, now_ns: int) -> None:
        super().pre_tick(tick, now_ns)
        self.battery.step(now_ns)

    def stop(self) -> None:
        super().stop()
        self.battery_bus.close()


class SilentBatteryLockstep(BatteryLockstep):
    """The same, with a battery monitor that falls silent after 1.5 s."""

    def pre_tick(self, tick: int, now_ns: int) -> None:
        LockstepBackend.pre_tick(self, tick, now_ns)
        if now_ns < 1_500_000_000:
            self.battery.step(now_ns)


def test_the_robot_turns_back_to_its_start_when_the_battery_runs_low(installed, monkeypatch,
                                                                     tmp_path):
    monkeypatch.syspath_prepend(installed["PYTHONPATH"].split(os.pathsep)[0])
    messages.load_plugin_types(reload=True)  # installed after this process looked
    path = tmp_path / "battery.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    names = config.layout.names
    assert names["battery_charge"].writers == ["inputs.battery"]  # the adapter provides it
    assert names["battery_charge"].readers == ["return_home"]
    seen = []

    def progress(ctl) -> None:
        s = ctl.world.state
        seen.append((s[W.T], s[W.X], s[W.Y], s[config.layout.names["battery_charge"].index]))

    result = run_mission(config, backend=f"{__name__}:BatteryLockstep", seed=1,
                         progress=progress)
    ctl = result.controller
    farthest = max(math.hypot(x, y) for _, x, y, _ in seen)
    turn = next(t for t, _, _, charge in seen if 0.0 < charge < 0.3)
    x, y, _ = result.truth.pose
    assert 3.9 <= turn <= 4.2  # the charge the adapter wrote: 0.5 - 0.05 t
    assert farthest > 1.5  # it had set out toward the goal ...
    assert math.hypot(x, y) < 0.4  # ... and is back at its start (truth)
    assert ctl.goal_time_s is None and ctl.end_reason == "time limit"  # parked there
    assert result.truth.collisions == 0
    battery = ctl.sensing.input_rejects()["battery"]
    assert battery["accepted"] >= 130 and sum(battery["rejected"].values()) == 0


def test_its_adapter_and_behavior_pass_the_plugin_checkers(installed, monkeypatch):  # noqa: F811
    monkeypatch.syspath_prepend(installed["PYTHONPATH"].split(os.pathsep)[0])
    messages.load_plugin_types(reload=True)
    from robo_orch_battery.adapter import BatteryCharge
    from robo_orch_battery.behavior import ReturnHome

    fixed = np.zeros((), dtype=messages.message_type("battery_state").dtype)
    fixed["voltage"], fixed["current"], fixed["charge"] = 15.1, 2.0, 0.42
    check_adapter(BatteryCharge, sample=(fixed, None))
    check_behavior(ReturnHome, others=[BatteryCharge])  # the adapter provides what it reads


def test_return_home_without_the_battery_input_is_refused_at_load(installed, monkeypatch,
                                                                   tmp_path):
    monkeypatch.syspath_prepend(installed["PYTHONPATH"].split(os.pathsep)[0])
    messages.load_plugin_types(reload=True)
    path = tmp_path / "battery.toml"
    path.write_text(CONFIG.replace("[inputs.battery]", "[inputs.unused]").replace(
        'adapter = "battery_charge"', 'adapter = "gps_fix"'))
    with pytest.raises(ConfigError):  # gps_fix is the gps input's: refused on another
        load_config(path)
    path.write_text("\n".join(line for line in CONFIG.splitlines()
                               if not line.startswith(("topic", "adapter", "max_age_s",
                                                       "tolerance", "[inputs"))))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "behaviors.return_home"
    assert "reads 'battery_charge': unknown name" in str(err.value)  # nothing declares it


def test_a_silent_battery_input_goes_stale_and_stops_the_robot(installed, monkeypatch,
                                                               tmp_path):
    monkeypatch.syspath_prepend(installed["PYTHONPATH"].split(os.pathsep)[0])
    messages.load_plugin_types(reload=True)
    path = tmp_path / "battery.toml"
    path.write_text(CONFIG)  # the battery input is required (the default), max_age_s 1.0
    config = load_config(path)
    seen = []

    def progress(ctl) -> None:
        s = ctl.world.state
        seen.append((s[W.T], s[W.STALE], s[W.CMD_V]))

    result = run_mission(config, backend=f"{__name__}:SilentBatteryLockstep", seed=1,
                         progress=progress, duration_s=4.0)
    assert not any(stale for t, stale, _ in seen if 0.1 < t < 2.4)  # fresh, then 1 s grace
    assert all(stale for t, stale, _ in seen if t > 2.6)  # silent for over max_age_s: stale
    assert max(v for t, _, v in seen if t < 2.4) > 0.3  # it was driving ...
    assert seen[-1][2] == 0.0  # ... and the controlled stop brought the command to zero
    battery = result.controller.sensing.input_rejects()["battery"]
    assert 14 <= battery["accepted"] <= 16
