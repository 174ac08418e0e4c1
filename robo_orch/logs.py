"""Log lines an operator can use: timestamped and levelled on stderr, rotated in a file.

Every line robo_orch writes to stderr (its own, and the lines of the driver
processes its supervisor forwards) goes through :class:`LineLog`, which gives it
a level and writes it as::

    2026-12-06 23:10:11.123 INFO    robo-orch supervisor: driver lidar ready (pid 4121)

The level comes from the line: ``...: error: ...`` is ERROR, ``...: warning: ...``
is WARNING, anything else INFO; ``--log-level`` drops the lines below it.
Under systemd (``JOURNAL_STREAM`` names our stderr) the timestamp is left to the
journal and the level travels as a ``<N>`` syslog priority prefix, which journald
turns into the entry's priority (``journalctl -p warning``).

Two kinds of lines are left exactly as they are on stderr: the one-line error or
warning a command ends with (``robo-orch: error: ...``, what a user reads and
scripts match; under journald they still get their ``<N>`` prefix), and the live
progress line on a terminal (``\\r`` rewrites).  ``--log-file`` writes every
line, timestamped, to a file that rotates at ``--log-max-mb`` and keeps
``--log-backups`` old ones (:class:`logging.handlers.RotatingFileHandler`).

Child processes whose stderr a parent forwards (drivers under the supervisor) get
``ROBO_ORCH_LOG_FORWARDED=1`` and write plain lines: the parent stamps them once.

A leaf module (the standard library only).
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
import threading
from typing import TextIO

LOGGER = "robo_orch"
#: set for children whose stderr the parent forwards line by line
FORWARDED_ENV = "ROBO_ORCH_LOG_FORWARDED"
LEVELS = ("debug", "info", "warning", "error")
#: syslog priorities of the levels (sd-daemon(3) prefixes)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}
_STAMPED = "%(asctime)s.%(msecs)03d %(levelname)-7s %(message)s"
_DATE = "%Y-%m-%d %H:%M:%S"


def level_of(line: str) -> int:
    """A line's level from its words: ``error:`` ERROR, ``warning:`` WARNING, else INFO."""
    head = line[:200]
    if ": error:" in head or head.startswith("error:") or ": runtime fault:" in head:
        return logging.ERROR
    if ": warning:" in head or head.startswith("warning:"):
        return logging.WARNING
    return logging.INFO


def journal_stream(stream: TextIO) -> bool:
    """Whether ``stream`` is connected to the journal (``JOURNAL_STREAM`` is ``dev:inode``)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{record.getMessage()}"


class LineLog(io.TextIOBase):
    """A text stream (``sys.stderr`` stand-in) whose every complete line becomes a log record.

    ``raw`` is the real stream: terminal progress writes (with ``\\r``) go straight
    to it, and :meth:`isatty` and :meth:`fileno` are its.
    """

    def __init__(self, raw: TextIO, logger: logging.Logger) -> None:
        super().__init__()
        self.raw = raw
        self.logger = logger
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self.raw, "encoding", "utf-8")

    def write(self, text: str) -> int:
        with self._lock:
            if "\r" in text and self.raw.isatty():  # a live progress line: as it is
                if self._pending:
                    self._emit(self._pending)
                    self._pending = ""
                self.raw.write(text)
                self.raw.flush()
                return len(text)
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
            for line in lines:
                self._emit(line)
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def close_line(self) -> None:
        """Emit a last line that had no newline."""
        with self._lock:
            if self._pending:
                self._emit(self._pending)
                self._pending = ""

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        if line.strip():
            self.logger.log(level_of(line), line)


class _Setup:
    handlers: list[logging.Handler] = []
    stderr: TextIO | None = None  #: the real stderr while a LineLog stands in for it
    journal = False


def setup(level: str = "info", log_file: str | None = None, max_mb: float = 10.0,
          backups: int = 5) -> None:
    """Route stderr through the logger: stamped lines there, and in ``log_file`` if given.

    Idempotent: a second call replaces the first's handlers.
    """
    teardown()
    raw = sys.stderr
    logger = logging.getLogger(LOGGER)
    logger.setLevel(getattr(logging, level.upper()))
    logger.propagate = False
    to_stderr = logging.StreamHandler(raw)
    _Setup.journal = journal_stream(raw)
    if _Setup.journal:
        to_stderr.setFormatter(_JournalFormatter())
    elif os.environ.get(FORWARDED_ENV):
        to_stderr.setFormatter(logging.Formatter("%(message)s"))
    else:
        to_stderr.setFormatter(logging.Formatter(_STAMPED, _DATE))
    handlers: list[logging.Handler] = [to_stderr]
    if log_file:
        try:
            to_file = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=int(max_mb * 1024 * 1024), backupCount=backups,
                encoding="utf-8")
        except OSError as err:
            from robo_orch.errors import UsageError

            raise UsageError(f"--log-file {log_file}: {err.strerror}") from None
        to_file.setFormatter(logging.Formatter(_STAMPED, _DATE))
        handlers.append(to_file)
    for handler in handlers:
        logger.addHandler(handler)
    _Setup.handlers = handlers
    _Setup.stderr = raw
    sys.stderr = LineLog(raw, logger)


def teardown() -> None:
    """Undo :func:`setup`: the real stderr back, handlers closed."""
    if isinstance(sys.stderr, LineLog):
        sys.stderr.close_line()
    if _Setup.stderr is not None:
        sys.stderr = _Setup.stderr
        _Setup.stderr = None
    logger = logging.getLogger(LOGGER)
    for handler in _Setup.handlers:
        logger.removeHandler(handler)
        handler.close()
    _Setup.handlers = []


def final_line(text: str) -> None:
    """A command's last word (``robo-orch: error: ...``): on stderr as it is, in the file too.

    Under the journal it gets its priority prefix; in ``--log-file`` a timestamp.
    """
    raw = _Setup.stderr or sys.stderr
    level = level_of(text)
    prefix = f"<{_PRIORITY[level]}>" if _Setup.journal else ""
    print(prefix + text, file=raw, flush=True)
    logger = logging.getLogger(LOGGER)
    for handler in _Setup.handlers[1:]:  # the file, not stderr again
        if level >= logger.level:
            handler.handle(logger.makeRecord(LOGGER, level, "", 0, text, (), None))
