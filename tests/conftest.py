"""Fixtures shared by the test modules (helpers that are not fixtures: tests/helpers.py)."""

from __future__ import annotations

import faulthandler

import pytest

from robo_orch.bus import MemoryBus, MemoryHub
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import SimClock


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "watchdog(seconds): fail hard (dump every thread's stack and exit) when a "
        "test of the module runs longer, instead of hanging CI on a stuck socket or port")


@pytest.fixture(autouse=True)
def watchdog(request):
    """Arm the ``watchdog(seconds)`` marker of the test's module, if it has one."""
    marker = request.node.get_closest_marker("watchdog")
    if marker is None:
        yield
        return
    faulthandler.dump_traceback_later(marker.args[0], exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A private XDG_RUNTIME_DIR (the discovery index) for this test and its processes."""
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    return xdg


@pytest.fixture(params=["memory", "zmq"])
def make_bus(request, tmp_path):
    """Factory of buses on one shared network (a hub, or an ipc run dir), one per backend."""
    hub = MemoryHub()
    buses = []

    def make(publisher_id, *, incarnation=0, hwm=100, clock=None):
        clock = clock if clock is not None else SimClock(1_000)
        if request.param == "memory":
            bus = MemoryBus(clock, publisher_id=publisher_id, incarnation=incarnation, hwm=hwm,
                            hub=hub)
        else:
            bus = ZmqBus(clock, publisher_id=publisher_id, incarnation=incarnation, hwm=hwm,
                         run_dir=tmp_path)
        buses.append(bus)
        return bus

    make.backend = request.param
    yield make
    for bus in buses:
        bus.close()


@pytest.fixture
def short_tmp():
    """A temporary directory with a short path under /tmp (unix socket paths are short)."""
    import shutil
    import tempfile
    from pathlib import Path

    path = tempfile.mkdtemp(prefix="ro-", dir="/tmp")
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def env(short_tmp, monkeypatch):
    """A private XDG_RUNTIME_DIR for this test and its child processes; the environment."""
    import os

    xdg = short_tmp / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    return dict(os.environ)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> str:
    """The plugin example (examples/battery_plugin) ``pip install``-ed into a directory of
    its own, once per session; that directory (put it on ``PYTHONPATH`` / ``sys.path``)."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "battery_plugin"
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(example)],
                   check=True, capture_output=True, timeout=300)
    return str(target)


@pytest.fixture
def installed(plugin_site) -> dict[str, str]:
    """The environment of a process that sees the installed plugin example."""
    import os

    path = os.pathsep.join(filter(None, (plugin_site, os.environ.get("PYTHONPATH"))))
    return {**os.environ, "PYTHONPATH": path}
