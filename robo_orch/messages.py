"""Message types and their wire form.

A message type is a numpy structured dtype for the fixed part plus, optionally,
the dtype of one element of a variable-length part (a scan with N points).  On
the wire a message is three frames::

    [topic, header, payload]

``header`` is the fixed little-endian struct :data:`HEADER` (see :class:`Header`);
``payload`` is the fixed part followed by ``header.count`` variable elements.
Every header carries the type's ``layout_hash`` (a CRC-32 of its name and the
names, formats and offsets of both dtypes), so a reader built against another
layout refuses the data instead of misreading it.

Size limits: a type with a variable part declares ``max_count``, the most
elements a legitimate message carries (``laser_scan``: :data:`MAX_SCAN_POINTS`;
a type that declares none gets :data:`DEFAULT_VAR_BYTES` worth of elements).
:attr:`MessageType.max_bytes` is the largest legitimate frame (the payload at
``max_count``, the header, or a topic) plus a quarter, at least 1 KiB: the bus
refuses larger frames (ZeroMQ's ``MAXMSGSIZE`` on every subscription), and a
subscriber may pass its own limit.  The limit is not part of the wire layout.

:func:`encode` and :func:`decode` are on the path of every message of the
lockstep simulation, so they do the minimum: one ``struct`` call for the header,
``tobytes`` for the payload, and zero-copy read-only views when decoding.
"""

from __future__ import annotations

import difflib
import struct
import zlib
from importlib.metadata import entry_points
from typing import NamedTuple

import numpy as np

from robo_orch.errors import MessageError
from robo_orch.registry import MESSAGES

#: wire format version written into every header
FORMAT_VERSION = 1
#: version, clock id, type id, layout hash, publisher id, incarnation, seq,
#: stamp ns, var count, frame id -- little-endian, no padding (52 bytes)
HEADER = struct.Struct("<BBHIIIQqI16s")
#: the reasons :class:`DecodeError` can carry
DECODE_REASONS = ("frames", "header", "version", "type", "layout", "size")
FRAME_ID_LEN = 16
#: longest topic frame (the bus's topic rule)
MAX_TOPIC_BYTES = 100
#: most points of a ``laser_scan``: 2D lidars send a few thousand per revolution
#: (the simulator at most 8192); a subscriber expecting more passes ``max_bytes``
MAX_SCAN_POINTS = 16384
#: the variable part's budget of a type that declares no ``max_count``, bytes
DEFAULT_VAR_BYTES = 1 << 20
#: the smallest frame size limit: a topic and a header are always below it
MIN_FRAME_LIMIT = 1024


