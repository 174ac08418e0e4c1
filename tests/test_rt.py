"""Real-time measures apply where permitted and fall back with one warning each."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_child(code: str) -> subprocess.CompletedProcess:
    # a child process: scheduling, memory locks and timer slack must not leak into pytest
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)


def test_timer_slack_is_set_and_read_back():
    proc = run_child("""
        from robo_orch.rt import apply_realtime, timer_slack_ns
        before = timer_slack_ns()
        warnings = apply_realtime(timer_slack_ns=1)
        print(before, timer_slack_ns(), len(warnings))
    """)
    assert proc.returncode == 0, proc.stderr
    before, after, n_warnings = proc.stdout.split()
    if before != "None":  # /proc exposes it on this kernel
        assert (after, n_warnings) == ("1", "0")


def test_each_refused_measure_gives_exactly_one_warning():
    # an impossible CPU and priority are refused by any kernel, privileged or not
    proc = run_child("""
        import os
        from robo_orch.rt import apply_realtime
        warnings = apply_realtime(priority=1000, cpu=100000)
        print(len(warnings))
        print(os.sched_getscheduler(0) == os.SCHED_OTHER)
    """)
    assert proc.returncode == 0, proc.stderr
    count, still_normal = proc.stdout.split()
    assert count == "2" and still_normal == "True"
    assert proc.stderr.count("could not") == 2  # logged once each


def test_lock_memory_applies_or_warns_once():
    proc = run_child("""
        from robo_orch.rt import apply_realtime
        warnings = apply_realtime(lock_memory=True)
        locked = [l for l in open("/proc/self/status") if l.startswith("VmLck")]
        print(len(warnings), locked[0].split()[1] if locked else "?")
    """)
    assert proc.returncode == 0, proc.stderr
    n_warnings, locked_kib = proc.stdout.split()
    assert (n_warnings == "0" and locked_kib not in ("0", "?")) or n_warnings == "1"
