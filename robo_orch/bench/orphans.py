"""What happens to a robo-orch process's children when it is SIGKILLed, and how fast.

A *kill probe* is a small helper process (``python -m robo_orch.bench.orphans
probe``) that makes itself a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``),
starts a command, and on request notes every descendant of the command,
SIGKILLs the command alone and reaps the orphans as they exit: so it learns each
child's exit status (0 for a driver that went through its normal stop path) and
the time from the SIGKILL to its exit.  Children still alive after ``timeout_s``
are listed as ``remaining`` and then killed, so a probe never leaves anything
behind.  The tests drive it through :class:`KillProbe`; so does the benchmark:

* ``robo-orch sim config/robot.toml --devices serial --record`` (the loop's
  process; its children: four driver processes, the simulator process, the
  recorder process), SIGKILLed once the mission is under way;
* ``robo-orch run config/robot.toml`` with its four drivers on device emulators
  that run in the benchmark's process (they outlive the kill, as a robot's
  devices do), SIGKILLed while it drives; each run on the same ports as the last.

Each: the median time from the SIGKILL to no child process left, per child the
median time to its exit and its exit statuses.  ``python -m
robo_orch.bench.orphans [--runs N]`` runs this section alone (``--quick``: one
run of the first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from robo_orch.bench.measure import write_json

_PR_SET_CHILD_SUBREAPER = 36
_REAP_POLL_S = 0.001


# --- the probe process ----------------------------------------------------------------


def _set_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _ppids() -> dict[int, int]:
    """Every process's parent, from /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            out[int(name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(root: int) -> list[int]:
    """The pids of every live descendant of ``root`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppids().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return sorted(out)


def process_label(pid: int) -> str:
    """A short name from the command line: ``robo_orch.hosting.driver_host motors``,
    ``robo_orch.sim.realtime``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    if "-m" in argv[:-1]:
        label = argv[argv.index("-m") + 1]
    elif "-c" in argv[:-1]:
        code = argv[argv.index("-c") + 1]
        label = ("multiprocessing worker" if "spawn_main" in code else
                 "multiprocessing resource tracker" if "resource_tracker" in code else
                 "python -c")
    else:
        label = os.path.basename(argv[0]) if argv else "?"
    if "--name" in argv[:-1]:
        label += " " + argv[argv.index("--name") + 1]
    return label


def _probe(cmd: list[str], log_path: str, timeout_s: float) -> int:
    _set_subreaper()
    with open(log_path, "wb") as log:
        target = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    print(json.dumps({"pid": target.pid}), flush=True)
    sys.stdin.readline()  # "kill", or the end of stdin: kill now either way
    tree = {pid: process_label(pid) for pid in descendants(target.pid)}
    t0 = time.monotonic()
    os.kill(target.pid, signal.SIGKILL)
    pending = {target.pid, *tree}
    exited: dict[int, dict[str, Any]] = {}
    deadline = t0 + timeout_s
    while pending and time.monotonic() < deadline:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(_REAP_POLL_S)
            continue
        exited[pid] = {"status": os.waitstatus_to_exitcode(status),
                       "after_s": round(time.monotonic() - t0, 4)}
        pending.discard(pid)
    # anything still ours is an orphan that outlived the timeout: name it, then end it
    leftover = sorted(pending | set(descendants(os.getpid())))
    remaining = {pid: tree.get(pid) or process_label(pid) for pid in leftover}
    for pid in remaining:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    children = [{"pid": pid, "name": name, **exited.get(pid, {})} for pid, name in tree.items()]
    gone = [c["after_s"] for c in children if "after_s" in c]
    print(json.dumps({"killed": target.pid, "children": children,
                      "remaining": [{"pid": p, "name": n} for p, n in remaining.items()],
                      "all_gone_s": max(gone) if gone and not remaining else None}),
          flush=True)
    return 0


# --- driving a probe ------------------------------------------------------------------


