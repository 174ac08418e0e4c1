"""The loop-timing benchmark computes its figures right (checked on synthetic starts)."""

from __future__ import annotations

import numpy as np
import pytest

from robo_orch.bench_timing import _figures, measure_loop

MS = 1_000_000


def test_figures_from_known_tick_starts():
    starts = np.array([0, 10, 21, 30, 40, 62], dtype=np.int64) * MS
    fig = _figures(starts, 10 * MS)
    # intervals 10, 11, 9, 10, 22 ms: errors 0, 1000, 1000, 0, 12000 us
    assert fig["period_error_us"]["p50"] == pytest.approx(1000.0)
    assert fig["period_error_us"]["max"] == pytest.approx(12000.0)
    assert fig["stalls"] == 1  # the 22 ms interval lost a whole slot
    # mean period 62 / 5 = 12.4 ms: 24% long
    assert fig["mean_period_drift_ppm"] == pytest.approx(240000.0)


def test_measure_loop_records_every_tick():
    fig = measure_loop(200.0, 0.1, spin_us=200.0)
    assert set(fig) == {"period_error_us", "mean_period_drift_ppm", "stalls", "overruns"}
    # unrecorded starts (all zero) would give a mean period of 0, a drift of -1e6 ppm
    assert np.isfinite(fig["mean_period_drift_ppm"]) and fig["mean_period_drift_ppm"] > -999_000
