"""Emulator of the motor bridge microcontroller (drivers/firmware/motor_bridge).

It follows the firmware's state machine (``bridge_protocol.c``) message for message:
set-points, its own deadman, the latched e-stop, CONFIG, RESET_FAULTS, receive
counters and the same reports (HELLO at boot and on request, ENCODERS and STATUS
at the configured periods, STATUS at once when the faults change).  Time is the
caller's simulated time ``t_s`` from :meth:`MotorBridgeEmulator.wheel_command` and
:meth:`MotorBridgeEmulator.update`, never the wall clock, so a lockstep run is exact;
``device_ms`` counts from the first ``t_s`` (the emulator "boots" then).
"""

from __future__ import annotations

import math

import numpy as np

from robo_orch.drivers import motor_bridge_protocol as bp
from robo_orch.sim.emulators.base import DeviceEmulator, Faults

FW_MAJOR, FW_MINOR = 1, 0
_U32 = 0xFFFFFFFF


def _period_ms(rate_hz: float) -> int:
    return 0 if rate_hz <= 0 else max(1, round(1000.0 / rate_hz))


def _wrap_i32(value: int) -> int:
    return (value + 0x80000000 & _U32) - 0x80000000


def _sat16(value: int) -> int:
    return min(value, 0xFFFF)


