"""The battery monitor's line protocol: ``$BAT,<volts>,<amps>,<charge>*<XX>\\r\\n``.

``XX`` is the XOR of the bytes between ``$`` and ``*`` in upper-case hex (as in NMEA).
A line is at most :data:`MAX_LINE` bytes; values must be finite and in range
(0-100 V, -500-500 A, charge 0-1).  The parser skips bytes until a ``$``, counts
every rejected line by reason (``checksum``, ``format``, ``range``, ``too_long``)
and resyncs at the next ``$``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from robo_orch.driver import BufferedParser

MAX_LINE = 48


class BatteryReading(NamedTuple):
    """One decoded line."""

    voltage: float
    current: float
    charge: float


def _xor(body: bytes) -> int:
    value = 0
    for b in body:
        value ^= b
    return value


def encode_line(voltage: float, current: float, charge: float) -> bytes:
    """The device's line for one reading."""
    body = f"BAT,{voltage:.3f},{current:.3f},{charge:.4f}".encode("ascii")
    return b"$" + body + f"*{_xor(body):02X}\r\n".encode("ascii")


def _value(text: bytes, lo: float, hi: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and lo <= value <= hi else None


class BatteryParser(BufferedParser):
    """Incremental parser of the battery monitor's lines."""

    def _parse(self, buf: bytearray, out: list) -> int:
        pos = 0
        end = len(buf)
        while pos < end:
            start = self.seek(buf, pos, ord("$"))
            if start < 0:
                return end  # (seek counted the skipped bytes)
            stop = buf.find(b"\n", start, start + MAX_LINE)
            if stop < 0:
                if end - start >= MAX_LINE:
                    self.reject("too_long")
                    self.skip(1)
                    pos = start + 1
                    continue
                return start  # an unfinished line: wait for more bytes
            nxt = buf.find(b"$", start + 1, stop)
            if nxt >= 0:  # a line cut short by the start of the next
                self.reject("format")
                self.skip(nxt - start)
                pos = nxt
                continue
            self._line(bytes(buf[start + 1:stop]).rstrip(b"\r"), out)
            pos = stop + 1
        return pos

    def _line(self, line: bytes, out: list) -> None:
        body, star, check = line.rpartition(b"*")
        if not star or len(check) != 2:
            self.reject("format")
            return
        try:
            if int(check, 16) != _xor(body):
                self.reject("checksum")
                return
        except ValueError:
            self.reject("format")
            return
        fields = body.split(b",")
        if len(fields) != 4 or fields[0] != b"BAT":
            self.reject("format")
            return
        values = (_value(fields[1], 0.0, 100.0), _value(fields[2], -500.0, 500.0),
                  _value(fields[3], 0.0, 1.0))
        if None in values:
            self.reject("range")
            return
        out.append(BatteryReading(*values))
