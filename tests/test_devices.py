"""The whole serial stack without the loop: emulators on ptys, driver processes, the bus.

Every driver runs as a real process (``python -m robo_orch.hosting.driver_host``) under
the real supervisor, against its device emulator on a real pseudo-terminal,
fed by the real simulator.  Outcomes are asserted with generous time-outs.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROBOT, Physics, Rig, cli, start_cli

from robo_orch.bus import QoS
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import WallClock
from robo_orch.config import load_config
from robo_orch.errors import RoboOrchError
from robo_orch.hosting.supervisor import Supervisor
from robo_orch.messages import message_type, new_fixed


@pytest.fixture
def rig(tmp_path):
    r = Rig(str(tmp_path))
    r.supervisor.start()
    try:
        yield r
    finally:
        r.close()


def _take(sub):
    sub.poll()
    return sub.take()


def test_every_driver_publishes_what_its_device_measures(rig):
    rig.run(1.0)
    for sub in rig.subs.values():
        sub.take()  # start-up transients
    rig.run(2.0, v=0.3)
    x, y, yaw = rig.sim.pose
    odom = _take(rig.subs["odom"])
    imu = _take(rig.subs["imu"])
    scans = _take(rig.subs["scan"])
    gps = _take(rig.subs["gps"])
    assert len(odom) > 40 and len(imu) > 40, (len(odom), len(imu))
    assert len(scans) >= 10
    assert len(gps) >= 5
    # the wheels turn at the commanded speed, as the encoders report it
    v_meas = np.mean([0.5 * (m.fixed["v_left"] + m.fixed["v_right"]) for m in odom[-10:]])
    assert v_meas == pytest.approx(0.3, abs=0.05)
    # the scan: about the configured ray count, every range inside the lidar's limits
    pts = scans[-1].var
    assert 150 <= len(pts) <= 260
    assert np.all((pts["range"] > 0) & (pts["range"] <= 12.0))
    # the GPS fix is the antenna's position (mounted 5 cm behind the centre)
    fix = gps[-1].fixed
    ax = x - 0.05 * np.cos(yaw)
    ay = y - 0.05 * np.sin(yaw)
    assert float(fix["x"]) == pytest.approx(ax, abs=0.3)
    assert float(fix["y"]) == pytest.approx(ay, abs=0.3)
    # every driver is its own process with its own publisher id
    ids = {m[-1].header.publisher_id for m in (odom, imu, scans, gps)}
    assert len(ids) == 4


@pytest.mark.slow
def test_motor_driver_deadman_and_estop_stop_the_wheels(rig):
    rig.run(1.5, v=0.4)
    assert rig.sim.v > 0.3
    # e-stop: latched in the driver and the firmware; commands are ignored
    msg = new_fixed(message_type("estop"))
    msg["engage"] = 1
    rig.estop.publish(msg)
    rig.run(1.0, v=0.4)
    assert abs(rig.sim.v) < 0.02
    msg["engage"] = 0
    rig.estop.publish(msg)
    rig.run(1.5, v=0.4)
    assert rig.sim.v > 0.3
    # no commands at all: the driver's deadman commands zero
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        rig.devices.receive()
        rig.devices.publish(rig.sim.step(0.02))
        time.sleep(0.02)
    assert abs(rig.sim.v) < 0.02


def test_a_killed_driver_is_restarted_and_its_topic_resumes(rig):
    rig.run(1.0)
    child = rig.supervisor.children["imu"]
    first_pid = child.proc.pid
    child.proc.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (child.ready and child.proc.pid != first_pid):
        rig.run(0.2)
    assert child.restarts >= 1 and child.proc.pid != first_pid
    _take(rig.subs["imu"])
    rig.run(1.0)
    fresh = _take(rig.subs["imu"])
    assert len(fresh) > 20
    # the new process announces itself as a new incarnation of the same publisher
    assert rig.subs["imu"].counters.restarts >= 1


@pytest.mark.slow
def test_emulator_faults_are_counted_and_skipped(tmp_path):
    r = Rig(str(tmp_path), ("sim.faults.imu.garbage_rate=0.3", "sim.faults.imu.corrupt_rate=0.2",
                            "sim.faults.gps.corrupt_rate=0.3"))
    r.supervisor.start()
    try:
        r.run(3.0)
        imu = _take(r.subs["imu"])
        gps = _take(r.subs["gps"])
        assert len(imu) > 50 and len(gps) >= 5
        for m in imu:  # a corrupted packet never reaches the bus as a wild value
            assert np.all(np.abs(m.fixed["gyro"]) < 10.0)
        assert r.devices.devices[2].emulator.corrupted > 0
    finally:
        r.close()
    # the drivers' final counter lines name the rejected frames
    # (printed by each driver on exit; the supervisor forwards them)


def test_missing_port_is_one_line_exit_2():
    proc = cli("driver", "nmea_gps", "--port", "/dev/does-not-exist", "--echo")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "/dev/does-not-exist" in lines[0] and "nmea_gps" in lines[0]
    assert "robo-orch ports" in lines[0]
    assert "Traceback" not in proc.stderr


def test_supervisor_start_fails_cleanly_on_a_missing_port(tmp_path):
    sup = Supervisor(ready_timeout_s=30)
    sup.add_driver("gps", config_path=ROBOT, overrides=(), run_dir=str(tmp_path),
                   publisher_id=10, port="/dev/does-not-exist")
    with pytest.raises(RoboOrchError) as err:
        sup.start()
    assert "/dev/does-not-exist" in str(err.value) and err.value.exit_status == 2
    assert not sup.alive("gps")


def test_driver_echo_prints_json_lines(tmp_path):
    import json

    from robo_orch.sim.emulators.base import PtyLink
    from robo_orch.sim.emulators.nmea import NmeaGpsEmulator

    link = PtyLink()
    emu = NmeaGpsEmulator(48.1, 11.5, rate_hz=10.0)
    proc = start_cli("driver", "nmea_gps", "--port", link.path, "--echo", "--set",
                     "origin_lat=48.1", "--set", "origin_lon=11.5", stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
    try:
        lines = []
        t = 0.0
        deadline = time.monotonic() + 30
        fd = proc.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline and len(lines) < 6:
            emu.update(t, 3.0, 4.0, 0.5, 0.0)
            link.write(emu.drain())
            t += 0.1
            if select.select([fd], [], [], 0.1)[0]:
                buf += os.read(fd, 65536)
            *done, buf = buf.split(b"\n")
            lines += [json.loads(x) for x in done if x.strip()]
        assert len(lines) >= 6
        local = [x for x in lines if x["type"] == "position_fix"]
        assert local and local[-1]["x"] == pytest.approx(3.0, abs=0.01)
        assert local[-1]["y"] == pytest.approx(4.0, abs=0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        link.close()


def test_teleop_drives_from_keys_and_stops_on_quit(tmp_path):
    bus = ZmqBus(WallClock(), publisher_id=1, run_dir=str(tmp_path))
    sub = bus.subscribe("cmd/velocity", "velocity_command", QoS.queue(1000))
    proc = start_cli("teleop", "--run-dir", str(tmp_path), stdin=subprocess.PIPE,
                     stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        proc.stdin.write(b"www")
        proc.stdin.flush()
        time.sleep(1.0)
        proc.stdin.write(b"q")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
        time.sleep(0.2)
        sub.poll()
        msgs = sub.take()
        speeds = [float(m.fixed["v"]) for m in msgs]
        assert max(speeds) == pytest.approx(0.18, abs=1e-9)  # three steps of 0.3 / 5
        assert speeds[-1] == 0.0
    finally:
        if proc.poll() is None:
            proc.kill()
        bus.close()


def test_robot_template_is_valid_and_documented():
    config = load_config(ROBOT)
    assert set(config.drivers) == {"motors", "lidar", "imu", "gps"}
    text = Path(ROBOT).read_text()
    for name, cfg in config.drivers.items():
        assert f"[drivers.{name}]" in text
        assert len(cfg.spec.mount) == 3


#: the demo course's first two waypoints: long enough to kill a driver under way
_SHORT_COURSE = "mission.waypoints=[[4.2, 1.2], [6.8, 1.0]]"


def _run_serial_mission(tmp_path, on_controller=None):
    from robo_orch.missions.report import summarize
    from robo_orch.missions.session import run_mission

    overrides = (f'bus.run_dir="{tmp_path}"', _SHORT_COURSE)
    config = load_config(ROBOT, overrides)
    result = run_mission(config, backend="realtime", config_path=ROBOT, overrides=overrides,
                         devices="serial", on_start=on_controller)
    return result, summarize(result)


@pytest.mark.slow
def test_a_serial_mission_survives_a_killed_driver_and_reaches_the_goal(tmp_path):
    """Every driver in its own process on an emulated serial device; the motor driver is
    killed under way: the loop stops the robot, the supervisor restarts the driver and
    the mission completes (the other drivers run on untouched)."""
    import threading

    killed = {}

    def kill_motor_driver_later(controller):
        def worker():
            from robo_orch.core import world as W

            while controller.world.state[W.T] < 5.0:  # well under way
                time.sleep(0.05)
            child = controller.backend.supervisor.children["motors"]
            killed["pid"] = child.proc.pid
            child.proc.kill()

        threading.Thread(target=worker, daemon=True).start()

    result, summary = _run_serial_mission(tmp_path, kill_motor_driver_later)
    supervisor = result.controller.backend.supervisor
    assert set(supervisor.children) == {"motors", "lidar", "imu", "gps"}
    child = supervisor.children["motors"]
    assert killed, "the mission ended before the driver was killed"
    assert child.restarts >= 1 and child.proc.pid != killed["pid"]
    assert all(supervisor.children[name].restarts == 0 for name in ("lidar", "imu", "gps"))
    # odometry went stale: the loop stopped the robot instead of driving blind
    assert summary["safety_stops"] >= 1
    assert summary["success"], summary["failed_criteria"]
    assert summary["end_reason"] == "goal reached"
    assert summary["collisions"] == 0


@pytest.mark.slow
def test_run_drives_the_robot_through_its_drivers_and_stops_in_order(tmp_path):
    """`robo-orch run` on the hardware config, its ports pointed at emulators."""
    import signal

    rig = Rig(str(tmp_path), commands=False)  # the loop publishes the commands
    proc = subprocess.Popen(rig.run_command(), stderr=subprocess.PIPE, text=True)
    try:
        with Physics(rig) as physics:
            physics.wait_driving(lambda: proc.poll() is None)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err  # interrupted (Ctrl-C)
            time.sleep(0.5)  # the wheels spin down after the last (zero) command
            assert abs(rig.sim.v) < 0.02
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    # log lines: "<date> <time> INFO    robo-orch driver motors: stopped after ..."
    order = [line.split("robo-orch driver ", 1)[1].split(":")[0] for line in err.splitlines()
             if "robo-orch driver " in line and ": stopped after" in line]
    assert order[0] == "motors", err  # the actuator first, after the loop
    assert sorted(order) == ["gps", "imu", "lidar", "motors"]


def test_a_vanished_port_is_reported_and_retried(rig):
    rig.run(1.0)
    child = rig.supervisor.children["gps"]
    first_pid = child.proc.pid
    rig.devices.devices[3].link.close()  # the USB cable is pulled
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and child.restarts < 2:
        time.sleep(0.2)
    # the driver said what happened, exited, and the supervisor keeps retrying
    assert child.restarts >= 2 and child.proc.pid != first_pid
    assert "/dev/pts" in child.last_line or "gps" in child.last_line


@pytest.mark.slow
def test_a_silent_device_is_reported(tmp_path):
    import io

    log = io.StringIO()
    r = Rig(str(tmp_path), ("sim.faults.gps.silent=true",), log=log)
    r.supervisor.start()
    try:
        r.run(2.5)
        assert not _take(r.subs["gps"])
    finally:
        r.close()
    assert "robo-orch driver gps: device not answering" in log.getvalue()
