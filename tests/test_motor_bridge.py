"""Motor bridge: protocol and parser, emulator, driver over a pty and ZMQ, and the C firmware.

The C firmware code (``drivers/firmware/motor_bridge``) is compiled with the host
compiler; its frames are compared byte for byte with the Python encoder, the same
behaviour tests run against it and the Python emulator, and the real driver runs
against it over a pseudo-terminal.  Real pipes, ptys and sockets; no mocks.
"""

from __future__ import annotations

import math
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import serial
from helpers import closing_all
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import WallClock
from robo_orch.driver import DriverSpec
from robo_orch.drivers import motor_bridge_protocol as mp
from robo_orch.drivers.motor_bridge import MotorBridgeDriver, MotorBridgeParams
from robo_orch.drivers.motor_bridge_protocol import (
    BridgeParser,
    Config,
    EncoderCounts,
    Estop,
    Heartbeat,
    Hello,
    RequestHello,
    ResetFaults,
    SetWheelVelocity,
    Status,
    cobs_decode,
    cobs_encode,
    crc16,
    encode_frame,
    encode_message,
)
from robo_orch.planar import wheel_speeds
from robo_orch.sim.emulators.base import Faults, PtyLink
from robo_orch.sim.emulators.motor_bridge import MotorBridgeEmulator, sample_stream

FIRMWARE = Path(__file__).resolve().parents[1] / "drivers" / "firmware" / "motor_bridge"
SETTINGS = settings(deadline=None, max_examples=150)
TICKS_PER_M = 1440 / (2 * math.pi * 0.05)


pytestmark = pytest.mark.watchdog(60)


# --- 1. protocol, from PROTOCOL.md ------------------------------------------------------

DOC_FRAMES = [  # (message, wire bytes) exactly as in PROTOCOL.md "Example frames"
    (SetWheelVelocity(1, 250, -250), "04 01 01 fa 05 06 ff 51 a2 00"),
    (Heartbeat(2), "05 02 02 2f 5b 00"),
    (Estop(3, 1), "06 03 03 01 be d0 00"),
    (Config(4, 500, 20, 500, 0), "06 04 04 f4 01 14 03 f4 01 01 03 cb 54 00"),
    (ResetFaults(5, 0x00F0), "04 05 05 f0 03 b4 c0 00"),
    (RequestHello(6), "05 06 06 6f d7 00"),
    (Hello(0, 1, 1, 0, 500, 20, 500, 0, 2000),
     "02 81 03 01 01 04 f4 01 14 03 f4 01 01 05 d0 07 cd e5 00"),
    (EncoderCounts(17, 123456, 1000, -2), "06 82 11 40 e2 01 03 e8 03 01 07 fe ff ff ff a8 77 00"),
    (Status(18, 123460, 12150, 0x0001, 0, 0, 42, 300, 1, 0, 0),
     "06 83 12 44 e2 01 04 76 2f 01 01 01 01 01 05 2a 2c 01 01 01 01 01 01 03 6b 22 00"),
]
DEVICE_DOC = [(m, bytes.fromhex(h)) for m, h in DOC_FRAMES if type(m) in mp.DEVICE_MESSAGES]
HOST_DOC = [(m, bytes.fromhex(h)) for m, h in DOC_FRAMES if type(m) in mp.HOST_MESSAGES]


