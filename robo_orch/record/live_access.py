"""Who can reach the live view: loopback by default, TLS or an explicit flag beyond it.

foxglove-sdk's WebSocket server has no handshake hook (no token, no Origin
check), so access is decided by where it listens: :func:`check_exposure` refuses
a non-loopback address unless the server uses TLS (a PEM certificate and key,
foxglove-sdk's ``tls_cert``/``tls_key``; clients then connect with ``wss://``) or
``--live-insecure`` says so on purpose (:func:`exposure_warning` prints a line at
every start).  Access control belongs in front of it: SSH port forwarding, or a
reverse proxy with authentication (README).
"""

from __future__ import annotations

import argparse
import ipaddress

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8765


def add_live_args(parser: argparse.ArgumentParser) -> None:
    """``--live`` and its address, port and TLS options, for ``sim`` and ``run``."""
    parser.add_argument("--live", action="store_true",
                        help="serve a Foxglove WebSocket live view (the recording's channels)")
    parser.add_argument("--live-address", default=DEFAULT_ADDRESS, metavar="HOST",
                        help=f"address to serve on (default {DEFAULT_ADDRESS}, this machine "
                        "only); another address needs --live-tls-cert/--live-tls-key or "
                        "--live-insecure (better: SSH port forwarding, see the README)")
    parser.add_argument("--live-port", type=int, default=DEFAULT_PORT, metavar="N",
                        help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--live-tls-cert", metavar="FILE",
                        help="PEM certificate: serve wss:// (with --live-tls-key)")
    parser.add_argument("--live-tls-key", metavar="FILE",
                        help="PEM private key of --live-tls-cert (mode 0600)")
    parser.add_argument("--live-insecure", action="store_true",
                        help="allow a non-loopback --live-address without TLS: anyone who "
                        "can reach it can watch (warns at every start)")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name, or an interface: it may face the network


def exposure_warning(host: str, tls: bool) -> str | None:
    """The line to print when the live view faces the network without TLS."""
    if tls or is_loopback(host):
        return None
    return (f"robo-orch: warning: the live view on {host} (--live-insecure) has no TLS and no "
            "authentication: anyone who can reach it can watch the robot")


def check_exposure(host: str, tls_cert: str | None, tls_key: str | None,
                   insecure: bool) -> tuple[bytes, bytes] | None:
    """The TLS certificate and key to serve with (PEM bytes), or None.

    A non-loopback ``host`` without TLS is refused unless ``insecure``
    (:class:`~robo_orch.errors.UsageError`, exit 2); the key file must be 0600.
    """
    from robo_orch.errors import UsageError

    tls = _read_tls(tls_cert, tls_key)
    if tls is None and not insecure and not is_loopback(host):
        raise UsageError(f"--live-address {host} faces the network and the live view has no "
                         "authentication: serve it with TLS (--live-tls-cert FILE "
                         "--live-tls-key FILE), or pass --live-insecure on a network you "
                         "trust; better, keep it on 127.0.0.1 and watch through SSH port "
                         "forwarding (README)")
    return tls


def _read_tls(cert: str | None, key: str | None) -> tuple[bytes, bytes] | None:
    from robo_orch.errors import UsageError

    if not cert and not key:
        return None
    if not (cert and key):
        raise UsageError("TLS needs both --live-tls-cert and --live-tls-key")
    from robo_orch.bus.keys import check_secret_file

    check_secret_file(key)
    try:
        with open(cert, "rb") as cert_file, open(key, "rb") as key_file:
            return cert_file.read(), key_file.read()
    except OSError as err:
        raise UsageError(f"cannot read {err.filename}: {err.strerror}") from None
