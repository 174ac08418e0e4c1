"""Bus contract tests, run on every backend (memory; zmq over ipc), plus zmq specifics.

Real sockets, no mocks.  Every zmq socket has LINGER 0, every wait has a timeout,
and a watchdog kills the run if a test hangs anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from helpers import (
    DEADLINE_S,
    foreign_publisher,
    join,
    joined_commands,
    memory_pair,
    raw,
    receive_until,
    vel,
)

from robo_orch import messages as m
from robo_orch.bus import MemoryBus, MemoryHub, QoS, copy_into
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import SIM, SimClock
from robo_orch.errors import BusError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.watchdog(60)


def poll_until(sub, done, timeout_s: float = DEADLINE_S) -> None:
    """Poll into the QoS buffer without reading it until ``done()``; fail at the deadline."""
    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"timed out; counters {sub.counters}")
        if not sub.wait(0.05):  # returns at once while the buffer is non-empty
            continue
        time.sleep(0.001)
        sub.poll()


def delta(sub, before: dict) -> dict:
    now = sub.counters.as_dict()
    out = {k: now[k] - before[k] for k in ("received", "malformed", "seq_gaps", "out_of_order",
                                          "restarts", "dropped", "superseded", "truncated")}
    out["by_reason"] = {k: v - before["malformed_by_reason"][k]
                        for k, v in now["malformed_by_reason"].items() if v != before[
                            "malformed_by_reason"][k]}
    return out


# --- contract: every backend ---------------------------------------------------------

def test_publish_receive_fields(make_bus):
    clock = SimClock(5_000)
    tx = make_bus(3, incarnation=2, clock=clock)
    rx = make_bus(4, clock=clock)
    sub = rx.subscribe("sensor/scan", "laser_scan", QoS.queue(10))
    pub = tx.publisher("sensor/scan", m.LASER_SCAN, frame_id="laser")
    fixed = m.new_fixed(m.LASER_SCAN)
    fixed["range_max"] = 8.0
    join(pub, sub, fixed, m.new_var(m.LASER_SCAN, 0))
    before = sub.counters.as_dict()
    var = m.new_var(m.LASER_SCAN, 5)
    var["range"] = [1, 2, 3, 4, 5]
    clock.advance_ns(7)
    seq1 = pub.publish(fixed, var)
    seq2 = pub.publish(fixed, var[:2], stamp_ns=42)
    got = receive_until(sub, lambda got: len(got) == 2)
    assert seq2 == seq1 + 1 and pub.sent == seq2
    first, second = got
    assert first.header.seq == seq1 and first.header.stamp_ns == 5_007
    assert (first.header.publisher_id, first.header.incarnation) == (3, 2)
    assert first.header.clock_id == SIM and first.header.frame_id == "laser"
    assert first.header.type_id == m.LASER_SCAN.type_id
    assert list(first.var["range"]) == [1, 2, 3, 4, 5] and first.fixed["range_max"] == 8.0
    assert second.header.stamp_ns == 42 and second.var.shape == (2,)
    assert first.recv_ns == clock.now_ns()
    assert not first.var.flags.writeable
    assert delta(sub, before)["received"] == 2
    assert sub.counters.last_stamp_ns == 42


def test_sequence_numbers_start_at_one(make_bus):
    bus = make_bus(1)
    sub = bus.subscribe("cmd/vel", m.VELOCITY_COMMAND, "queue:5")
    pub = bus.publisher("cmd/vel", "velocity_command")
    assert pub.publish(vel()) == 1
    assert pub.publish(vel()) == 2
    if make_bus.backend == "memory":  # zmq may lose these to the slow joiner
        assert [r.header.seq for r in receive_until(sub, lambda g: len(g) == 2)] == [1, 2]


def test_latest_counts_superseded(make_bus):
    _, pub, sub, before = joined_commands(make_bus)  # latest by default
    for i in range(5):
        pub.publish(vel(v=float(i)))
    poll_until(sub, lambda: delta(sub, before)["received"] == 5)
    got = sub.take()
    assert len(got) == 1 and got[0].fixed["v"] == 4.0
    d = delta(sub, before)
    assert d["received"] == 5 and d["superseded"] == 4
    assert sub.latest() is None


def test_queue_counts_dropped_oldest_first(make_bus):
    tx, pub, sub, before = joined_commands(make_bus, QoS.queue(3))
    seqs = [pub.publish(vel(v=float(i))) for i in range(10)]
    poll_until(sub, lambda: delta(sub, before)["received"] == 10)
    assert [r.header.seq for r in sub.take()] == seqs[-3:]
    d = delta(sub, before)
    assert d["received"] == 10 and d["dropped"] == 7 and d["superseded"] == 0


def test_latest_on_a_queue_supersedes_older(make_bus):
    bus = make_bus(1)
    sub = bus.subscribe("cmd/vel", m.VELOCITY_COMMAND, QoS.queue(8))
    pub = bus.publisher("cmd/vel", m.VELOCITY_COMMAND)
    join(pub, sub)
    before = sub.counters.as_dict()
    last = [pub.publish(vel()) for _ in range(3)][-1]
    poll_until(sub, lambda: sub.pending == 3)
    assert sub.latest().header.seq == last
    assert delta(sub, before)["superseded"] == 2 and sub.pending == 0


def test_seq_gaps_restarts_and_out_of_order(make_bus):
    tx, pub, sub, before = joined_commands(make_bus, QoS.queue(50))
    frames = [raw(m.VELOCITY_COMMAND, s) for s in (5, 6, 9)]  # baseline 5, then 2 missing
    frames += [raw(m.VELOCITY_COMMAND, s, incarnation=1) for s in (1, 2, 5)]  # restart; 2 missing
    frames += [raw(m.VELOCITY_COMMAND, 5, incarnation=1)]  # duplicate
    frames += [raw(m.VELOCITY_COMMAND, 1, publisher_id=78)]  # another publisher: own baseline
    for f in frames:
        tx.send_raw("cmd/vel", f)
    pub.publish(vel())  # the bus's own publisher keeps counting without gaps
    got = receive_until(sub, lambda got: len(got) == len(frames) + 1)
    d = delta(sub, before)
    assert (d["seq_gaps"], d["restarts"], d["out_of_order"]) == (4, 1, 1)
    assert d["received"] == len(frames) + 1 and d["malformed"] == 0
    assert [r.header.seq for r in got[:3]] == [5, 6, 9]


def test_malformed_counted_by_reason_and_dropped(make_bus):
    tx, pub, sub, before = joined_commands(make_bus, QoS.queue(20))
    topic, head, payload = raw(m.VELOCITY_COMMAND, 1)
    other = m.MessageType("velocity_command", 4, [("v", "<f4"), ("w", "<f4"), ("x", "<f8")])
    bad_version = bytes([2]) + head[1:]
    bad = [
        [topic, head],  # frames
        [b"cmd/other", head, payload],  # frames: wrong topic frame
        [topic, head[:10], payload],  # header
        [topic, bad_version, payload],  # version
        m.encode(m.POSE2D, "cmd/vel", m.new_fixed(m.POSE2D), seq=1, stamp_ns=0),  # type
        m.encode(other, "cmd/vel", m.new_fixed(other), seq=1, stamp_ns=0),  # layout
        [topic, head, payload + b"\0"],  # size
    ]
    for frames in bad:
        tx.send_raw("cmd/vel", frames)
    good = pub.publish(vel(v=1.5))
    got = receive_until(sub, lambda got: len(got) == 1)
    assert got[0].header.seq == good and got[0].fixed["v"] == 1.5
    d = delta(sub, before)
    assert d["by_reason"] == {"frames": 2, "header": 1, "version": 1, "type": 1, "layout": 1,
                              "size": 1}
    assert d["malformed"] == 7 and d["received"] == 1


def test_age_s_uses_the_receiver_clock(make_bus):
    clock = SimClock(10_000_000)
    tx, rx = make_bus(1, clock=clock), make_bus(2, clock=clock)
    sub = rx.subscribe("state/pose", m.POSE2D)
    assert sub.counters.age_s(clock.now_ns()) == float("inf")
    pub = tx.publisher("state/pose", m.POSE2D)
    join(pub, sub, m.new_fixed(m.POSE2D))
    arrived = sub.counters.last_recv_ns
    assert arrived == clock.now_ns()
    clock.advance_ns(500_000_000)
    assert sub.counters.age_s(clock.now_ns()) == pytest.approx(0.5)


def test_wait_times_out_without_spinning(make_bus):
    bus = make_bus(1)
    sub = bus.subscribe("cmd/vel", m.VELOCITY_COMMAND)
    cpu0, wall0 = time.process_time(), time.monotonic()
    assert sub.wait(0.5) is False
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert wall >= 0.45
    assert cpu < 0.25, "wait() must sleep in the transport, not spin"
    assert sub.wait(0.0) is False


def test_wait_wakes_when_another_thread_publishes(make_bus):
    tx, rx = make_bus(1), make_bus(2)
    sub = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND)
    pub = tx.publisher("cmd/vel", m.VELOCITY_COMMAND)
    join(pub, sub)

    def later():
        time.sleep(0.1)
        pub.publish(vel(v=2.0))

    thread = threading.Thread(target=later)
    thread.start()
    try:
        start = time.monotonic()
        assert sub.wait(30.0) is True
        # woken by the arrival, not by the timeout (the margin is deliberately huge)
        assert time.monotonic() - start < 15.0
    finally:
        thread.join(DEADLINE_S)
    assert sub.latest().fixed["v"] == 2.0


def test_copy_into_writable_and_counts_truncation(make_bus):
    bus = make_bus(1)
    sub = bus.subscribe("sensor/scan", m.LASER_SCAN)
    pub = bus.publisher("sensor/scan", m.LASER_SCAN)
    var = m.new_var(m.LASER_SCAN, 6)
    var["angle"] = np.arange(6)
    fixed = m.new_fixed(m.LASER_SCAN)
    fixed["range_max"] = 3.0
    join(pub, sub, fixed, var)
    pub.publish(fixed, var)
    msg = receive_until(sub, lambda got: len(got) == 1)[0]
    fixed_out, big, small = m.new_fixed(m.LASER_SCAN), m.new_var(m.LASER_SCAN, 10), \
        m.new_var(m.LASER_SCAN, 4)
    assert sub.copy_into(msg, fixed_out, big) == 6
    assert fixed_out["range_max"][0] == 3.0 and list(big["angle"][:6]) == list(range(6))
    assert sub.counters.truncated == 0
    assert sub.copy_into(msg, fixed_out, small) == 4
    assert list(small["angle"]) == [0, 1, 2, 3] and sub.counters.truncated == 1
    assert copy_into(msg, fixed_out, None) == 0
    scalar_fixed, strided = np.zeros((), m.LASER_SCAN.dtype), m.new_var(m.LASER_SCAN, 20)[::2]
    assert copy_into(msg, scalar_fixed, strided) == 6
    assert scalar_fixed["range_max"] == 3.0 and list(strided["angle"][:6]) == list(range(6))
    big["range"][0] = 9.0  # the copies are ordinary writable arrays
    assert big.flags.writeable and big.flags.c_contiguous


def test_one_publisher_per_topic_and_topic_names(make_bus):
    bus = make_bus(1)
    bus.publisher("cmd/vel", m.VELOCITY_COMMAND)
    with pytest.raises(BusError, match="already has a publisher"):
        bus.publisher("cmd/vel", m.VELOCITY_COMMAND)
    for topic in ("", "/abs", "a b", "a.b", "caf\u00e9"):
        with pytest.raises(BusError):
            bus.subscribe(topic, m.VELOCITY_COMMAND)


def test_closed_bus_refuses(make_bus):
    bus = make_bus(1)
    pub = bus.publisher("cmd/vel", m.VELOCITY_COMMAND)
    sub = bus.subscribe("cmd/vel", m.VELOCITY_COMMAND)
    other = bus.subscribe("cmd/vel", m.VELOCITY_COMMAND)
    other.close()
    with pytest.raises(BusError):
        other.poll()
    bus.close()
    bus.close()
    for call in (lambda: bus.subscribe("cmd/vel", m.VELOCITY_COMMAND),
                 lambda: pub.publish(vel()), sub.poll):
        with pytest.raises(BusError, match="closed"):
            call()
    assert pub.sent == 0


# --- memory specifics ------------------------------------------------------------------

def test_memory_inbox_hwm_drops_new_and_counts():
    tx, rx = memory_pair()
    sub = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND, QoS.queue(10), hwm=2)
    pub = tx.publisher("cmd/vel", m.VELOCITY_COMMAND)
    for _ in range(5):
        pub.publish(vel())
    assert sub.poll() == 2
    assert [r.header.seq for r in sub.take()] == [1, 2]
    assert sub.counters.dropped == 3
    pub.publish(vel())
    sub.poll()
    assert sub.counters.seq_gaps == 3  # the drops show as a gap too


def test_memory_messages_carry_their_header_and_decode_as_the_bytes_do():
    # the in-process shortcut (messages.Frames) must give exactly what parsing the bytes
    # gives, and a subscriber expecting another type must still refuse them
    tx, rx = memory_pair()
    rx.clock.advance_ns(123)
    sub = rx.subscribe("sensor/scan", m.LASER_SCAN, QoS.queue(10))
    raw_rx = rx._create_receiver("sensor/scan", 10)  # what a recorder reads
    wrong = rx.subscribe("sensor/scan", m.IMU, QoS.queue(10))
    pub = tx.publisher("sensor/scan", m.LASER_SCAN, frame_id="laser")
    fixed = m.new_fixed(m.LASER_SCAN)
    fixed["range_max"] = np.nan
    var = m.new_var(m.LASER_SCAN, 3)
    var["range"] = [1.5, -0.0, np.inf]
    pub.publish(fixed, var, stamp_ns=77)
    pub.publish(fixed, None)
    first = raw_rx.recv_frames()
    assert isinstance(first, m.Frames) and [bytes(f) for f in first] == first
    assert sub.poll() == 2 and wrong.poll() == 0
    assert wrong.counters.malformed_by_reason["type"] == 2
    for got, frames in zip(sub.take(), (first, raw_rx.recv_frames()), strict=True):
        parsed = m.decode([bytes(f) for f in frames], m.LASER_SCAN)
        assert got.header == parsed.header and type(got.header) is m.Header
        assert all(type(v) is type(w) for v, w in zip(got.header, parsed.header, strict=True))
        assert got.fixed.tobytes() == parsed.fixed.tobytes() and got.fixed.shape == ()
        assert not got.fixed.flags.writeable
        assert (got.var is None) == (parsed.var is None)
        if got.var is not None:
            assert got.var.tobytes() == parsed.var.tobytes() and not got.var.flags.writeable
    assert sub.counters.received == 2 and sub.counters.malformed == 0


def test_memory_hubs_are_separate_networks():
    hub_a, hub_b = MemoryHub(), MemoryHub()
    tx = MemoryBus(SimClock(), publisher_id=1, hub=hub_a)
    same = MemoryBus(SimClock(), publisher_id=2, hub=hub_a).subscribe("t", m.ESTOP)
    other = MemoryBus(SimClock(), publisher_id=3, hub=hub_b).subscribe("t", m.ESTOP)
    tx.publisher("t", m.ESTOP).publish(m.new_fixed(m.ESTOP))
    assert (same.poll(), other.poll()) == (1, 0)
    same.close()
    assert hub_a._topic("t").inboxes == ()
    tx.publishers[0].publish(m.new_fixed(m.ESTOP))  # to nobody, without error


def test_bus_package_does_not_import_zmq():
    code = ("import sys, robo_orch.bus, robo_orch.bus.memory, robo_orch.messages; "
            "assert 'zmq' not in sys.modules, 'zmq imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- zmq specifics -----------------------------------------------------------------------

def test_zmq_tcp_random_port():
    # insecure: plain tcp, on purpose (tests/test_curve.py: CURVE, and tcp refused without it)
    with ZmqBus(SimClock(), publisher_id=1, endpoints={"cmd/vel": "tcp://127.0.0.1:*"},
                insecure=True) as tx:
        pub = tx.publisher("cmd/vel", m.VELOCITY_COMMAND)
        address = tx.endpoint("cmd/vel")
        assert address.startswith("tcp://127.0.0.1:") and not address.endswith("*")
        with ZmqBus(SimClock(), publisher_id=2, endpoints={"cmd/vel": address},
                    insecure=True) as rx:
            sub = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND, QoS.queue(10))
            join(pub, sub)
            pub.publish(vel(v=3.0))
            assert receive_until(sub, lambda got: len(got) == 1)[0].fixed["v"] == 3.0
            assert sub.counters.seq_gaps == 0
    with ZmqBus(SimClock(), publisher_id=3, endpoints={"cmd/vel": "tcp://127.0.0.1:*"},
                insecure=True) as bus, pytest.raises(BusError, match="wildcard"):
        bus.subscribe("cmd/vel", m.VELOCITY_COMMAND)


def test_zmq_foreign_socket_frames_are_counted(tmp_path):
    with foreign_publisher(tmp_path, SimClock(), "cmd/vel", m.VELOCITY_COMMAND) as (sub, sock, _):
        sock.send_multipart([b"garbage"])
        sock.send_multipart(raw(m.VELOCITY_COMMAND, 2, publisher_id=99))
        receive_until(sub, lambda got: any(r.header.publisher_id == 99 for r in got))
        assert sub.counters.malformed_by_reason["frames"] == 1


def test_zmq_close_cleans_up(tmp_path):
    bus = ZmqBus(SimClock(), publisher_id=1, run_dir=tmp_path)
    bus.publisher("sensor/imu", m.IMU)
    bus.subscribe("sensor/imu", m.IMU)
    sock_file = tmp_path / "sensor.imu.sock"
    assert bus.endpoint("sensor/imu") == f"ipc://{sock_file}"
    assert sock_file.exists()
    bus.close()
    assert not sock_file.exists() and tmp_path.exists()
    assert bus.context.closed

    private = ZmqBus(SimClock(), publisher_id=1)
    private.publisher("x", m.IMU)
    run_dir = private.run_dir
    assert os.path.basename(run_dir).startswith("robo_orch-") and os.path.isdir(run_dir)
    private.close()
    assert not os.path.exists(run_dir)


def test_zmq_ipc_path_too_long(tmp_path):
    deep = tmp_path / ("d" * 100)
    with ZmqBus(SimClock(), publisher_id=1, run_dir=deep) as bus, \
            pytest.raises(BusError, match="longer than"):
        bus.publisher("cmd/vel", m.VELOCITY_COMMAND)


CHILD = textwrap.dedent("""
    import sys, time
    from robo_orch import messages as m
    from robo_orch.bus.zmq_bus import ZmqBus
    from robo_orch.clock import WallClock
    run_dir, n = sys.argv[1], int(sys.argv[2])
    with ZmqBus(WallClock(), publisher_id=1, incarnation=3, run_dir=run_dir, hwm=1000) as bus:
        ack = bus.subscribe("test/ack", "estop")
        pub = bus.publisher("test/data", "position_fix")
        fixed = m.new_fixed(m.POSITION_FIX)
        end = time.monotonic() + 20
        probe = 0
        while not ack.wait(0.01):  # probe (as publisher 999) until the parent hears us
            probe += 1
            bus.send_raw("test/data", m.encode(m.POSITION_FIX, "test/data", fixed, seq=probe,
                                              stamp_ns=0, publisher_id=999))
            if time.monotonic() > end:
                sys.exit("parent never acknowledged")
        for i in range(n):
            fixed["x"] = i
            pub.publish(fixed)
        # LINGER 0 discards unsent messages on close: stay until the parent has them all
        while not any(r.fixed["engage"] == 1 for r in ack.take()):
            ack.wait(0.01)
            if time.monotonic() > end:
                sys.exit("parent never confirmed receipt")
