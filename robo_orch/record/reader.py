"""Read recordings back: raw bus messages, Foxglove JSON messages, the run's context.

:func:`open_recording` takes the first file of a set (``run.mcap``; its splits
``run-001.mcap`` ... follow automatically) and reads the files sequentially
(:func:`~robo_orch.record.mcapscan.scan`: ``mcap``'s records and decompression,
only the wanted channels' messages built), checking chunk CRCs and the data
section's CRC.  A corrupt chunk is skipped and the intact chunks after it are read;
a file cut short (a robot that lost power) is read up to its last intact record;
:attr:`Recording.warnings` (and one :class:`RecordingWarning` per damaged file) then
say what was skipped and how much was recovered.  Only regular files are opened
(:func:`robo_orch.files.open_regular`): a FIFO, a device or a directory is refused.

Raw channels whose message type is registered here with another layout hash or
wire format version are refused with :class:`RecordingError`, never misread.
Channels of message types this process does not know are skipped, with a warning.
"""

from __future__ import annotations

import heapq
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader

from robo_orch import files as _files
from robo_orch.errors import MessageError, RoboOrchWarning
from robo_orch.messages import FORMAT_VERSION, HEADER, Decoded, MessageType, decode, message_type
from robo_orch.record import ticks as _ticks  # noqa: F401  (registers the record types)
from robo_orch.record.channels import RAW_ENCODING, RECORDING_VERSION, RecordingContext
from robo_orch.record.mcapscan import (
    CHANNEL,
    MESSAGE,
    SCHEMA,
    ScanReport,
    scan,
    summary_records,
)
from robo_orch.record.sink import split_path

#: how far (in log time) messages may be out of order in a file; the writer sorts
#: each batch, so cross-topic disorder is bounded by its batches
REORDER_WINDOW_NS = 5_000_000_000


class RecordingError(MessageError):
    """A recording cannot be read: missing, not MCAP, or of another message layout."""

    exit_status = 2


class RecordingWarning(RoboOrchWarning):
    """A recording was read only in part (truncated or corrupt)."""


@dataclass
class RawMessage:
    """One recorded bus message, with its exact wire frames."""

    topic: str
    log_time_ns: int
    mtype: MessageType
    header_bytes: bytes
    payload: bytes

    @property
    def frames(self) -> list[bytes]:
        """``[topic, header, payload]`` as on the bus."""
        return [self.topic.encode("ascii"), self.header_bytes, self.payload]

    def decode(self) -> Decoded:
        """Header and read-only views of the payload."""
        return decode(self.frames, self.mtype)


@dataclass
class FileReport:
    """How one file of the set was read."""

    path: Path
    size: int
    intact: bool = True  #: read to its footer
    bytes_recovered: int = 0  #: up to the end of the last intact record
    messages: int = 0  #: in the intact records (every channel's)
    error: str = ""  #: why reading stopped before the footer
    skipped: list[tuple[int, int, str]] = field(default_factory=list)  #: corrupt chunks
    crc_problem: str = ""  #: the data section's CRC did not match

    @property
    def damaged(self) -> bool:
        """Anything was skipped, cut off or failed its CRC."""
        return not self.intact or bool(self.skipped) or bool(self.crc_problem)

    def describe(self) -> str:
        """One line: what was damaged and how much was recovered."""
        parts = []
        if self.skipped:
            n, (at, _, why) = len(self.skipped), self.skipped[0]
            lost = sum(length for _, length, _ in self.skipped)
            parts.append(f"skipped {n} corrupt chunk{'s' if n > 1 else ''} ({lost} bytes; "
                         f"the first at byte {at}: {why})")
        if not self.intact:
            pct = 100.0 * self.bytes_recovered / self.size if self.size else 0.0
            parts.append(f"read up to byte {self.bytes_recovered} of {self.size} ({pct:.0f}%): "
                         f"{self.error}")
        if self.crc_problem:
            parts.append(f"{self.crc_problem}: a record outside the chunks is damaged (every "
                         "chunk read passed its own CRC)")
        return (f"{self.path.name} is truncated or corrupt: {'; '.join(parts)}; recovered "
                f"{self.messages} messages")


