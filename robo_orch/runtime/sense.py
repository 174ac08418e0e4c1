"""The sense phase: drain subscriptions into the world arrays and estimate state.

Every input runs through an input adapter (:mod:`robo_orch.adapter`).  The
estimator's inputs (:mod:`robo_orch.runtime.measured`: ``odom``, ``imu``, ``gps`` and
any other input whose adapter ``fuses``) hand the EKF a measurement: the base's
velocity (built in: ``wheel_speeds``, ``body_velocity``), a yaw rate and heading
(``imu_gyro``), a position of the robot's centre (``gps_fix``); the ``scan`` input
becomes odom-frame points and a fresh distance field (``laser_points``).  Every
message is checked (:mod:`robo_orch.runtime.input_checks`), and so is every
measurement, whichever adapter made it; fixes and headings are gated against the
EKF, and the EKF is guarded after every step
(:mod:`robo_orch.runtime.estimate_health`).  Inputs whose newest *accepted* message is
older than their ``max_age_s`` (or that never had one) raise the world's STALE
flag, which the safety layer turns into a controlled stop; so does a hold of the
estimate.  It clears by itself when data is fresh (and agrees) again.

An input with an input adapter that hands the estimator nothing (``[inputs.NAME]
adapter = "KIND"``) has each message copied into its preallocated ``fixed`` and
``var`` arrays, checked (finite values, stamps), and handed to the adapter's kernel,
which writes its declared world names; this runs after the estimate and the scan of
the tick are written, in config order.

A scan with fewer returns than ``perception.min_scan_returns`` (default 1) is
rejected (``no_returns``): a lidar that goes on publishing but sees nothing (a
failed laser, a covered window) is treated as a silent one, not as empty space.

While the odometry is stale the EKF fuses the last command as a weak odometry
measurement (its std :data:`COMMAND_AS_ODOM_STD` times the odometry's): the
actuator follows its commands, and a dead encoder must not let the estimate coast
on at the last measured speed while the robot brakes (the fault campaign found it
0.64 m off after a 1.5 s silence).
"""

from __future__ import annotations

import numpy as np

from robo_orch import registry
from robo_orch.adapter import MessageBuffers
from robo_orch.bus import Bus, QoS
from robo_orch.config import INPUT_ROLES, Config
from robo_orch.config.inputs import BUILTIN_ADAPTERS
from robo_orch.core import estimator, field, lateral, mission, odoframe
from robo_orch.core import world as W
from robo_orch.core.direct import direct, require_contiguous
from robo_orch.kinematics import kinematics_for
from robo_orch.messages import message_type
from robo_orch.runtime.adapt import AdapterInputs
from robo_orch.runtime.estimate_health import EstimateHealth
from robo_orch.runtime.input_checks import InputChecks, adapter_reasons
from robo_orch.runtime.measured import MeasuredInput, measured_inputs

#: while the odometry is stale, the command stands in for it with this many times its std
COMMAND_AS_ODOM_STD = 3.0
_NO_IDX = np.zeros(0, dtype=np.int64)  # the index array of an adapter without user names

# the estimator kernels of every tick, called past the dispatcher (robo_orch.core.direct):
# their arrays are Sensing's own x, P, x_good, P_good and the world's state
_predict = direct(estimator.ekf_predict)
_update_velocity = direct(estimator.ekf_update_velocity)
_update_yaw_rate = direct(estimator.ekf_update_yaw_rate)
_guard = direct(estimator.ekf_guard)
_write_world = direct(estimator.ekf_write_world)
_lat_predict = direct(lateral.lateral_predict)  # a holonomic base's lateral speed
_lat_update = direct(lateral.lateral_update)
_lat_write = direct(lateral.lateral_write)
_update_mission = direct(mission.update_mission)  # the world's state and path
_nearest = direct(field.nearest_distance)  # the world's scan


