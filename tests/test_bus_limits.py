"""Bounded work per message and per poll: size limits, drain bounds, bounded tables.

Real sockets and real processes' code paths, no mocks (the memory bus is a
first-class backend).  Each finding-6 test failed on the code before the limits.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import DEADLINE_S, foreign_publisher, join, memory_pair, raw, receive_until, vel

from robo_orch import messages as m
from robo_orch.bus import MemoryBus, MemoryHub, QoS
from robo_orch.clock import SimClock, WallClock

pytestmark = pytest.mark.watchdog(90)


# --- message size limits ------------------------------------------------------------------

def test_every_type_has_a_size_limit_with_headroom_over_its_largest_message():
    for mtype in m.registered():
        largest = mtype.itemsize + mtype.max_count * mtype.var_itemsize
        assert mtype.max_bytes > max(largest, m.HEADER.size, m.MAX_TOPIC_BYTES)
    assert m.VELOCITY_COMMAND.max_count == 0 and m.VELOCITY_COMMAND.max_bytes < 4096
    assert m.LASER_SCAN.max_count == m.MAX_SCAN_POINTS >= 8192  # the simulator's most rays
    assert m.LASER_SCAN.max_bytes < 1 << 20
    big = m.MessageType("limits_test", 950, [("a", "<f8")], [("b", "<f4")], max_count=10)
    assert big.max_bytes > 8 + 40 and big.layout_hash == m.MessageType(
        "limits_test", 950, [("a", "<f8")], [("b", "<f4")]).layout_hash  # not on the wire
    with pytest.raises(m.MessageError, match="max_count"):
        m.MessageType("limits_test", 950, [("a", "<f8")], max_count=3)


def test_an_oversized_message_is_not_delivered_and_is_counted(make_bus):
    tx, rx = make_bus(1), make_bus(2)
    sub = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND, QoS.queue(10))
    pub = tx.publisher("cmd/vel", m.VELOCITY_COMMAND)
    join(pub, sub)
    topic, head, payload = raw(m.VELOCITY_COMMAND, 1)
    tx.send_raw("cmd/vel", [topic, head, payload + bytes(64 * 1024)])
    if make_bus.backend == "memory":
        pub.publish(vel(1.0))
        got = receive_until(sub, lambda got: len(got) == 1)
        assert got[0].fixed["v"] == 1.0
        assert sub.counters.malformed_by_reason["oversize"] == 1
        assert sub.counters.malformed == 1 and sub.counters.disconnects == 0
        return
    # libzmq drops the connection on the oversized frame and never delivers it; the
    # bus counts the disconnect and connects again, so the publisher is heard again
    end = time.monotonic() + DEADLINE_S
    got = []
    while sub.counters.disconnects == 0:
        assert time.monotonic() < end, f"disconnect never counted: {sub.counters}"
        sub.wait(0.02)
        got += sub.take()
    join(pub, sub)
    assert not any(r.header.publisher_id == 77 for r in got)
    assert sub.counters.disconnects == 1 and sub.counters.malformed == 0


def test_zmq_oversized_frame_from_a_foreign_publisher(tmp_path):
    """The finding: a 64 MB frame reached the loop.  Now the SUB socket refuses it."""
    with foreign_publisher(tmp_path, WallClock(), "sensor/gps", m.POSITION_FIX) as (
            sub, sock, seq):
        end = time.monotonic() + DEADLINE_S
        c = sub.counters
        topic, head, _ = raw(m.POSITION_FIX, seq + 1, topic="sensor/gps")
        sock.send_multipart([topic, head, bytes(64 << 20)])
        got = []
        while not (getattr(c, "disconnects", 0) or c.malformed):
            assert time.monotonic() < end, f"neither refused nor received: {c}"
            sub.wait(0.02)
            got += sub.take()
        assert c.malformed == 0, "the 64 MB frame reached the subscription"
        # connected again: the next good message arrives
        while not got:
            assert time.monotonic() < end, f"never heard again: {sub.counters}"
            seq += 2
            sock.send_multipart(raw(m.POSITION_FIX, seq, topic="sensor/gps"))
            sub.wait(0.02)
            got += sub.take()
        assert sub.counters.malformed == 0 and sub.counters.disconnects == 1


def test_a_subscriber_can_raise_the_limit_for_bigger_scans(make_bus):
    tx, rx = make_bus(1), make_bus(2)
    n = 2 * m.MAX_SCAN_POINTS  # beyond the headroom
    default = rx.subscribe("sensor/scan", m.LASER_SCAN, QoS.queue(10))
    bigger = rx.subscribe("sensor/scan", m.LASER_SCAN, QoS.queue(10),
                          max_bytes=m.LASER_SCAN.itemsize + n * m.LASER_SCAN.var_itemsize + 1024)
    pub = tx.publisher("sensor/scan", m.LASER_SCAN)
    small = m.new_var(m.LASER_SCAN, 10)
    join(pub, default, m.new_fixed(m.LASER_SCAN), small)
    join(pub, bigger, m.new_fixed(m.LASER_SCAN), small)
    pub.publish(m.new_fixed(m.LASER_SCAN), m.new_var(m.LASER_SCAN, n))
    got = receive_until(bigger, lambda got: len(got) == 1)
    assert len(got[0].var) == n
    end = time.monotonic() + DEADLINE_S
    heard = []  # the small scans of the joins, and never the big one
    while default.counters.malformed + default.counters.disconnects == 0:
        assert time.monotonic() < end, f"not refused: {default.counters}"
        default.wait(0.02)
        heard += default.take()
    assert all(len(r.var) == 10 for r in heard)


# --- bounded draining ---------------------------------------------------------------------

def test_a_flood_in_one_poll_is_bounded_and_the_rest_counted_dropped():
    bound = 32  # robo_orch.bus.base.DEFAULT_MAX_PER_POLL
    tx, rx = memory_pair(hwm=5000)
    sub = rx.subscribe("sensor/gps", m.POSITION_FIX)  # latest, the loop's default
    pub = tx.publisher("sensor/gps", m.POSITION_FIX)
    topic, head, payload = raw(m.POSITION_FIX, 1, topic="sensor/gps")
    n = 3000
    for _ in range(n):
        tx.send_raw("sensor/gps", [topic, head, payload + b"\0"])  # malformed: size
    good = pub.publish(m.new_fixed(m.POSITION_FIX))  # the newest
    assert sub.poll() == 1
    c = sub.counters
    # the newest ``bound`` were decoded, the older ones dropped undecoded
    assert (c.received, c.malformed) == (1, bound - 1)
    assert c.dropped == n + 1 - bound
    assert sub.latest().header.seq == good
    assert sub.poll() == 0 and c.malformed + c.received + c.dropped == n + 1
    from robo_orch.bus.base import DEFAULT_MAX_PER_POLL

    assert bound == DEFAULT_MAX_PER_POLL


def test_the_bound_is_configurable_and_keeps_a_queue_in_order():
    tx, rx = memory_pair()
    sub = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND, QoS.queue(50), max_per_poll=5)
    pub = tx.publisher("cmd/vel", m.VELOCITY_COMMAND)
    pub.publish(vel())
    assert sub.poll() == 1 and len(sub.take()) == 1
    seqs = [pub.publish(vel(float(i))) for i in range(12)]
    assert sub.poll() == 5
    assert [r.header.seq for r in sub.take()] == seqs[-5:]
    assert sub.counters.dropped == 7 and sub.counters.seq_gaps == 7
    deep = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND, QoS.queue(64))
    seqs = [pub.publish(vel()) for _ in range(64)]
    assert deep.poll() == 64  # a queue deeper than the default bound can fill in one poll


def test_zmq_flood_from_a_foreign_process_is_bounded_per_poll(tmp_path):
    bound = 32  # robo_orch.bus.base.DEFAULT_MAX_PER_POLL
    # latest, as the loop subscribes; the flooder loses nothing: all must be counted
    with foreign_publisher(tmp_path, WallClock(), "sensor/gps", m.POSITION_FIX, QoS.latest(),
                           sndhwm=0) as (sub, sock, seq):
        end = time.monotonic() + DEADLINE_S
        c = sub.counters
        base = c.received + c.malformed + c.dropped
        topic, head, payload = raw(m.POSITION_FIX, seq + 1, topic="sensor/gps")
        n = 5000
        for _ in range(n):
            sock.send_multipart([topic, head, payload + b"\0"])
        sock.send_multipart(raw(m.POSITION_FIX, seq + 2, topic="sensor/gps"))
        got = []
        while c.received + c.malformed + c.dropped - base < n + 1:
            assert time.monotonic() < end, f"not all accounted for: {c}"
            before = c.received + c.malformed
            sub.poll()
            assert c.received + c.malformed - before <= bound
            got += sub.take()
            time.sleep(0.001)
        assert got and got[-1].header.seq == seq + 2
        assert c.disconnects == 0 and c.dropped > 0


# --- bounded per-publisher tables ---------------------------------------------------------

def test_many_publisher_ids_keep_the_sequence_table_at_its_capacity():
    import gc
    import tracemalloc

    tx, rx = memory_pair()
    sub = rx.subscribe("cmd/estop", m.ESTOP, QoS.latest())
    fixed = m.new_fixed(m.ESTOP)
    ids = np.random.default_rng(1).choice(1 << 31, 20_000, replace=False) + 1000
    sub.poll()
    gc.collect()
    tracemalloc.start()
    for start in range(0, len(ids), 32):
        for pid in ids[start:start + 32]:
            tx.send_raw("cmd/estop", m.encode(m.ESTOP, "cmd/estop", fixed, seq=1, stamp_ns=0,
                                              publisher_id=int(pid)))
        sub.poll()
    sub.take()
    gc.collect()
    grown, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    c = sub.counters
    assert c.received == len(ids) and c.malformed == 0
    assert grown < 200_000, f"{len(ids)} publisher ids kept {grown} bytes"
    from robo_orch.bus.counters import MAX_PUBLISHERS

    assert c.publishers == MAX_PUBLISHERS
    assert c.publishers_evicted == len(ids) - MAX_PUBLISHERS


def test_an_active_publisher_keeps_its_entry_among_many_others():
    tx, rx = memory_pair()
    sub = rx.subscribe("cmd/estop", m.ESTOP, QoS.latest())
    fixed = m.new_fixed(m.ESTOP)
    foreign = 1000
    seq = 0
    for i in range(2000):
        seq += 4 if i == 1000 else 1  # three messages lost on the way
        tx.send_raw("cmd/estop", m.encode(m.ESTOP, "cmd/estop", fixed, seq=seq, stamp_ns=0,
                                          publisher_id=7))
        for _ in range(10):  # least recently used ones go first, not the active one
            foreign += 1
            tx.send_raw("cmd/estop", m.encode(m.ESTOP, "cmd/estop", fixed, seq=5, stamp_ns=0,
                                              publisher_id=foreign))
        sub.poll()
    c = sub.counters
    assert c.seq_gaps == 3 and c.restarts == 0 and c.out_of_order == 0
    assert c.publishers_evicted > 0


# --- malformed counts reach the summaries -------------------------------------------------

def test_a_malformed_estop_reaching_the_motor_driver_is_counted():
    from robo_orch.config.drivers import build_driver
    from robo_orch.hosting.driver_host import DriverHost

    hub = MemoryHub()
    bus = MemoryBus(WallClock(), publisher_id=10, hub=hub)
    foreign = MemoryBus(WallClock(), publisher_id=66, hub=hub)
    cfg = build_driver("motors", {"kind": "motor_bridge", "port": "loop://"}, source="test")
    host = DriverHost("motors", cfg, bus)
    try:
        host.open()
        drv, params = host.driver, cfg.params
        topic = params.estop_topic
        foreign.send_raw(topic, [topic.encode(), b"not a header", b""])
        drv.service(host.port, bus.clock.now_ns())
        counters = drv.counters()
        assert counters[f"in.{topic}.malformed"] == 1
        assert counters[f"in.{topic}.received"] == 0 and not drv.estopped
        assert counters[f"in.{params.command_topic}.malformed"] == 0
        # the line the driver prints when it stops
        assert f"in.{topic}.malformed=1" in host.summary()
    finally:
        host.close()
        bus.close()
        foreign.close()


def test_a_malformed_estop_reaching_the_simulator_is_counted_in_its_status():
    from robo_orch.config import load_config
    from robo_orch.sim.lockstep import LockstepBackend
    from robo_orch.sim.status import SIM_STATUS, inputs_from_status

    config = load_config(None)
    backend = LockstepBackend(config)
    clock = backend.make_clock()
    bus = backend.make_bus(clock)
    foreign = MemoryBus(clock, publisher_id=66, hub=backend.hub)
    status = bus.subscribe("sim/status", SIM_STATUS, QoS.latest())
    try:
        backend.start(bus)
        topic = config.topics.estop
        foreign.send_raw(topic, [topic.encode(), b"not a header", b""])
        backend.pre_tick(0, clock.now_ns())
        clock.advance_ns(20_000_000)
        backend.pre_tick(1, clock.now_ns())
        truth = backend.truth()
        assert truth.inputs["estop"]["malformed"] == 1
        assert truth.inputs["command"]["malformed"] == 0
        backend.node.publish_status(clock.now_ns())
        status.poll()
        assert inputs_from_status(status.latest().fixed)["estop"]["malformed"] == 1
    finally:
        backend.stop()
        bus.close()
        foreign.close()


def test_the_loop_inputs_take_their_limits_from_config():
    from robo_orch.config import load_config
    from robo_orch.core.world import World
    from robo_orch.errors import ConfigError
    from robo_orch.runtime.sense import Sensing

    config = load_config(None, ("bus.max_per_poll=4", "inputs.scan.max_bytes=2000000",
                                "inputs.imu.qos=queue:10"))
    bus = MemoryBus(SimClock(), publisher_id=1, hub=MemoryHub())
    try:
        subs = Sensing(config, bus, World()).subs
        assert subs["scan"].max_bytes == 2_000_000 and subs["odom"].max_bytes == \
            m.WHEEL_ODOMETRY.max_bytes
        assert subs["odom"].max_per_poll == 4 and subs["imu"].max_per_poll == 10
    finally:
        bus.close()
    with pytest.raises(ConfigError, match="inputs.scan.max_bytes"):
        load_config(None, ("inputs.scan.max_bytes=100",))
