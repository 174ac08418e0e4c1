"""The sensor-to-actuator benchmark: real peer processes, stamps joined across them."""

from __future__ import annotations

from robo_orch.bench.e2e import measure_floor, measure_loop


def test_triggered_loop_splits_each_message_into_its_parts():
    count = 40
    r = measure_loop("ipc", count, 190.0, triggered=True)
    # each message starts a tick of its own, unless the machine is so busy that a newer
    # one arrived before the loop ran (then it is counted superseded, never lost)
    assert r["taken"] + r["superseded"] >= count - 2
    assert r["taken"] >= count // 2
    assert r["triggered_ticks"] >= r["taken"] - 1  # each one started a tick
    parts = [r[k] for k in ("transport", "in_loop", "to_actuator", "end_to_end")]
    assert all(p["n"] > 0 and 0 < p["p50_us"] <= p["p99_us"] <= p["max_us"] for p in parts)
    # end to end = transport + wake-up + in-loop + the hop to the actuator, per message
    assert r["end_to_end"]["p50_us"] > r["transport"]["p50_us"]
    assert r["end_to_end"]["p50_us"] > r["to_actuator"]["p50_us"]
    assert r["commands_received"] >= r["taken"] - 2


def test_fixed_rate_loop_ticks_on_its_own_schedule():
    r = measure_loop("ipc", 40, 190.0, triggered=False)
    assert r["triggered_ticks"] == 0 and r["loop"] == "fixed 200 Hz"
    assert r["ticks"] >= r["taken"] > 20
    assert 0 < r["transport"]["p50_us"] < r["end_to_end"]["p50_us"]


def test_bare_zeromq_floor_over_tcp_relays_every_message():
    r = measure_floor("tcp", 30, 200.0)
    assert r["transport"]["n"] == r["end_to_end"]["n"] == r["commands_received"] == 30
    assert 0 < r["transport"]["p50_us"] < r["end_to_end"]["p50_us"]
