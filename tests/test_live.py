"""The live view: a Foxglove WebSocket server with the recording's channels.

A realtime simulation runs in another process with ``--live --live-port 0`` (and
``--record``, so the live view shares the recorder's tick tap); a minimal
WebSocket client written here (stdlib sockets, the Foxglove subprotocol) checks
the advertised channels and the messages that arrive.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from helpers import cli, start_cli

from robo_orch.errors import UsageError
from robo_orch.record import schemas
from robo_orch.record.channels import FoxgloveChannels, RecordingContext
from robo_orch.record.live import LiveView

# foxglove-sdk >= 0.2x speaks foxglove.sdk.v1; older servers foxglove.websocket.v1
SUBPROTOCOLS = ("foxglove.sdk.v1", "foxglove.websocket.v1")
EXPECTED = {s.topic: s for s in FoxgloveChannels(RecordingContext(behaviors=["a"])).specs()}
#: channels with messages in every run (/loop/params only carries live parameter changes)
STREAMED = set(EXPECTED) - {"/loop/params"}


pytestmark = pytest.mark.watchdog(120)


class WsClient:
    """The smallest WebSocket client that can talk to a Foxglove server."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {', '.join(SUBPROTOCOLS)}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "connection closed during the handshake"
            head += chunk
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].split()[1] == "101", lines[0]
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        self.subprotocol = fields.get("sec-websocket-protocol")
        assert self.subprotocol in SUBPROTOCOLS

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("server closed the connection")
            out += chunk
        return out

    def _send(self, opcode: int, data: bytes) -> None:
        mask = os.urandom(4)  # client frames are masked
        n = len(data)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send_json(self, obj) -> None:
        self._send(0x1, json.dumps(obj).encode())

    def recv(self) -> tuple[int, bytes]:
        """The next data message: (1 text | 2 binary, payload); answers pings."""
        opcode, payload = None, b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            data = self._exact(n)  # server frames are not masked
            op = b0 & 0x0F
            if op == 0x9:
                self._send(0xA, data)
                continue
            if op == 0x8:
                raise EOFError("server sent close")
            if op in (0x1, 0x2):
                opcode, payload = op, data
            elif op == 0x0:
                payload += data
            if b0 & 0x80 and opcode is not None:
                return opcode, payload

    def close(self) -> None:
        self.sock.close()


def start_sim(tmp_path, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    proc = start_cli("sim", "--duration", "60", *extra, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    lines: list[str] = []

    def pump() -> None:  # keep the pipe drained; progress lines end in '\r'
        buf = b""
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):
            buf += chunk
            *done, buf = re.split(rb"[\r\n]", buf)
            lines.extend(x.decode(errors="replace") for x in done if x)
        if buf:
            lines.append(buf.decode(errors="replace"))

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_line(proc, lines: list[str], pattern: str, timeout_s: float = 60.0) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in list(lines):
            match = re.search(pattern, line)
            if match:
                return match
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r}; output: {lines[-20:]}")