def crc_reference(data: bytes) -> int:
    """CRC-16/CCITT-FALSE bit by bit, straight from its definition."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_crc_check_value_and_reference():
    assert crc16(b"123456789") == 0x29B1 == crc_reference(b"123456789")
    rng = np.random.default_rng(1)
    for n in (0, 1, 7, 36, 300):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc16(data) == crc_reference(data)


def test_documented_frames_encode_parse_and_appear_in_the_doc():
    doc = (FIRMWARE / "PROTOCOL.md").read_text()
    for msg, wire in DEVICE_DOC + HOST_DOC:
        assert encode_message(msg) == wire
        assert f"`{wire.hex(' ')}`" in doc
    dev, host = BridgeParser("device"), BridgeParser("host")
    assert dev.feed(b"".join(w for _, w in DEVICE_DOC)) == [m for m, _ in DEVICE_DOC]
    assert host.feed(b"".join(w for _, w in HOST_DOC)) == [m for m, _ in HOST_DOC]
    # each side rejects the other side's frames as unknown types
    assert dev.feed(b"".join(w for _, w in HOST_DOC)) == []
    assert dev.bad["unknown_type"] == len(HOST_DOC)


def test_cobs_edge_cases():
    assert cobs_encode(b"") == b"\x01"
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x11\x00\x22") == b"\x02\x11\x02\x22"
    assert cobs_encode(b"\x01" * 254) == b"\xff" + b"\x01" * 254 + b"\x01"
    assert cobs_encode(b"\x01" * 255) == b"\xff" + b"\x01" * 254 + b"\x02\x01"
    for n in (0, 1, 253, 254, 255, 256, 508, 509):
        for data in (b"\x07" * n, b"\x00" * n, b"\x07" * n + b"\x00", b"\x00" + b"\x07" * n):
            enc = cobs_encode(data)
            assert b"\x00" not in enc and cobs_decode(enc) == data
    assert cobs_decode(b"\x03\x01") is None  # block runs past the end


runs = st.lists(st.one_of(st.binary(max_size=12), st.just(b"\x00"),
                          st.integers(250, 260).map(lambda n: b"\x5a" * n)), max_size=8)


@SETTINGS
@given(parts=runs)
def test_cobs_round_trip(parts):
    data = b"".join(parts)
    enc = cobs_encode(data)
    assert b"\x00" not in enc
    assert len(enc) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(enc) == data


# --- 2. parser ----------------------------------------------------------------------------

def test_split_at_every_point_byte_at_a_time_and_joined():
    stream = b"".join(w for _, w in DEVICE_DOC)
    expected = [m for m, _ in DEVICE_DOC]
    for cut in range(len(stream) + 1):
        p = BridgeParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == expected
        assert not p.bad
    p = BridgeParser()
    assert [f for b in stream for f in p.feed(bytes([b]))] == expected
    assert p.feed(stream * 3) == expected * 3 and p.frames == 4 * len(expected)


def test_bad_frames_counted_by_reason():
    p = BridgeParser()
    good = encode_message(EncoderCounts(1, 2, 3, 4))
    longer = encode_frame(0x82, 9, bytes(range(1, 13)) + b"\x63\x64")  # appended fields: ok
    short = encode_frame(0x82, 9, b"\x01\x02")
    overlong = b"\x11" * 300 + b"\x00"
    bad_crc = bytearray(good)
    bad_crc[3] ^= 0x40
    frames = p.feed(overlong + short + b"\x01\x00" + longer + b"\x00\x00" + bytes(bad_crc)
                    + b"\x09\x01\x00" + encode_frame(0x01, 1, b"1234") + good)
    assert frames == [EncoderCounts(9, 0x04030201, 0x08070605, 0x0C0B0A09),
                      EncoderCounts(1, 2, 3, 4)]
    # over-long, short payload, empty body; bad CRC; bad COBS; a host message
    assert p.bad == {"length": 3, "crc": 1, "cobs": 1, "unknown_type": 1}
    assert p.skipped_bytes == 300


def reference_frames(data: bytes, source: str = "device") -> list:
    """Slow, obviously correct decoding of complete frames in ``data``."""
    classes = mp.DEVICE_MESSAGES if source == "device" else mp.HOST_MESSAGES
    out = []
    for seg in data.split(b"\x00")[:-1]:
        body = cobs_decode(seg) if 0 < len(seg) <= mp.MAX_ENCODED else None
        if body is None or len(body) < 4 or crc_reference(body[:-2]) != int.from_bytes(
                body[-2:], "little"):
            continue
        for cls in classes:
            type_id, layout = mp.LAYOUTS[cls]
            if body[0] == type_id and len(body) - 4 >= layout.size:
                out.append(cls(body[1], *layout.unpack_from(body, 2)))
    return out


def feed_in_chunks(parser: BridgeParser, data: bytes, cuts: list[int]) -> list:
    out, pos = [], 0
    for n in cuts:
        out += parser.feed(data[pos:pos + n])
        pos += n
    return out + parser.feed(data[pos:])


@SETTINGS
@given(data=st.binary(max_size=1500), cuts=st.lists(st.integers(1, 80), max_size=30))
def test_random_bytes_never_raise_and_match_the_reference(data, cuts):
    assert feed_in_chunks(BridgeParser(), data, cuts) == reference_frames(data)


FRAMES = [encode_message(m) for m in BridgeParser().feed(sample_stream(40, seed=3))]


@SETTINGS
@given(st.data())
def test_damaged_stream_yields_no_false_frame_and_resyncs(data):
    starts = np.cumsum([0] + [len(f) for f in FRAMES])
    stream = bytearray(b"".join(FRAMES))
    damaged = set()
    edits = data.draw(st.lists(st.tuples(st.sampled_from(["flip", "delete", "insert"]),
                                         st.integers(0, len(stream) - 1),
                                         st.binary(min_size=1, max_size=12)),
                               max_size=4, unique_by=lambda e: e[1]))
    for kind, pos, garbage in sorted(edits, key=lambda e: -e[1]):  # back to front
        frame = int(np.searchsorted(starts, pos, side="right")) - 1
        damaged.add(frame)
        if pos == starts[frame + 1] - 1 and kind != "insert":
            damaged.add(frame + 1)  # its delimiter: merges with the next frame
        if kind == "flip":
            stream[pos] ^= garbage[0] or 1
        elif kind == "delete":
            del stream[pos]
        else:
            stream[pos:pos] = garbage
    parser = BridgeParser()
    cuts = data.draw(st.lists(st.integers(1, 64), max_size=40))
    stream += b"\x00"  # the next frame's delimiter ends whatever the damage left open
    got = [encode_message(f) for f in feed_in_chunks(parser, bytes(stream), cuts)]
    assert set(got) <= set(FRAMES)  # no false frame
    intact = [f for i, f in enumerate(FRAMES) if i not in damaged]
    assert [f for f in got if f in intact] == intact  # everything undamaged recovered
    if len(got) < len(FRAMES):
        assert sum(parser.bad.values()) >= 1  # what was lost was counted


# --- 3. emulator alone (simulated time) -------------------------------------------------

def run_emulator(em: MotorBridgeEmulator, t0: float, t1: float, parser: BridgeParser | None = None,
                 dt: float = 0.005) -> list:
    """Step the emulator with ideal wheels from t0 to t1; the frames it sent."""
    parser = parser or BridgeParser()
    out, t = [], t0
    while t < t1 - 1e-9:
        t += dt
        em.update(t, *em.wheel_command(t))
        out += parser.feed(em.drain())
    return out


def test_emulator_deadman_uses_simulated_time():
    em = MotorBridgeEmulator(deadman_ms=500)
    em.host_bytes(encode_message(SetWheelVelocity(1, 300, 300)))
    assert em.wheel_command(100.0) == (0.3, 0.3)  # the command is stamped at t = 100 s
    assert em.wheel_command(100.5) == (0.3, 0.3)
    assert em.wheel_command(100.501) == (0.0, 0.0)
    assert em.fault_flags & mp.FAULT_DEADMAN
    em.host_bytes(encode_message(Heartbeat(2)))
    assert em.wheel_command(100.6) == (0.0, 0.0)  # a heartbeat alone does not resume
    assert not em.fault_flags & mp.FAULT_DEADMAN


def test_emulator_undervoltage_and_overcurrent():
    em = MotorBridgeEmulator(battery_v=10.2)
    em.host_bytes(encode_message(Config(1, 500, 20, 500, 10500))
                  + encode_message(SetWheelVelocity(2, 100, 100)))
    frames = run_emulator(em, 0.0, 0.1)
    assert any(isinstance(f, Status) and f.faults & mp.FAULT_UNDERVOLTAGE
               and f.battery_mv == 10200 for f in frames)
    assert em.wheel_command(0.1) == (0.0, 0.0)
    em.battery_v = 10.6  # inside the hysteresis band: still under
    run_emulator(em, 0.1, 0.2)
    assert em.fault_flags & mp.FAULT_UNDERVOLTAGE
    em.battery_v = 10.8
    em.host_bytes(encode_message(SetWheelVelocity(3, 100, 100)))  # held: not stored
    run_emulator(em, 0.2, 0.25)
    assert not em.fault_flags & mp.FAULT_UNDERVOLTAGE and em.wheel_command(0.25) == (0.0, 0.0)
    em.host_bytes(encode_message(SetWheelVelocity(4, 100, 100)))
    assert em.wheel_command(0.3) == (0.1, 0.1)
    em.raise_fault(mp.FAULT_OVERCURRENT)
    assert em.wheel_command(0.3) == (0.0, 0.0)
    em.host_bytes(encode_message(SetWheelVelocity(5, 100, 100)))
    assert em.wheel_command(0.31) == (0.0, 0.0)  # latched until reset


def test_emulator_corrupt_frames_fail_the_crc():
    em = MotorBridgeEmulator(faults=Faults(corrupt_rate=1.0))
    parser = BridgeParser()
    assert run_emulator(em, 0.0, 1.0, parser) == []
    assert em.corrupted > 50 and parser.bad == {"crc": em.corrupted}


def test_sample_stream_is_valid():
    stream = sample_stream(500, seed=1)
    frames = reference_frames(stream)
    assert len(frames) == 500 and BridgeParser().feed(stream) == frames


# --- 4. the C firmware code and the Python emulator: one contract ------------------------

class Build(NamedTuple):
    exe: Path  #: host_harness
    cc: str  #: the compiler that built it


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Build:
    """host_harness built from the firmware sources with the host C compiler."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) found: the firmware code is not tested")
    exe = tmp_path_factory.mktemp("motor_bridge_c") / "host_harness"
    proc = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-o", str(exe),
                           str(FIRMWARE / "host_harness.c"), str(FIRMWARE / "bridge_protocol.c")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return Build(exe, cc)


