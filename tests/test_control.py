"""Runs belong to their user, and the e-stop answers: real processes on real sockets.

Every test points ``XDG_RUNTIME_DIR`` (and ``TMPDIR``) at its own directory, so
runs other people start on the same machine are neither seen nor disturbed.
Run directories live under ``/tmp`` with short names: ipc socket paths are
limited to 107 bytes.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import cli, start_cli, stop

from robo_orch.config import embedded_config_path

DEMO = str(embedded_config_path("demo"))
ROBOT = str(embedded_config_path("robot"))


pytestmark = pytest.mark.watchdog(150)



def start(*args: str, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    return start_cli(*args, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                     stdin=subprocess.DEVNULL, env=env)



def wait_until_ticking(proc: subprocess.Popen, env: dict, *extra: str,
                       timeout_s: float = 90.0) -> dict:
    """Poll ``robo-orch status`` until the loop answers from its tick; its health."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended early with {proc.returncode}"
        last = cli("status", "--timeout", "1", *extra, env=env)
        if last.returncode == 0:
            return json.loads(last.stdout)
        time.sleep(0.3)
    raise AssertionError(f"the loop never answered: {last and last.stderr}")


def one_line_error(res, *words: str) -> None:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --- finding 5: run directories -------------------------------------------------------------


@pytest.mark.slow
def test_a_run_dir_writable_by_others_or_foreign_owned_is_refused(short_tmp, env):
    open_dir = short_tmp / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)  # pre-created by someone, for everyone
    foreign = short_tmp / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)  # another user's (the tests run as root)
    link = short_tmp / "link"
    link.symlink_to(short_tmp / "xdg")
    run, sim = ("run", DEMO, "--duration", "1"), ("sim", "--duration", "1")
    # each refusal by one command, each command refusing twice (one check serves both)
    for args, run_dir, words in ((run, open_dir, ("writable by", "0777")),
                                 (sim, foreign, ("owned by uid 65534",)),
                                 (run, link, ("symbolic link",))):
        res = cli("-q", *args, "--set", f'bus.run_dir="{run_dir}"', env=env)
        one_line_error(res, str(run_dir), *words)
    # without XDG_RUNTIME_DIR the per-user base is a predictable path in /tmp: taken over
    tmp_env = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
    tmp_env["TMPDIR"] = str(short_tmp)
    base = short_tmp / f"robo_orch-{os.getuid()}"
    base.mkdir()
    os.chmod(base, 0o777)
    for args in (run, sim):  # (the per-user directory, a private one inside the base)
        one_line_error(cli("-q", *args, env=tmp_env), str(base), "writable by")
    assert not list(base.iterdir())  # nothing was written into it


# --- the control endpoint and the e-stop -----------------------------------------------------


@pytest.mark.slow
def test_estop_latches_and_releases_a_realtime_simulation_through_its_control_endpoint(
        short_tmp, env):
    run_dir = short_tmp / "run"
    proc = start("-q", "sim", "--duration", "60", "--set", f'bus.run_dir="{run_dir}"', env=env,
                 log=short_tmp / "sim.log")
    try:
        health = wait_until_ticking(proc, env)  # found like `topics` finds runs
        assert health["safety"]["estop"] is False and health["loop"]["overruns"] >= 0
        # the run dir, its sockets and the per-user index belong to this user alone
        assert stat.S_IMODE(os.lstat(run_dir).st_mode) == 0o700
        socks = sorted(p.name for p in run_dir.glob("*.sock"))
        assert "control.sock" in socks and "cmd.estop.sock" in socks
        for name in socks:
            mode = os.lstat(run_dir / name).st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, name
        base = Path(env["XDG_RUNTIME_DIR"]) / f"robo_orch-{os.getuid()}"
        for d in (base, base / "active", run_dir / "endpoints"):
            assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700, d

        res = cli("estop", env=env)
        assert res.returncode == 0, res.stderr
        assert "engaged" in res.stdout
        echo = cli("topics", "echo", "cmd/velocity", "--count", "3", "--timeout", "10", env=env)
        assert echo.returncode == 0, echo.stderr
        for line in echo.stdout.splitlines():
            data = json.loads(line)["data"]
            assert data["v"] == 0.0 and data["w"] == 0.0
        latched = json.loads(cli("status", env=env).stdout)
        assert latched["safety"]["estop"] is True
        state = cli("topics", "echo", "cmd/estop", "--count", "1", "--timeout", "5", env=env)
        assert json.loads(state.stdout)["data"]["engage"] == 1  # the loop publishes its latch

        # nobody else can bind the e-stop (or the command) while the loop holds it
        code = ("import sys\nfrom robo_orch.bus.zmq_bus import ZmqBus\n"
                "from robo_orch.clock import WallClock\n"
                f"bus = ZmqBus(WallClock(), publisher_id=9, run_dir={str(run_dir)!r})\n"
                "try:\n    bus.publisher(sys.argv[1], sys.argv[2])\n"
                "except Exception as err:\n    print(err)\n    sys.exit(3)\n")
        for topic, mtype in (("cmd/estop", "estop"), ("cmd/velocity", "velocity_command")):
            res = subprocess.run([sys.executable, "-c", code, topic, mtype], capture_output=True,
                                 text=True, timeout=60, env=env)
            assert res.returncode == 3 and "live process" in res.stdout, res.stdout + res.stderr
        teleop = cli("teleop", "--run-dir", str(run_dir), env=env)
        assert teleop.returncode == 2 and "publisher" in teleop.stderr

        res = cli("estop", "--reset", env=env)
        assert res.returncode == 0, res.stderr
        assert "released" in res.stdout
        assert json.loads(cli("status", env=env).stdout)["safety"]["estop"] is False
        assert stop(proc, signal.SIGTERM) == 143  # interrupted, not a failed mission
    finally:
        stop(proc)


