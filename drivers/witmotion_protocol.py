"""The WIT standard serial protocol of WitMotion IMUs (WT901, JY901 and relatives).

Device to host, every output cycle, one 11-byte packet per enabled content::

    0x55, type, d0L d0H d1L d1H d2L d2H d3L d3H, sum

four little-endian int16 values; ``sum`` is the low 8 bits of the sum of the
first 10 bytes.  Types decoded here (scales from WitMotion's WT901 datasheet):

* ``0x51`` :class:`Acceleration`: x, y, z = raw / 32768 * 16 g; temperature raw / 100 degC
* ``0x52`` :class:`AngularRate`: x, y, z = raw / 32768 * 2000 deg/s; a fourth word, the
  temperature (raw / 100) in the WT901 datasheet, another value on some models (kept raw)
* ``0x53`` :class:`Angle`: roll, pitch, yaw = raw / 32768 * 180 deg; firmware version

Every other type in 0x50..0x5F (time, magnetic field, port status, quaternion,
register read-back, ...) comes out as an :class:`OtherPacket`.  The attitude is
Euler Z-Y-X in a right-handed frame with z up (WitMotion's "north-east-sky"),
so yaw is counter-clockwise positive seen from above, as in REP 103.

Host to device: ``0xFF 0xAA register valueL valueH``.  Writes are accepted only
within 10 s of the unlock command; ``save`` makes them survive a power cycle.

Rejections, by reason: ``unknown_type`` (0x55 not followed by 0x50..0x5F),
``checksum``, and ``unconfirmed``: the sum matched but the bytes right after the
packet do not start another one.  The 8-bit sum passes one damaged packet in
256, so a packet is trusted on its sum alone only when it ends the bytes read
so far (the last packet of an output burst must not wait for the next burst).
One case is held back instead: a lost byte shifts the next packet's 0x55 into
the sum's place, so a packet whose sum byte is 0x55 waits for one more byte,
or for :meth:`WitmotionParser.flush` when the line stays quiet.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from robo_orch.driver import BufferedParser

HEADER = 0x55
PACKET_LEN = 11
TYPE_ACCEL, TYPE_GYRO, TYPE_ANGLE = 0x51, 0x52, 0x53
ACCEL_G = 16.0 / 32768.0  #: g per count
GYRO_DPS = 2000.0 / 32768.0  #: deg/s per count
ANGLE_DEG = 180.0 / 32768.0  #: deg per count

REG_SAVE, REG_RRATE, REG_BAUD, REG_UNLOCK = 0x00, 0x03, 0x04, 0x69
UNLOCK_VALUE = 0xB588  #: FF AA 69 88 B5
UNLOCK_WINDOW_S = 10.0  #: writes after this long without a new unlock are ignored
#: output rate in Hz -> RRATE code (0x0A = 125 Hz is in the HWT905 datasheet's table)
RATE_CODES = {0.2: 0x01, 0.5: 0x02, 1.0: 0x03, 2.0: 0x04, 5.0: 0x05, 10.0: 0x06, 20.0: 0x07,
              50.0: 0x08, 100.0: 0x09, 125.0: 0x0A, 200.0: 0x0B}
RATE_NO_OUTPUT = 0x0D  #: RRATE code that stops the output (0x0C: one cycle on request)
#: baud -> BAUD code (0x08, 0x09 only on models whose datasheet lists them)
BAUD_CODES = {4800: 0x01, 9600: 0x02, 19200: 0x03, 38400: 0x04, 57600: 0x05, 115200: 0x06,
              230400: 0x07, 460800: 0x08, 921600: 0x09}

_WORDS = struct.Struct("<hhhh")
_COMMAND = struct.Struct("<BBBH")


class Acceleration(NamedTuple):
    """0x51: acceleration in the sensor frame, g, and the chip temperature."""

    x: float
    y: float
    z: float
    temperature: float  #: degC


class AngularRate(NamedTuple):
    """0x52: angular rate in the sensor frame, deg/s."""

    x: float
    y: float
    z: float
    aux: int  #: fourth word, raw: temperature * 100 on the WT901, model-dependent elsewhere


class Angle(NamedTuple):
    """0x53: attitude as Euler Z-Y-X angles, deg."""

    roll: float
    pitch: float
    yaw: float
    version: int  #: firmware version word


class OtherPacket(NamedTuple):
    """A valid packet of a type this module does not decode (time, magnetic field, ...)."""

    type: int
    data: bytes  #: the 8 data bytes


class Command(NamedTuple):
    """One host-to-device register write."""

    register: int
    value: int  #: uint16


# --- encoders ---------------------------------------------------------------------------

def _i16(value: float) -> int:
    return max(-32768, min(32767, round(value)))


def encode_packet(ptype: int, words: tuple[int, int, int, int]) -> bytes:
    """One device packet from its type and four int16 words, with its checksum."""
    body = bytes((HEADER, ptype)) + _WORDS.pack(*(_i16(w) for w in words))
    return body + bytes((sum(body) & 0xFF,))


def encode_acceleration(x_g: float, y_g: float, z_g: float, temperature_c: float = 25.0) -> bytes:
    """A 0x51 packet (values saturate at +-16 g, as the device's do)."""
    return encode_packet(TYPE_ACCEL, (x_g / ACCEL_G, y_g / ACCEL_G, z_g / ACCEL_G,
                                      temperature_c * 100.0))


def encode_angular_rate(x_dps: float, y_dps: float, z_dps: float, aux: int = 2500) -> bytes:
    """A 0x52 packet (values saturate at +-2000 deg/s)."""
    return encode_packet(TYPE_GYRO, (x_dps / GYRO_DPS, y_dps / GYRO_DPS, z_dps / GYRO_DPS, aux))


def _wrap_count(deg: float) -> int:
    raw = round((deg + 180.0) % 360.0 / ANGLE_DEG) - 32768
    return -32768 if raw >= 32768 else raw  # +180 deg is -180 deg


def encode_angle(roll_deg: float, pitch_deg: float, yaw_deg: float, version: int = 0) -> bytes:
    """A 0x53 packet; angles are wrapped into [-180, 180)."""
    version &= 0xFFFF
    return encode_packet(TYPE_ANGLE, (_wrap_count(roll_deg), _wrap_count(pitch_deg),
                                      _wrap_count(yaw_deg), version - ((version & 0x8000) << 1)))


def encode_frame(frame: Frame) -> bytes:
    """The packet a decoded frame came from (decoding is exact, so this round-trips)."""
    kind = type(frame)
    if kind is Acceleration:
        return encode_acceleration(*frame)
    if kind is AngularRate:
        return encode_angular_rate(*frame)
    if kind is Angle:
        return encode_angle(*frame)
    body = bytes((HEADER, frame.type)) + frame.data
    return body + bytes((sum(body) & 0xFF,))


def encode_command(register: int, value: int) -> bytes:
    """The host's register write ``FF AA register valueL valueH``."""
    return _COMMAND.pack(0xFF, 0xAA, register & 0xFF, value & 0xFFFF)


def unlock_command() -> bytes:
    """Unlock the configuration registers for 10 s."""
    return encode_command(REG_UNLOCK, UNLOCK_VALUE)


def save_command() -> bytes:
    """Make the current configuration survive a power cycle."""
    return encode_command(REG_SAVE, 0x0000)


def rate_command(rate_hz: float) -> bytes:
    """Set the output rate; ``rate_hz`` must be a key of :data:`RATE_CODES`."""
    return encode_command(REG_RRATE, RATE_CODES[float(rate_hz)])


def baud_command(baud: int) -> bytes:
    """Set the device's baud rate; ``baud`` must be a key of :data:`BAUD_CODES`."""
    return encode_command(REG_BAUD, BAUD_CODES[int(baud)])


# --- parsers ----------------------------------------------------------------------------

Frame = Acceleration | AngularRate | Angle | OtherPacket


def _decode(ptype: int, buf: bytearray, at: int) -> Frame:
    a, b, c, d = _WORDS.unpack_from(buf, at + 2)
    if ptype == TYPE_ACCEL:
        return Acceleration(a * ACCEL_G, b * ACCEL_G, c * ACCEL_G, d / 100.0)
    if ptype == TYPE_GYRO:
        return AngularRate(a * GYRO_DPS, b * GYRO_DPS, c * GYRO_DPS, d)
    if ptype == TYPE_ANGLE:
        return Angle(a * ANGLE_DEG, b * ANGLE_DEG, c * ANGLE_DEG, d & 0xFFFF)
    return OtherPacket(ptype, bytes(buf[at + 2:at + 10]))


class WitmotionParser(BufferedParser):
    """Device-to-host packets from any chunking of the stream (see the module docstring)."""

    def _parse(self, buf: bytearray, out: list) -> int:
        n = len(buf)
        i = 0
        while True:
            j = self.seek(buf, i, HEADER)
            if j < 0:
                i = n
                break
            i = j
            if n - j < 2:
                break
            ptype = buf[j + 1]
            if ptype & 0xF0 != 0x50:
                reason = "unknown_type"
            elif n - j < PACKET_LEN:
                break
            elif sum(buf[j:j + 10]) & 0xFF != buf[j + 10]:
                reason = "checksum"
            elif n - j == PACKET_LEN and buf[j + 10] == HEADER:
                break  # maybe a packet that lost a byte: decide on the next byte
            elif n - j > PACKET_LEN and (buf[j + 11] != HEADER or
                                         (n - j > 12 and buf[j + 12] & 0xF0 != 0x50)):
                reason = "unconfirmed"
            else:
                out.append(_decode(ptype, buf, j))
                i = j + PACKET_LEN
                continue
            # not a packet: drop this 0x55 only, a real one may start inside
            self.bad[reason] += 1
            self.skipped_bytes += 1
            i = j + 1
        return i

    def flush(self) -> list:
        """The line went quiet: accept a packet held back for want of a next byte."""
        buf = self._buf
        if (len(buf) != PACKET_LEN or buf[0] != HEADER or buf[1] & 0xF0 != 0x50
                or sum(buf[:10]) & 0xFF != buf[10]):
            return []
        frame = _decode(buf[1], buf, 0)
        buf.clear()
        self.frames += 1
        return [frame]


class CommandParser(BufferedParser):
    """Host-to-device register writes (``FF AA reg lo hi``), for emulators and tests."""

    def _parse(self, buf: bytearray, out: list) -> int:
        i = 0
        while True:
            j = buf.find(b"\xff\xaa", i)
            if j < 0:
                keep = len(buf) - 1 if buf.endswith(b"\xff") else len(buf)
                keep = max(keep, i)
                self.skip(keep - i)
                i = keep
                break
            self.skip(j - i)
            if len(buf) - j < 5:
                i = j
                break
            _, _, register, value = _COMMAND.unpack_from(buf, j)
            out.append(Command(register, value))
            i = j + 5
        return i
