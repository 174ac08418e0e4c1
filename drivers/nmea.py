"""NMEA 0183 GPS receiver: fixes as ``gnss_fix`` and local positions as ``position_fix``.

On every GGA the driver publishes a ``gnss_fix`` (degrees, m, m/s, rad; speed and
course from the latest RMC or VTG) and, when the fix is a real one of quality at
least ``min_quality``, a ``position_fix``: x east and y north in metres from the origin,
in the local tangent plane (ENU) of the WGS84 ellipsoid at the origin.  That ENU
frame is the robot's map frame.  The antenna's mount offset is not applied here:
the estimator applies the lever arm.

Not real fixes: GGA quality 7 (a position typed in by hand) and 8 (the
receiver's simulator), and RMC/VTG mode indicators ``M`` and ``S``, which
report the same for speed and course.  They are published in ``gnss_fix``
(with their quality) but not as positions or motion, unless
``manual_fixes = true`` (a bench test with a receiver in simulator mode).

The protocol itself (framing, checksums, sentence decoding) is in
:mod:`robo_orch.drivers.nmea_protocol`, the encoders in :mod:`robo_orch.drivers.nmea_encode`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from robo_orch import schema
from robo_orch.bus import Bus
from robo_orch.clock import Clock
from robo_orch.driver import Driver, DriverSpec
from robo_orch.drivers.nmea_encode import (
    checksum,
    encode_gga,
    encode_rmc,
    encode_vtg,
    sentence,
)
from robo_orch.drivers.nmea_protocol import (
    KNOT,
    MAX_SENTENCE,
    TALKERS,
    Frame,
    Gga,
    NmeaParser,
    Rmc,
    Vtg,
)
from robo_orch.errors import ConfigError
from robo_orch.messages import GNSS_FIX, POSITION_FIX
from robo_orch.schema import key_of

__all__ = [
    "KNOT", "MAX_SENTENCE", "TALKERS", "Frame", "Gga", "NmeaGpsDriver", "NmeaGpsParams",
    "NmeaParser", "Rmc", "Vtg", "checksum", "encode_gga", "encode_rmc", "encode_vtg",
    "geodetic_to_local", "local_to_geodetic", "sentence",
]

#: GGA qualities that are no measurement: 7 manual input, 8 simulator
_NOT_MEASURED_QUALITIES = (7, 8)
#: RMC/VTG mode indicators that are no measurement: manual input, simulator
_NOT_MEASURED_MODES = ("M", "S")

# WGS84
WGS84_A = 6378137.0  #: semi-major axis, m
WGS84_F = 1.0 / 298.257223563  #: flattening
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  #: first eccentricity squared


# --- local tangent plane ---------------------------------------------------------------
#
# Points are taken on the ellipsoid (height 0), converted to Earth-centred
# coordinates in a frame turned so that the origin's longitude is 0 (which keeps
# the differences small and exact), and rotated into east/north/up at the origin.
# Within 2 km the horizontal coordinates differ from distances along the surface
# by less than 0.1 mm.  (A flat-earth conversion with the radii of curvature at
# the origin fixed would shear by up to 0.6 m at 2 km at mid latitudes, because
# a degree of longitude shrinks northwards.)


def _surface(lat: Any, dlon: Any) -> tuple[Any, Any, Any]:
    """Earth-centred coordinates (m) of ellipsoid points; latitude and longitude in rad."""
    s = np.sin(lat)
    c = np.cos(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * s * s)  # prime vertical radius of curvature
    return n * c * np.cos(dlon), n * c * np.sin(dlon), n * (1.0 - WGS84_E2) * s


def geodetic_to_local(lat: Any, lon: Any, lat0: float, lon0: float) -> tuple[Any, Any]:
    """East and north (m) of ``(lat, lon)`` from ``(lat0, lon0)`` (degrees), in the ENU plane.

    Accepts scalars or arrays; heights are taken as 0 (on the ellipsoid).
    """
    phi0 = math.radians(lat0)
    dlon = np.radians((np.asarray(lon, dtype=float) - lon0 + 180.0) % 360.0 - 180.0)
    x, y, z = _surface(np.radians(lat), dlon)
    x0, _, z0 = _surface(phi0, 0.0)
    east = y
    north = -math.sin(phi0) * (x - x0) + math.cos(phi0) * (z - z0)
    return _out(east), _out(north)


def local_to_geodetic(x: Any, y: Any, lat0: float, lon0: float) -> tuple[Any, Any]:
    """Latitude and longitude (degrees) of the ellipsoid point at east ``x``, north ``y`` (m).

    The exact inverse of :func:`geodetic_to_local`: the point of the plane is
    moved along the origin's vertical until it meets the ellipsoid.
    """
    phi0 = math.radians(lat0)
    s0, c0 = math.sin(phi0), math.cos(phi0)
    x0, _, z0 = _surface(phi0, 0.0)
    east = np.asarray(x, dtype=float)
    north = np.asarray(y, dtype=float)
    qx = x0 - north * s0
    qz = z0 + north * c0
    w = 1.0 / (1.0 - WGS84_E2)
    # (qx + u c0)^2 + east^2 + w (qz + u s0)^2 = a^2, solved for the height u near 0;
    # the constant term is written as differences from the origin (on the ellipsoid)
    # so that it keeps its precision
    a = c0 * c0 + w * s0 * s0
    b = 2.0 * (qx * c0 + w * qz * s0)
    c = -north * s0 * (2.0 * x0 - north * s0) + east * east + w * north * c0 * (2.0 * z0
                                                                                 + north * c0)
    u = -2.0 * c / (b + np.sqrt(b * b - 4.0 * a * c))
    px, pz = qx + u * c0, qz + u * s0
    lat = np.degrees(np.arctan2(pz, (1.0 - WGS84_E2) * np.hypot(px, east)))
    lon = (lon0 + np.degrees(np.arctan2(east, px)) + 180.0) % 360.0 - 180.0
    return _out(lat), _out(lon)


def _out(v: np.ndarray) -> Any:
    return float(v) if np.ndim(v) == 0 else v


# --- driver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NmeaGpsParams:
    """Options of the NMEA GPS driver (``[drivers.NAME]`` keys besides the common ones)."""

    topic: str = schema.option("sensor/gps", doc="position_fix topic: x east, y north in m "
                                                 "from the origin, with its std in m")
    fix_topic: str = schema.option("sensor/gps_fix", doc="gnss_fix topic: latitude, longitude, "
                                                         "altitude, HDOP, speed, course, quality")
    origin_lat: float = schema.option(math.nan, doc="latitude of the map origin, degrees north; "
                                                    "nan: the first valid fix")
    origin_lon: float = schema.option(math.nan, doc="longitude of the map origin, degrees east; "
                                                    "nan: the first valid fix")
    uere_m: float = schema.option(3.0, gt=0, doc="user equivalent range error, m: position std "
                                                 "= HDOP * uere_m")
    min_std_m: float = schema.option(0.5, gt=0, doc="floor of the reported position std, m")
    min_quality: int = schema.option(1, ge=0, le=8, doc="lowest GGA fix quality published as a "
                                                         "position (1 GPS, 2 DGPS, 4 RTK fixed, "
                                                         "5 RTK float)")
    manual_fixes: bool = schema.option(False, doc="publish GGA fixes of quality 7 (manual "
                                                  "input) and 8 (simulator), and RMC/VTG "
                                                  "motion in modes M and S, as real ones; "
                                                  "otherwise they count as no_fix")

    def validate(self, source: str, prefix: str) -> None:
        """Origin: both set (within range) or both nan."""
        lat_set, lon_set = not math.isnan(self.origin_lat), not math.isnan(self.origin_lon)
        if lat_set != lon_set:
            missing = "origin_lon" if lat_set else "origin_lat"
            raise ConfigError(source, key_of(prefix, missing), "set origin_lat and origin_lon "
                              "together (or neither, to use the first fix)")
        if lat_set and not -90.0 <= self.origin_lat <= 90.0:
            raise ConfigError(source, key_of(prefix, "origin_lat"),
                              f"must be within [-90, 90], got {self.origin_lat}")
        if lon_set and not -180.0 <= self.origin_lon <= 180.0:
            raise ConfigError(source, key_of(prefix, "origin_lon"),
                              f"must be within [-180, 180], got {self.origin_lon}")


class NmeaGpsDriver(Driver):
    """GPS receiver speaking NMEA 0183 (GGA, RMC, VTG); publishes on each GGA.

    :attr:`stats` counts ``published`` messages, GGAs without a usable fix
    (``no_fix``: quality below ``min_quality``, quality 7 or 8 without
    ``manual_fixes``, or no position) and fixes without
    HDOP (``no_hdop``: not published as a position, having no accuracy).
    """

    kind = "nmea_gps"
    Params = NmeaGpsParams
    default_baud = 9600

    @classmethod
    def output_topics(cls, params: NmeaGpsParams) -> dict[str, str]:
        """The local position and the raw fix."""
        return {params.topic: "position_fix", params.fix_topic: "gnss_fix"}

    def __init__(self, name: str, spec: DriverSpec, params: NmeaGpsParams, bus: Bus,
                 clock: Clock) -> None:
        super().__init__(name, spec, params, bus, clock)
        params.validate(f"driver {name}", "")
        self.parser = NmeaParser()
        #: (latitude, longitude) of the map origin in degrees; None until the first fix
        self.origin: tuple[float, float] | None = (
            None if math.isnan(params.origin_lat) else (params.origin_lat, params.origin_lon))
        self.log = sys.stderr
        self._speed = math.nan  # m/s, from the latest RMC or VTG
        self._course = math.nan  # rad clockwise from true north
        # reused records (publish copies them into the message); Driver.record would do
        # but looks up a MessageType attribute that does not exist
        self._fix = np.zeros((), dtype=GNSS_FIX.dtype)
        self._pos = np.zeros((), dtype=POSITION_FIX.dtype)

    def handle_bytes(self, data: bytes, stamp_ns: int) -> None:
        """Parse ``data``; on each GGA publish the fix and, with a good enough fix, the position."""
        for frame in self.parser.feed(data):
            kind = type(frame)
            if kind is Gga:
                self._on_gga(frame, stamp_ns)
            elif kind is Rmc:
                ok = frame.valid and self._real_mode(frame.mode)
                self._motion(frame.speed_knots if ok else math.nan,
                             frame.course_deg if ok else math.nan)
            else:
                ok = self._real_mode(frame.mode)
                self._motion(frame.speed_knots if ok else math.nan,
                             frame.course_true_deg if ok else math.nan)

    def _real_mode(self, mode: str) -> bool:
        """A mode indicator of measured data: not N (no fix), nor M/S unless configured."""
        return mode != "N" and (self.params.manual_fixes or mode not in _NOT_MEASURED_MODES)

    def _motion(self, speed_knots: float, course_deg: float) -> None:
        self._speed = speed_knots * KNOT
        self._course = math.radians(course_deg % 360.0)

    def _on_gga(self, gga: Gga, stamp_ns: int) -> None:
        p = self.params
        fix = self._fix
        fix["latitude"], fix["longitude"], fix["altitude"] = gga.lat, gga.lon, gga.altitude
        fix["hdop"], fix["speed"], fix["course"] = gga.hdop, self._speed, self._course
        fix["quality"], fix["satellites"] = gga.quality, gga.satellites
        self.output(p.fix_topic, GNSS_FIX).publish(fix, stamp_ns=stamp_ns)
        self.stats["published"] += 1
        if (gga.quality < p.min_quality or math.isnan(gga.lat) or math.isnan(gga.lon)
                or (gga.quality in _NOT_MEASURED_QUALITIES and not p.manual_fixes)):
            self.stats["no_fix"] += 1
            return
        if math.isnan(gga.hdop):  # no accuracy, no position
            self.stats["no_hdop"] += 1
            return
        if self.origin is None:
            self.origin = (gga.lat, gga.lon)
            print(f"robo-orch driver {self.name}: map origin set to the first fix "
                  f"lat {gga.lat:.9f}, lon {gga.lon:.9f} (set origin_lat/origin_lon to fix it)",
                  file=self.log, flush=True)
        x, y = geodetic_to_local(gga.lat, gga.lon, *self.origin)
        pos = self._pos
        pos["x"], pos["y"], pos["std"] = x, y, max(gga.hdop * p.uere_m, p.min_std_m)
        self.output(p.topic, POSITION_FIX).publish(pos, stamp_ns=stamp_ns)
        self.stats["published"] += 1
