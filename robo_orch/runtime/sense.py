"""The sense phase: drain subscriptions into the world arrays and estimate state.

Every input runs through an input adapter (:mod:`robo_orch.adapter`).  The
estimator's inputs (:mod:`robo_orch.runtime.measured`: ``odom``, ``imu``, ``gps`` and
any other input whose adapter ``fuses``) hand the EKF a measurement: the base's
velocity (built in: ``wheel_speeds``, ``body_velocity``), a yaw rate and heading
(``imu_gyro``), a position of the robot's centre (``gps_fix``); the ``scan`` input
becomes odom-frame points and a fresh distance field (``laser_points``).  Every
message is checked (:mod:`robo_orch.runtime.input_checks`), and so is every
measurement, whichever adapter made it, and fused by the estimate
(:mod:`robo_orch.runtime.estimate`: gates, command-as-odometry while the odometry
is stale, the estimate's health).  Inputs whose newest *accepted* message is
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
"""

from __future__ import annotations

import numpy as np

from robo_orch import registry
from robo_orch.adapter import MessageBuffers
from robo_orch.bus import Bus, QoS
from robo_orch.config import INPUT_ROLES, Config
from robo_orch.config.inputs import BUILTIN_ADAPTERS
from robo_orch.core import field, mission
from robo_orch.core import world as W
from robo_orch.core.direct import direct, require_contiguous
from robo_orch.kinematics import kinematics_for
from robo_orch.messages import message_type
from robo_orch.runtime.adapt import AdapterInputs
from robo_orch.runtime.estimate import Estimate
from robo_orch.runtime.input_checks import InputChecks, adapter_reasons
from robo_orch.runtime.measured import measured_inputs

_NO_IDX = np.zeros(0, dtype=np.int64)  # the index array of an adapter without user names
_update_mission = direct(mission.update_mission)  # the world's state and path
_nearest = direct(field.nearest_distance)  # the world's scan


class Sensing:
    """Owns the input subscriptions, their checks and the estimate; fills a :class:`World`."""

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
        #: the base's kinematics
        self.kinematics = kin
        #: the estimator's inputs (robo_orch.runtime.measured), in fusing order
        self.measured = measured_inputs(config, list(self.subs), kin)
        reasons = {m.name: adapter_reasons(m.cls) for m in self.measured}
        reasons.update((spec.input, adapter_reasons(spec.cls)) for spec in config.adapters
                       if not spec.cls.fuses)
        self.checks = InputChecks(config, list(self.subs), bus.clock.clock_id, reasons)
        self._odom_age_ns = self.max_age_ns.get("odom")
        #: stamp of the newest input message accepted so far (0 before any), ns
        self.input_stamp_ns = 0
        #: the EKF and how each measurement is fused (robo_orch.runtime.estimate)
        self.estimate = Estimate(config, world, kin, self.checks, self._newer,
                                 frozenset(m.fuses for m in self.measured))
        self.x, self.P = self.estimate.x, self.estimate.P  # the same arrays
        self.health = self.estimate.health
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
        #: when a recorder sets it to a list, sense() appends ``(role, header)`` of every
        #: input message it consumes (so a re-run can feed each tick exactly those)
        self.consumed: list | None = None
        self._prev_ns: int | None = None
        #: the inputs with an adapter (robo_orch.runtime.adapt)
        self.adapters = AdapterInputs(config)
        fusers = self.estimate.fusers
        self._measured = [(inp, fusers[inp.fuses]) for inp in self.measured]
        self._has_adapters = bool(self.adapters.inputs)
        s = world.state
        require_contiguous(state=(s, 1), path=(world.path, 2), scan=(world.scan, 2))
        s[W.ROBOT_RADIUS] = config.robot.radius
        s[W.BASE_KIND] = kin.base_kind
        s[W.GOAL_TOLERANCE] = config.mission.goal_tolerance
        s[W.DT] = 1.0 / config.loop.rate_hz
        world.set_path(np.array(config.mission.waypoints, dtype=np.float64))

    def sense(self, now_ns: int, t0_ns: int) -> None:
        """Bring the world up to date for the tick at ``now_ns`` (loop start ``t0_ns``)."""
        s = self.world.state
        t = s[W.T] = (now_ns - t0_ns) * 1e-9
        checks, estimate = self.checks, self.estimate
        dt = 0.0 if self._prev_ns is None else (now_ns - self._prev_ns) * 1e-9
        self._prev_ns = now_ns
        if dt > 0:
            estimate.predict(dt, t)
        world = self.world.arrays
        for inp, fuse in self._measured:
            for msg in self._drain(inp.name, note=inp.noted):
                if inp.reads_world:  # it sees the estimate fused so far
                    estimate.write_pose()
                if inp.take(msg, world, checks):
                    fuse(inp, msg, t)
            if inp.name == "odom" and checks.stale("odom", now_ns, self._odom_age_ns):
                estimate.command_as_odometry(t)
        estimate.write()
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

    def _newer(self, stamp_ns: int) -> None:
        if stamp_ns > self.input_stamp_ns:
            self.input_stamp_ns = stamp_ns

    def warmup(self) -> None:
        """Compile (or load) the sense kernels on scratch copies before the first tick."""
        self.estimate.warmup()
        mission.update_mission(self.world.state.copy(), self.world.path)

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
