"""Sensor-to-actuator latency through the loop, split into its parts.

Three processes, as on a robot: a driver-like peer publishes IMU messages at a
fixed rate (each stamped with the monotonic clock, which every process on the
machine shares), this process runs the :class:`~robo_orch.runtime.loop.FixedRateLoop`
on a :class:`~robo_orch.bus.zmq_bus.ZmqBus`, and an actuator-like peer receives
its velocity commands.  A command carries the stamp of the newest sensor
message it was computed from (as the controller's do), so:

* **transport**: sensor stamp -> the loop takes the message off the bus.  With
  the loop triggered by the sensor topic it is waiting on the socket, so this
  is the hop itself; a fixed-rate loop only looks at its next tick, so this part
  also holds up to one period of waiting;
* **in-loop**: tick start -> the command handed to the bus (``publish`` called);
* **to actuator**: ``publish`` called -> received by the actuator process (the
  bus's encoding, ZeroMQ and the decoding there: the same span as transport);
* **end to end**: sensor stamp -> the first command computed from it arrives.

The loop does no planning here (the demo's tick compute is its own figure);
this is what the bus and the loop add.  The sensor runs at 95% of the loop's
rate, so its messages fall on every phase of the fixed-rate loop's period and
the waiting part is spread over the whole period, as it is on a robot whose
sensor clock is not the computer's.  The floor, measured in the same run:
bare ZeroMQ PUB/SUB over the same two hops, with a relay that forwards each
message the moment it arrives.

The peers are :mod:`robo_orch.bench.e2e_peers`; ``python -m robo_orch.bench.e2e``
prints a whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from robo_orch.bench.e2e_peers import (
    COMMAND_TOPIC,
    PAYLOAD,
    SENSOR_TOPIC,
    SETTLE_S,
    STAMP_SEQ,
    context,
    fifo,
)

SENSOR_SHARE = 0.95  #: sensor rate / loop rate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stats(ns: np.ndarray) -> dict[str, Any]:
    """p50 / p99 / max in microseconds, with the sample count."""
    if len(ns) == 0:
        return {"p50_us": None, "p99_us": None, "max_us": None, "n": 0}
    us = np.asarray(ns, dtype=np.float64) / 1e3
    p50, p99 = np.percentile(us, [50, 99])
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1),
            "max_us": round(float(us.max()), 1), "n": int(len(us))}


class _Peers:
    """The driver and actuator processes of one measurement."""

    def __init__(self, kind: str, sensor_ep: str, command_ep: str, count: int,
                 rate: float, out_path: str, priority: int = 0) -> None:
        base = [sys.executable, "-m", "robo_orch.bench.e2e_peers"]
        if priority > 0:
            base += ["--priority", str(priority)]
        self.actuator = subprocess.Popen(
            [*base, "actuator", "--kind", kind, "--endpoint", command_ep, "--out", out_path,
             "--seconds", str(count / rate + SETTLE_S + 3.0)])
        self.driver = subprocess.Popen(
            [*base, "driver", "--kind", kind, "--endpoint", sensor_ep, "--count", str(count),
             "--rate", str(rate)])
        self.out_path = out_path

    def finish(self) -> dict[str, list[int]]:
        """Wait for both peers; the actuator's records (empty if it failed)."""
        for proc in (self.driver, self.actuator):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        try:
            with open(self.out_path) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {"recv_ns": [], "stamp_ns": [], "seq": []}


