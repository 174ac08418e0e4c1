"""The per-tick trace: complete for a mission, bounded for a robot that runs for hours."""

from __future__ import annotations

import numpy as np

from robo_orch.runtime.trace import COLUMNS, Trace


def fill(trace: Trace, n: int) -> None:
    for i in range(n):
        trace.append_row()[0] = i


def test_unbounded_trace_keeps_every_row_in_order():
    trace = Trace()
    fill(trace, 10_000)
    t = trace.column("t")
    assert np.array_equal(t, np.arange(10_000))
    assert trace.array().shape == (10_000, len(COLUMNS))


def test_bounded_trace_keeps_the_newest_rows_in_fixed_memory():
    trace = Trace(max_rows=5_000)
    fill(trace, 50_000)
    t = trace.column("t")
    assert 5_000 <= len(t) <= 5_000 + 2 * 4096
    assert t[-1] == 49_999 and np.all(np.diff(t) == 1)
    assert trace.rows == 50_000 and trace.dropped == 50_000 - len(t)
    for _ in range(3):  # and stays within the same bound however long it runs
        fill(trace, 50_000)
        assert 5_000 <= len(trace.column("t")) <= 5_000 + 2 * 4096