class KillProbe:
    """Runs ``cmd`` under a kill probe; :meth:`kill` SIGKILLs it and reports on its children.

    Linux only (a child subreaper).  ``log_path`` receives the command's stdout and
    stderr.  :meth:`close` (or leaving a ``with`` block) kills whatever is left.
    """

    def __init__(self, cmd: list[str], log_path: str | Path, *, timeout_s: float = 30.0,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = Path(log_path)
        self.result: dict[str, Any] | None = None
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "robo_orch.bench.orphans", "probe", "--log", str(log_path),
             "--timeout", str(timeout_s), "--", *cmd],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        #: the command's pid
        self.pid = int(json.loads(self._proc.stdout.readline())["pid"])

    def __enter__(self) -> KillProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def log(self) -> str:
        """What the command has written so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        """Whether the command is still running (it was not killed and did not exit)."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")

    def wait_for(self, text: str, timeout_s: float) -> bool:
        """Wait until ``text`` appears in the command's output (False: timed out or it exited)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            if not self.running():
                return text in self.log()
            time.sleep(0.05)
        return False

    def children(self) -> dict[int, str]:
        """The command's live descendants now: pid -> label."""
        return {pid: process_label(pid) for pid in descendants(self.pid)}

    def kill(self) -> dict[str, Any]:
        """SIGKILL the command; wait for its orphans; the report (see the module docstring)."""
        if self.result is None:
            try:
                self._proc.stdin.write("kill\n")
                self._proc.stdin.close()
            except OSError:
                pass
            line = self._proc.stdout.readline()
            self._proc.wait()
            self.result = json.loads(line) if line else {"children": [], "remaining": [],
                                                         "all_gone_s": None}
        return self.result

    def close(self) -> None:
        """Kill the command and everything it left (idempotent)."""
        if self._proc.poll() is None:
            self.kill()


# --- the benchmark --------------------------------------------------------------------


def measure_kill(cmd: list[str], ready, *, ready_timeout_s: float = 120.0,
                 settle_s: float = 1.0) -> dict[str, Any]:
    """Run ``cmd`` until it is ready, then ``settle_s`` more, SIGKILL it: the probe's report.

    ``ready``: a text its output shows once ready, or ``ready(probe) -> bool``.
    """
    check = ready if callable(ready) else (lambda probe: ready in probe.log())
    with tempfile.TemporaryDirectory(prefix="robo_orch-orphans-") as tmp, \
            KillProbe(cmd, Path(tmp) / "log") as probe:
        deadline = time.monotonic() + ready_timeout_s
        while not check(probe):
            if time.monotonic() > deadline or not probe.running():
                raise RuntimeError(f"{' '.join(cmd[3:6])} ... never became ready: "
                                   f"{probe.log()[-500:]}")
            time.sleep(0.05)
        time.sleep(settle_s)
        return probe.kill()


def _summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    gone = [r["all_gone_s"] for r in reports if r["all_gone_s"] is not None]
    per_child: dict[str, list[float]] = {}
    statuses: dict[str, list[int]] = {}
    for r in reports:
        for c in r["children"]:
            if "after_s" in c:
                per_child.setdefault(c["name"], []).append(c["after_s"])
                statuses.setdefault(c["name"], []).append(c["status"])
    return {"runs": len(reports), "children": len(reports[0]["children"]),
            "all_gone_s_median": round(statistics.median(gone), 3) if gone else None,
            "all_gone_s": gone,
            "left_behind": sum(len(r["remaining"]) for r in reports),
            "per_child_s_median": {k: round(statistics.median(v), 3)
                                   for k, v in sorted(per_child.items())},
            "exit_status": {k: sorted(set(v)) for k, v in sorted(statuses.items())}}


