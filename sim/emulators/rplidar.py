"""RPLIDAR A1/A2 emulator: answers requests and streams standard-scan nodes.

The emulator is driven by plain numbers: :meth:`RplidarEmulator.update` takes
one simulated scan (counter-clockwise angles in the sensor's frame, which is
the robot frame when the lidar sits at the centre, and ranges in metres, inf
for no return) and, while scanning, emits one revolution of nodes the way the
device does: a slightly different number of points every turn at unevenly
spaced clockwise angles (``jitter_deg``), each taking the range of the nearest
simulated ray, with distance 0 and quality 0 where nothing was hit.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np

from robo_orch.driver import Parser
from robo_orch.drivers import rplidar_protocol as rp
from robo_orch.planar import wrap_to_pi
from robo_orch.sim.emulators.base import DeviceEmulator, Faults

#: farthest distance the 16-bit distance_q2 field can hold, m
MAX_RANGE_M = 0xFFFF / 4000.0
#: quality reported for a valid point (the A1 reports 47 for a good return)
QUALITY = 47
#: spread of the number of points per revolution (+/-, fraction)
POINTS_SPREAD = 0.03


class Request(NamedTuple):
    """One request as the device receives it."""

    cmd: int
    payload: bytes


class RequestParser(Parser):
    """Device-side parser of host requests; rejects ``checksum`` (payload requests only)."""

    def __init__(self) -> None:
        super().__init__()
        self._rest = b""

    def _feed(self, data: bytes) -> list[Any]:
        buf = self._rest + data if self._rest else data
        out: list[Any] = []
        pos, end = 0, len(buf)
        while pos < end:
            pos = self.seek(buf, pos, b"\xa5")
            if pos < 0:
                pos = end
                break
            if end - pos < 2:
                break
            cmd = buf[pos + 1]
            if cmd < rp.PAYLOAD_FLAG:
                out.append(Request(cmd, b""))
                pos += 2
                continue
            if end - pos < 3:
                break
            size = buf[pos + 2]
            total = 4 + size
            if end - pos < total:
                break
            frame = buf[pos:pos + total]
            if rp.checksum(frame[:-1]) != frame[-1]:
                self.reject("checksum")
                self.skip(1)
                pos += 1
                continue
            out.append(Request(cmd, bytes(frame[3:-1])))
            pos += total
        self._rest = buf[pos:]
        return out


class RplidarEmulator(DeviceEmulator):
    """A byte-exact RPLIDAR A1/A2 in standard scan mode.

    ``health`` is the status GET_HEALTH reports (0 good, 1 warning, 2 error);
    an error blocks SCAN, and RESET clears it unless :attr:`sticky_error` is set.
    """

    def __init__(self, model: int = 0x18, firmware: tuple[int, int] = (1, 29),
                 hardware: int = 7, health: int = 0, points_per_rev: int = 360,
                 jitter_deg: float = 0.4, faults: Faults | None = None, seed: int = 0) -> None:
        super().__init__(faults, seed)
        self.model = int(model)
        self.firmware = (int(firmware[0]), int(firmware[1]))
        self.hardware = int(hardware)
        self.health = int(health)
        #: error code GET_HEALTH reports with a warning or error
        self.error_code = 0x8001 if health else 0
        #: keep a health error across RESET (a broken device)
        self.sticky_error = False
        self.points_per_rev = int(points_per_rev)
        self.jitter_deg = float(jitter_deg)
        self.serial = bytes(self.rng.integers(0, 256, 16, dtype=np.uint8))
        self.requests = RequestParser()
        #: True while streaming nodes
        self.scanning = False
        #: requests received, by command byte
        self.commands: dict[int, int] = {}
        #: the last 64 command bytes received, oldest first
        self.history: deque[int] = deque(maxlen=64)
        #: the nodes of the last revolution sent: (angle_q6, distance_q2), clockwise
        self.last_revolution: tuple[np.ndarray, np.ndarray] | None = None
        self.revolutions = 0
        self.t_s = 0.0

    def corrupt(self, frame: bytes) -> bytes:
        """Break a node's check bits (S equal to !S, or C = 0); other frames: base rule."""
        if len(frame) != rp.NODE_SIZE:
            return super().corrupt(frame)
        out = bytearray(frame)
        if self.rng.random() < 0.5:
            out[0] ^= 1
        else:
            out[1] &= 0xFE
        return bytes(out)

    def host_bytes(self, data: bytes) -> None:
        """Handle the requests the host wrote."""
        for req in self.requests.feed(data):
            self.commands[req.cmd] = self.commands.get(req.cmd, 0) + 1
            self.history.append(req.cmd)
            self._handle(req.cmd)

    def _handle(self, cmd: int) -> None:
        if cmd not in rp.RESPONSES:
            return  # EXPRESS_SCAN, motor PWM, ...: not emulated
        self.scanning = False  # any request ends a scan
        if cmd in (rp.SCAN, rp.FORCE_SCAN):
            if self.health == rp.HEALTH_ERROR and cmd == rp.SCAN:
                return  # protection stop: SCAN is ignored
            self.emit(rp.descriptor_for(cmd))
            self.scanning = True
        elif cmd == rp.GET_INFO:
            self.emit(rp.descriptor_for(cmd))
            self.emit(rp.encode_info(self.model, self.firmware[1], self.firmware[0],
                                     self.hardware, self.serial))
        elif cmd == rp.GET_HEALTH:
            self.emit(rp.descriptor_for(cmd))
            self.emit(rp.encode_health(self.health, self.error_code))
        elif cmd == rp.GET_SAMPLERATE:
            self.emit(rp.descriptor_for(cmd))
            self.emit(rp.encode_samplerate(500, 250))
        elif cmd == rp.RESET:
            if not self.sticky_error:
                self.health, self.error_code = rp.HEALTH_GOOD, 0
            major, minor = self.firmware
            self.emit(f"RP LIDAR System.\r\nFirmware Ver {major}.{minor:02d} - rtm, "
                      f"HW Ver {self.hardware}\r\nModel: {self.model}\r\n".encode("ascii"))

    def update(self, t_s: float, angles: np.ndarray, ranges: np.ndarray) -> None:
        """Emit one revolution sampled from the scan (CCW rad, m; inf = no return)."""
        self.t_s = float(t_s)
        if not self.scanning:
            return
        rng = self.rng
        n = max(1, int(round(self.points_per_rev * rng.uniform(1 - POINTS_SPREAD,
                                                               1 + POINTS_SPREAD))))
        step = 360.0 / n
        deg = rng.uniform(0.0, step) + step * np.arange(n)
        deg += rng.uniform(-self.jitter_deg, self.jitter_deg, n)
        deg = np.sort(np.remainder(deg, 360.0))
        angle_q6 = np.minimum(np.round(deg * 64.0), rp.ANGLE_Q6_TURN - 1).astype(np.uint16)
        r = _nearest(np.asarray(angles, dtype=np.float64), np.asarray(ranges, dtype=np.float64),
                     angle_q6 * (-np.pi / (180.0 * 64.0)))
        valid = np.isfinite(r) & (r > 0.0) & (r <= MAX_RANGE_M)
        dist_q2 = np.where(valid, np.round(np.where(valid, r, 0.0) * 4000.0), 0.0)
        dist_q2 = dist_q2.astype(np.uint16)
        valid &= dist_q2 > 0
        quality = np.where(valid, QUALITY, 0)
        start = np.zeros(n, dtype=bool)
        start[0] = True
        raw = rp.encode_nodes(quality, angle_q6, dist_q2, start)
        for i in range(0, len(raw), rp.NODE_SIZE):
            self.emit(raw[i:i + rp.NODE_SIZE])
        self.last_revolution = (angle_q6, dist_q2)
        self.revolutions += 1


