"""Motor bridge protocol: host <-> microcontroller frames for wheel motors and encoders.

The protocol is ours; ``drivers/firmware/motor_bridge/PROTOCOL.md`` is its
specification and ``bridge_protocol.c`` the firmware side.  In short:

* a frame on the wire is ``COBS(body) 0x00``; empty frames (``0x00 0x00``) are ignored;
* ``body = type u8, seq u8, payload, crc u16`` with CRC-16/CCITT-FALSE (poly 0x1021,
  init 0xFFFF, no reflection, check value 0x29B1) over ``type..payload``;
* every integer is little-endian; a receiver accepts a payload longer than the layout
  it knows (fields are only ever appended) and rejects a shorter one.

:class:`BridgeParser` turns any chunking of a byte stream into the NamedTuples
below and counts rejected frames by reason: ``length`` (over-long, too short, or a
payload shorter than its type needs), ``cobs`` (invalid COBS), ``crc`` and
``unknown_type`` (a valid frame of a type this side does not receive).
:func:`encode_message` builds the frame of any message, in either direction.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from typing import NamedTuple

from robo_orch.driver import Parser

#: protocol version reported in HELLO; a change of meaning or layout bumps it
PROTOCOL_VERSION = 1
#: longest payload a receiver must accept (room for appended fields)
MAX_PAYLOAD = 32
#: longest body: type, seq, payload, crc
MAX_BODY = MAX_PAYLOAD + 4
#: longest COBS-encoded body (one code byte per 254 data bytes)
MAX_ENCODED = MAX_BODY + 1
#: wheel speed limit the firmware clamps to, mm/s
FIRMWARE_MAX_WHEEL_MM_S = 2000
#: firmware defaults and limits (see PROTOCOL.md, CONFIG)
DEFAULT_DEADMAN_MS = 500
DEADMAN_MIN_MS = 20
DEADMAN_MAX_MS = 10000
DEFAULT_ENCODER_PERIOD_MS = 20
DEFAULT_STATUS_PERIOD_MS = 500
MIN_ENCODER_PERIOD_MS = 5
MIN_STATUS_PERIOD_MS = 10
UNDERVOLTAGE_HYSTERESIS_MV = 200

# fault flags (STATUS.faults); DEADMAN and UNDERVOLTAGE are live, the rest latched
FAULT_DEADMAN = 0x0001
FAULT_ESTOP = 0x0002
FAULT_OVERCURRENT = 0x0004
FAULT_UNDERVOLTAGE = 0x0008
FAULT_CRC_ERROR = 0x0010
FAULT_FRAMING_ERROR = 0x0020
FAULT_BAD_MESSAGE = 0x0040
FAULT_BOOT = 0x0080
#: faults that hold the motors at zero
FAULTS_STOPPING = FAULT_DEADMAN | FAULT_ESTOP | FAULT_OVERCURRENT | FAULT_UNDERVOLTAGE
#: faults that stay set until RESET_FAULTS clears them
FAULTS_LATCHED = (FAULT_ESTOP | FAULT_OVERCURRENT | FAULT_CRC_ERROR | FAULT_FRAMING_ERROR
                  | FAULT_BAD_MESSAGE | FAULT_BOOT)
#: latched faults that only report what happened (safe for the host to clear)
FAULTS_DIAGNOSTIC = FAULT_CRC_ERROR | FAULT_FRAMING_ERROR | FAULT_BAD_MESSAGE | FAULT_BOOT
FAULT_NAMES = {FAULT_DEADMAN: "deadman", FAULT_ESTOP: "estop", FAULT_OVERCURRENT: "overcurrent",
               FAULT_UNDERVOLTAGE: "undervoltage", FAULT_CRC_ERROR: "crc_error",
               FAULT_FRAMING_ERROR: "framing_error", FAULT_BAD_MESSAGE: "bad_message",
               FAULT_BOOT: "boot"}


# --- messages, host -> MCU -------------------------------------------------------------

class SetWheelVelocity(NamedTuple):
    """0x01: wheel surface speed set-points; refreshes the deadman."""

    seq: int
    left_mm_s: int  #: int16, mm/s, forward positive
    right_mm_s: int  #: int16, mm/s, forward positive


class Heartbeat(NamedTuple):
    """0x02: refreshes the deadman without changing the set-points."""

    seq: int


class Estop(NamedTuple):
    """0x03: ``engage`` != 0 latches the ESTOP fault (0 has no effect)."""

    seq: int
    engage: int  #: u8


class Config(NamedTuple):
    """0x04: deadman and report periods (out-of-range values are clamped); answered by HELLO."""

    seq: int
    deadman_ms: int  #: u16, 20..10000
    encoder_period_ms: int  #: u16, 0 = off, else >= 5
    status_period_ms: int  #: u16, 0 = off (changes still reported), else >= 10
    undervoltage_mv: int  #: u16, 0 = off


class ResetFaults(NamedTuple):
    """0x05: clear the latched faults in ``mask`` (live ones are unaffected)."""

    seq: int
    mask: int  #: u16


class RequestHello(NamedTuple):
    """0x06: ask for a HELLO."""

    seq: int


# --- messages, MCU -> host -------------------------------------------------------------

class Hello(NamedTuple):
    """0x81: version and configuration; at boot, after CONFIG and on request."""

    seq: int
    protocol_version: int  #: u8
    fw_major: int  #: u8
    fw_minor: int  #: u8
    deadman_ms: int  #: u16
    encoder_period_ms: int  #: u16
    status_period_ms: int  #: u16
    undervoltage_mv: int  #: u16
    max_wheel_mm_s: int  #: u16


class EncoderCounts(NamedTuple):
    """0x82: cumulative quadrature counts (int32, wrapping) at ``device_ms``."""

    seq: int
    device_ms: int  #: u32, ms since boot (wraps)
    left_ticks: int  #: i32, forward positive
    right_ticks: int  #: i32, forward positive


class Status(NamedTuple):
    """0x83: battery, faults, applied set-points and receive counters."""

    seq: int
    device_ms: int  #: u32
    battery_mv: int  #: u16
    faults: int  #: u16, FAULT_* flags
    applied_left_mm_s: int  #: i16, set-point the motors follow now (0 when stopped)
    applied_right_mm_s: int  #: i16
    ack_seq: int  #: u8, seq of the last valid host frame
    rx_frames: int  #: u16 (saturating), valid host frames
    rx_crc_errors: int  #: u16 (saturating)
    rx_framing_errors: int  #: u16 (saturating): bad COBS or a wrong length
    rx_bad_messages: int  #: u16 (saturating): valid frames of an unknown type


#: class -> (type id, payload layout after seq)
LAYOUTS: dict[type, tuple[int, struct.Struct]] = {
    SetWheelVelocity: (0x01, struct.Struct("<hh")),
    Heartbeat: (0x02, struct.Struct("<")),
    Estop: (0x03, struct.Struct("<B")),
    Config: (0x04, struct.Struct("<HHHH")),
    ResetFaults: (0x05, struct.Struct("<H")),
    RequestHello: (0x06, struct.Struct("<")),
    Hello: (0x81, struct.Struct("<BBBHHHHH")),
    EncoderCounts: (0x82, struct.Struct("<Iii")),
    Status: (0x83, struct.Struct("<IHHhhBHHHH")),
}
HOST_MESSAGES = (SetWheelVelocity, Heartbeat, Estop, Config, ResetFaults, RequestHello)
DEVICE_MESSAGES = (Hello, EncoderCounts, Status)
_CRC = struct.Struct("<H")


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (``crc16(b"123456789") == 0x29B1``)."""
    return crc_hqx(data, crc)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no delimiter); the result contains no zero byte."""
    out = bytearray()
    for block in bytes(data).split(b"\x00"):
        while len(block) >= 254:
            out += b"\xff" + block[:254]
            block = block[254:]
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """Decode one COBS block sequence (no delimiter); None if it is not valid COBS."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:
            return None
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(type_id: int, seq: int, payload: bytes = b"") -> bytes:
    """One wire frame: ``COBS(type seq payload crc16) 0x00``."""
    body = bytes((type_id & 0xFF, seq & 0xFF)) + payload
    return cobs_encode(body + _CRC.pack(crc_hqx(body, 0xFFFF))) + b"\x00"