@pytest.mark.slow
def test_estop_is_confirmed_by_the_motor_driver(short_tmp, env):
    run_dir = short_tmp / "run"
    proc = start("-q", "sim", ROBOT, "--devices", "serial", "--duration", "60", "--set",
                 f'bus.run_dir="{run_dir}"', env=env, log=short_tmp / "sim.log")
    try:
        wait_until_ticking(proc, env, "--run-dir", str(run_dir))
        res = cli("estop", "--json", "--config", ROBOT, "--run-dir", str(run_dir), env=env)
        assert res.returncode == 0, res.stderr
        reply = json.loads(res.stdout)
        assert reply["ok"] and reply["result"]["estop"] is True
        assert reply["result"]["drivers"]["motors"]["confirmed"] is True
        motor = cli("topics", "echo", "sensor/motor", "--count", "1", "--timeout", "5", env=env)
        assert json.loads(motor.stdout)["data"]["estop"] == 1
        res = cli("estop", "--reset", "--json", "--run-dir", str(run_dir), env=env)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["result"]["drivers"]["motors"]["estop"] is False
        assert stop(proc, signal.SIGINT) == 130
    finally:
        stop(proc)


def test_estop_without_a_run_says_so_and_fails(short_tmp, env):
    res = cli("estop", env=env)
    one_line_error(res, "no running")
    empty = short_tmp / "empty"
    empty.mkdir(mode=0o700)
    one_line_error(cli("estop", "--run-dir", str(empty), env=env), str(empty))


def test_run_refuses_to_start_when_the_estop_topic_is_taken(short_tmp, env):
    from robo_orch.bus.zmq_bus import ZmqBus
    from robo_orch.clock import WallClock

    run_dir = short_tmp / "run"
    bus = ZmqBus(WallClock(), publisher_id=77, run_dir=str(run_dir))
    try:
        bus.publisher("cmd/estop", "estop")
        res = cli("-q", "run", DEMO, "--duration", "1", "--set", f'bus.run_dir="{run_dir}"',
                  env=env)
        one_line_error(res, "cmd/estop", str(os.getpid()))
    finally:
        bus.close()


@pytest.mark.slow
def test_run_exits_143_on_sigterm(short_tmp, env):
    run_dir = short_tmp / "run"
    proc = start("-q", "run", DEMO, "--set", f'bus.run_dir="{run_dir}"', "--set",
                 "loop.input_wait_s=0.2", env=env)  # (no drivers: nothing to wait for)
    try:
        wait_until_ticking(proc, env)
        assert stop(proc, signal.SIGTERM) == 143
    finally:
        stop(proc)


# --- loop health in the verdict ----------------------------------------------------------------


@pytest.mark.slow
def test_overruns_show_in_the_verdict_and_max_overruns_fails_the_run(env):
    # a 5 kHz loop on a shared machine cannot keep its 200 us period
    res = cli("-q", "sim", "--duration", "2", "--set", "loop.rate_hz=5000", "--set",
              "sim.physics_hz=50", "--set", "success.goal_reached=false", "--set",
              "success.max_overruns=0", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    verdict = res.stdout.strip().splitlines()[-1]
    assert "overruns" in verdict and "worst tick" in verdict and "0.2 ms period" in verdict
    assert "FAILED" in verdict and "overruns >" in verdict


def test_lockstep_verdicts_ignore_the_loop_health_bounds():
    from robo_orch.config import load_config
    from robo_orch.missions.report import judge

    config = load_config(None, ("success.max_overruns=0", "success.max_tick_ms=0.001"))
    summary = {"goal_reached": True, "end_reason": "goal reached", "time_to_goal_s": 1.0,
               "collisions": 0, "min_clearance_m": 1.0, "backend": "lockstep", "overruns": 9,
               "tick_time_us": {"max": 5000.0}}
    assert judge(config, summary) == (True, [])
    ok, failures = judge(config, {**summary, "backend": "realtime"})
    assert not ok and len(failures) == 2
