"""The loop-timing benchmark computes its figures right (checked on synthetic starts)."""

from __future__ import annotations

import numpy as np
import pytest

from robo_orch.bench.timing import _figures, bench_loop_timing, measure_loop

MS = 1_000_000


def test_figures_from_known_tick_starts():
    starts = np.array([0, 10, 21, 30, 40, 60], dtype=np.int64) * MS
    fig = _figures(starts, 10 * MS, ticks=np.array([0, 1, 2, 3, 4, 6]))
    # intervals 10, 11, 9, 10, 20 ms: errors 0, 1000, 1000, 0, 10000 us
    assert fig["period_error_us"]["p50"] == pytest.approx(1000.0)
    assert fig["period_error_us"]["max"] == pytest.approx(10000.0)
    assert fig["stalls"] == 1  # the 20 ms interval lost a whole slot
    # slot 5 was skipped and the schedule kept: no drift beyond the 1 ms jitter of slot 2
    assert abs(fig["mean_period_drift_ppm"]) < 5000


def test_drift_of_a_loop_that_sleeps_one_period_after_each_tick():
    starts = (np.arange(100) * 10.1 * MS).astype(np.int64)  # each period 0.1 ms long
    fig = _figures(starts, 10 * MS)
    assert fig["mean_period_drift_ppm"] == pytest.approx(10000.0)
    assert fig["stalls"] == 0


def test_measure_loop_records_every_tick():
    fig = measure_loop(200.0, 0.1, spin_us=200.0)
    assert set(fig) == {"period_error_us", "mean_period_drift_ppm", "stalls", "overruns",
                        "lateness_us"}
    # unrecorded starts (all zero) would give a mean period of 0, a drift of -1e6 ppm
    assert np.isfinite(fig["mean_period_drift_ppm"]) and fig["mean_period_drift_ppm"] > -999_000
    # a tick never starts before its deadline; unrecorded indices would put it far off
    assert 0 <= fig["lateness_us"]["p50"] <= fig["lateness_us"]["max"] < 1e6


def test_each_variant_runs_in_its_own_process_or_says_it_was_refused():
    out = bench_loop_timing(rates=(200.0,), seconds=0.05, variants=("loop", "loop_rt"))
    entry = out["rates"]["200"]
    assert "sleep" in entry and "loop" in entry  # these need no privilege
    # loop_rt is measured exactly when the kernel allowed all of its measures
    assert ("loop_rt" in entry) != ("loop_rt" in out["not_permitted"])
    for r in entry.values():
        assert r["stalls"] >= 0 and r["period_error_us"]["p50"] >= 0
