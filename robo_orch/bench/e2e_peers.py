"""The peer processes of :mod:`robo_orch.bench.e2e`: a driver and an actuator.

``python -m robo_orch.bench.e2e_peers [--priority P] driver|actuator ...``.  The
driver publishes IMU messages at a fixed rate, stamped with the monotonic clock
when handed to the transport; the actuator records, for every command it
receives, the receive time, the command's stamp and its sequence number, and
writes them as JSON when no command came for 0.3 s.  ``--kind bus`` uses
:class:`~robo_orch.bus.zmq_bus.ZmqBus`; ``--kind raw`` bare PUB/SUB sockets with
a 16-byte stamp-and-sequence header.  Neither imports numba.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import struct
import sys
import time

SENSOR_TOPIC, COMMAND_TOPIC = "bench/imu", "bench/cmd"
STAMP_SEQ = struct.Struct("<qq")  #: raw ZeroMQ header: stamp ns, sequence number
PAYLOAD = 80  #: bytes of an IMU message's fixed part
SETTLE_S = 0.4  #: the driver waits this long for subscribers to connect (slow joiner)


@contextlib.contextmanager
def fifo(priority: int):
    """This thread under SCHED_FIFO ``priority`` for the block (nothing if 0)."""
    if priority <= 0:
        yield
        return
    policy = (os.sched_getscheduler(0), os.sched_getparam(0))
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    try:
        yield
    finally:
        os.sched_setscheduler(0, *policy)


def context(priority: int):
    """A ZeroMQ context whose I/O threads run under SCHED_FIFO ``priority`` (if > 0)."""
    import zmq

    ctx = zmq.Context()
    if priority > 0:  # callers checked that it is permitted: libzmq aborts otherwise
        ctx.set(zmq.THREAD_SCHED_POLICY, os.SCHED_FIFO)
        ctx.set(zmq.THREAD_PRIORITY, priority)
    return ctx


def _run_driver(kind: str, endpoint: str, count: int, rate: float, priority: int) -> None:
    period = 1.0 / rate
    if kind == "bus":
        from robo_orch.bus import make_bus
        from robo_orch.clock import make_clock
        from robo_orch.messages import message_type, new_fixed

        bus = make_bus("zmq", make_clock("wall"), publisher_id=2,
                       endpoints={SENSOR_TOPIC: endpoint}, realtime_priority=priority,
                       insecure=True)
        pub = bus.publisher(SENSOR_TOPIC, message_type("imu"), hwm=count + 10)
        msg = new_fixed(message_type("imu"))
        send = lambda i: pub.publish(msg)  # noqa: E731 (stamped with the monotonic clock)
        close = bus.close
    else:
        import zmq

        ctx = context(priority)
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, count + 10)
        sock.bind(endpoint)
        topic, header, payload = SENSOR_TOPIC.encode(), bytearray(52), bytes(PAYLOAD)

        def send(i: int) -> None:
            STAMP_SEQ.pack_into(header, 0, time.monotonic_ns(), i + 1)
            sock.send_multipart([topic, bytes(header), payload])

        def close() -> None:
            sock.close()
            ctx.term()
    time.sleep(SETTLE_S)
    next_t = time.monotonic()
    for i in range(count):
        send(i)
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    time.sleep(0.2)
    close()


def _run_actuator(kind: str, endpoint: str, out: str, seconds: float, priority: int) -> None:
    recv_ns: list[int] = []
    stamps: list[int] = []
    seqs: list[int] = []
    deadline = time.monotonic() + seconds
    idle_after = None  # stop 0.3 s after the last command
    if kind == "bus":
        from robo_orch.bus import QoS, make_bus
        from robo_orch.clock import make_clock
        from robo_orch.messages import message_type

        bus = make_bus("zmq", make_clock("wall"), publisher_id=3,
                       endpoints={COMMAND_TOPIC: endpoint}, realtime_priority=priority,
                       insecure=True)
        sub = bus.subscribe(COMMAND_TOPIC, message_type("velocity_command"), QoS.queue(10000),
                            hwm=10000)
        with contextlib.closing(bus):
            while time.monotonic() < deadline and (idle_after is None
                                                    or time.monotonic() < idle_after):
                if sub.wait(0.05):
                    for msg in sub.take():
                        recv_ns.append(msg.recv_ns)
                        stamps.append(msg.header.stamp_ns)
                        seqs.append(msg.header.seq)
                    idle_after = time.monotonic() + 0.3
    else:
        import zmq

        ctx = context(priority)
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 10000)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoint)
        while time.monotonic() < deadline and (idle_after is None
                                                or time.monotonic() < idle_after):
            if sock.poll(50):
                frames = sock.recv_multipart()
                now = time.monotonic_ns()
                stamp, seq = STAMP_SEQ.unpack_from(frames[1])
                recv_ns.append(now)
                stamps.append(stamp)
                seqs.append(seq)
                idle_after = time.monotonic() + 0.3
        sock.close()
        ctx.term()
    with open(out, "w") as fh:
        json.dump({"recv_ns": recv_ns, "stamp_ns": stamps, "seq": seqs}, fh)


def main(argv: list[str] | None = None) -> int:
    """Run one peer (``driver`` or ``actuator``)."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.e2e_peers")
    parser.add_argument("--priority", type=int, default=0, help="SCHED_FIFO priority")
    sub = parser.add_subparsers(dest="command", required=True)
    driver = sub.add_parser("driver")
    actuator = sub.add_parser("actuator")
    for p in (driver, actuator):
        p.add_argument("--kind", choices=("bus", "raw"), required=True)
        p.add_argument("--endpoint", required=True)
    driver.add_argument("--count", type=int, required=True)
    driver.add_argument("--rate", type=float, required=True)
    actuator.add_argument("--out", required=True)
    actuator.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    with fifo(args.priority):
        if args.command == "driver":
            _run_driver(args.kind, args.endpoint, args.count, args.rate, args.priority)
        else:
            _run_actuator(args.kind, args.endpoint, args.out, args.seconds, args.priority)
    return 0


if __name__ == "__main__":
    sys.exit(main())
