"""NMEA 0183 protocol: sentence framing, checksums, GGA/RMC/VTG decoding (the encoders
are in :mod:`robo_orch.drivers.nmea_encode`).

A sentence is ``$<talker><type>,<field>,...*HH\\r\\n``: ``HH`` is the XOR of every
byte between ``$`` and ``*`` in hexadecimal (either case accepted on input, upper
case emitted).  NMEA 0183 caps a sentence at 82 characters including ``$`` and
the CR LF, but RTK and high-precision receivers (u-blox ZED-F9P, Trimble,
SkyTraq, Quectel RTK, MTK modules writing ``0000,0000`` for the correction age
and station) send 83 to 94, so, like gpsd, the parser accepts up to
:data:`MAX_SENTENCE` (130).  :class:`NmeaParser` turns any chunking of a byte stream into
:class:`Gga`, :class:`Rmc` and :class:`Vtg` frames.  Valid sentences of other
types (GSA, GSV, TXT, proprietary ``$P...``) and other talkers are counted in
:attr:`NmeaParser.ignored`, not as errors.  Rejections are counted by reason:

* ``length``: no line end within 130 characters of the ``$``;
* ``truncated``: a new ``$`` arrived before the line ended (bytes were lost);
* ``missing_checksum``: the line has no ``*HH``;
* ``checksum``: the ``*HH`` is malformed or does not match;
* ``format``: the checksum matched but a field could not be decoded;
* ``range``: a field decoded to a value no receiver sends (see below).

Fields are checked strictly (``ddmm.mmmm``, ``hhmmss.ss``, digits only, as many
fields as the sentence has in NMEA 4.11 and one trailing empty one at most,
latitude and longitude with the same number of decimals), because an 8-bit XOR
misses damage whose bytes XOR to zero (two equal bytes lost or received twice)
that a strict field check still catches.  Empty fields decode as NaN (numbers)
or 0 (counts).  Every field is range-checked, and a value out of range rejects
the sentence: time of day, latitude within 90 and longitude within 180 degrees
(minutes at most 60), GGA quality 0 to 8, satellites 0 to 99, HDOP 0 to 100,
altitude -1,000 to 100,000 m, geoid separation within 200 m, correction age 0
to 86,400 s, station 0 to 1023, speed 0 to 1,000 knots (1,852 km/h), courses 0
to 360 degrees, day and month, status ``A``/``V`` (empty: not valid), mode
indicators ``A D E F M N P R S``.  One exception keeps a real receiver's
position: a magnetic variation above 180 degrees (receivers write ``999.9``
for "unknown") decodes as NaN.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections import Counter
from typing import NamedTuple

from robo_orch.driver import BufferedParser

#: longest sentence accepted, '$' to LF inclusive (NMEA 0183 says 82; gpsd accepts 130)
MAX_SENTENCE = 130
#: talker ids decoded; other talkers' sentences are counted as ignored
TALKERS = frozenset({"GP", "GN", "GL", "GA", "GB", "BD"})
#: m/s in one knot (exact: 1852 m per hour)
KNOT = 1852.0 / 3600.0
#: fastest speed over ground accepted, knots (GNSS receivers stop reporting at 1,000)
MAX_KNOTS = 1000.0

_HEX = b"0123456789ABCDEFabcdef"
_NUM = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_TIME = re.compile(rb"(\d\d)(\d\d)(\d\d(?:\.\d+)?)")
_LAT = re.compile(rb"(\d\d)(\d\d(?:\.\d+)?)")
_LON = re.compile(rb"(\d\d\d)(\d\d(?:\.\d+)?)")
_DATE = re.compile(rb"(\d\d)(\d\d)(\d\d)")
_MAX_IGNORED_KEYS = 64  # a noisy line must not grow the ignored counter without bound
_xor = functools.partial(functools.reduce, operator.xor)
_NAN = math.nan


class Gga(NamedTuple):
    """GGA: time, position and fix data."""

    talker: str
    time_s: float  #: UTC seconds since midnight, NaN if empty
    lat: float  #: degrees, north positive, NaN if empty
    lon: float  #: degrees, east positive, NaN if empty
    quality: int  #: 0 invalid, 1 GPS, 2 DGPS, 3 PPS, 4 RTK fixed, 5 RTK float, 6 estimated,
    #: 7 manual input, 8 simulator
    satellites: int  #: satellites in use
    hdop: float  #: horizontal dilution of precision, NaN if empty
    altitude: float  #: m above mean sea level, NaN if empty
    geoid_sep: float  #: geoid separation (geoid above ellipsoid), m, NaN if empty
    dgps_age_s: float  #: age of differential corrections, s, NaN if empty
    dgps_station: str  #: differential reference station id, '' if empty


class Rmc(NamedTuple):
    """RMC: recommended minimum data (position, speed, course, date)."""

    talker: str
    time_s: float  #: UTC seconds since midnight, NaN if empty
    valid: bool  #: status 'A' (data valid) rather than 'V'
    lat: float  #: degrees, NaN if empty
    lon: float  #: degrees, NaN if empty
    speed_knots: float  #: speed over ground, NaN if empty
    course_deg: float  #: course over ground, degrees clockwise from true north, NaN if empty
    date: tuple[int, int, int] | None  #: (year, month, day), None if empty
    mag_var_deg: float  #: magnetic variation, east positive, NaN if empty
    mode: str  #: 'A' autonomous, 'D' differential, 'N' not valid, ...; '' before NMEA 2.3


class Vtg(NamedTuple):
    """VTG: course and speed over ground."""

    talker: str
    course_true_deg: float  #: degrees clockwise from true north, NaN if empty
    course_mag_deg: float  #: degrees clockwise from magnetic north, NaN if empty
    speed_knots: float  #: NaN if empty
    speed_kmh: float  #: NaN if empty
    mode: str  #: as in :class:`Rmc`; '' before NMEA 2.3


#: what :meth:`NmeaParser.feed` returns
Frame = Gga | Rmc | Vtg


# --- field decoders (raise ValueError on a malformed field) -----------------------

#: mode indicators of NMEA 2.3 and later: autonomous, differential, estimated, float RTK,
#: manual, not valid, precise, RTK fixed, simulator
MODES = frozenset("ADEFMNPRS")


class RangeError(ValueError):
    """A field that decoded to a value no receiver sends."""


def _motion(course: float, speed_knots: float) -> None:
    """:class:`RangeError` unless the course is within [0, 360] degrees and the speed within
    [0, MAX_KNOTS] knots (NaN, an empty field, passes)."""
    if course < 0.0 or course > 360.0 or speed_knots < 0.0 or speed_knots > MAX_KNOTS:
        raise RangeError(f"course {course} or speed {speed_knots} kn out of range")


def _num(field: bytes) -> float:
    if not field:
        return _NAN
    if _NUM.fullmatch(field) is None:
        raise ValueError(f"bad number {field!r}")
    return float(field)


def _count(field: bytes) -> int:
    if not field:
        return 0
    if not field.isdigit():
        raise ValueError(f"bad count {field!r}")
    return int(field)


def _time(field: bytes) -> float:
    if not field:
        return _NAN
    m = _TIME.fullmatch(field)
    if m is None:
        raise ValueError(f"bad time {field!r}")
    h, mi, s = int(m[1]), int(m[2]), float(m[3])
    if h > 23 or mi > 59 or s >= 61.0:
        raise RangeError(f"time out of range {field!r}")
    return h * 3600.0 + mi * 60.0 + s


def _angle(field: bytes, hemi: bytes, pattern: re.Pattern, signs: bytes, limit: float) -> float:
    """``(d)ddmm.mmmm`` plus hemisphere letter -> signed degrees."""
    if not field and not hemi:
        return _NAN
    m = pattern.fullmatch(field)
    if m is None or len(hemi) != 1 or hemi not in signs:
        raise ValueError(f"bad coordinate {field!r},{hemi!r}")
    minutes = float(m[2])
    deg = int(m[1]) + minutes / 60.0
    if minutes > 60.0 or deg > limit:  # 60.0 minutes: receivers write 8960.0000 for 90 deg
        raise RangeError(f"coordinate out of range {field!r}")
    return -deg if hemi == signs[1:] else deg


def _position(f: list[bytes], i: int) -> tuple[float, float]:
    """Latitude and longitude from fields ``i`` to ``i + 3``.  A receiver writes both with
    the same number of decimals: a difference is bytes lost or received twice whose
    XOR happened to be zero (the checksum cannot see a doubled ``33``)."""
    lat, lon = f[i], f[i + 2]
    if lat and lon and len(lat) - lat.find(b".") != len(lon) - lon.find(b"."):
        raise ValueError(f"latitude {lat!r} and longitude {lon!r} differ in decimals")
    return (_angle(lat, f[i + 1], _LAT, b"NS", 90.0), _angle(lon, f[i + 3], _LON, b"EW", 180.0))


def _unit(field: bytes, unit: bytes) -> None:
    if field and field != unit:
        raise ValueError(f"unit {field!r}, expected {unit!r}")


def _mode(field: bytes) -> str:
    if len(field) > 1 or (field and not field.isalpha()):
        raise ValueError(f"bad mode {field!r}")
    mode = field.decode("ascii")
    if mode and mode not in MODES:
        raise RangeError(f"unknown mode {mode!r}")
    return mode


def _date(field: bytes) -> tuple[int, int, int] | None:
    if not field:
        return None
    m = _DATE.fullmatch(field)
    if m is None:
        raise ValueError(f"bad date {field!r}")
    day, month, yy = int(m[1]), int(m[2]), int(m[3])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        raise RangeError(f"date out of range {field!r}")
    return (1900 + yy if yy >= 80 else 2000 + yy, month, day)


def _gga(talker: str, f: list[bytes]) -> Gga:
    if not 7 <= len(f) <= 16:
        raise ValueError("GGA has 6 to 15 fields")
    if len(f) < 15:
        f = f + [b""] * (15 - len(f))  # receivers that leave out the empty fields at the end
    _unit(f[10], b"M")
    _unit(f[12], b"M")
    station = f[14]
    if station and not station.isdigit():
        raise ValueError(f"bad station {station!r}")
    if station and int(station) > 1023:
        raise RangeError(f"station {station!r} above 1023")
    quality, sats, hdop, alt, sep, age = (_count(f[6]), _count(f[7]), _num(f[8]), _num(f[9]),
                                          _num(f[11]), _num(f[13]))
    # (comparisons that NaN, an empty field, passes)
    if (quality > 8 or sats > 99 or hdop < 0.0 or hdop > 100.0 or alt < -1000.0
            or alt > 100_000.0 or sep < -200.0 or sep > 200.0 or age < 0.0 or age > 86_400.0):
        raise RangeError(f"GGA field out of range: quality {quality}, satellites {sats}, "
                         f"hdop {hdop}, altitude {alt}, geoid {sep}, age {age}")
    return Gga(talker, _time(f[1]), *_position(f, 2), quality, sats, hdop, alt, sep, age,
               station.decode("ascii"))


def _rmc(talker: str, f: list[bytes]) -> Rmc:
    if not 12 <= len(f) <= 14:
        raise ValueError("RMC has 11 to 13 fields")
    status = f[2]
    if status not in (b"A", b"V", b""):  # empty: a receiver with nothing to say yet
        raise ValueError(f"bad status {status!r}")
    var = f[10]
    if var or f[11]:
        if f[11] not in (b"E", b"W"):
            raise ValueError(f"bad variation {var!r},{f[11]!r}")
        mag = _num(var)
        if mag < 0.0:
            raise RangeError(f"magnetic variation {mag}")
        mag = _NAN if mag > 180.0 else -mag if f[11] == b"W" else mag  # 999.9: unknown
    else:
        mag = _NAN
    speed, course = _num(f[7]), _num(f[8])
    _motion(course, speed)
    return Rmc(talker, _time(f[1]), status == b"A", *_position(f, 3), speed, course,
               _date(f[9]), mag, _mode(f[12]) if len(f) > 12 else "")


def _vtg(talker: str, f: list[bytes]) -> Vtg:
    if not 7 <= len(f) <= 10:
        raise ValueError("VTG has 6 to 9 fields")
    if len(f) < 9:
        f = f + [b""] * (9 - len(f))  # receivers that end after the speed in knots
    for i, unit in ((2, b"T"), (4, b"M"), (6, b"N"), (8, b"K")):
        _unit(f[i], unit)
    course, course_mag, knots, kmh = _num(f[1]), _num(f[3]), _num(f[5]), _num(f[7])
    _motion(course, knots)
    _motion(course_mag, kmh / 1.852)
    return Vtg(talker, course, course_mag, knots, kmh, _mode(f[9]) if len(f) > 9 else "")


_DECODERS = {b"GGA": _gga, b"RMC": _rmc, b"VTG": _vtg}


# --- parser ---------------------------------------------------------------------------


class NmeaParser(BufferedParser):
    """Incremental NMEA 0183 parser returning :class:`Gga`, :class:`Rmc`, :class:`Vtg`."""

    def __init__(self) -> None:
        super().__init__()
        #: valid sentences not decoded, by address field (``GPGSV``, ``PUBX``, ...)
        self.ignored: Counter[str] = Counter()

    def _parse(self, buf: bytearray, out: list[Frame]) -> int:
        pos = 0
        end = len(buf)
        while pos < end:
            start = self.seek(buf, pos, b"$")
            if start < 0:
                pos = end
                break
            stop = min(end, start + MAX_SENTENCE)
            lf = buf.find(b"\n", start + 1, stop)
            cut = buf.find(b"$", start + 1, stop if lf < 0 else lf)
            if cut >= 0:
                # a new sentence began before this one ended: keep it only if the
                # line end alone was lost and the checksum is complete
                line = bytes(buf[start + 1:cut]).rstrip(b"\r")
                if len(line) > 3 and line[-3] == 0x2A:  # '*'
                    self._sentence(line, out)
                else:
                    self.reject("truncated")
                pos = cut
            elif lf >= 0:
                line = bytes(buf[start + 1:lf])
                if line.endswith(b"\r"):
                    line = line[:-1]
                self._sentence(line, out)
                pos = lf + 1
            elif stop - start >= MAX_SENTENCE:
                self.reject("length")
                pos = start + 1  # the rest counts as skipped while hunting the next '$'
            else:
                pos = start  # incomplete: wait for more bytes
                break
        return pos

    def _sentence(self, line: bytes, out: list[Frame]) -> None:
        """Check and decode one line (between '$' and CR LF, both excluded)."""
        star = line.rfind(b"*")
        if star < 0:
            self.reject("missing_checksum")
            return
        given = line[star + 1:]
        if len(given) != 2 or given[0] not in _HEX or given[1] not in _HEX:
            self.reject("checksum")
            return
        body = line[:star]
        if _xor(body, 0) != int(given, 16):
            self.reject("checksum")
            return
        fields = body.split(b",")
        address = fields[0]
        decoder = _DECODERS.get(address[2:]) if len(address) == 5 else None
        try:
            talker = address[:2].decode("ascii")
            if decoder is None or talker not in TALKERS:
                key = address.decode("ascii")
                if key not in self.ignored and len(self.ignored) >= _MAX_IGNORED_KEYS:
                    key = "other"
                self.ignored[key] += 1
                return
            out.append(decoder(talker, fields))
        except RangeError:
            self.reject("range")
        except ValueError:  # includes UnicodeDecodeError
            self.reject("format")

    def counters(self) -> dict[str, int]:
        """Base counters plus ``ignored`` (valid sentences of other types or talkers)."""
        out = super().counters()
        out["ignored"] = sum(self.ignored.values())
        return out
