"""NMEA 0183 GPS receiver emulator: RMC, VTG and GGA sentences at a fixed rate.

The emulator takes the robot's position in the local ENU frame (x east, y north,
metres from ``(origin_lat, origin_lon)``), its speed and heading, and sends what
a receiver would: per fix epoch an RMC, a VTG and a GGA, in that order (the
order of u-blox receivers, so a driver that publishes on GGA has the same
epoch's speed and course).  The time of day starts at 12:00:00.00 UTC on
:data:`START_DATE` when ``t_s`` is 0.  Positions are written with 7 decimals of
minutes (u-blox's high-precision NMEA mode, 0.2 mm) so the local position
round-trips to well under a millimetre.
"""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np

from robo_orch.drivers.nmea import KNOT, encode_gga, encode_rmc, encode_vtg, local_to_geodetic
from robo_orch.sim.emulators.base import DeviceEmulator, Faults

#: the UTC date of t_s = 0 (time of day 12:00:00)
START_DATE = _dt.date(2024, 6, 1)
START_TIME_S = 12 * 3600.0
#: GGA fix quality -> RMC/VTG mode indicator
_MODES = {0: "N", 1: "A", 2: "D", 3: "P", 4: "R", 5: "F", 6: "E", 7: "M", 8: "S"}
_HEX_DIGITS = "0123456789ABCDEF"


class NmeaGpsEmulator(DeviceEmulator):
    """A GPS receiver at ``rate_hz`` fixes a second, fed with the robot's true motion.

    ``quality`` 0 sends sentences without a fix (empty fields, status V), as a
    receiver does before it has one.  ``noise_std_m`` adds seeded Gaussian noise
    to each fix's east and north position.
    """

    def __init__(self, origin_lat: float, origin_lon: float, rate_hz: float = 5.0,
                 talker: str = "GN", hdop: float = 0.9, satellites: int = 12, quality: int = 1,
                 noise_std_m: float = 0.0, faults: Faults | None = None, seed: int = 0, *,
                 altitude_m: float = 545.4, geoid_sep_m: float = 46.9,
                 decimals: int = 7) -> None:
        super().__init__(faults, seed)
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        if len(talker) != 2 or not talker.isalpha() or not talker.isupper():
            raise ValueError(f"talker must be two upper-case letters like 'GN', got {talker!r}")
        self.origin_lat = float(origin_lat)
        self.origin_lon = float(origin_lon)
        self.rate_hz = float(rate_hz)
        self.talker = talker
        self.hdop = float(hdop)
        self.satellites = int(satellites)
        self.quality = int(quality)
        self.noise_std_m = float(noise_std_m)
        self.altitude_m = float(altitude_m)
        self.geoid_sep_m = float(geoid_sep_m)
        self.decimals = int(decimals)
        self._noise = np.random.default_rng([seed, 1])  # apart from the fault stream
        self._epoch = -1
        #: fix epochs sent so far
        self.fixes = 0

    def update(self, t_s: float, x: float, y: float, speed: float, yaw: float) -> None:
        """Send a fix if one is due at ``t_s``: position x east, y north (m), yaw CCW from east.

        Fixes fall on the epochs ``k / rate_hz``; if several epochs passed since
        the last call only the newest is sent (there is no state for the others).
        """
        epoch = math.floor(t_s * self.rate_hz + 1e-9)
        if epoch <= self._epoch:
            return
        self._epoch = epoch
        self.send_fix(epoch / self.rate_hz, x, y, speed, yaw)

    def send_fix(self, t_s: float, x: float, y: float, speed: float, yaw: float) -> None:
        """Emit RMC, VTG and GGA for the state at ``t_s`` (no rate check)."""
        if self.noise_std_m > 0:
            dx, dy = self._noise.normal(0.0, self.noise_std_m, 2)
            x, y = x + dx, y + dy
        if speed < 0:  # over-ground speed is a magnitude; course is the direction of travel
            speed, yaw = -speed, yaw + math.pi
        course_deg = math.degrees(math.pi / 2 - yaw) % 360.0
        knots = speed / KNOT
        tod = START_TIME_S + t_s
        days = math.floor(tod / 86400.0)
        day = START_DATE + _dt.timedelta(days=days)
        tod -= days * 86400.0
        q = self.quality
        mode = _MODES.get(q, "A")
        talker, dec = self.talker, self.decimals
        if q > 0:
            lat, lon = local_to_geodetic(x, y, self.origin_lat, self.origin_lon)
            hdop, alt, sep = self.hdop, self.altitude_m, self.geoid_sep_m
        else:
            lat = lon = knots = course_deg = alt = sep = math.nan
            hdop = 99.99
        self.emit(encode_rmc(talker, tod, q > 0, lat, lon, knots, course_deg,
                             (day.year, day.month, day.day), mode, dec))
        self.emit(encode_vtg(talker, course_deg, knots, mode))
        self.emit(encode_gga(talker, tod, lat, lon, q, self.satellites if q > 0 else 0, hdop,
                             alt, sep, dec))
        self.fixes += 1

    def corrupt(self, frame: bytes) -> bytes:
        """``frame`` with one checksum digit changed (the XOR covers neither '*HH' nor CR LF)."""
        out = bytearray(frame)
        i = len(out) - 4 + int(self.rng.integers(2))  # one of the two digits before CR LF
        current = chr(out[i]).upper()
        choices = [d for d in _HEX_DIGITS if d != current]
        out[i] = ord(choices[int(self.rng.integers(len(choices)))])
        return bytes(out)


def sample_stream(n_frames: int, seed: int = 0) -> bytes:
    """``n_frames`` valid sentences (RMC, VTG, GGA per fix) of a robot driving a circle."""
    emu = NmeaGpsEmulator(48.1173, 11.5166667, rate_hz=10.0, noise_std_m=0.5, seed=seed)
    radius, speed = 20.0, 1.5
    k = 0
    while emu.emitted < n_frames:
        t = k / emu.rate_hz
        a = speed * t / radius
        emu.update(t, radius * math.cos(a), radius * math.sin(a), speed, a + math.pi / 2)
        k += 1
    lines = emu.drain().split(b"\n")
    return b"\n".join(lines[:n_frames]) + b"\n"