class _LoopSide:
    """The tick handler: take the newest sensor message, publish a command from it."""

    def __init__(self, clock, sub, pub, count: int, deadline_ns: int, driver) -> None:
        from robo_orch.messages import message_type, new_fixed

        self.clock, self.sub, self.pub, self.driver = clock, sub, pub, driver
        self.count, self.deadline_ns = count, deadline_ns
        self.cmd = new_fixed(message_type("velocity_command"))
        self.imu = new_fixed(message_type("imu"))
        self.transport = np.zeros(count, dtype=np.int64)
        self.in_loop = np.zeros(count, dtype=np.int64)
        # per command computed from a new sensor message: its seq and when it was published
        self.seq_new = np.zeros(count, dtype=np.int64)
        self.published = np.zeros(count, dtype=np.int64)
        self.taken = 0
        self.last_new_ns = 0
        self.stamp = 0
        self.fresh = False
        self.tick_start = 0

    def pre_tick(self, tick: int, now_ns: int) -> None:
        self.tick_start = now_ns

    def sense(self, tick: int, now_ns: int) -> None:
        self.sub.poll()
        msg = self.sub.latest()
        self.fresh = msg is not None and self.taken < self.count
        if self.fresh:
            self.sub.copy_into(msg, self.imu, None)
            self.stamp = msg.header.stamp_ns
            self.transport[self.taken] = msg.recv_ns - self.stamp

    def plan(self, tick: int) -> None:
        self.cmd["v"] = 0.1 * self.imu["gyro"][0, 2]

    def act(self, tick: int) -> bool:
        if self.stamp:
            # "published" is when the command is handed to the bus: a send can wake
            # ZeroMQ's I/O thread, which on a busy machine may run before this one does
            # again, so a time read after publish() returns can even follow the delivery
            handed = self.clock.now_ns()
            seq = self.pub.publish(self.cmd, stamp_ns=self.stamp)
            if self.fresh:
                self.in_loop[self.taken] = handed - self.tick_start
                self.seq_new[self.taken] = seq
                self.published[self.taken] = handed
                self.taken += 1
                self.last_new_ns = handed
        now = self.clock.now_ns()
        # the end: every message taken, or the driver done and nothing new for 0.2 s
        # (a fixed-rate loop can miss a message that the next one superseded)
        drained = now - self.last_new_ns > 200_000_000 and self.driver.poll() is not None
        return self.taken < self.count and now < self.deadline_ns and not drained


def measure_loop(kind: str, count: int, rate: float, *, triggered: bool,
                 priority: int = 0, loop_rate: float | None = None) -> dict[str, Any]:
    """One run of the loop between the two peers over ``kind`` ('ipc' or 'tcp').

    The driver publishes ``count`` messages at ``rate``; the fixed-rate loop runs
    at ``loop_rate`` (default ``rate / SENSOR_SHARE``), the triggered one on each
    message (falling back to ``loop_rate`` when silent).

    ``priority`` > 0 runs the loop, both peers and every ZeroMQ I/O thread under
    SCHED_FIFO, as on a robot whose drivers are real-time too; the caller checks
    that it is permitted.
    """
    from robo_orch.bus import QoS, make_bus
    from robo_orch.clock import make_clock
    from robo_orch.messages import message_type
    from robo_orch.runtime.loop import FixedRateLoop

    run_dir = tempfile.mkdtemp(prefix="robo_orch-e2e-")
    sensor_ep, command_ep = _endpoints(kind, run_dir)
    clock = make_clock("wall")
    bus = make_bus("zmq", clock, publisher_id=1, run_dir=run_dir, realtime_priority=priority,
                   endpoints={SENSOR_TOPIC: sensor_ep, COMMAND_TOPIC: command_ep},
                   insecure=True)  # plain tcp: the bare ZeroMQ relay has no CURVE either
    try:
        sub = bus.subscribe(SENSOR_TOPIC, message_type("imu"), QoS.latest())
        pub = bus.publisher(COMMAND_TOPIC, message_type("velocity_command"), hwm=count + 10)
        peers = _Peers("bus", sensor_ep, command_ep, count, rate,
                       os.path.join(run_dir, "actuator.json"), priority)
        period = int(1e9 / (loop_rate or rate / SENSOR_SHARE))
        # wait for the first message, so the run measures steady state, not start-up
        sub.wait(SETTLE_S + 10.0)
        deadline = clock.now_ns() + int((count / rate + 2.0) * 1e9)
        side = _LoopSide(clock, sub, pub, count, deadline, peers.driver)
        loop = FixedRateLoop(clock, period, collect_at_start=False,
                             trigger=sub if triggered else None)
        with fifo(priority):
            stats = loop.run(side)
        records = peers.finish()
    finally:
        bus.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    n = side.taken
    out = _split(side, records, n)
    out.update({"loop": "triggered" if triggered else f"fixed {1e9 / period:g} Hz",
                "sched_fifo": priority, "io_thread_fifo": bus.io_priority,
                "sensor_messages": count, "taken": n, "ticks": stats.ticks,
                "superseded": sub.counters.superseded, "triggered_ticks": stats.triggered})
    return out


