"""The simulator on the bus: same topics and message types as the real drivers.

:class:`SimNode` owns a :class:`~robo_orch.sim.simulator.Simulator` and one bus.  Each
``step`` it applies the newest velocity command and any e-stop requests (the
actuator side: limits, latched e-stop and deadman live in the simulator), advances
the physics and publishes the sensor messages that fell due, stamped with the
simulator's time, plus ground truth.  Both backends use it unchanged.

Two optional hooks let a fault campaign (``robo-orch faults``) lose or delay the
node's messages where a real link would: :attr:`SimNode.sensor_gate` is asked
before each sensor message is published, :attr:`SimNode.command_gate` before a
received command is applied.  Unset (the default) they cost one attribute test.
"""

from __future__ import annotations

import numpy as np

from robo_orch.bus import Bus, QoS
from robo_orch.config import Config
from robo_orch.errors import BackendError
from robo_orch.messages import message_type, new_fixed, new_var
from robo_orch.sim.robot import YAW, X, Y
from robo_orch.sim.simulator import IMU, ODOM, SCAN, Simulator
from robo_orch.sim.status import SIM_STATUS, STATUS_TOPIC, fill_input_counters


class SimNode:
    """Publishes a simulator's sensors and applies the commands it receives."""

    #: bit set of every sensor the simulator produces
    ALL_SENSORS = ODOM | IMU | SCAN

    def __init__(self, config: Config, sim: Simulator, bus: Bus, devices=None) -> None:
        self.sim = sim
        self.bus = bus
        #: emulated serial devices (``--devices serial``) or None
        self.devices = devices
        covered = devices.covers if devices is not None else set()
        self._due_mask = (0 if "odom" in covered else ODOM) | (0 if "imu" in covered else IMU) \
            | (0 if "scan" in covered else SCAN)
        #: commands come from the motor bridge emulator, not the bus
        self._bus_commands = "odom" not in covered
        inputs, topics, hwm = config.inputs, config.topics, config.bus.hwm
        kin = sim.kinematics
        #: the base commands and reports a lateral speed (holonomic)
        self._lateral = kin.lateral
        self._odom_t = message_type(kin.odometry_type)
        self._imu_t = message_type("imu")
        self._scan_t = message_type("laser_scan")
        self._pose_t = message_type("pose2d")
        # a topic a driver publishes is left to it (both would bind the same endpoint)
        self.odom_pub = None if "odom" in covered else bus.publisher(
            inputs["odom"].topic, self._odom_t, frame_id="base_link", hwm=hwm)
        self.imu_pub = None if "imu" in covered else bus.publisher(
            inputs["imu"].topic, self._imu_t, frame_id="imu", hwm=hwm)
        self.scan_pub = None if "scan" in covered else bus.publisher(
            inputs["scan"].topic, self._scan_t, frame_id="laser", hwm=hwm)
        self.truth_pub = bus.publisher(topics.truth, self._pose_t, frame_id="odom", hwm=hwm)
        self.status_pub = bus.publisher(STATUS_TOPIC, SIM_STATUS, hwm=hwm)
        #: a simulated device per ``joints`` command space (joint_command -> joint_state)
        self.joints: list = []
        if config.joint_spaces:  # (imported only then: the import compiles their model)
            from robo_orch.sim.joints_node import joints_nodes

            self.joints = joints_nodes(config, bus, sim.seed)
        #: the sensor publishers by input role (a gate may publish held messages later)
        self.publishers = {role: pub for role, pub in (("odom", self.odom_pub),
                                                       ("imu", self.imu_pub),
                                                       ("scan", self.scan_pub)) if pub}
        #: ``gate(role, fixed, var, now_ns) -> bool``: False withholds that sensor message
        #: (lost, or kept by the gate to publish itself); None publishes everything
        self.sensor_gate = None
        #: ``gate(now_ns) -> bool``: False discards the newest received command (lost on
        #: the way: the actuator keeps the last one it got); None applies every command
        self.command_gate = None
        cmd_fields = ("vx", "vy", "w") if self._lateral else ("v", "w")
        if message_type(kin.command_type).dtype.names != cmd_fields:
            raise BackendError(f"message layout changed: expected {kin.command_type} "
                               f"{cmd_fields}")
        self.cmd_sub = bus.subscribe(topics.command, message_type(kin.command_type),
                                     QoS.latest(), hwm=hwm)
        self.estop_sub = bus.subscribe(topics.estop, message_type("estop"), QoS.queue(64),
                                       hwm=hwm)
        self._odom = new_fixed(self._odom_t)
        self._imu = new_fixed(self._imu_t)
        self._scan = new_fixed(self._scan_t)
        self._scan_pts = new_var(self._scan_t, len(sim.scan_angles))
        self._scan_pts["angle"] = sim.scan_angles
        self._scan["range_min"] = sim.lidar_range_min
        self._scan["range_max"] = sim.lidar_range_max
        self._pose = new_fixed(self._pose_t)
        # every field of these is float64: filling a plain float view of the message
        # costs a fraction of assigning structured fields by name (on every step)
        self._odom_f = _float_view(self._odom, ("vx", "vy", "w") if self._lateral
                                   else ("v_left", "v_right"))
        imu_f = _float_view(self._imu, ("gyro", "gyro", "gyro", "accel", "accel", "accel"))
        self._imu_gyro, self._imu_accel = imu_f[0:3], imu_f[3:6]
        self._pose_f = _float_view(self._pose, ("x", "y", "yaw", "v", "w"))
        self._status = new_fixed(SIM_STATUS)
        self._latency = np.zeros(4096, dtype=np.int64)
        self._n_latency = 0
        self._status_count = 0

    def receive(self, now_ns: int) -> None:
        """Apply e-stop requests and the newest command."""
        sim = self.sim
        if self.devices is not None:
            self.devices.receive()
            if not self._bus_commands:
                return
        if self.estop_sub.poll():
            for msg in self.estop_sub.take():
                sim.set_estop(bool(msg.fixed["engage"]))
        if self.cmd_sub.poll():
            msg = self.cmd_sub.latest()
            gate = self.command_gate
            if msg is not None and (gate is None or gate(now_ns)):
                if self._lateral:
                    vx, vy, w = msg.fixed.item()  # (vx, vy, w) as floats
                    sim.set_body_command(vx, vy, w, sim.t)
                else:
                    v, w = msg.fixed.item()  # (v, w) as floats (checked in __init__)
                    sim.set_command(v, w, sim.t)
                # a command carries the stamp of the newest sensor data it was computed
                # from: its age on arrival is the sensor-to-actuator latency
                self._latency[self._n_latency % len(self._latency)] = msg.recv_ns - \
                    msg.header.stamp_ns
                self._n_latency += 1

    def step(self, dt_s: float, now_ns: int) -> None:
        """Receive, advance the physics by ``dt_s`` and publish what fell due."""
        self.receive(now_ns)
        self.publish(self.sim.step(dt_s), now_ns)
        for joints in self.joints:
            joints.step(dt_s, now_ns, estop=self.sim.estop)

    def publish(self, due: int, now_ns: int) -> None:
        """Publish the sensors in the ``due`` bit set, then truth and status."""
        sim = self.sim
        if self.devices is not None:
            self.devices.publish(due)
            due &= self._due_mask
        gate = self.sensor_gate
        if due & ODOM:
            odom, out = sim.odom, self._odom_f  # v_left, v_right
            out[0] = odom[0]
            out[1] = odom[1]
            if self._lateral:
                out[2] = odom[2]
            if gate is None or gate("odom", self._odom, None, now_ns):
                self.odom_pub.publish(self._odom, stamp_ns=now_ns)
        if due & IMU:
            np.copyto(self._imu_gyro, sim.imu_gyro)
            np.copyto(self._imu_accel, sim.imu_accel)
            if gate is None or gate("imu", self._imu, None, now_ns):
                self.imu_pub.publish(self._imu, stamp_ns=now_ns)
        if due & SCAN:
            pts = self._scan_pts
            pts["range"] = sim.scan_ranges
            var = pts[: sim.scan_count]
            if gate is None or gate("scan", self._scan, var, now_ns):
                self.scan_pub.publish(self._scan, var, stamp_ns=now_ns)
        state, p = sim.state, self._pose_f  # x, y, yaw, v, w
        p[0] = state[X]
        p[1] = state[Y]
        p[2] = state[YAW]
        p[3] = sim.v
        p[4] = sim.w
        self.truth_pub.publish(self._pose, stamp_ns=now_ns)

    def publish_status(self, now_ns: int) -> None:
        """Publish the run's ground-truth counters (collisions, clearance, distance)."""
        s, sim = self._status, self.sim
        s["t"] = sim.t
        s["distance"] = sim.distance
        s["min_clearance"] = sim.min_clearance
        s["collisions"] = sim.collisions
        s["deadman_stops"] = sim.deadman_stops
        s["x"], s["y"], s["yaw"] = sim.pose
        if self._status_count % 25 == 0:  # percentiles sort: not on every step
            p50, p99, worst = self.latency_us()
            s["latency_p50_us"], s["latency_p99_us"], s["latency_max_us"] = p50, p99, worst
        fill_input_counters(s, self.input_counters())
        self._status_count += 1
        self.status_pub.publish(s, stamp_ns=now_ns)

    def input_counters(self) -> dict[str, dict[str, int]]:
        """Bus counters of the command and e-stop subscriptions, JSON-ready."""
        out = {}
        for role, sub in (("command", self.cmd_sub), ("estop", self.estop_sub)):
            c = sub.counters
            out[role] = {"received": c.received, "malformed": c.malformed,
                         "dropped": c.dropped, "disconnects": c.disconnects}
        return out

    def latency_us(self) -> tuple[float, float, float]:
        """Sensor-to-actuator latency of the last 4096 commands: p50, p99, max (us)."""
        n = min(self._n_latency, len(self._latency))
        if n == 0:
            return (np.nan, np.nan, np.nan)
        data = self._latency[:n] / 1e3
        p50, p99 = np.percentile(data, [50, 99])
        return float(p50), float(p99), float(data.max())

    def prime(self, now_ns: int) -> None:
        """Publish every sensor once at start, so the loop has data on its first tick."""
        self.publish(self.ALL_SENSORS, now_ns)
        for joints in self.joints:
            joints.publish(now_ns)


def _float_view(msg: np.ndarray, leading: tuple[str, ...]) -> np.ndarray:
    """``msg`` as float64 values, checking its first values belong to ``leading`` fields."""
    names = []
    for name in msg.dtype.names:
        field = msg.dtype.fields[name][0]
        if field.base != np.dtype("<f8"):
            break
        names += [name] * max(1, field.shape[0] if field.shape else 1)
    if tuple(names[: len(leading)]) != leading:
        raise BackendError(f"message layout changed: expected float64 fields {leading}")
    return msg.view(np.float64)
