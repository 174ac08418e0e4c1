"""NMEA 0183 GPS: parser, local tangent plane, driver, emulator, and end to end over a pty.

Real pseudo-terminals, real sockets, no mocks.  Example sentences are the public
ones from NMEA documentation, with their checksums written out.
"""

from __future__ import annotations

import contextlib
import io
import math
import time

import numpy as np
import pytest
import serial
from helpers import closing_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robo_orch import schema
from robo_orch.bus import MemoryBus, MemoryHub
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import SimClock, WallClock
from robo_orch.driver import DriverSpec
from robo_orch.drivers.nmea import (
    KNOT,
    MAX_SENTENCE,
    Gga,
    NmeaGpsDriver,
    NmeaGpsParams,
    NmeaParser,
    Rmc,
    Vtg,
    checksum,
    encode_gga,
    geodetic_to_local,
    local_to_geodetic,
    sentence,
)
from robo_orch.drivers.nmea_protocol import _DECODERS
from robo_orch.errors import ConfigError
from robo_orch.sim.emulators.base import Faults, PtyLink
from robo_orch.sim.emulators.nmea import NmeaGpsEmulator, sample_stream

# NMEA documentation examples (gpsinformation.org, the NMEA reference manuals)
DOC_GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
DOC_RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
DOC_VTG = b"$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48\r\n"
DOC_GSA = b"$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39\r\n"
DOC_GSV = b"$GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45*75\r\n"
# receiver datasheet examples (western longitude, NMEA 2.3 mode field)
SHEET_GGA = b"$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*76\r\n"
SHEET_RMC = b"$GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A*43\r\n"
# what a u-blox receiver sends before it has a fix
NOFIX_GGA = b"$GPGGA,,,,,,0,00,99.99,,,,,,*48\r\n"
NOFIX_RMC = b"$GNRMC,,V,,,,,,,,,,N*4D\r\n"
DOC_STREAM = DOC_GGA + DOC_RMC + DOC_VTG
ORIGIN = (48.1173, 11.5166667)
DEADLINE_S = 5.0
WGS84_A, WGS84_E2 = 6378137.0, 0.0066943799901413165
HYP = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

nan = math.nan


pytestmark = pytest.mark.watchdog(60)


def key(frame) -> str:
    """Comparable form of a frame (NaN fields make tuples compare unequal)."""
    return repr(frame)


def parse(data: bytes, parser: NmeaParser | None = None):
    parser = parser or NmeaParser()
    return parser.feed(data), parser


def degmin(deg: int, minutes: float) -> float:
    return deg + minutes / 60.0


# --- parser on documented sentences ---------------------------------------------------


def test_documented_checksums_are_the_xor_between_dollar_and_star():
    for line, hh in ((DOC_GGA, 0x47), (DOC_RMC, 0x6A), (DOC_VTG, 0x48), (DOC_GSA, 0x39),
                     (DOC_GSV, 0x75), (SHEET_GGA, 0x76), (SHEET_RMC, 0x43)):
        body = line[1:line.index(b"*")]
        assert checksum(body) == hh
        assert sentence(body) == line


def test_documented_sentences_decode():
    (gga, rmc, vtg), p = parse(DOC_STREAM)
    assert key(gga) == key(Gga("GP", 12 * 3600 + 35 * 60 + 19.0, degmin(48, 7.038),
                               degmin(11, 31.0), 1, 8, 0.9, 545.4, 46.9, nan, ""))
    assert rmc.valid and rmc.speed_knots == 22.4 and rmc.course_deg == 84.4
    assert rmc.date == (1994, 3, 23) and rmc.mag_var_deg == -3.1 and rmc.mode == ""
    assert (rmc.lat, rmc.lon) == (gga.lat, gga.lon)
    assert key(vtg) == key(Vtg("GP", 54.7, 34.4, 5.5, 10.2, ""))
    (gga2, rmc2), _ = parse(SHEET_GGA + SHEET_RMC)
    assert gga2.lon == pytest.approx(-degmin(6, 30.3372)) and gga2.lat > 53
    assert gga2.time_s == 9 * 3600 + 27 * 60 + 50.0 and gga2.satellites == 8
    assert rmc2.mode == "A" and rmc2.date == (2011, 5, 28) and math.isnan(rmc2.mag_var_deg)
    assert p.counters() == {"frames": 3, "bytes_in": len(DOC_STREAM), "skipped_bytes": 0,
                            "ignored": 0}


