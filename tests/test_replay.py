"""Replay with the original timing, and the deterministic open-loop re-run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import cli
from pictures import TAB, column_of, frame_columns, mask, read_png

from robo_orch.bus import QoS
from robo_orch.bus.memory import MemoryBus, MemoryHub
from robo_orch.bus.zmq_bus import ZmqBus
from robo_orch.clock import SimClock, WallClock
from robo_orch.config import load_config
from robo_orch.missions.session import run_mission
from robo_orch.record.reader import open_recording
from robo_orch.record.replay import replay, rerun
from robo_orch.record.writer import Recorder, RecordOptions

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "config" / "demo.toml")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "run.mcap"
    recorder = Recorder(RecordOptions(str(path)), seed=3)
    result = run_mission(load_config(None), backend="lockstep", seed=3, duration_s=6.0,
                         on_start=recorder.attach)
    recorder.close()
    return path, result


def test_rerun_with_the_same_config_is_bit_identical(recorded):
    path, result = recorded
    report = rerun(open_recording(path), load_config(None))
    assert report.missing_inputs == 0
    assert len(report.t) == result.stats.ticks
    assert not report.diverged and report.first_divergence is None
    # compared with the commands as recorded on the bus, bit for bit
    cmds = [m.decode() for m in open_recording(path).raw(["cmd/velocity"])][:-1]
    recorded_cmd = np.array([(float(m.fixed["v"]), float(m.fixed["w"])) for m in cmds])
    assert recorded_cmd.tobytes() == report.rerun.tobytes()
    assert "bit-identical" in report.text() and "open-loop" in report.text()


def test_an_estop_in_the_recording_is_applied_on_the_same_tick_by_the_rerun(tmp_path):
    path = tmp_path / "estop.mcap"
    recorder = Recorder(RecordOptions(str(path)), seed=3)

    def estop(ctl) -> None:  # the act phase: ticks 61..90 are the first to obey
        tick = ctl.trace.rows - 1
        if tick == 60:
            ctl.engage_estop()
        elif tick == 90:
            ctl.reset_estop()

    run_mission(load_config(None), backend="lockstep", seed=3, duration_s=3.0,
                on_start=recorder.attach, progress=estop)
    recorder.close()
    report = rerun(open_recording(path), load_config(None))
    assert report.missing_inputs == 0 and not report.diverged
    held = report.rerun[61:91]
    assert np.all(held == 0.0) and report.rerun[60, 0] > 0 and report.rerun[95, 0] > 0


def test_rerun_with_a_changed_parameter_reports_the_divergence(recorded):
    path, _ = recorded
    report = rerun(open_recording(path), load_config(None, ["safety.max_speed=0.3"]))
    assert report.diverged
    first = report.first_divergence
    assert first > 0, "the first ticks are slower than either limit"
    assert np.array_equal(report.rerun[:first], report.recorded[:first])
    dv, _ = report.max_difference()
    assert dv == pytest.approx(report.recorded[:, 0].max() - 0.3)
    assert np.all(report.rerun[:, 0] <= 0.3 + 1e-12)
    assert f"first at tick {int(report.ticks[first])}" in report.text()


def test_cli_rerun_exit_status_text_and_plot(recorded, tmp_path):
    path, _ = recorded
    same = cli("replay", str(path), "--rerun", DEMO, timeout=300)
    assert same.returncode == 0, same.stderr
    assert "bit-identical" in same.stdout and "open-loop" in same.stdout
    png = tmp_path / "diff.png"
    diff = cli("replay", str(path), "--rerun", DEMO, "--set", "safety.max_speed=0.3", "--plot",
               str(png), timeout=300)
    assert diff.returncode == 1, diff.stderr
    assert "commands diverge: first at tick" in diff.stdout
    img = read_png(png)
    assert img.shape[:2] == (700, 1000)  # 10 x 7 in at 100 dpi
    # the red line marks the first divergence where it is on the time axis
    report = rerun(open_recording(path), load_config(DEMO, ["safety.max_speed=0.3"]))
    t, first = report.t, report.first_divergence
    red = mask(img, TAB["red"], tol=60)
    col = int(red.sum(axis=0).argmax())
    rows = np.flatnonzero(red[:, col])
    assert rows.max() - rows.min() > 0.7 * img.shape[0], "a dotted line across the panels"
    expected = column_of(t[first], t[0], t[-1], *frame_columns(img))
    assert abs(col - expected) <= 2, (col, expected)


@pytest.mark.parametrize("rate", [1.0, 2.0])
def test_replay_keeps_the_original_timing_on_a_simulated_clock(recorded, rate):
    path, _ = recorded
    recording = open_recording(path)
    clock, hub = SimClock(), MemoryHub()
    bus = MemoryBus(clock, publisher_id=9, hub=hub)
    listener = MemoryBus(clock, publisher_id=10, hub=hub, hwm=10_000)
    subs = {t: listener.subscribe(t, m, QoS.queue(10_000), hwm=10_000)
            for t, m in (("sensor/odom", "wheel_odometry"), ("sensor/scan", "laser_scan"),
                         ("loop/tick", "loop_tick"))}
    arrivals = {t: [] for t in subs}

    def collect():
        for topic, sub in subs.items():
            sub.poll()
            arrivals[topic] += sub.take()

    # poll after every message: wrap the bus's sender so each delivery is observed
    send = bus.send_raw

    def send_and_collect(topic, frames):
        send(topic, frames)
        collect()

    bus.send_raw = send_and_collect
    stats = replay(recording, bus, clock, rate=rate)
    originals = {t: [m for m in open_recording(path).raw([t])] for t in subs}
    first = min(m.log_time_ns for ms in originals.values() for m in ms)
    for topic, got in arrivals.items():
        orig = originals[topic]
        assert [m.header.seq for m in got] == [m.decode().header.seq for m in orig]
        assert [m.header.stamp_ns for m in got] == [m.log_time_ns for m in orig]
        want = [first + int((m.log_time_ns - first) / rate) for m in orig]
        assert [m.recv_ns for m in got] == want, topic
    assert stats.messages == sum(1 for _ in open_recording(path).raw())


def test_replay_filters_topics(recorded):
    path, _ = recorded
    clock, hub = SimClock(), MemoryHub()
    bus = MemoryBus(clock, publisher_id=9, hub=hub)
    sent = []
    send = bus.send_raw
    bus.send_raw = lambda topic, frames: (sent.append(topic), send(topic, frames))
    replay(open_recording(path), bus, clock, rate=0, topics=["sensor/*"])
    assert set(sent) == {"sensor/odom", "sensor/imu", "sensor/scan"}


def test_cli_replay_publishes_over_zeromq(recorded, tmp_path):
    path, _ = recorded
    n_scans = sum(1 for _ in open_recording(path).raw(["sensor/scan"]))
    bus = ZmqBus(WallClock(), publisher_id=77, run_dir=str(tmp_path))
    try:
        sub = bus.subscribe("sensor/scan", "laser_scan", QoS.queue(1000), hwm=1000)
        proc = cli("replay", str(path), "--rate", "0", "--topics", "sensor/scan", "--run-dir",
                   str(tmp_path), timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"replayed {n_scans} messages" in proc.stdout
        sub.poll()
        got = sub.take()
        assert [m.header.seq for m in got] == list(range(1, n_scans + 1))
        assert got[0].var["range"].shape == (load_config(None).sim.lidar.rays,)
    finally:
        bus.close()


def test_the_fast_scan_reads_what_the_mcap_reader_reads(recorded):
    from mcap.reader import make_reader

    path, _ = recorded
    with open(path, "rb") as f:
        reference = [(c.topic, m.log_time, m.sequence, m.data)
                     for _, c, m in make_reader(f).iter_messages(log_time_order=False)]
    recording = open_recording(path)
    ours = [(c.topic, m.log_time, m.sequence, m.data) for c, m in recording.messages()]
    assert ours == reference and len(ours) > 1000
    assert recording.reports[0].intact and recording.stats["raw_messages"]
    some = [(c.topic, m.log_time) for c, m in recording.messages(["sensor/*", "/cmd"])]
    assert some == [(t, lt) for t, lt, _, _ in reference
                    if t.startswith("sensor/") or t == "/cmd"]
