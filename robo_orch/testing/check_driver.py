"""``check_driver``: a plugin driver's declarations, and the driver running as a real process.

Checks, each by name:

* ``registered``: the class's ``kind`` is registered (a built-in or a
  ``robo_orch.drivers`` entry point) and names this very class (a driver given as
  ``module:Class`` or as a ``.py`` file is loaded, then its kind checked);
* ``params``: ``Params`` validates its defaults (with ``settings``), and refuses a
  value of the wrong type or out of its declared range for every key with a
  :class:`~robo_orch.errors.RoboOrchError` that names the key; extreme numbers are
  accepted or refused with a RoboOrchError, never with another exception;
* ``messages``: every message type ``output_topics`` declares is registered, and its
  type id is not claimed by another type;
* ``no_numba``: loading the driver (in a fresh interpreter) does not import numba:
  a driver process must start in a fraction of a second and stay small;
* ``publishes`` (with an ``emulator``): ``robo-orch driver KIND`` runs as its own
  process on a real pseudo-terminal whose other end is the emulator, signals ready
  (the supervisor's handshake), and at least ``messages`` well-formed messages arrive
  on its declared topics over the real bus within ``timeout_s``, each topic's in
  order (seq rising, stamps not going back);
* ``stops`` (with an ``emulator``): on SIGTERM the process leaves the device safe
  and exits with status 0.

An emulator is any object with ``drain() -> bytes`` (what the device sent since the
last call) and ``host_bytes(data)`` (what the driver wrote), as the simulator's
:class:`~robo_orch.sim.emulators.base.DeviceEmulator` has; ``feed(t_s)`` makes it
produce the device's output for time ``t_s`` (seconds since the start).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from robo_orch import lifeline, registry, schema
from robo_orch.bus import QoS, make_bus
from robo_orch.clock import make_clock
from robo_orch.driver import Driver
from robo_orch.errors import RoboOrchError
from robo_orch.messages import message_type
from robo_orch.testing.check_report import CheckReport

#: the supervisor's ready handshake (robo_orch.hosting.driver_host.READY_FD_ENV; the
#: hosting layer sits above this one)
READY_FD_ENV = "ROBO_ORCH_READY_FD"
_SOURCE = "check_driver"
_PREFIX = "drivers.checked"
_FRAME_ID = "checked"
_NO_NUMBA = ("import sys; from robo_orch import registry; registry.load(registry.DRIVERS, "
             "sys.argv[1]); import json; print(json.dumps(sorted(m for m in sys.modules "
             "if m.split('.')[0] == 'numba')))")


def _resolve(driver: type | str) -> tuple[str, type | None, str | None]:
    """(the name to load it by, the class or None, a problem with its registration or None)."""
    if isinstance(driver, str):
        try:
            cls = registry.load(registry.DRIVERS, driver)
        except RoboOrchError as err:
            return driver, None, str(err)
        if driver in registry.names(registry.DRIVERS):
            return driver, cls, (None if cls.kind == driver else
                                 f"registered as '{driver}' but its kind is '{cls.kind}'")
        return driver, cls, _registered(cls)  # a module:Class or a .py file
    if not (isinstance(driver, type) and issubclass(driver, Driver)):
        return repr(driver), None, f"{driver!r} is not a robo_orch.driver.Driver subclass"
    problem = _registered(driver)
    return (driver.kind if problem is None else f"{driver.__module__}:{driver.__qualname__}",
            driver, problem)


def _registered(cls: type) -> str | None:
    """None if the class's kind is registered to the class itself."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str):
        return "the class sets no 'kind' (its registry name)"
    try:
        found = registry.load(registry.DRIVERS, kind)
    except RoboOrchError as err:
        return (f"kind '{kind}' is not registered ({err}); declare an entry point in the "
                f"'{registry.DRIVERS}' group")
    if found is not cls:
        return (f"kind '{kind}' is registered to {found.__module__}.{found.__qualname__}, "
                "not to this class")
    return None


def _bad_values(f: dataclasses.Field, hint: Any) -> list[Any]:
    """Values :func:`robo_orch.schema.build` must refuse for field ``f``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: check X
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else Any
    origin = typing.get_origin(hint) or hint
    wrong = {bool: "yes", int: "one", float: "fast", str: 12345, tuple: 7, list: 7, dict: 5}
    out = [wrong[origin]] if origin in wrong else []
    meta = f.metadata
    for bound, step in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
        limit = meta.get(bound)
        if limit is not None and origin in (int, float):
            beyond = limit + step if step else limit
            out.append(int(beyond) if origin is int and float(beyond).is_integer() else beyond)
    if meta.get("choices"):
        out.append(f"not one of {len(meta['choices'])} choices")
    return out


def _probes(hint: Any) -> list[Any]:
    """Extreme values of a number field: a validation may accept them or refuse them with a
    RoboOrchError, never fail otherwise (a ``math.log`` of a negative rate)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else Any
    return [-10**12, 10**12] if hint is int else [-1e12, 1e12] if hint is float else []


