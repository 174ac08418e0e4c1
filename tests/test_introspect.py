"""``robo-orch topics`` / ``echo`` / ``hz`` against real processes on real sockets.

The per-user discovery index lives under ``$XDG_RUNTIME_DIR``; every test points
that at its own temporary directory, so simulations other people run on the same
machine are not seen.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, start_cli

from robo_orch.bus import discovery as ep
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.cli.topics import echo
from robo_orch.clock import WallClock
from robo_orch.introspect.probe import Probe, StampStats, find_topics, poll, type_from_layout
from robo_orch.messages import Header, MessageType, new_fixed

ROOT = Path(__file__).resolve().parents[1]
IMU_RATE_HZ = 20.0  # below the 50 Hz physics rate: an overrun of the simulator does not
#                     lose an IMU sample, so the publisher's true rate is the configured one


pytestmark = pytest.mark.watchdog(120)


def header(seq: int, stamp_ns: int, publisher: int = 2, incarnation: int = 0) -> Header:
    return Header(1, 0, 2, 0, publisher, incarnation, seq, stamp_ns, 0, "")


# --- rates from stamps ------------------------------------------------------------------


def test_rate_counts_the_publishers_messages_over_their_stamps():
    stats = StampStats(window=1000)
    rng = np.random.default_rng(3)
    period = 20_000_000
    stamps, seqs, t = [], [], 5_000_000_000
    for seq in range(1, 201):
        if seq in (50, 51, 120):  # lost on the way: never seen by the subscriber
            t += period
            continue
        t += period + int(rng.integers(-2_000_000, 2_000_000))
        stamps.append(t)
        seqs.append(seq)
    for seq, stamp in zip(seqs, stamps, strict=True):
        stats.add(header(seq, stamp))
    s = stats.summary()
    # the publisher's 50 Hz: the lost messages count (by their sequence numbers), so it
    # is not the 49.2 Hz of the messages that arrived (the jitter sums to under 0.5 %)
    assert s["rate_hz"] == pytest.approx(50.0, rel=0.007)
    assert s["seq_gaps"] == 3 and s["received"] == len(seqs)
    assert s["window"] == len(seqs) - 1
    # intervals between consecutive messages only: 20 ms +- 2 ms, never the 40 and 60 ms
    # across a lost message; uniform jitter of 4 ms width has a std of 4 / sqrt(12) ms
    assert 0.018 <= s["min_s"] < s["max_s"] <= 0.022
    assert s["std_s"] == pytest.approx(0.004 / math.sqrt(12), rel=0.15)


def test_window_restart_and_out_of_order():
    stats = StampStats(window=3)
    for i in range(1, 11):  # 10 Hz, then the window keeps the last 3 intervals at 20 Hz
        stats.add(header(i, i * (100_000_000 if i <= 7 else 50_000_000)))
    assert stats.samples == 3
    stats.add(header(5, 10**12))  # a duplicate: counted, not an interval
    assert stats.out_of_order == 1
    stats.add(header(1, 2 * 10**12, incarnation=1))  # restarted publisher: a new series
    assert stats.restarts == 1 and stats.samples == 0 and math.isnan(stats.rate_hz)
    stats.add(header(2, 2 * 10**12 + 10**8, incarnation=1))
    assert stats.rate_hz == pytest.approx(10.0)


# --- discovery files ---------------------------------------------------------------------

CUSTOM = MessageType("introspect_test", 901, [("a", "<f8"), ("b", "<i4", (2,)), ("c", "<u4")],
                     [("x", "<f4")])  # deliberately not registered


def test_the_bus_records_its_topics_and_the_probe_decodes_them(tmp_path, runtime):
    run_dir = tmp_path / "run"
    bus = ZmqBus(WallClock(), publisher_id=7, incarnation=3, run_dir=run_dir)
    pub = bus.publisher("test/custom", CUSTOM, frame_id="here")
    [proc] = ep.read_run_dir(str(run_dir))
    assert (proc.pid, proc.publisher_id, proc.incarnation) == (os.getpid(), 7, 3)
    assert ep.active_run_dirs() == [str(run_dir)]
    [info] = find_topics([str(run_dir)])
    assert info.topic == "test/custom" and info.endpoint.startswith("ipc://")
    assert info.mtype is not CUSTOM and info.mtype.layout_hash == CUSTOM.layout_hash
    assert type_from_layout({**ep.layout_of(CUSTOM), "layout_hash": 1}) is None

    import zmq

    context = zmq.Context()
    probe = Probe(info, context)
    msg = new_fixed(CUSTOM)
    msg["a"], msg["b"], msg["c"] = 1.5, [3, -4], 9
    var = np.array([(0.25,), (0.5,)], dtype=CUSTOM.var_dtype)
    try:
        got = None
        for _ in range(100):  # the subscription connects asynchronously
            pub.publish(msg, var)
            if poll([probe], 0.05):
                got = probe.read()
                break
        assert got is not None
        assert got.header.publisher_id == 7 and got.header.frame_id == "here"
        assert float(got.fixed["a"]) == 1.5 and got.var["x"].tolist() == [0.25, 0.5]

        # `topics echo` on the same topic, while a thread keeps publishing
        stop = threading.Event()

        def keep_publishing() -> None:
            while not stop.wait(0.01):
                pub.publish(msg, var)

        thread = threading.Thread(target=keep_publishing)
        thread.start()
        out = io.StringIO()
        try:
            assert echo(info, out, count=3, timeout_s=10) == 0
        finally:
            stop.set()
            thread.join()
        lines = [json.loads(x) for x in out.getvalue().splitlines()]
        assert len(lines) == 3 and [x["header"]["seq"] for x in lines] == sorted(
            x["header"]["seq"] for x in lines)
        first = lines[0]
        assert first["type"] == "introspect_test" and first["topic"] == "test/custom"
        assert first["header"]["publisher_id"] == 7 and first["header"]["incarnation"] == 3
        assert first["data"] == {"a": 1.5, "b": [3, -4], "c": 9, "points": {"x": [0.25, 0.5]}}
    finally:
        probe.close()
        context.term()
        bus.close()
    assert not (run_dir / ep.ENDPOINTS_DIR).exists()
    assert ep.read_run_dir(str(run_dir)) == [] and ep.active_run_dirs() == []


def test_files_of_a_dead_process_are_ignored_and_removed(tmp_path, runtime):
    run_dir = tmp_path / "run"
    child = dying_publisher_code(run_dir)
    subprocess.run([sys.executable, "-c", child], check=True, timeout=30)
    left = list((run_dir / ep.ENDPOINTS_DIR).iterdir())
    assert len(left) == 1  # it died without closing its bus
    assert ep.read_run_dir(str(run_dir)) == [] and ep.active_run_dirs() == []
    assert list((run_dir / ep.ENDPOINTS_DIR).iterdir()) == []
    assert list((runtime / f"robo_orch-{os.getuid()}" / ep.ACTIVE_DIR).iterdir()) == []


def dying_publisher_code(run_dir: Path) -> str:
    return ("import os\n"
            "from robo_orch.bus.zmq_bus import ZmqBus\n"
            "from robo_orch.clock import WallClock\n"
            f"bus = ZmqBus(WallClock(), publisher_id=5, run_dir={str(run_dir)!r})\n"
            "bus.publisher('sensor/imu', 'imu')\n"
            "os._exit(0)\n")


def test_process_names():
    assert ep.process_name(["/venv/bin/robo-orch", "--quiet", "sim", "x.toml"]) == "robo-orch sim"
    assert ep.process_name([str(ROOT / "sim" / "realtime.py"), "--run-dir", "d"]) \
        == "sim.realtime"
    assert ep.process_name([str(ROOT / "robo_orch" / "hosting" / "driver_host.py"), "--name",
                            "imu"]) == "hosting.driver_host imu"
    assert ep.process_name([str(ROOT / "robo_orch" / "cli" / "__main__.py"), "-q", "run"]) \
        == "robo-orch run"


# --- against a running simulation in another process ------------------------------------


@pytest.fixture
def simulation(runtime, tmp_path):
    """A realtime `robo-orch sim` in another process, with the IMU at IMU_RATE_HZ."""
    log = open(tmp_path / "sim.log", "w")  # noqa: SIM115
    proc = start_cli("sim", "--duration", "60", "--set", f"sim.imu_rate_hz={IMU_RATE_HZ}",
                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def wait_for_topics(proc, wanted: set[str], timeout_s: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    rows: list[dict] = []
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the simulation ended early"
        res = cli("topics", "--json", "--sample", "0.3")
        if res.returncode == 0:
            rows = json.loads(res.stdout)
            if wanted <= {r["topic"] for r in rows}:
                return rows
        time.sleep(0.3)
    raise AssertionError(f"topics never showed {wanted}: {rows}")


@pytest.mark.slow
def test_topics_echo_and_hz_against_a_running_simulation(simulation):
    rows = wait_for_topics(simulation, {"sensor/imu", "sensor/odom", "cmd/velocity"})
    by_topic = {r["topic"]: r for r in rows}
    assert len({r["run_dir"] for r in rows}) == 1  # found without typing a directory
    imu = by_topic["sensor/imu"]
    assert imu["type"] == "imu" and imu["publisher"]["name"] == "sim.realtime"
    assert imu["publisher"]["id"] == 2 and imu["malformed"] == 0
    assert by_topic["cmd/velocity"]["publisher"]["name"] == "robo-orch sim"
    # the loop's own input checks, asked of its control endpoint: inputs only
    assert sum(imu["loop_rejected"].values()) == 0
    assert by_topic["cmd/velocity"]["loop_rejected"] is None

    table = cli("topics", "--sample", "0.5")
    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if x.split()[:1] == ["sensor/odom"])
    assert "wheel_odometry" in line and "sim.realtime" in line

    echo = cli("topics", "echo", "sensor/odom", "--count", "5", "--timeout", "10")
    assert echo.returncode == 0, echo.stderr
    msgs = [json.loads(x) for x in echo.stdout.splitlines()]
    assert len(msgs) == 5
    seqs = [m["header"]["seq"] for m in msgs]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert all(m["type"] == "wheel_odometry" and m["header"]["publisher_id"] == 2
               and set(m["data"]) == {"v_left", "v_right"} for m in msgs)

    hz = cli("topics", "hz", "sensor/imu", "--duration", "1.5", "--json")
    assert hz.returncode == 0, hz.stderr
    last = json.loads(hz.stdout.splitlines()[-1])
    assert last["window"] >= 20
    assert last["rate_hz"] == pytest.approx(IMU_RATE_HZ, rel=0.05)
    assert last["min_s"] <= 1 / IMU_RATE_HZ <= last["max_s"]

    missing = cli("topics", "hz", "sensor/imux", "--duration", "1")
    assert missing.returncode == 2 and "did you mean 'sensor/imu'" in missing.stderr

    simulation.send_signal(signal.SIGINT)
    simulation.wait(timeout=20)
    gone = cli("topics", "--sample", "0.1")
    assert gone.returncode == 2 and "no running robo_orch" in gone.stderr
