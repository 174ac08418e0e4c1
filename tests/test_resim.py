"""``robo-orch replay FILE --resim``: a lockstep recording's mission simulated again,
closed-loop, with changed parameters."""

from __future__ import annotations

import pytest

from robo_orch.cli import main as cli


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("resim") / "doorway.mcap"
    assert cli.main(["sim", "doorway", "--lockstep", "--seed", "4", "-q",
                     "--record", str(path)]) == 0
    return path


def test_unchanged_it_reproduces_the_recording_bit_for_bit(recording, capsys):
    assert cli.main(["replay", str(recording), "--resim", "-q"]) == 0
    out = capsys.readouterr().out
    assert "the unchanged config reproduces the recording bit for bit" in out
    assert "first divergence: none" in out
    assert not recording.with_name("doorway-resim.png").exists(), "no plot without divergence"


def test_a_faster_goal_speed_diverges_and_reports_the_deltas(recording, tmp_path, capsys):
    from robo_orch.missions.resim import resimulate
    from robo_orch.record.reader import open_recording

    report = resimulate(open_recording(recording), ("behaviors.go_to_goal.max_speed=0.8",))
    assert report.reproduced is None
    assert report.diverged is not None and report.diverged > 0
    assert "cmd_v" in report.diverged_what, "the command changes first"
    (t0, t1) = report.deltas()["time_to_goal_s"]
    assert report.changed["success"] and t1 < t0
    plot = tmp_path / "paths.png"
    assert cli.main(["replay", str(recording), "--resim", "--set",
                     "behaviors.go_to_goal.max_speed=0.8", "--plot", str(plot),
                     "-q"]) == 0
    out = capsys.readouterr().out
    assert f"first divergence: tick {report.diverged} (t = " in out
    assert "time_to_goal_s" in out and plot.stat().st_size > 10_000


def test_resim_and_rerun_together_is_a_usage_error(recording, capsys):
    assert cli.main(["replay", str(recording), "--resim", "--rerun", "doorway"]) == 2
    assert "give one" in capsys.readouterr().err
