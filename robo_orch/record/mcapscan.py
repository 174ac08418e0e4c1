"""A fast sequential pass over an MCAP file that builds objects only for what is asked.

``mcap``'s ``StreamReader`` parses every record field by field: every message of
every channel and every message index, a few microseconds each, which is most of
a replay's time when the raw channels are a third of the messages.  :func:`scan`
walks the same records with one ``struct`` call per record header, opens chunks
with ``mcap``'s own decompression and CRC check
(:func:`mcap.stream_reader.get_chunk_data_stream`), and parses schema, channel and
metadata records with ``mcap``'s record classes; message indexes, chunk indexes
and the summary are skipped, and a message becomes a tuple only when its channel
is wanted.

Damage is contained: a chunk whose CRC, compression or records are bad is skipped
whole, and a record header that makes no sense (a bad opcode, a length past the end
of the file) is passed over by finding the next intact chunk; the chunks after the
damage are read as usual.  The data section's CRC (the ``DataEnd`` record) is
checked too.  :class:`ScanReport` says what was skipped.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
_CHUNK_HEAD = struct.Struct("<QQQII")  # start, end, uncompressed size and CRC, name length
_FOOTER = struct.Struct("<BQQQI")  # opcode, length, summary start, summary offsets, CRC
_PARSED = {SCHEMA: Schema.read, CHANNEL: Channel.read, METADATA: Metadata.read}
_VALID = {int(op) for op in Opcode}
_COMPRESSIONS = {b"", b"lz4", b"zstd"}
_RESYNC_BLOCK = 1 << 20


class McapFormatError(ValueError):
    """The bytes are not (or no longer) a valid MCAP record stream."""


@dataclass
class ScanReport:
    """What :func:`scan` read and what it had to skip."""

    messages: int = 0  #: messages in the records read (wanted or not)
    intact_end: int = 0  #: file offset just past the last record read intact
    skipped: list[tuple[int, int, str]] = field(default_factory=list)  #: (offset, bytes, why)
    crc_problem: str = ""  #: the data section CRC did not match


def scan(f, wanted: Callable[[Channel], bool], *, limit: int = 1 << 30,
         report: ScanReport | None = None) -> Iterator[tuple]:
    """Records of the MCAP file ``f`` (seekable), in file order.

    Yields ``(opcode, record)`` for schemas, channels and metadata (``mcap`` record
    objects), and ``(MESSAGE, (channel, sequence, log_time, publish_time, data))``
    for messages whose channel ``wanted`` accepted (asked once per channel, when
    its record comes).  Damaged chunks are skipped and noted in ``report``; raises
    :class:`McapFormatError` or ``EOFError`` where the file stops being readable
    (cut short, or damaged with no intact chunk after it); everything yielded
    before that is intact.
    """
    report = report if report is not None else ScanReport()
    size = f.seek(0, 2)
    f.seek(0)
    if f.read(8) != MAGIC:
        raise McapFormatError("no MCAP magic at the start")
    want: dict[int, Channel] = {}  # channel id -> channel, for wanted channels only
    read, unpack = f.read, _RECORD.unpack
    crc: int | None = zlib.crc32(MAGIC)  # of the data section; None once bytes were skipped
    pos = report.intact_end = 8
    summary_used = False

    def record(op: int, body: bytes) -> tuple:
        rec = _PARSED[op](ReadDataStream(BytesIO(body)))
        if op == CHANNEL and wanted(rec):
            want[rec.id] = rec
        return op, rec

    def skip(start: int, why: str) -> Iterator[tuple]:
        """Go on at the next intact chunk after ``start`` (or stop: nothing left)."""
        nonlocal pos, crc, summary_used
        nxt = _next_chunk(f, start + 1, size, limit)
        if nxt is None:
            raise McapFormatError(why)
        report.skipped.append((start, nxt - start, why))
        crc = None
        if not summary_used:  # the channels may have been in what was skipped
            summary_used = True
            yield from (record(op, body) for op, body in _summary_records(f, size))
        f.seek(nxt)
        pos = nxt

    while True:
        head = read(9)
        if len(head) < 9:
            raise EOFError("the file ends before its footer")
        opcode, length = unpack(head)
        if opcode not in _VALID or length > limit or pos + 9 + length > size:
            if opcode in _VALID and length <= limit:  # maybe only cut short
                tail = f"the file ends inside a record of {length} bytes"
            else:
                tail = f"bad record header (opcode {opcode}, length {length})"
            yield from skip(pos, tail)
            continue
        body = read(length)
        if len(body) < length:
            raise EOFError(f"the file ends inside a record of {length} bytes")
        start, pos = pos, pos + 9 + length
        if opcode == Opcode.DATA_END:
            stored = struct.unpack_from("<I", body)[0] if length >= 4 else 0
            if crc is not None and stored and stored != crc:
                report.crc_problem = (f"data section CRC mismatch (stored {stored:#010x}, "
                                      f"computed {crc:#010x})")
            crc = None
        elif crc is not None:
            crc = zlib.crc32(body, zlib.crc32(head, crc))
        if opcode == Opcode.CHUNK:
            try:
                out = _chunk(body, want, record, limit, report)
            except Exception as err:  # noqa: BLE001 (any damage inside: skip the chunk)
                report.skipped.append((start, 9 + length, f"{type(err).__name__}: {err}"))
                crc = None
                if not summary_used:
                    summary_used = True
                    here = f.tell()
                    yield from (record(op, b) for op, b in _summary_records(f, size))
                    f.seek(here)
                continue
            report.intact_end = pos
            yield from out
            continue
        report.intact_end = pos
        if opcode == MESSAGE:
            report.messages += 1
            cid, seq, log_time, pub_time = _MESSAGE.unpack_from(body, 0)
            channel = want.get(cid)
            if channel is not None:
                yield MESSAGE, (channel, seq, log_time, pub_time, body[22:])
        elif opcode in _PARSED:
            yield record(opcode, body)
        elif opcode == Opcode.FOOTER:
            if read(8) != MAGIC:
                raise McapFormatError("no MCAP magic after the footer")
            return


def _chunk(body: bytes, want: dict[int, Channel], record, limit: int,
           report: ScanReport) -> list[tuple]:
    """The wanted records of one chunk, all parsed before any is yielded (a bad chunk
    yields nothing)."""
    chunk = Chunk.read(ReadDataStream(BytesIO(body)))
    if chunk.uncompressed_size > limit:
        raise McapFormatError(f"chunk of {chunk.uncompressed_size} bytes")
    stream, size = get_chunk_data_stream(chunk, validate_crc=True)
    data = stream.read(size)
    if len(data) != size:
        raise McapFormatError("chunk shorter than its stated size")
    out = []
    off = messages = 0
    unpack_msg = _MESSAGE.unpack_from
    while off < size:
        op, n = _RECORD.unpack_from(data, off)
        off += 9
        if op not in _VALID or off + n > size:
            raise McapFormatError(f"bad record in a chunk (opcode {op})")
        if op == MESSAGE:
            messages += 1
            cid, seq, log_time, pub_time = unpack_msg(data, off)
            channel = want.get(cid)
            if channel is not None:
                out.append((MESSAGE, (channel, seq, log_time, pub_time,
                                      data[off + 22:off + n])))
        elif op in _PARSED:
            out.append(record(op, data[off:off + n]))
        off += n
    report.messages += messages
    return out


def _plausible_chunk(buf: bytes, at: int, file_at: int, size: int, limit: int) -> bool:
    """Whether ``buf[at:]`` starts a chunk record whose fields agree with each other."""
    if at + 9 + _CHUNK_HEAD.size > len(buf):
        return False
    _, length = _RECORD.unpack_from(buf, at)
    if length > limit or file_at + 9 + length > size:
        return False
    start, end, _, _, name_len = _CHUNK_HEAD.unpack_from(buf, at + 9)
    if start > end or name_len > 4:
        return False
    name_at = at + 9 + _CHUNK_HEAD.size
    if name_at + name_len + 8 > len(buf) or buf[name_at:name_at + name_len] not in _COMPRESSIONS:
        return False
    records_len = struct.unpack_from("<Q", buf, name_at + name_len)[0]
    return length == _CHUNK_HEAD.size + name_len + 8 + records_len


def _next_chunk(f, start: int, size: int, limit: int) -> int | None:
    """File offset of the first plausible chunk record at or after ``start``."""
    at = start
    overlap = 9 + _CHUNK_HEAD.size + 4 + 8
    while at < size:
        f.seek(at)
        buf = f.read(_RESYNC_BLOCK + overlap)
        i = buf.find(b"\x06")
        while 0 <= i < min(len(buf), _RESYNC_BLOCK):
            if _plausible_chunk(buf, i, at + i, size, limit):
                return at + i
            i = buf.find(b"\x06", i + 1)
        at += _RESYNC_BLOCK
    return None


def summary_records(f) -> list:
    """The schema and channel records (``mcap`` objects) of the summary of the MCAP
    file ``f``, if its footer is intact; [] otherwise."""
    records = [_PARSED[op](ReadDataStream(BytesIO(body)))
               for op, body in _summary_records(f, f.seek(0, 2))]
    f.seek(0)
    return records


def _summary_records(f, size: int) -> list[tuple[int, bytes]]:
    """(opcode, body) of the schemas and channels in the file's summary, if its footer
    is intact (they repeat the ones in the data section); [] otherwise."""
    if size < 8 + _FOOTER.size + 8:
        return []
    f.seek(size - 8 - _FOOTER.size)
    tail = f.read(_FOOTER.size + 8)
    if tail[-8:] != MAGIC:
        return []
    op, length, summary_start, _, _ = _FOOTER.unpack_from(tail)
    end = size - 8 - _FOOTER.size
    if op != Opcode.FOOTER or length != 20 or not 8 < summary_start < end:
        return []
    f.seek(summary_start)
    data = f.read(end - summary_start)
    out, off = [], 0
    while off + 9 <= len(data):
        op, n = _RECORD.unpack_from(data, off)
        if off + 9 + n > len(data):
            break
        if op in (SCHEMA, CHANNEL):
            out.append((op, data[off + 9:off + 9 + n]))
        off += 9 + n
    return out