class Sensing:
    """Owns the input subscriptions and the estimator; fills a :class:`World`."""

    def __init__(self, config: Config, bus: Bus, world: W.World) -> None:
        self.config = config
        self.world = world
        self.subs = {}
        self.max_age_ns = {}
        self.required = []
        kin = kinematics_for(config.robot)
        adapters = {spec.input: spec for spec in config.adapters}
        for role, inp in config.inputs.items():
            if role in adapters:
                mtype = message_type(adapters[role].cls.message)
            elif role in INPUT_ROLES:
                mtype = message_type(kin.odometry_type if role == "odom" else INPUT_ROLES[role])
            else:  # pragma: no cover (load_config builds the adapters with the behaviors)
                raise ValueError(f"inputs.{role} has an adapter, but the config was loaded "
                                 "without behaviors (its adapter was not loaded)")
            qos = QoS.parse(inp.qos)
            self.subs[role] = bus.subscribe(
                inp.topic, mtype, qos, hwm=config.bus.hwm, max_bytes=inp.max_bytes or None,
                max_per_poll=max(config.bus.max_per_poll, qos.depth))
            self.max_age_ns[role] = int(inp.max_age_s * 1e9)
            if inp.required:
                self.required.append(role)
        est = config.estimator
        self._est = (est.accel_std, est.yaw_accel_std, est.odom_speed_std,
                     est.odom_yaw_rate_std, est.imu_yaw_rate_std)
        self.gps_antenna = (float(est.gps_antenna[0]), float(est.gps_antenna[1]))
        self.imu_yaw_mode = est.imu_yaw
        self.imu_yaw_std = est.imu_yaw_std
        #: map heading minus the IMU's own heading ('relative' mode; None until aligned)
        self.imu_yaw_offset: float | None = 0.0 if est.imu_yaw == "absolute" else None
        #: the base's kinematics; its track turns wheel odometry into a yaw rate
        self.kinematics = kin
        self.wheel_base = kin.track
        #: the base moves sideways: its lateral speed is estimated in ``lat``
        #: (robo_orch.core.lateral) and its odometry is ``body_odometry``
        self.lateral = kin.lateral
        self.lat = np.zeros(lateral.LAT_LEN)
        self.x = np.zeros(5)
        self.P = np.zeros((5, 5))
        #: the last finite estimate, restored when a step turns it non-finite
        self.x_good = np.zeros(5)
        self.P_good = np.zeros((5, 5))
        #: the estimator's inputs (robo_orch.runtime.measured), in fusing order
        self.measured = measured_inputs(config, list(self.subs), kin)
        reasons = {m.name: adapter_reasons(m.cls) for m in self.measured}
        reasons.update((spec.input, adapter_reasons(spec.cls)) for spec in config.adapters
                       if not spec.cls.fuses)
        self.checks = InputChecks(config, list(self.subs), bus.clock.clock_id, reasons)
        self._odom_age_ns = self.max_age_ns.get("odom")
        self.health = EstimateHealth(config)
        self.position_gate = est.position_gate
        self.heading_gate = est.heading_gate
        #: the pose before an absolute update (safety: robo_orch.core.odoframe)
        self.odo_before = np.zeros(3)
        #: the ``scan`` input's adapter (robo_orch.adapters.laser_points): (buffers,
        #: kernel, params, state); its state holds the converted points and the field's
        #: scratch, its buffers the rays (angles in ``var[0]``, ranges in ``var[1]``)
        n = world.scan.shape[0]
        cls = registry.load(registry.ADAPTERS, BUILTIN_ADAPTERS["scan"])
        ny, nx = world.field.shape
        scan_params = cls.Params(min_returns=config.perception.min_scan_returns,
                                 max_points=n, field_ny=ny, field_nx=nx)
        self._scan = (MessageBuffers(message_type(cls.message), n), cls.kernel,
                      cls.pack_params(scan_params), cls.new_state(scan_params))
        self.angles = self._scan[0].var[0]
        self.ranges = self._scan[0].var[1]
        self.min_scan_returns = config.perception.min_scan_returns
        self.range_min = 0.0
        self.range_max = np.inf
        self.last_input_ns = {role: None for role in self.subs}
        #: stamp of the newest input message accepted so far (0 before any), ns
        self.input_stamp_ns = 0
        #: when a recorder sets it to a list, sense() appends ``(role, header)`` of every
        #: input message it consumes (so a re-run can feed each tick exactly those)
        self.consumed: list | None = None
        self._prev_ns: int | None = None
        #: the inputs with an adapter (robo_orch.runtime.adapt)
        self.adapters = AdapterInputs(config)
        fusers = {"velocity": self._fuse_velocity, "yaw_rate": self._fuse_yaw_rate,
                  "position": self._fuse_fix}
        self._measured = [(inp, fusers[inp.fuses]) for inp in self.measured]
        self._has_adapters = bool(self.adapters.inputs)
        s = world.state
        require_contiguous(lat=(self.lat, 1), x=(self.x, 1), P=(self.P, 2), x_good=(self.x_good, 1),
                           P_good=(self.P_good, 2), state=(s, 1), path=(world.path, 2),
                           scan=(world.scan, 2))
        s[W.ROBOT_RADIUS] = config.robot.radius
        s[W.BASE_KIND] = kin.base_kind
        s[W.GOAL_TOLERANCE] = config.mission.goal_tolerance
        s[W.DT] = 1.0 / config.loop.rate_hz
        world.set_path(np.array(config.mission.waypoints, dtype=np.float64))
        x0, y0, yaw0 = config.mission.start
        estimator.ekf_reset(self.x, self.P, x0, y0, yaw0)
        estimator.ekf_guard(self.x, self.P, self.x_good, self.P_good)
        estimator.ekf_write_world(self.x, s)
        lateral.lateral_reset(self.lat)
        lateral.lateral_write(self.lat, s)

    def sense(self, now_ns: int, t0_ns: int) -> None:
        """Bring the world up to date for the tick at ``now_ns`` (loop start ``t0_ns``)."""
        s = self.world.state
        t = s[W.T] = (now_ns - t0_ns) * 1e-9
        accel_std, yaw_accel_std, v_std, w_std, gyro_std = self._est
        x, P, checks = self.x, self.P, self.checks
        dt = 0.0 if self._prev_ns is None else (now_ns - self._prev_ns) * 1e-9
        self._prev_ns = now_ns
        if dt > 0:
            _predict(x, P, dt, accel_std, yaw_accel_std)
            if self.lateral:
                _lat_predict(self.lat, x, P, dt, accel_std)
            self._guard(t)  # after every EKF step (issue 10)
        world = self.world.arrays
        for inp, fuse in self._measured:
            for msg in self._drain(inp.name, note=inp.noted):
                if inp.reads_world:  # it sees the estimate fused so far
                    _write_world(x, s)
                if inp.take(msg, world, checks):
                    fuse(inp, msg, t)
            if inp.name == "odom" and checks.stale("odom", now_ns, self._odom_age_ns):
                self._command_as_odometry(t)
        _write_world(x, s)
        if self.lateral:
            _lat_write(self.lat, s)
        scan = self.subs["scan"]
        scan.poll()
        if scan.pending:
            msg = scan.latest()
            if msg is not None:
                if self.consumed is not None:
                    self.consumed.append(("scan", msg.header))
                f = msg.fixed
                if checks.scan(float(f["range_min"]), float(f["range_max"]), msg):
                    buf, kernel, params, state = self._scan
                    count = buf.load(f, msg.var)
                    status = kernel(self.world.arrays, _NO_IDX, buf.fixed, buf.var, count,
                                    params, state)
                    if status > 0.0:
                        checks.accept("scan", msg)
                        self._newer(msg.header.stamp_ns)
                        self.health.scan_taken()
                    else:  # sees nothing: not obstacle data
                        checks.reject("scan", "no_returns")
        if self._has_adapters:
            # not noted in ``consumed``: a tick record lists the built-in inputs only, so a
            # re-run from a recording does not replay an adapter input's messages exactly
            self.adapters.run(self.world.arrays, self._drain_unnoted, checks, self._newer)
        _update_mission(s, self.world.path)
        if s[W.SCAN_COUNT] > 0:
            s[W.NEAREST] = _nearest(self.world.scan, int(s[W.SCAN_COUNT]), s[W.X], s[W.Y])
        self._update_staleness(now_ns, t)

    def _drain_unnoted(self, role: str) -> list:
        return self._drain(role, note=False)

    def _fuse_velocity(self, inp: MeasuredInput, msg, t: float) -> None:
        """A velocity ``(v, w, vy)``: the EKF's forward speed and yaw rate, then (on a base
        that moves sideways) the lateral speed."""
        self.checks.accept(inp.name, msg)
        self._newer(msg.header.stamp_ns)
        m = inp.state
        v_std = self._est[2]
        nis = _update_velocity(self.x, self.P, m[0], m[1], v_std, self._est[3])
        if self.lateral:
            _lat_update(self.lat, m[2], v_std)
        self._fused(nis, estimator.CHI2_2DOF, inp.name, t)

    def _fuse_yaw_rate(self, inp: MeasuredInput, msg, t: float) -> None:
        """A gyro rate, then the heading when the message has one (as ``imu_yaw`` says)."""
        self.checks.accept(inp.name, msg)
        self._newer(msg.header.stamp_ns)
        m = inp.state
        nis = _update_yaw_rate(self.x, self.P, m[0], self._est[4])
        self._fused(nis, estimator.CHI2_1DOF, inp.name, t)
        if m[1] != 0.0 and self.imu_yaw_mode != "off":
            self._fuse_heading(inp.name, float(m[2]), t)

    def _fuse_fix(self, inp: MeasuredInput, msg, t: float) -> None:
        """A position of the robot's centre and its std, behind the position gate."""
        m = inp.state
        self._fuse_position(inp.name, msg, float(m[0]), float(m[1]), float(m[2]), t)

    def _command_as_odometry(self, t: float) -> None:
        """Fuse the last command as odometry (the odometry input is stale)."""
        s, k = self.world.state, COMMAND_AS_ODOM_STD
        if self.lateral:
            lateral.lateral_update(self.lat, s[W.CMD_VY], k * self._est[2])
        v, w = s[W.CMD_V], s[W.CMD_W]
        half = 0.5 * w * self.wheel_base
        estimator.ekf_update_odometry(self.x, self.P, v - half, v + half, self.wheel_base,
                                      k * self._est[2], k * self._est[3])
        self._guard(t)

    def _drain(self, role: str, note: bool = True) -> list:
        """The buffered messages of input ``role``, oldest first, each noted in ``consumed``
        (unless ``note`` is False).

        Polls first, then takes whatever is buffered: a loop trigger may have buffered
        a message already, so poll's count of new arrivals can be 0.
        """
        sub = self.subs.get(role)
        if sub is None:
            return []
        sub.poll()
        if not sub.pending:
            return []
        msgs = sub.take()
        if note and self.consumed is not None:
            self.consumed.extend((role, msg.header) for msg in msgs)
        return msgs

    def _fused(self, nis: float, gate: float, role: str, t: float) -> None:
        """After a relative EKF update: feed the estimate-health check, guard the estimate."""
        health = self.health
        if health.holding:
            health.update(0.0 <= nis <= gate, role)
        if not _guard(self.x, self.P, self.x_good, self.P_good):
            health.estimate_not_finite(t)

    def _guard(self, t: float) -> None:
        """After every EKF step: keep a finite snapshot, or restore it and hold."""
        if not _guard(self.x, self.P, self.x_good, self.P_good):
            self.health.estimate_not_finite(t)

    def _fuse_heading(self, name: str, yaw: float, t: float) -> None:
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
            self._guard(t)
            odoframe.absorb_jump(self.odo_before, x, self.world.state)
            return
        self.checks.reject(name, "gated")
        if self.health.heading_gated(t) and self.imu_yaw_mode == "relative":
            self.imu_yaw_offset = None  # a relative heading's zero is arbitrary: re-align

    def _fuse_position(self, name: str, msg, px: float, py: float, std: float, t: float
                       ) -> None:
        """Fuse a position of the robot's centre (the ``gps_fix`` adapter moved the fix
        from the antenna), behind the position gate."""
        x, P = self.x, self.P
        nis = estimator.ekf_position_nis(x, P, px, py, std)
        if 0.0 <= nis <= self.position_gate:
            odoframe.hold(x, self.odo_before)  # safety: an absolute update
            estimator.ekf_update_position(x, P, px, py, std)
            self.checks.accept(name, msg)
            self._newer(msg.header.stamp_ns)
            self.health.fix_accepted()
            self._guard(t)
            odoframe.absorb_jump(self.odo_before, x, self.world.state)
            return
        self.checks.reject(name, "gated")
        if self.health.fix_gated(px - float(x[estimator.EKF_X]), py - float(x[estimator.EKF_Y]),
                                 std * std, t):
            odoframe.hold(x, self.odo_before)  # safety: a relocalisation is a jump too
            estimator.ekf_set_position(x, P, px, py, std * std)
            self._guard(t)
            odoframe.absorb_jump(self.odo_before, x, self.world.state)

    def _newer(self, stamp_ns: int) -> None:
        if stamp_ns > self.input_stamp_ns:
            self.input_stamp_ns = stamp_ns

    def warmup(self) -> None:
        """Compile (or load) the sense kernels on scratch copies before the first tick."""
        x, P = self.x.copy(), self.P.copy()
        estimator.ekf_predict(x, P, 0.02, 1.0, 1.0)
        estimator.ekf_update_odometry(x, P, 0.1, 0.1, self.wheel_base, 0.1, 0.1)
        estimator.ekf_update_velocity(x, P, 0.1, 0.0, 0.1, 0.1)
        estimator.ekf_update_yaw_rate(x, P, 0.0, 0.1)
        estimator.ekf_update_yaw(x, P, 0.0, 0.1)
        estimator.ekf_update_position(x, P, 0.0, 0.0, 1.0)
        estimator.ekf_position_nis(x, P, 0.0, 0.0, 1.0)
        estimator.ekf_yaw_nis(x, P, 0.0, 0.1)
        estimator.ekf_guard(x, P, x.copy(), P.copy())
        estimator.ekf_set_position(x, P, 0.0, 0.0, 1.0)
        estimator.ekf_write_world(x, self.world.state.copy())
        mission.update_mission(self.world.state.copy(), self.world.path)
        state = self.world.state.copy()  # safety: the odometry frame's kernels
        odoframe.hold(x, self.odo_before.copy())
        odoframe.absorb_jump(self.odo_before.copy(), x, state)
        odoframe.mark_scan(state)

    def _update_staleness(self, now_ns: int, t: float) -> None:
        checks, max_age = self.checks, self.max_age_ns
        stale = False
        for role in self.required:
            if checks.stale(role, now_ns, max_age[role]):
                stale = True
        hold = self.health.check_release(t) if self.health.holding else False
        s = self.world.state
        s[W.EST_HOLD] = 1.0 if hold else 0.0
        s[W.STALE] = 1.0 if stale or hold else 0.0

    def wait_for_inputs(self, timeout_s: float) -> list[str]:
        """Block until every required input has delivered a message, or the time-out.

        Returns the roles still missing.  Used before the first real-time tick, so
        the loop does not start with a stop for data that is merely on its way.
        """
        missing = [r for r in self.required if self.subs[r].counters.received == 0]
        step = 0.05
        waited = 0.0
        while missing and waited < timeout_s:
            for role in missing:
                self.subs[role].wait(step / len(missing))
            waited += step
            missing = [r for r in self.required if self.subs[r].counters.received == 0]
        return missing

    def counters(self) -> dict[str, dict]:
        """Per-input bus counters, JSON-ready."""
        out = {role: self.subs[role].counters.as_dict() for role in self.subs}
        out["scan"]["points_dropped"] = self._scan[0].rows_dropped
        for name, dropped in self.adapters.rows_dropped().items():
            out[name]["rows_dropped"] = dropped
        return out

    def input_rejects(self) -> dict[str, dict]:
        """Per input: messages ``accepted`` and ``rejected`` by reason, JSON-ready."""
        return self.checks.as_dict()

    def estimate_health(self) -> dict:
        """Non-finite recoveries, relocalisations, their events and the hold, JSON-ready."""
        return self.health.as_dict()
