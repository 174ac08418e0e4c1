"""Starts driver processes, waits until each is ready, restarts crashed ones, stops them in order.

Each driver runs in its own process (``python -m robo_orch.hosting.driver_host``).  A
child reports readiness by writing one JSON line to a pipe whose descriptor it
finds in ``ROBO_ORCH_READY_FD``; its stderr is forwarded line by line to the
supervisor's log, so every line says which process wrote it.

A driver that dies while the robot runs is restarted with exponential back-off
(its topic goes stale meanwhile, and the loop holds the robot at a safe stop).
On shutdown the caller stops the loop first; :meth:`Supervisor.shutdown` then
stops the actuator drivers (which command zero on their way out) and after
them everything else.  Every process is started through :mod:`robo_orch.lifeline`,
so it also stops (SIGTERM, its normal stop path) when this process dies, SIGKILL
included.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from robo_orch import lifeline, logs
from robo_orch.errors import BackendTimeout
from robo_orch.hosting.driver_host import READY_FD_ENV, DeviceError

#: driver processes get publisher ids from here on (the loop is 1, the simulator 2)
DRIVER_PUBLISHER_ID = 10
#: first restart delay, s; doubles per consecutive crash up to MAX_BACKOFF_S
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
#: a process up this long counts as healthy again: the back-off starts over
HEALTHY_AFTER_S = 30.0


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    argv: list[str]
    actuator: bool = False
    restart: bool = True
    proc: subprocess.Popen | None = None
    ready: bool = False
    info: dict = field(default_factory=dict)
    starts: int = 0
    restarts: int = 0
    started_at: float = 0.0
    next_start: float | None = None
    backoff_s: float = FIRST_BACKOFF_S
    last_line: str = ""
    _ready_fd: int | None = None


class Supervisor:
    """Owns the driver processes of one run."""

    def __init__(self, *, log: TextIO | None = None, ready_timeout_s: float = 15.0,
                 poll_s: float = 0.1) -> None:
        self.log = log if log is not None else sys.stderr  # at run time: a LineLog (logs.py)
        self.ready_timeout_s = ready_timeout_s
        self.poll_s = poll_s
        self.children: dict[str, Child] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def say(self, text: str) -> None:
        """One log line from the supervisor itself."""
        print(f"robo-orch supervisor: {text}", file=self.log, flush=True)

    def add(self, name: str, argv: list[str], *, actuator: bool = False,
            restart: bool = True) -> Child:
        """Register a process; ``argv`` may contain ``{incarnation}``, filled in per start."""
        child = Child(name=name, argv=list(argv), actuator=actuator, restart=restart)
        self.children[name] = child
        return child

    def add_driver(self, name: str, *, config_path: str, overrides: tuple[str, ...],
                   run_dir: str, publisher_id: int, port: str | None = None,
                   actuator: bool = False, restart: bool = True) -> Child:
        """Register the driver ``[drivers.NAME]`` of a config file."""
        argv = [sys.executable, "-m", "robo_orch.hosting.driver_host", "--config", config_path,
                "--name", name, "--run-dir", run_dir, "--publisher-id", str(publisher_id),
                "--incarnation", "{incarnation}"]
        for text in overrides:
            argv += ["--set", text]
        if port:
            argv += ["--port", port]
        return self.add(name, argv, actuator=actuator, restart=restart)

    # --- starting ------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        read_fd, write_fd = os.pipe()
        # the child's lines are stamped here, when forwarded (robo_orch.logs)
        env = dict(os.environ, **{READY_FD_ENV: str(write_fd), logs.FORWARDED_ENV: "1"})
        argv = [a.replace("{incarnation}", str(child.starts)) for a in child.argv]
        # the child dies with this process, even on SIGKILL (robo_orch.lifeline)
        child.proc = lifeline.popen(argv, env=env, pass_fds=(write_fd,),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=False)
        os.close(write_fd)
        child._ready_fd = read_fd
        child.ready = False
        child.starts += 1
        child.started_at = time.monotonic()
        child.next_start = None
        threading.Thread(target=self._forward, args=(child, child.proc), daemon=True,
                         name=f"log-{child.name}").start()

    def _forward(self, child: Child, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                child.last_line = line
                print(line, file=self.log, flush=True)

    def _check_ready(self, child: Child, timeout_s: float = 0.0) -> bool:
        fd = child._ready_fd
        if fd is None:
            return child.ready
        readable, _, _ = select.select([fd], [], [], timeout_s)
        if not readable:
            return False
        data = os.read(fd, 65536)
        os.close(fd)
        child._ready_fd = None
        if not data:  # closed without a word: the process is exiting
            return False
        try:
            child.info = json.loads(data.decode().splitlines()[0])
        except (ValueError, IndexError):
            child.info = {}
        child.ready = True
        return True

    def start(self) -> None:
        """Start every process and wait until all are ready (:meth:`launch`, :meth:`wait_ready`)."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start every process without waiting (the caller can load kernels meanwhile)."""
        for child in self.children.values():
            if child.proc is None:
                self._spawn(child)

    def wait_ready(self) -> None:
        """Wait until every process reported ready, then watch them.

        A process that exits before it is ready is a start-up error
        (:class:`DeviceError`, with the process's own last line), as is one that
        stays silent beyond ``ready_timeout_s`` (:class:`BackendTimeout`).
        """
        deadline = time.monotonic() + self.ready_timeout_s
        pending = dict(self.children)
        try:
            while pending:
                for name, child in list(pending.items()):
                    if self._check_ready(child, 0.02):
                        self.say(f"{name} ready (pid {child.proc.pid})")
                        del pending[name]
                    elif child.proc.poll() is not None:
                        child.proc.wait()
                        time.sleep(0.05)  # let the forwarder catch the last line
                        raise DeviceError(child.last_line or f"driver '{name}' exited with "
                                          f"status {child.proc.returncode} before it was ready")
                if time.monotonic() > deadline:
                    raise BackendTimeout(f"driver(s) {', '.join(pending)} not ready after "
                                         f"{self.ready_timeout_s:g} s")
        except BaseException:
            self.shutdown()
            raise
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="supervisor")
        self._watcher.start()

    # --- watching ------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_s):
            with self._lock:
                for child in self.children.values():
                    self._check_child(child)

    def _check_child(self, child: Child) -> None:
        now = time.monotonic()
        proc = child.proc
        if child.next_start is not None:
            if now >= child.next_start:
                child.restarts += 1
                self.say(f"restarting {child.name} (restart {child.restarts})")
                self._spawn(child)
            return
        if proc is None:
            return
        if not child.ready and self._check_ready(child):
            self.say(f"{child.name} ready again (pid {proc.pid})")
        code = proc.poll()
        if code is None:
            if child.ready and now - child.started_at > HEALTHY_AFTER_S:
                child.backoff_s = FIRST_BACKOFF_S
            return
        if child._ready_fd is not None:
            os.close(child._ready_fd)
            child._ready_fd = None
        if not child.restart:
            self.say(f"{child.name} exited with status {code}; not restarting (restart = false)")
            child.proc = None
            return
        delay = child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)
        child.next_start = now + delay
        self.say(f"{child.name} exited with status {code}; restarting in {delay:g} s")

    def alive(self, name: str) -> bool:
        """Whether the named process is running now."""
        proc = self.children[name].proc
        return proc is not None and proc.poll() is None

    # --- stopping ------------------------------------------------------------------

    def stop_watching(self) -> None:
        """Stop restarting processes that exit (the first step of :meth:`shutdown`)."""
        self._stopping.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=2.0)

    def shutdown(self, timeout_s: float = 3.0) -> None:
        """Stop the actuator drivers first, then the others; idempotent."""
        self.stop_watching()
        with self._lock:
            actuators = [c for c in self.children.values() if c.actuator]
            others = [c for c in self.children.values() if not c.actuator]
            for group in (actuators, others):
                self._stop_group(group, timeout_s)

    def _stop_group(self, group: list[Child], timeout_s: float) -> None:
        live = [c for c in group if c.proc is not None and c.proc.poll() is None]
        for child in live:
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in live:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {timeout_s:g} s; killing it")
                child.proc.kill()
                child.proc.wait()
        for child in group:
            if child._ready_fd is not None:
                os.close(child._ready_fd)
                child._ready_fd = None