def test_empty_fields_decode_as_nan_and_other_types_are_ignored():
    frames, p = parse(NOFIX_GGA + DOC_GSA + NOFIX_RMC + DOC_GSV + b"$GNGGA,,,,,,0,,,,,,,,*78\r\n")
    gga, rmc, gga2 = frames
    assert gga.quality == 0 and gga.satellites == 0 and gga.hdop == 99.99
    assert all(math.isnan(v) for v in (gga.time_s, gga.lat, gga.lon, gga.altitude))
    assert not rmc.valid and rmc.mode == "N" and rmc.date is None
    assert math.isnan(rmc.speed_knots) and math.isnan(gga2.hdop)
    assert p.ignored == {"GPGSA": 1, "GPGSV": 1} and p.counters()["ignored"] == 2
    assert not p.bad


def test_other_talkers_lower_case_checksum_and_bare_lf():
    body = DOC_GGA[1:DOC_GGA.index(b"*")]
    frames, p = parse(sentence(b"GN" + body[2:]) + sentence(b"BD" + body[2:])
                      + sentence(b"XX" + body[2:]) + DOC_RMC.replace(b"*6A", b"*6a")
                      + DOC_VTG.replace(b"\r\n", b"\n"))
    assert [(type(f), f.talker) for f in frames] == [(Gga, "GN"), (Gga, "BD"), (Rmc, "GP"),
                                                     (Vtg, "GP")]
    assert p.ignored == {"XXGGA": 1} and not p.bad


