"""A pan-tilt head in lockstep: runtime.joints.JointSpace against the simulator's
joints device (sim.joints_node) on the lockstep backend's memory bus."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_config

from robo_orch.config import load_config
from robo_orch.core import safety_joints as sj
from robo_orch.runtime.joints import JointSpace, joint_spaces
from robo_orch.sim.lockstep import LockstepBackend

CONFIG = """
[mission]
waypoints = [[3.0, 0.0]]

[behaviors.go_to_goal]
priority = 1

[commands.pan_tilt]
kind = "joints"
topic = "cmd/pan_tilt"
state_topic = "sensor/pan_tilt"
mode = "{mode}"
joints = [ {{ name = "pan", min = -2.6, max = 2.6, max_velocity = 2.0, max_accel = 8.0 }},
           {{ name = "tilt", min = -0.5, max = 1.2, max_velocity = 1.5, max_accel = 6.0 }} ]
"""


class Rig:
    """The lockstep backend and the loop side's joint spaces, stepped tick by tick."""

    def __init__(self, tmp_path, mode: str = "position") -> None:
        self.config = load_config(write_config(tmp_path, CONFIG.format(mode=mode)),
                                  with_behaviors=False)
        self.backend = LockstepBackend(self.config, seed=3)
        self.clock = self.backend.make_clock()
        self.bus = self.backend.make_bus(self.clock)
        self.backend.start(self.bus)
        self.spaces = joint_spaces(self.config, self.bus)
        self.space: JointSpace = self.spaces["pan_tilt"]
        self.device = self.backend.node.joints[0]
        self.dt_ns = round(1e9 / self.config.loop.rate_hz)
        self.tick = 0

    def step(self, proposal=None, *, estop: bool = False, sim: bool = True) -> int:
        now = self.tick * self.dt_ns
        self.clock.advance_to_ns(now)
        if sim:
            self.backend.pre_tick(self.tick, now)
        self.space.sense(now)
        if proposal is not None:
            self.space.proposal[:] = proposal
        flags = self.space.act(now, estop=estop)
        self.tick += 1
        return flags

    def close(self) -> None:
        self.backend.stop()
        self.bus.close()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def test_a_fixed_target_is_reached_within_the_limits(rig):
    target = np.array([2.0, 0.9])
    lo, hi = rig.space.limits[:, sj.L_MIN], rig.space.limits[:, sj.L_MAX]
    allowance = rig.space.limits[:, sj.L_MAX_VEL] * rig.device.model.tau
    sent_pos, sent_vel = [], []
    for _ in range(150):  # 3 s at 50 Hz
        flags = rig.step(target)
        assert flags == 0, flags
        sent_pos.append(rig.space.cmd_pos.copy())
        sent_vel.append(rig.space.cmd_vel.copy())
        pos = rig.device.model.pos
        assert np.all(pos <= hi + allowance) and np.all(pos >= lo - allowance)
    np.testing.assert_allclose(rig.device.model.pos, target, atol=1e-3)
    sent_vel = np.array(sent_vel)
    assert np.all(np.abs(sent_vel) <= rig.space.limits[:, sj.L_MAX_VEL])
    dv = np.abs(np.diff(sent_vel, axis=0))
    assert np.all(dv <= rig.space.limits[:, sj.L_MAX_ACCEL] * rig.space.dt * (1 + 1e-9))
    assert rig.space.refused == 0 and rig.device.refused == 0
    assert rig.device.cmd_sub.counters.received == 149  # the last one applies next step


def test_nothing_is_sent_before_the_first_state(tmp_path):
    r = Rig(tmp_path)
    try:
        assert r.step([1.0, 1.0], sim=False) == sj.STALE_STOP  # the sim was not primed
        assert not r.space.started and r.device.cmd_sub.poll() == 0
        r.step([1.0, 1.0])  # tick 0 primes: the state arrives, commands start at rest
        assert r.space.started
        np.testing.assert_allclose(r.space.cmd_vel, [0.16, 0.12])  # one tick of max_accel
    finally:
        r.close()