class DecodeError(MessageError):
    """Frames that are not a valid message of the expected type.

    ``reason`` is one of :data:`DECODE_REASONS`.
    """

    def __init__(self, reason: str, text: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {text}")


class Header(NamedTuple):
    """The decoded header of one message."""

    version: int
    clock_id: int  #: robo_orch.clock.WALL or SIM
    type_id: int
    layout_hash: int
    publisher_id: int
    incarnation: int  #: restart count of the publisher
    seq: int  #: per publisher, starting at 1
    stamp_ns: int
    count: int  #: number of variable-length elements in the payload
    frame_id: str


class Decoded(NamedTuple):
    """A decoded message: read-only views into the received payload."""

    header: Header
    fixed: np.ndarray  #: structured, shape ()
    var: np.ndarray | None  #: structured, shape (count,), or None for fixed-only types


def _describe(dtype: np.dtype | None, what: str) -> str:
    """Canonical text of a packed little-endian structured dtype (for the hash)."""
    if dtype is None:
        return "-"
    if dtype.names is None:
        raise MessageError(f"{what} must be a structured dtype, got {dtype}")
    parts = []
    size = 0
    for name in dtype.names:
        field, offset = dtype.fields[name][:2]
        base = field.base
        if base.names is not None or base.str[0] not in "<|":
            raise MessageError(
                f"{what} field {name!r}: use little-endian scalar or subarray formats "
                f"(e.g. '<f8', ('<f8', (3,))), got {field}")
        parts.append(f"{name}:{base.str}{list(field.shape)}@{offset}")
        size += field.itemsize
    if size != dtype.itemsize:
        raise MessageError(f"{what} must be packed (no padding): fields sum to {size} "
                           f"bytes but itemsize is {dtype.itemsize}")
    return ",".join(parts) + f";{dtype.itemsize}"


class MessageType:
    """One message type: name, uint16 id, fixed dtype, optional var element dtype.

    ``max_count`` (types with a var part only): the most elements a legitimate
    message has; it sets :attr:`max_bytes`.  Default: :data:`DEFAULT_VAR_BYTES`
    worth of elements.
    """

    __slots__ = ("name", "type_id", "dtype", "var_dtype", "layout_hash", "itemsize",
                 "var_itemsize", "max_count", "max_bytes")

    def __init__(self, name: str, type_id: int, dtype: np.dtype | list,
                 var_dtype: np.dtype | list | None = None, *,
                 max_count: int | None = None) -> None:
        if not 0 <= int(type_id) <= 0xFFFF:
            raise MessageError(f"type id of {name!r} must fit in uint16, got {type_id}")
        self.name = str(name)
        self.type_id = int(type_id)
        self.dtype = np.dtype(dtype)
        self.var_dtype = None if var_dtype is None else np.dtype(var_dtype)
        canon = (f"{self.name}|{_describe(self.dtype, name + ' dtype')}"
                 f"|{_describe(self.var_dtype, name + ' var_dtype')}")
        self.layout_hash = zlib.crc32(canon.encode("ascii")) & 0xFFFFFFFF
        self.itemsize = self.dtype.itemsize
        self.var_itemsize = 0 if self.var_dtype is None else self.var_dtype.itemsize
        if self.var_dtype is None:
            if max_count:
                raise MessageError(f"{name}: max_count needs a variable-length part")
            max_count = 0
        elif max_count is None:
            max_count = max(1, DEFAULT_VAR_BYTES // max(1, self.var_itemsize))
        elif int(max_count) < 1:
            raise MessageError(f"{name}: max_count must be >= 1, got {max_count}")
        #: most var elements of a legitimate message (0 without a var part)
        self.max_count = int(max_count)
        #: largest frame the bus accepts for this type, bytes (see the module docstring)
        self.max_bytes = frame_limit(self.itemsize + self.max_count * self.var_itemsize)

    def __repr__(self) -> str:
        return (f"MessageType({self.name!r}, id={self.type_id}, "
                f"hash=0x{self.layout_hash:08x})")


def frame_limit(payload_bytes: int) -> int:
    """The frame size limit for a largest payload: the largest frame plus a quarter, >= 1 KiB."""
    largest = max(int(payload_bytes), HEADER.size, MAX_TOPIC_BYTES)
    return largest + max(MIN_FRAME_LIMIT, largest // 4)


_BY_NAME: dict[str, MessageType] = {}
_BY_ID: dict[int, MessageType] = {}


def register(mtype: MessageType) -> MessageType:
    """Add a message type and return it.

    Re-registering the identical layout is a no-op that returns the type
    registered first (with its size limit).
    """
    for known in (_BY_NAME.get(mtype.name), _BY_ID.get(mtype.type_id)):
        if known is None:
            continue
        if (known.name, known.type_id, known.layout_hash) != (
                mtype.name, mtype.type_id, mtype.layout_hash):
            raise MessageError(f"cannot register {mtype!r}: clashes with {known!r}; "
                               "pick an unused name and type id")
        return known
    _BY_NAME[mtype.name] = mtype
    _BY_ID[mtype.type_id] = mtype
    return mtype


def _lookup(name_or_id: str | int) -> MessageType | None:
    return (_BY_NAME.get(name_or_id) if isinstance(name_or_id, str)
            else _BY_ID.get(int(name_or_id)))


def message_type(name_or_id: str | int | MessageType) -> MessageType:
    """Look a registered type up by name or type id (installed packages' types included)."""
    if isinstance(name_or_id, MessageType):
        return name_or_id
    found = _lookup(name_or_id)
    if found is None and not _plugins_loaded:
        load_plugin_types()
        found = _lookup(name_or_id)
    if found is None:
        hint = ""
        if isinstance(name_or_id, str):
            close = difflib.get_close_matches(name_or_id, list(_BY_NAME), n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
        raise MessageError(f"unknown message type {name_or_id!r}{hint} "
                           f"(known: {', '.join(sorted(_BY_NAME))})")
    return found


def registered() -> tuple[MessageType, ...]:
    """All registered message types, by type id."""
    return tuple(_BY_ID[k] for k in sorted(_BY_ID))


def new_fixed(mtype: MessageType) -> np.ndarray:
    """A writable zeroed fixed part, shape (1,)."""
    return np.zeros(1, dtype=mtype.dtype)


def new_var(mtype: MessageType, n: int) -> np.ndarray:
    """A writable zeroed variable part of ``n`` elements."""
    if mtype.var_dtype is None:
        raise MessageError(f"{mtype.name} has no variable-length part")
    return np.zeros(int(n), dtype=mtype.var_dtype)


def frame_id_bytes(frame_id: str | bytes) -> bytes:
    """Validate a frame id (ASCII, at most 16 bytes, no NUL) and return its bytes."""
    try:
        raw = frame_id.encode("ascii") if isinstance(frame_id, str) else bytes(frame_id)
    except UnicodeEncodeError:
        raw = b"\xff"
    if len(raw) > FRAME_ID_LEN or b"\0" in raw or not raw.isascii():
        raise MessageError(f"frame id must be ASCII, at most {FRAME_ID_LEN} bytes, "
                           f"without NUL; got {frame_id!r}")
    return raw


def encode(mtype: MessageType, topic: str | bytes, fixed: np.ndarray,
           var: np.ndarray | None = None, *, seq: int, stamp_ns: int,
           publisher_id: int = 0, incarnation: int = 0, clock_id: int = 0,
           frame_id: str | bytes = b"") -> list[bytes]:
    """Encode one message into its frames ``[topic, header, payload]``.

    ``fixed`` is a structured array of ``mtype.dtype`` with one element (shape
    (1,) or ()); ``var`` a 1-D structured array of ``mtype.var_dtype`` or None.
    """
    if type(topic) is not bytes:
        try:
            topic = topic.encode("ascii")
        except UnicodeEncodeError as err:
            raise MessageError(f"topic {topic!r} is not ASCII") from err
    if type(frame_id) is not bytes or len(frame_id) > FRAME_ID_LEN:
        frame_id = frame_id_bytes(frame_id)
    if fixed.dtype is not mtype.dtype and fixed.dtype != mtype.dtype:
        raise MessageError(f"{mtype.name}: fixed part has dtype {fixed.dtype}, "
                           f"expected {mtype.dtype}")
    if fixed.size != 1:
        raise MessageError(f"{mtype.name}: fixed part must hold one element, "
                           f"got shape {fixed.shape}")
    if var is None:
        count = 0
        payload = fixed.tobytes()
    else:
        if mtype.var_dtype is None:
            raise MessageError(f"{mtype.name} has no variable-length part")
        if var.dtype is not mtype.var_dtype and var.dtype != mtype.var_dtype:
            raise MessageError(f"{mtype.name}: var part has dtype {var.dtype}, "
                               f"expected {mtype.var_dtype}")
        if var.ndim != 1:
            raise MessageError(f"{mtype.name}: var part must be 1-D, got {var.shape}")
        count = var.shape[0]
        payload = fixed.tobytes() + var.tobytes()
    try:
        header = HEADER.pack(FORMAT_VERSION, clock_id, mtype.type_id, mtype.layout_hash,
                             publisher_id, incarnation, seq, stamp_ns, count, frame_id)
    except struct.error as err:
        raise MessageError(f"{mtype.name}: header field out of range: {err}") from err
    return [topic, header, payload]


class Frames(list):
    """Encoded frames ``[topic, header, payload]`` that also carry the :class:`Header`
    they were encoded from and their :class:`MessageType`.

    An in-process transport (the memory bus) hands these over as they are: a
    receiver expecting that very type takes the header as it is and views the
    payload (``Subscription._take``) instead of parsing the header bytes and
    checking them against the type; anything else (a recorder, a lossy-link hook, another
    type) sees a plain list of the same bytes.
    """

    __slots__ = ("mtype", "header")


def encode_frames(mtype: MessageType, topic: bytes, fixed: np.ndarray,
                  var: np.ndarray | None, seq: int, stamp_ns: int, publisher_id: int,
                  incarnation: int, clock_id: int, frame_id: bytes,
                  frame_id_str: str) -> Frames:
    """:func:`encode` for an in-process transport: the same bytes, as :class:`Frames`.

    A publisher's arguments (positional: this is on every message's path): ``topic``
    and ``frame_id`` bytes already checked, ``frame_id_str`` the text of ``frame_id``
    (what :func:`decode` makes of it), ``seq``, ``publisher_id``, ``incarnation`` and
    ``clock_id`` Python ints.
    """
    if var is not None or type(stamp_ns) is not int or fixed.dtype is not mtype.dtype \
            or fixed.size != 1:
        # the general checks and messages (a var part, a numpy stamp, another dtype)
        frames = Frames(encode(mtype, topic, fixed, var, seq=seq, stamp_ns=stamp_ns,
                               publisher_id=publisher_id, incarnation=incarnation,
                               clock_id=clock_id, frame_id=frame_id))
        # the values decode() would unpack (the header packed them, so they are in range)
        frames.header = _new(Header, (FORMAT_VERSION, int(clock_id), mtype.type_id,
                                      mtype.layout_hash, int(publisher_id), int(incarnation),
                                      int(seq), int(stamp_ns),
                                      0 if var is None else var.shape[0], frame_id_str))
    else:  # the usual message: a fixed part of the type's own dtype, Python ints
        try:
            header = HEADER.pack(FORMAT_VERSION, clock_id, mtype.type_id, mtype.layout_hash,
                                 publisher_id, incarnation, seq, stamp_ns, 0, frame_id)
        except struct.error as err:
            raise MessageError(f"{mtype.name}: header field out of range: {err}") from err
        frames = Frames((topic, header, fixed.tobytes()))
        frames.header = _new(Header, (FORMAT_VERSION, clock_id, mtype.type_id,
                                      mtype.layout_hash, publisher_id, incarnation, seq,
                                      stamp_ns, 0, frame_id_str))
    frames.mtype = mtype
    return frames


def decode(frames: list[bytes], expected: MessageType) -> Decoded:
    """Check frames against ``expected`` and return read-only views of the payload.

    Raises :class:`DecodeError` (a :class:`MessageError`) whose ``reason`` says
    what was wrong; the topic frame is not checked here.
    """
    if len(frames) != 3:
        raise DecodeError("frames", f"expected 3 frames, got {len(frames)}")
    _, head, payload = frames
    if len(head) != HEADER.size:
        raise DecodeError("header", f"header is {len(head)} bytes, expected {HEADER.size}")
    (version, clock_id, type_id, layout_hash, publisher_id, incarnation, seq, stamp_ns,
     count, frame_raw) = HEADER.unpack(head)
    if version != FORMAT_VERSION:
        raise DecodeError("version", f"format version {version}, expected {FORMAT_VERSION}")
    if type_id != expected.type_id:
        raise DecodeError("type", f"type id {type_id}, expected {expected.type_id} "
                                  f"({expected.name})")
    if layout_hash != expected.layout_hash:
        raise DecodeError("layout", f"layout hash 0x{layout_hash:08x} of {expected.name} "
                                    f"differs from ours 0x{expected.layout_hash:08x}: "
                                    "the sender was built against another layout")
    size = expected.itemsize + count * expected.var_itemsize
    if len(payload) != size or (count and expected.var_dtype is None):
        raise DecodeError("size", f"{expected.name} payload is {len(payload)} bytes, "
                                  f"expected {size} for {count} elements")
    frame_id = _FRAME_IDS.get(frame_raw)
    if frame_id is None:
        frame_id = _frame_id_str(frame_raw)
    if type(payload) is not bytes:
        # a mutable buffer (bytearray, zmq.Frame) must not give writable views
        payload = memoryview(payload).toreadonly()
    fixed = np.ndarray((), expected.dtype, payload)
    var = (None if expected.var_dtype is None
           else np.ndarray((count,), expected.var_dtype, payload, expected.itemsize))
    # tuple.__new__ skips the NamedTuple's Python-level __new__ (a third of decode's time)
    header = _new(Header, (version, clock_id, type_id, layout_hash, publisher_id, incarnation,
                           seq, stamp_ns, count, frame_id))
    return _new(Decoded, (header, fixed, var))


_new = tuple.__new__
_FRAME_IDS: dict[bytes, str] = {}  # raw frame id -> str; a robot has a handful


def _frame_id_str(raw: bytes) -> str:
    try:
        text = raw.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("header", f"frame id {raw!r} is not ASCII") from None
    if len(_FRAME_IDS) < 1024:
        _FRAME_IDS[raw] = text
    return text


# --- types of installed packages -------------------------------------------------------

#: type ids below this are robo_orch's own; installed packages number their types from here
PLUGIN_TYPE_IDS = 1024
_plugins_loaded = False
_ORIGIN: dict[str, str] = {}  # plugin type name -> the entry point that gave it


def load_plugin_types(*, reload: bool = False) -> list[MessageType]:
    """Register the message types of installed packages and return them (once per process).

    Each entry point of the group ``robo_orch.messages`` names a :class:`MessageType` or a
    sequence of them (``battery = "my_robot.messages:BATTERY_STATE"``).  Their type ids
    must be at least :data:`PLUGIN_TYPE_IDS` and differ from every other type's; a clash
    or a broken entry point raises :class:`MessageError` naming the entry points.
    """
    global _plugins_loaded
    if _plugins_loaded and not reload:
        return []
    _plugins_loaded = True
    found: list[MessageType] = []
    for ep in sorted(entry_points(group=MESSAGES), key=lambda ep: (ep.name, ep.value)):
        where = f"entry point '{ep.name} = {ep.value}' (group {MESSAGES})"
        try:
            obj = ep.load()
        except Exception as err:  # a broken plugin must not look like a missing type
            raise MessageError(f"{where} failed to load: {err}") from err
        types = [obj] if isinstance(obj, MessageType) else obj
        if not (isinstance(types, (list, tuple))
                and all(isinstance(t, MessageType) for t in types)):
            raise MessageError(f"{where} is {obj!r}, not a MessageType or a list of them")
        for mtype in types:
            if mtype.type_id < PLUGIN_TYPE_IDS:
                raise MessageError(f"{where}: type id {mtype.type_id} of {mtype.name!r} is in "
                                   f"robo_orch's own range (0-{PLUGIN_TYPE_IDS - 1}); "
                                   f"number plugin types from {PLUGIN_TYPE_IDS}")
            known = [k for k in (_BY_NAME.get(mtype.name), _BY_ID.get(mtype.type_id))
                     if k is not None and k is not mtype]
            try:
                found.append(register(mtype))
            except MessageError as err:
                other = _ORIGIN.get(known[0].name, "robo_orch") if known else "robo_orch"
                raise MessageError(f"{where}: {err} (registered by {other})") from None
            _ORIGIN.setdefault(found[-1].name, where)
    return found


# --- built-in types -------------------------------------------------------------

WHEEL_ODOMETRY = register(MessageType(
    "wheel_odometry", 1, [("v_left", "<f8"), ("v_right", "<f8")]))
IMU = register(MessageType(
    "imu", 2, [("gyro", "<f8", (3,)), ("accel", "<f8", (3,)), ("orientation", "<f8", (4,))]))
LASER_SCAN = register(MessageType(
    "laser_scan", 3,
    [("range_min", "<f4"), ("range_max", "<f4"), ("scan_duration", "<f4"), ("pad", "<f4")],
    [("angle", "<f4"), ("range", "<f4")], max_count=MAX_SCAN_POINTS))
VELOCITY_COMMAND = register(MessageType("velocity_command", 4, [("v", "<f8"), ("w", "<f8")]))
ESTOP = register(MessageType("estop", 5, [("engage", "u1"), ("pad", "u1", (7,))]))
POSE2D = register(MessageType(
    "pose2d", 6, [("x", "<f8"), ("y", "<f8"), ("yaw", "<f8"), ("v", "<f8"), ("w", "<f8")]))
POSITION_FIX = register(MessageType(
    "position_fix", 7, [("x", "<f8"), ("y", "<f8"), ("std", "<f8")]))
GNSS_FIX = register(MessageType(
    "gnss_fix", 8,
    [("latitude", "<f8"), ("longitude", "<f8"), ("altitude", "<f8"), ("hdop", "<f8"),
     ("speed", "<f8"), ("course", "<f8"), ("quality", "u1"), ("satellites", "u1"),
     ("pad", "u1", (6,))]))
#: ``estop``: the driver's own e-stop latch (1 latched), sent at once when it handles
#: an e-stop message; ``faults`` are the device's (its FAULT_ESTOP bit: the firmware's latch)
MOTOR_STATUS = register(MessageType(
    "motor_status", 9,
    [("left_ticks", "<i8"), ("right_ticks", "<i8"), ("battery_v", "<f8"), ("faults", "<u4"),
     ("device_ms", "<u4"), ("estop", "u1"), ("pad", "u1", (7,))]))
#: a holonomic base's command: body-frame forward, lateral (left) speed, m/s, yaw rate, rad/s
BODY_VELOCITY_COMMAND = register(MessageType(
    "body_velocity_command", 10, [("vx", "<f8"), ("vy", "<f8"), ("w", "<f8")]))
#: a holonomic base's odometry: its measured body-frame velocity (as the command's)
BODY_ODOMETRY = register(MessageType(
    "body_odometry", 11, [("vx", "<f8"), ("vy", "<f8"), ("w", "<f8")]))
# type ids 12-13: kept for the bases (e.g. mecanum wheel speeds); 14-15: joints


def fields_as_dict(fixed: np.ndarray, var: np.ndarray | None = None) -> dict[str, object]:
    """A message's fields as plain Python values (JSON-ready); padding is left out.

    The variable part, if any, becomes one list per field under ``"points"``.
    """
    rec = fixed.reshape(())
    out: dict[str, object] = {}
    for name in rec.dtype.names:
        if name == "pad":
            continue
        out[name] = rec[name].tolist()
    if var is not None:
        out["points"] = {name: var[name].tolist() for name in var.dtype.names if name != "pad"}
    return out


# --- the joints command space (robo_orch.core.safety_joints) ------------------------

#: most joints of one ``joints`` command space (and of its messages)
MAX_JOINTS = 64
#: one joint of a joint message's variable part, in the order of the space's config
JOINT_ELEMENT = [("position", "<f8"), ("velocity", "<f8")]
#: ``mode``: 0 position, 1 velocity (``robo_orch.core.safety_joints.MODES``): in position
#: mode a device tracks ``position`` with ``velocity`` as feed-forward, in velocity mode
#: it runs at ``velocity`` (``position`` is where that takes it in one tick);
#: ``flags``: the safety kernel's flags for this command
JOINT_COMMAND = register(MessageType(
    "joint_command", 14, [("mode", "u1"), ("pad", "u1", (3,)), ("flags", "<u4")],
    JOINT_ELEMENT, max_count=MAX_JOINTS))
#: measured joint positions and velocities; ``faults``: the device's fault bits (0 = none)
JOINT_STATE = register(MessageType(
    "joint_state", 15, [("faults", "<u4"), ("pad", "u1", (4,))],
    JOINT_ELEMENT, max_count=MAX_JOINTS))