@pytest.mark.parametrize(("data", "reason"), [
    (DOC_GGA.replace(b"*47", b"*48"), "checksum"),
    (DOC_GGA.replace(b"*47", b"*4G"), "checksum"),
    (DOC_GGA.replace(b"*47", b"*7"), "checksum"),
    (DOC_GGA.replace(b"*47", b""), "missing_checksum"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,," + b"0" * 70),
     "length"),
    (sentence(b"GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "format"),
    (sentence(b"GPGGA,123519,4807.038,Q,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "format"),
    (sentence(b"GPGGA,123519,487.38,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "format"),
    (sentence(b"GPGGA,126519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,9107.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,18131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,9,08,0.9,545.4,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,100,0.9,545.4,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,08,150,545.4,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,-5000,M,46.9,M,,"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,2000"), "range"),
    (sentence(b"GPRMC,123519,A,4807.038,N,01131.000,E,022.4,33335,230394,003.1,W"), "range"),
    (sentence(b"GPRMC,123519,A,4807.038,N,01131.000,E,-22.4,084.4,230394,003.1,W"), "range"),
    (sentence(b"GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,X"), "range"),
    (sentence(b"GPVTG,400.0,T,034.4,M,005.5,N,010.2,K"), "range"),
    (sentence(b"GPVTG,054.7,T,034.4,M,5000,N,010.2,K"), "range"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,08,nan,545.4,M,46.9,M,,"), "format"),
    (sentence(b"GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"), "format"),
    (sentence(b"GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394"), "format"),
    (sentence(b"GPVTG,054.7,T,034.4,M,005.5,K,010.2,N"), "format"),
    (sentence(b"GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,\xff"), "format"),
    (DOC_GGA[:40] + DOC_RMC, "truncated"),
])
def test_bad_sentences_are_counted_by_reason(data, reason):
    frames, p = parse(data + DOC_VTG)
    assert [type(f) for f in frames] == ([Rmc, Vtg] if reason == "truncated" else [Vtg])
    assert p.bad == {reason: 1}


def test_longest_sentence_is_accepted_one_more_byte_is_not():
    head = b"GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
    fill = MAX_SENTENCE - len(sentence(head))
    ok = sentence(head + b"0" * fill)
    assert len(ok) == MAX_SENTENCE == 130
    frames, p = parse(ok + sentence(head + b"0" * (fill + 1)) + DOC_RMC)
    assert [type(f) for f in frames] == [Gga, Rmc] and frames[0].dgps_station == "0" * fill
    assert p.bad == {"length": 1}


def test_lost_line_end_keeps_the_sentence_when_its_checksum_is_complete():
    frames, p = parse(DOC_GGA[:-1] + DOC_RMC[:-2] + DOC_VTG)
    assert [type(f) for f in frames] == [Gga, Rmc, Vtg] and not p.bad


def test_every_split_point_and_byte_at_a_time_give_the_same_frames():
    data = b"xx$G" + DOC_STREAM + DOC_GSA + DOC_STREAM
    whole, ref = parse(data)
    assert len(whole) == 6 and ref.bad == {"truncated": 1}
    for cut in range(len(data) + 1):
        p = NmeaParser()
        frames = p.feed(data[:cut]) + p.feed(data[cut:])
        assert [key(f) for f in frames] == [key(f) for f in whole], cut
        assert p.counters() == ref.counters()
    p = NmeaParser()
    frames = [f for i in range(len(data)) for f in p.feed(data[i:i + 1])]
    assert [key(f) for f in frames] == [key(f) for f in whole]
    assert p.counters() == ref.counters()


# --- property tests -----------------------------------------------------------------


def checked_candidates(data: bytes) -> set[str]:
    """Every frame that some '$...*HH' substring of ``data`` with a matching checksum decodes to.

    Slow and independent of the parser's framing: the parser may only ever return these.
    """
    out = set()
    for i in (i for i, c in enumerate(data) if c == 0x24):
        for j in range(i + 1, min(len(data) - 2, i + 80)):
            if data[j] in b"$\n":
                break
            if data[j] != 0x2A:
                continue
            body = data[i + 1:j]
            try:
                given = int(data[j + 1:j + 3], 16)
            except ValueError:
                continue
            fields = body.split(b",")
            decoder = _DECODERS.get(fields[0][2:])
            if given == checksum(body) and decoder is not None and len(fields[0]) == 5:
                with contextlib.suppress(ValueError):
                    out.add(key(decoder(fields[0][:2].decode(), fields)))
    return out


PIECES = [DOC_GGA, DOC_RMC, DOC_VTG, SHEET_GGA, NOFIX_RMC, DOC_GSA, b"$", b"*", b"\r\n",
          b"*47", b"GPGGA,", b",,", b"\n"]


@HYP
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(PIECES)), max_size=12),
       st.lists(st.integers(1, 50), min_size=1, max_size=8))
def test_random_bytes_never_raise_nor_yield_an_unchecked_frame(parts, chunks):
    data = b"".join(parts)
    whole, ref = parse(data)
    assert {key(f) for f in whole} <= checked_candidates(data)
    p, got, at, k = NmeaParser(), [], 0, 0
    while at < len(data):  # any chunking gives the same frames and counters
        n = chunks[k % len(chunks)]
        got += p.feed(data[at:at + n])
        at, k = at + n, k + 1
    assert [key(f) for f in got] == [key(f) for f in whole]
    assert p.counters() == ref.counters()
    assert p.bytes_in == len(data)


@st.composite
def damaged_streams(draw):
    """A valid stream where some sentences get one fault each: garbage before, or one byte
    replaced or deleted (an 8-bit XOR detects each of these for sure)."""
    n = draw(st.integers(3, 12))
    lines = sample_stream(n, seed=draw(st.integers(0, 3))).splitlines(keepends=True)
    damaged = draw(st.sets(st.integers(0, n - 2), max_size=n - 1))
    out, killed = [], 0
    for i, line in enumerate(lines):
        if i in damaged:
            how = draw(st.sampled_from(["garbage", "replace", "delete"]))
            if how == "garbage":
                out.append(draw(st.binary(min_size=1, max_size=30)))
            else:
                at = draw(st.integers(0, len(line) - 1))
                new = b"" if how == "delete" else bytes([draw(st.integers(0, 255))])
                killed += at == 0 and new != b"$"
                line = line[:at] + new + line[at + 1:]
        out.append(line)
    last = max(damaged, default=-1)
    return lines, b"".join(out), last, killed


@HYP
@given(damaged_streams())
def test_damage_yields_no_false_frame_resyncs_and_is_counted(case):
    lines, data, last, killed = case
    original = [key(f) for f in parse(b"".join(lines))[0]]
    frames, p = parse(data)
    got = [key(f) for f in frames]
    assert set(got) <= set(original)  # no false frame
    tail = original[last + 1:]
    assert got[len(got) - len(tail):] == tail  # everything after the damage is recovered
    missing = len(original) - len(got)
    assert sum(p.bad.values()) >= missing - killed  # lost sentences are counted


# --- local tangent plane ----------------------------------------------------------------


def ecef(lat: float, lon: float) -> np.ndarray:
    """Textbook geodetic -> Earth-centred coordinates at height 0."""
    la, lo = math.radians(lat), math.radians(lon)
    n = WGS84_A / math.sqrt(1 - WGS84_E2 * math.sin(la) ** 2)
    return np.array([n * math.cos(la) * math.cos(lo), n * math.cos(la) * math.sin(lo),
                     n * (1 - WGS84_E2) * math.sin(la)])


def enu_reference(lat, lon, lat0, lon0):
    """Textbook ENU: rotate the ECEF difference with the full rotation matrix."""
    la, lo = math.radians(lat0), math.radians(lon0)
    rot = np.array([[-math.sin(lo), math.cos(lo), 0.0],
                    [-math.sin(la) * math.cos(lo), -math.sin(la) * math.sin(lo), math.cos(la)],
                    [math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)]])
    return rot @ (ecef(lat, lon) - ecef(lat0, lon0))


@HYP
@given(st.floats(-89.0, 89.0), st.floats(-180.0, 180.0), st.floats(-2000.0, 2000.0),
       st.floats(-2000.0, 2000.0))
def test_local_and_geodetic_invert_each_other_and_match_the_textbook_plane(lat0, lon0, x, y):
    lat, lon = local_to_geodetic(x, y, lat0, lon0)
    xx, yy = geodetic_to_local(lat, lon, lat0, lon0)
    assert abs(xx - x) < 1e-6 and abs(yy - y) < 1e-6
    e, n, u = enu_reference(lat, lon, lat0, lon0)
    assert abs(e - x) < 1e-4 and abs(n - y) < 1e-4
    # on the surface: plane distance vs straight-line distance through the Earth (both
    # within 0.1 mm of the distance along the surface at 2 km)
    chord = float(np.linalg.norm(ecef(lat, lon) - ecef(lat0, lon0)))
    assert abs(math.hypot(x, y) - chord) < 1e-3


def test_local_plane_uses_wgs84_radii_of_curvature():
    lat0, lon0 = 45.0, 7.0
    s2 = math.sin(math.radians(lat0)) ** 2
    meridian = WGS84_A * (1 - WGS84_E2) / (1 - WGS84_E2 * s2) ** 1.5
    normal = WGS84_A / math.sqrt(1 - WGS84_E2 * s2)
    d = 1e-6
    x, y = geodetic_to_local(lat0 + d, lon0, lat0, lon0)
    assert y == pytest.approx(meridian * math.radians(d), rel=1e-6) and abs(x) < 1e-9
    x, y = geodetic_to_local(lat0, lon0 + d, lat0, lon0)
    assert x == pytest.approx(normal * math.cos(math.radians(lat0)) * math.radians(d), rel=1e-6)
    xs, ys = geodetic_to_local(np.array([lat0, lat0 + d]), np.array([lon0, lon0]), lat0, lon0)
    assert xs.shape == (2,) and ys[1] == pytest.approx(meridian * math.radians(d), rel=1e-6)
    # across the antimeridian
    x, _ = geodetic_to_local(0.0, -179.9999, 0.0, 179.9999)
    assert x == pytest.approx(WGS84_A * math.radians(2e-4), rel=1e-6)  # N = a on the equator


# --- emulator and driver (in-process bus) ------------------------------------------------


def make_driver(bus, **params) -> NmeaGpsDriver:
    p = schema.build(NmeaGpsParams, params, source="test")
    return NmeaGpsDriver("gps", DriverSpec(kind="nmea_gps", port="loop://"), p, bus, bus.clock)


def truth(t: float) -> tuple[float, float, float, float]:
    """x, y, speed, yaw of a robot driving a 30 m circle at 1.2 m/s."""
    a = 1.2 * t / 30.0
    return 30.0 * math.cos(a) - 30.0, 30.0 * math.sin(a), 1.2, a + math.pi / 2


def test_params_validate_the_origin():
    assert math.isnan(schema.build(NmeaGpsParams, {}, source="t").origin_lat)
    with pytest.raises(ConfigError, match="origin_lon"):
        schema.build(NmeaGpsParams, {"origin_lat": 48.0}, source="t")
    with pytest.raises(ConfigError, match="origin_lat.*90"):
        schema.build(NmeaGpsParams, {"origin_lat": 91.0, "origin_lon": 0.0}, source="t")
    with pytest.raises(ConfigError, match="uere_m"):
        schema.build(NmeaGpsParams, {"uere_m": 0.0}, source="t")
    assert NmeaGpsDriver.kind == "nmea_gps" and NmeaGpsDriver.default_baud == 9600


def test_emulator_rate_time_of_day_and_sentence_length():
    emu = NmeaGpsEmulator(*ORIGIN, rate_hz=5.0)
    for k in range(101):  # 1 s at 100 Hz
        emu.update(k / 100, *truth(k / 100))
    data = emu.drain()
    frames, p = parse(data)
    assert [type(f) for f in frames] == [Rmc, Vtg, Gga] * 6 and not p.bad
    assert [f.time_s - 43200.0 for f in frames[2::3]] == pytest.approx([0, .2, .4, .6, .8, 1])
    assert frames[0].date == (2024, 6, 1)
    assert max(len(line) for line in data.splitlines(keepends=True)) <= 82
    assert all(line.startswith(b"$GN") and line.endswith(b"\r\n")
               for line in data.splitlines(keepends=True))


def test_emulator_speed_and_course_convention():
    for yaw, speed, course in ((0.0, 1.0, 90.0), (math.pi / 2, 2.0, 0.0), (math.pi, 1.0, 270.0),
                               (0.0, -1.0, 270.0), (-math.pi / 4, 0.5, 135.0)):
        emu = NmeaGpsEmulator(*ORIGIN)
        emu.update(0.0, 0.0, 0.0, speed, yaw)
        rmc, vtg, _ = parse(emu.drain())[0]
        assert rmc.course_deg == pytest.approx(course, abs=0.006)
        assert vtg.course_true_deg == rmc.course_deg
        assert rmc.speed_knots * KNOT == pytest.approx(abs(speed), abs=1e-3)
        assert vtg.speed_kmh == pytest.approx(abs(speed) * 3.6, abs=2e-3)


def test_driver_publishes_fix_and_local_position(capsys):
    hub = MemoryHub()
    bus = MemoryBus(SimClock(0), publisher_id=1, hub=hub)
    sub_bus = MemoryBus(SimClock(0), publisher_id=2, hub=hub)
    pos = sub_bus.subscribe("sensor/gps", "position_fix", "queue(100)")
    fix = sub_bus.subscribe("sensor/gps_fix", "gnss_fix", "queue(100)")
    driver = make_driver(bus, uere_m=2.0)
    driver.log = io.StringIO()
    emu = NmeaGpsEmulator(*ORIGIN, hdop=0.9, satellites=9, noise_std_m=0.0)
    start = truth(0.0)
    for k in range(10):
        emu.update(k * 0.2, *truth(k * 0.2))
        driver.handle_bytes(emu.drain(), stamp_ns=1000 + k)
    pos.poll()
    fix.poll()
    positions, fixes = pos.take(), fix.take()
    assert len(positions) == len(fixes) == 10 and driver.stats["published"] == 20
    assert [m.header.stamp_ns for m in positions] == list(range(1000, 1010))
    # the origin is the first fix: positions are relative to it
    assert driver.origin == pytest.approx(local_to_geodetic(start[0], start[1], *ORIGIN),
                                          abs=1e-8)
    assert driver.log.getvalue().count("map origin set") == 1
    for k, m in enumerate(positions):
        x, y, speed, yaw = truth(k * 0.2)
        assert m.fixed["x"] == pytest.approx(x - start[0], abs=1e-3)
        assert m.fixed["y"] == pytest.approx(y - start[1], abs=1e-3)
        assert m.fixed["std"] == pytest.approx(max(0.9 * 2.0, 0.5))
        f = fixes[k].fixed
        assert f["speed"] == pytest.approx(speed, abs=1e-3)
        assert f["course"] == pytest.approx((math.pi / 2 - yaw) % (2 * math.pi), abs=1e-3)
        assert (f["quality"], f["satellites"], f["hdop"], f["altitude"]) == (1, 9, 0.9, 545.4)
    assert capsys.readouterr().err == ""
    bus.close()
    sub_bus.close()


@pytest.mark.parametrize("quality", [0, 1, 2])
def test_min_quality_and_no_fix(quality):
    hub = MemoryHub()
    bus = MemoryBus(SimClock(0), publisher_id=1, hub=hub)
    pos = bus.subscribe("gps/pos", "position_fix", "queue(10)")
    fix = bus.subscribe("gps/fix", "gnss_fix", "queue(10)")
    driver = make_driver(bus, topic="gps/pos", fix_topic="gps/fix", min_quality=2,
                         origin_lat=ORIGIN[0], origin_lon=ORIGIN[1])
    emu = NmeaGpsEmulator(*ORIGIN, quality=quality, hdop=0.1)
    emu.update(0.0, 3.0, 4.0, 0.0, 0.0)
    driver.handle_bytes(emu.drain(), stamp_ns=5)
    pos.poll()
    fix.poll()
    fixes, positions = fix.take(), pos.take()
    assert len(fixes) == 1 and fixes[0].fixed["quality"] == quality
    if quality < 2:
        assert positions == [] and driver.stats["no_fix"] == 1
    else:
        (m,) = positions
        assert (m.fixed["x"], m.fixed["y"], m.fixed["std"]) == pytest.approx((3.0, 4.0, 0.5),
                                                                             abs=1e-3)
    if quality == 0:
        f = fixes[0].fixed
        assert all(math.isnan(f[k]) for k in ("latitude", "longitude", "speed", "course"))
    bus.close()


@pytest.mark.parametrize("quality,manual", [(7, False), (8, False), (7, True), (8, True)])
def test_manual_and_simulator_fixes_are_positions_only_when_configured(quality, manual):
    """GGA quality 7 (manual input) and 8 (simulator), RMC/VTG modes M and S: no
    position, no motion, unless manual_fixes says so."""
    hub = MemoryHub()
    bus = MemoryBus(SimClock(0), publisher_id=1, hub=hub)
    pos = bus.subscribe("sensor/gps", "position_fix", "queue(10)")
    fix = bus.subscribe("sensor/gps_fix", "gnss_fix", "queue(10)")
    driver = make_driver(bus, manual_fixes=manual, origin_lat=ORIGIN[0], origin_lon=ORIGIN[1])
    emu = NmeaGpsEmulator(*ORIGIN, quality=quality, hdop=0.5)
    emu.update(0.0, 3.0, 4.0, 1.0, 0.0)
    frames, _ = parse(emu.drain())
    assert [f.mode for f in frames[:2]] == ["M" if quality == 7 else "S"] * 2
    emu.update(0.2, 3.0, 4.0, 1.0, 0.0)
    driver.handle_bytes(emu.drain(), stamp_ns=5)
    pos.poll()
    fix.poll()
    fixes, positions = fix.take(), pos.take()
    assert len(fixes) == 1 and fixes[0].fixed["quality"] == quality
    if manual:
        assert len(positions) == 1 and fixes[0].fixed["speed"] == pytest.approx(1.0, abs=1e-3)
    else:
        assert positions == [] and driver.stats["no_fix"] == 1
        assert math.isnan(fixes[0].fixed["speed"]) and math.isnan(fixes[0].fixed["course"])
    bus.close()


@HYP
@given(st.floats(-90.0, 90.0), st.floats(-180.0, 180.0), st.integers(0, 8), st.integers(0, 99),
       st.floats(0.0, 99.99), st.floats(-999.0, 99_999.0), st.floats(-199.0, 199.0),
       st.integers(4, 7))
def test_high_precision_gga_round_trips(lat, lon, quality, sats, hdop, alt, sep, decimals):
    """The encoder's own sentences, up to 7 decimals of minutes (u-blox high precision,
    longer than NMEA's 82 characters), decode to what was encoded."""
    raw = encode_gga("GN", 86399.99, lat, lon, quality, sats, hdop, alt, sep, decimals)
    frames, p = parse(raw)
    assert not p.bad, raw
    (g,) = frames
    tol = 0.6 * 10.0 ** -decimals / 60.0  # half a unit of the last minute decimal, in degrees
    assert g.lat == pytest.approx(lat, abs=tol) and g.lon == pytest.approx(lon, abs=tol)
    assert (g.quality, g.satellites) == (quality, sats)
    assert g.hdop == pytest.approx(hdop, abs=0.006)
    assert (g.altitude, g.geoid_sep) == pytest.approx((alt, sep), abs=0.06)


def test_longest_high_precision_gga_is_accepted():
    raw = encode_gga("GN", 86399.99, -89.999, -179.999, 4, 12, 99.99, 99_999.0, -199.0, 7)
    assert len(raw) > 82
    (g,), p = parse(raw)
    assert not p.bad and g.lat == pytest.approx(-89.999) and g.lon == pytest.approx(-179.999)


def test_corrupt_breaks_only_the_checksum():
    emu = NmeaGpsEmulator(*ORIGIN, faults=Faults(corrupt_rate=1.0), seed=3)
    for k in range(20):
        emu.update(k * 0.2, *truth(k * 0.2))
    frames, p = parse(emu.drain())
    assert frames == [] and p.bad == {"checksum": 60} and emu.corrupted == 60


# --- end to end: emulator -> pty -> serial -> driver -> zmq -> subscriber -----------------


class Rig:
    """An emulator on a pty, the driver reading it through pyserial, a zmq subscriber."""

    def __init__(self, tmp_path, emu: NmeaGpsEmulator) -> None:
        self.emu = emu
        self.link = PtyLink()
        self.ser = serial.serial_for_url(self.link.path, baudrate=9600, timeout=0.05)
        self.bus = ZmqBus(WallClock(), publisher_id=1, run_dir=tmp_path)
        self.sub_bus = ZmqBus(WallClock(), publisher_id=2, run_dir=tmp_path)
        self.driver = make_driver(self.bus, origin_lat=ORIGIN[0], origin_lon=ORIGIN[1])
        self.driver.output("sensor/gps", "position_fix")  # bind before subscribers connect
        self.driver.output("sensor/gps_fix", "gnss_fix")
        self.pos = self.sub_bus.subscribe("sensor/gps", "position_fix", "queue(1000)")
        self.fix = self.sub_bus.subscribe("sensor/gps_fix", "gnss_fix", "queue(1000)")
        self.t = 0.0

    def step(self) -> int:
        """One fix epoch through the pty into the driver; returns the bytes carried."""
        self.emu.update(self.t, *truth(self.t))
        self.t += 1.0 / self.emu.rate_hz
        data = self.emu.drain()
        assert self.link.write(data) == len(data)
        got = 0
        end = time.monotonic() + DEADLINE_S
        while got < len(data):
            assert time.monotonic() < end, "bytes lost in the pty"
            chunk = self.ser.read(max(1, self.ser.in_waiting))
            got += len(chunk)
            self.driver.handle_bytes(chunk, stamp_ns=time.monotonic_ns())
        return got

    def collect(self, sub) -> list:
        """Every message still in flight on ``sub``, up to the last one the driver published."""
        last = self.driver.outputs[sub.topic].sent
        got: list = []
        end = time.monotonic() + DEADLINE_S
        while not got or got[-1].header.seq < last:
            assert time.monotonic() < end, f"timed out; counters {sub.counters}"
            sub.wait(0.02)
            got += sub.take()
        return got

    def join(self) -> None:
        """Stream fixes until the subscribers hear them (zmq slow joiner), then drop them."""
        end = time.monotonic() + DEADLINE_S
        while not (self.pos.pending and self.fix.pending):
            assert time.monotonic() < end, "subscriber never joined"
            self.step()
            self.pos.wait(0.02)
            self.fix.wait(0.02)
        self.collect(self.pos)
        self.collect(self.fix)

    def close(self) -> None:
        self.ser.close()
        self.link.close()
        self.bus.close()
        self.sub_bus.close()


@pytest.fixture
def rig(tmp_path):
    with closing_all(lambda **kw: Rig(tmp_path, NmeaGpsEmulator(*ORIGIN, **kw))) as make:
        yield make


def test_end_to_end_over_pty_and_zmq(rig):
    r = rig(hdop=1.1, satellites=14)
    r.join()
    for _ in range(10):
        t = r.t
        r.step()
        (p,), (f,) = r.collect(r.pos), r.collect(r.fix)
        x, y, speed, yaw = truth(t)
        assert abs(p.fixed["x"] - x) < 1e-3 and abs(p.fixed["y"] - y) < 1e-3
        assert p.fixed["std"] == pytest.approx(1.1 * 3.0)
        lat, lon = local_to_geodetic(x, y, *ORIGIN)
        assert f.fixed["latitude"] == pytest.approx(lat, abs=1e-8)
        assert f.fixed["longitude"] == pytest.approx(lon, abs=1e-8)
        assert f.fixed["speed"] == pytest.approx(speed, abs=1e-3)
        assert f.fixed["course"] == pytest.approx((math.pi / 2 - yaw) % (2 * math.pi), abs=1e-3)
        assert (f.fixed["quality"], f.fixed["satellites"], f.fixed["hdop"]) == (1, 14, 1.1)
        assert p.header.stamp_ns == f.header.stamp_ns and p.header.frame_id == "gps"
    assert r.pos.counters.seq_gaps == 0 and not r.driver.parser.bad


def test_end_to_end_faults_are_counted_and_skipped_and_silence_is_detectable(rig):
    r = rig(faults=Faults(garbage_rate=0.3, corrupt_rate=0.2, drop_rate=0.002), seed=7)
    r.join()
    sent = r.driver.outputs["sensor/gps"].sent
    truths = []
    for _ in range(60):
        truths.append(truth(r.t)[:2])
        r.step()
    assert r.emu.corrupted > 0 and r.emu.garbage_bytes > 0 and r.emu.dropped_bytes > 0
    c = r.driver.counters()
    assert c["bad.checksum"] >= r.emu.corrupted // 2 and c["skipped_bytes"] > 0
    got = r.collect(r.pos)
    assert len(got) == r.driver.outputs["sensor/gps"].sent - sent
    assert 20 <= len(got) <= 60
    xy = np.array(truths)
    for m in got:  # every published position is one of the true ones: no false frame
        assert np.hypot(xy[:, 0] - m.fixed["x"], xy[:, 1] - m.fixed["y"]).min() < 1e-3
    # the device goes silent: no bytes within the port's timeout, nothing published
    r.emu.set_faults(Faults(silent=True))
    before = r.driver.parser.bytes_in
    r.emu.update(r.t, 0.0, 0.0, 0.0, 0.0)
    assert r.emu.drain() == b"" and r.ser.read(100) == b""
    assert r.driver.parser.bytes_in == before and not r.pos.wait(0.2)
