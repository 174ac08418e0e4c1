"""tcp with CURVE: keys on disk, who gets in, who is refused and counted, the config rules.

Real sockets throughout: the robo_orch side is the bus (or the control server),
the other side is plain pyzmq sockets playing the stranger on the network: no
key at all, a key pair of its own, or a process that took the port first.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import threading
import time

import pytest
import zmq
from helpers import cli, join, receive_until, vel

from robo_orch import messages as m
from robo_orch.bus import QoS
from robo_orch.bus.keys import CurveKeys, KeyFileError, generate_keys, load_keys
from robo_orch.bus.zmq_bus import EndpointInUse, ZmqBus
from robo_orch.clock import WallClock
from robo_orch.config import load_config
from robo_orch.config.network import bus_options, config_topics, control_address
from robo_orch.control import protocol as P
from robo_orch.control.client import AccessRefused, ControlClient, ControlTarget
from robo_orch.control.server import ControlServer, Operation, curve_may_mutate
from robo_orch.errors import BusError, ConfigError

pytestmark = pytest.mark.watchdog(120)
TOPIC = "cmd/vel"


def free_tcp() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def keys():
    """A key directory with the robot, a laptop (full access) and a viewer (read-only)."""
    path = tempfile.mkdtemp(prefix="keys-", dir="/tmp")
    generate_keys(path, ("laptop",), ("viewer",))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def run_dir(monkeypatch):
    path = tempfile.mkdtemp(prefix="cv-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", path)
    try:
        yield os.path.join(path, "run")
    finally:
        shutil.rmtree(path, ignore_errors=True)


def drain(sock: zmq.Socket, wait_ms: int = 50) -> int:
    n = 0
    while sock.poll(wait_ms, zmq.POLLIN):
        sock.recv_multipart()
        n += 1
    return n


PUBLIC_KEYS: dict[zmq.Socket, bytes] = {}  # a stranger socket's own public key


def stranger(ctx: zmq.Context, kind: int, *, server_key: bytes | None = None,
             own_server: bool = False) -> zmq.Socket:
    """A plain pyzmq socket: NULL, or CURVE with a key pair of its own."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None or own_server:
        public, secret = zmq.curve_keypair()
        sock.curve_publickey, sock.curve_secretkey = public, secret
        PUBLIC_KEYS[sock] = public
        if own_server:
            sock.curve_server = True
        else:
            sock.curve_serverkey = server_key
    return sock