class MotorBridgeEmulator(DeviceEmulator):
    """The microcontroller of the motor bridge: wheel set-points in, encoder counts out.

    ``deadman_ms``, ``encoder_rate_hz`` and ``status_rate_hz`` are the device's
    settings at boot; a CONFIG from the host replaces them, as on the firmware.
    """

    def __init__(self, ticks_per_rev: int = 1440, wheel_radius: float = 0.05,
                 encoder_rate_hz: float = 50.0, status_rate_hz: float = 2.0,
                 deadman_ms: int = 500, battery_v: float = 12.0,
                 faults: Faults | None = None, seed: int = 0) -> None:
        super().__init__(faults, seed)
        self.ticks_per_rev = int(ticks_per_rev)
        self.wheel_radius = float(wheel_radius)
        #: battery voltage reported in STATUS, V (change it to test undervoltage)
        self.battery_v = float(battery_v)
        #: parser of the host's frames; its ``bad`` counters are the device's error counts
        self.parser = bp.BridgeParser("host")
        #: the configuration in force (as the firmware clamps it)
        self.config = bp.clamp_config(bp.Config(0, int(deadman_ms), _period_ms(encoder_rate_hz),
                                          _period_ms(status_rate_hz), 0))
        #: latched fault flags
        self.latched = bp.FAULT_BOOT
        #: stored set-points, mm/s
        self.cmd_mm_s = (0, 0)
        #: seq of the last valid host frame, and how many valid host frames came
        self.ack_seq = 0
        self.rx_frames = 0
        self.has_command = False
        self.undervoltage = False
        self._refresh = False  # a command came since the last time step: stamp it then
        self._last_command_t = 0.0
        self._tx_seq = 0
        self._hello_pending = True
        self._reported = 0
        self._last_encoder_ms: int | None = None
        self._last_status_ms = 0
        self._t: float | None = None
        self._boot_t: float | None = None  # device_ms counts from the first time step
        self._pos = [0.0, 0.0]  # wheel positions in ticks (fractional)

    # --- state ---------------------------------------------------------------------------

    @property
    def fault_flags(self) -> int:
        """The fault word STATUS reports now (live and latched flags)."""
        flags = self.latched
        if not self.has_command:
            flags |= bp.FAULT_DEADMAN
        if self.undervoltage:
            flags |= bp.FAULT_UNDERVOLTAGE
        return flags

    @property
    def estopped(self) -> bool:
        """True while the e-stop is latched."""
        return bool(self.latched & bp.FAULT_ESTOP)

    @property
    def ticks(self) -> tuple[int, int]:
        """Cumulative encoder counts (int32, wrapping) as ENCODERS reports them."""
        return (_wrap_i32(math.floor(self._pos[0])), _wrap_i32(math.floor(self._pos[1])))

    def _held(self) -> bool:
        return bool(self.fault_flags & bp.FAULTS_STOPPING)

    def raise_fault(self, flags: int) -> None:
        """Latch faults the motor electronics detect (e.g. FAULT_OVERCURRENT)."""
        self.latched |= flags & bp.FAULTS_LATCHED
        if flags & bp.FAULTS_STOPPING:
            self.cmd_mm_s = (0, 0)

    # --- host -> device ------------------------------------------------------------------

    def host_bytes(self, data: bytes) -> None:
        """Apply the frames the host wrote; bad frames are counted and latch their flag."""
        start = 0
        while start < len(data):
            end = data.find(b"\x00", start)
            end = len(data) if end < 0 else end + 1
            before = (self.parser.bad["crc"], self.parser.bad["cobs"] + self.parser.bad["length"],
                      self.parser.bad["unknown_type"])
            for msg in self.parser.feed(data[start:end]):
                self._apply(msg)
            bad = self.parser.bad
            after = (bad["crc"], bad["cobs"] + bad["length"], bad["unknown_type"])
            flags = (bp.FAULT_CRC_ERROR, bp.FAULT_FRAMING_ERROR, bp.FAULT_BAD_MESSAGE)
            for flag, old, new in zip(flags, before, after, strict=True):
                if new != old:
                    self.latched |= flag
            start = end

    def _apply(self, msg: object) -> None:
        self.rx_frames += 1
        self.ack_seq = msg[0]  # type: ignore[index]
        if isinstance(msg, bp.SetWheelVelocity):
            self.has_command, self._refresh = True, True
            if self._held():
                self.cmd_mm_s = (0, 0)
            else:
                lim = bp.FIRMWARE_MAX_WHEEL_MM_S
                self.cmd_mm_s = (min(max(msg.left_mm_s, -lim), lim),
                                 min(max(msg.right_mm_s, -lim), lim))
        elif isinstance(msg, bp.Heartbeat):
            self.has_command, self._refresh = True, True
        elif isinstance(msg, bp.Estop):
            if msg.engage:
                self.raise_fault(bp.FAULT_ESTOP)
        elif isinstance(msg, bp.Config):
            self.config = bp.clamp_config(msg)
            self._hello_pending = True
        elif isinstance(msg, bp.ResetFaults):
            self.latched &= ~(msg.mask & bp.FAULTS_LATCHED)
        elif isinstance(msg, bp.RequestHello):
            self._hello_pending = True

    # --- time ------------------------------------------------------------------------------

    def _step(self, t_s: float) -> None:
        """Deadman and undervoltage checks at simulated time ``t_s`` (bridge_poll's first half)."""
        if self._boot_t is None:
            self._boot_t = t_s
        uv = self.config.undervoltage_mv
        mv = self.battery_mv
        if uv == 0:
            self.undervoltage = False
        elif not self.undervoltage and mv < uv:
            self.undervoltage = True
            self.cmd_mm_s = (0, 0)
        elif self.undervoltage and mv >= uv + bp.UNDERVOLTAGE_HYSTERESIS_MV:
            self.undervoltage = False
        if self._refresh:
            self._last_command_t = t_s
            self._refresh = False
        elif self.has_command and (t_s - self._last_command_t) * 1000.0 > self.config.deadman_ms:
            self.has_command = False
            self.cmd_mm_s = (0, 0)

    @property
    def battery_mv(self) -> int:
        """Battery voltage as reported, mV."""
        return min(max(round(self.battery_v * 1000.0), 0), 0xFFFF)

    def wheel_command(self, t_s: float) -> tuple[float, float]:
        """Wheel surface speeds (m/s) the motors run at now; zero under deadman, e-stop, faults."""
        self._step(t_s)
        if self._held():
            return (0.0, 0.0)
        return (self.cmd_mm_s[0] / 1000.0, self.cmd_mm_s[1] / 1000.0)

    def update(self, t_s: float, v_left: float, v_right: float) -> None:
        """Integrate the actual wheel speeds (m/s) up to ``t_s`` and emit the reports due."""
        if self._t is not None and t_s > self._t:
            per_m = self.ticks_per_rev / (2.0 * math.pi * self.wheel_radius)
            dt = t_s - self._t
            self._pos[0] += v_left * dt * per_m
            self._pos[1] += v_right * dt * per_m
        self._t = t_s
        self._step(t_s)
        now_ms = round((t_s - self._boot_t) * 1000.0) & _U32  # type: ignore[operator]
        if self._last_encoder_ms is None:
            self._last_encoder_ms = self._last_status_ms = now_ms
        if self._hello_pending:
            self._hello_pending = False
            c = self.config
            self._send(bp.Hello(0, bp.PROTOCOL_VERSION, FW_MAJOR, FW_MINOR, c.deadman_ms,
                             c.encoder_period_ms, c.status_period_ms, c.undervoltage_mv,
                             bp.FIRMWARE_MAX_WHEEL_MM_S), lead=b"\x00")
        faults = self.fault_flags
        if faults != self._reported:
            self._last_status_ms = now_ms  # the periodic reports continue from here
            self._send_status(now_ms, faults)
        else:
            due, self._last_status_ms = _due(now_ms, self._last_status_ms,
                                             self.config.status_period_ms)
            if due:
                self._send_status(now_ms, faults)
        enc_due, self._last_encoder_ms = _due(now_ms, self._last_encoder_ms,
                                              self.config.encoder_period_ms)
        if enc_due:
            self._send(bp.EncoderCounts(0, now_ms, *self.ticks))

    def _send_status(self, now_ms: int, faults: int) -> None:
        self._reported = faults
        left, right = (0, 0) if self._held() else self.cmd_mm_s
        bad = self.parser.bad
        self._send(bp.Status(0, now_ms, self.battery_mv, faults, left, right, self.ack_seq,
                          _sat16(self.rx_frames), _sat16(bad["crc"]),
                          _sat16(bad["cobs"] + bad["length"]), _sat16(bad["unknown_type"])))

    def _send(self, msg: object, lead: bytes = b"") -> None:
        self.emit(lead + bp.encode_message(msg._replace(seq=self._tx_seq)))  # type: ignore[attr-defined]
        self._tx_seq = (self._tx_seq + 1) & 0xFF

    def corrupt(self, frame: bytes) -> bytes:
        """The frame with one CRC bit flipped, still validly COBS-framed."""
        lead = len(frame) - len(frame.lstrip(b"\x00"))
        body = bp.cobs_decode(frame[lead:-1])
        if body is None or len(body) < 4:
            return super().corrupt(frame)
        damaged = bytearray(body)
        damaged[-1 - int(self.rng.integers(2))] ^= 1 << int(self.rng.integers(8))
        return frame[:lead] + bp.cobs_encode(bytes(damaged)) + b"\x00"