def _split(side: _LoopSide, records: dict[str, list[int]], n: int) -> dict[str, Any]:
    recv = np.array(records["recv_ns"], dtype=np.int64)
    stamp = np.array(records["stamp_ns"], dtype=np.int64)
    seq = np.array(records["seq"], dtype=np.int64)
    # the first command carrying each sensor stamp is the one computed from that message
    _, first = np.unique(stamp, return_index=True)
    e2e = recv[first] - stamp[first]
    new_cmds = np.isin(seq, side.seq_new[:n])  # seq_new is increasing
    hop = recv[new_cmds] - side.published[np.searchsorted(side.seq_new[:n], seq[new_cmds])]
    return {"transport": _stats(side.transport[:n]), "in_loop": _stats(side.in_loop[:n]),
            "to_actuator": _stats(hop), "end_to_end": _stats(e2e),
            "commands_received": int(len(recv))}


def measure_floor(kind: str, count: int, rate: float, priority: int = 0) -> dict[str, Any]:
    """Bare ZeroMQ over the same two hops: a relay forwards each message on arrival.

    ``priority`` > 0: everything under SCHED_FIFO, as in :func:`measure_loop`.
    """
    import zmq

    run_dir = tempfile.mkdtemp(prefix="robo_orch-e2e-")
    sensor_ep, command_ep = _endpoints(kind, run_dir)
    ctx = context(priority)
    sub, pub = ctx.socket(zmq.SUB), ctx.socket(zmq.PUB)
    for sock in (sub, pub):
        sock.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, count + 10)
    pub.setsockopt(zmq.SNDHWM, count + 10)
    try:
        sub.connect(sensor_ep)
        pub.bind(command_ep)
        peers = _Peers("raw", sensor_ep, command_ep, count, rate,
                       os.path.join(run_dir, "actuator.json"), priority)
        hop1 = np.zeros(count, dtype=np.int64)
        n = 0
        deadline = time.monotonic() + SETTLE_S + 10.0 + count / rate
        with fifo(priority):
            while n < count and time.monotonic() < deadline:
                if sub.poll(100):
                    frames = sub.recv_multipart()
                    pub.send_multipart(frames)
                    hop1[n] = time.monotonic_ns() - STAMP_SEQ.unpack_from(frames[1])[0]
                    n += 1
        records = peers.finish()
    finally:
        sub.close()
        pub.close()
        ctx.term()
        shutil.rmtree(run_dir, ignore_errors=True)
    recv = np.array(records["recv_ns"], dtype=np.int64)
    stamp = np.array(records["stamp_ns"], dtype=np.int64)
    return {"transport": _stats(hop1[:n]), "end_to_end": _stats(recv - stamp),
            "sensor_messages": count, "commands_received": int(len(recv)),
            "sched_fifo": priority}


def _endpoints(kind: str, run_dir: str) -> tuple[str, str]:
    if kind == "ipc":
        return f"ipc://{run_dir}/s.sock", f"ipc://{run_dir}/c.sock"
    if kind == "tcp":
        return f"tcp://127.0.0.1:{_free_port()}", f"tcp://127.0.0.1:{_free_port()}"
    raise ValueError(f"unknown transport {kind!r}")