def test_firmware_code_needs_no_host_headers(harness, tmp_path):
    """bridge_protocol.c builds freestanding: only the compiler's own stddef.h and stdint.h."""
    cc = harness.cc
    include = subprocess.run([cc, "-print-file-name=include"], capture_output=True,
                             text=True).stdout.strip()
    if not include or not (Path(include) / "stdint.h").exists():
        pytest.skip(f"{cc} does not report its freestanding include directory")
    proc = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                           "-ffreestanding", "-nostdinc", "-isystem", include, "-c",
                           str(FIRMWARE / "bridge_protocol.c"), "-o", str(tmp_path / "bp.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    source = "".join((FIRMWARE / name).read_text() for name in ("bridge_protocol.c",
                                                                 "bridge_protocol.h"))
    includes = {line.split()[1] for line in source.splitlines() if line.startswith("#include")}
    assert includes == {'"bridge_protocol.h"', "<stddef.h>", "<stdint.h>"}
    assert "alloc(" not in source


def c_encode(harness: Build, lines: list[str]) -> list[str]:
    proc = subprocess.run([str(harness.exe), "encode"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split("\n")[:-1]
    assert len(out) == len(lines)
    return out


def hexs(data: bytes) -> str:
    return data.hex() or "-"


def test_c_frames_equal_python_frames_byte_for_byte(harness):
    rng = np.random.default_rng(7)
    lines, expected = [], []

    def case(line: str, want: bytes | None) -> None:
        lines.append(line)
        expected.append("error" if want is None else hexs(want))

    case("crc " + b"123456789".hex(), bytes.fromhex("29b1"))
    for n in (0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 1000):
        for data in (b"\x07" * n, b"\x00" * n, b"\x07" * n + b"\x00", b"\x00" + b"\x07" * n,
                     rng.integers(0, 3, n, dtype=np.uint8).tobytes(),
                     rng.integers(0, 256, n, dtype=np.uint8).tobytes()):
            case("cobs " + hexs(data), cobs_encode(data))
            case("crc " + hexs(data), crc16(data).to_bytes(2, "big"))
            case("decode " + hexs(cobs_encode(data)), data)
    for _ in range(200):  # random code sequences: both sides agree on what is valid COBS
        junk = rng.integers(1, 8, int(rng.integers(1, 12)), dtype=np.uint8).tobytes()
        case("decode " + hexs(junk), cobs_decode(junk))
    for msg, wire in DEVICE_DOC + HOST_DOC:
        type_id, layout = mp.LAYOUTS[type(msg)]
        case(f"frame {type_id} {msg.seq} {hexs(layout.pack(*msg[1:]))}", wire)
    for _ in range(150):
        seq, ms = int(rng.integers(256)), int(rng.integers(2**32))
        left, right = (int(x) for x in rng.integers(-2**31, 2**31, 2))
        case(f"encoders {seq} {ms} {left} {right}", encode_message(
            EncoderCounts(seq, ms, left, right)))
        u16 = [int(x) for x in rng.integers(0, 2**16, 8)]
        i16 = [int(x) for x in rng.integers(-2**15, 2**15, 2)]
        st_msg = Status(seq, ms, u16[0], u16[1], i16[0], i16[1], int(rng.integers(256)),
                        *u16[2:6])
        case("status " + " ".join(str(v) for v in st_msg), encode_message(st_msg))
        case(f"hello {seq} {' '.join(map(str, u16[:4]))}",
             encode_message(Hello(seq, 1, 1, 0, *u16[:4], 2000)))
        payload = rng.integers(0, 3, int(rng.integers(0, 33)), dtype=np.uint8).tobytes()
        type_id = int(rng.integers(256))
        case(f"frame {type_id} {seq} {hexs(payload)}", encode_frame(type_id, seq, payload))
    case("frame 1 1 " + "01" * 33, None)  # longer than the longest payload
    assert c_encode(harness, lines) == expected


class EmulatedDevice:
    """The Python emulator with ideal wheels, advanced in simulated time."""

    name = "python"

    def __init__(self) -> None:
        self.em = MotorBridgeEmulator()
        self.parser = BridgeParser()
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def send(self, data: bytes) -> None:
        self.em.host_bytes(data)

    def pump(self) -> list:
        self.t += 0.005
        self.em.update(self.t, *self.em.wheel_command(self.t))
        return self.parser.feed(self.em.drain())

    def close(self) -> None:
        pass


class FirmwareDevice:
    """bridge_protocol.c in host_harness over pipes, in real time."""

    name = "c"

    def __init__(self, harness: Build) -> None:
        self.proc = subprocess.Popen([str(harness.exe), "run", "--max-seconds", "40"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.fd = self.proc.stdout.fileno()
        self.parser = BridgeParser()
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def pump(self) -> list:
        ready, _, _ = select.select([self.fd], [], [], 0.005)
        return self.parser.feed(os.read(self.fd, 4096)) if ready else []

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(params=["python", "c"])
def device(request):
    dev = (EmulatedDevice() if request.param == "python"
           else FirmwareDevice(request.getfixturevalue("harness")))
    yield dev
    dev.close()


class Host:
    """Drives a device with the Python encoder; keeps every frame it sent back."""

    def __init__(self, dev) -> None:
        self.dev = dev
        self.seq = 0
        self.frames: list = []
        self.keepalive: tuple[int, int] | None = None  # wheel set-points re-sent every 20 ms

    def send(self, msg) -> int:
        self.seq = (self.seq + 1) & 0xFF
        self.dev.send(encode_message(msg._replace(seq=self.seq)))
        return self.seq

    def run_until(self, done, timeout: float = 8.0) -> None:
        start = last = self.dev.now()
        while not done():
            now = self.dev.now()
            assert now - start < timeout, f"{self.dev.name}: timed out; last frames " \
                                          f"{self.frames[-3:]}"
            if self.keepalive is not None and now - last >= 0.02:
                self.send(SetWheelVelocity(0, *self.keepalive))
                last = now
            self.frames += self.dev.pump()

    def status(self) -> Status | None:
        return next((f for f in reversed(self.frames) if isinstance(f, Status)), None)

    def wait_status(self, check, timeout: float = 8.0) -> Status:
        mark = len(self.frames)
        self.run_until(lambda: any(isinstance(f, Status) and check(f)
                                   for f in self.frames[mark:]), timeout)
        return next(f for f in self.frames[mark:] if isinstance(f, Status) and check(f))


def moving_host(dev, left: int = 200, right: int = -100) -> Host:
    host = Host(dev)
    host.send(Config(0, 500, 10, 50, 0))
    host.send(ResetFaults(0, mp.FAULTS_DIAGNOSTIC))
    host.keepalive = (left, right)
    host.wait_status(lambda s: (s.applied_left_mm_s, s.applied_right_mm_s) == (left, right))
    return host


def test_contract_config_hello_and_boot_flag(device):
    host = Host(device)
    host.run_until(lambda: host.status() is not None)
    assert isinstance(host.frames[0], Hello) and host.frames[0].deadman_ms == 500
    assert host.status().faults == mp.FAULT_BOOT | mp.FAULT_DEADMAN
    host.send(Config(0, 5, 1, 3, 9000))  # clamped to 20 ms, 5 ms, 10 ms
    host.run_until(lambda: len([f for f in host.frames if isinstance(f, Hello)]) == 2)
    assert [f for f in host.frames if isinstance(f, Hello)][-1][1:] == (1, 1, 0, 20, 5, 10,
                                                                        9000, 2000)
    host.send(ResetFaults(0, mp.FAULTS_DIAGNOSTIC))
    host.wait_status(lambda s: not s.faults & mp.FAULT_BOOT)


def test_contract_commands_acknowledged_and_wheels_turn(device):
    host = moving_host(device, 200, -100)
    seq = host.send(SetWheelVelocity(0, 200, -100))
    host.wait_status(lambda s: s.ack_seq == seq or (s.ack_seq - seq) & 0xFF < 100)
    status = host.wait_status(lambda s: True)
    assert status.faults == 0 and status.rx_frames >= 3 and status.battery_mv == 12000
    mark = len(host.frames)
    host.run_until(lambda: sum(isinstance(f, EncoderCounts) for f in host.frames[mark:]) > 25)
    enc = [f for f in host.frames[mark:] if isinstance(f, EncoderCounts)]
    a, b = enc[0], enc[-1]
    dt = (b.device_ms - a.device_ms) * 1e-3
    for ticks, speed in ((b.left_ticks - a.left_ticks, 0.2), (b.right_ticks - a.right_ticks, -0.1)):
        assert ticks / dt == pytest.approx(speed * TICKS_PER_M, rel=0.01, abs=2 / dt)


def test_contract_deadman(device):
    host = moving_host(device)
    host.keepalive = None
    status = host.wait_status(lambda s: s.faults & mp.FAULT_DEADMAN)
    assert (status.applied_left_mm_s, status.applied_right_mm_s) == (0, 0)
    mark = len(host.frames)
    host.run_until(lambda: sum(isinstance(f, EncoderCounts) for f in host.frames[mark:]) >= 3)
    enc = [f for f in host.frames[mark:] if isinstance(f, EncoderCounts)]
    assert len({(e.left_ticks, e.right_ticks) for e in enc}) == 1  # the wheels stand still
    host.send(Heartbeat(0))  # clears DEADMAN, but does not restart the wheels
    status = host.wait_status(lambda s: not s.faults & mp.FAULT_DEADMAN)
    assert (status.applied_left_mm_s, status.applied_right_mm_s) == (0, 0)
    host.keepalive = (50, 60)
    host.wait_status(lambda s: (s.applied_left_mm_s, s.applied_right_mm_s) == (50, 60))


def test_contract_bad_frames_counted_and_ignored(device):
    host = moving_host(device, 200, -100)
    before = host.wait_status(lambda s: True)
    bad_crc = bytearray(encode_message(SetWheelVelocity(99, 999, 999)))
    bad_crc[-2] ^= 0x10  # the CRC's high byte; still valid COBS
    for frame in (bytes(bad_crc), b"\x05\x01\x00",  # COBS block past the end
                  encode_frame(0x7E, 5), encode_frame(0x01, 6, b"\x01"),  # unknown, short
                  b"\x11" * 60 + b"\x00", b"\x00\x00"):  # over-long, empty frames
        device.send(frame)
    want = (before.rx_crc_errors + 1, before.rx_framing_errors + 3, before.rx_bad_messages + 1)
    status = host.wait_status(lambda s: s.rx_bad_messages >= want[2])
    status = host.wait_status(lambda s: True)  # one more: every frame above has been taken
    assert (status.rx_crc_errors, status.rx_framing_errors, status.rx_bad_messages) == want
    flags = mp.FAULT_CRC_ERROR | mp.FAULT_FRAMING_ERROR | mp.FAULT_BAD_MESSAGE
    assert status.faults == flags
    assert (status.applied_left_mm_s, status.applied_right_mm_s) == (200, -100)
    host.send(ResetFaults(0, flags))
    status = host.wait_status(lambda s: s.faults == 0)
    assert status.rx_crc_errors == before.rx_crc_errors + 1


def test_contract_estop_latched_until_reset(device):
    host = moving_host(device, 200, -100)
    host.send(Estop(0, 1))
    status = host.wait_status(lambda s: s.faults & mp.FAULT_ESTOP)
    assert (status.applied_left_mm_s, status.applied_right_mm_s) == (0, 0)
    host.send(Estop(0, 0))  # not a reset
    mark = len(host.frames)
    host.run_until(lambda: sum(isinstance(f, Status) for f in host.frames[mark:]) >= 4)
    assert all(f.faults == mp.FAULT_ESTOP and f.applied_left_mm_s == 0
               for f in host.frames[mark:] if isinstance(f, Status))
    host.send(ResetFaults(0, mp.FAULT_ESTOP))
    host.wait_status(lambda s: s.faults == 0 and s.applied_left_mm_s == 200)


# --- 5. driver <-> device over a real pty, through the real ZMQ bus ------------------------

@pytest.fixture
def run_dir():
    path = tempfile.mkdtemp(prefix="mb-", dir="/tmp")  # ipc socket paths must stay short
    yield path
    shutil.rmtree(path, ignore_errors=True)


def subscribe_outputs(drv: MotorBridgeDriver, bus: ZmqBus) -> tuple:
    """Subscribe to the driver's two outputs and wait until both connections carry messages."""
    subs = []
    for topic, pub in sorted(drv.outputs.items()):
        sub = bus.subscribe(topic, pub.mtype.name, "queue:1000")
        end = time.monotonic() + 10.0
        while not sub.wait(0.01):
            assert time.monotonic() < end, f"no connection to {topic}"
            pub.publish(drv.record(pub.mtype.name), stamp_ns=0)
        sub.take()  # the handshake messages
        subs.append(sub)
    motor, odom = subs  # sorted: sensor/motor, sensor/odom
    return odom, motor


class Rig:
    """Driver on a pty opened by URL, the emulator on the master end, a ZMQ bus between
    the driver and the test's own publishers and subscribers.

    Simulated time advances 10 ms per :meth:`step`; the driver gets it as ``now_ns``.
    """

    def __init__(self, run_dir: str, em: MotorBridgeEmulator | None = None, **params) -> None:
        self.link = PtyLink()
        self.em = em or MotorBridgeEmulator()
        self.ser = serial.serial_for_url(self.link.path, baudrate=115200, timeout=0)
        self.bus = ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir)
        self.test_bus = ZmqBus(WallClock(), publisher_id=2, run_dir=run_dir)
        self.cmd = self.test_bus.publisher("cmd/velocity", "velocity_command")
        self.estop = self.test_bus.publisher("cmd/estop", "estop")
        self.drv = MotorBridgeDriver("base", DriverSpec(kind="motor_bridge", port=self.link.path),
                                     MotorBridgeParams(**params), self.bus, self.bus.clock)
        self.t = 0.0
        self.wheels: tuple[float, float] | None = None  # actual wheel speeds; None: ideal
        self.drv.start(self.ser)
        self.odom, self.status = subscribe_outputs(self.drv, self.test_bus)

    def step(self, command: tuple[float, float] | None = None, estop: int | None = None,
             service: bool = True) -> None:
        self.t += 0.01
        now_ns = int(self.t * 1e9)
        if command is not None:
            rec = self.drv.record("velocity_command", v=command[0], w=command[1])
            self.cmd.publish(rec, stamp_ns=now_ns)
        if estop is not None:
            self.estop.publish(self.drv.record("estop", engage=estop), stamp_ns=now_ns)
        if service:
            self.drv.service(self.ser, now_ns)
        self.em.host_bytes(self.link.read())
        wheels = self.em.wheel_command(self.t)
        self.em.update(self.t, *(self.wheels or wheels))
        self.link.write(self.em.drain())
        if select.select([self.ser.fileno()], [], [], 0.002)[0]:
            self.drv.handle_bytes(self.ser.read(self.ser.in_waiting or 1), now_ns)

    def run_until(self, done, max_steps: int = 400, **kw) -> None:
        for _ in range(max_steps):
            if done():
                return
            self.step(**kw)
        pytest.fail(f"not reached in {max_steps} steps; driver {self.drv.counters()}, "
                    f"device faults 0x{self.em.fault_flags:04x}")

    def take(self, sub) -> list:
        sub.poll()
        return sub.take()

    def close(self) -> None:
        self.ser.close()
        self.link.close()
        self.bus.close()
        self.test_bus.close()


@pytest.fixture
def rig(run_dir):
    with closing_all(lambda **kw: Rig(run_dir, **kw)) as make:
        yield make


def test_driver_configures_device_and_commands_reach_the_wheels(rig):
    r = rig(device_deadman_ms=300, encoder_rate_hz=25.0)
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.4, 0.4), command=(0.4, 0.0))
    assert r.em.config[1:] == (300, 40, 500, 0) and not r.em.latched  # CONFIG, reset BOOT
    r.run_until(lambda: r.em.wheel_command(r.t) == (-0.17, 0.17), command=(0.0, 1.0))
    r.run_until(lambda: r.drv.device is not None, command=(0.0, 1.0))
    assert r.drv.device.deadman_ms == 300 and r.drv.stats["commands_sent"] >= 3
    assert r.drv.stats["deadman_stops"] == 0 and r.drv.counters()["frames"] > 0


def test_odometry_and_status_in_si_units(rig):
    r = rig()
    r.wheels = (0.3, -0.2)
    got = []
    for _ in range(400):
        r.step(command=(0.0, 0.0))
        got += r.take(r.odom)
        if len(got) >= 60:
            break
    left = np.array([float(m.fixed["v_left"]) for m in got[5:]])
    right = np.array([float(m.fixed["v_right"]) for m in got[5:]])
    tick = 1 / TICKS_PER_M / 0.02  # one count in one 20 ms report, m/s
    assert np.all(np.abs(left - 0.3) <= tick + 1e-9) and np.all(np.abs(right + 0.2) <= tick + 1e-9)
    assert left.mean() == pytest.approx(0.3, abs=0.005)
    assert right.mean() == pytest.approx(-0.2, abs=0.005)
    assert got[-1].header.frame_id == "base"
    stamps = [m.header.stamp_ns for m in got]
    assert stamps == sorted(stamps) and stamps[-1] <= int(r.t * 1e9)
    status = r.take(r.status)
    assert status, "no motor_status"
    last = status[-1].fixed
    assert float(last["battery_v"]) == 12.0 and int(last["faults"]) == 0
    assert int(last["left_ticks"]) == pytest.approx(r.em.ticks[0], abs=0.3 * TICKS_PER_M)


def test_host_deadman_sends_zero(rig):
    r = rig(deadman_s=0.25)
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.2, 0.2), command=(0.2, 0.0))
    last_publish = r.t
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.0, 0.0))
    assert r.t >= last_publish + 0.25
    assert r.drv.stats["deadman_stops"] == 1
    assert not r.em.fault_flags & mp.FAULT_DEADMAN  # the host kept the link alive with zeros


