"""Per-tick record of a run, in preallocated chunks, for the summary and the plot."""

from __future__ import annotations

import numpy as np

#: columns of a trace row
COLUMNS = ("t", "x", "y", "yaw", "true_x", "true_y", "true_yaw", "cmd_v", "cmd_w", "flags",
           "winner")
_CHUNK = 4096


class Trace:
    """Rows of floats appended once per tick; memory grows one chunk at a time."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = [np.zeros((_CHUNK, len(COLUMNS)))]
        self._row = 0
        self.rows = 0

    def append_row(self) -> np.ndarray:
        """The next free row (a view to fill in place)."""
        if self._row == _CHUNK:
            self._chunks.append(np.zeros((_CHUNK, len(COLUMNS))))
            self._row = 0
        row = self._chunks[-1][self._row]
        self._row += 1
        self.rows += 1
        return row

    def array(self) -> np.ndarray:
        """All rows so far, as one (rows, columns) array."""
        return np.concatenate(self._chunks)[: self.rows]

    def column(self, name: str) -> np.ndarray:
        """One column of all rows so far."""
        return self.array()[:, COLUMNS.index(name)]