def bench_e2e(count: int = 2000, loop_rate: float = 1000.0, *,
              kinds: tuple[str, ...] = ("ipc", "tcp"), realtime: bool = True,
              slow_rate: float | None = None) -> dict[str, Any]:
    """Floor, fixed-rate loop and triggered loop over each transport; with SCHED_FIFO too.

    The sensor publishes at ``SENSOR_SHARE * loop_rate``.  With ``realtime``, the
    floor and the triggered loop run again with every process and ZeroMQ thread
    under SCHED_FIFO, where the kernel permits it.  ``slow_rate``: the triggered
    loop once more over the first transport with the sensor at that rate (fewer
    messages a second leave more time for threads and CPUs to fall asleep).
    """
    from robo_orch.rt import fifo_permitted

    rate = SENSOR_SHARE * loop_rate
    out: dict[str, Any] = {"sensor_rate_hz": rate, "loop_rate_hz": loop_rate, "messages": count,
                           "payload_bytes": PAYLOAD}
    for kind in kinds:
        runs = {"floor": measure_floor(kind, count, rate),
                "fixed": measure_loop(kind, count, rate, triggered=False),
                "triggered": measure_loop(kind, count, rate, triggered=True)}
        if realtime and fifo_permitted(50):
            runs["floor_fifo"] = measure_floor(kind, count, rate, priority=50)
            runs["triggered_fifo"] = measure_loop(kind, count, rate, triggered=True,
                                                  priority=50)
        if slow_rate and kind == kinds[0]:
            slow_count = max(50, int(count * slow_rate / rate) // 2)
            runs["triggered_slow"] = measure_loop(kind, slow_count, slow_rate, triggered=True)
            runs["triggered_slow"]["sensor_rate_hz"] = slow_rate
        out[kind] = runs
    return out


def print_e2e(results: dict[str, Any]) -> None:
    """A readable table of :func:`bench_e2e`'s results."""
    print(f"  sensor to actuator through the loop, {results['messages']} IMU messages at "
          f"{results['sensor_rate_hz']:g} Hz, fixed-rate loop at {results['loop_rate_hz']:g} Hz, "
          "two ZeroMQ hops, no planning (p50 / p99 us):")
    print(f"    {'':<24} {'transport':>15} {'in-loop':>13} {'to actuator':>15} "
          f"{'end to end':>15} {'e2e max':>9}")
    names = {"floor": "bare ZeroMQ relay", "fixed": "fixed-rate loop",
             "triggered": "triggered loop", "floor_fifo": "bare relay, FIFO",
             "triggered_fifo": "triggered loop, FIFO", "triggered_slow": "triggered, slow"}

    def cell(r: dict[str, Any] | None, width: int) -> str:
        text = "-" if not r or r["p50_us"] is None else f"{r['p50_us']:g} / {r['p99_us']:g}"
        return f"{text:>{width}}"

    for kind in ("ipc", "tcp"):
        runs = results.get(kind)
        if not runs:
            continue
        for key, r in runs.items():
            name = names[key] if key != "triggered_slow" else \
                f"triggered, {r['sensor_rate_hz']:g} Hz"
            print(f"    {kind + ' ' + name:<24} {cell(r['transport'], 15)} "
                  f"{cell(r.get('in_loop'), 13)} {cell(r.get('to_actuator'), 15)} "
                  f"{cell(r['end_to_end'], 15)} {r['end_to_end']['max_us'] or '-':>9}")
        for loop_key, floor_key in (("triggered", "floor"), ("triggered_fifo", "floor_fifo")):
            if loop_key not in runs or floor_key not in runs:
                continue
            floor, trig = runs[floor_key]["end_to_end"], runs[loop_key]["end_to_end"]
            if floor["p50_us"] and trig["p50_us"]:
                print(f"    {kind} {names[loop_key]}: end to end p50 "
                      f"{trig['p50_us'] - floor['p50_us']:+.0f} us against the bare relay "
                      f"({trig['p50_us'] / floor['p50_us']:.2f}x)")


def main() -> int:
    """A whole run with the default sizes, printed."""
    print_e2e(bench_e2e())
    return 0


if __name__ == "__main__":
    sys.exit(main())
