"""The state estimate: the EKF (and a holonomic base's lateral speed) and how each
measurement is fused into it.

:class:`Estimate` owns the EKF's state ``x`` and covariance ``P`` (beside the world:
the world holds a copy, written by :meth:`Estimate.write`), their last finite
snapshot, and the estimate's health (:mod:`robo_orch.runtime.estimate_health`).  The
sense phase (:mod:`robo_orch.runtime.sense`) predicts once per tick and hands it each
measurement an input adapter made and the checks passed
(:mod:`robo_orch.runtime.measured`):

* a velocity ``(v, w, vy)``: the EKF's forward speed and yaw rate, and the lateral
  speed on a base that moves sideways;
* a yaw rate ``(rate, has_heading, heading)``: the gyro rate, then the heading as
  ``estimator.imu_yaw`` says (``relative``: aligned to the estimate first and again
  after a run of gated headings; behind the heading gate);
* a position ``(x, y, std)`` of the robot's centre, behind the position gate (a run
  of agreeing gated fixes relocalises).

While the odometry is stale the EKF fuses the last command as a weak odometry
measurement (its std :data:`COMMAND_AS_ODOM_STD` times the odometry's): the actuator
follows its commands, and a dead encoder must not let the estimate coast on at the
last measured speed while the robot brakes (the fault campaign found it 0.64 m off
after a 1.5 s silence).  Absolute updates (heading, position) move the odometry frame
the safety layer uses (:mod:`robo_orch.core.odoframe`); every step is guarded, and a
non-finite estimate is restored from its snapshot and holds a controlled stop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from robo_orch.config import Config
from robo_orch.core import estimator, odoframe
from robo_orch.core import world as W
from robo_orch.core.direct import direct, require_contiguous
from robo_orch.kinematics import Kinematics
from robo_orch.runtime.estimate_health import EstimateHealth
from robo_orch.runtime.input_checks import InputChecks
from robo_orch.runtime.measured import MeasuredInput

#: while the odometry is stale, the command stands in for it with this many times its std
COMMAND_AS_ODOM_STD = 3.0

# the estimator kernels of every tick, called past the dispatcher (robo_orch.core.direct):
# their arrays are the Estimate's own x, P, x_good, P_good, lat and the world's state
_predict = direct(estimator.ekf_predict)
_update_velocity = direct(estimator.ekf_update_velocity)
_update_yaw_rate = direct(estimator.ekf_update_yaw_rate)
_guard = direct(estimator.ekf_guard)
_write_world = direct(estimator.ekf_write_world)


class Estimate:
    """The EKF's state and covariance, their health, and the fusion of each measurement.

    ``checks`` counts what the gates accept and reject; ``newer(stamp_ns)`` is told the
    stamp of every fused message.  ``fuses``: the measurement kinds the robot's inputs
    fuse (the position-fix kernels are loaded only when it holds ``position``).
    """

    def __init__(self, config: Config, world: W.World, kin: Kinematics, checks: InputChecks,
                 newer: Callable[[int], None], fuses: frozenset[str]) -> None:
        est = config.estimator
        self.world = world
        self.checks = checks
        self._newer = newer
        self._est = (est.accel_std, est.yaw_accel_std, est.odom_speed_std,
                     est.odom_yaw_rate_std, est.imu_yaw_rate_std)
        self.imu_yaw_mode = est.imu_yaw
        self.imu_yaw_std = est.imu_yaw_std
        #: map heading minus the IMU's own heading ('relative' mode; None until aligned)
        self.imu_yaw_offset: float | None = 0.0 if est.imu_yaw == "absolute" else None
        #: the track of the (v, w) <-> wheel speed conversion of the command-as-odometry
        self.wheel_base = kin.track
        #: the base moves sideways: its lateral speed is estimated in ``lat``
        #: (robo_orch.core.lateral)
        self.lateral = kin.lateral
        # a holonomic base's lateral speed and position fixes are imported (and on an
        # empty kernel cache compiled) only for a robot that has them
        lateral = None
        if kin.lateral:
            from robo_orch.core import lateral
        self._lat = lateral
        self.lat = np.zeros(lateral.LAT_LEN if lateral else 1)
        if lateral:
            self._lat_predict = direct(lateral.lateral_predict)
            self._lat_update = direct(lateral.lateral_update)
            self._lat_write = direct(lateral.lateral_write)
        #: the position-fix kernels, when an input fuses a position
        self._fix = None
        if "position" in fuses:
            from robo_orch.core import estimator_fix

            self._fix = estimator_fix
        self.x = np.zeros(5)
        self.P = np.zeros((5, 5))
        #: the last finite estimate, restored when a step turns it non-finite
        self.x_good = np.zeros(5)
        self.P_good = np.zeros((5, 5))
        self.health = EstimateHealth(config)
        self.position_gate = est.position_gate
        self.heading_gate = est.heading_gate
        #: the pose before an absolute update (safety: robo_orch.core.odoframe)
        self.odo_before = np.zeros(3)
        s = world.state
        require_contiguous(lat=(self.lat, 1), x=(self.x, 1), P=(self.P, 2),
                           x_good=(self.x_good, 1), P_good=(self.P_good, 2), state=(s, 1))
        x0, y0, yaw0 = config.mission.start
        estimator.ekf_reset(self.x, self.P, x0, y0, yaw0)
        estimator.ekf_guard(self.x, self.P, self.x_good, self.P_good)
        estimator.ekf_write_world(self.x, s)
        if lateral:
            lateral.lateral_reset(self.lat)
            lateral.lateral_write(self.lat, s)
        else:
            s[W.VY] = 0.0
        #: the fusion of each measurement kind (robo_orch.adapter.MEASUREMENTS)
        self.fusers: dict[str, Callable[[MeasuredInput, object, float], None]] = {
            "velocity": self.fuse_velocity, "yaw_rate": self.fuse_yaw_rate,
            "position": self.fuse_fix}

    def predict(self, dt: float, t: float) -> None:
        """Move the estimate ``dt`` seconds on (then guard it)."""
        accel_std = self._est[0]
        _predict(self.x, self.P, dt, accel_std, self._est[1])
        if self.lateral:
            self._lat_predict(self.lat, self.x, self.P, dt, accel_std)
        self.guard(t)  # after every EKF step (issue 10)

    def write_pose(self) -> None:
        """Copy the estimated pose and speeds into the world (before a kernel reads them)."""
        _write_world(self.x, self.world.state)

    def write(self) -> None:
        """Copy the whole estimate into the world: pose, speeds, a lateral speed."""
        s = self.world.state
        _write_world(self.x, s)
        if self.lateral:
            self._lat_write(self.lat, s)

    def fuse_velocity(self, inp: MeasuredInput, msg, t: float) -> None:
        """A velocity ``(v, w, vy)``: the EKF's forward speed and yaw rate, then (on a base
        that moves sideways) the lateral speed."""
        self.checks.accept(inp.name, msg)
        self._newer(msg.header.stamp_ns)
        m = inp.state
        v_std = self._est[2]
        nis = _update_velocity(self.x, self.P, m[0], m[1], v_std, self._est[3])
        if self.lateral:
            self._lat_update(self.lat, m[2], v_std)
        self._fused(nis, estimator.CHI2_2DOF, inp.name, t)

    def fuse_yaw_rate(self, inp: MeasuredInput, msg, t: float) -> None:
        """A gyro rate, then the heading when the message has one (as ``imu_yaw`` says)."""
        self.checks.accept(inp.name, msg)
        self._newer(msg.header.stamp_ns)
        m = inp.state
        nis = _update_yaw_rate(self.x, self.P, m[0], self._est[4])
        self._fused(nis, estimator.CHI2_1DOF, inp.name, t)
        if m[1] != 0.0 and self.imu_yaw_mode != "off":
            self.fuse_heading(inp.name, float(m[2]), t)

    def fuse_fix(self, inp: MeasuredInput, msg, t: float) -> None:
        """A position of the robot's centre and its std, behind the position gate."""
        m = inp.state
        self.fuse_position(inp.name, msg, float(m[0]), float(m[1]), float(m[2]), t)

    def command_as_odometry(self, t: float) -> None:
        """Fuse the last command as odometry (the odometry input is stale)."""
        s, k = self.world.state, COMMAND_AS_ODOM_STD
        if self.lateral:
            self._lat.lateral_update(self.lat, s[W.CMD_VY], k * self._est[2])
        v, w = s[W.CMD_V], s[W.CMD_W]
        half = 0.5 * w * self.wheel_base
        estimator.ekf_update_odometry(self.x, self.P, v - half, v + half, self.wheel_base,
                                      k * self._est[2], k * self._est[3])
        self.guard(t)

    def _fused(self, nis: float, gate: float, role: str, t: float) -> None:
        """After a relative EKF update: feed the estimate-health check, guard the estimate."""
        health = self.health
        if health.holding:
            health.update(0.0 <= nis <= gate, role)
        if not _guard(self.x, self.P, self.x_good, self.P_good):
            health.estimate_not_finite(t)

    def guard(self, t: float) -> None:
        """After every EKF step: keep a finite snapshot, or restore it and hold."""
        if not _guard(self.x, self.P, self.x_good, self.P_good):
            self.health.estimate_not_finite(t)

    def fuse_heading(self, name: str, yaw: float, t: float) -> None:
        """An IMU's heading: aligned to the estimate first in ``relative`` mode, then fused
        behind the heading gate (gated ones are counted against input ``name``)."""
        if self.imu_yaw_offset is None:
            self.imu_yaw_offset = float(self.x[estimator.EKF_YAW]) - yaw
            return
        x, P = self.x, self.P
        z = yaw + self.imu_yaw_offset
        nis = estimator.ekf_yaw_nis(x, P, z, self.imu_yaw_std)
        if 0.0 <= nis <= self.heading_gate:
            odoframe.hold(x, self.odo_before)  # safety: an absolute update
            estimator.ekf_update_yaw(x, P, z, self.imu_yaw_std)
            self.health.heading_accepted()
            self.guard(t)
            odoframe.absorb_jump(self.odo_before, x, self.world.state)
            return
        self.checks.reject(name, "gated")
        if self.health.heading_gated(t) and self.imu_yaw_mode == "relative":
            self.imu_yaw_offset = None  # a relative heading's zero is arbitrary: re-align

    def fuse_position(self, name: str, msg, px: float, py: float, std: float, t: float
                      ) -> None:
        """Fuse a position of the robot's centre (the ``gps_fix`` adapter moved the fix
        from the antenna), behind the position gate."""
        x, P, fix = self.x, self.P, self._fix
        nis = fix.ekf_position_nis(x, P, px, py, std)
        if 0.0 <= nis <= self.position_gate:
            odoframe.hold(x, self.odo_before)  # safety: an absolute update
            fix.ekf_update_position(x, P, px, py, std)
            self.checks.accept(name, msg)
            self._newer(msg.header.stamp_ns)
            self.health.fix_accepted()
            self.guard(t)
            odoframe.absorb_jump(self.odo_before, x, self.world.state)
            return
        self.checks.reject(name, "gated")
        if self.health.fix_gated(px - float(x[estimator.EKF_X]), py - float(x[estimator.EKF_Y]),
                                 std * std, t):
            odoframe.hold(x, self.odo_before)  # safety: a relocalisation is a jump too
            fix.ekf_set_position(x, P, px, py, std * std)
            self.guard(t)
            odoframe.absorb_jump(self.odo_before, x, self.world.state)

    def warmup(self) -> None:
        """Compile (or load) the estimator's kernels on scratch copies before the first tick."""
        x, P = self.x.copy(), self.P.copy()
        estimator.ekf_predict(x, P, 0.02, 1.0, 1.0)
        estimator.ekf_update_odometry(x, P, 0.1, 0.1, self.wheel_base, 0.1, 0.1)
        estimator.ekf_update_velocity(x, P, 0.1, 0.0, 0.1, 0.1)
        estimator.ekf_update_yaw_rate(x, P, 0.0, 0.1)
        estimator.ekf_update_yaw(x, P, 0.0, 0.1)
        estimator.ekf_yaw_nis(x, P, 0.0, 0.1)
        estimator.ekf_guard(x, P, x.copy(), P.copy())
        if self._fix:
            self._fix.ekf_update_position(x, P, 0.0, 0.0, 1.0)
            self._fix.ekf_position_nis(x, P, 0.0, 0.0, 1.0)
            self._fix.ekf_set_position(x, P, 0.0, 0.0, 1.0)
        state = self.world.state.copy()
        estimator.ekf_write_world(x, state)
        odoframe.hold(x, self.odo_before.copy())  # safety: the odometry frame's kernels
        odoframe.absorb_jump(self.odo_before.copy(), x, state)
        odoframe.mark_scan(state)
