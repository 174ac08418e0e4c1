"""Whole runs over tcp with CURVE: a real-time mission, drivers, remote tools and a read-only key.

Each test starts ``robo-orch sim`` in a child process with ``bus.tcp_base`` on
loopback and a key directory made for it, and talks to it the way a laptop
would: ``--connect tcp://...`` with a client key, plus plain pyzmq sockets
playing a stranger.  ``XDG_RUNTIME_DIR`` is private to each test.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import time

import pytest
import zmq
from helpers import cli, start_cli, stop

from robo_orch.bus.keys import generate_keys
from robo_orch.config import embedded_config_path
from robo_orch.control import protocol as P

ROBOT = str(embedded_config_path("robot"))

pytestmark = [pytest.mark.watchdog(240), pytest.mark.slow]



@pytest.fixture
def keys(short_tmp):
    generate_keys(str(short_tmp / "keys"), ("laptop",), ("viewer",))
    return str(short_tmp / "keys")


def free_base(n: int) -> int:
    """A port with the ``n`` ports after it free on loopback too."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - n)
        socks = []
        try:
            for port in range(base, base + n + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port range")


def remote(control: str, keys: str, key: str, *args: str, env: dict):
    return cli(*args, "--connect", control, "--keys", keys, "--key", key, env=env)


def wait_until_ticking(proc, control: str, keys: str, env: dict) -> dict:
    deadline = time.monotonic() + 150
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended early with {proc.returncode}"
        last = remote(control, keys, "viewer", "status", "--timeout", "1", env=env)
        if last.returncode == 0:
            return json.loads(last.stdout)
        time.sleep(0.3)
    raise AssertionError(f"the loop never answered: {last and last.stderr}")



def test_a_realtime_mission_reaches_its_goal_over_tcp_with_curve(short_tmp, env, keys):
    base = free_base(8)
    control = f"tcp://127.0.0.1:{base}"
    summary, mcap = short_tmp / "summary.json", short_tmp / "run.mcap"
    proc = start_cli("-q", "sim", "--duration", "30", "--set", f'bus.tcp_base="{control}"',
                     "--set", f'bus.keys="{keys}"', "--set", "mission.waypoints=[[1.5, -1.0]]",
                     "--summary", str(summary), "--record", str(mcap), env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = wait_until_ticking(proc, control, keys, env)["tcp"]
        # the loop serves its command, e-stop and control endpoint over CURVE, and the
        # simulator process connected to them with the robot's client key
        assert health["mechanism"] == "curve" and health["client"] == "robot"
        assert control in health["endpoints"] and len(health["endpoints"]) == 3
        assert health["admitted"] >= 3 and health["refused"] == 0
        out, err = proc.communicate(timeout=120)
    finally:
        stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, out + err
    result = json.loads(summary.read_text())
    assert result["success"] and result["end_reason"] == "goal reached", result
    for role in ("odom", "imu", "scan"):  # sensor data came from the simulator over tcp
        assert result["inputs"][role]["received"] > 10, result["inputs"][role]
    assert result["simulator_inputs"]["command"]["received"] > 10
    # the recorder process subscribed to the tcp topics with the same keys
    from collections import Counter

    from robo_orch.record.reader import open_recording

    counts = Counter(raw.topic for raw in open_recording(mcap).raw())
    for topic in ("sensor/imu", "sensor/scan", "cmd/velocity", "sim/truth"):
        assert counts[topic] > 10, counts


def test_remote_tools_over_curve_and_a_read_only_key_cannot_release_the_estop(
        short_tmp, env, keys):
    base = free_base(20)
    control = f"tcp://127.0.0.1:{base}"
    with open(short_tmp / "sim.log", "w") as log:
        proc = start_cli("-q", "sim", ROBOT, "--devices", "serial", "--duration", "90", "--set",
                         f'bus.tcp_base="{control}"', "--set", f'bus.keys="{keys}"', env=env,
                         stdout=subprocess.DEVNULL, stderr=log)
    ctx = zmq.Context()
    plain = ctx.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    try:
        health = wait_until_ticking(proc, control, keys, env)
        assert health["safety"]["estop"] is False
        # the laptop engages the e-stop; the motor driver confirms it over tcp and CURVE
        res = remote(control, keys, "laptop", "estop", "--json", env=env)
        assert res.returncode == 0, res.stderr
        reply = json.loads(res.stdout)
        assert reply["result"]["estop"] is True
        assert reply["result"]["drivers"]["motors"]["confirmed"] is True
        # the viewer may watch ...
        topics = remote(control, keys, "viewer", "topics", "--json", env=env)
        assert topics.returncode == 0, topics.stderr
        rates = {row["topic"]: row for row in json.loads(topics.stdout)}
        assert rates["sensor/imu"]["received"] > 0 and rates["sensor/motor"]["received"] > 0
        assert all(row["endpoint"].startswith("tcp://127.0.0.1:") for row in rates.values())
        # ... but not release the e-stop
        res = remote(control, keys, "viewer", "estop", "--reset", env=env)
        assert res.returncode == 3 and "read-only" in res.stderr, res.stderr
        # nor can a stranger without keys: its request is never even read
        plain.connect(control)
        plain.send_multipart([b"", P.request("estop", {"engage": False}, "x")])
        assert not plain.poll(1500, zmq.POLLIN)
        status = json.loads(remote(control, keys, "viewer", "status", env=env).stdout)
        assert status["safety"]["estop"] is True  # still latched
        assert status["control"]["remote"]["forbidden"] == 1
        tcp = status["tcp"]
        assert tcp["refused"] >= 1, tcp
        assert tcp["refused_by_reason"]["no_curve"] + tcp["refused_by_reason"]["incomplete"] >= 1
        res = remote(control, keys, "laptop", "estop", "--reset", env=env)
        assert res.returncode == 0, res.stderr
        assert stop(proc, signal.SIGTERM) == 143
    finally:
        plain.close(linger=0)
        ctx.term()
        stop(proc, signal.SIGTERM)


def test_tcp_without_keys_refuses_to_start_and_insecure_warns(short_tmp, env):
    base = free_base(8)
    tcp = f'bus.tcp_base="tcp://127.0.0.1:{base}"'
    res = cli("-q", "sim", "--duration", "1", "--set", tcp, env=env)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "bus.keys" in lines[0] and "robo-orch keys generate" in lines[0]
    res = cli("-q", "run", str(embedded_config_path("demo")), "--duration", "1", "--set", tcp,
              "--set", "bus.insecure=true", "--set", "loop.input_wait_s=0.2", env=env,
              timeout=120)
    assert res.returncode == 0, res.stderr
    assert "warning: bus.insecure = true" in res.stderr
