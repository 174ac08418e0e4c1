"""The tools on a holonomic base: the trace keeps the lateral speed, ``robo-orch plot``
draws it (from the recorded commands), and the fault campaign's odometry faults use the base's
odometry type.  One short lockstep run each."""

from __future__ import annotations

import numpy as np
from pictures import TAB, cells, mask, read_png

from robo_orch.config import load_config
from robo_orch.missions import faults as F
from robo_orch.missions.fault_kinds import Fault
from robo_orch.missions.session import run_mission
from robo_orch.record.plot import plot_recording, recording_arrays
from robo_orch.record.reader import open_recording
from robo_orch.record.writer import Recorder, RecordOptions
from robo_orch.runtime.trace import COLUMNS, LATERAL_COLUMNS

HOLONOMIC = "robot.kinematics=holonomic"


def test_a_holonomic_run_keeps_vy_in_its_trace_and_records_and_plots_it(tmp_path):
    path, png = tmp_path / "holo.mcap", tmp_path / "holo.png"
    recorder = Recorder(RecordOptions(str(path)), seed=1)
    result = run_mission(load_config(None, [HOLONOMIC]), backend="lockstep", seed=1,
                         duration_s=8.0, on_start=recorder.attach)
    recorder.close()
    trace = result.controller.trace
    assert trace.columns == LATERAL_COLUMNS and trace.columns[:len(COLUMNS)] == COLUMNS
    cmd_vy, vy = trace.column("cmd_vy"), trace.column("vy")
    assert np.abs(cmd_vy).max() > 0.05, "the holonomic base commands sideways"
    moving = np.abs(cmd_vy) > 0.05
    assert np.median(np.abs(vy[moving] - cmd_vy[moving])) < 0.1, "and estimates it"
    # the recorded command messages carry the same safe lateral command, tick by tick,
    # at the ticks' times
    recording = open_recording(path)
    d = recording_arrays(recording)
    n = min(len(d["cmd_vy"]), len(cmd_vy))
    assert n > 300 and np.allclose(d["cmd_vy"][:n], cmd_vy[:n])
    assert np.allclose(d["cmd_vy_t"][:n], trace.column("t")[:n], atol=0.021)
    plot_recording(recording, png)
    img = read_png(png)
    command_panel = cells(img[:, 600:], 3, 1)[0]
    assert mask(command_panel, TAB["green"]).sum() > 300, "vy drawn in the command panel"


def test_a_diff_drive_trace_keeps_its_columns():
    result = run_mission(load_config(None), backend="lockstep", seed=1, duration_s=1.0)
    assert result.controller.trace.columns == COLUMNS
    assert result.controller.trace.array().shape[1] == len(COLUMNS)


def test_odometry_faults_on_a_holonomic_base_send_its_body_odometry():
    config = load_config("open_field", (*F.CAMPAIGN_OVERRIDES, "sim.seed=3", HOLONOMIC))
    faults = [Fault("bad_value", "odom", "nan", 1.0, 0.0, 0.5),
              Fault("malformed", "odom", "layout", 1.0, 0.0, 0.5)]
    result, injector = F.run_plan(config, 3, faults)
    assert [r["label"] for r in injector.records] == ["bad_value:odom", "malformed:odom"]
    for rec in injector.records:
        assert rec["problems"] == [], rec
        assert rec["counted"], "the input checks counted the bad body_odometry messages"
    assert result.controller.goal_time_s is not None