""")


def test_zmq_cross_process(tmp_path):
    n = 200
    with ZmqBus(SimClock(), publisher_id=2, run_dir=tmp_path, hwm=1000) as bus:
        data = bus.subscribe("test/data", "position_fix", QoS.queue(1000), hwm=1000)
        ack = bus.publisher("test/ack", "estop")
        env = dict(os.environ, PYTHONPATH=REPO)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(n)], env=env,
                                 cwd=REPO, stderr=subprocess.PIPE, text=True)
        try:
            got = []
            signal = m.new_fixed(m.ESTOP)
            end = time.monotonic() + 30
            while child.poll() is None:
                assert time.monotonic() < end, f"timed out with {len(got)}: {data.counters}"
                if sum(r.header.publisher_id == 1 for r in got) == n:
                    signal["engage"] = 1  # all in: the child may exit
                if got:
                    ack.publish(signal)
                data.wait(0.02)
                got.extend(data.take())
            assert child.returncode == 0, child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        real = [r for r in got if r.header.publisher_id == 1]
        assert [r.header.seq for r in real] == list(range(1, n + 1))
        assert [float(r.fixed["x"]) for r in real] == [float(i) for i in range(n)]
        assert all(r.header.incarnation == 3 for r in real)
        counters = data.counters
        assert counters.received == len(got) and counters.seq_gaps == 0
        assert counters.dropped == counters.malformed == counters.out_of_order == 0
