"""Helpers shared by the test modules (fixtures are in tests/conftest.py).

Bus traffic (messages, joining a zmq subscriber, receiving with a deadline), the
``robo-orch`` command in a child process, and :class:`Rig`: the simulator's serial
devices with supervised driver processes, the loop left to the test or to a
``robo-orch run`` child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import hypothesis
import numpy as np
import pytest
import zmq

from robo_orch import messages as m
from robo_orch.bus import MemoryBus, MemoryHub, QoS
from robo_orch.clock import SimClock
from robo_orch.config import embedded_config_path, load_config
from robo_orch.errors import ConfigError

DEADLINE_S = 10.0  #: any single wait for bus traffic in the tests
ROBOT = str(embedded_config_path("robot"))  #: the hardware config (real drivers)

@contextlib.contextmanager
def closing_all(factory):
    """``factory`` wrapped to remember what it makes; all of it is closed on exit.

    For fixtures that hand a test a maker of rigs: ``with closing_all(Rig) as make: yield make``.
    """
    made = []

    def make(*args, **kwargs):
        made.append(factory(*args, **kwargs))
        return made[-1]

    try:
        yield make
    finally:
        for thing in made:
            thing.close()


SHARED_DATA_ENV = "ROBO_ORCH_SHARED_DATA"  #: overrides where shared_data() looks


def shared_data(name: str):
    """``../shared/data/<name>`` beside the clone (or under ``$ROBO_ORCH_SHARED_DATA``):
    other projects' data the tests read in place; skips the test when it is absent."""
    import os
    from pathlib import Path

    base = Path(os.environ.get(SHARED_DATA_ENV)
                or Path(__file__).resolve().parents[2] / "shared" / "data")
    path = base / name
    if not path.exists():
        pytest.skip(f"{path} is absent (other projects' data, kept beside the clone in "
                    f"../shared/data; set {SHARED_DATA_ENV} to point elsewhere)")
    return path


def write_config(tmp_path, text: str, name: str = "robot.toml"):
    """Write a config file (``text`` dedented) into ``tmp_path``; returns its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def config_error(path, overrides=()) -> ConfigError:
    """The :class:`ConfigError` loading the config at ``path`` (None: the demo) raises."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value


# --- bus traffic --------------------------------------------------------------------------


def vel(v: float = 0.0, w: float = 0.0) -> np.ndarray:
    """A velocity command's fixed part."""
    fixed = m.new_fixed(m.VELOCITY_COMMAND)
    fixed["v"], fixed["w"] = v, w
    return fixed


def raw(mtype, seq, *, publisher_id=77, incarnation=0, topic="cmd/vel", fixed=None, var=None):
    """The frames of one message as a foreign publisher would send them (stamp = seq)."""
    fixed = m.new_fixed(mtype) if fixed is None else fixed
    return m.encode(mtype, topic, fixed, var, seq=seq, stamp_ns=seq, publisher_id=publisher_id,
                    incarnation=incarnation)


def memory_pair(**rx_options) -> tuple[MemoryBus, MemoryBus]:
    """Two memory buses on one hub: (sender with publisher id 1, receiver with id 2)."""
    hub = MemoryHub()
    return (MemoryBus(SimClock(), publisher_id=1, hub=hub),
            MemoryBus(SimClock(), publisher_id=2, hub=hub, **rx_options))


def receive_until(sub, done, timeout_s: float = DEADLINE_S) -> list:
    """Poll (blocking between polls) until ``done(messages)``; fail at the deadline."""
    got: list = []
    end = time.monotonic() + timeout_s
    while not done(got):
        if time.monotonic() > end:
            pytest.fail(f"timed out; got {len(got)} messages, counters {sub.counters}")
        sub.wait(0.02)
        got.extend(sub.take())
    return got


def join(pub, sub, fixed=None, var=None) -> None:
    """Publish until ``sub`` hears ``pub`` (zmq slow joiner), then leave ``sub`` empty."""
    fixed = vel() if fixed is None else fixed
    end = time.monotonic() + DEADLINE_S
    while not sub.wait(0.02):
        if time.monotonic() > end:
            pytest.fail(f"subscriber never joined {sub.topic}")
        pub.publish(fixed, var)
    last = pub.publish(fixed, var)
    receive_until(sub, lambda got: any(r.header.seq == last for r in got))
    assert sub.pending == 0


