"""Behaviors per command space: the config names each behavior's space (checked at load),
the planner arbitrates each joints space apart from the base, and the controller runs
the space's safety kernel with the loop's e-stop latch and stale inputs.

The joints behavior here is the plugin example's look_at_goal, loaded by file path
(tests/test_plugin_pan_tilt.py runs it installed, through its entry point).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, config_error, write_config

from robo_orch.config import load_config
from robo_orch.core import world as W
from robo_orch.core.arbitrate_joints import arbitrate_joints
from robo_orch.missions.session import make_backend
from robo_orch.record.writer import topics_of
from robo_orch.runtime.controller import Controller

LOOK = (Path(__file__).resolve().parents[1] / "examples" / "battery_plugin"
        / "robo_orch_battery" / "look_at_goal.py")
SPACE = """
[commands.{name}]
kind = "joints"
topic = "cmd/head"
state_topic = "sensor/head"
mode = "{mode}"
joints = [ {{ name = "pan", min = -2.6, max = 2.6, max_velocity = 3.0, max_accel = 15.0 }},
           {{ name = "{tilt}", min = -0.5, max = 1.2, max_velocity = 1.5, max_accel = 6.0 }} ]
"""


def config_text(space: str | None = "head", name: str = "head", mode: str = "position",
                tilt: str = "tilt", kind: str | None = None) -> str:
    look = f'kind = "{kind or LOOK}"\npriority = 10\n'
    if space is not None:
        look += f'space = "{space}"\n'
    return ('extends = "demo"\n' + SPACE.format(name=name, mode=mode, tilt=tilt)
            + "\n[behaviors.look]\n" + look)


def test_a_joints_behavior_is_planned_in_its_space_and_the_base_keeps_its_own(tmp_path):
    config = load_config(write_config(tmp_path, config_text()))
    look = next(b for b in config.behaviors if b.name == "look")
    assert look.space == "head" and look.cls.kind == "look_at_goal"
    assert all(b.space == "base" for b in config.behaviors if b.name != "look")
    assert topics_of(config)["cmd/head"] == "joint_command"
    assert topics_of(config)["sensor/head"] == "joint_state"


@pytest.mark.parametrize("text, key, words", [
    (config_text(space="haed"), "behaviors.look.space", ["no command space 'haed'",
                                                         "did you mean 'head'"]),
    (config_text(space="base"), "behaviors.look.space", ["joint targets", "head"]),
    (config_text(space=None), "behaviors.look.space", ["no command space 'pan_tilt'"]),
    (config_text(tilt="roll"), "behaviors.look.space", ["(pan, tilt)", "(pan, roll)"]),
    (config_text(mode="velocity"), "behaviors.look.space", ["positions", "velocity mode"]),
    (config_text(kind="go_to_goal"), "behaviors.look.space", ["base velocities"]),
    (config_text(name="base", space="base"), "commands.base", ["the base's own"]),
])
def test_a_space_that_does_not_suit_the_behavior_is_refused(tmp_path, text, key, words):
    err = config_error(write_config(tmp_path, text))
    assert err.key == key
    for word in words:
        assert word in err.problem, err.problem


def test_the_cli_refuses_an_unknown_space_in_one_line(tmp_path):
    out = cli("check", str(write_config(tmp_path, config_text(space="haed"))))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "did you mean 'head'" in out.stderr


def test_arbitrate_joints_takes_the_winner_or_blends_every_joint():
    proposals = np.zeros((3, 8))
    proposals[0, :3] = [1.0, 2.0, 3.0]
    proposals[1, :3] = [-1.0, 0.0, 1.0]
    proposals[2, :3] = [5.0, 5.0, 5.0]
    acts = np.array([0.0, 0.5, 1.0])
    enabled = np.ones(3, dtype=np.uint8)
    prio = np.array([30, 20, 10], dtype=np.int64)
    out = np.full(3, 9.0)
    assert arbitrate_joints(proposals, acts, enabled, prio, np.zeros(3, np.uint8), out) == 1
    np.testing.assert_array_equal(out, [-1.0, 0.0, 1.0])
    # blended: 0.5 of behavior 1, the remaining 0.5 of behavior 2
    assert arbitrate_joints(proposals, acts, enabled, prio, np.ones(3, np.uint8), out) == 1
    np.testing.assert_allclose(out, [2.0, 2.5, 3.0])
    out[:] = 7.0  # nobody active: -1, out untouched (the space holds)
    assert arbitrate_joints(proposals, np.zeros(3), enabled, prio, np.ones(3, np.uint8),
                            out) == -1
    np.testing.assert_array_equal(out, [7.0, 7.0, 7.0])
    # subnormal activations (a product keeps a few bits) blend every joint as exactly
    proposals[2, :3] = [0.3, 0.3, 0.3]
    acts[:] = [0.0, 1.5e-323, 1.5e-323]
    assert arbitrate_joints(proposals, acts, enabled, prio, np.ones(3, np.uint8), out) == 1
    np.testing.assert_allclose(out, [-0.35, 0.15, 0.65], rtol=1e-15)


class Loop:
    """The controller on the lockstep backend, ticked by hand."""

    def __init__(self, path) -> None:
        self.config = load_config(path)
        self.backend = make_backend(self.config, "lockstep")
        self.clock = self.backend.make_clock()
        self.bus = self.backend.make_bus(self.clock)
        self.ctl = Controller(self.config, self.bus, backend=self.backend)
        self.ctl.warmup()
        self.backend.start(self.bus)
        self.space = self.ctl.joint_spaces["head"]
        self.tick = 0

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            now = self.clock.now_ns()
            self.ctl.pre_tick(self.tick, now)
            self.ctl.sense(self.tick, now)
            self.ctl.plan(self.tick)
            self.ctl.act(self.tick)
            self.clock.advance_ns(20_000_000)
            self.tick += 1

    def close(self) -> None:
        self.backend.stop()
        self.bus.close()


def test_the_estop_latch_and_the_loops_stale_inputs_stop_the_joints(tmp_path):
    loop = Loop(write_config(tmp_path, config_text()))
    try:
        loop.step(40)
        plan = loop.ctl.planner.spaces["head"]
        assert plan.winner == 0 and loop.space.started
        np.testing.assert_allclose(loop.space.proposal, plan.out)
        counts = loop.space.flag_counts.copy()
        loop.ctl.engage_estop()
        loop.step()
        assert loop.space.flag_counts[0] == counts[0] + 1  # estop, at once
        assert np.all(loop.space.cmd_vel == 0.0)
        loop.ctl.reset_estop()
        loop.step(5)
        # the base's inputs go stale (the loop sees STALE): a controlled stop of the joints
        stale = loop.space.flag_counts[1]
        loop.ctl.world.state[W.STALE] = 1.0
        loop.ctl.plan(loop.tick)
        loop.ctl.act(loop.tick)
        assert loop.ctl.health()["commands"]["head"]["flag_ticks"]["stale_stop"] == stale + 1
        loop.tick += 1
        # live: disabling the behavior leaves the space without a winner (it holds)
        loop.ctl.planner.set_enabled("look", False)
        loop.step()
        assert plan.winner == -1
        loop.ctl.planner.params_of("look")[0] = 0.5  # tilt, live
        loop.ctl.planner.set_enabled("look", True)
        loop.step(60)
        assert abs(loop.space.measured_pos[1] - 0.5) < 0.05
    finally:
        loop.close()


def test_look_at_goal_passes_check_behavior(tmp_path):
    from robo_orch import registry
    from robo_orch.testing import check_behavior

    cls = registry.load(registry.BEHAVIORS, str(LOOK))
    report = check_behavior(cls)
    assert "runs" in report.passed and "layout_independent" in report.passed
    assert cls.command_space == "pan_tilt" and cls.joints == ("pan", "tilt")



def test_the_realtime_simulator_runs_the_head_too(tmp_path):
    path = write_config(tmp_path, config_text())
    summary = tmp_path / "s.json"
    out = cli("sim", str(path), "--duration", "1", "--summary", str(summary), timeout=120)
    assert out.returncode in (0, 1), out.stderr  # 1: the mission's criteria (time limit)
    head = json.loads(summary.read_text())["commands"]["head"]
    assert head["started"] and head["sent"] >= 40 and head["refused"] == 0
    assert head["flag_ticks"]["stale_stop"] <= 2  # the device answers every tick


def test_check_behavior_wants_a_finite_target_for_every_declared_joint():
    import math
    from dataclasses import dataclass

    import numba

    from robo_orch.behavior import Behavior
    from robo_orch.testing import check_behavior

    @dataclass(frozen=True)
    class NoParams:
        pass

    @numba.njit(W.kernel_signature(), cache=False)
    def third_is_nan(world, idx, params, state, out):
        out[0] = 0.0
        out[1] = 0.0
        out[2] = math.nan
        return 1.0

    class Gripper(Behavior):
        kind = "nan_gripper"
        Params = NoParams
        kernel = third_is_nan
        command_space = "gripper"
        joints = ("left", "right", "wrist")

    report = check_behavior(Gripper, raise_on_failure=False)
    assert "runs" not in report.passed and "not finite" in str(report.results["runs"])
