"""WitMotion IMU driver: WIT standard protocol packets to ``imu`` messages.

The protocol (packets, scales, commands, parser) is in
:mod:`robo_orch.drivers.witmotion_protocol`.  The driver sets the output rate and baud rate
at start-up if configured, and publishes one message per angle packet in the
robot frame (see :class:`WitmotionImuDriver`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from robo_orch import schema
from robo_orch.driver import Driver, DriverSpec, Port
from robo_orch.drivers.witmotion_protocol import (
    BAUD_CODES,
    PACKET_LEN,
    RATE_CODES,
    Acceleration,
    Angle,
    AngularRate,
    WitmotionParser,
    baud_command,
    rate_command,
    save_command,
    unlock_command,
)
from robo_orch.messages import IMU

#: no byte for this long ends an output burst (bytes of a burst are back to back)
QUIET_NS = 20_000_000


@dataclasses.dataclass(frozen=True)
class WitmotionParams:
    """Options of a WitMotion IMU (``[drivers.NAME]`` keys besides the common ones)."""

    topic: str = schema.option("sensor/imu", doc="topic of the imu messages")
    output_rate_hz: float = schema.option(
        0.0, choices=(0.0, *RATE_CODES),
        doc="set the device's output rate at start-up, Hz; 0 leaves the device's setting "
            "(factory default 10 Hz)")
    set_baud: int = schema.option(
        0, choices=(0, *BAUD_CODES),
        doc="switch the device (and the port) to this baud rate at start-up and save it; "
            "0 leaves it. The port's 'baud' must be the device's current rate")
    gravity: float = schema.option(9.80665, gt=0, doc="m/s^2 per g for the accelerometer")
    command_gap_s: float = schema.option(0.05, ge=0, le=1,
                                         doc="pause between set-up commands, s")


def euler_zyx_quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, ...]:
    """Quaternion ``(x, y, z, w)`` of ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``, angles in rad."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


class WitmotionImuDriver(Driver):
    """A WitMotion IMU: one ``imu`` message per angle packet, in the robot frame.

    ``gyro`` (rad/s) and ``accel`` (m/s^2) are the latest 0x52 and 0x51 values
    rotated by the mount yaw (``spec.mount[2]``: the sensor's x axis, seen from
    the robot); ``orientation`` is the robot's attitude as a unit quaternion
    ``[x, y, z, w]`` (ROS order; w >= 0), i.e. the sensor's Z-Y-X attitude
    composed with the inverse mount rotation, so a level robot reports
    yaw = sensor yaw - mount yaw.  Nothing is published until both an
    acceleration and an angular-rate packet have arrived; an angle packet whose
    cycle lacked one of them reuses the older value and counts ``stats["stale"]``.
    """

    kind = "witmotion_imu"
    Params = WitmotionParams
    default_baud = 9600

    @classmethod
    def output_topics(cls, params: WitmotionParams) -> dict[str, str]:
        """The imu messages."""
        return {params.topic: "imu"}

    def __init__(self, name: str, spec: DriverSpec, params: WitmotionParams, bus, clock) -> None:
        super().__init__(name, spec, params, bus, clock)
        self.parser = WitmotionParser()
        mount = float(spec.mount[2])
        c, s = math.cos(mount), math.sin(mount)
        self._rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        self._mount_half = (math.cos(mount / 2), math.sin(mount / 2))
        self._gyro = np.zeros(3)
        self._accel = np.zeros(3)
        self._seen = 0  # bit 1: accel ever, bit 2: gyro ever
        self._fresh = 0  # same bits, since the last angle packet
        self._last_rx_ns: int | None = None
        self._silent = False
        self._rec = np.zeros((), IMU.dtype)

    def start(self, port: Port) -> None:
        """Bind the topic, then set the baud rate and output rate if configured."""
        self.output(self.params.topic, IMU)
        self._last_rx_ns = self.clock.now_ns()
        p = self.params
        if p.set_baud:
            self._send(port, unlock_command(), baud_command(p.set_baud), save_command())
            port.baudrate = int(p.set_baud)  # type: ignore[attr-defined]
            port.reset_input_buffer()  # bytes read at the old rate are noise
            self.stats["baud_switched"] += 1
        # after the switch: if the device already ran at set_baud (saved by an earlier
        # run), the commands above were lost but these still arrive
        if p.output_rate_hz:
            self._send(port, unlock_command(), rate_command(p.output_rate_hz), save_command())

    def _send(self, port: Port, *commands: bytes) -> None:
        gap_ns = int(self.params.command_gap_s * 1e9)
        for command in commands:
            port.write(command)
            port.flush()
            self.stats["commands"] += 1
            if gap_ns:
                self.clock.sleep_until_ns(self.clock.now_ns() + gap_ns)

    def handle_bytes(self, data: bytes, stamp_ns: int) -> None:
        """Parse ``data`` and publish one imu message per angle packet."""
        self._last_rx_ns = stamp_ns
        self._silent = False
        self._handle(self.parser.feed(data), stamp_ns)

    def _handle(self, frames: list, stamp_ns: int) -> None:
        g = self.params.gravity
        for frame in frames:
            kind = type(frame)
            if kind is Acceleration:
                self._accel[:] = (frame.x * g, frame.y * g, frame.z * g)
                self._seen |= 1
                self._fresh |= 1
            elif kind is AngularRate:
                k = math.pi / 180.0
                self._gyro[:] = (frame.x * k, frame.y * k, frame.z * k)
                self._seen |= 2
                self._fresh |= 2
            elif kind is Angle:
                self._publish(frame, stamp_ns)
            else:
                self.stats["ignored"] += 1

    def _publish(self, angle: Angle, stamp_ns: int) -> None:
        if self._seen != 3:
            self.stats["incomplete"] += 1
            return
        if self._fresh != 3:
            self.stats["stale"] += 1
        self._fresh = 0
        k = math.pi / 180.0
        qx, qy, qz, qw = euler_zyx_quaternion(angle.roll * k, angle.pitch * k, angle.yaw * k)
        c, s = self._mount_half  # q_robot = q_sensor * (rotation about z by -mount)
        x, y, z, w = qx * c - qy * s, qy * c + qx * s, qz * c - qw * s, qw * c + qz * s
        if w < 0:
            x, y, z, w = -x, -y, -z, -w
        rec = self._rec  # publish() encodes at once, so one record is reused
        rec["gyro"] = self._rot @ self._gyro
        rec["accel"] = self._rot @ self._accel
        rec["orientation"] = (x, y, z, w)
        self.output(self.params.topic, IMU).publish(rec, stamp_ns=stamp_ns)
        self.stats["published"] += 1

    def service(self, port: Port, now_ns: int) -> None:
        """Release a held-back packet once the line is quiet; count timeouts (once per silence)."""
        last = self._last_rx_ns
        if (last is not None and self.parser.pending == PACKET_LEN
                and now_ns - last >= QUIET_NS):
            self._handle(self.parser.flush(), last)
        if last is not None and not self._silent and now_ns - last > self.spec.timeout_s * 1e9:
            self._silent = True
            self.stats["timeouts"] += 1
