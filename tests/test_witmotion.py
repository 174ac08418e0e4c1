"""WitMotion IMU: parser on documented packets, property tests, emulator and driver end to end.

The literal packets below are built by hand from the WT901 datasheet's formulas
(section 5.1: value = int16 / 32768 * range, sum = low byte of the sum of the
first 10 bytes); the host commands are the datasheet's own byte strings.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
import serial
from helpers import closing_all, props
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from robo_orch import schema
from robo_orch.bus import MemoryBus, MemoryHub, QoS
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import SimClock, WallClock
from robo_orch.driver import DriverSpec
from robo_orch.drivers.witmotion import (
    QUIET_NS,
    WitmotionImuDriver,
    WitmotionParams,
    euler_zyx_quaternion,
)
from robo_orch.drivers.witmotion_protocol import (
    ACCEL_G,
    ANGLE_DEG,
    GYRO_DPS,
    Acceleration,
    Angle,
    AngularRate,
    Command,
    CommandParser,
    OtherPacket,
    WitmotionParser,
    baud_command,
    encode_acceleration,
    encode_angle,
    encode_angular_rate,
    encode_frame,
    rate_command,
    save_command,
    unlock_command,
)
from robo_orch.errors import ConfigError
from robo_orch.sim.emulators.base import Faults, PtyLink
from robo_orch.sim.emulators.witmotion import WitmotionImuEmulator, sample_stream

# az = 2048 counts = 1 g, T = 2500 = 25.00 degC
ACCEL = bytes.fromhex("55 51 00 00 00 00 00 08 c4 09 7b")
# wx = -1 count = -0.06103515625 deg/s, wz = 2048 counts = 125 deg/s, T = 25.00 degC
GYRO = bytes.fromhex("55 52 ff ff 00 00 00 08 c4 09 7a")
# roll = -16384 = -90 deg, pitch = 8192 = 45 deg, yaw = 16384 = 90 deg, version 0x0124
ANGLE = bytes.fromhex("55 53 00 c0 00 20 00 40 24 01 ed")
# time packet: 24-05-31 12:30:45.500
TIME = bytes.fromhex("55 50 18 05 1f 0c 1e 2d f4 01 2d")
DOC_STREAM = TIME + ACCEL + GYRO + ANGLE
DOC_FRAMES = [OtherPacket(0x50, bytes.fromhex("18 05 1f 0c 1e 2d f4 01")),
              Acceleration(0.0, 0.0, 1.0, 25.0),
              AngularRate(-0.06103515625, 0.0, 125.0, 2500),
              Angle(-90.0, 45.0, 90.0, 0x0124)]
G = 9.80665


pytestmark = pytest.mark.watchdog(60)


def feed_chunks(parser, data: bytes, sizes, flush: bool = False) -> list:
    """Feed ``data`` in chunks of ``sizes`` (cycled); ``flush`` as a quiet line would."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)] if sizes else len(data)
        out += parser.feed(data[i:i + n])
        i, k = i + n, k + 1
    return out + parser.flush() if flush else out


