"""The safety check's odometry frame: a position or heading fix that jumps the
estimate does not move the obstacles the safety layer sees (issue 10, item 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robo_orch.bus import MemoryBus, MemoryHub
from robo_orch.clock import SimClock
from robo_orch.config import load_config
from robo_orch.core import odoframe
from robo_orch.core import safety as sf
from robo_orch.core import world as W
from robo_orch.messages import message_type, new_fixed, new_var
from robo_orch.runtime.controller import make_world
from robo_orch.runtime.sense import Sensing

MS = 1_000_000


class Rig:
    """The real sense phase on a memory bus, fed by hand."""

    def __init__(self) -> None:
        # loose odometry, so that one position fix moves the estimate well
        self.config = load_config(None, ["inputs.gps.topic=sensor/gps", "inputs.gps.required=false",
                                         "estimator.odom_speed_std=5",
                                         "estimator.accel_std=20"])
        hub = MemoryHub()
        self.clock = SimClock()
        self.world = make_world(self.config)
        self.sensing = Sensing(self.config, MemoryBus(self.clock, publisher_id=1, hub=hub),
                               self.world)
        dev = MemoryBus(self.clock, publisher_id=2, hub=hub)
        self.pubs = {name: dev.publisher(f"sensor/{name}", message_type(kind)) for name, kind in
                     (("odom", "wheel_odometry"), ("imu", "imu"), ("scan", "laser_scan"),
                      ("gps", "position_fix"))}
        self.now = 0

    def tick(self, *, speed=0.5, scan=False, fix=None):
        self.now += 20 * MS
        self.clock.advance_to_ns(self.now)
        odom = new_fixed(message_type("wheel_odometry"))
        odom["v_left"] = odom["v_right"] = speed
        self.pubs["odom"].publish(odom)
        self.pubs["imu"].publish(new_fixed(message_type("imu")))
        if scan:  # a wall 0.4 m ahead of the start, across the way
            angles = np.linspace(-1.0, 1.0, 81)
            fixed = new_fixed(message_type("laser_scan"))
            fixed["range_min"], fixed["range_max"] = 0.05, 8.0
            var = new_var(message_type("laser_scan"), len(angles))
            x = float(self.world.state[W.X])
            var["angle"], var["range"] = angles, (0.4 - x) / np.cos(angles)
            self.pubs["scan"].publish(fixed, var)
        if fix is not None:
            msg = new_fixed(message_type("position_fix"))
            msg["x"], msg["y"], msg["std"] = fix[0], fix[1], 0.05
            self.pubs["gps"].publish(msg)
        self.sensing.sense(self.now, 0)

    def command(self, proposal=(0.8, 0.0), speed=0.6):
        """The safety layer's command for ``proposal`` now (on a copy of the state),
        the robot driving straight on at ``speed`` as last commanded."""
        state = self.world.state.copy()
        state[W.CMD_V] = state[W.V] = speed
        state[W.CMD_W] = state[W.W] = 0.0
        lim = sf.pack_limits(self.config.safety, self.config.robot)
        mem = np.zeros(sf.mem_size(self.world.scan.shape[0]))
        cmd = np.zeros(2)
        flags = sf.safety(state, self.world.scan, lim, *proposal, mem, cmd)
        return flags, cmd, mem


def test_a_position_fix_that_jumps_the_estimate_does_not_move_the_obstacles():
    plain, fixed = Rig(), Rig()
    for rig in (plain, fixed):
        for k in range(10):
            rig.tick(scan=(k == 3))
    # the fix says the robot is 0.15 m further on (toward the wall) than odometry does
    plain.tick()
    fixed.tick(fix=(float(plain.world.state[W.X]) + 0.15, 0.0))
    jump = fixed.world.state[W.X] - plain.world.state[W.X]
    assert jump > 0.05, "the fix moved the estimate"
    assert fixed.world.state[W.CORR_X] == pytest.approx(jump, abs=1e-9)
    # (the fix also nudges the speed estimate, through its correlation with the
    # position: that is the estimator's business; command() sets the speeds alike)
    flags_p, cmd_p, mem_p = plain.command()
    flags_f, cmd_f, mem_f = fixed.command()
    assert flags_p & sf.COLLISION_SLOW, "the wall limits the command"
    assert flags_f == flags_p
    assert cmd_f == pytest.approx(cmd_p, abs=1e-9)
    assert mem_f[sf.MEM_CLEARANCE] == pytest.approx(mem_p[sf.MEM_CLEARANCE], abs=1e-9)
    # without the odometry frame (the check in the estimate's frame) the wall would
    # have come closer by the jump: the command would differ
    state = fixed.world.state
    state[W.SCAN_CORR_X:W.SCAN_CORR_YAW + 1] = state[W.CORR_X:W.CORR_YAW + 1]
    _, cmd_est, mem_est = fixed.command()
    assert cmd_est[0] < cmd_p[0] - 0.01
    assert mem_est[sf.MEM_CLEARANCE] == pytest.approx(mem_p[sf.MEM_CLEARANCE] - jump, abs=1e-6)
    # a new scan is placed with the new estimate: then the points move with it
    fixed.tick(scan=True)
    assert fixed.world.state[W.SCAN_CORR_X] == fixed.world.state[W.CORR_X]


def test_jumps_compose_and_the_scan_frame_pose_removes_them():
    state = np.zeros(W.STATE_LEN)
    x = np.array([1.0, 2.0, 0.3, 0.0, 0.0])
    before = np.zeros(3)
    state[W.X:W.YAW + 1] = x[:3]
    odoframe.mark_scan(state)  # the scan's points were placed at this estimate
    for jump in ((0.5, -0.2, 0.1), (-0.3, 0.4, -0.25)):
        odoframe.hold(x, before)
        c, s = math.cos(jump[2]), math.sin(jump[2])
        x[0], x[1] = c * x[0] - s * x[1] + jump[0], s * x[0] + c * x[1] + jump[1]
        x[2] += jump[2]
        odoframe.absorb_jump(before, x, state)
    state[W.X:W.YAW + 1] = x[:3]
    assert odoframe.scan_frame_pose_of(state) == pytest.approx((1.0, 2.0, 0.3), abs=1e-12)
    # odometry motion after the jumps is kept (in the jumped frame's orientation)
    before[:] = x[:3]
    x[0] += 0.1 * math.cos(x[2])
    x[1] += 0.1 * math.sin(x[2])
    state[W.X:W.YAW + 1] = x[:3]
    px, py, pyaw = odoframe.scan_frame_pose_of(state)
    assert math.hypot(px - 1.0, py - 2.0) == pytest.approx(0.1, abs=1e-12)
    assert (px - 1.0, py - 2.0) == pytest.approx((0.1 * math.cos(0.3), 0.1 * math.sin(0.3)),
                                                 abs=1e-12)
    assert pyaw == pytest.approx(0.3, abs=1e-12)
    # non-finite poses change nothing
    corr = state[W.CORR_X:W.CORR_YAW + 1].copy()
    odoframe.absorb_jump(np.array([np.nan, 0.0, 0.0]), x, state)
    assert np.array_equal(state[W.CORR_X:W.CORR_YAW + 1], corr)
