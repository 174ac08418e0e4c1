"""Slamtec RPLIDAR A1/A2 standard protocol: requests, response descriptors, scan nodes.

From "RPLIDAR Interface Protocol and Application Notes" (A1 & A2):

* A request is ``A5 <cmd>``; a command that carries a payload (in the request
  table every such command has bit 7 set, e.g. EXPRESS_SCAN 0x82) continues
  with ``<size> <payload...> <checksum>``, the checksum being the XOR of every
  byte before it, ``A5`` included.
* A response starts with a 7-byte descriptor ``A5 5A`` + a little-endian u32
  (low 30 bits: length of one data response, top 2 bits: send mode, 0 single,
  1 multiple) + a data-type byte, followed by one (single) or an endless stream
  (multiple) of data responses.  STOP and RESET get no response.
* A SCAN data response is a 5-byte measurement node::

      byte 0: quality[5:0] << 2 | !S << 1 | S     S: first node of a new 360 deg scan
      byte 1: angle_q6[6:0] << 1 | C              C: check bit, always 1
      byte 2: angle_q6[14:7]                      angle = angle_q6 / 64 deg, clockwise
      byte 3-4: distance_q2 (little-endian)        distance = distance_q2 / 4 mm, 0 invalid

The stream carries no response ids, so :class:`RplidarParser` is told which
replies to await (:meth:`RplidarParser.expect`, called for every request sent)
and matches descriptors against them in order.  While scanning it checks every
node (``S != !S``, ``C == 1``, angle below 360 deg).  Two check bits and a
range test are all the standard protocol offers: a random 5-byte window passes
them about one time in six, and a window shifted by two bytes into a smooth
scene reads the distances as angles that pass too.  So the parser also checks
the order the head measures in: each node's angle lies ahead of the one
before, by at most two mean steps of the last revolution (2 deg at least; from
the nodes seen so far until a revolution is known).  Bytes received twice step
back, foreign bytes and lost ones jump.  Two rules guard the output:

* a node is returned only once it and the :data:`HOLD_NODES` nodes after it
  have passed (the last nodes wait for the next chunk: 1 ms at 2,000 nodes/s);
  on a bad node the unconfirmed nodes before it are dropped with it;
* after a bad node the parser drops one byte at a time (from the bad node
  itself if only its angle failed: the stream may go on from it) until
  :data:`RELOCK_NODES` nodes in a row pass and follow on (with start flags
  only within 30 deg of 0 deg, where revolutions start), and drops the first
  of them too: its first bytes may be the last of the damage.

The step bound is learnt from the points of a revolution (start flag to start
flag), but not from a count half as many again as the last one: a start flag lost
to a flipped bit would join two revolutions and halve the bound.

What remains undetectable is damage that keeps every check: a flipped distance
bit, or a cut that joins the head of one node to the tail of another whose
successor happens to lie within the step limit (a few bytes lost, or a splice
into the same stretch of angle).  :mod:`robo_orch.bench.fuzz` measures it.

Rejections are counted by reason: ``check_bits`` and ``angle`` (a bad node
while locked), ``sequence`` (a node whose angle does not follow on),
``descriptor`` (``A5 5A`` followed by no known descriptor), ``unexpected`` (a
well-formed descriptor that no pending request asked for).
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import numpy as np

from robo_orch.driver import Parser
from robo_orch.drivers.rplidar_checks import (
    AC_OK,
    ANGLE_Q6_TURN,
    B0_OK,
    MIN_REV,
    forward_limit,
    node_ok,
    step_table,
)

SYNC = 0xA5  #: first byte of every request and descriptor
SYNC2 = 0x5A  #: second byte of a response descriptor

# requests (no payload, no response for STOP and RESET)
STOP = 0x25
RESET = 0x40
SCAN = 0x20
FORCE_SCAN = 0x21
GET_INFO = 0x50
GET_HEALTH = 0x52
GET_SAMPLERATE = 0x59
#: commands at or above this carry ``size payload checksum``
PAYLOAD_FLAG = 0x80

# response data types
TYPE_MEASUREMENT = 0x81
TYPE_INFO = 0x04
TYPE_HEALTH = 0x06
TYPE_SAMPLERATE = 0x15

MODE_SINGLE = 0
MODE_MULTIPLE = 1

HEALTH_GOOD, HEALTH_WARNING, HEALTH_ERROR = 0, 1, 2
NODE_SIZE = 5
DESCRIPTOR_SIZE = 7
#: a node is returned once this many nodes after it have passed the check too (3 made up
#: no fewer nodes in the fuzz benchmark and dropped 1 more valid node per damage event)
HOLD_NODES = 2
#: nodes in a row that must pass for a re-lock (the first of them is then dropped)
RELOCK_NODES = 8
#: (length, mode, data type) of the response each request gets; None: no response
RESPONSES: dict[int, tuple[int, int, int] | None] = {
    STOP: None,
    RESET: None,
    SCAN: (NODE_SIZE, MODE_MULTIPLE, TYPE_MEASUREMENT),
    FORCE_SCAN: (NODE_SIZE, MODE_MULTIPLE, TYPE_MEASUREMENT),
    GET_INFO: (20, MODE_SINGLE, TYPE_INFO),
    GET_HEALTH: (3, MODE_SINGLE, TYPE_HEALTH),
    GET_SAMPLERATE: (4, MODE_SINGLE, TYPE_SAMPLERATE),
}
_KNOWN = frozenset(r for r in RESPONSES.values() if r is not None)
_DESC = struct.Struct("<2sIB")
_NODE = np.dtype([("b0", "u1"), ("ac", "<u2"), ("d", "<u2")])  # one node, packed


class Descriptor(NamedTuple):
    """A response descriptor: what the following data responses look like."""

    length: int  #: bytes of one data response
    mode: int  #: MODE_SINGLE or MODE_MULTIPLE
    data_type: int


class DeviceInfo(NamedTuple):
    """GET_INFO reply."""

    model: int
    firmware_minor: int
    firmware_major: int
    hardware: int
    serial: bytes  #: 16 bytes; as text, hex with the first byte first


class Health(NamedTuple):
    """GET_HEALTH reply."""

    status: int  #: HEALTH_GOOD, HEALTH_WARNING or HEALTH_ERROR (protection stop)
    error_code: int


class SampleRate(NamedTuple):
    """GET_SAMPLERATE reply: time of one measurement, us."""

    standard_us: int
    express_us: int


class Nodes(NamedTuple):
    """Consecutive good measurement nodes from one chunk of the stream."""

    start: np.ndarray  #: bool, True on the first node of a new 360 deg scan
    quality: np.ndarray  #: uint8, 0..63
    angle_q6: np.ndarray  #: uint16, clockwise, 1/64 deg
    distance_q2: np.ndarray  #: uint16, 1/4 mm, 0 = no measurement
    raw: bytes  #: the nodes' bytes as received


# --- encoders ---------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """XOR of all bytes."""
    out = 0
    for b in data:
        out ^= b
    return out


def encode_request(cmd: int, payload: bytes = b"") -> bytes:
    """A host request: ``A5 cmd`` (+ ``size payload checksum`` for payload commands)."""
    if not 0 <= cmd <= 0xFF or len(payload) > 255:
        raise ValueError(f"bad request: cmd {cmd:#x}, payload of {len(payload)} bytes")
    if cmd < PAYLOAD_FLAG:
        if payload:
            raise ValueError(f"command {cmd:#04x} carries no payload")
        return bytes((SYNC, cmd))
    body = bytes((SYNC, cmd, len(payload))) + bytes(payload)
    return body + bytes((checksum(body),))


def encode_descriptor(length: int, mode: int, data_type: int) -> bytes:
    """A response descriptor (device side)."""
    return _DESC.pack(b"\xa5\x5a", (length & 0x3FFFFFFF) | ((mode & 3) << 30), data_type)


def descriptor_for(cmd: int) -> bytes:
    """The descriptor the device sends in answer to ``cmd``."""
    sig = RESPONSES.get(cmd)
    if sig is None:
        raise ValueError(f"command {cmd:#04x} gets no response")
    return encode_descriptor(*sig)


def encode_node(quality: int, angle_q6: int, distance_q2: int, start: bool) -> bytes:
    """One measurement node (device side)."""
    s = 1 if start else 0
    return bytes(((quality & 0x3F) << 2 | (s ^ 1) << 1 | s,
                  (angle_q6 & 0x7F) << 1 | 1, (angle_q6 >> 7) & 0xFF,
                  distance_q2 & 0xFF, (distance_q2 >> 8) & 0xFF))


def encode_nodes(quality: np.ndarray, angle_q6: np.ndarray, distance_q2: np.ndarray,
                 start: np.ndarray) -> bytes:
    """Many measurement nodes at once (arrays of equal length)."""
    q = np.asarray(quality, dtype=np.uint16) & 0x3F
    a = np.asarray(angle_q6, dtype=np.uint16)
    d = np.asarray(distance_q2, dtype=np.uint16)
    s = np.asarray(start, dtype=bool).astype(np.uint16)
    out = np.empty((len(a), NODE_SIZE), dtype=np.uint8)
    out[:, 0] = (q << 2) | ((s ^ 1) << 1) | s
    out[:, 1] = ((a & 0x7F) << 1) | 1
    out[:, 2] = (a >> 7) & 0xFF
    out[:, 3] = d & 0xFF
    out[:, 4] = d >> 8
    return out.tobytes()


def encode_info(model: int, firmware_minor: int, firmware_major: int, hardware: int,
                serial: bytes) -> bytes:
    """GET_INFO data response (20 bytes)."""
    if len(serial) != 16:
        raise ValueError("the serial number is 16 bytes")
    return bytes((model, firmware_minor, firmware_major, hardware)) + bytes(serial)


def encode_health(status: int, error_code: int = 0) -> bytes:
    """GET_HEALTH data response (3 bytes)."""
    return struct.pack("<BH", status, error_code)


def encode_samplerate(standard_us: int, express_us: int) -> bytes:
    """GET_SAMPLERATE data response (4 bytes)."""
    return struct.pack("<HH", standard_us, express_us)


def _decode_single(data_type: int, body: bytes) -> Any:
    if data_type == TYPE_HEALTH:
        return Health(*struct.unpack("<BH", body))
    if data_type == TYPE_INFO:
        return DeviceInfo(body[0], body[1], body[2], body[3], bytes(body[4:20]))
    return SampleRate(*struct.unpack("<HH", body))


# --- parsers ----------------------------------------------------------------------

_IDLE, _DESC_WAIT, _SINGLE, _LOCKED, _HUNT = range(5)


class RplidarParser(Parser):
    """Host-side parser: descriptors, single replies and the scan node stream.

    Call :meth:`expect` with every command sent.  Until then (and after STOP or
    RESET) incoming bytes are skipped.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rest = b""
        self._state = _IDLE
        self._pending: list[tuple[int, int, int]] = []
        self._single: tuple[int, int, int] | None = None
        self._since_start = -1  # nodes returned since the last start flag (-1: none yet)
        self._step_ok = step_table(ANGLE_Q6_TURN // 2)  # the steps a locked stream accepts
        self._rev_known = False  # a whole revolution was seen (its points bound the steps)
        self._n_rev = 0  # the points of the last revolution learnt
        # until then: the angle steps of the nodes returned (last angle, sum, count)
        self._learn_last, self._learn_span, self._learn_steps = -1, 0, 0

    @property
    def pending(self) -> int:
        """Bytes held back for the next feed (an incomplete reply, or nodes not yet confirmed)."""
        return len(self._rest)

    @property
    def scanning(self) -> bool:
        """True once a scan descriptor was accepted and until the next request."""
        return self._state in (_LOCKED, _HUNT)

    @property
    def awaiting(self) -> tuple[tuple[int, int, int], ...]:
        """Descriptors (length, mode, type) still awaited, oldest first."""
        return tuple(self._pending)

    def expect(self, cmd: int) -> None:
        """Note that ``cmd`` was sent; any request ends a scan, STOP and RESET forget all."""
        if cmd not in RESPONSES:
            return  # commands this parser does not know (e.g. motor PWM) get no reply here
        sig = RESPONSES[cmd]
        if self._state in (_LOCKED, _HUNT):
            self._state = _DESC_WAIT
        if sig is None:
            self._pending.clear()
            self._state = _IDLE
            self.skip(len(self._rest))
            self._rest = b""
            return
        self._pending.append(sig)
        if self._state == _IDLE:
            self._state = _DESC_WAIT

    def _feed(self, data: bytes) -> list[Any]:
        buf = self._rest + data if self._rest else data
        out: list[Any] = []
        pos = 0
        end = len(buf)
        while pos < end:
            state = self._state
            if state == _LOCKED:
                pos = self._scan_locked(buf, pos, out)
                if self._state == _LOCKED:
                    break  # only unconfirmed nodes left
            elif state == _HUNT:
                pos = self._hunt(buf, pos)
                if self._state == _HUNT:
                    break
            elif state == _SINGLE:
                sig = self._single
                assert sig is not None
                if end - pos < sig[0]:
                    break
                out.append(_decode_single(sig[2], buf[pos:pos + sig[0]]))
                pos += sig[0]
                self._single = None
                self._state = _DESC_WAIT if self._pending else _IDLE
            else:
                pos = self._descriptor(buf, pos, out)
                if self._state in (_IDLE, _DESC_WAIT) and end - pos < DESCRIPTOR_SIZE:
                    break
        self._rest = buf[pos:]
        return out

    def _descriptor(self, buf: bytes, pos: int, out: list[Any]) -> int:
        """Look for a descriptor from ``pos``; returns the new position."""
        end = len(buf)
        i = buf.find(b"\xa5\x5a", pos)
        if i < 0:
            keep = 1 if buf[end - 1] == SYNC else 0
            self.skip(end - keep - pos)
            return end - keep
        self.skip(i - pos)
        if end - i < DESCRIPTOR_SIZE:
            return i
        _, word, data_type = _DESC.unpack_from(buf, i)
        sig = (word & 0x3FFFFFFF, word >> 30, data_type)
        if sig not in _KNOWN:
            self.reject("descriptor")
            self.skip(2)
            return i + 2
        if sig not in self._pending:
            self.reject("unexpected")
            self.skip(DESCRIPTOR_SIZE)
            return i + DESCRIPTOR_SIZE
        # replies to earlier requests that never came are forgotten
        del self._pending[:self._pending.index(sig) + 1]
        out.append(Descriptor(*sig))
        if sig[1] == MODE_MULTIPLE:
            self._pending.clear()  # a stream lasts until the next request
            self._state = _LOCKED
        else:
            self._single = sig
            self._state = _SINGLE
        return i + DESCRIPTOR_SIZE

    def _scan_locked(self, buf: bytes, pos: int, out: list[Any]) -> int:
        """Return the confirmed nodes from ``pos``; on a bad node drop it and the unconfirmed."""
        n = (len(buf) - pos) // NODE_SIZE
        if n <= HOLD_NODES:
            return pos
        rec = np.frombuffer(buf, dtype=_NODE, count=n, offset=pos)
        b0, ac = rec["b0"], rec["ac"]  # ac: angle_q6 << 1 | C, as bytes 1-2 hold it
        angle = ac >> 1
        ok = B0_OK.take(b0) & AC_OK.take(ac)  # (take: faster than indexing)
        # each node follows on from the one before; the first node here was checked
        # against its predecessor in an earlier call (nodes are held until confirmed)
        # or is the first of a re-lock, which the hunt checked
        steps = angle[1:] - angle[:-1]
        step_ok = self._step_ok
        if self._learn_steps < 2 * MIN_REV and not self._rev_known:
            # nothing learnt yet: two median steps between these nodes that pass their
            # checks (a jump is no median)
            both = ok[1:] & ok[:-1]
            if both.sum() >= 4:
                median = int(np.median((angle[1:][both].astype(np.int32) - angle[:-1][both])
                                       % ANGLE_Q6_TURN))
                step_ok = step_table(forward_limit(median, 1))
        ok[1:] &= step_ok.take(steps)
        bad = n if ok.all() else int(np.argmin(ok))
        good = max(0, bad - HOLD_NODES)
        if good:
            b0 = b0[:good]
            start = (b0 & 1).view(bool)
            out.append(Nodes(start, b0 >> 2, angle[:good], rec["d"][:good].copy(),
                             buf[pos:pos + good * NODE_SIZE]))
            pos += good * NODE_SIZE
            self._count_revolution(start)
            if not self._rev_known:  # until one is: from the nodes returned so far
                self._learn(angle[:good])
        if bad < n:
            i = pos + (bad - good) * NODE_SIZE
            if not (buf[i] ^ (buf[i] >> 1)) & buf[i + 1] & 1:
                reason = "check_bits"
            elif buf[i + 1] >> 1 | buf[i + 2] << 7 >= ANGLE_Q6_TURN:
                reason = "angle"
            else:
                reason = "sequence"
            self.reject(reason)
            # a node whose bits pass but whose angle does not follow on: the stream may go
            # on from it (a jump at a node boundary), so the hunt starts there, else a byte
            # on (a re-lock drops its first node: after such a jump one node is lost, not two)
            if reason != "sequence":
                i += 1
            self.skip(i - pos)
            self._state = _HUNT
            self._learn_last = -1  # the step over the damage is none of the device's
            self._since_start = -1  # nor is a revolution whose nodes were dropped
            pos = i
        return pos

    def _learn(self, angle: np.ndarray) -> None:
        """Bound the steps by the mean step of the nodes returned since the scan began."""
        a = angle.astype(np.int32)
        if self._learn_last >= 0:
            a = np.concatenate(((self._learn_last,), a))
        self._learn_last = int(a[-1])
        self._learn_span += int((np.diff(a) % ANGLE_Q6_TURN).sum())
        self._learn_steps += len(a) - 1
        if self._learn_steps >= 2 * MIN_REV:
            self._step_ok = step_table(forward_limit(self._learn_span, self._learn_steps))

    def _count_revolution(self, start: np.ndarray) -> None:
        """Learn the points per revolution, which bound the angle steps accepted."""
        if not start.any():
            if self._since_start >= 0:
                self._since_start += len(start)
            return
        starts = np.flatnonzero(start)
        if len(starts) > 1:
            n_rev = int(starts[-1] - starts[-2])
        else:
            n_rev = self._since_start + int(starts[0]) if self._since_start >= 0 else 0
        if n_rev >= MIN_REV and n_rev <= self._most_points():
            self._step_ok = step_table(forward_limit(ANGLE_Q6_TURN, n_rev))
            self._rev_known = True
            self._n_rev = n_rev
        self._since_start = len(start) - int(starts[-1])

    def _most_points(self) -> int:
        """The most points a revolution may have to be learnt: half as many again as the
        last one (or as the mean step of the nodes so far implies).  A start flag lost to
        a flipped bit (S and !S both flipped still pass) joins two revolutions into one,
        which would halve the steps accepted and refuse every other good node."""
        if self._n_rev:
            return 3 * self._n_rev // 2
        if self._learn_steps >= 2 * MIN_REV and self._learn_span > 0:
            return 3 * ANGLE_Q6_TURN * self._learn_steps // (2 * self._learn_span)
        return 1 << 30

    def _hunt(self, buf: bytes, pos: int) -> int:
        """Re-lock at the first offset where RELOCK_NODES nodes in a row pass and follow on
        in angle, without the first of them (its first bytes may be the damage's last)."""
        lock = RELOCK_NODES
        m = len(buf) - pos
        candidates = m - NODE_SIZE * lock + 1  # offsets whose whole window is here
        if candidates <= 0:
            return pos
        u = np.frombuffer(buf, dtype=np.uint8, offset=pos)
        ok = node_ok(u, m - NODE_SIZE + 1, 1)
        angle = (u[2:m - 2].astype(np.uint16) << 7) | (u[1:m - 3] >> 1)
        step_ok = self._step_ok
        window = ok[:candidates].copy()
        for k in range(1, lock):
            window &= ok[k * NODE_SIZE:k * NODE_SIZE + candidates]
            window &= step_ok[angle[k * NODE_SIZE:k * NODE_SIZE + candidates]
                              - angle[(k - 1) * NODE_SIZE:(k - 1) * NODE_SIZE + candidates]]
        if window.any():
            first = int(np.argmax(window)) + NODE_SIZE
            self._state = _LOCKED
        else:
            first = candidates
        self.skip(first)
        return pos + first
