"""Reading files a user names, safely: only regular files, bounded in size, text checked.

Every path a command reads (config files and the files they ``extends``, recordings)
goes through :func:`open_regular`, so that ``/dev/zero``, a FIFO nobody writes (whose
``open`` would block forever) or a directory is refused at once instead of hanging
or crashing the tool; :func:`read_text` adds a size bound and a clear word on
binary, UTF-16 and other non-UTF-8 content.  Problems raise :class:`BadFile`, whose
message is the problem alone: the caller names the file in its own error type.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


class BadFile(ValueError):
    """A file that cannot be read as asked (missing, special, too large, not text)."""


def open_regular(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file; :class:`BadFile` if not.

    The file is opened without blocking (a FIFO's ``open`` would wait for a writer)
    and checked with ``fstat`` on the open descriptor, so what is checked is what is
    read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadFile("file not found") from None
    except IsADirectoryError:
        raise BadFile("is a directory") from None
    except OSError as err:
        raise BadFile(f"cannot open: {err.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise BadFile("is a directory")
        if not stat.S_ISREG(mode):
            kind = next((word for test, word in _KINDS if test(mode)), "a special file")
            raise BadFile(f"not a regular file ({kind})")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The contents of the regular file ``path``, refused when larger than ``limit`` bytes."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BadFile(f"larger than the {_size(limit)} such a file may be")
    return data


def read_text(path: str | Path, limit: int) -> str:
    """The UTF-8 text of the regular file ``path`` (a UTF-8 byte order mark is dropped).

    :class:`BadFile` for a file larger than ``limit`` bytes, a binary file (one with
    NUL bytes), UTF-16 or UTF-32 text, or bytes that are not UTF-8.
    """
    return decode_text(read_bytes(path, limit))


def decode_text(data: bytes) -> str:
    """``data`` as UTF-8 text, or :class:`BadFile` saying what it is instead."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise BadFile(f"is {name} text; save it as UTF-8")
    if b"\0" in data:
        raise BadFile("is a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise BadFile(f"is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); "
                      "save it as UTF-8") from None


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n} bytes"
