"""The control endpoint's server and client on real ZeroMQ sockets, without a loop.

The test plays the loop: it calls ``serve`` as a tick would, so what happens per
tick (the bound on requests, the pending replies) is exact.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time

import numpy as np
import pytest
import zmq

from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import WallClock
from robo_orch.control import protocol as P
from robo_orch.control.client import ControlClient, find_control
from robo_orch.control.server import ControlServer, Operation, Outcome
from robo_orch.rundir import RunDirError


@pytest.fixture
def bus(monkeypatch):
    path = tempfile.mkdtemp(prefix="cs-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", path)
    b = ZmqBus(WallClock(), publisher_id=1, run_dir=os.path.join(path, "run"))
    try:
        yield b
    finally:
        b.close()
        shutil.rmtree(path, ignore_errors=True)


class Later:
    """A reply that is ready on the third poll."""

    def __init__(self) -> None:
        self.polls = 0

    def poll(self, now_ns: int):
        self.polls += 1
        return Outcome({"after": self.polls}) if self.polls == 3 else None


def make_server(bus, **kw) -> ControlServer:
    server = ControlServer(bus, **kw)
    server.register(Operation("echo", lambda r: {"args": r.args}, mutating=False))
    server.register(Operation("set", lambda r: {"done": True}, mutating=True))
    server.register(Operation("later", lambda r: Later(), mutating=False))
    server.register(Operation("bad", lambda r: 1 / 0, mutating=False))
    return server


def dealer(server) -> zmq.Socket:
    sock = server.bus.context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.endpoint)
    return sock


def serve_until(server, sock, n: int, ticks: int = 200) -> list[dict]:
    """Serve tick by tick until ``n`` replies arrived on ``sock``."""
    replies = []
    for _ in range(ticks):
        server.serve(WallClock().now_ns())
        while sock.poll(10, zmq.POLLIN):
            replies.append(json.loads(sock.recv_multipart()[-1]))
        if len(replies) >= n:
            return replies
    raise AssertionError(f"{len(replies)} of {n} replies")


def test_requests_are_answered_and_malformed_ones_counted(bus):
    server = make_server(bus)
    sock = dealer(server)
    try:
        # not an envelope: dropped, counted (sent first: the server takes one peer's
        # messages in order, so it is counted before the five replies are all out)
        sock.send_multipart([b"", b"x", b"y"])
        sock.send_multipart([b"", P.request("echo", {"x": 1}, "a")])
        sock.send_multipart([b"", b"not json"])
        sock.send_multipart([b"", json.dumps({"v": 99, "id": "b", "op": "echo"}).encode()])
        sock.send_multipart([b"", P.request("nope", {}, "c")])
        sock.send_multipart([b"", P.request("bad", {}, "d")])
        replies = {r["id"]: r for r in serve_until(server, sock, 5)}
    finally:
        sock.close()
    assert replies["a"] == {"v": 1, "id": "a", "ok": True, "result": {"args": {"x": 1}}}
    assert replies[None]["error"]["code"] == "malformed"
    assert replies["b"]["error"]["code"] == "version"
    assert replies["c"]["error"]["code"] == "unknown_op" and "echo" in replies["c"]["error"][
        "message"]
    assert replies["d"]["error"]["code"] == "internal"
    c = server.counters
    assert c.requests == 5 and c.not_envelopes == 1 and c.internal_errors == 1
    assert dict(c.malformed) == {"malformed": 1, "version": 1, "unknown_op": 1}
    # the socket file is the user's alone, and the endpoint is in the discovery file
    path = server.endpoint[len("ipc://"):]
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert find_control(bus.run_dir).endpoint == server.endpoint


def test_requests_per_tick_are_bounded_and_the_rest_wait(bus):
    server = make_server(bus)
    sock = dealer(server)
    try:
        for i in range(20):
            sock.send_multipart([b"", P.request("echo", {}, i)])
        time.sleep(0.3)  # all 20 reach the server's queue
        counts = [server.serve(0) for _ in range(4)]
    finally:
        sock.close()
    assert counts == [8, 8, 4, 0]
    assert server.counters.bounded_ticks == 2


def test_a_pending_reply_comes_on_a_later_tick(bus):
    server = make_server(bus)
    with ControlClient(server.endpoint) as client:
        client.socket.send_multipart([b"", P.request("later", {}, "p")])
        replies = serve_until(server, client.socket, 1)
    assert replies[0]["result"] == {"after": 3}
    assert server.pending == 0


def test_read_only_peers_cannot_run_mutating_operations(bus):
    server = make_server(bus, may_mutate=lambda frame: False)
    sock = dealer(server)
    try:
        sock.send_multipart([b"", P.request("set", {}, 1)])
        sock.send_multipart([b"", P.request("echo", {}, 2)])
        replies = {r["id"]: r for r in serve_until(server, sock, 2)}
    finally:
        sock.close()
    assert replies[1]["error"]["code"] == "forbidden" and replies[2]["ok"]
    assert server.counters.forbidden == 1


def test_the_client_times_out_and_refuses_foreign_sockets(bus):
    server = make_server(bus)
    with ControlClient(server.endpoint) as client, pytest.raises(P.NoAnswer):
        client.call("echo", timeout_s=0.2)  # nobody serves: no tick runs
    os.chown(server.endpoint[len("ipc://"):], 65534, 65534)
    with pytest.raises(RunDirError, match="owned by uid 65534"):
        ControlClient(server.endpoint)


def test_estop_waits_for_the_motor_driver_and_says_when_it_does_not(bus):
    """A real controller ticked by the test; the test also plays the motor driver."""
    import threading

    from robo_orch.bus import QoS
    from robo_orch.config import load_config
    from robo_orch.control import endpoint as control
    from robo_orch.runtime.controller import Controller

    ctl = Controller(load_config(None), bus)
    control.attach(ctl, bus, {"motors": "sensor/motor"})
    driver = ZmqBus(WallClock(), publisher_id=10, run_dir=bus.run_dir)
    estops = driver.subscribe("cmd/estop", "estop", QoS.queue(8))
    report = driver.publisher("sensor/motor", "motor_status")
    status = np.zeros((), report.mtype.dtype)
    clock, tick = WallClock(), [0]

    def run(engage: bool, answer: bool) -> dict:
        out = {}
        with ControlClient(find_control(bus.run_dir)) as client:
            thread = threading.Thread(target=lambda: out.update(client.call(
                "estop", {"engage": engage, "timeout_s": 0.5}, timeout_s=3)))
            thread.start()
            while thread.is_alive():  # 50 Hz ticks; the driver answers between them
                now = clock.now_ns()
                ctl.pre_tick(tick[0], now)
                ctl.sense(tick[0], now)
                ctl.plan(tick[0])
                ctl.act(tick[0])
                tick[0] += 1
                if estops.poll() and answer:
                    status["estop"] = estops.take()[-1].fixed["engage"]
                    report.publish(status)
                time.sleep(0.02)
        return out

    try:
        run(False, True)  # the subscriptions connect (ZeroMQ joins asynchronously)
        reply = run(True, answer=True)
        assert reply["ok"], reply
        result = reply["result"]
        assert result["estop"] and result["applied"] and result["command"] == [0.0, 0.0]
        assert result["drivers"]["motors"]["confirmed"] and ctl.completed_tick >= result["tick"]
        reply = run(False, answer=False)  # the driver stays silent
        assert not reply["ok"] and reply["error"]["code"] == "not_confirmed"
        assert "motors" in reply["error"]["message"] and reply["result"]["applied"]
        assert P.RequestFailed(reply).exit_status == 4
    finally:
        driver.close()
