"""NMEA 0183 encoders: GGA, RMC and VTG sentences as a receiver sends them (the
emulator's and the tests'); the parser is :mod:`robo_orch.drivers.nmea_protocol`."""

from __future__ import annotations

import functools
import math
import operator

_xor = functools.partial(functools.reduce, operator.xor)


def checksum(body: bytes) -> int:
    """XOR of the bytes between '$' and '*'."""
    return _xor(body, 0)


def sentence(body: str | bytes) -> bytes:
    """``$body*HH\\r\\n`` with the checksum in upper-case hex."""
    raw = body.encode("ascii") if isinstance(body, str) else bytes(body)
    return b"$%s*%02X\r\n" % (raw, checksum(raw))


def _fmt_time(time_s: float) -> str:
    if not math.isfinite(time_s):
        return ""
    cs = round(time_s * 100.0) % 8_640_000
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6_000)
    return f"{h:02d}{m:02d}{rest // 100:02d}.{rest % 100:02d}"


def _fmt_angle(deg: float, width: int, signs: str, decimals: int) -> tuple[str, str]:
    if not math.isfinite(deg):
        return "", ""
    hemi = signs[1] if deg < 0 else signs[0]
    scale = 10 ** decimals
    units = round(abs(deg) * 60.0 * scale)  # minutes in fixed point, so 59.99999 never prints 60
    d, frac = divmod(units, 60 * scale)
    return f"{d:0{width}d}{frac // scale:02d}.{frac % scale:0{decimals}d}", hemi


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if math.isfinite(value) else ""


def encode_gga(talker: str, time_s: float, lat: float, lon: float, quality: int,
               satellites: int, hdop: float, altitude: float, geoid_sep: float,
               decimals: int = 7) -> bytes:
    """A GGA sentence; NaN latitude/longitude/numbers give empty fields.

    ``decimals`` is the number of decimals of the minutes (7 is u-blox's
    high-precision mode, 0.2 mm; receivers default to 4 or 5).
    """
    lat_s, ns = _fmt_angle(lat, 2, "NS", decimals)
    lon_s, ew = _fmt_angle(lon, 3, "EW", decimals)
    alt = _fmt(altitude, 1)
    sep = _fmt(geoid_sep, 1)
    return sentence(f"{talker}GGA,{_fmt_time(time_s)},{lat_s},{ns},{lon_s},{ew},{quality:d},"
                    f"{satellites:02d},{_fmt(hdop, 2)},{alt},"
                    f"{'M' if alt else ''},{sep},{'M' if sep else ''},,")


def encode_rmc(talker: str, time_s: float, valid: bool, lat: float, lon: float,
               speed_knots: float, course_deg: float, date: tuple[int, int, int] | None,
               mode: str = "A", decimals: int = 7) -> bytes:
    """An RMC sentence (NMEA 2.3 layout, with the mode field; no magnetic variation)."""
    lat_s, ns = _fmt_angle(lat, 2, "NS", decimals)
    lon_s, ew = _fmt_angle(lon, 3, "EW", decimals)
    date_s = "" if date is None else f"{date[2]:02d}{date[1]:02d}{date[0] % 100:02d}"
    return sentence(f"{talker}RMC,{_fmt_time(time_s)},{'A' if valid else 'V'},{lat_s},{ns},"
                    f"{lon_s},{ew},{_fmt(speed_knots, 3)},{_fmt(course_deg, 2)},{date_s},,,"
                    f"{mode}")


def encode_vtg(talker: str, course_deg: float, speed_knots: float, mode: str = "A") -> bytes:
    """A VTG sentence (no magnetic course, as from receivers without a declination model)."""
    kmh = speed_knots * 1.852
    return sentence(f"{talker}VTG,{_fmt(course_deg, 2)},T,,M,{_fmt(speed_knots, 3)},N,"
                    f"{_fmt(kmh, 3)},K,{mode}")