def joined_commands(make_bus, qos=None):
    """A velocity command publisher on bus 1 heard by a subscriber on bus 2.

    Returns (sending bus, publisher, subscriber, the subscriber's counters once joined).
    """
    tx, rx = make_bus(1), make_bus(2)
    sub = rx.subscribe("cmd/vel", m.VELOCITY_COMMAND, *(() if qos is None else (qos,)))
    pub = tx.publisher("cmd/vel", m.VELOCITY_COMMAND)
    join(pub, sub)
    return tx, pub, sub, sub.counters.as_dict()


@contextlib.contextmanager
def foreign_publisher(run_dir, clock, topic: str, mtype, qos="queue:10", sndhwm=None):
    """A zmq bus subscribed to ``topic`` and a bare PUB socket bound at its endpoint, as
    another program would publish there; joined (the subscriber heard the socket).

    ``sndhwm``: the socket's send high-water mark (0: it loses nothing).  Yields
    (subscription, socket, the last sequence number the join sent).
    """
    from robo_orch.bus.zmq_bus import ZmqBus

    context = zmq.Context()
    try:
        with ZmqBus(clock, publisher_id=2, run_dir=run_dir, context=context) as bus:
            sub = bus.subscribe(topic, mtype, qos)
            sock = context.socket(zmq.PUB)
            sock.setsockopt(zmq.LINGER, 0)
            if sndhwm is not None:
                sock.setsockopt(zmq.SNDHWM, sndhwm)
            sock.bind(bus.endpoint(topic))
            try:
                end = time.monotonic() + DEADLINE_S
                seq = 0
                while not sub.wait(0.02):  # slow joiner: a raw PUB socket has it too
                    assert time.monotonic() < end, "never joined"
                    seq += 1
                    sock.send_multipart(raw(mtype, seq, topic=topic))
                sub.take()
                yield sub, sock, seq
            finally:
                sock.close(linger=0)
        assert not context.closed  # a context passed in is not terminated by the bus
    finally:
        context.term()


# --- soak sizes ------------------------------------------------------------------------------

SOAK_ENV = "ROBO_ORCH_SOAK"


def soaking() -> bool:
    """Whether ``ROBO_ORCH_SOAK=1`` asks for the long runs (README: Development)."""
    return os.environ.get(SOAK_ENV, "") not in ("", "0")


def soak(suite: int, full: int) -> int:
    """A soak test's size: ``suite`` in the test suite (CI time is bounded), ``full`` when
    ``ROBO_ORCH_SOAK=1`` (README: Development)."""
    return full if soaking() else suite


#: how many more examples a property test draws when soaking
SOAK_EXAMPLES = 10


def props(max_examples: int, **options) -> hypothesis.settings:
    """A property test's settings: in the suite ``max_examples`` derandomized examples, the
    same on every run; with ``ROBO_ORCH_SOAK=1`` ten times as many, random each run and
    without the example database.  A derandomized example set depends on the modules
    loaded (hypothesis draws constants from their source), so a defect can hide from
    every CI run; four did until random runs found them (README: Development)."""
    if soaking():
        return hypothesis.settings(max_examples=max_examples * SOAK_EXAMPLES, deadline=None,
                                   derandomize=False, database=None, **options)
    return hypothesis.settings(max_examples=max_examples, deadline=None, derandomize=True,
                               **options)


# --- the command line in a child process --------------------------------------------------

CLI = (sys.executable, "-m", "robo_orch.cli")


def cli(*args: str, timeout: float = 60.0, **options) -> subprocess.CompletedProcess:
    """Run ``robo-orch ARGS`` to its end, capturing its output as text."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          **options)


def start_cli(*args: str, **options) -> subprocess.Popen:
    """Start ``robo-orch ARGS`` (``subprocess.Popen`` options as given)."""
    return subprocess.Popen([*CLI, *args], **options)


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> int:
    """Send ``sig`` to a still running process, wait (kill after 30 s); its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# --- serial devices and driver processes ---------------------------------------------------


