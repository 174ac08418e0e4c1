"""Slamtec RPLIDAR A1/A2 driver: standard scan mode, one ``laser_scan`` per revolution.

Hand-shake (the protocol is in :mod:`robo_orch.drivers.rplidar_protocol`): :meth:`start`
turns the motor on (DTR low on the A1/A2 USB adapters), sends STOP, pauses
2 ms, flushes stale input and sends GET_HEALTH.  From then on one request is
outstanding at a time and each reply triggers the next, written by
:meth:`service` (which the host calls right after every chunk of bytes):
GET_HEALTH -> GET_INFO -> SCAN.  A health *error* (protection stop) is logged
on stderr and answered once with RESET and, 50 ms later, a second GET_HEALTH;
a warning is logged and the start continues.  A reply missing for
``reply_timeout_s`` is counted (``no_reply``) and the next step is taken anyway.
If the port can be read (a ``serial.Serial``), :meth:`start` pumps this
exchange itself for up to ``startup_wait_s`` so that :attr:`info` is known
when the host reports the driver ready; it never blocks longer, and whatever
has not happened by then continues in the host's loop.

While scanning, a revolution is the nodes from one node with the start flag
up to the next.  Each point keeps its own angle: the clockwise device angle is
negated (counter-clockwise), rotated by ``mount[2]`` and translated by
``mount[0:2]``, and published as angle and range about the robot centre.
Points with distance 0 (no return) or a sensor range outside
[``range_min``, ``range_max``] are left out; a revolution with fewer than
``min_points`` points left is dropped (``short_revs``).  The message is
stamped with the read time of the chunk that completed the revolution (the one
holding the next start flag); ``scan_duration`` is that stamp minus the stamp
of the chunk holding the revolution's first node.  No node for
``scan_timeout_s`` sends SCAN again (``restarts``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from typing import Any, ClassVar

import numpy as np

from robo_orch import schema
from robo_orch.driver import Driver, Port
from robo_orch.drivers import rplidar_protocol as rp
from robo_orch.messages import LASER_SCAN
from robo_orch.planar import wrap_to_pi

_STOP_PAUSE_NS = 2_000_000  # the device wants >= 1 ms after STOP
_RESET_PAUSE_NS = 50_000_000  # >= 2 ms after RESET; the reboot banner arrives meanwhile
_PUMP_SLEEP_NS = 2_000_000


@dataclasses.dataclass(frozen=True)
class RplidarParams:
    """Options of the ``rplidar`` driver."""

    topic: str = schema.option("sensor/scan", doc="topic of the laser_scan messages")
    range_min: float = schema.option(0.15, ge=0, doc="nearer points are dropped, m")
    range_max: float = schema.option(12.0, gt=0, doc="farther points are dropped, m")
    min_points: int = schema.option(50, ge=0, le=1_000_000,
                                    doc="a revolution with fewer valid points "
                                        "is dropped and counted")
    motor_dtr: bool = schema.option(True, doc="the adapter runs the motor while DTR is low "
                                              "(A1/A2 USB adapters); false leaves DTR alone")
    scan_timeout_s: float = schema.option(1.0, gt=0, le=60,
                                          doc="no node for this long while "
                                              "scanning: send SCAN again")
    reply_timeout_s: float = schema.option(0.5, gt=0, le=60,
                                           doc="wait this long for the health and "
                                               "info replies before going on")
    startup_wait_s: float = schema.option(1.0, ge=0, le=5, doc="start() waits at most this "
                                                               "long for the hand-shake; 0: "
                                                               "never wait")


class RplidarDriver(Driver):
    """RPLIDAR A1/A2 in standard scan mode (SCAN, 5-byte nodes)."""

    kind: ClassVar[str] = "rplidar"
    Params: ClassVar[type] = RplidarParams
    default_baud: ClassVar[int] = 115200

    @classmethod
    def output_topics(cls, params: RplidarParams) -> dict[str, str]:
        """The laser scans."""
        return {params.topic: "laser_scan"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser = rp.RplidarParser()
        #: GET_INFO reply as a dict (model, firmware, hardware, serial), None until it came
        self.info: dict[str, Any] | None = None
        #: GET_HEALTH reply as a dict (status, error_code), None until it came
        self.health: dict[str, int] | None = None
        self._awaiting: int | None = None  # request whose reply is outstanding
        self._sent_ns = 0
        self._next: int | None = None  # request service() writes at _next_ns
        self._next_ns = 0
        self._reset_done = False
        self._last_node_ns = 0
        # the revolution being assembled
        self._in_rev = False
        self._rev_t0 = 0
        self._rev_angle: list[np.ndarray] = []
        self._rev_dist: list[np.ndarray] = []
        p = self.params
        self._q2_min = p.range_min * 4000.0
        self._q2_max = p.range_max * 4000.0
        # (Driver.record would do, but it reads a MessageType attribute that does not exist)
        self._fixed = np.zeros((), dtype=LASER_SCAN.dtype)
        self._fixed["range_min"] = p.range_min
        self._fixed["range_max"] = p.range_max

    # --- hooks --------------------------------------------------------------------------

    def start(self, port: Port) -> None:
        """Motor on, STOP, flush, then the GET_HEALTH -> GET_INFO -> SCAN hand-shake."""
        self._motor(port, on=True)
        self._write(port, rp.STOP)
        clock = self.clock
        clock.sleep_until_ns(clock.now_ns() + _STOP_PAUSE_NS)
        port.reset_input_buffer()
        now = clock.now_ns()
        self._reset_done = False
        self._request(port, rp.GET_HEALTH, now)
        self._pump(port, now)

    def handle_bytes(self, data: bytes, stamp_ns: int) -> None:
        """Parse replies and nodes; publish each completed revolution."""
        for frame in self.parser.feed(data):
            if type(frame) is rp.Nodes:
                self._nodes(frame, stamp_ns)
            elif type(frame) is rp.Descriptor:
                if frame.data_type == rp.TYPE_MEASUREMENT:
                    self._awaiting = rp.SCAN
                    self._last_node_ns = stamp_ns
                    self._in_rev = False  # nodes from before are not a whole revolution
                    self._rev_angle.clear()
                    self._rev_dist.clear()
                    self.stats["scans_started"] += 1
            elif type(frame) is rp.Health:
                self._on_health(frame, stamp_ns)
            elif type(frame) is rp.DeviceInfo:
                self.info = {"model": frame.model,
                             "firmware": f"{frame.firmware_major}.{frame.firmware_minor:02d}",
                             "hardware": frame.hardware, "serial": frame.serial.hex().upper()}
                if self._awaiting == rp.GET_INFO:
                    self._schedule(rp.SCAN, stamp_ns)

    def service(self, port: Port, now_ns: int) -> None:
        """Write the next hand-shake request; re-send SCAN after silence."""
        if self._next is not None:
            if now_ns >= self._next_ns:
                cmd, self._next = self._next, None
                self._request(port, cmd, now_ns)
            return
        awaiting = self._awaiting
        if awaiting in (rp.GET_HEALTH, rp.GET_INFO):
            if now_ns - self._sent_ns > self.params.reply_timeout_s * 1e9:
                self.stats["no_reply"] += 1
                self._schedule(rp.GET_INFO if awaiting == rp.GET_HEALTH else rp.SCAN, now_ns)
        elif awaiting == rp.SCAN:
            last = max(self._sent_ns, self._last_node_ns)
            if now_ns - last > self.params.scan_timeout_s * 1e9:
                self.stats["restarts"] += 1
                self._request(port, rp.SCAN, now_ns)

    def stop(self, port: Port) -> None:
        """STOP the scan and turn the motor off."""
        self._next = None
        self._awaiting = None
        self._write(port, rp.STOP)
        self._motor(port, on=False)

    # --- hand-shake -------------------------------------------------------------------

    def _write(self, port: Port, cmd: int) -> None:
        port.write(rp.encode_request(cmd))
        port.flush()
        self.parser.expect(cmd)
        self.stats["requests"] += 1

    def _request(self, port: Port, cmd: int, now_ns: int) -> None:
        self._write(port, cmd)
        self._sent_ns = now_ns
        if cmd == rp.RESET:
            self._awaiting = None
            self._schedule(rp.GET_HEALTH, now_ns + _RESET_PAUSE_NS)
        else:
            self._awaiting = cmd

    def _schedule(self, cmd: int, at_ns: int) -> None:
        self._awaiting = None
        self._next = cmd
        self._next_ns = at_ns

    def _on_health(self, frame: rp.Health, stamp_ns: int) -> None:
        self.health = {"status": frame.status, "error_code": frame.error_code}
        if self._awaiting != rp.GET_HEALTH:
            return
        if frame.status == rp.HEALTH_GOOD:
            self._schedule(rp.GET_INFO, stamp_ns)
            return
        what = "warning" if frame.status == rp.HEALTH_WARNING else "error (protection stop)"
        self.stats["health_problems"] += 1
        if frame.status != rp.HEALTH_WARNING and not self._reset_done:
            self._reset_done = True
            self._log(f"health {what}, code {frame.error_code:#06x}: resetting the device")
            self._schedule(rp.RESET, stamp_ns)
            return
        self._log(f"health {what}, code {frame.error_code:#06x}; starting anyway")
        self._schedule(rp.GET_INFO, stamp_ns)

    def _pump(self, port: Port, now_ns: int) -> None:
        """Run the hand-shake here until SCAN is sent or ``startup_wait_s`` passes."""
        read = getattr(port, "read", None)
        if read is None or not hasattr(port, "in_waiting"):
            return
        clock = self.clock
        deadline = now_ns + int(self.params.startup_wait_s * 1e9)
        while self._awaiting != rp.SCAN and now_ns < deadline:
            try:
                waiting = port.in_waiting  # type: ignore[attr-defined]
                data = read(waiting) if waiting else b""
            except OSError:
                return
            if data:
                self.handle_bytes(data, now_ns)
            self.service(port, now_ns)
            if not data:
                clock.sleep_until_ns(now_ns + _PUMP_SLEEP_NS)
            now_ns = clock.now_ns()

    def _motor(self, port: Port, *, on: bool) -> None:
        if not self.params.motor_dtr:
            return
        # loop://, socket:// and some ptys have no modem lines
        with contextlib.suppress(AttributeError, OSError, ValueError, NotImplementedError):
            port.dtr = not on  # type: ignore[attr-defined]

    def _log(self, text: str) -> None:
        print(f"robo-orch driver {self.name} (rplidar): {text}", file=sys.stderr, flush=True)

    # --- revolutions ------------------------------------------------------------------

    def _nodes(self, frame: rp.Nodes, stamp_ns: int) -> None:
        self._last_node_ns = stamp_ns
        self.stats["nodes"] += len(frame.start)
        starts = np.flatnonzero(frame.start)
        prev = 0
        for k in starts.tolist():
            if self._in_rev:
                self._add(frame, prev, k)
                self._publish(stamp_ns)
            else:
                self.stats["partial_nodes"] += k - prev
            self._in_rev = True
            self._rev_t0 = stamp_ns
            prev = k
        if self._in_rev:
            self._add(frame, prev, len(frame.start))
        else:
            self.stats["partial_nodes"] += len(frame.start) - prev

    def _add(self, frame: rp.Nodes, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        dist = frame.distance_q2[lo:hi]
        keep = (dist != 0) & (dist >= self._q2_min) & (dist <= self._q2_max)
        self._rev_angle.append(frame.angle_q6[lo:hi][keep])
        self._rev_dist.append(dist[keep])

    def _publish(self, stamp_ns: int) -> None:
        angle_q6 = np.concatenate(self._rev_angle) if self._rev_angle else np.zeros(0)
        dist_q2 = np.concatenate(self._rev_dist) if self._rev_dist else np.zeros(0)
        self._rev_angle.clear()
        self._rev_dist.clear()
        n = len(angle_q6)
        if n < self.params.min_points:
            self.stats["short_revs"] += 1
            return
        mx, my, myaw = self.spec.mount
        theta = angle_q6 * (-math.pi / (180.0 * 64.0)) + myaw
        r = dist_q2 * 0.00025
        var = np.empty(n, dtype=LASER_SCAN.var_dtype)
        if mx == 0.0 and my == 0.0:
            var["angle"] = wrap_to_pi(theta)
            var["range"] = r
        else:
            x = r * np.cos(theta) + mx
            y = r * np.sin(theta) + my
            var["angle"] = np.arctan2(y, x)
            var["range"] = np.hypot(x, y)
        self._fixed["scan_duration"] = (stamp_ns - self._rev_t0) * 1e-9
        self.output(self.params.topic, LASER_SCAN).publish(self._fixed, var, stamp_ns=stamp_ns)
        self.stats["published"] += 1
