"""Transport latency between two processes: the robo_orch bus against its floor.

A peer process publishes IMU messages at a fixed rate, each stamped with the
monotonic clock (shared by every process on the machine); this process receives
them and records ``receive time - stamp``.  Measured the same way, in the same
run:

* ``bus``: :class:`~robo_orch.bus.zmq_bus.ZmqBus` publisher and subscription,
  with the message header, encoding, decoding and counters (over tcp: plain,
  ``insecure``; :mod:`robo_orch.bench.curve` measures it against CURVE);
* ``raw_zmq``: bare PUB/SUB sockets carrying the same three frames, no encoding;
* ``pipe``: an OS pipe carrying the same bytes (the floor of any IPC).

``python -m robo_orch.bench.latency peer ...`` is the peer's entry point.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from robo_orch.bus import make_bus
from robo_orch.clock import make_clock

_STAMP = struct.Struct("<q")
_PAYLOAD = 80  # bytes of an IMU message's fixed part


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stats(lat_ns: np.ndarray, expected: int) -> dict[str, Any]:
    us = lat_ns / 1e3
    p50, p99 = np.percentile(us, [50, 99]) if len(us) else (np.nan, np.nan)
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1),
            "max_us": round(float(us.max()), 1) if len(us) else None,
            "received": int(len(us)), "sent": expected}


def _peer_cmd(mode: str, target: str, count: int, rate: float,
              keys: str | None = None) -> list[str]:
    return [sys.executable, "-m", "robo_orch.bench.latency", "peer", "--mode", mode,
            "--target", target, "--count", str(count), "--rate", str(rate)] + (
                ["--keys", keys] if keys else [])


def _security(keys: str | None) -> dict[str, Any]:
    """Bus keyword arguments: CURVE with the ``robot`` key of ``keys``, or plain tcp."""
    if keys is None:
        return {"insecure": True}
    from robo_orch.bus.keys import load_keys

    return {"curve": load_keys(keys, "robot")}


def _collect(mode: str, target: str, count: int, rate: float,
             receive: Callable[[], list[int]], keys: str | None = None) -> np.ndarray:
    """Start the ``mode`` peer and gather the latencies ``receive()`` returns (ns) until
    ``count`` arrived or the deadline passed."""
    peer = subprocess.Popen(_peer_cmd(mode, target, count, rate, keys))
    lat: list[int] = []
    deadline = time.monotonic() + 10 + count / rate
    try:
        while len(lat) < count and time.monotonic() < deadline:
            lat.extend(receive())
    finally:
        peer.wait(timeout=30)
    return np.array(lat, dtype=np.int64)


def measure_bus(endpoint: str, count: int, rate: float,
                keys: str | None = None) -> dict[str, Any]:
    """Latency of IMU messages over the robo_orch bus at ``endpoint``.

    tcp: with CURVE when ``keys`` names a key directory (``robo-orch keys generate``),
    else plain (``insecure``).
    """
    from robo_orch.bus import QoS
    from robo_orch.messages import message_type

    clock = make_clock("wall")
    run_dir = tempfile.mkdtemp(prefix="robo_orch-bench-")
    bus = make_bus("zmq", clock, publisher_id=1, run_dir=run_dir,
                   endpoints={"bench/imu": endpoint}, **_security(keys))
    sub = bus.subscribe("bench/imu", message_type("imu"), QoS.queue(count), hwm=count)

    def receive() -> list[int]:
        return [m.recv_ns - m.header.stamp_ns for m in sub.take()] if sub.wait(0.2) else []

    try:
        lat = _collect("bus", endpoint, count, rate, receive, keys)
    finally:
        bus.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return _stats(lat, count)


def measure_raw_zmq(endpoint: str, count: int, rate: float) -> dict[str, Any]:
    """Latency of the same bytes over bare PUB/SUB sockets."""
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, count)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)

    def receive() -> list[int]:
        if not sock.poll(200):
            return []
        frames = sock.recv_multipart()
        return [time.monotonic_ns() - _STAMP.unpack_from(frames[1])[0]]

    try:
        lat = _collect("raw_zmq", endpoint, count, rate, receive)
    finally:
        sock.close()
        ctx.term()
    return _stats(lat, count)


def measure_pipe(count: int, rate: float) -> dict[str, Any]:
    """Latency of the same bytes through an OS pipe."""
    r, w = os.pipe()
    peer = subprocess.Popen(_peer_cmd("pipe", str(w), count, rate), pass_fds=(w,))
    os.close(w)
    size = _STAMP.size + _PAYLOAD
    lat = []
    buf = b""
    with os.fdopen(r, "rb", buffering=0) as fh:
        while len(lat) < count:
            chunk = fh.read(size - len(buf))
            if not chunk:
                break
            buf += chunk
            if len(buf) == size:
                lat.append(time.monotonic_ns() - _STAMP.unpack_from(buf)[0])
                buf = b""
    peer.wait(timeout=30)
    return _stats(np.array(lat, dtype=np.int64), count)


def bench_latency(count: int = 2000, rate: float = 1000.0) -> dict[str, Any]:
    """Bus, raw ZeroMQ and pipe latency over ipc:// and tcp://, in one run."""
    run_dir = tempfile.mkdtemp(prefix="robo_orch-bench-")
    ipc = f"ipc://{run_dir}/lat.sock"
    try:
        return _measure_all(run_dir, ipc, count, rate)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _measure_all(run_dir: str, ipc: str, count: int, rate: float) -> dict[str, Any]:
    results = {
        "messages": count, "rate_hz": rate, "payload_bytes": _PAYLOAD,
        "ipc": {"bus": measure_bus(ipc, count, rate),
                "raw_zmq": measure_raw_zmq(f"ipc://{run_dir}/raw.sock", count, rate)},
        "tcp": {"bus": measure_bus(f"tcp://127.0.0.1:{_free_port()}", count, rate),
                "raw_zmq": measure_raw_zmq(f"tcp://127.0.0.1:{_free_port()}", count, rate)},
        "pipe": measure_pipe(count, rate),
    }
    return results


