"""The serial benchmarks run and measure what they claim (no timing thresholds)."""

from __future__ import annotations

from robo_orch.bench.devices import byte_to_bus_latency, parser_throughput


def test_parser_throughput_parses_every_frame_of_valid_streams():
    out = parser_throughput(passes=1)
    assert set(out) == {"nmea_gps", "witmotion_imu", "rplidar", "motor_bridge"}
    for name, r in out.items():
        assert r["frames"] > 100, name
        assert r["rejected"] == 0, name  # the emulators' streams are valid
        assert r["bytes_per_s"] > 0 and r["x_device"] > 0


def test_byte_to_bus_latency_goes_through_a_real_driver_process():
    out = byte_to_bus_latency(count=20, rate_hz=50.0)
    assert out["received"] > 0
    read, bus = out["to_driver_read_us"], out["to_subscriber_us"]
    # the driver reads the bytes before the subscriber can hold its message
    assert 0 < read["p50"] <= bus["p50"]