def wait_for(predicate, timeout_s: float = 10.0, what=None) -> None:
    """Wait until ``predicate()`` (the refusal counters are kept by another thread)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what() if what else ''}"
        time.sleep(0.02)


# --- keys on disk --------------------------------------------------------------------------


def test_generated_keys_are_private_and_never_overwritten(tmp_path):
    made = generate_keys(str(tmp_path / "k"), ("laptop",), ("viewer",))
    assert [os.path.basename(p) for p, new in made if new] == [
        "server.key_secret", "robot.key_secret", "laptop.key_secret", "viewer.key_secret"]
    for secret, _ in made:
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600, secret
        assert stat.S_IMODE(os.stat(secret[:-len("_secret")]).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o700
    before = (tmp_path / "k" / "server.key_secret").read_bytes()
    again = generate_keys(str(tmp_path / "k"), ("laptop", "tablet"))
    assert [new for _, new in again] == [False, False, False, True]
    assert (tmp_path / "k" / "server.key_secret").read_bytes() == before
    keys = load_keys(str(tmp_path / "k"), "viewer")
    names = {c.name: c.read_only for c in keys.admitted.values()}
    assert names == {"robot": False, "laptop": False, "tablet": False, "viewer": True}
    with pytest.raises(KeyFileError, match="read-only client"):
        generate_keys(str(tmp_path / "k"), ("viewer",))


def test_a_secret_key_readable_by_others_is_refused_in_one_line(tmp_path):
    generate_keys(str(tmp_path / "k"), ("laptop",))
    secret = tmp_path / "k" / "clients" / "laptop.key_secret"
    os.chmod(secret, 0o640)
    with pytest.raises(KeyFileError) as info:
        load_keys(str(tmp_path / "k"), "laptop")
    assert str(info.value) == (f"secret key file {secret} is mode 0640: others could read it; "
                               f"run `chmod 600 {secret}`")
    res = cli("keys", "list", str(tmp_path / "k"))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "chmod 600" in lines[0], res.stderr
    os.chmod(secret, 0o600)
    os.chmod(tmp_path / "k" / "server.key_secret", 0o604)  # world-readable server secret
    with pytest.raises(KeyFileError, match="0604"):
        load_keys(str(tmp_path / "k"), "laptop")


def test_keys_generate_command(tmp_path):
    res = cli("keys", "generate", str(tmp_path / "k"), "--client", "laptop", "--readonly",
              "viewer")
    assert res.returncode == 0, res.stderr
    assert "made" in res.stdout and "bus.keys" in res.stdout
    listing = cli("keys", "list", str(tmp_path / "k"))
    assert listing.returncode == 0, listing.stderr
    assert "read-only   viewer" in listing.stdout and "full access laptop" in listing.stdout


# --- the bus -------------------------------------------------------------------------------


def test_tcp_without_keys_is_refused_by_the_bus(run_dir):
    address = free_tcp()
    with ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir,
                endpoints={TOPIC: address}) as bus:
        for make in (lambda: bus.publisher(TOPIC, m.VELOCITY_COMMAND),
                     lambda: bus.subscribe(TOPIC, m.VELOCITY_COMMAND)):
            with pytest.raises(BusError, match="robo-orch keys generate"):
                make()


def test_a_peer_without_an_admitted_key_gets_nothing_out_and_is_counted(keys, run_dir):
    address = free_tcp()
    robot = load_keys(keys, "robot")
    ctx = zmq.Context()
    tx = ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir, endpoints={TOPIC: address},
                curve=robot)
    rx = ZmqBus(WallClock(), publisher_id=2, run_dir=run_dir, endpoints={TOPIC: address},
                curve=load_keys(keys, "viewer"))  # read-only keys may watch topics
    strangers = {"no key": stranger(ctx, zmq.SUB),
                 "own key": stranger(ctx, zmq.SUB, server_key=robot.server_public),
                 "wrong server key": stranger(ctx, zmq.SUB,
                                              server_key=zmq.curve_keypair()[0])}
    try:
        pub = tx.publisher(TOPIC, m.VELOCITY_COMMAND)
        sub = rx.subscribe(TOPIC, m.VELOCITY_COMMAND, QoS.queue(100))
        for sock in strangers.values():
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(address)
        join(pub, sub)  # the admitted subscriber hears the publisher
        counters = tx._guard.counters
        by = counters.refused_by_reason
        # a plain peer fails on the mechanism, or (when it hangs up first) mid-handshake
        wait_for(lambda: counters.admitted >= 1 and by["unknown_key"] and by["bad_handshake"]
                 and by["no_curve"] + by["incomplete"], what=counters.as_dict)
        for i in range(20):
            pub.publish(vel(v=float(i)))
        got = receive_until(sub, lambda got: len(got) == 20)
        assert [r.fixed["v"] for r in got] == [float(i) for i in range(20)]
        assert {name: drain(sock) for name, sock in strangers.items()} == dict.fromkeys(
            strangers, 0)
        health = tx.tcp_health()
        assert health["mechanism"] == "curve" and health["endpoints"] == [address]
        assert health["refused"] >= 3 and health["last_refused"]["endpoint"] == address
        unknown = PUBLIC_KEYS[strangers["own key"]]
        assert health["last_unknown_key"] == unknown.decode()
    finally:
        for sock in strangers.values():
            sock.close(linger=0)
        rx.close()
        tx.close()
        ctx.term()


def test_a_process_that_took_the_port_first_gets_nothing_in(keys, run_dir):
    robot = load_keys(keys, "robot")
    ctx = zmq.Context()
    for name, squatter in (("no key", stranger(ctx, zmq.PUB)),
                           ("a server key of its own", stranger(ctx, zmq.PUB, own_server=True))):
        address = free_tcp()
        squatter.bind(address)
        rx = ZmqBus(WallClock(), publisher_id=2, run_dir=run_dir, endpoints={TOPIC: address},
                    curve=robot)
        try:
            sub = rx.subscribe(TOPIC, m.VELOCITY_COMMAND, QoS.queue(100))
            failed = rx._guard.counters.outgoing_failed
            deadline = time.monotonic() + 10
            while not sum(failed.values()) and time.monotonic() < deadline:
                squatter.send_multipart(m.encode(m.VELOCITY_COMMAND, TOPIC, vel(v=9.0), None,
                                                 seq=1, stamp_ns=1, publisher_id=66))
                sub.poll()
                time.sleep(0.02)
            assert sum(failed.values()) >= 1, name  # counted as a failed handshake
            for i in range(20):
                squatter.send_multipart(m.encode(m.VELOCITY_COMMAND, TOPIC, vel(v=9.0), None,
                                                 seq=i + 2, stamp_ns=1, publisher_id=66))
            time.sleep(0.2)
            assert sub.poll() == 0 and sub.counters.received == 0, name
            assert sub.counters.malformed == 0, name  # nothing reached decoding at all
            # and the robot's own publisher cannot bind the taken port: it says so
            with ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir,
                        endpoints={TOPIC: address}, curve=robot) as tx, \
                    pytest.raises(EndpointInUse, match="another process holds that port"):
                tx.publisher(TOPIC, m.VELOCITY_COMMAND)
        finally:
            rx.close()
            squatter.close(linger=0)
    ctx.term()


def test_insecure_tcp_works_without_keys_on_purpose(run_dir):
    address = free_tcp()
    with ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir, endpoints={TOPIC: address},
                insecure=True) as tx, \
            ZmqBus(WallClock(), publisher_id=2, run_dir=run_dir, endpoints={TOPIC: address},
                   insecure=True) as rx:
        pub = tx.publisher(TOPIC, m.VELOCITY_COMMAND)
        sub = rx.subscribe(TOPIC, m.VELOCITY_COMMAND, QoS.queue(10))
        deadline = time.monotonic() + 10
        while not sub.poll() and time.monotonic() < deadline:
            pub.publish(vel(v=1.0))
            time.sleep(0.02)
        assert sub.counters.received >= 1
        assert tx.tcp_health()["mechanism"] == "none"


# --- the control endpoint over CURVE -------------------------------------------------------


class Ticking:
    """Serve a control server from a thread, as the loop's ticks would (every 5 ms)."""

    def __init__(self, *servers: ControlServer) -> None:
        self.servers = servers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.005):
            for server in self.servers:
                server.serve(WallClock().now_ns())

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def test_read_only_keys_may_watch_but_not_change_and_strangers_get_no_answer(keys, run_dir):
    address = free_tcp()
    bus = ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir, curve=load_keys(keys, "robot"))
    changes = []
    local = ControlServer(bus)
    local.register(Operation("look", lambda r: {"user": r.peer.user_id}, mutating=False))
    local.register(Operation("estop", lambda r: changes.append(r.args) or {"done": True},
                             mutating=True))
    remote = ControlServer(bus, address=address, may_mutate=curve_may_mutate, service=None,
                           operations=local.operations)
    ticking = Ticking(local, remote)
    ctx = zmq.Context()
    plain = stranger(ctx, zmq.DEALER)
    try:
        target = ControlTarget(address, "")
        with ControlClient(target, curve=load_keys(keys, "viewer")) as viewer:
            assert viewer.request("look") == {"user": "ro:viewer"}
            reply = viewer.call("estop", {"engage": False})
            assert not reply["ok"] and reply["error"]["code"] == "forbidden"
        with ControlClient(target, curve=load_keys(keys, "laptop")) as laptop:
            assert laptop.request("look") == {"user": "rw:laptop"}
            assert laptop.request("estop", {"engage": False}) == {"done": True}
        assert changes == [{"engage": False}]  # the read-only request never ran
        assert remote.counters.forbidden == 1
        # a stranger's request is never read: no reply, nothing runs
        plain.connect(address)
        plain.send_multipart([b"", P.request("estop", {"engage": False}, "x")])
        assert not plain.poll(1000, zmq.POLLIN)
        assert changes == [{"engage": False}] and remote.counters.requests == 4
        own = CurveKeys(server_public=load_keys(keys, "robot").server_public,
                        client_public=(pair := zmq.curve_keypair())[0], client_secret=pair[1],
                        client_name="mallory")
        with ControlClient(target, curve=own) as mallory, \
                pytest.raises(AccessRefused, match="does not admit the client key 'mallory'"):
            mallory.call("look", timeout_s=5.0)
        refused = bus._guard.counters.refused_by_reason
        wait_for(lambda: refused["no_curve"] + refused["incomplete"] >= 1
                 and refused["unknown_key"] >= 1, what=lambda: refused)
    finally:
        ticking.close()
        plain.close(linger=0)
        ctx.term()
        bus.close()