def kill_serial_sim(runs: int) -> dict[str, Any]:
    """``robo-orch sim robot.toml --devices serial --record``, SIGKILLed mid-mission."""
    from robo_orch.config import embedded_config_path

    reports = []
    with tempfile.TemporaryDirectory(prefix="robo_orch-orphans-") as tmp:
        for i in range(runs):
            cmd = [sys.executable, "-m", "robo_orch.cli", "sim",
                   str(embedded_config_path("robot")), "--devices", "serial",
                   "--duration", "300", "--record", str(Path(tmp) / f"run{i}.mcap")]
            reports.append(measure_kill(cmd, "waypoint"))
    return _summarize(reports)


def kill_run(runs: int) -> dict[str, Any]:
    """``robo-orch run robot.toml`` on device emulators in this process, SIGKILLed driving.

    The emulators outlive the kill, as a robot's devices do: each SIGKILL is followed
    by the next ``run`` on the same ports.
    """
    import threading

    from robo_orch.config import embedded_config_path, load_config
    from robo_orch.sim.devices import SerialDevices
    from robo_orch.sim.simulator import Simulator

    robot = str(embedded_config_path("robot"))
    config = load_config(robot, with_behaviors=False)
    sim = Simulator(config.world, config.robot, config.sim, config.safety, config.mission.start)
    devices = SerialDevices(config, sim, seed=3)
    stop = threading.Event()
    peak = [0.0]

    def physics() -> None:
        while not stop.is_set():
            devices.receive()
            devices.publish(sim.step(0.02))
            peak[0] = max(peak[0], sim.v)
            time.sleep(0.02)

    thread = threading.Thread(target=physics, daemon=True, name="emulators")
    thread.start()
    reports = []
    try:
        with tempfile.TemporaryDirectory(prefix="robo_orch-orphans-") as tmp:
            cmd = [sys.executable, "-m", "robo_orch.cli", "-q", "run", robot,
                   "--set", f'bus.run_dir="{tmp}"']
            for name, path in devices.paths().items():
                cmd += ["--set", f'drivers.{name}.port="{path}"']
            for _ in range(runs):
                peak[0] = 0.0
                reports.append(measure_kill(cmd, lambda probe: peak[0] >= 0.2, settle_s=0.5))
    finally:
        stop.set()
        thread.join(5)
        devices.close()
    return _summarize(reports)


def bench_orphans(quick: bool = False, runs: int | None = None) -> dict[str, Any]:
    """SIGKILL robo-orch with child processes ``runs`` times: time to no child left (median)."""
    runs = runs or (1 if quick else 5)
    out = {"sim_serial": kill_serial_sim(runs)}
    if not quick:
        out["run"] = kill_run(runs)
    print_orphans(out)
    return out


_TITLES = {"sim_serial": "robo-orch sim robot.toml --devices serial --record",
           "run": "robo-orch run robot.toml (devices emulated)"}


def print_orphans(out: dict[str, Any]) -> None:
    """The orphans section as a few lines."""
    for key, r in out.items():
        median = r["all_gone_s_median"]
        print(f"  SIGKILL of `{_TITLES[key]}` ({r['children']} child processes), "
              f"{r['runs']} runs: " + (f"no child left after {median * 1000:.0f} ms (median)"
                                       if median is not None else "children outlived the "
                                       "probe's timeout") + f", left behind {r['left_behind']}")
        for name, t in r["per_child_s_median"].items():
            print(f"    {name:32s} exited after {t * 1000:5.0f} ms (median), status "
                  f"{', '.join(map(str, r['exit_status'][name]))}")


def main(argv: list[str] | None = None) -> int:
    """``probe`` (the helper process) or the benchmark section alone."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["probe"]:
        parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.orphans probe")
        parser.add_argument("--log", required=True)
        parser.add_argument("--timeout", type=float, default=30.0)
        parser.add_argument("cmd", nargs=argparse.REMAINDER)
        args = parser.parse_args(argv[1:])
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return _probe(cmd, args.log, args.timeout)
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.orphans")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    out = bench_orphans(quick=args.quick, runs=None if args.quick else args.runs)
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
