"""The plugin example's pan-tilt head (examples/battery_plugin, robot_pan_tilt.toml): its
look_at_goal behavior, installed with the example as its own distribution, drives a
``joints`` command space beside the demo's base, in lockstep.

One mission with the head and the demo without it (each well under a second once
compiled) prove: the mission completes as the demo does, the camera stays on the goal,
the head's commands keep its limits, and the base (its motion, so its lidar's scans)
is exactly the demo's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robo_orch.config import load_config
from robo_orch.core import safety_joints as sj
from robo_orch.core import world as W
from robo_orch.missions.report import summarize
from robo_orch.missions.session import run_mission
from robo_orch.runtime.trace import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "battery_plugin"
CONFIG = EXAMPLE / "robot_pan_tilt.toml"
PROBE = Path(__file__).with_name("first_tick_probe.py")
COL = {name: i for i, name in enumerate(COLUMNS)}
SETTLE_S = 1.0  #: the pointing bound holds from this time on
NEAR_M = 0.5  #: ... while the robot is farther than this from the goal (on it, no bearing)
BOUND_RAD = 0.1  #: camera direction to goal bearing, at most (about 5.7 degrees)


@pytest.fixture
def site(plugin_site) -> str:
    """The directory the example is installed in (conftest: ``plugin_site``)."""
    return plugin_site


class Watch:
    """Per tick: the scan the loop holds (a hash), and the head's state and commands."""

    def __init__(self, space: str | None = None) -> None:
        self.space = space
        self.scans: list[str] = []
        self.head: list[list[float]] = []

    def __call__(self, ctl) -> None:
        w = ctl.world
        n = int(w.state[W.SCAN_COUNT])
        self.scans.append(hashlib.sha1(w.scan[:n].tobytes()).hexdigest())
        if self.space is not None:
            js = ctl.joint_spaces[self.space]
            true_pan = ctl.backend.node.joints[0].model.pos[0]
            self.head.append([*js.measured_pos, *js.cmd_pos, *js.cmd_vel, true_pan])


def test_the_head_tracks_the_goal_within_its_limits_and_the_base_drives_as_the_demo(
        site, monkeypatch):
    monkeypatch.syspath_prepend(site)  # the entry point of look_at_goal, found by name
    config = load_config(CONFIG)
    assert [b.name for b in config.behaviors if b.space == "pan_tilt"] == ["look"]
    head = Watch("pan_tilt")
    result = run_mission(config, backend="lockstep", seed=1, progress=head)
    demo_watch = Watch()
    demo = run_mission(load_config(None), backend="lockstep", seed=1, progress=demo_watch)

    # the mission completes as the demo does, and the base is the demo's, tick by tick:
    # the same poses, commands and flags, and the same lidar scans (the lidar is on the
    # base, not on the head)
    summary = summarize(result)
    assert summary["success"] and summary["end_reason"] == "goal reached"
    assert summary["trace_sha256"] == summarize(demo)["trace_sha256"]
    np.testing.assert_array_equal(result.controller.trace.array(), demo.controller.trace.array())
    assert head.scans == demo_watch.scans and len(set(head.scans)) > 100
    assert summary["commands"]["pan_tilt"]["sent"] == len(head.head)
    assert summary["commands"]["pan_tilt"]["refused"] == 0

    # the camera looks at the goal: pan 0 is the base's heading
    trace = result.controller.trace.array()
    rows = np.array(head.head)
    meas_pan, cmd_pos, cmd_vel = rows[:, 0], rows[:, 2:4], rows[:, 4:6]
    t = trace[:, COL["t"]]
    x, y, yaw = (trace[:, COL[c]] for c in ("true_x", "true_y", "true_yaw"))
    gx, gy = config.mission.waypoints[-1]
    bearing = np.arctan2(gy - y, gx - x) - yaw
    error = np.abs(np.angle(np.exp(1j * (bearing - meas_pan))))
    judged = (t >= SETTLE_S) & (np.hypot(gx - x, gy - y) > NEAR_M)
    assert judged.sum() > 1000
    assert error[judged].max() < BOUND_RAD, (error[judged].max(), t[judged][error[judged]
                                                                        .argmax()])
    assert np.ptp(meas_pan) > 1.0  # it did turn: the goal's bearing swept over a radian
    np.testing.assert_allclose(rows[t >= SETTLE_S, 1], 0.2, atol=1e-3)  # the tilt held

    # every command kept the joints' limits (the safety kernel's, per tick)
    space = result.controller.joint_spaces["pan_tilt"]
    lim = space.limits
    assert np.all(cmd_pos >= lim[:, sj.L_MIN]) and np.all(cmd_pos <= lim[:, sj.L_MAX])
    assert np.all(np.abs(cmd_vel) <= lim[:, sj.L_MAX_VEL])
    dv = np.abs(np.diff(cmd_vel, axis=0))
    assert np.all(dv <= lim[:, sj.L_MAX_ACCEL] * space.dt * (1 + 1e-9))
    true_pan = rows[:, 6]
    assert np.all(np.abs(true_pan) <= lim[0, sj.L_MAX])
    flags = summary["commands"]["pan_tilt"]["flag_ticks"]
    assert flags["estop"] == flags["stale_stop"] == flags["invalid_input"] == 0


def test_no_kernel_compiles_on_a_tick_with_the_head(site):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, (site, str(ROOT), os.environ.get("PYTHONPATH"))))}
    out = subprocess.run([sys.executable, str(PROBE), str(CONFIG)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["compiled_during_ticks"] == {}
