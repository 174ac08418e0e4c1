"""Motor bridge driver: velocity commands to a microcontroller, wheel odometry back.

The protocol (COBS frames with CRC-16) is in :mod:`robo_orch.drivers.motor_bridge_protocol`
and ``drivers/firmware/motor_bridge/PROTOCOL.md``; the reference firmware is in
``drivers/firmware/motor_bridge/``.

The driver repeats the safety essentials on the actuator side: it clamps wheel
speeds to ``max_wheel_speed`` (scaling both wheels, so the turn radius is kept),
commands zero when no ``velocity_command`` arrived within ``deadman_s``, latches
the e-stop until an ``estop`` message with ``engage = 0``, and commands zero on
shutdown.  Its latch is the ``estop`` field of every ``motor_status`` it
publishes: on each device STATUS, and at once after it handles e-stop messages,
so the loop can confirm an e-stop to the operator.  The firmware has its own
deadman (``device_deadman_ms``) for when this process or the link dies.  None of
this replaces a hardware e-stop.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

from robo_orch.bus import Bus
from robo_orch.clock import Clock
from robo_orch.driver import Driver, DriverSpec, Port
from robo_orch.drivers.motor_bridge_protocol import (
    FAULT_BOOT,
    FAULT_ESTOP,
    FAULTS_DIAGNOSTIC,
    PROTOCOL_VERSION,
    BridgeParser,
    Config,
    EncoderCounts,
    Estop,
    Hello,
    ResetFaults,
    SetWheelVelocity,
    Status,
    clamp_config,
    encode_message,
)
from robo_orch.planar import wheel_speeds
from robo_orch.schema import option

_U32 = 0xFFFFFFFF
#: device-clock gap (ms) above which consecutive ENCODERS are not differenced (reboot, stall)
MAX_ENCODER_GAP_MS = 5000
#: the driver re-sends CONFIG at most this often while the device reports BOOT, ns
SETUP_RETRY_NS = 500_000_000


@dataclasses.dataclass(frozen=True)
class MotorBridgeParams:
    """Options of the motor bridge driver (``[drivers.NAME]`` keys besides the shared ones)."""

    command_topic: str = option("cmd/velocity", doc="velocity_command input (v m/s, w rad/s)")
    estop_topic: str = option("cmd/estop", doc="estop input; engage=1 latches, engage=0 resets")
    odom_topic: str = option("sensor/odom", doc="wheel_odometry output (wheel speeds, m/s)")
    status_topic: str = option("sensor/motor", doc="motor_status output (ticks, battery, faults, "
                                                       "e-stop latch)")
    wheel_base: float = option(0.34, gt=0, doc="distance between the wheels' contact points, m")
    wheel_radius: float = option(0.05, gt=0, doc="wheel radius, m")
    ticks_per_rev: int = option(1440, gt=0, doc="encoder counts per wheel revolution, as the "
                                                "firmware counts them")
    max_wheel_speed: float = option(1.0, gt=0, le=32.767, doc="wheel speed limit, m/s (the "
                                    "firmware clamps again to its own limit, 2 m/s by default)")
    deadman_s: float = option(0.25, gt=0, le=60,
                              doc="no velocity command for this long: command zero")
    device_deadman_ms: int = option(500, ge=20, le=10000, doc="the firmware's own deadman, ms, "
                                    "sent in CONFIG")
    command_rate_hz: float = option(50.0, gt=0, le=500, doc="rate of re-sending the current "
                                    "command (it doubles as the heartbeat)")
    encoder_rate_hz: float = option(50.0, gt=0, le=200, doc="ENCODERS report rate asked of "
                                    "the device")
    status_rate_hz: float = option(2.0, gt=0, le=100, doc="periodic STATUS rate asked of the "
                                   "device (fault changes are reported at once)")
    undervoltage_v: float = option(0.0, ge=0, le=65, doc="battery voltage below which the "
                                   "firmware stops the motors; 0 disables the check")


def _mm_s(speed: float) -> int:
    return max(-32767, min(32767, round(speed * 1000.0)))


def _wrap_i32(value: int) -> int:
    return (value + 0x80000000 & _U32) - 0x80000000


class MotorBridgeDriver(Driver):
    """Differential-drive motor controller and wheel encoders behind the motor bridge."""

    kind = "motor_bridge"
    Params = MotorBridgeParams
    default_baud = 115200
    actuator = True

    def __init__(self, name: str, spec: DriverSpec, params: MotorBridgeParams, bus: Bus,
                 clock: Clock) -> None:
        super().__init__(name, spec, params, bus, clock)
        p = params
        self.parser = BridgeParser("device")
        self._cmd_sub = self.input(p.command_topic, "velocity_command")
        self._estop_sub = self.input(p.estop_topic, "estop", qos="queue:16")
        self._period_ns = int(1e9 / p.command_rate_hz)
        self._deadman_ns = int(p.deadman_s * 1e9)
        #: the CONFIG this driver wants, as the firmware will clamp it
        self.config = clamp_config(Config(0, p.device_deadman_ms,
                                          max(1, round(1000.0 / p.encoder_rate_hz)),
                                          max(1, round(1000.0 / p.status_rate_hz)),
                                          round(p.undervoltage_v * 1000.0)))
        self._tx_seq = 0
        self._target = (0.0, 0.0)  # wheel speeds of the latest command, m/s
        self._cmd_ns: int | None = None
        self._fresh = False
        self._unsent = False
        self._last_send_ns: int | None = None
        self._last_setup_ns: int | None = None
        self._need_setup = False
        #: host-side e-stop latch
        self.estopped = False
        self._await_reset = False  # a STATUS from before our reset may still show ESTOP
        self._reset_seq = 0
        self._rx_seq: int | None = None
        self._prev: EncoderCounts | None = None
        self._ticks = [0, 0]  # cumulative counts, unwrapped
        #: last HELLO and STATUS from the device (None until one arrives)
        self.device: Hello | None = None
        self.device_status: Status | None = None
        self.info = {"protocol_version": PROTOCOL_VERSION}

    # --- writing -------------------------------------------------------------------------

    def _send(self, port: Port, msg: NamedTuple) -> None:
        port.write(encode_message(msg._replace(seq=self._tx_seq)))
        self._tx_seq = (self._tx_seq + 1) & 0xFF

    def _setup(self, port: Port, now_ns: int | None) -> None:
        self._send(port, self.config)
        self._send(port, ResetFaults(0, FAULTS_DIAGNOSTIC))
        self._need_setup = False
        self._last_setup_ns = now_ns
        self.stats["config_sent"] += 1

    def _send_wheels(self, port: Port, left: float, right: float) -> None:
        self._send(port, SetWheelVelocity(0, _mm_s(left), _mm_s(right)))
        self.stats["commands_sent"] += 1

    @classmethod
    def output_topics(cls, params: MotorBridgeParams) -> dict[str, str]:
        """Wheel odometry and the motor status."""
        return {params.odom_topic: "wheel_odometry", params.status_topic: "motor_status"}

    @classmethod
    def estop_status_topic(cls, params: MotorBridgeParams) -> str:
        """motor_status carries this driver's e-stop latch (see :class:`Driver`)."""
        return params.status_topic

    def start(self, port: Port) -> None:
        """End any partial frame in the device, configure it, command zero."""
        p: MotorBridgeParams = self.params
        self.output(p.odom_topic, "wheel_odometry")  # bind now: subscribers connect early
        self.output(p.status_topic, "motor_status")
        port.write(b"\x00")
        self._setup(port, None)
        self._send_wheels(port, 0.0, 0.0)
        port.flush()

    def service(self, port: Port, now_ns: int) -> None:
        """Take commands and e-stops, run the host deadman, send the command when due."""
        p: MotorBridgeParams = self.params
        urgent = False
        if self._estop_sub.poll() or self._estop_sub.pending:
            for msg in self._estop_sub.take():
                urgent |= self._on_estop(port, bool(msg.fixed["engage"]))
            self._publish_status(now_ns)  # the loop waits for this to confirm an e-stop
        if self._cmd_sub.poll() or self._cmd_sub.pending:
            msg = self._cmd_sub.latest()
            if msg is not None:
                left, right, limited = wheel_speeds(float(msg.fixed["v"]), float(msg.fixed["w"]),
                                                    p.wheel_base, p.max_wheel_speed)
                self.stats["clamped"] += limited
                self._target = (left, right)
                self._cmd_ns = now_ns
                self._unsent = True
        fresh = self._cmd_ns is not None and now_ns - self._cmd_ns <= self._deadman_ns
        if self._fresh and not fresh:
            self.stats["deadman_stops"] += 1
        self._fresh = fresh
        if self._need_setup and (self._last_setup_ns is None
                                 or now_ns - self._last_setup_ns >= SETUP_RETRY_NS):
            self._setup(port, now_ns)
        since = None if self._last_send_ns is None else now_ns - self._last_send_ns
        due = (urgent or since is None or since >= self._period_ns
               or (self._unsent and since >= self._period_ns // 4))
        if not due:
            return
        if self.estopped:
            self._send(port, Estop(0, 1))
        left, right = self._target if fresh and not self.estopped else (0.0, 0.0)
        self._send_wheels(port, left, right)
        self._unsent = False
        self._last_send_ns = now_ns

    def _on_estop(self, port: Port, engage: bool) -> bool:
        """Apply one estop message; True if something must be sent at once."""
        if engage and not self.estopped:
            self.estopped = True
            self.stats["estops"] += 1
            return True
        if not engage and self.estopped:
            self.estopped = False
            self._await_reset = True
            self._cmd_ns = None  # motion resumes only with a command sent after the reset
            self._fresh = False
            self._reset_seq = self._tx_seq
            self._send(port, ResetFaults(0, FAULT_ESTOP))
            self.stats["estop_resets"] += 1
            return True
        return False

    def stop(self, port: Port) -> None:
        """Command zero (twice: one frame may be lost) and flush."""
        self._send_wheels(port, 0.0, 0.0)
        self._send_wheels(port, 0.0, 0.0)
        port.flush()

    # --- reading -------------------------------------------------------------------------

    def handle_bytes(self, data: bytes, stamp_ns: int) -> None:
        """Parse device frames; publish odometry on ENCODERS and motor_status on STATUS."""
        for frame in self.parser.feed(data):
            if isinstance(frame, Hello):
                self._on_hello(frame)
            else:
                if self._rx_seq is not None:
                    self.stats["seq_gaps"] += (frame.seq - self._rx_seq - 1) & 0xFF
                if isinstance(frame, EncoderCounts):
                    self._on_encoders(frame, stamp_ns)
                else:
                    self._on_status(frame, stamp_ns)
            self._rx_seq = frame.seq

    def _on_hello(self, hello: Hello) -> None:
        self.device = hello
        self.info = {"protocol_version": hello.protocol_version,
                     "firmware": f"{hello.fw_major}.{hello.fw_minor}"}
        if hello.protocol_version != PROTOCOL_VERSION:
            self.stats["version_mismatch"] += 1
        c = self.config
        if (hello.deadman_ms, hello.encoder_period_ms, hello.status_period_ms,
                hello.undervoltage_mv) != c[1:]:
            self._need_setup = True  # rebooted, or our CONFIG was lost

    def _on_encoders(self, enc: EncoderCounts, stamp_ns: int) -> None:
        prev, self._prev = self._prev, enc
        if prev is None:
            self._ticks = [enc.left_ticks, enc.right_ticks]
            return
        dt_ms = (enc.device_ms - prev.device_ms) & _U32
        if dt_ms == 0 or dt_ms > MAX_ENCODER_GAP_MS:
            self.stats["encoder_resyncs"] += 1
            return
        d_left = _wrap_i32(enc.left_ticks - prev.left_ticks)
        d_right = _wrap_i32(enc.right_ticks - prev.right_ticks)
        self._ticks[0] += d_left
        self._ticks[1] += d_right
        p: MotorBridgeParams = self.params
        scale = 2.0 * math.pi * p.wheel_radius / p.ticks_per_rev / (dt_ms * 1e-3)
        self.output(p.odom_topic, "wheel_odometry").publish(
            self.record("wheel_odometry", v_left=d_left * scale, v_right=d_right * scale),
            stamp_ns=stamp_ns)
        self.stats["published"] += 1

    def _on_status(self, status: Status, stamp_ns: int) -> None:
        self.device_status = status
        if status.faults & FAULT_BOOT:
            self._need_setup = True
        if self._await_reset and (status.ack_seq - self._reset_seq) & 0xFF < 128:
            self._await_reset = False  # the device has seen our reset
        if status.faults & FAULT_ESTOP and not self.estopped and not self._await_reset:
            # latched in the device (before a restart of this driver, by its own e-stop
            # input, or our reset was lost): mirror it, so only an explicit reset releases it
            self.estopped = True
            self.stats["device_estops"] += 1
        self._publish_status(stamp_ns)

    def _publish_status(self, stamp_ns: int) -> None:
        """motor_status from the last device STATUS (zeros before one) and the host latch."""
        status = self.device_status
        p: MotorBridgeParams = self.params
        self.output(p.status_topic, "motor_status").publish(
            self.record("motor_status", left_ticks=self._ticks[0], right_ticks=self._ticks[1],
                        battery_v=0.0 if status is None else status.battery_mv * 1e-3,
                        faults=0 if status is None else status.faults,
                        device_ms=0 if status is None else status.device_ms,
                        estop=int(self.estopped)),
            stamp_ns=stamp_ns)
        self.stats["published"] += 1
