"""The live view is safe by default: loopback only, unless TLS or an explicit flag says otherwise.

Real servers (foxglove-sdk) on real ports; the certificate is made by the
``openssl`` command for each test run.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess

import pytest
from helpers import cli

from robo_orch.bus.keys import KeyFileError
from robo_orch.errors import UsageError
from robo_orch.record.live import LiveView, is_loopback

pytestmark = pytest.mark.watchdog(120)


def upgrade(sock: socket.socket) -> bytes:
    """Send a Foxglove WebSocket upgrade request; the status line of the answer."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: robot\r\nUpgrade: websocket\r\nConnection: Upgrade"
                  f"\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: foxglove.sdk.v1, foxglove.websocket.v1\r\n\r\n"
                  ).encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return head.split(b"\r\n")[0]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate and its key (0600)."""
    if shutil.which("openssl") is None:
        pytest.fail("these tests make their certificate with the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "live.crt", folder / "live.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=robot"], check=True,
                   capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return str(cert), str(key)


def test_loopback_addresses():
    for host in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.2", "robot.local", "eth0", ""):
        assert not is_loopback(host), host


def test_a_network_address_without_tls_or_the_flag_is_refused():
    live = LiveView(host="0.0.0.0", port=0)
    with pytest.raises(UsageError) as info:
        live.start()
    assert "--live-tls-cert" in str(info.value) and "--live-insecure" in str(info.value)
    assert live.server is None  # nothing was bound


def test_the_refusal_on_the_command_line_is_one_line():
    res = cli("-q", "sim", "--lockstep", "--duration", "0.1", "--live", "--live-address",
              "0.0.0.0", "--live-port", "0")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "faces the network" in lines[0] and "Traceback" not in res.stderr


def test_live_insecure_serves_the_network_and_warns():
    live = LiveView(host="0.0.0.0", port=0, insecure=True)
    live.start()
    try:
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            assert upgrade(sock).split()[1] == b"101"
    finally:
        live.close()
    res = cli("-q", "sim", "--lockstep", "--duration", "0.1", "--live", "--live-address",
              "0.0.0.0", "--live-port", "0", "--live-insecure")
    assert res.returncode in (0, 1), res.stderr  # the verdict of a 0.1 s mission
    assert "warning: the live view on 0.0.0.0 (--live-insecure) has no TLS" in res.stderr


def test_tls_serves_wss_and_refuses_plain_websocket(tls):
    cert, key = tls
    live = LiveView(host="0.0.0.0", port=0, tls_cert=cert, tls_key=key)
    live.start()
    try:
        assert live.url.startswith("wss://0.0.0.0:")
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            assert b"101" not in upgrade(sock)  # a plain ws:// client gets no upgrade
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False  # the certificate names "robot"
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="robot") as sock:
            assert upgrade(sock).split()[1] == b"101"
    finally:
        live.close()


def test_tls_needs_both_files_and_a_private_key(tls, tmp_path):
    cert, key = tls
    with pytest.raises(UsageError, match="both"):
        LiveView(host="0.0.0.0", port=0, tls_cert=cert).start()
    shared = tmp_path / "shared.key"
    shutil.copy(key, shared)
    os.chmod(shared, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        LiveView(host="0.0.0.0", port=0, tls_cert=cert, tls_key=str(shared)).start()