def encode_message(msg: NamedTuple) -> bytes:
    """The wire frame of any message above (either direction)."""
    type_id, layout = LAYOUTS[type(msg)]
    return encode_frame(type_id, msg[0], layout.pack(*msg[1:]))


class BridgeParser(Parser):
    """Incremental parser of the frames one side sends.

    ``source="device"`` (the driver's parser) accepts :data:`DEVICE_MESSAGES`;
    ``source="host"`` (the emulator's) accepts :data:`HOST_MESSAGES`.
    """

    def __init__(self, source: str = "device") -> None:
        super().__init__()
        if source not in ("device", "host"):
            raise ValueError(f"source must be 'device' or 'host', got {source!r}")
        classes = DEVICE_MESSAGES if source == "device" else HOST_MESSAGES
        self._table = {LAYOUTS[c][0]: (c, LAYOUTS[c][1]) for c in classes}
        self._tail = b""
        self._overlong = False  # dropping an over-long frame until its delimiter

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held for the next feed (no delimiter yet)."""
        return len(self._tail)

    def _feed(self, data: bytes) -> list[NamedTuple]:
        parts = (self._tail + data).split(b"\x00") if self._tail else data.split(b"\x00")
        tail = parts.pop()
        out: list[NamedTuple] = []
        if parts and self._overlong:
            # the first part ends the over-long frame already counted
            self.skip(len(parts[0]))
            parts[0] = b""
            self._overlong = False
        table = self._table
        for enc in parts:
            n = len(enc)
            if not n:
                continue
            if n > MAX_ENCODED:
                self.reject("length")
                self.skip(n)
                continue
            body = cobs_decode(enc)
            if body is None:
                self.reject("cobs")
                continue
            size = len(body)
            if size < 4:
                self.reject("length")
                continue
            if crc_hqx(body[:-2], 0xFFFF) != body[-2] | body[-1] << 8:
                self.reject("crc")
                continue
            entry = table.get(body[0])
            if entry is None:
                self.reject("unknown_type")
                continue
            cls, layout = entry
            if size - 4 < layout.size:
                self.reject("length")
                continue
            out.append(cls(body[1], *layout.unpack_from(body, 2)))
        if self._overlong:
            self.skip(len(tail))
            tail = b""
        elif len(tail) > MAX_ENCODED:
            self.reject("length")
            self.skip(len(tail))
            self._overlong = True
            tail = b""
        self._tail = tail
        return out


def clamp_config(msg: Config) -> Config:
    """The configuration the firmware applies for ``msg`` (out-of-range values clamped)."""
    def period(value: int, low: int) -> int:
        return low if 0 < value < low else value

    return msg._replace(deadman_ms=min(max(msg.deadman_ms, DEADMAN_MIN_MS), DEADMAN_MAX_MS),
                        encoder_period_ms=period(msg.encoder_period_ms, MIN_ENCODER_PERIOD_MS),
                        status_period_ms=period(msg.status_period_ms, MIN_STATUS_PERIOD_MS))


def fault_names(faults: int) -> list[str]:
    """The names of the FAULT_* flags set in ``faults``, lowest bit first."""
    return [name for bit, name in FAULT_NAMES.items() if faults & bit]
