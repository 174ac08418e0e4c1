"""MCAP output with split files, a total size cap and disk-full handling.

:class:`McapSink` writes through the ``mcap`` package's ``Writer``.  When the
current file would pass ``split_bytes`` it is finished (summary and footer
written) and the next file of the set begins: ``run.mcap``, ``run-001.mcap``,
``run-002.mcap`` ...  Each file is complete on its own (schemas, channels and the
context metadata are written again).  When the whole set would pass
``max_bytes``, or the disk fills up (any ``OSError``), recording stops: the sink
says why in :attr:`stopped`, and what was written stays readable (a file cut
short without its footer is recovered by :mod:`robo_orch.record.reader`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from mcap.writer import CompressionType, Writer

from robo_orch.record.channels import ChannelSpec, RecordingContext

_COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4,
                "none": CompressionType.NONE}
_SUMMARY_MARGIN = 64 * 1024  # room for the summary section written by finish()
#: the smallest split or cap size the command line accepts: a file holds the
#: context, the schemas and a summary reserve besides its messages
MIN_FILE_BYTES = 1_000_000


def split_path(path: Path, index: int) -> Path:
    """The ``index``-th file of a set (0: ``path`` itself)."""
    if index == 0:
        return path
    return path.with_name(f"{path.stem}-{index:03d}{path.suffix}")


class McapSink:
    """Writes channels and messages into a set of MCAP files (see the module docstring)."""

    def __init__(self, path: str | Path, context: RecordingContext, *,
                 split_bytes: int | None = None, max_bytes: int | None = None,
                 chunk_size: int = 256 * 1024, compression: str = "zstd") -> None:
        self.path = Path(path)
        self.context = context
        self.split_bytes = split_bytes
        self.max_bytes = max_bytes
        # a quarter of the split or cap size at most: the reserve kept for the open
        # chunk leaves the rest of a file (or of the cap) for messages
        self.chunk_size = int(min(chunk_size, (split_bytes or chunk_size * 4) // 4,
                                  (max_bytes or chunk_size * 4) // 4))
        self.compression = _COMPRESSION[compression]
        self.files: list[Path] = []
        self.messages = 0
        #: why recording stopped early (None while it runs, or after a normal close)
        self.stopped: str | None = None
        self._specs: dict[str, ChannelSpec] = {}
        self._ids: dict[str, int] = {}
        self._writer: Writer | None = None
        self._file = None
        self._closed_bytes = 0
        self._open_next()

    # --- public ---------------------------------------------------------------------
    def add_channel(self, spec: ChannelSpec) -> None:
        """Declare a channel (idempotent per topic)."""
        if spec.topic in self._specs or self.stopped:
            return
        self._specs[spec.topic] = spec
        self._guard(self._register, spec)

    def write(self, topic: str, log_time_ns: int, data: bytes, publish_time_ns: int,
              sequence: int = 0) -> bool:
        """Write one message on a declared channel; False once recording has stopped."""
        if self.stopped:
            return False
        return self._guard(self._write, topic, log_time_ns, data, publish_time_ns, sequence)

    @property
    def bytes_written(self) -> int:
        """Bytes on disk so far over the whole set (the open chunk not included)."""
        current = self._file.tell() if self._file is not None and not self._file.closed else 0
        return self._closed_bytes + current

    def close(self, final_metadata: dict[str, str] | None = None) -> None:
        """Finish the current file (with ``final_metadata`` as a ``robo_orch.stats`` record)."""
        if self._writer is None:
            return
        if final_metadata and not self.stopped:
            self._guard(self._writer.add_metadata, "robo_orch.stats", final_metadata)
        self._finish()

    # --- internals ------------------------------------------------------------------
    def _guard(self, fn, *args) -> bool:
        try:
            fn(*args)
            return True
        except OSError as err:
            self._stop(f"{err.strerror or err} writing {self._current()}")
            return False

    def _current(self) -> Path:
        return self.files[-1] if self.files else self.path

    def _stop(self, reason: str) -> None:
        if self.stopped:
            return
        self.stopped = reason
        # the footer may not fit any more: the file is still readable up to its last
        # complete record, which is what the reader recovers
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with contextlib.suppress(OSError, ValueError):
            writer.finish()
        with contextlib.suppress(OSError, ValueError):
            self._file.close()

    def _open_next(self) -> None:
        path = split_path(self.path, len(self.files))
        try:
            self._file = open(path, "wb")  # noqa: SIM115 (owned until _finish)
        except OSError as err:
            self.stopped = f"cannot create {path}: {err.strerror}"
            return
        self.files.append(path)
        # chunk CRCs and the data section's CRC (DataEnd): the reader checks both
        self._writer = Writer(self._file, chunk_size=self.chunk_size,
                              compression=self.compression, enable_crcs=True,
                              enable_data_crcs=True)
        self._ids = {}
        ok = self._guard(self._start)
        if ok:
            for spec in self._specs.values():
                if not self._guard(self._register, spec):
                    return

    def _start(self) -> None:
        self._writer.start(profile="robo_orch", library="robo_orch")
        meta = self.context.to_metadata()
        meta["split_index"] = str(len(self.files) - 1)
        self._writer.add_metadata("robo_orch", meta)

    def _register(self, spec: ChannelSpec) -> None:
        schema_id = self._writer.register_schema(spec.schema_name, spec.schema_encoding,
                                                 spec.schema_data)
        self._ids[spec.topic] = self._writer.register_channel(
            spec.topic, spec.message_encoding, schema_id, dict(spec.metadata))

    def _write(self, topic: str, log_time_ns: int, data: bytes, publish_time_ns: int,
               sequence: int) -> None:
        self._writer.add_message(self._ids[topic], max(int(log_time_ns), 0), data,
                                 max(int(publish_time_ns), 0), sequence & 0xFFFFFFFF)
        self.messages += 1
        size = self._file.tell()
        reserve = self.chunk_size + _SUMMARY_MARGIN
        if self.max_bytes is not None and self._closed_bytes + size + reserve > self.max_bytes:
            self._finish()
            self.stopped = (f"size cap of {self.max_bytes / 1e6:g} MB reached "
                            f"({len(self.files)} file(s))")
        elif self.split_bytes is not None and size + reserve > self.split_bytes:
            self._finish()
            self._open_next()

    def _finish(self) -> None:
        writer, self._writer = self._writer, None
        try:
            writer.finish()
            self._file.flush()
        except OSError as err:
            self.stopped = self.stopped or f"{err.strerror or err} writing {self._current()}"
        finally:
            try:
                self._closed_bytes += self._file.tell()
                self._file.close()
            except (OSError, ValueError):
                pass
