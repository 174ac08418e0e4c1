"""Process-level benchmarks run end to end and report what they say they report."""

from __future__ import annotations

from robo_orch.bench_process import bench_memory, bench_startup


def test_startup_and_memory_figures():
    startup = bench_startup(cold=False)
    assert 0 < startup["warm_cache_s"] < 600
    memory = bench_memory(laps=8)
    assert memory["sim_time_s"] > 200  # eight laps of a 20 m square
    assert memory["measured_over_s"] > 60
    assert 0 < memory["rss_start_kib"] <= memory["rss_end_kib"] + 64 * 1024
