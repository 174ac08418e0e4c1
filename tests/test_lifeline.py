"""A child started through :mod:`robo_orch.lifeline` dies with its parent, and only then.

Real processes throughout: a parent script starts a child with ``lifeline.popen``;
the parent runs under a kill probe (a child subreaper, :mod:`robo_orch.bench.orphans`),
which SIGKILLs it and reaps the orphaned child, so the child's exit status is seen.
The child writes what happened to it into a file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from robo_orch.bench.orphans import KillProbe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="child subreapers and /proc are Linux")

#: the child: SIGTERM is its normal stop path (it notes it, then exits 0)
CHILD = r"""
import sys, time
from robo_orch import lifeline
out, delay = sys.argv[1], float(sys.argv[2])
def note(text):
    with open(out, "a") as f:
        f.write(text + "\n")
stopping = []
lifeline.on_terminate(lambda: stopping.append(1))
time.sleep(delay)  # start-up work before the lifeline is attached
lifeline.attach()
if not stopping:
    note("attached")
while not stopping:
    time.sleep(0.01)
note("SIGTERM")
"""

#: the parent: starts the child (from a thread that then ends, or from the main thread)
PARENT = r"""
import os, subprocess, sys, threading, time
from robo_orch import lifeline
out, how, delay = sys.argv[1], sys.argv[2], sys.argv[3]
cmd = [sys.executable, "-c", sys.argv[4], out, delay]
def attached():
    return os.path.exists(out) and "attached" in open(out).read()
if how == "thread":  # the thread ends once the child is attached (its PDEATHSIG armed)
    box = {}
    def start():
        box["p"] = lifeline.popen(cmd)
        while not attached():
            time.sleep(0.01)
    t = threading.Thread(target=start)
    t.start()
    t.join()
    child = box["p"]
else:
    child = lifeline.popen(cmd)
if how == "siblings":  # a second lifeline child, a plain child and a forked copy
    lifeline.popen(cmd)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(6)"])
    if os.fork() == 0:
        time.sleep(6)
        os._exit(0)
time.sleep(1.0)  # the thread that started the child is long gone
print("child alive" if child.poll() is None else f"child dead {child.returncode}", flush=True)
time.sleep(600)
"""


def _parent(tmp_path: Path, how: str, delay: float = 0.0) -> tuple[KillProbe, Path]:
    out = tmp_path / "child.txt"
    probe = KillProbe([sys.executable, "-c", PARENT, str(out), how, str(delay), CHILD],
                      tmp_path / "parent.log", timeout_s=20.0)
    return probe, out


def _wait_file(path: Path, text: str, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return True
        time.sleep(0.02)
    return False


def test_sigkill_of_the_parent_stops_the_child_through_sigterm(tmp_path):
    probe, out = _parent(tmp_path, "main")
    with probe:
        assert _wait_file(out, "attached"), probe.log()
        assert probe.wait_for("child alive", 30), probe.log()
        report = probe.kill()
    assert report["remaining"] == [], report
    (child,) = report["children"]
    assert child["status"] == 0, report  # its SIGTERM handler ran: the normal stop path
    assert out.read_text().splitlines() == ["attached", "SIGTERM"]


def test_the_end_of_the_thread_that_started_the_child_does_not_stop_it(tmp_path):
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child exits
    probe, out = _parent(tmp_path, "thread")
    with probe:
        assert probe.wait_for("child alive", 30), probe.log()
        assert "SIGTERM" not in out.read_text()
        report = probe.kill()  # the parent's death still stops it
    assert report["remaining"] == [] and report["children"][0]["status"] == 0, report
    assert out.read_text().splitlines() == ["attached", "SIGTERM"]


def test_a_parent_already_gone_when_the_child_attaches_stops_it_at_once(tmp_path):
    # the child attaches 2 s after it started; the parent is SIGKILLed before that
    probe, out = _parent(tmp_path, "main", delay=2.0)
    with probe:
        deadline = time.monotonic() + 30
        while not probe.children() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert probe.children(), probe.log()
        report = probe.kill()
    assert report["remaining"] == [], report
    (child,) = report["children"]
    assert child["status"] == 0, report
    assert out.read_text().splitlines() == ["SIGTERM"]  # never ran on as an orphan


#: a child whose stop path never ends it
STUBBORN = r"""
import sys, time
from robo_orch import lifeline
lifeline.on_terminate(lambda: open(sys.argv[1], "a").write("SIGTERM\n"))
lifeline.attach(grace_s=1.0)
open(sys.argv[1], "a").write("attached\n")
while True:
    time.sleep(0.1)
"""


def test_a_child_still_alive_after_the_grace_time_is_killed(tmp_path):
    out = tmp_path / "child.txt"
    probe = KillProbe([sys.executable, "-c", PARENT, str(out), "main", "0", STUBBORN],
                      tmp_path / "parent.log", timeout_s=20.0)
    with probe:
        assert probe.wait_for("child alive", 30), probe.log()
        report = probe.kill()
    assert report["remaining"] == [], report
    (child,) = report["children"]
    assert child["status"] == -9 and child["after_s"] >= 1.0, report  # SIGKILL, after grace_s
    assert out.read_text().splitlines() == ["attached", "SIGTERM"]


def _pipes(pid: int) -> dict[str, set[str]]:
    """The pipes ``pid`` holds, by access: {"r": {"pipe:[inode]"}, "w": {...}}."""
    out: dict[str, set[str]] = {"r": set(), "w": set()}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                flags = int(next(x for x in f if x.startswith("flags:")).split()[1], 8)
        except (OSError, StopIteration):
            continue
        if target.startswith("pipe:"):
            out["w" if flags & os.O_ACCMODE == os.O_WRONLY else "r"].add(target)
    return out


@pytest.mark.slow
def test_only_the_parent_holds_the_write_end(tmp_path):
    # a sibling holding the write end would keep the others alive after the parent died
    probe, out = _parent(tmp_path, "siblings")
    with probe:
        assert probe.wait_for("child alive", 30), probe.log()
        assert _wait_file(out, "attached\nattached"), probe.log()
        parent_w = _pipes(probe.pid)["w"]
        kids = probe.children()
        assert len(kids) == 4, kids  # two lifeline children, a plain one, a fork
        held = {pid: _pipes(pid) for pid in kids}
        lifeline_pipes = {p for pid, label in kids.items() if label == "python -c"
                          for p in held[pid]["r"]} & parent_w
        assert lifeline_pipes, (parent_w, held)
        for pid, pipes in held.items():
            assert not pipes["w"] & lifeline_pipes, (kids[pid], pipes)
        report = probe.kill()
    assert report["remaining"] == [], report
    assert [c["status"] for c in report["children"]] == [0] * 4, report
    assert out.read_text().count("SIGTERM") == 2


@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH is Python 3.11+")
def test_a_child_started_in_a_folder_holding_robo_orch_imports_its_parents(tmp_path):
    # the README's first command installs the clone (not editable) and runs in it: a
    # ``python -m`` child imported the checkout's robo_orch/ from the current directory
    import subprocess

    from robo_orch import lifeline

    decoy = tmp_path / "robo_orch"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy in the current directory')")
    (decoy / "probe.py").write_text("")
    import robo_orch

    proc = lifeline.popen([sys.executable, "-m", "robo_orch.bench.orphans", "--help"],
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "decoy" not in err and Path(robo_orch.__file__).exists()
