"""The systemd service: the notify protocol on a real unix datagram socket, and the unit."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest
from helpers import cli

from robo_orch import rundir
from robo_orch.config import embedded_config_path
from robo_orch.runtime.heartbeat import Heartbeat
from robo_orch.runtime.stats import TickStats
from robo_orch.sdnotify import Notifier, watchdog_interval_s

pytestmark = pytest.mark.watchdog(120)

DEMO = str(embedded_config_path("demo"))
#: no input is required, so `run` needs no driver and starts ticking at once
NO_INPUTS = ("inputs.odom.required=false", "inputs.imu.required=false",
             "inputs.scan.required=false", "safety.allow_blind=true")


@pytest.fixture
def notify_socket(tmp_path):
    """A bound AF_UNIX SOCK_DGRAM socket, as systemd's notify socket; yields (socket, path)."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.1)
    yield sock, path
    sock.close()


def _drain(sock, until, timeout_s: float = 60.0) -> list[str]:
    """Datagrams received until ``until(datagrams)`` or the timeout."""
    got: list[str] = []
    end = time.monotonic() + timeout_s
    while not until(got) and time.monotonic() < end:
        with contextlib.suppress(TimeoutError):
            got.append(sock.recv(4096).decode())
    return got


@pytest.mark.slow
def test_robo_orch_run_notifies_ready_watchdog_and_stopping(notify_socket, tmp_path, runtime):
    sock, path = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}  # a ping per 0.1 s
    sets = [w for o in (*NO_INPUTS, f'bus.run_dir="{tmp_path / "run"}"') for w in ("--set", o)]
    proc = subprocess.Popen([*_cli(), "-q", "run", DEMO, "--duration", "1.5", *sets], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        got = _drain(sock, lambda g: any(d.startswith("STOPPING=1") for d in g)
                     or proc.poll() is not None)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    got += _drain(sock, lambda g: False, timeout_s=0.3)
    kinds = [d.splitlines()[0] for d in got]
    assert kinds[0] == "READY=1", kinds
    assert kinds[-1] == "STOPPING=1", kinds
    pings = kinds.count("WATCHDOG=1")
    assert pings >= 5, kinds  # 1.5 s of ticks, a ping every 0.1 s
    assert set(kinds) == {"READY=1", "WATCHDOG=1", "STOPPING=1"}


def test_without_notify_socket_nothing_is_sent_and_no_thread_runs(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    beat = Heartbeat(TickStats(), 0.02).start()
    assert beat._thread is None and not beat.notifier.active
    beat.stop()
    assert beat.notifier.sent == 0


def test_abstract_namespace_address(monkeypatch):
    name = f"robo_orch-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = Notifier()
        assert notifier.ready("hello")
        assert sock.recv(4096).decode() == "READY=1\nSTATUS=hello"
        notifier.close()
    finally:
        sock.close()


def test_a_send_to_a_vanished_manager_does_not_raise(tmp_path):
    notifier = Notifier(str(tmp_path / "nobody"))
    assert not notifier.watchdog() and notifier.failed == 1
    assert not Notifier("relative/path").active  # neither a path nor @name: ignored


def test_watchdog_interval_only_for_this_process():
    pid = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000"}) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": pid}) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "x"}) is None
    assert watchdog_interval_s({}) is None