def _due(now_ms: int, last_ms: int, period_ms: int) -> tuple[bool, int]:
    """bridge_protocol.c ``due()``: (is a report due, the new reference time)."""
    elapsed = (now_ms - last_ms) & _U32
    if period_ms == 0 or elapsed < period_ms:
        return False, last_ms
    return True, ((last_ms + period_ms) & _U32 if elapsed < 2 * period_ms else now_ms)


def sample_stream(n_frames: int, seed: int = 0) -> bytes:
    """``n_frames`` valid device frames as sent at 50 Hz (ENCODERS, every 25th a STATUS)."""
    rng = np.random.default_rng(seed)
    left = right = 0
    out = bytearray()
    for i in range(n_frames):
        device_ms = 20 * i
        if i % 25 == 0:
            msg: object = bp.Status(i & 0xFF, device_ms, 12000 - i % 300, 0, 400, 380, i & 0xFF,
                                 i & 0xFFFF, 0, 0, 0)
        else:
            left = _wrap_i32(left + int(rng.integers(-40, 120)))
            right = _wrap_i32(right + int(rng.integers(-40, 120)))
            msg = bp.EncoderCounts(i & 0xFF, device_ms & _U32, left, right)
        out += bp.encode_message(msg)  # type: ignore[arg-type]
    return bytes(out)