class Rig:
    """The simulator with its serial devices, stepped by the test, plus supervised drivers."""

    def __init__(self, run_dir: str, overrides: tuple[str, ...] = (), log=None,
                 commands: bool = True) -> None:
        from robo_orch.bus.zmq_bus import ZmqBus
        from robo_orch.clock import WallClock
        from robo_orch.config import load_config
        from robo_orch.hosting.supervisor import DRIVER_PUBLISHER_ID, Supervisor
        from robo_orch.messages import message_type
        from robo_orch.sim.devices import SerialDevices
        from robo_orch.sim.simulator import Simulator

        self.run_dir = run_dir
        self.config = config = load_config(ROBOT, overrides, with_behaviors=False)
        self.sim = Simulator(config.world, config.robot, config.sim, config.safety,
                             config.mission.start)
        self.devices = SerialDevices(config, self.sim, seed=3)
        self.bus = ZmqBus(WallClock(), publisher_id=1, run_dir=run_dir)
        self.supervisor = Supervisor(ready_timeout_s=30.0, **({"log": log} if log else {}))
        for i, (name, cfg) in enumerate(config.drivers.items()):
            self.supervisor.add_driver(
                name, config_path=ROBOT, overrides=overrides, run_dir=run_dir,
                publisher_id=DRIVER_PUBLISHER_ID + i, port=self.devices.paths()[name],
                actuator=cfg.cls.actuator)
        self.subs = {role: self.bus.subscribe(inp.topic, message_type(
            {"odom": "wheel_odometry", "imu": "imu", "scan": "laser_scan",
             "gps": "position_fix"}[role]), QoS.queue(1000))
            for role, inp in config.inputs.items()}
        if commands:  # the test stands in for the loop (which alone may publish these)
            self.cmd = self.bus.publisher(config.topics.command, "velocity_command")
            self.estop = self.bus.publisher(config.topics.estop, "estop")

    def run(self, seconds: float, v: float = 0.0, w: float = 0.0, dt: float = 0.02) -> None:
        """Step the simulator in real time for ``seconds``, commanding (v, w) at 50 Hz."""
        msg = vel(v, w)
        end = time.monotonic() + seconds
        next_t = time.monotonic()
        while time.monotonic() < end:
            self.cmd.publish(msg)
            self.devices.receive()
            due = self.sim.step(dt)
            self.devices.publish(due)
            next_t += dt
            time.sleep(max(0.0, next_t - time.monotonic()))
            for sub in self.subs.values():
                sub.poll()

    def run_command(self) -> list[str]:
        """``robo-orch run`` on the hardware config, its ports pointed at these emulators."""
        cmd = [*CLI, "-q", "run", ROBOT, "--set", f'bus.run_dir="{self.run_dir}"']
        for name, path in self.devices.paths().items():
            cmd += ["--set", f'drivers.{name}.port="{path}"']
        return cmd

    def close(self) -> None:
        """Stop the drivers, close the pseudo-terminals and the bus."""
        self.supervisor.shutdown()
        self.devices.close()
        self.bus.close()


class Physics:
    """A :class:`Rig`'s simulator stepped in real time on a thread while a loop drives it.

    A context manager; :attr:`peak_v` is the highest forward speed seen.
    """

    def __init__(self, rig: Rig, dt: float = 0.02) -> None:
        self.rig = rig
        self.dt = dt
        self.peak_v = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._step, daemon=True)

    def _step(self) -> None:
        rig = self.rig
        while not self._stop.is_set():
            rig.devices.receive()
            rig.devices.publish(rig.sim.step(self.dt))
            self.peak_v = max(self.peak_v, rig.sim.v)
            time.sleep(self.dt)

    def wait_driving(self, alive, speed: float = 0.2, timeout_s: float = 120.0) -> None:
        """Wait until the robot has driven at ``speed`` while ``alive()``; fail otherwise."""
        deadline = time.monotonic() + timeout_s
        while self.peak_v < speed and time.monotonic() < deadline and alive():
            time.sleep(0.05)
        assert self.peak_v >= speed, "the loop never drove the robot"

    def __enter__(self) -> Physics:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
