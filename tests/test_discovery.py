"""Discovery entries are keyed by pid and process start time; stale ones never match.

A process killed with SIGKILL leaves its files behind; its pid may be reused by
another process.  Readers ignore such entries and remove them, judging by the
name alone when the content cannot be read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from robo_orch.bus import discovery as ep
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import WallClock

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"),
                                reason="process start times come from /proc")


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A private XDG_RUNTIME_DIR (the discovery index) for this test."""
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    return xdg / f"robo_orch-{os.getuid()}" / ep.ACTIVE_DIR


def test_file_names_and_index_entries_carry_the_pid_and_its_start_time(tmp_path, runtime):
    bus = ZmqBus(WallClock(), publisher_id=3, run_dir=str(tmp_path))
    try:
        bus.publisher("sensor/imu", "imu")
        key = f"{os.getpid()}-{ep.proc_start_time(os.getpid())}-"
        (entry,) = (tmp_path / ep.ENDPOINTS_DIR).iterdir()
        (index,) = runtime.iterdir()
        assert entry.name.startswith(key) and index.name.startswith(key)
        assert [p.pid for p in ep.read_run_dir(str(tmp_path))] == [os.getpid()]
    finally:
        bus.close()


def _entries(tmp_path, runtime, key: str, content: str) -> list:
    folder = tmp_path / ep.ENDPOINTS_DIR
    folder.mkdir(exist_ok=True)
    runtime.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{key}-0.json", folder / f"{key}-0.json.tmp", runtime / f"{key}-0.json",
             runtime / f"{key}-0.json.tmp"]
    for path in paths:
        path.write_text(content)
    return paths


def test_entries_of_a_reused_pid_are_ignored_and_removed_even_when_unreadable(tmp_path,
                                                                                runtime):
    # this very pid, but another start time: the process that wrote them is gone, and
    # they were cut short when it was killed (a .tmp beside each, never renamed)
    start = ep.proc_start_time(os.getpid())
    paths = _entries(tmp_path, runtime, f"{os.getpid()}-{start - 1}", '{"version": 1, "pi')
    assert ep.read_run_dir(str(tmp_path)) == [] and ep.active_run_dirs() == []
    assert [p for p in paths if p.exists()] == []


def test_entries_of_a_live_process_being_written_are_left_alone(tmp_path, runtime):
    key = f"{os.getpid()}-{ep.proc_start_time(os.getpid())}"
    paths = _entries(tmp_path, runtime, key, '{"version": 1, "pi')
    ep.read_run_dir(str(tmp_path))
    ep.active_run_dirs()
    assert all(p.exists() for p in paths)  # a half-written file of a live writer stays


def test_a_dead_process_not_yet_reaped_is_not_alive(tmp_path, runtime):
    code = ("import os\n"
            "from robo_orch.bus.zmq_bus import ZmqBus\n"
            "from robo_orch.clock import WallClock\n"
            f"bus = ZmqBus(WallClock(), publisher_id=5, run_dir={str(tmp_path)!r})\n"
            "bus.publisher('sensor/imu', 'imu')\n"
            "os._exit(0)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while not _zombie(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _zombie(proc.pid)  # exited, not yet waited for: its pid still exists
        assert not ep.pid_alive(proc.pid)
        assert ep.read_run_dir(str(tmp_path)) == [] and ep.active_run_dirs() == []
        assert not list((tmp_path / ep.ENDPOINTS_DIR).iterdir())
    finally:
        proc.wait()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] == b"Z"
