"""``robo-orch tune``: ranges, the tuned file, pruning, resuming, and a tuned config that
beats the default on held-out seeds."""

from __future__ import annotations

import json
import sys

import pytest

from robo_orch.cli import main as cli
from robo_orch.config import load_config
from robo_orch.errors import UsageError
from robo_orch.missions import tune_space as T

optuna = pytest.importorskip("optuna")

RAW = {"behaviors": {"avoid_obstacles": {}, "go_to_goal": {}}}


def test_ranges_parse_and_bad_ones_say_the_form():
    dims = T.parse_dims(["avoid_obstacles.max_speed=0.3:0.8",
                         "go_to_goal.k_heading=0.5:4:log", "avoid_obstacles.steps=10:30:int"],
                        RAW)
    assert [d.key for d in dims] == ["behaviors.avoid_obstacles.max_speed",
                                     "behaviors.go_to_goal.k_heading",
                                     "behaviors.avoid_obstacles.steps"]
    assert dims[1].log and dims[2].integer and dims[2].spec().endswith("=10:30:int")
    for bad in ("x.y=0.8:0.3", "x.y=0:1:log", "x.y=1:2:cube", "x.y=0.5", "x.y=0.5:1.5:int"):
        with pytest.raises(UsageError, match="--param"):
            T.parse_dims([bad], RAW)


def test_the_tuned_file_extends_the_original_and_holds_only_the_changed_keys(tmp_path):
    out = tmp_path / "tuned.toml"
    text = T.tuned_toml(T.extends_target(["cluttered"], None, out),
                        {"behaviors.go_to_goal.max_speed": 0.7, "safety.max_speed": 0.9},
                        ["measured gain: x"])
    out.write_text(text)
    assert text.startswith("# measured gain: x\nextends = \"cluttered\"\n")
    cfg = load_config(str(out))
    assert [b.params.max_speed for b in cfg.behaviors if b.name == "go_to_goal"] == [0.7]
    assert cfg.safety.max_speed == 0.9 and cfg.mission.time_limit_s == 90.0
    assert T.extends_target(["cluttered", "maze"], None, out) == "navigation"
    robot = tmp_path / "robots" / "mine.toml"
    robot.parent.mkdir()
    robot.write_text('extends = "demo"\n')
    assert T.extends_target(["cluttered"], str(robot), out) == "robots/mine.toml"


