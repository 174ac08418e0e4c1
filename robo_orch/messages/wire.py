"""The wire form of a message: encoding it into frames and decoding them.

On the wire a message is three frames ``[topic, header, payload]``: the header is
:data:`~robo_orch.messages.header.HEADER`, the payload the type's fixed part followed
by ``header.count`` variable elements.  :func:`decode` checks the header's version,
type id and layout hash against the expected type and the payload's size, and
says what was wrong with a :class:`DecodeError`.

:func:`encode` and :func:`decode` are on the path of every message of the
lockstep simulation, so they do the minimum: one ``struct`` call for the header,
``tobytes`` for the payload, and zero-copy read-only views when decoding.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np

from robo_orch.errors import MessageError
from robo_orch.messages.header import FORMAT_VERSION, FRAME_ID_LEN, HEADER, Header, frame_id_bytes
from robo_orch.messages.types import MessageType

#: the reasons :class:`DecodeError` can carry
DECODE_REASONS = ("frames", "header", "version", "type", "layout", "size")

# tuple.__new__ builds a NamedTuple without its Python-level __new__ (see decode)
_new = tuple.__new__
_FRAME_IDS: dict[bytes, str] = {}  # raw frame id -> str; a robot has a handful


class DecodeError(MessageError):
    """Frames that are not a valid message of the expected type.

    ``reason`` is one of :data:`DECODE_REASONS`.
    """

    def __init__(self, reason: str, text: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {text}")


class Decoded(NamedTuple):
    """A decoded message: read-only views into the received payload."""

    header: Header
    fixed: np.ndarray  #: structured, shape ()
    var: np.ndarray | None  #: structured, shape (count,), or None for fixed-only types


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


def _frame_id_str(raw: bytes) -> str:
    try:
        text = raw.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("header", f"frame id {raw!r} is not ASCII") from None
    if len(_FRAME_IDS) < 1024:
        _FRAME_IDS[raw] = text
    return text

