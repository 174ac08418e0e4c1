"""Process-level benchmarks run end to end and report what they say they report."""

from __future__ import annotations

import sys

import pytest

from robo_orch.bench.process import (
    bench_memory,
    bench_module_compile,
    bench_share_ends,
    bench_startup,
)


def test_startup_against_the_numba_floor():
    startup = bench_startup(cold=False, repeats=1)
    assert 0 < startup["numba_floor_s"] < 600 and 0 < startup["warm_cache_s"] < 600
    assert "cold_cache_s" not in startup  # cold=False: nothing compiled from scratch


def test_memory_run_drives_laps_for_exactly_the_ticks_asked():
    memory = bench_memory(ticks=14_000)
    assert memory["ticks"] == 14_000  # the mission never ended on its own
    assert memory["distance_m"] > 60  # three laps of the 20 m square at least
    assert memory["measured_over_ticks"] > 0 and memory["extrapolated"]
    assert 0 < memory["rss_start_kib"] <= memory["rss_settled_kib"] + 64 * 1024


def test_module_compile_times_each_module_in_a_fresh_process_with_an_empty_cache():
    out = bench_module_compile(["robo_orch.core.finite", "robo_orch.core.schedule"],
                               repeats=1, base_python=sys.executable)
    assert set(out) == {"robo_orch.core.finite", "robo_orch.core.schedule"}
    for by in out.values():
        assert set(by) == {"now", "base"}
        # compiled, not loaded: an empty cache each time (loading takes milliseconds)
        assert all(0.02 < by[k]["median_s"] < 600 for k in by)
    with pytest.raises(RuntimeError, match="no_such_module"):
        bench_module_compile(["robo_orch.core.no_such_module"], repeats=1)


@pytest.mark.slow
def test_the_share_ends_of_a_cold_compile_are_timed_with_both_shares_compiling():
    # two small shares (the demo's take ~10 s; its shares are those of every cold start)
    out = bench_share_ends(repeats=1, shares=(["robo_orch.core.finite"],
                                              ["robo_orch.core.schedule"]))
    (run,) = out["runs"]
    # compiled, not loaded (an empty cache: numba's set-up and a compile), each share timed
    assert 0.2 < run["this_process_s"] < 900 and 0.2 < run["helper_s"] < 900
    assert out["end_s"] == round(max(run.values()), 2)
