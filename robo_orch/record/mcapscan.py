"""A fast sequential pass over an MCAP file that builds objects only for what is asked.

``mcap``'s ``StreamReader`` parses every record field by field: every message of
every channel and every message index, a few microseconds each, which is most of
a replay's time when the raw channels are a third of the messages.  :func:`scan`
walks the same records with one ``struct`` call per record header, opens chunks
with ``mcap``'s own decompression and CRC check
(:func:`mcap.stream_reader.get_chunk_data_stream`), and parses schema, channel and
metadata records with ``mcap``'s record classes; message indexes, chunk indexes
and the summary are skipped, and a message becomes a tuple only when its channel
is wanted.  The data section CRC is not checked (each chunk's CRC is).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from io import BytesIO

from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Metadata, Schema
from mcap.stream_reader import get_chunk_data_stream

MAGIC = b"\x89MCAP0\r\n"
MESSAGE, SCHEMA, CHANNEL, METADATA = Opcode.MESSAGE, Opcode.SCHEMA, Opcode.CHANNEL, \
    Opcode.METADATA
_RECORD = struct.Struct("<BQ")  # opcode, length
_MESSAGE = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_PARSED = {SCHEMA: Schema.read, CHANNEL: Channel.read, METADATA: Metadata.read}
_VALID = {int(op) for op in Opcode}


class McapFormatError(ValueError):
    """The bytes are not (or no longer) a valid MCAP record stream."""


def scan(f, wanted: Callable[[Channel], bool], *, limit: int = 1 << 30) -> Iterator[tuple]:
    """Records of the MCAP stream ``f``, in file order.

    Yields ``(opcode, record)`` for schemas, channels and metadata (``mcap`` record
    objects), and ``(MESSAGE, (channel, sequence, log_time, publish_time, data))``
    for messages whose channel ``wanted`` accepted (asked once per channel, when
    its record comes).  Raises :class:`McapFormatError` or ``EOFError`` where the
    stream stops being valid; everything yielded before that is intact.
    """
    if f.read(8) != MAGIC:
        raise McapFormatError("no MCAP magic at the start")
    want: dict[int, Channel] = {}  # channel id -> channel, for wanted channels only
    read, unpack, unpack_msg = f.read, _RECORD.unpack, _MESSAGE.unpack_from

    def record(op: int, body: bytes) -> tuple:
        rec = _PARSED[op](ReadDataStream(BytesIO(body)))
        if op == CHANNEL and wanted(rec):
            want[rec.id] = rec
        return op, rec

    while True:
        head = read(9)
        if len(head) < 9:
            raise EOFError("the file ends before its footer")
        opcode, length = unpack(head)
        if opcode not in _VALID or length > limit:
            raise McapFormatError(f"bad record header (opcode {opcode}, length {length})")
        body = read(length)
        if len(body) < length:
            raise EOFError(f"the file ends inside a record of {length} bytes")
        if opcode == Opcode.CHUNK:
            chunk = Chunk.read(ReadDataStream(BytesIO(body)))
            stream, size = get_chunk_data_stream(chunk, validate_crc=True)
            data = stream.read(size)
            # parse the whole chunk before yielding: a bad chunk yields nothing
            out = []
            off = 0
            while off < size:
                op, n = _RECORD.unpack_from(data, off)
                off += 9
                if op == MESSAGE:
                    cid, seq, log_time, pub_time = unpack_msg(data, off)
                    channel = want.get(cid)
                    if channel is not None:
                        out.append((MESSAGE, (channel, seq, log_time, pub_time,
                                              data[off + 22:off + n])))
                elif op in _PARSED:
                    out.append(record(op, data[off:off + n]))
                elif op not in _VALID or off + n > size:
                    raise McapFormatError(f"bad record in a chunk (opcode {op})")
                off += n
            yield from out
        elif opcode == MESSAGE:
            cid, seq, log_time, pub_time = unpack_msg(body, 0)
            channel = want.get(cid)
            if channel is not None:
                yield MESSAGE, (channel, seq, log_time, pub_time, body[22:])
        elif opcode in _PARSED:
            yield record(opcode, body)
        elif opcode == Opcode.FOOTER:
            if read(8) != MAGIC:
                raise McapFormatError("no MCAP magic after the footer")
            return