@dataclass
class Recording:
    """An open recording (see :func:`open_recording`)."""

    files: list[Path]
    context: RecordingContext
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  #: topic -> info
    reports: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, str] = field(default_factory=dict)  #: the writer's closing counts
    topic_filter: list[str] | None = None

    # --- iteration ------------------------------------------------------------------
    def messages(self, topics: Iterable[str] | None = None) -> Iterator[tuple[Channel, Message]]:
        """Every readable MCAP message of the set in file order (all channels)."""
        match = _matcher(topics)
        for channel, seq, log_time, pub_time, data in self._scan(lambda c: match(c.topic)):
            yield channel, Message(channel_id=channel.id, sequence=seq, log_time=log_time,
                                   publish_time=pub_time, data=data)

    def raw(self, topics: Iterable[str] | None = None) -> Iterator[RawMessage]:
        """Recorded bus messages in log-time order (``topics``: names or glob patterns)."""
        match = _matcher(topics)
        heap: list[tuple[int, int, RawMessage]] = []
        push, pop = heapq.heappush, heapq.heappop
        order = 0
        size = HEADER.size
        mtypes: dict[str, MessageType | None] = {}
        for channel, _, log_time, _, data in self._scan(
                lambda c: c.message_encoding == RAW_ENCODING and match(c.topic)):
            topic = channel.topic
            mtype = mtypes.get(topic, False)
            if mtype is False:
                mtype = mtypes[topic] = self._raw_type(topic)
            if mtype is None:
                continue
            order += 1
            push(heap, (log_time, order, RawMessage(topic, log_time, mtype, data[:size],
                                                    data[size:])))
            while heap[0][0] < log_time - REORDER_WINDOW_NS:
                yield pop(heap)[2]
        while heap:
            yield pop(heap)[2]

    def foxglove(self, topic: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(log_time_ns, message)`` of one JSON channel, in file order."""
        for _, _, log_time, _, data in self._scan(
                lambda c: c.message_encoding == "json" and c.topic == topic):
            yield log_time, json.loads(data)

    # --- internals ------------------------------------------------------------------
    def _raw_type(self, topic: str) -> MessageType | None:
        """The message type of a raw channel (None: unknown here, skipped with a warning)."""
        info = self.channels.get(topic)
        if info is None:
            return None
        if info.get("skip"):
            self.warnings.append(f"topic {topic!r} has message type {info['type']!r}, "
                                 "unknown to this installation: skipped")
            return None
        return info["mtype"]

    def _scan(self, wanted) -> Iterator[tuple]:
        self.reports = []
        for path in self.files:
            yield from self._read_file(path, wanted)
        self._warn_if_partial()

    def _read_file(self, path: Path, wanted) -> Iterator[tuple]:
        report = FileReport(path, 0)
        self.reports.append(report)
        scanned = ScanReport()
        schemas: dict[int, Schema] = {}
        with _open(path) as f:
            report.size = os.fstat(f.fileno()).st_size
            records = scan(f, wanted, report=scanned)
            while True:
                try:
                    opcode, record = next(records)
                except StopIteration:
                    break
                except Exception as err:  # cut short, or nothing intact after some damage
                    report.intact = False
                    report.error = f"{type(err).__name__}: {err}".strip()
                    break
                if opcode == MESSAGE:
                    yield record
                elif opcode == SCHEMA:
                    schemas[record.id] = record
                elif opcode == CHANNEL:
                    self._check_channel(record, schemas.get(record.schema_id), path)
                elif record.name == "robo_orch.stats":
                    self.stats = dict(record.metadata)
        report.messages = scanned.messages
        report.bytes_recovered = scanned.intact_end
        report.skipped = scanned.skipped
        report.crc_problem = scanned.crc_problem

    def _check_channel(self, channel: Channel, schema: Schema | None, path: Path) -> None:
        if channel.message_encoding != RAW_ENCODING or channel.topic in self.channels:
            return
        meta = channel.metadata
        name = meta.get("type", "")
        try:
            layout_hash, version = int(meta["layout_hash"]), int(meta["format_version"])
            type_id = int(meta["type_id"])
        except (KeyError, ValueError) as err:
            raise RecordingError(f"{path}: raw channel {channel.topic!r} lacks its layout "
                                 "description; not a robo_orch recording?") from err
        try:
            mtype = message_type(name)
        except MessageError:
            self.channels[channel.topic] = {"type": name, "skip": True}
            return
        if (version != FORMAT_VERSION or layout_hash != mtype.layout_hash
                or type_id != mtype.type_id):
            raise RecordingError(
                f"{path}: topic {channel.topic!r} was recorded with message type {name!r} "
                f"id {type_id} layout 0x{layout_hash:08x} (wire format {version}); this "
                f"installation has id {mtype.type_id} layout 0x{mtype.layout_hash:08x} "
                f"(wire format {FORMAT_VERSION}). Read it with the robo_orch version that "
                "recorded it.")
        self.channels[channel.topic] = {"type": name, "mtype": mtype, "skip": False,
                                        "schema": schema.name if schema else ""}

    def _warn_if_partial(self) -> None:
        for rep in self.reports:
            if not rep.damaged:
                continue
            text = rep.describe()
            if text not in self.warnings:  # once per file, however often it is read
                self.warnings.append(text)
                warnings.warn(text, RecordingWarning, stacklevel=3)


def _open(path: Path):
    """``path`` opened for reading if it is a regular file; :class:`RecordingError` if not."""
    try:
        return _files.open_regular(path)
    except _files.BadFile as err:
        raise RecordingError(f"{path}: {err}") from None


def _matcher(topics: Iterable[str] | None):
    if topics is None:
        return lambda topic: True
    patterns = list(topics)
    return lambda topic: any(topic == p or fnmatch(topic, p) for p in patterns)


def recording_files(path: str | Path) -> list[Path]:
    """The files of a set, starting at ``path``."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"no recording at {path}")
    _open(path).close()  # a regular file (a FIFO or a directory is refused here)
    files = [path]
    while split_path(path, len(files)).exists():
        files.append(split_path(path, len(files)))
    return files


def open_recording(path: str | Path) -> Recording:
    """Open a recording and check its context and message layouts (see the module doc).

    Reads the start of the first file: the context metadata and the channels
    declared before the first message.  Raises :class:`RecordingError`.
    """
    files = recording_files(path)
    context = None
    rec = Recording(files, RecordingContext())
    schemas: dict[int, Schema] = {}
    first = _open(files[0])
    try:
        with first as f:
            for record in StreamReader(f, validate_crcs=True, record_size_limit=1 << 30).records:
                if isinstance(record, Metadata) and record.name == "robo_orch":
                    if int(record.metadata.get("version", -1)) != RECORDING_VERSION:
                        raise RecordingError(
                            f"{files[0]}: recording layout version "
                            f"{record.metadata.get('version')}, this installation reads "
                            f"{RECORDING_VERSION}")
                    context = RecordingContext.from_metadata(record.metadata)
                elif isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    rec._check_channel(record, schemas.get(record.schema_id), files[0])
                elif isinstance(record, Message):
                    break
    except RecordingError:
        raise
    except Exception as err:  # cut short or corrupt: what came before may be enough
        if context is None:
            raise RecordingError(f"{files[0]}: not a readable MCAP recording "
                                 f"({type(err).__name__}: {err})") from err
        with _open(files[0]) as f:  # the channels may be in a damaged chunk: the summary
            for record in summary_records(f):  # repeats them if the footer is intact
                if isinstance(record, Schema):
                    schemas[record.id] = record
                else:
                    rec._check_channel(record, schemas.get(record.schema_id), files[0])
    if context is None:
        raise RecordingError(f"{files[0]}: no robo_orch context record: not recorded by "
                             "robo-orch, or cut off before its first chunk")
    rec.context = context
    return rec
