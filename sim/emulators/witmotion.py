"""Emulator of a WitMotion IMU (WT901 family) on the WIT standard serial protocol.

It sends, once per output period, an acceleration (0x51), an angular-rate
(0x52) and an angle (0x53) packet -- optionally a magnetic-field packet (0x54),
as a WT901 does by default -- built with the driver module's encoders, and it
obeys the host's register writes as the device does: the output rate (RRATE)
and baud rate (BAUD) change only within 10 s of an unlock command, and a save
command marks the settings as stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robo_orch.drivers.witmotion_protocol import (
    BAUD_CODES,
    RATE_CODES,
    RATE_NO_OUTPUT,
    REG_BAUD,
    REG_RRATE,
    REG_SAVE,
    REG_UNLOCK,
    UNLOCK_VALUE,
    UNLOCK_WINDOW_S,
    CommandParser,
    encode_acceleration,
    encode_angle,
    encode_angular_rate,
    encode_packet,
)
from robo_orch.sim.emulators.base import DeviceEmulator, Faults

_RATE_BY_CODE = {code: hz for hz, code in RATE_CODES.items()}
_BAUD_BY_CODE = {code: baud for baud, code in BAUD_CODES.items()}
_DEG = 180.0 / np.pi


class WitmotionImuEmulator(DeviceEmulator):
    """A WitMotion IMU fed with plain numbers (sensor frame, SI units).

    Attributes the tests and the simulator read: :attr:`rate_hz`, :attr:`baud`,
    :attr:`saved` (a save command arrived after the last register change),
    :attr:`ignored_commands` (writes refused while locked) and :attr:`cycles`
    (output cycles sent).
    """

    def __init__(self, rate_hz: float = 10.0, faults: Faults | None = None, seed: int = 0, *,
                 baud: int = 9600, gravity: float = 9.80665, temperature_c: float = 25.0,
                 version: int = 0x0124, magnetic: bool = False) -> None:
        super().__init__(faults, seed)
        self.rate_hz = float(rate_hz)
        self.baud = int(baud)
        self.gravity = float(gravity)
        self.temperature_c = float(temperature_c)
        self.version = int(version)
        self.magnetic = bool(magnetic)
        self.saved = False
        self.ignored_commands = 0
        self.cycles = 0
        self.commands = CommandParser()
        self._t = 0.0
        self._unlocked_at: float | None = None
        self._last_out: float | None = None

    @property
    def unlocked(self) -> bool:
        """True while register writes are accepted."""
        return self._unlocked_at is not None and self._t - self._unlocked_at <= UNLOCK_WINDOW_S

    def host_bytes(self, data: bytes) -> None:
        """Apply the host's register writes (unlock, RRATE, BAUD, SAVE)."""
        for cmd in self.commands.feed(data):
            if cmd.register == REG_UNLOCK and cmd.value == UNLOCK_VALUE:
                self._unlocked_at = self._t
                continue
            if not self.unlocked:
                self.ignored_commands += 1
                continue
            if cmd.register == REG_SAVE:
                if cmd.value == 0:
                    self.saved = True
            elif cmd.register == REG_RRATE:
                if cmd.value == RATE_NO_OUTPUT:
                    self.rate_hz = 0.0
                elif cmd.value in _RATE_BY_CODE:
                    self.rate_hz = _RATE_BY_CODE[cmd.value]
                self.saved = False
            elif cmd.register == REG_BAUD:
                self.baud = _BAUD_BY_CODE.get(cmd.value, self.baud)
                self.saved = False

    def update(self, t_s: float, gyro: Sequence[float], accel: Sequence[float], roll: float,
               pitch: float, yaw: float) -> None:
        """Advance to ``t_s`` and send one output cycle if one is due.

        ``gyro`` in rad/s, ``accel`` in m/s^2 (both in the sensor frame),
        ``roll``, ``pitch``, ``yaw`` in rad (Z-Y-X, yaw counter-clockwise positive).
        A cycle is due one period after the previous one; after a pause longer
        than a period the device sends one cycle, not a burst.
        """
        self._t = float(t_s)
        if self.rate_hz <= 0:
            return
        period = 1.0 / self.rate_hz
        last = self._last_out
        if last is not None and self._t < last - period:
            last = None  # time went back (a restarted simulation): start over
        if last is not None and self._t < last + period - 1e-9:
            return
        self._last_out = self._t if last is None or self._t >= last + 2 * period else last + period
        g = self.gravity
        self.emit(encode_acceleration(accel[0] / g, accel[1] / g, accel[2] / g,
                                      self.temperature_c))
        self.emit(encode_angular_rate(gyro[0] * _DEG, gyro[1] * _DEG, gyro[2] * _DEG,
                                      round(self.temperature_c * 100)))
        self.emit(encode_angle(roll * _DEG, pitch * _DEG, yaw * _DEG, self.version))
        if self.magnetic:
            self.emit(encode_packet(0x54, (120, -340, 410, round(self.temperature_c * 100))))
        self.cycles += 1


def sample_stream(n_frames: int, seed: int = 0) -> bytes:
    """A valid device byte stream of ``n_frames`` packets (0x51, 0x52, 0x53 cycles).

    Values are seeded random motion within the sensor's ranges, so every byte
    value occurs, 0x55 included, inside the data.
    """
    rng = np.random.default_rng(seed)
    emu = WitmotionImuEmulator(rate_hz=200.0, seed=seed)
    cycles = -(-int(n_frames) // 3)
    gyro = rng.uniform(-30.0, 30.0, (cycles, 3))
    accel = rng.uniform(-100.0, 100.0, (cycles, 3))
    angles = rng.uniform(-np.pi, np.pi, (cycles, 3))
    angles[:, 1] *= 0.5
    out = bytearray()
    for k in range(cycles):
        emu.update(k / 200.0, gyro[k], accel[k], *angles[k])
        out += emu.drain()
    return bytes(out[:int(n_frames) * 11])