def _nearest(angles: np.ndarray, ranges: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Range of the ray nearest in angle (on the circle) to each query angle, rad."""
    if len(angles) == 0:
        return np.full(len(query), np.inf)
    two_pi = 2.0 * np.pi
    a = np.remainder(angles, two_pi)
    order = np.argsort(a)
    a = a[order]
    q = np.remainder(query, two_pi)
    hi = np.searchsorted(a, q) % len(a)
    lo = (hi - 1) % len(a)
    d_hi = np.abs(wrap_to_pi(a[hi] - q))
    d_lo = np.abs(wrap_to_pi(a[lo] - q))
    pick = np.where(d_lo < d_hi, lo, hi)
    return ranges[order[pick]]


def demo_scan(n_rays: int = 720, phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth synthetic room: angles (CCW rad) and ranges (m, a sector with no return)."""
    angles = np.linspace(-np.pi, np.pi, n_rays, endpoint=False)
    ranges = 3.0 + 1.5 * np.sin(3.0 * angles + phase) + 0.5 * np.cos(7.0 * angles)
    ranges[(angles > 2.5) & (angles < 2.9)] = np.inf
    return angles, ranges


def sample_stream(n_revs: int, seed: int = 0) -> bytes:
    """A valid device byte stream: the SCAN descriptor and ``n_revs`` revolutions of nodes."""
    emu = RplidarEmulator(seed=seed)
    emu.host_bytes(rp.encode_request(rp.SCAN))
    for k in range(int(n_revs)):
        angles, ranges = demo_scan(phase=0.01 * k)
        emu.update(k * 0.18, angles, ranges)
    return emu.drain()
