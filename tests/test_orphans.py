"""No orphans: every child of robo-orch dies with it, even when it is SIGKILLed.

The command runs under a kill probe (a child subreaper, :mod:`robo_orch.bench.orphans`)
that SIGKILLs it and reaps its orphans, so each child's exit status is seen: a
driver that exits 0 went through its normal stop path (SIGTERM; the motor driver
commands zero on it).  Time-outs are generous bounds, not timing claims; the time
from SIGKILL to no child left is measured by ``python -m robo_orch.bench.orphans``.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import pytest
from helpers import CLI, ROBOT, Physics, Rig

from robo_orch.bench.orphans import KillProbe
from robo_orch.bus import discovery as ep
from robo_orch.hosting.supervisor import Supervisor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="child subreapers and /proc are Linux")

DRIVERS = ["robo_orch.hosting.driver_host gps", "robo_orch.hosting.driver_host imu",
           "robo_orch.hosting.driver_host lidar", "robo_orch.hosting.driver_host motors"]


def _statuses(report) -> dict[str, int | None]:
    return {c["name"]: c.get("status") for c in report["children"]}


@pytest.mark.slow
def test_a_sigkilled_simulation_leaves_no_child_and_each_stops_on_its_own_path(tmp_path,
                                                                                  runtime):
    from robo_orch.record.reader import open_recording

    run_dir, rec = tmp_path / "run", tmp_path / "run.mcap"
    run_dir.mkdir()
    cmd = [*CLI, "sim", ROBOT, "--devices", "serial",
           "--duration", "300", "--record", str(rec), "--set", f'bus.run_dir="{run_dir}"']
    with KillProbe(cmd, tmp_path / "sim.log") as probe:
        assert probe.wait_for("waypoint", 120), probe.log()  # the loop runs
        time.sleep(1.0)
        report = probe.kill()
    assert report["remaining"] == [], report
    status = _statuses(report)
    assert sorted(status) == sorted([*DRIVERS, "robo_orch.record.process",
                                     "robo_orch.sim.realtime"])
    # 0: each went through its own stop path (drivers: SIGTERM, "stopped on request")
    assert status == dict.fromkeys(status, 0), report
    # the recorder finished the file of the killed run
    recording = open_recording(rec)
    assert sum(1 for _ in recording.raw()) > 100
    assert all(r.intact for r in recording.reports), recording.reports  # read to its footer
    assert int(recording.stats["raw_messages"]) > 100  # the writer's closing record
    # the killed loop's discovery entries: ignored, then removed by the reader
    assert ep.read_run_dir(str(run_dir)) == [] and ep.active_run_dirs() == []
    assert not list((run_dir / ep.ENDPOINTS_DIR).glob("*"))
    assert not list((runtime / f"robo_orch-{_uid()}" / ep.ACTIVE_DIR).glob("*"))


def _uid() -> int:
    import os

    return os.getuid()


@pytest.mark.slow
def test_a_sigkilled_run_leaves_no_driver_and_the_next_run_starts(tmp_path, runtime):
    rig = Rig(str(tmp_path), commands=False)  # the loop publishes the commands
    motor = next(d.emulator for d in rig.devices.devices if d.kind == "motor_bridge")
    second = None
    try:
        with Physics(rig) as physics:
            with KillProbe(rig.run_command(), tmp_path / "run.log") as probe:
                physics.wait_driving(probe.running)
                report = probe.kill()
            assert report["remaining"] == [], report  # no driver holds a port any more
            status = _statuses(report)
            assert sorted(status) == DRIVERS
            assert status == dict.fromkeys(DRIVERS, 0), report  # stopped through SIGTERM
            assert motor.cmd_mm_s == (0, 0)  # the motor driver's last word: zero
            # a new run on the same ports, right away: starts and drives
            physics.peak_v = 0.0
            second = subprocess.Popen(rig.run_command(), stderr=subprocess.PIPE, text=True)
            physics.wait_driving(lambda: second.poll() is None)
            second.send_signal(signal.SIGINT)
            _, err = second.communicate(timeout=60)
            assert second.returncode == 130, err  # interrupted (Ctrl-C)
            assert "lock" not in err
    finally:
        if second is not None and second.poll() is None:
            second.kill()
        rig.close()


def test_a_sigkilled_scenario_suite_leaves_no_worker(tmp_path):
    # --jobs 3: this process and two worker processes; enough seeds that the suite is
    # still running when both workers are up
    cmd = [*CLI, "-q", "scenarios", "maze", "cluttered",
           "corridor", "--seeds", "200", "--jobs", "3"]
    with KillProbe(cmd, tmp_path / "scenarios.log") as probe:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers = [n for n in probe.children().values() if n == "multiprocessing worker"]
            if len(workers) == 2:
                break
            assert probe.running(), probe.log()
            time.sleep(0.05)
        assert len(workers) == 2, probe.children()
        time.sleep(1.0)  # the workers are running missions
        report = probe.kill()
    assert report["remaining"] == [], report
    names = [c["name"] for c in report["children"]]
    assert names.count("multiprocessing worker") == 2, report


#: a supervised process: reports ready, notes its name when SIGTERM stops it
SUPERVISED = r"""
import json, os, sys, time
from robo_orch import lifeline
name, out = sys.argv[1], sys.argv[2]
stopping = []
lifeline.on_terminate(lambda: stopping.append(1))
lifeline.attach()
fd = int(os.environ["ROBO_ORCH_READY_FD"])
os.write(fd, json.dumps({"name": name}).encode() + b"\n")
os.close(fd)
while not stopping:
    time.sleep(0.01)
with open(out, "a") as f:
    f.write(name + "\n")
"""


def test_a_process_the_watcher_restarted_lives_until_shutdown_stops_it_in_order(tmp_path):
    out = tmp_path / "stopped.txt"
    sup = Supervisor(log=io.StringIO(), poll_s=0.05)
    for name, actuator in (("motors", True), ("imu", False)):
        sup.add(name, [sys.executable, "-c", SUPERVISED, name, str(out)], actuator=actuator)
    sup.start()
    try:
        child = sup.children["imu"]
        first = child.proc.pid
        child.proc.kill()
        deadline = time.monotonic() + 30
        while not (child.ready and child.proc.pid != first) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.restarts == 1 and child.ready, sup.log.getvalue()
        restarted = child.proc  # started by the watcher thread
        sup.stop_watching()  # ... which now ends, as it does first thing in a shutdown
        time.sleep(1.0)
        assert restarted.poll() is None, "the watcher thread's end stopped its child"
        assert not out.exists()
    finally:
        sup.shutdown()
    assert restarted.returncode == 0
    assert out.read_text().split() == ["motors", "imu"]  # the actuator first, then the rest
    assert json.loads(json.dumps(child.info)) == {"name": "imu"}