def _check_params(cls: type, settings: Mapping[str, Any]) -> str | None:
    params_cls = getattr(cls, "Params", None)
    if not dataclasses.is_dataclass(params_cls):
        return "'Params' is not a dataclass"
    try:
        schema.build(params_cls, dict(settings), source=_SOURCE, prefix=_PREFIX)
    except RoboOrchError as err:
        return f"the defaults (with settings {dict(settings)}) do not validate: {err}"
    hints = typing.get_type_hints(params_cls)
    for f in dataclasses.fields(params_cls):
        key = f"{_PREFIX}.{f.name}"
        hint = hints.get(f.name, Any)
        bad = _bad_values(f, hint)
        for value in [*bad, *_probes(hint)]:
            must_refuse = value in bad
            try:
                schema.build(params_cls, {**settings, f.name: value}, source=_SOURCE,
                             prefix=_PREFIX)
            except RoboOrchError as err:
                if must_refuse and key not in str(err):
                    return (f"{f.name} = {value!r}: refused, but the error does not name "
                            f"{key}: {err}")
                continue
            except Exception as err:  # noqa: BLE001 -- the finding
                return (f"{f.name} = {value!r}: raised {type(err).__name__} instead of a "
                        f"RoboOrchError naming {key}: {err}")
            if must_refuse:
                return f"{f.name} = {value!r} was accepted"
    return None


def _check_messages(cls: type, params: Any) -> str | None:
    if params is None:
        return "no Params instance to ask output_topics with (the params check says why)"
    topics = cls.output_topics(params)
    for topic, name in topics.items():
        mtype = message_type(name)  # MessageError with a did-you-mean if unknown
        if message_type(mtype.type_id) is not mtype:
            return (f"topic {topic}: type id {mtype.type_id} of {name!r} belongs to "
                    f"{message_type(mtype.type_id).name!r}")
    return None


def _check_no_numba(name: str) -> str | None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", _NO_NUMBA, name], capture_output=True,
                          text=True, timeout=120, env=env)
    if proc.returncode != 0:
        return f"loading {name} in a fresh interpreter failed: {proc.stderr.strip()[-300:]}"
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    return f"loading {name} imports {', '.join(loaded)}" if loaded else None


class _Pty:
    """A raw pseudo-terminal: the checker holds the master end, the driver opens :attr:`path`."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.master, data)

    def read(self) -> bytes:
        try:
            return os.read(self.master, 65536)
        except OSError:  # nothing waiting, or no reader yet
            return b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def _setting(value: Any) -> str:
    """A ``--set`` value in TOML (JSON's numbers, strings, booleans and lists are TOML)."""
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


class _Run:
    """One driver process against the emulator, and what came of it."""

    def __init__(self, name: str, topics: dict[str, str], settings: Mapping[str, Any],
                 emulator: Any, feed: Callable[[float], None], period_s: float,
                 run_dir: str) -> None:
        self.emulator, self.feed, self.period_s = emulator, feed, period_s
        self.pty = _Pty()
        self.bus = make_bus("zmq", make_clock("wall"), publisher_id=0xC4EC, run_dir=run_dir)
        self.subs = [self.bus.subscribe(t, message_type(m), QoS.queue(4096))
                     for t, m in topics.items()]
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in close())
        argv = [sys.executable, "-m", "robo_orch.cli", "driver", name, "--port", self.pty.path,
                "--run-dir", run_dir]
        if name not in registry.names(registry.DRIVERS):
            # a driver named by file or module:Class: its name is no frame id
            argv += ["--set", f"frame_id={_setting(_FRAME_ID)}"]
        for key, value in settings.items():
            argv += ["--set", f"{key}={_setting(value)}"]
        ready_r, ready_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
                   **{READY_FD_ENV: str(ready_w)})
        try:
            self.proc = lifeline.popen(argv, env=env, pass_fds=(ready_w,),
                                       stdout=subprocess.DEVNULL, stderr=self.log)
        finally:
            os.close(ready_w)
        self.ready_fd = ready_r
        self.t0 = time.monotonic()
        self.received = 0
        self.malformed = 0
        #: the first message out of order (seq or stamp going backwards on a topic)
        self.disorder: str | None = None
        self._last: dict[str, tuple[int, int]] = {}

    def step(self) -> None:
        """Feed the emulator, move bytes both ways, count messages; sleeps one period."""
        host = self.pty.read()
        if host:
            self.emulator.host_bytes(host)
        self.feed(time.monotonic() - self.t0)
        out = self.emulator.drain()
        if out:
            self.pty.write(out)
        for sub in self.subs:
            if sub.poll():
                for msg in sub.take():
                    self._order(sub.topic, msg.header)
        self.malformed = sum(sub.counters.malformed for sub in self.subs)
        time.sleep(self.period_s)

    def _order(self, topic: str, header: Any) -> None:
        """Count one message; note the first one whose seq or stamp goes backwards."""
        self.received += 1
        last = self._last.get(topic)
        if last is not None and self.disorder is None and (
                header.seq <= last[0] or header.stamp_ns < last[1]):
            self.disorder = (f"{topic}: seq {last[0]} -> {header.seq}, stamp {last[1]} -> "
                             f"{header.stamp_ns} ns")
        self._last[topic] = (header.seq, header.stamp_ns)

    def wait_ready(self, deadline: float) -> str | None:
        """None once the process said it is ready; else what went wrong."""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"the driver exited with status {self.proc.returncode}: {self.last_log()}"
            if select.select([self.ready_fd], [], [], 0)[0]:
                line = os.read(self.ready_fd, 4096)
                if not line:
                    return f"the driver closed the ready pipe without a word: {self.last_log()}"
                try:
                    pid = json.loads(line).get("pid")
                except (ValueError, AttributeError):
                    pid = None
                if pid != self.proc.pid:
                    return (f"the ready line {line[:200]!r} does not name the process "
                            f"{self.proc.pid}")
                return None
            self.step()
        return f"no ready signal within the time-out: {self.last_log()}"

    def last_log(self) -> str:
        self.log.flush()
        self.log.seek(0)
        lines = [x for x in self.log.read().splitlines() if x.strip()]
        return lines[-1].strip()[:300] if lines else "(no output)"

    def stop(self, timeout_s: float) -> str | None:
        if self.proc.poll() is not None:
            return f"the driver had already exited with status {self.proc.returncode}"
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.step()  # the device answers while the driver stops it
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            return f"still running {timeout_s:g} s after SIGTERM (killed)"
        if self.proc.returncode != 0:
            return f"exited with status {self.proc.returncode} on SIGTERM: {self.last_log()}"
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.ready_fd)
        self.bus.close()
        self.pty.close()
        self.log.close()


