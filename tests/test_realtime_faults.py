"""Real-time runs meeting real faults: a simulator process that dies, and Ctrl-C."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import pytest
from helpers import start_cli

from robo_orch.config import load_config
from robo_orch.errors import BackendError
from robo_orch.missions.session import run_mission


def test_a_dead_simulator_process_is_a_runtime_fault():
    config = load_config(None)
    killed = {}

    def kill_simulator(ctl) -> None:
        if ctl.trace.rows == 30 and not killed:
            proc = ctl.backend.proc
            os.kill(proc.pid, signal.SIGKILL)
            killed["pid"] = proc.pid

    with pytest.raises(BackendError, match="simulator process died"):
        run_mission(config, backend="realtime", config_path=config.source, duration_s=20,
                    progress=kill_simulator)
    assert killed


@pytest.mark.slow
def test_ctrl_c_ends_a_realtime_run_cleanly():
    proc = start_cli("sim", "--duration", "60", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while "waypoint" not in line:  # the progress line: the loop is running
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no progress line within 60 s"
            ready, _, _ = select.select([proc.stderr], [], [], remaining)
            if ready:
                line = proc.stderr.readline()
                assert line, f"robo-orch ended before its first tick: {proc.wait()}"
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err  # interrupted: not a failed mission (1)
    assert "interrupted" in out
    assert "Traceback" not in err
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # no simulator process left behind
        os.killpg(proc.pid, 0)