def test_a_stall_withholds_pings_only_while_it_lasts(notify_socket):
    """Ticks stop for 0.6 s (a VM stall): no ping then; pings resume with the ticks."""
    sock, path = notify_socket
    stats = TickStats()
    beat = Heartbeat(stats, 0.02, notifier=Notifier(path), watchdog_s=0.2, min_stall_s=0.2,
                     check_s=0.01)
    stamps: list[tuple[float, str]] = []

    def ticking(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            stats.ticks += 1
            time.sleep(0.02)
            _collect(sock, stamps)

    with beat:
        ticking(0.5)
        stall_start = time.monotonic()
        while time.monotonic() < stall_start + 0.6:
            _collect(sock, stamps)
        stall_end = time.monotonic()
        ticking(0.5)
    _collect(sock, stamps)
    assert stamps[0][1].startswith("READY=1") and stamps[-1][1].startswith("STOPPING=1")
    pings = [t for t, kind in stamps if kind == "WATCHDOG=1"]
    # pings before and after the stall; none from 0.25 s into it (0.2 s limit + a check)
    assert any(t < stall_start for t in pings) and any(t > stall_end for t in pings)
    assert not [t for t in pings if stall_start + 0.25 < t < stall_end]
    assert beat.withheld == 1


def _collect(sock, stamps) -> None:
    sock.settimeout(0.005)
    try:
        while True:
            stamps.append((time.monotonic(), sock.recv(4096).decode().splitlines()[0]))
    except (TimeoutError, BlockingIOError):
        pass


def _cli() -> list[str]:
    from helpers import CLI

    return list(CLI)


# --- the unit ---------------------------------------------------------------------------


def _robot(tmp_path) -> str:
    """The hardware config copied out (with the demo it extends), as a deployment would."""
    shutil.copy(embedded_config_path("demo"), tmp_path / "demo.toml")
    return str(shutil.copy(embedded_config_path("robot"), tmp_path / "robot.toml"))


def _unit(*args: str) -> str:
    proc = cli("service", "unit", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _values(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_system_unit_says_what_the_service_needs(tmp_path):
    config = _robot(tmp_path)
    v = _values(_unit(str(config), "--run-as", "robot", "--set", "loop.realtime_priority=80"))
    assert v["Type"] == ["notify"] and v["WatchdogSec"] == ["10"]
    assert v["Restart"] == ["on-failure"] and v["RestartPreventExitStatus"] == ["2"]
    assert v["SuccessExitStatus"] == ["143"] and v["KillMode"] == ["mixed"]
    assert v["ExecStartPre"][0].split()[1:3] == ["warmup", str(config)]
    assert v["ExecStart"][0].split()[1:4] == ["-q", "run", str(config)]
    assert "loop.realtime_priority=80" in v["ExecStart"][0]
    assert v["RuntimeDirectoryMode"] == ["0700"] and v["CacheDirectory"] == ["robo_orch"]
    assert "XDG_RUNTIME_DIR=%t/robo_orch" in v["Environment"]
    assert "XDG_CACHE_HOME=%C" in v["Environment"]
    assert v["LimitRTPRIO"] == ["80"] and v["LimitMEMLOCK"] == ["infinity"]
    assert v["User"] == ["robot"] and v["WantedBy"] == ["multi-user.target"]
    minutes = int(v["TimeoutStartSec"][0].removesuffix("min"))
    assert minutes >= 10  # a cold compile on a Raspberry Pi


def test_a_user_unit_cannot_raise_rt_limits_and_says_so(tmp_path):
    config = _robot(tmp_path)
    proc = cli("service", "unit", str(config), "--user")
    assert proc.returncode == 0, proc.stderr
    v = _values(proc.stdout)
    assert "User" not in v and "LimitRTPRIO" not in v and "RuntimeDirectory" not in v
    assert v["WantedBy"] == ["default.target"]
    assert "loginctl enable-linger" in proc.stderr and "real-time limits" in proc.stderr


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_systemd_analyze_verifies_the_unit(tmp_path, user):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (systemd's tools)")
    config = _robot(tmp_path)
    unit = tmp_path / "robo-orch.service"
    unit.write_text(_unit(str(config), *(["--user"] if user else ["--run-as", "robot"])))
    xdg = tmp_path / "xdg"  # a user manager's runtime directory, for --user
    xdg.mkdir(mode=0o700)
    proc = subprocess.run([analyze, *(["--user"] if user else []), "verify", str(unit)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(xdg)})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "robo-orch.service" not in proc.stderr, proc.stderr  # no complaint about it


def test_install_writes_the_unit_and_keeps_an_existing_one(tmp_path):
    config = shutil.copy(embedded_config_path("demo"), tmp_path / "demo.toml")
    units = tmp_path / "units"
    proc = cli("service", "install", str(config), "--run-as", "robot", "--unit-dir", str(units))
    assert proc.returncode == 0, proc.stderr
    unit = units / "robo-orch.service"
    assert "Type=notify" in unit.read_text() and "enable --now robo-orch" in proc.stdout
    again = cli("service", "install", str(config), "--run-as", "robot", "--unit-dir", str(units))
    assert again.returncode == 2 and "--force" in again.stderr
    assert cli("service", "install", str(config), "--run-as", "robot", "--unit-dir", str(units),
               "--force").returncode == 0


def test_a_bad_config_or_root_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[loop]\nrate_hz = -1\n")
    for args in ((str(bad),), (str(tmp_path / "missing.toml"),),
                 (str(shutil.copy(embedded_config_path("demo"), tmp_path / "d.toml")),
                  "--run-as", "root")):
        proc = cli("service", "unit", *args)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_the_runtime_directory_passes_the_run_dir_rule(tmp_path, monkeypatch):
    """RuntimeDirectory=robo_orch (0700, the service user's) as XDG_RUNTIME_DIR."""
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    runtime_dir = run / "robo_orch"
    runtime_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    base = rundir.ensure_user_base()
    assert base == str(runtime_dir / f"robo_orch-{os.getuid()}")
    assert stat.S_IMODE(os.stat(base).st_mode) == 0o700
    assert rundir.default_run_dir() == base