def test_a_silent_device_brings_the_joints_to_a_controlled_stop(rig):
    for _ in range(20):
        rig.step([2.5, 1.1])
    v0 = rig.space.cmd_vel.copy()
    assert np.all(np.abs(v0) > 0.5)
    flags = []
    for _ in range(60):  # the simulator stops: no joint_state, the space goes stale
        flags.append(rig.step([2.5, 1.1], sim=False))
    assert flags[0] == 0  # still fresh: max_age_s is 0.5 s
    assert all(f & sj.STALE_STOP for f in flags[26:])
    assert np.all(rig.space.cmd_vel == 0.0)


def test_estop_holds_at_once_and_the_deadman_holds_the_device(rig):
    for _ in range(40):
        rig.step([2.5, 1.1])
    flags = rig.step([2.5, 1.1], estop=True)
    assert flags == sj.ESTOP and np.all(rig.space.cmd_vel == 0.0)
    np.testing.assert_array_equal(rig.space.cmd_pos, rig.space.measured_pos)
    # the loop falls silent: after safety.deadman_s the device holds where it is
    for _ in range(40):
        now = rig.tick * rig.dt_ns
        rig.clock.advance_to_ns(now)
        rig.backend.pre_tick(rig.tick, now)
        rig.tick += 1
    assert rig.device.deadman_stops == 1
    assert np.all(np.abs(rig.device.model.vel) < 1e-3)


def test_velocity_mode_stops_the_device_before_the_ends(tmp_path):
    r = Rig(tmp_path, mode="velocity")
    try:
        hi = r.space.limits[:, sj.L_MAX]
        allowance = r.space.limits[:, sj.L_MAX_VEL] * r.device.model.tau
        for _ in range(200):
            r.step([5.0, 5.0])
            assert np.all(r.device.model.pos <= hi + allowance)
        assert np.all(r.device.model.pos > hi - 0.05)
        assert np.all(np.abs(r.device.model.vel) < 0.05)
    finally:
        r.close()


def test_the_run_is_deterministic(tmp_path):
    runs = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        r = Rig(tmp_path / str(k))
        try:
            trace = [r.step([np.sin(0.1 * i) * 3.0, 1.0]) for i in range(80)]
            runs.append((trace, r.device.model.pos.tolist(), r.space.cmd_pos.tolist()))
        finally:
            r.close()
    assert runs[0] == runs[1]


def test_a_state_with_another_joint_count_is_refused(rig):
    from robo_orch import messages as m

    rig.step([0.0, 0.0])
    other = rig.bus.peer(9)
    pub = other.publisher("sensor/pan_tilt", m.JOINT_STATE)
    pub.publish(m.new_fixed(m.JOINT_STATE), m.new_var(m.JOINT_STATE, 3), stamp_ns=0)
    rig.step([0.0, 0.0], sim=False)
    assert rig.space.refused == 1
    other.close()


def test_the_simulated_device_repeats_the_estop_latch(rig):
    from robo_orch import messages as m

    for _ in range(30):
        rig.step([2.5, 1.1])
    assert np.all(np.abs(rig.device.model.vel) > 0.5)
    estop = rig.bus.publisher(rig.config.topics.estop, m.ESTOP)
    engage = m.new_fixed(m.ESTOP)
    engage["engage"] = 1
    estop.publish(engage, stamp_ns=0)
    held = None
    for k in range(40):  # the loop side keeps proposing motion: the device holds anyway
        rig.step([2.5, 1.1])
        if k == 1:
            held = rig.device.model.pos.copy()
    assert rig.backend.sim.estop
    assert np.all(np.abs(rig.device.model.vel) < 1e-3)
    assert np.all(np.abs(rig.device.model.pos - held) < 0.05)  # stopped within its lag
    engage["engage"] = 0
    estop.publish(engage, stamp_ns=0)
    for _ in range(5):
        rig.step([2.5, 1.1])
    assert not rig.backend.sim.estop and np.any(np.abs(rig.device.model.vel) > 0.1)