@pytest.mark.slow
def test_live_view_advertises_the_channels_and_streams_them(tmp_path):
    proc, lines = start_sim(tmp_path, "--live", "--live-port", "0",
                            "--record", str(tmp_path / "run.mcap"))
    client = None
    try:
        port = int(wait_line(proc, lines, r"live view on ws://127\.0\.0\.1:(\d+)").group(1))
        client = WsClient("127.0.0.1", port)
        channels: dict[str, dict] = {}
        while set(channels) != set(EXPECTED):
            opcode, payload = client.recv()
            msg = json.loads(payload)
            if msg.get("op") == "advertise":
                channels.update({c["topic"]: c for c in msg["channels"]})
            assert set(channels) <= set(EXPECTED), set(channels) - set(EXPECTED)
        for topic, spec in EXPECTED.items():
            c = channels[topic]
            assert (c["encoding"], c["schemaName"], c["schemaEncoding"]) == (
                "json", spec.schema_name, "jsonschema")
        by_sub = {i: c for i, c in enumerate(channels.values(), start=1)}
        client.send_json({"op": "subscribe", "subscriptions": [
            {"id": i, "channelId": c["id"]} for i, c in by_sub.items()]})
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 20
        while set(seen) != STREAMED and time.monotonic() < deadline:
            opcode, payload = client.recv()
            if opcode != 2 or payload[0] != 1:  # binary message data only
                continue
            sub_id, log_time = struct.unpack_from("<IQ", payload, 1)
            channel = by_sub[sub_id]
            data = json.loads(payload[13:])
            assert schemas.check(data, json.loads(channel["schema"])) == [], channel["topic"]
            if "timestamp" in data:  # the WebSocket log time is the bus stamp
                ts = data["timestamp"]
                assert ts["sec"] * 1_000_000_000 + ts["nsec"] == log_time
            seen[channel["topic"]] = seen.get(channel["topic"], 0) + 1
        assert set(seen) == STREAMED, STREAMED - set(seen)
        client.close()
        client = None
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        served = int(wait_line(proc, lines, r"live view: (\d+) messages served").group(1))
        assert served >= sum(seen.values())
        wait_line(proc, lines, r"recorded \d+ bus messages")
    finally:
        if client is not None:
            client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_busy_port_fails_before_the_run_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = cli("sim", "--lockstep", "--duration", "1", "--live", "--live-port", str(port),
                  env=dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path)))
    assert res.returncode == 2
    assert f"cannot serve the live view on 127.0.0.1:{port}" in res.stderr
    assert "in use" in res.stderr and "Traceback" not in res.stderr


def test_without_foxglove_sdk_live_says_what_to_install():
    code = ("import sys\n"
            "sys.modules['foxglove'] = None  # as if the package were not installed\n"
            "from robo_orch.record.live import LiveView\n"
            "from robo_orch.errors import UsageError\n"
            "try:\n"
            "    LiveView(port=0).start()\n"
            "except UsageError as err:\n"
            "    print(err)\n"
            "    sys.exit(err.exit_status)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2 and "pip install 'robo-orch[live]'" in res.stdout
    assert "foxglove-sdk" in res.stdout


def test_the_server_stops_on_close():
    live = LiveView(port=0)
    live.start()
    port = live.port
    client = WsClient("127.0.0.1", port)
    opcode, payload = client.recv()
    assert json.loads(payload)["op"] == "serverInfo"
    client.close()
    assert live.close().served == 0
    # the server's own thread releases the port shortly after stop(): wait for it
    refused = False
    deadline = time.monotonic() + 10
    while not refused and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            time.sleep(0.1)
        except OSError:
            refused = True
    assert refused, "the live view still accepts connections after close()"
    with pytest.raises(UsageError):
        LiveView(host="no.such.host.invalid", port=0).start()


@pytest.mark.slow
def test_a_live_parameter_change_reaches_the_live_view(tmp_path):
    proc, lines = start_sim(tmp_path, "--live", "--live-port", "0")
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    client = None
    try:
        port = int(wait_line(proc, lines, r"live view on ws://127\.0\.0\.1:(\d+)").group(1))
        client = WsClient("127.0.0.1", port)
        channels: dict[str, dict] = {}
        while "/loop/params" not in channels:
            opcode, payload = client.recv()
            msg = json.loads(payload)
            if msg.get("op") == "advertise":
                channels.update({c["topic"]: c for c in msg["channels"]})
        params = channels["/loop/params"]
        client.send_json({"op": "subscribe",
                          "subscriptions": [{"id": 1, "channelId": params["id"]}]})
        deadline = time.monotonic() + 90
        while True:  # until the loop ticks
            res = cli("status", "--timeout", "1", env=env)
            if res.returncode == 0 and json.loads(res.stdout)["tick"] > 0:
                break
            assert time.monotonic() < deadline, res.stderr
            time.sleep(0.3)
        done = cli("param", "set", "behaviors.go_to_goal.k_heading", "2.5", "--json", env=env)
        assert done.returncode == 0, done.stderr
        tick = json.loads(done.stdout)["tick"]
        while True:
            opcode, payload = client.recv()
            if opcode == 2 and payload[0] == 1:
                break
        data = json.loads(payload[13:])
        assert schemas.check(data, json.loads(params["schema"])) == []
        assert data["tick"] == tick and data["source"] == "param set"
        assert data["changes"] == [{"key": "behaviors.go_to_goal.k_heading", "value": "2.5"}]
    finally:
        if client is not None:
            client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