def test_device_deadman_when_the_host_goes_quiet(rig):
    r = rig()
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.2, 0.2), command=(0.2, 0.0))
    quiet_from = r.t
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.0, 0.0), service=False)
    assert r.t >= quiet_from + 0.5  # the device's own 500 ms deadman
    r.run_until(lambda: any(int(m.fixed["faults"]) & mp.FAULT_DEADMAN for m in r.take(r.status)),
                service=False)


def test_estop_latches_until_reset(rig):
    r = rig()
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.3, 0.3), command=(0.3, 0.0))
    r.run_until(lambda: r.em.estopped, command=(0.3, 0.0), estop=1)
    for _ in range(60):  # commands keep coming: the wheels stay stopped
        r.step(command=(0.3, 0.0))
        assert r.em.wheel_command(r.t) == (0.0, 0.0)
    assert r.drv.estopped and r.drv.stats["estops"] == 1
    assert any(int(m.fixed["faults"]) & mp.FAULT_ESTOP for m in r.take(r.status))
    r.run_until(lambda: not r.em.estopped, command=(0.3, 0.0), estop=0)
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.3, 0.3), command=(0.3, 0.0))
    assert r.drv.stats["estops"] == 1 and r.drv.stats["estop_resets"] == 1


def test_estop_latched_in_the_device_is_mirrored(rig):
    r = rig()
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.3, 0.3), command=(0.3, 0.0))
    r.em.raise_fault(mp.FAULT_ESTOP)  # e.g. its e-stop input, or latched before a restart
    r.run_until(lambda: r.drv.estopped, command=(0.3, 0.0))
    assert r.drv.stats["device_estops"] == 1 and r.em.wheel_command(r.t) == (0.0, 0.0)
    r.step(command=(0.3, 0.0), estop=0)  # a reset while the e-stop input is still held:

    def held() -> bool:  # the device latches again at once, and so does the host
        r.em.raise_fault(mp.FAULT_ESTOP)
        return r.drv.stats["estop_resets"] == 1 and r.drv.estopped

    r.run_until(held, command=(0.3, 0.0))
    assert r.drv.stats["device_estops"] == 2 and r.em.wheel_command(r.t) == (0.0, 0.0)
    r.step(command=(0.3, 0.0), estop=0)  # released: one more explicit reset releases both
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.3, 0.3), command=(0.3, 0.0))
    assert not r.drv.estopped and r.drv.stats["estop_resets"] == 2


