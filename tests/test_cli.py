"""The ``robo-orch`` command line: global options after the command, help, usage errors."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from robo_orch.cli import main as cli

COMMANDS = {"sim", "run", "check", "bench", "warmup", "driver", "ports", "teleop", "estop",
            "status", "param", "param list", "param get", "param set", "scenarios", "faults",
            "sweep", "tune", "replay", "plot", "topics", "topics echo", "topics hz", "keys",
            "keys generate", "keys list", "service", "service unit", "service install"}


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every (nested) command of ``parser`` as a tuple of words, with its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _commands(sub, (*prefix, name))


def _robo_orch(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robo_orch.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def test_every_command_is_registered_once_in_the_order_help_lists():
    parser = cli.build_parser()
    found = [" ".join(words) for words, _ in _commands(parser)]
    assert sorted(found) == sorted(COMMANDS)
    assert found[:21] == ["sim", "run", "check", "bench", "warmup", "driver", "ports",
                          "teleop", "estop", "status", "param", "param list", "param get",
                          "param set", "scenarios", "faults", "sweep", "tune", "replay", "plot",
                          "topics"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_exits_0_and_lists_the_global_options(command, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main([*command.split(), "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: robo-orch {command} ")
    assert "global options (also accepted before the command):" in out
    assert "--cache-dir CACHE_DIR" in out and "-q, --quiet" in out


@pytest.mark.parametrize(("argv", "quiet", "cache_dir"), [
    (["sim"], False, None),
    (["-q", "sim"], True, None),
    (["sim", "-q"], True, None),
    (["sim", "--quiet", "--lockstep"], True, None),
    (["--cache-dir", "A", "sim"], False, "A"),
    (["sim", "--cache-dir", "B", "--lockstep"], False, "B"),
    (["--cache-dir", "A", "-q", "sim", "--cache-dir", "B"], True, "B"),  # the later one wins
    (["check", "config/demo.toml", "-q", "--cache-dir", "C"], True, "C"),
    (["scenarios", "doorway", "-q"], True, None),
    (["topics", "echo", "sensor/imu", "-q", "--cache-dir", "D"], True, "D"),
    (["-q", "topics", "hz", "sensor/imu"], True, None),
])
def test_global_options_are_accepted_before_and_after_the_command(argv, quiet, cache_dir):
    args = cli.build_parser().parse_args(argv)
    assert (args.quiet, args.cache_dir) == (quiet, cache_dir)


def test_an_abbreviation_keeps_meaning_the_command_s_own_option():
    parser = cli.build_parser()
    bench = parser.parse_args(["bench", "--q"])  # --quick, as before --quiet joined
    assert bench.quick and not bench.quiet
    teleop = parser.parse_args(["teleop", "--c", "robot.toml"])  # --config, not --cache-dir
    assert teleop.config == "robot.toml" and teleop.cache_dir is None
    assert parser.parse_args(["sim", "--qui"]).quiet  # only a global option matches


def test_check_takes_global_options_after_it():
    """The same output either way.  (That ``--cache-dir`` after a command fills that cache
    dir: test_warmup's cold start, which passes it so.)"""
    from robo_orch._numba_env import default_cache_dir

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    cache = str(default_cache_dir())  # this build's (warm): nothing to compile
    after = _robo_orch("check", "-q", "--cache-dir", cache, env=env)
    assert after.returncode == 0, after.stderr
    before = _robo_orch("-q", "--cache-dir", cache, "check", env=env)
    assert before.returncode == 0, before.stderr
    assert after.stdout == before.stdout and after.stdout.strip()


def test_sim_quiet_after_the_command_prints_no_progress_line(capsys):
    status = cli.main(["sim", "--lockstep", "--duration", "1", "-q"])
    out, err = capsys.readouterr()
    assert status == 1  # 1 s is not enough to reach the demo's goal
    assert err == ""  # no progress line
    assert out.startswith("demo.toml [lockstep, seed") and "time limit" in out
    status = cli.main(["sim", "--lockstep", "--duration", "1"])
    assert status == 1 and "| waypoint " in capsys.readouterr().err  # without -q: progress


def test_scenarios_quiet_after_the_command_prints_no_progress_line(capsys):
    argv = ["scenarios", "doorway", "--seeds", "1", "--jobs", "1",
            "--set", "mission.time_limit_s=1"]
    assert cli.main([*argv, "-q"]) == 1  # 1 s: still under way when time is up
    out, err = capsys.readouterr()
    assert err == "" and "FAILED: doorway" in out
    assert cli.main(argv) == 1
    assert "scenarios: 1/1 runs, 1 failed" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["sim", "--bogus"], ["sim", "--lockstep", "--bogus"],
                                  ["--bogus", "check"], ["check", "-x"]])
def test_an_unknown_option_exits_2_with_the_usage_and_one_error_line(argv):
    proc = _robo_orch(*argv)
    assert proc.returncode == 2
    bad = argv[-1] if argv[0] != "--bogus" else "--bogus"
    assert proc.stderr.splitlines() == [
        "usage: robo-orch [-h] [--cache-dir CACHE_DIR] [-q] COMMAND ...",
        f"robo-orch: error: unrecognized arguments: {bad}"]
    assert proc.stdout == ""


def test_help_loads_nothing_heavy():
    code = ("import sys\nfrom robo_orch.cli.main import main\n"
            "for argv in (['--help'], ['sim', '--help'], ['topics', 'hz', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = {'numpy', 'numba', 'zmq', 'multiprocessing', 'matplotlib'}\n"
            "print(sorted(heavy & set(sys.modules)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
