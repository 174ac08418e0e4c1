"""Serial driver benchmarks: parser throughput and byte-to-bus latency.

Registered in the ``robo_orch.benchmarks`` group of :mod:`robo_orch.registry`, so
``robo-orch bench`` runs them beside the framework's own.  Streams come from the device
emulators (valid bytes, exactly as the devices send them).

* throughput: each protocol's parser fed its stream in 64-byte reads (what a
  USB serial adapter in low-latency mode delivers at these rates), median of 5
  passes, as a multiple of the device's fastest data rate;
* latency: a real driver process (``robo_orch.hosting.driver_host``) on a real
  pseudo-terminal, publishing over ZeroMQ ``ipc://``: from the moment the last
  byte of a frame is written to the pty, to the driver's read (the header stamp)
  and to a subscriber holding the message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


#: protocol -> (parser factory, sample stream, fastest device data rate B/s, what that rate is)
def _protocols() -> dict[str, tuple[Any, Any, float, str]]:
    from robo_orch.drivers.motor_bridge_protocol import BridgeParser
    from robo_orch.drivers.nmea_protocol import NmeaParser
    from robo_orch.drivers.rplidar_protocol import SCAN, RplidarParser
    from robo_orch.drivers.witmotion_protocol import WitmotionParser
    from robo_orch.sim.emulators import motor_bridge, nmea, rplidar, witmotion

    def lidar_parser():
        p = RplidarParser()
        p.expect(SCAN)
        return p

    return {
        "nmea_gps": (NmeaParser, lambda: nmea.sample_stream(6000), 11520.0,
                     "115200 baud saturated"),
        "witmotion_imu": (WitmotionParser, lambda: witmotion.sample_stream(30000), 6600.0,
                          "200 Hz output (3 packets x 11 B)"),
        "rplidar": (lidar_parser, lambda: rplidar.sample_stream(150), 40000.0,
                    "8,000 nodes/s (express rate) x 5 B"),
        "motor_bridge": (lambda: BridgeParser("device"), lambda: motor_bridge.sample_stream(20000),
                         11520.0, "115200 baud saturated"),
    }


def parser_throughput(chunk: int = 64, passes: int = 5) -> dict[str, Any]:
    """Bytes per second each parser sustains, and the ratio to its device's fastest rate."""
    out = {}
    for name, (make, stream, device_bps, what) in _protocols().items():
        data = stream()
        views = [data[i:i + chunk] for i in range(0, len(data), chunk)]
        rates, frames = [], 0
        for _ in range(passes):
            parser = make()
            t0 = time.perf_counter()
            n = 0
            for piece in views:
                n += len(parser.feed(piece))
            rates.append(len(data) / (time.perf_counter() - t0))
            frames = n
            bad = sum(parser.bad.values())
        median = float(np.median(rates))
        out[name] = {"bytes": len(data), "frames": frames, "rejected": bad,
                     "bytes_per_s": round(median), "device_bytes_per_s": device_bps,
                     "device_rate": what, "x_device": round(median / device_bps, 1)}
    return out


def byte_to_bus_latency(count: int = 300, rate_hz: float = 100.0) -> dict[str, Any]:
    """WitMotion IMU frames written to a pty, timed to the driver's read and to a subscriber."""
    from robo_orch import lifeline
    from robo_orch.bus import QoS, make_bus
    from robo_orch.clock import make_clock
    from robo_orch.drivers import witmotion_protocol as wp
    from robo_orch.sim.emulators.base import PtyLink

    clock = make_clock("wall")
    with tempfile.TemporaryDirectory(prefix="robo_orch-bench-") as run_dir:
        link = PtyLink()
        config = Path(run_dir) / "imu.toml"
        config.write_text(f'[drivers.imu]\nkind = "witmotion_imu"\nport = "{link.path}"\n'
                          'baud = 115200\n')
        bus = make_bus("zmq", clock, publisher_id=1, run_dir=run_dir)
        sub = bus.subscribe("sensor/imu", "imu", QoS.queue(count + 100))
        proc = lifeline.popen([sys.executable, "-m", "robo_orch.hosting.driver_host", "--config",
                               str(config), "--name", "imu", "--run-dir", run_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cycle = (wp.encode_acceleration(0.0, 0.0, 1.0) + wp.encode_angular_rate(0.0, 0.0, 10.0)
                 + wp.encode_angle(0.0, 0.0, 45.0))
        read_us, bus_us, writes = [], [], {}
        try:
            # until the subscription is connected, frames are lost: send until one arrives
            deadline = time.monotonic() + 30
            while not sub.wait(0.05):
                link.write(cycle)
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the IMU driver did not publish")
            time.sleep(0.1)
            sub.poll()
            sub.take()
            for i in range(count):
                t_write = clock.now_ns()
                link.write(cycle)
                writes[i] = t_write
                if sub.wait(0.5):
                    msgs = sub.take()
                    m = msgs[-1]
                    read_us.append((m.header.stamp_ns - t_write) / 1e3)
                    bus_us.append((m.recv_ns - t_write) / 1e3)
                time.sleep(1.0 / rate_hz)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            bus.close()
            link.close()

    def stats(v):
        a = np.asarray(v)
        return {"p50": round(float(np.percentile(a, 50)), 1),
                "p99": round(float(np.percentile(a, 99)), 1), "max": round(float(a.max()), 1)}

    return {"frames": count, "received": len(bus_us), "to_driver_read_us": stats(read_us),
            "to_subscriber_us": stats(bus_us)}


def bench_devices(quick: bool = False) -> dict[str, Any]:
    """The device benchmarks, printed as a table; returns the figures."""
    print("  serial parsers (64-byte reads, median of 5) vs the device's fastest data rate:")
    thr = parser_throughput(passes=3 if quick else 5)
    for name, r in thr.items():
        print(f"    {name:<14} {r['bytes_per_s'] / 1e6:6.2f} MB/s = {r['x_device']:>7}x "
              f"{r['device_rate']} ({r['frames']} frames, {r['rejected']} rejected)")
    lat = byte_to_bus_latency(count=150 if quick else 500)
    print(f"  byte to bus (WitMotion IMU on a pty, driver process, ipc://): frame written -> "
          f"driver read p50 {lat['to_driver_read_us']['p50']} us "
          f"(p99 {lat['to_driver_read_us']['p99']}), -> subscriber p50 "
          f"{lat['to_subscriber_us']['p50']} us (p99 {lat['to_subscriber_us']['p99']}), "
          f"{lat['received']}/{lat['frames']} received")
    return {"parser_throughput": thr, "byte_to_bus": lat}


if __name__ == "__main__":
    bench_devices(quick="--quick" in sys.argv)
    os._exit(0)