def test_clamping_keeps_the_turn_radius(rig):
    assert wheel_speeds(1.0, 4.0, 0.34, 1.0) == pytest.approx((0.32 / 1.68, 1.0, True))
    assert wheel_speeds(float("nan"), 0.0, 0.34, 1.0) == (0.0, 0.0, True)
    r = rig(max_wheel_speed=0.5)
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.5, 0.5), command=(3.0, 0.0))
    r.run_until(lambda: r.em.cmd_mm_s == (95, 500), command=(1.0, 4.0))  # 0.32/1.68 * 0.5
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.0, 0.0), command=(float("inf"), 0.0))
    assert r.drv.stats["clamped"] > 0


def test_stop_commands_zero(rig):
    r = rig()
    r.run_until(lambda: r.em.wheel_command(r.t) == (0.3, -0.3), command=(0.0, -0.3 / 0.17))
    sent = r.drv.stats["commands_sent"]
    r.drv.stop(r.ser)
    assert r.drv.stats["commands_sent"] == sent + 2
    r.run_until(lambda: r.em.cmd_mm_s == (0, 0), service=False)
    assert r.em.wheel_command(r.t) == (0.0, 0.0) and r.em.has_command  # zero, not the deadman


def test_device_faults_counted_and_skipped(rig):
    em = MotorBridgeEmulator(faults=Faults(garbage_rate=0.2, corrupt_rate=0.2, drop_rate=0.002),
                             seed=5)
    r = rig(em=em)
    r.wheels = (0.25, 0.25)
    got = []
    for _ in range(400):
        r.step(command=(0.0, 0.0))
        got += r.take(r.odom)
    assert len(got) > 100 and em.corrupted > 20 and em.garbage_bytes > 0
    speeds = np.array([[float(m.fixed["v_left"]), float(m.fixed["v_right"])] for m in got[2:]])
    assert np.all(np.abs(speeds - 0.25) <= 1 / TICKS_PER_M / 0.02 + 1e-9)  # no false frame
    counters = r.drv.counters()
    assert counters["bad.crc"] >= em.corrupted * 0.5 and counters["skipped_bytes"] >= 0


