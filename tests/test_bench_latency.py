"""The latency benchmark's peers really deliver stamped messages across processes."""

from __future__ import annotations

from robo_orch.bench.latency import measure_bus, measure_pipe, measure_raw_zmq


def check(result: dict, count: int) -> None:
    assert result["received"] == result["sent"] == count
    # stamps come from the peer's monotonic clock: a latency at or below zero, or
    # beyond the whole run, would mean the stamp was not read or not written
    assert 0 < result["p50_us"] <= result["p99_us"] <= result["max_us"] < 30e6


def test_bus_raw_zmq_and_pipe_peers(tmp_path):
    count, rate = 40, 400.0
    check(measure_bus(f"ipc://{tmp_path}/bus.sock", count, rate), count)
    check(measure_raw_zmq(f"ipc://{tmp_path}/raw.sock", count, rate), count)
    check(measure_pipe(count, rate), count)
