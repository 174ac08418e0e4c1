"""Per-tick record of a run, in preallocated chunks, for the summary and the plot."""

from __future__ import annotations

from collections import deque

import numpy as np

#: columns of a trace row (``cmd_v`` is the forward speed vx on a holonomic base)
COLUMNS = ("t", "x", "y", "yaw", "true_x", "true_y", "true_yaw", "cmd_v", "cmd_w", "flags",
           "winner")
#: a holonomic base's rows (``Kinematics.lateral``) add its lateral speeds, estimated and
#: commanded; a wheeled base's rows keep :data:`COLUMNS` (and their ``trace_sha256``)
LATERAL_COLUMNS = (*COLUMNS, "vy", "cmd_vy")
_CHUNK = 4096


def columns_for(lateral: bool) -> tuple[str, ...]:
    """The columns of a base's trace: :data:`LATERAL_COLUMNS` if it has a lateral speed."""
    return LATERAL_COLUMNS if lateral else COLUMNS


def _new_chunk(width: int = len(COLUMNS)) -> np.ndarray:
    chunk = np.empty((_CHUNK, width))
    chunk.fill(0.0)  # touch every page now, not one page fault at a time inside the ticks
    return chunk


class Trace:
    """Rows of floats appended once per tick; memory grows one chunk at a time.

    With ``max_rows`` the trace keeps only about the last ``max_rows`` rows (whole
    chunks are dropped), so a robot that runs for hours does not grow without end.
    """

    def __init__(self, max_rows: int | None = None,
                 columns: tuple[str, ...] = COLUMNS) -> None:
        #: the names of the columns (:data:`COLUMNS` or :data:`LATERAL_COLUMNS`)
        self.columns = tuple(columns)
        self._chunks: deque[np.ndarray] = deque([_new_chunk(len(self.columns))])
        self._max_chunks = None if max_rows is None else max(2, -(-max_rows // _CHUNK) + 1)
        self._row = 0
        self.rows = 0  #: rows appended since the start (including dropped ones)
        self.dropped = 0  #: rows no longer held

    def append_row(self) -> np.ndarray:
        """The next free row (a view to fill in place)."""
        if self._row == _CHUNK:
            if self._max_chunks is not None and len(self._chunks) >= self._max_chunks:
                oldest = self._chunks.popleft()
                self.dropped += _CHUNK
                oldest.fill(0.0)
                self._chunks.append(oldest)  # reuse its memory
            else:
                self._chunks.append(_new_chunk(len(self.columns)))
            self._row = 0
        row = self._chunks[-1][self._row]
        self._row += 1
        self.rows += 1
        return row

    def array(self) -> np.ndarray:
        """All rows held, oldest first, as one (rows, columns) array."""
        return np.concatenate(self._chunks)[: self.rows - self.dropped]

    def column(self, name: str) -> np.ndarray:
        """One column of all rows held."""
        return self.array()[:, self.columns.index(name)]