def test_silent_device_and_reboot(rig):
    em = MotorBridgeEmulator(faults=Faults(silent=True))
    r = rig(em=em)
    for _ in range(50):
        r.step(command=(0.1, 0.0))
    assert r.drv.parser.bytes_in == 0 and not r.take(r.odom)  # silence is visible
    assert r.em.wheel_command(r.t) == (0.1, 0.1)  # commands still arrive
    r.em = MotorBridgeEmulator()  # the board reboots: defaults, BOOT, counters from zero
    r.run_until(lambda: r.em.config[1:] == r.drv.config[1:] and not r.em.latched,
                command=(0.1, 0.0))
    odom: list = []
    r.run_until(lambda: len(odom.extend(r.take(r.odom)) or odom) > 3, command=(0.1, 0.0))
    assert r.drv.stats["config_sent"] >= 2
    assert all(abs(float(m.fixed["v_left"]) - 0.1) < 0.012 for m in odom)


# --- 6. the Python driver against the C firmware code, over a pty --------------------------

def test_driver_against_c_firmware_over_pty(harness, run_dir):
    link = PtyLink()
    proc = subprocess.Popen([str(harness.exe), "run", "--max-seconds", "30"], stdin=link.master,
                            stdout=link.master)
    ser = serial.serial_for_url(link.path, baudrate=115200, timeout=0)
    bus = ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir)
    test_bus = ZmqBus(WallClock(), publisher_id=2, run_dir=run_dir)
    try:
        cmd = test_bus.publisher("cmd/velocity", "velocity_command")
        drv = MotorBridgeDriver("base", DriverSpec(kind="motor_bridge", port=link.path),
                                MotorBridgeParams(), bus, bus.clock)
        drv.start(ser)
        odom, status = subscribe_outputs(drv, test_bus)

        def run(until, publish: bool, timeout_s: float = 15.0) -> None:
            end = time.monotonic() + timeout_s
            while not until():
                assert time.monotonic() < end, f"timed out; driver {drv.counters()}"
                if publish:
                    cmd.publish(drv.record("velocity_command", v=0.2, w=0.5))
                if select.select([ser.fileno()], [], [], 0.01)[0]:
                    drv.handle_bytes(ser.read(ser.in_waiting or 1), time.monotonic_ns())
                drv.service(ser, time.monotonic_ns())
                odom.poll()
                status.poll()

        def odom_near(left: float, right: float, n: int = 5):
            def check() -> bool:
                got = [(float(m.fixed["v_left"]), float(m.fixed["v_right"])) for m in odom.take()]
                seen.extend(got)
                tail = seen[-n:]
                return len(tail) == n and all(abs(a - left) < 0.012 and abs(b - right) < 0.012
                                              for a, b in tail)
            seen: list = []
            return check

        run(odom_near(0.2 - 0.085, 0.2 + 0.085), publish=True)
        run(lambda: status.pending > 0, publish=True)
        msgs = status.take()
        assert float(msgs[-1].fixed["battery_v"]) == 12.0
        assert int(msgs[-1].fixed["faults"]) & mp.FAULT_BOOT == 0  # the driver's reset arrived
        run(odom_near(0.0, 0.0), publish=False)  # the host deadman stops the C wheels
        assert drv.stats["deadman_stops"] == 1 and drv.counters().get("bad.crc", 0) == 0
        drv.stop(ser)
    finally:
        ser.close()
        proc.kill()
        proc.wait()
        link.close()
        bus.close()
        test_bus.close()