def print_latency(results: dict[str, Any]) -> None:
    """A readable table of :func:`bench_latency`'s results."""
    print(f"  transport latency, {results['messages']} IMU messages at "
          f"{results['rate_hz']:g} Hz from another process (p50 / p99 / max us):")
    rows = [("ipc bus", results["ipc"]["bus"]), ("ipc raw zmq", results["ipc"]["raw_zmq"]),
            ("tcp bus", results["tcp"]["bus"]), ("tcp raw zmq", results["tcp"]["raw_zmq"]),
            ("os pipe", results["pipe"])]
    for name, r in rows:
        print(f"    {name:<12} {r['p50_us']:>8} {r['p99_us']:>8} {r['max_us']:>9}"
              f"   ({r['received']}/{r['sent']} received)")
    for kind in ("ipc", "tcp"):
        bus, raw = results[kind]["bus"]["p50_us"], results[kind]["raw_zmq"]["p50_us"]
        print(f"    {kind}: the bus adds {bus - raw:.1f} us at p50 over bare ZeroMQ "
              f"({bus / raw:.2f}x)")


def _run_peer(mode: str, target: str, count: int, rate: float,
              keys: str | None = None) -> None:
    period = 1.0 / rate
    payload = bytes(_PAYLOAD)
    if mode == "pipe":
        fd = int(target)
        next_t = time.monotonic()
        for _ in range(count):
            os.write(fd, _STAMP.pack(time.monotonic_ns()) + payload)
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        os.close(fd)
        return
    import zmq

    if mode == "bus":
        from robo_orch.messages import message_type, new_fixed

        bus = make_bus("zmq", make_clock("wall"), publisher_id=2,
                       endpoints={"bench/imu": target}, **_security(keys))
        mtype = message_type("imu")
        pub = bus.publisher("bench/imu", mtype, hwm=count)
        msg = new_fixed(mtype)
        send = lambda: pub.publish(msg)  # noqa: E731 (stamps with the monotonic clock)
        close = bus.close
    else:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, count)
        sock.bind(target)
        topic = b"bench/imu"
        header = bytearray(52)

        def send() -> None:
            _STAMP.pack_into(header, 0, time.monotonic_ns())
            sock.send_multipart([topic, bytes(header), payload])

        def close() -> None:
            sock.close()
            ctx.term()
    time.sleep(0.5)  # let the subscriber's connection settle (slow joiner)
    next_t = time.monotonic()
    for _ in range(count):
        send()
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    time.sleep(0.2)
    close()


def main(argv: list[str] | None = None) -> int:
    """``python -m robo_orch.bench.latency peer ...`` (the peer) or no argument (a run)."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.latency")
    sub = parser.add_subparsers(dest="command")
    peer = sub.add_parser("peer")
    peer.add_argument("--mode", choices=("bus", "raw_zmq", "pipe"), required=True)
    peer.add_argument("--target", required=True)
    peer.add_argument("--count", type=int, required=True)
    peer.add_argument("--rate", type=float, required=True)
    peer.add_argument("--keys", help="tcp over CURVE with this key directory's keys")
    args = parser.parse_args(argv)
    if args.command == "peer":
        _run_peer(args.mode, args.target, args.count, args.rate, args.keys)
    else:
        print_latency(bench_latency())
    return 0


if __name__ == "__main__":
    sys.exit(main())