def test_without_optuna_the_command_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert cli.main(["tune", "cluttered", "--param", "go_to_goal.max_speed=0.4:0.8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'robo-orch[tune]'" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_much_slower_trial_is_pruned_and_never_the_winner(tmp_path):
    from robo_orch.missions import tune as TU
    from robo_orch.missions.runner import Runner

    key = "behaviors.go_to_goal.max_speed"
    setup = TU.Setup(scenarios=["cluttered"], dims=[T.Dim(key, 0.2, 0.8)],
                     objective="time_to_goal", seeds=[1, 2, 3, 4, 5, 6])
    lines: list[str] = []
    with Runner(1) as runner:
        tuner = TU.Tuner(setup, runner, str(tmp_path / "s.journal"), say=lines.append)
        base = tuner.baseline()
        tuner.study.enqueue_trial({key: 0.25})
        tuner.run(1)
    first, trial = tuner.study.trials
    assert first.user_attrs["baseline"] and first.value == pytest.approx(base["mean"])
    assert trial.user_attrs["pruned"] and trial.user_attrs["instances_run"] < 6
    assert "PRUNED after" in lines[-1] and "partial mean" in lines[-1]
    assert set(trial.intermediate_values) < set(range(6)), "reported under stable ids"
    assert tuner.winner() is None, "a pruned trial's partial mean is never a result"


@pytest.mark.slow
def test_tuning_a_speed_beats_the_default_on_held_out_seeds_and_resumes(tmp_path, capsys):
    out, study = tmp_path / "tuned.toml", tmp_path / "study.journal"
    argv = ["tune", "cluttered", "--param", "avoid_obstacles.max_speed=0.5:0.8",
            "--seeds", "1", "--holdout-seeds", "2", "--jobs", "1", "-q", "--out", str(out),
            "--study", str(study), "--plot", str(tmp_path / "tune.png")]
    assert cli.main([*argv, "--trials", "3"]) == 0
    text = capsys.readouterr().out
    assert text.count("\ntrial ") == 3 and "held-out seeds 2-3" in text
    assert "reproduce its worst instance: robo-orch sim cluttered --lockstep --seed 1" in text
    tuned = out.read_text()
    assert 'extends = "cluttered"' in tuned and "[behaviors.avoid_obstacles]" in tuned
    assert "held-out seeds 2-3: time to goal" in tuned
    assert cli.main(["check", str(out)]) == 0
    assert (tmp_path / "tune.png").stat().st_size > 5_000
    capsys.readouterr()

    # the tuned file against the default on the held-out seeds, paired
    assert cli.main(["sweep", "cluttered", "--set-file", str(out), "--seeds", "2",
                     "--first-seed", "2", "--jobs", "1", "-q",
                     "--json", str(tmp_path / "check.json")]) == 0
    doc = json.loads((tmp_path / "check.json").read_text())
    default, mine = (s["metrics"] for s in doc["sets"])
    assert mine["success_rate"] == default["success_rate"] == 1.0 and mine["contacts"] == 0
    assert mine["time_to_goal_s"] < default["time_to_goal_s"] - 0.5
    capsys.readouterr()

    # a trial left running (Ctrl-C) is asked again; finished ones are kept
    st = optuna.load_study(study_name="robo-orch-tune", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(study))))
    st.ask()
    assert cli.main([*argv, "--trials", "4"]) == 0
    text = capsys.readouterr().out
    assert "was interrupted: asked again" in text and text.count("\ntrial ") == 2

    # any trial's instance, as a sim command
    assert cli.main([*argv, "--show-trial", "0"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("trial 0 (baseline): behaviors.avoid_obstacles.max_speed=0.6")
    assert "cluttered/1: " in text and "robo-orch sim cluttered --lockstep --seed 1 --set " \
        "behaviors.avoid_obstacles.max_speed=0.6 --set sim.seed=1" in text


def test_tuning_your_own_robot_on_the_scenario_worlds(tmp_path, capsys):
    robot = tmp_path / "robot.toml"
    robot.write_text('extends = "navigation"\n[behaviors.go_to_goal]\nmax_speed = 0.5\n')
    out = tmp_path / "out" / "tuned.toml"
    out.parent.mkdir()
    rc = cli.main(["tune", "cluttered", "--robot", str(robot), "--param",
                   "go_to_goal.max_speed=0.5:0.8", "--trials", "2", "--seeds", "1",
                   "--holdout-seeds", "0", "--jobs", "1", "-q", "--out", str(out)])
    text = capsys.readouterr().out
    assert "baseline go_to_goal.max_speed=0.5:" in text, "the robot's own value"
    world = tmp_path / "out" / "tuned.toml.worlds" / "cluttered.toml"
    assert world.exists() and "extends = \"../../robot.toml\"" in world.read_text()
    assert load_config(str(world)).mission.waypoints[0][0] == 14.5
    if rc == 0:
        assert 'extends = "../robot.toml"' in out.read_text()
        assert cli.main(["check", str(out)]) == 0


def test_without_pytorch_the_gp_sampler_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    rc = cli.main(["tune", "cluttered", "--param", "go_to_goal.max_speed=0.4:0.8", "--sampler",
                   "gp", "--study", str(tmp_path / "s.journal"), "--jobs", "1", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--sampler gp needs PyTorch" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_ctrl_c_stops_the_study_and_the_same_command_resumes_it(tmp_path, capsys):
    import os
    import signal
    import subprocess

    argv = ["tune", "cluttered", "--param", "go_to_goal.max_speed=0.4:0.8", "--seeds", "2",
            "--holdout-seeds", "0", "--jobs", "1", "-q", "--study", str(tmp_path / "s.journal"),
            "--trials", "6"]  # (enough left after the baseline for Ctrl-C to land first)
    proc = subprocess.Popen([sys.executable, "-m", "robo_orch.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            # a Ctrl-C as from a terminal: an ignored SIGINT (set by an earlier
                            # test in this process) would be inherited and the study not stop
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in proc.stdout:
            if line.startswith("baseline"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "the same command resumes it" in err
    assert cli.main(argv) in (0, 1)
    out = capsys.readouterr().out
    assert "baseline go_to_goal" not in out, "the baseline is kept with the study"
    assert "6 trials (" in out


@pytest.mark.parametrize("param, problem", [
    ("go_to_goal.max_speed=-1:0.5", "-1 is not a valid value: must be > 0"),
    ("go_to_goal.max_sped=0.1:0.5", "behavior 'go_to_goal' has no key 'max_sped'"),
    ("go_to_goal.max_speed=0.1", "expected KEY=LO:HI"),
])
def test_bad_ranges_are_one_line_usage_errors(param, problem, tmp_path, capsys):
    study = tmp_path / "s.journal"
    assert cli.main(["tune", "cluttered", "--param", param, "--study", str(study), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and len(err.splitlines()) == 1
    assert not study.exists(), "nothing written"