# --- config --------------------------------------------------------------------------------


def test_tcp_in_a_config_needs_keys_or_insecure(keys):
    base = 'bus.tcp_base="tcp://127.0.0.1:7600"'
    with pytest.raises(ConfigError) as info:
        load_config(None, (base,))
    assert info.value.key == "bus.keys" and "robo-orch keys generate" in info.value.problem
    res = cli("check", "--set", base)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "keys generate" in lines[0], res.stderr
    config = load_config(None, (base, "bus.insecure=true"))
    assert bus_options(config)["insecure"] is True and bus_options(config)["curve"] is None
    config = load_config(None, (base, f'bus.keys="{keys}"'))
    options = bus_options(config)
    assert options["curve"].client_name == "robot" and not options["insecure"]
    topics = config_topics(config)
    assert control_address(config) == "tcp://127.0.0.1:7600"
    assert options["endpoints"] == {t: f"tcp://127.0.0.1:{7601 + i}"
                                    for i, t in enumerate(topics)}
    assert "cmd/velocity" in topics and "sensor/scan" in topics
    one = load_config(None, (f'bus.keys="{keys}"',
                             'bus.endpoints.sensor/scan="tcp://127.0.0.1:7700"'))
    assert bus_options(one)["endpoints"] == {"sensor/scan": "tcp://127.0.0.1:7700"}
    assert control_address(one) is None


@pytest.mark.parametrize("override, words", [
    ('bus.endpoints.sensor/scan="tcp://127.0.0.1:*"', "fixed port"),
    ('bus.endpoints.sensor/scan="udp://x:1"', "'tcp://' or 'ipc://'"),
    ('bus.control_endpoint="tcp://127.0.0.1:7601"', "one address, one topic"),
    ('bus.client_key="nobody"', "no client key 'nobody'"),
])
def test_bad_network_keys_are_named(keys, override, words):
    with pytest.raises(ConfigError) as info:
        load_config(None, (f'bus.keys="{keys}"', 'bus.tcp_base="tcp://127.0.0.1:7600"',
                           override))
    assert words in str(info.value)


def test_a_readable_secret_named_by_the_config_fails_the_load(tmp_path):
    generate_keys(str(tmp_path / "k"))
    os.chmod(tmp_path / "k" / "clients" / "robot.key_secret", 0o644)
    with pytest.raises(ConfigError) as info:
        load_config(None, (f'bus.keys="{tmp_path / "k"}"',))
    assert info.value.key == "bus.keys" and "chmod 600" in info.value.problem
