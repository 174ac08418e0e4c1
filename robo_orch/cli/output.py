"""Files a command was asked to write (``--summary``, ``--json``)."""

from __future__ import annotations

from pathlib import Path

from robo_orch.errors import UsageError


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path``; a path that cannot be written is a usage error (one line)."""
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