def feed_with_ends(parser, data: bytes, sizes) -> list[tuple]:
    """:func:`feed_chunks` with ``flush``: each frame with the end of the bytes read when
    it came out (the offset in ``data``)."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)] if sizes else len(data)
        out += [(f, min(i + n, len(data))) for f in parser.feed(data[i:i + n])]
        i, k = i + n, k + 1
    return out + [(f, len(data)) for f in parser.flush()]


def accounted(p: WitmotionParser) -> bool:
    return p.bytes_in == 11 * p.frames + p.skipped_bytes + p.pending


# --- documented packets ---------------------------------------------------------------------

def test_documented_packets_decode_and_encode():
    assert WitmotionParser().feed(DOC_STREAM) == DOC_FRAMES
    assert encode_acceleration(0.0, 0.0, 1.0, 25.0) == ACCEL
    assert encode_angular_rate(-GYRO_DPS, 0.0, 125.0, 2500) == GYRO
    assert encode_angle(-90.0, 45.0, 90.0, 0x0124) == ANGLE
    assert [encode_frame(f) for f in DOC_FRAMES] == [TIME, ACCEL, GYRO, ANGLE]
    # 180 deg and -180 deg are the same count; values beyond the range saturate
    assert encode_angle(0, 0, 180.0)[6:8] == encode_angle(0, 0, -180.0)[6:8] == b"\x00\x80"
    assert encode_acceleration(20.0, -20.0, 0)[2:6] == bytes.fromhex("ff 7f 00 80")


def test_documented_host_commands():
    assert unlock_command() == bytes.fromhex("ff aa 69 88 b5")
    assert save_command() == bytes.fromhex("ff aa 00 00 00")
    assert rate_command(200) == bytes.fromhex("ff aa 03 0b 00")
    assert rate_command(10) == bytes.fromhex("ff aa 03 06 00")
    assert baud_command(115200) == bytes.fromhex("ff aa 04 06 00")
    assert baud_command(9600) == bytes.fromhex("ff aa 04 02 00")
    stream = b"\x00\xff" + unlock_command() + rate_command(0.2) + b"\xff"
    p = CommandParser()
    got = [c for b in stream for c in p.feed(bytes([b]))]
    assert got == [Command(0x69, 0xB588), Command(0x03, 0x01)]
    assert p.skipped_bytes == 2


def test_every_split_point_and_joined_reads():
    for cut in range(len(DOC_STREAM) + 1):
        p = WitmotionParser()
        assert p.feed(DOC_STREAM[:cut]) + p.feed(DOC_STREAM[cut:]) == DOC_FRAMES, cut
    p = WitmotionParser()
    assert [f for b in DOC_STREAM for f in p.feed(bytes([b]))] == DOC_FRAMES
    assert WitmotionParser().feed(DOC_STREAM * 3) == DOC_FRAMES * 3
    assert p.counters() == {"frames": 4, "bytes_in": 44, "skipped_bytes": 0}


def test_bad_frames_counted_by_reason():
    bad_sum = ANGLE[:10] + bytes([ANGLE[10] ^ 0x10])
    p = WitmotionParser()
    got = p.feed(b"\x01\x02" + bad_sum + b"\x55\x99" + ACCEL + GYRO)
    assert got == DOC_FRAMES[1:3]
    assert p.bad == {"checksum": 1, "unknown_type": 1}
    assert p.skipped_bytes == 2 + 11 + 2 and accounted(p)
    # a good packet followed by bytes that cannot start a packet is not trusted ...
    p = WitmotionParser()
    assert p.feed(ACCEL + b"\x00\x01" + GYRO) == [DOC_FRAMES[2]]
    assert p.bad["unconfirmed"] == 1
    # ... but one that ends the read is (the last packet of an output burst)
    assert WitmotionParser().feed(ACCEL) == [DOC_FRAMES[1]]


def test_lost_byte_does_not_make_a_false_packet():
    # Find a temperature for which dropping one byte of an acceleration packet leaves
    # a window whose 8-bit sum matches the next packet's 0x55 header (the dropped byte
    # must be odd for that: the window's sum is twice the packet's sum minus it).
    for t_raw in range(2000, 3000):
        pkt = encode_acceleration(0.5, -513 * ACCEL_G, 1.0, t_raw / 100)
        shifted = pkt[:4] + pkt[5:] + b"\x55"
        if sum(shifted[:10]) & 0xFF == shifted[10]:
            break
    else:
        pytest.fail("no such temperature")
    stream = GYRO + pkt[:4] + pkt[5:] + ANGLE + ACCEL
    for sizes in ([], [1], [21], [22]):  # whole, byte by byte, cut right after the window
        p = WitmotionParser()
        got = feed_chunks(p, stream, sizes)
        assert got == [DOC_FRAMES[2], DOC_FRAMES[3], DOC_FRAMES[1]], sizes
        assert p.bad["unconfirmed"] == 1 and accounted(p)


def test_packet_with_0x55_sum_waits_for_next_byte_or_quiet_line():
    version = next(v for v in range(300) if encode_angle(45.0, 0.0, 0.0, v)[10] == 0x55)
    pkt, frame = encode_angle(45.0, 0.0, 0.0, version), Angle(45.0, 0.0, 0.0, version)
    p = WitmotionParser()
    assert p.feed(pkt) == [] and p.pending == 11
    assert p.feed(ACCEL[:1]) == [frame]
    p = WitmotionParser()
    p.feed(pkt)
    assert p.flush() == [frame] and p.flush() == []
    assert p.frames == 1 and accounted(p)


# --- properties -----------------------------------------------------------------------------

PROPS = props(150, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(st.binary(max_size=3000), st.lists(st.integers(1, 64), max_size=8))
def test_random_bytes_never_raise_or_invent(data, sizes):
    p = WitmotionParser()
    for frame in feed_chunks(p, data, sizes, flush=True):
        packet = encode_frame(frame)
        assert packet in data and sum(packet[:10]) & 0xFF == packet[10]
    assert accounted(p)
    assert p.pending <= 10


def is_subsequence_indices(got: list, ref: list) -> list[int] | None:
    idx, k = [], 0
    for frame in got:
        while k < len(ref) and ref[k] != frame:
            k += 1
        if k == len(ref):
            return None
        idx.append(k)
        k += 1
    return idx


DAMAGE = st.tuples(st.sampled_from(["insert", "replace", "delete"]), st.integers(0, 10**6),
                   st.binary(min_size=1, max_size=16))


@PROPS
@given(st.integers(0, 2**16), st.lists(DAMAGE, min_size=1, max_size=3),
       st.lists(st.integers(1, 40), max_size=6))
def test_damaged_stream_gives_only_original_frames_and_resyncs(seed, damage, sizes):
    clean = sample_stream(30, seed)
    ref = feed_chunks(WitmotionParser(), clean, [], flush=True)
    assert len(ref) == 30
    data = bytearray(clean)
    may_lose = set()
    by_pos = {pos % len(clean): (op, blob) for op, pos, blob in damage}  # one op per byte
    for pos, (op, blob) in sorted(by_pos.items(), reverse=True):
        if op == "insert":
            data[pos:pos] = blob
        elif op == "replace":
            data[pos] = blob[0]
        else:
            del data[pos]
        may_lose |= {pos // 11 - 1, pos // 11}
    p = WitmotionParser()
    out = feed_with_ends(p, bytes(data), sizes)
    # the guarantee the module states: a damaged packet passes the 8-bit sum one time in 256,
    # and is then taken only if it ended the bytes read so far (a packet followed by bytes
    # that do not start another is refused); at most one such packet a damage
    made_up = [(f, end) for f, end in out if f not in ref]
    for frame, end in made_up:
        assert bytes(data[end - 11:end]) == encode_frame(frame), \
            "a frame that was not in the stream, and not at the end of a read, came out"
    assert len(made_up) <= len(by_pos)
    idx = is_subsequence_indices([f for f, _ in out if f in ref], ref)
    assert idx is not None, "the stream's frames came out of order or twice"
    assert set(range(30)) - may_lose <= set(idx), "frames away from the damage were lost"
    assert accounted(p)
    if bytes(data) != clean:  # the damage shows in the counters
        assert p.skipped_bytes > 0 or p.pending > 0


def test_quaternion_matches_reference():
    rng = np.random.default_rng(5)
    for roll, pitch, yaw in rng.uniform(-3, 3, (50, 3)) * (1, 0.5, 1):
        ref = Rotation.from_euler("ZYX", [yaw, pitch, roll]).as_quat()
        q = np.array(euler_zyx_quaternion(roll, pitch, yaw))
        assert np.allclose(q, ref) or np.allclose(q, -ref)


# --- emulator -------------------------------------------------------------------------------

def run(emu, seconds, dt, t0=0.0):
    for k in range(1, round(seconds / dt) + 1):
        emu.update(t0 + k * dt, (0, 0, 0), (0, 0, G), 0, 0, 0)
    return emu.drain()


def test_emulator_rate_lock_and_save():
    emu = WitmotionImuEmulator()
    assert len(WitmotionParser().feed(run(emu, 1.0, 0.005))) == 30  # 10 Hz, 3 packets
    emu.host_bytes(rate_command(50))  # locked: ignored
    assert emu.rate_hz == 10.0 and emu.ignored_commands == 1
    emu.host_bytes(unlock_command() + rate_command(50) + baud_command(115200))
    assert (emu.rate_hz, emu.baud, emu.saved) == (50.0, 115200, False)
    emu.host_bytes(save_command())
    assert emu.saved
    before = emu.cycles
    run(emu, 1.0, 0.005, t0=1.0)
    assert emu.cycles - before == 50
    run(emu, 10.5, 0.5, t0=2.0)  # the unlock has expired
    emu.host_bytes(rate_command(200))
    assert emu.rate_hz == 50.0 and emu.ignored_commands == 2
    emu = WitmotionImuEmulator(magnetic=True)
    frames = WitmotionParser().feed(run(emu, 0.1, 0.1))
    assert [type(f) for f in frames] == [Acceleration, AngularRate, Angle, OtherPacket]


def test_emulator_values_quantised():
    emu = WitmotionImuEmulator()
    emu.update(0.0, (0.1, -0.2, 3.0), (1.0, -2.0, 30.0), 0.3, -0.2, -3.0)
    acc, gyro, ang = WitmotionParser().feed(emu.drain())
    assert np.allclose(np.array(acc[:3]) * G, (1.0, -2.0, 30.0), atol=ACCEL_G * G / 2)
    assert np.allclose(np.radians(gyro[:3]), (0.1, -0.2, 3.0), atol=math.radians(GYRO_DPS) / 2)
    assert np.allclose(np.radians(ang[:3]), (0.3, -0.2, -3.0), atol=math.radians(ANGLE_DEG) / 2)


def test_sample_stream_is_valid():
    data = sample_stream(1000, seed=2)
    p = WitmotionParser()
    assert len(data) == 11000 and len(p.feed(data)) == 1000
    assert p.skipped_bytes == 0 and not p.bad
    assert b"\x55" in b"".join(data[k * 11 + 2:k * 11 + 10] for k in range(1000))


# --- driver end to end: emulator -> pty -> serial -> driver -> zmq -> subscriber ----------

class Rig:
    """An emulator on a pseudo-terminal, the real driver on the serial port, a zmq subscriber."""

    def __init__(self, tmp_path, params: dict, *, mount_yaw=0.0, faults=None, rate_hz=10.0):
        self.link = PtyLink()
        self.emu = WitmotionImuEmulator(rate_hz, faults, seed=11)
        self.port = serial.serial_for_url(self.link.path, baudrate=9600, timeout=0.2)
        self.clock = WallClock()
        self.bus = ZmqBus(self.clock, publisher_id=1, run_dir=tmp_path)
        self.rx = ZmqBus(self.clock, publisher_id=2, run_dir=tmp_path)
        spec = DriverSpec(kind="witmotion_imu", port=self.link.path, frame_id="imu_link",
                          mount=(0.1, 0.0, mount_yaw), timeout_s=0.2)
        params = schema.build(WitmotionParams, {"command_gap_s": 0.0, **params}, source="test")
        self.driver = WitmotionImuDriver("imu", spec, params, self.bus, self.clock)
        self.t = 0.0
        self.got: list = []
        self.first_seq = 1

    def start(self):
        self.driver.start(self.port)
        self.emu.host_bytes(self.link.read())
        self.sub = self.rx.subscribe("sensor/imu", "imu", QoS.queue(10000))

    def step(self, dt, truth):
        self.t += dt
        self.emu.update(self.t, *truth)
        data = self.emu.drain()
        if data:
            assert self.link.write(data) == len(data)
            chunk = self.port.read(len(data))
            assert len(chunk) == len(data)
            self.driver.handle_bytes(chunk, self.clock.now_ns())

    def join(self, dt, truth):
        """Run until the subscriber hears the driver (zmq slow joiner); keep what it heard."""
        end = time.monotonic() + 5
        while not self.sub.wait(0.01):
            assert time.monotonic() < end, "subscriber never joined"
            self.step(dt, truth)
        self.got = self.sub.take()
        self.first_seq = self.got[0].header.seq

    def collect(self):
        """Everything the driver published so far, as received by the subscriber."""
        end = time.monotonic() + 5
        while self.sub.counters.received < self.driver.stats["published"] - self.first_seq + 1:
            assert time.monotonic() < end, f"lost messages: {self.sub.counters}"
            self.sub.wait(0.05)
            self.got += self.sub.take()
        self.got += self.sub.take()
        return self.got

    def close(self):
        self.port.close()
        self.link.close()
        self.rx.close()
        self.bus.close()


@pytest.fixture
def rigs(tmp_path):
    n = itertools.count()
    with closing_all(lambda *args, **kw: Rig(tmp_path / str(next(n)), *args, **kw)) as make:
        yield make


def truth_pair(mount):
    """Robot-frame truth and what a sensor mounted at yaw ``mount`` measures."""
    gyro_b, accel_b = np.array([0.1, -0.2, 0.5]), np.array([0.3, -0.4, G])
    r_body = Rotation.from_euler("ZYX", [1.0, -0.1, 0.05])
    r_mount = Rotation.from_euler("z", mount)
    yaw, pitch, roll = (r_body * r_mount).as_euler("ZYX")
    sensor = (r_mount.inv().apply(gyro_b), r_mount.inv().apply(accel_b), roll, pitch, yaw)
    return (gyro_b, accel_b, r_body.as_quat()), sensor


def check_values(msgs, expected):
    gyro_b, accel_b, quat = expected
    assert msgs
    for msg in msgs:
        f = msg.fixed
        assert np.allclose(f["gyro"], gyro_b, atol=math.radians(GYRO_DPS), rtol=0)
        assert np.allclose(f["accel"], accel_b, atol=ACCEL_G * G, rtol=0)
        q = f["orientation"]
        assert q[3] >= 0 and (np.allclose(q, quat, atol=2e-4) or np.allclose(q, -quat, atol=2e-4))


def test_end_to_end_values_in_si_units_with_mount_yaw(rigs):
    expected, sensor = truth_pair(mount=0.6)
    rig = rigs({}, mount_yaw=0.6)
    rig.start()
    rig.join(0.1, sensor)
    for _ in range(10):
        rig.step(0.1, sensor)
    msgs = rig.collect()
    assert len(msgs) >= 11 and msgs[-1].header.seq == rig.driver.stats["published"]
    check_values(msgs, expected)
    assert all(m.header.frame_id == "imu_link" for m in msgs)
    stamps = [m.header.stamp_ns for m in msgs]
    assert stamps == sorted(stamps)
    assert not rig.driver.parser.bad and rig.emu.cycles == rig.driver.stats["published"]


def test_start_sets_rate_and_baud(rigs):
    rig = rigs({"output_rate_hz": 50, "set_baud": 115200, "command_gap_s": 0.01})
    rig.start()
    assert (rig.emu.rate_hz, rig.emu.baud, rig.emu.saved) == (50.0, 115200, True)
    assert rig.port.baudrate == 115200 and rig.driver.stats["commands"] == 6
    _, sensor = truth_pair(mount=0.0)
    for _ in range(200):
        rig.step(0.005, sensor)
    assert rig.emu.cycles == 50 and rig.driver.stats["published"] == 50
    plain = rigs({})
    plain.start()
    assert plain.link.read() == b"" and plain.emu.rate_hz == 10.0
    with pytest.raises(ConfigError, match="output_rate_hz"):
        schema.build(WitmotionParams, {"output_rate_hz": 30}, source="test")
    with pytest.raises(ConfigError, match="set_baud"):
        schema.build(WitmotionParams, {"set_baud": 14400}, source="test")


def test_end_to_end_faults_counted_skipped_and_silence(rigs):
    expected, sensor = truth_pair(mount=-1.2)
    faults = Faults(garbage_rate=0.3, corrupt_rate=0.2, drop_rate=0.003)
    rig = rigs({}, mount_yaw=-1.2, faults=faults)
    rig.start()
    rig.join(0.1, sensor)
    for _ in range(150):
        rig.step(0.1, sensor)
    msgs = rig.collect()
    check_values(msgs, expected)  # nothing damaged was published
    p = rig.driver.parser
    assert rig.emu.corrupted > 0 and rig.emu.garbage_bytes > 0 and rig.emu.dropped_bytes > 0
    assert p.bad["checksum"] > 0 and p.skipped_bytes >= rig.emu.garbage_bytes
    assert rig.driver.stats["published"] > 0.5 * rig.emu.cycles
    # silence: no bytes, and the driver reports one timeout per silent spell
    rig.emu.set_faults(Faults(silent=True))
    n_in = p.bytes_in
    for _ in range(5):
        rig.step(0.1, sensor)
    assert p.bytes_in == n_in
    now = rig.clock.now_ns()
    rig.driver.service(rig.port, now)
    assert rig.driver.stats["timeouts"] == 0  # the last bytes arrived < timeout_s ago
    rig.driver.service(rig.port, now + int(0.3e9))
    rig.driver.service(rig.port, now + int(0.6e9))
    assert rig.driver.stats["timeouts"] == 1
    rig.emu.set_faults(Faults())
    rig.step(0.1, sensor)
    assert p.bytes_in > n_in


def test_driver_releases_held_packet_when_line_is_quiet():
    hub, clock = MemoryHub(), SimClock(0)
    bus, rx = MemoryBus(clock, publisher_id=1, hub=hub), MemoryBus(clock, publisher_id=2, hub=hub)
    sub = rx.subscribe("imu/raw", "imu", QoS.queue(10))
    params = schema.build(WitmotionParams, {"topic": "imu/raw"}, source="test")
    driver = WitmotionImuDriver("imu", DriverSpec(kind="witmotion_imu", port="loop://"),
                                params, bus, clock)
    driver.handle_bytes(ANGLE, 1_000)
    assert driver.stats["incomplete"] == 1 and driver.stats["published"] == 0
    version = next(v for v in range(300) if encode_angle(0.0, 0.0, 90.0, v)[10] == 0x55)
    driver.handle_bytes(ACCEL + GYRO + encode_angle(0.0, 0.0, 90.0, version), 5_000)
    driver.service(None, 5_000 + QUIET_NS - 1)
    assert driver.stats["published"] == 0
    driver.service(None, 5_000 + QUIET_NS)
    assert driver.stats["published"] == 1 and sub.poll() == 1
    msg = sub.take()[0]
    assert msg.header.stamp_ns == 5_000
    assert np.allclose(msg.fixed["gyro"], (math.radians(-GYRO_DPS), 0, math.radians(125)))
    assert np.allclose(msg.fixed["accel"], (0, 0, G))
    assert np.allclose(msg.fixed["orientation"], (0, 0, math.sqrt(0.5), math.sqrt(0.5)))
    driver.handle_bytes(ANGLE, 9_000)  # no new 0x51/0x52 in this cycle: reused, counted
    assert driver.stats["published"] == 2 and driver.stats["stale"] == 1
    bus.close()
    rx.close()