def check_driver(driver: type | str, *, settings: Mapping[str, Any] | None = None,
                 emulator: Any = None, feed: Callable[[float], None] | None = None,
                 messages: int = 5, timeout_s: float = 30.0, stop_timeout_s: float = 15.0,
                 period_s: float = 0.01, run_dir: str | None = None,
                 raise_on_failure: bool = True) -> CheckReport:
    """Check a driver (module docstring); the report, or :class:`CheckFailed`.

    ``driver``: the class, or its registered name.  ``settings``: its own parameters
    (``[drivers.NAME]`` keys other than the shared ones) the checks use.  With an
    ``emulator`` and its ``feed``, the driver also runs as a process: ``messages``
    must arrive within ``timeout_s`` of its start, and it must exit within
    ``stop_timeout_s`` of SIGTERM; ``run_dir`` holds its bus sockets (default: a new
    temporary folder).
    """
    settings = dict(settings or {})
    name, cls, problem = _resolve(driver)
    report = CheckReport(f"check_driver({name})")
    report.run("registered", lambda: problem)
    if cls is None:
        return report.raise_if_failed() if raise_on_failure else report
    report.run("params", lambda: _check_params(cls, settings))
    params: Any = None
    with contextlib.suppress(Exception):  # (the params check said why)
        params = schema.build(cls.Params, settings, source=_SOURCE, prefix=_PREFIX)
    unchecked = params
    if unchecked is None:  # still ask for the topics of the defaults, unvalidated
        with contextlib.suppress(Exception):
            unchecked = cls.Params(**settings)
    report.run("messages", lambda: _check_messages(cls, unchecked))
    report.run("no_numba", lambda: _check_no_numba(name))
    if emulator is None:
        report.skipped["publishes"] = report.skipped["stops"] = "no emulator given"
    elif params is None or report.results["messages"] is not None:
        report.skipped["publishes"] = report.skipped["stops"] = "its declarations failed"
    else:
        feed = feed or emulator.update
        topics = cls.output_topics(params)
        with contextlib.ExitStack() as stack:
            if run_dir is None:
                run_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="check-"))
            run = _Run(name, topics, settings, emulator, feed, period_s, run_dir)
            stack.callback(run.close)

            def publishes() -> str | None:
                if not topics:
                    return "output_topics declares no topic to receive messages on"
                deadline = time.monotonic() + timeout_s
                problem = run.wait_ready(deadline)
                if problem:
                    return problem
                while run.received < messages and time.monotonic() < deadline:
                    if run.proc.poll() is not None:
                        return f"the driver exited with status {run.proc.returncode}: " \
                               f"{run.last_log()}"
                    run.step()
                if run.disorder:
                    return f"messages out of order: {run.disorder}"
                if run.malformed:
                    return f"{run.malformed} malformed message(s) on {', '.join(topics)}"
                if run.received < messages:
                    return (f"{run.received} of {messages} messages on {', '.join(topics)} "
                            f"within {timeout_s:g} s; the driver said: {run.last_log()}")
                return None

            report.run("publishes", publishes)
            report.run("stops", lambda: run.stop(stop_timeout_s))
    return report.raise_if_failed() if raise_on_failure else report
