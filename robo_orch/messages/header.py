"""The header every message carries on the wire, and the frame size limits it sets.

:data:`HEADER` is the fixed little-endian struct of the second frame of
``[topic, header, payload]``; :class:`Header` is its decoded form.  The smallest
frame size limit (:data:`MIN_FRAME_LIMIT`) always holds a topic and a header;
:func:`frame_limit` gives a message type's limit from its largest payload.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from robo_orch.errors import MessageError

#: wire format version written into every header
FORMAT_VERSION = 1
#: version, clock id, type id, layout hash, publisher id, incarnation, seq,
#: stamp ns, var count, frame id -- little-endian, no padding (52 bytes)
HEADER = struct.Struct("<BBHIIIQqI16s")
FRAME_ID_LEN = 16
#: longest topic frame (the bus's topic rule)
MAX_TOPIC_BYTES = 100
#: the smallest frame size limit: a topic and a header are always below it
MIN_FRAME_LIMIT = 1024


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


def frame_limit(payload_bytes: int) -> int:
    """The frame size limit for a largest payload: the largest frame plus a quarter, >= 1 KiB."""
    largest = max(int(payload_bytes), HEADER.size, MAX_TOPIC_BYTES)
    return largest + max(MIN_FRAME_LIMIT, largest // 4)


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
