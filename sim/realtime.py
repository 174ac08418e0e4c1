"""Realtime backend: the simulator in its own process, talking ZeroMQ at wall-clock rate.

The parent (the loop's process) starts ``python -m robo_orch.sim.realtime`` with the same
config file and overrides, waits until the child's first status message arrives,
and from then on sees sensor data exactly as it would from hardware drivers.
The child runs its physics on the same :class:`FixedRateLoop`, applies the
newest command each step (with the actuator-side limits, e-stop and deadman),
and exits when told to (SIGTERM), or when its parent disappears (SIGTERM through
:mod:`robo_orch.lifeline`, and the parent's pid checked every step).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from robo_orch import lifeline, rundir
from robo_orch.backend import GroundTruth, SimBackend
from robo_orch.bus import Bus, QoS, make_bus
from robo_orch.clock import Clock, WallClock, make_clock
from robo_orch.config import network
from robo_orch.errors import BackendError, BackendTimeout, ConfigError

LOOP_PUBLISHER_ID = 1
SIM_PUBLISHER_ID = 2
#: with --devices serial the simulator writes {driver name: pty path} here, in run_dir
DEVICES_FILE = "devices.json"


class RealtimeBackend(SimBackend):
    """The simulator as a separate process; all traffic over ZeroMQ."""

    kind = "realtime"
    device_modes = ("sim", "serial")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.proc: subprocess.Popen | None = None
        self.clock: Clock | None = None
        # a private run dir (created 0700, or an existing one checked), and the
        # per-user index checked, before anything starts
        self.run_dir = rundir.ensure_run_dir(self.config.bus.run_dir)
        self._own_run_dir = not self.config.bus.run_dir
        with contextlib.suppress(rundir.RunDirUnavailable):  # discovery warns and goes on
            rundir.ensure_user_base()
        self._status_sub = None
        self._last_status = None
        self._truth = GroundTruth()
        self._log_path = Path(self.run_dir) / "sim.log"
        #: the driver processes (``--devices serial``)
        self.supervisor = None

    def make_clock(self) -> Clock:
        self.clock = make_clock("wall")
        return self.clock

    def make_bus(self, clock: Clock) -> Bus:
        if self.config.bus.backend != "zmq":
            raise ConfigError(self.config.source, "bus.backend",
                              f"the realtime simulator runs in another process and needs the "
                              f"'zmq' bus, not '{self.config.bus.backend}' (or use --lockstep)")
        return make_bus("zmq", clock, publisher_id=LOOP_PUBLISHER_ID, run_dir=self.run_dir,
                        hwm=self.config.bus.hwm, **network.bus_options(self.config))

    def launch(self) -> None:
        """Spawn the simulator process; it loads its kernels while the loop loads its own."""
        cmd = [sys.executable, "-m", "robo_orch.sim.realtime", "--run-dir", self.run_dir,
               "--seed", str(self.seed), "--parent-pid", str(os.getpid())]
        if self.config_path:
            cmd += ["--config", self.config_path]
        for text in self.overrides:
            cmd += ["--set", text]
        if self.devices == "serial":
            cmd += ["--devices", "serial"]
        log = open(self._log_path, "wb")  # noqa: SIM115 (kept open for the child's lifetime)
        # the simulator process dies with this one, even on SIGKILL (robo_orch.lifeline)
        self.proc = lifeline.popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        log.close()

    def start(self, bus: Bus) -> None:
        from robo_orch.sim.status import SIM_STATUS, STATUS_TOPIC

        self._status_sub = bus.subscribe(STATUS_TOPIC, SIM_STATUS, QoS.latest())
        if self.proc is None:
            self.launch()
        deadline = self.clock.now_ns() + int(self.config.sim.ready_timeout_s * 1e9)
        while self.clock.now_ns() < deadline:
            if self._status_sub.wait(0.05):
                self._read_status()
                if self.devices == "serial":
                    self._start_drivers()
                return
            if self.proc.poll() is not None:
                raise BackendError(f"simulator process exited with status {self.proc.returncode}"
                                   f": {self._log_tail()}")
        self.stop()
        raise BackendTimeout(f"simulator process not ready after "
                             f"{self.config.sim.ready_timeout_s:g} s: {self._log_tail()}")

    def topics(self) -> dict[str, str]:
        """The simulator process's status (on top of the config's topics)."""
        from robo_orch.sim.status import SIM_STATUS, STATUS_TOPIC

        return {STATUS_TOPIC: SIM_STATUS.name}

    def _start_drivers(self) -> None:
        """Start the real driver processes on the simulator's pseudo-terminals."""
        from robo_orch.hosting.supervisor import DRIVER_PUBLISHER_ID, Supervisor

        paths = json.loads((Path(self.run_dir) / DEVICES_FILE).read_text())
        self.supervisor = Supervisor(ready_timeout_s=self.config.sim.ready_timeout_s)
        for i, (name, cfg) in enumerate(self.config.drivers.items()):
            self.supervisor.add_driver(
                name, config_path=self.config_path, overrides=self.overrides,
                run_dir=self.run_dir, publisher_id=DRIVER_PUBLISHER_ID + i, port=paths[name],
                actuator=cfg.cls.actuator, restart=cfg.spec.restart)
        self.supervisor.start()

    def _log_tail(self) -> str:
        try:
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(no output)"

    def _read_status(self) -> None:
        from robo_orch.sim.status import inputs_from_status

        self._status_sub.poll()
        self._last_status = self._status_sub.latest() or self._last_status
        if self._last_status is None:
            return
        f = self._last_status.fixed
        self._truth = GroundTruth(pose=(float(f["x"]), float(f["y"]), float(f["yaw"])),
                                  sim_time_s=float(f["t"]), distance_m=float(f["distance"]),
                                  min_clearance_m=float(f["min_clearance"]),
                                  collisions=int(f["collisions"]),
                                  deadman_stops=int(f["deadman_stops"]),
                                  latency_us=(float(f["latency_p50_us"]),
                                              float(f["latency_p99_us"]),
                                              float(f["latency_max_us"])),
                                  inputs=inputs_from_status(f))

    def pre_tick(self, tick: int, now_ns: int) -> None:
        # drain the status stream every tick: left unread it would fill the socket's
        # high-water mark and the final ground truth would be stale
        if self._status_sub.poll():
            self._last_status = self._status_sub.latest() or self._last_status
        if tick % 25 == 0 and self.proc.poll() is not None:
            raise BackendError(f"simulator process died with status {self.proc.returncode}: "
                               f"{self._log_tail()}")

    def truth(self) -> GroundTruth:
        if self._status_sub is not None:
            self._read_status()
        return self._truth

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.shutdown()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


class ListeningClock(WallClock):
    """A wall clock whose waits wake on a subscription's messages to handle them.

    ``wait(timeout_s) -> bool`` blocks until a message is buffered; ``on_message()``
    must consume it (or the next wait returns at once).
    """

    def __init__(self, wait, on_message) -> None:
        self._wait = wait
        self._on_message = on_message

    def sleep_until_ns(self, deadline_ns: int, spin_ns: int = 0) -> int:
        read = self._read
        now = read()
        while deadline_ns - spin_ns - now > 0:
            if self._wait((deadline_ns - spin_ns - now) * 1e-9):
                self._on_message()
            now = read()
        while now < deadline_ns:
            now = read()
        return now


class _SimTicks:
    """Tick handler of the simulator process: receive, step, publish."""

    def __init__(self, node, period_s: float, parent_pid: int) -> None:
        self.node = node
        self.period_s = period_s
        self.parent_pid = parent_pid
        self.last_tick = None
        self.now_ns = 0
        self.due = 0
        self.dt_s = 0.0

    def pre_tick(self, tick: int, now_ns: int) -> None:
        self.now_ns = now_ns

    def sense(self, tick: int, now_ns: int) -> None:
        self.node.receive(now_ns)

    def plan(self, tick: int) -> None:
        if self.last_tick is None:
            self.due = self.node.ALL_SENSORS
            self.dt_s = 0.0
        else:  # after skipped slots, simulated time keeps up with the wall clock
            self.dt_s = (tick - self.last_tick) * self.period_s
            self.due = self.node.sim.step(self.dt_s)
        self.last_tick = tick

    def act(self, tick: int) -> bool:
        node = self.node
        node.publish(self.due, self.now_ns)
        for joints in node.joints:  # each joints command space's device: command -> state
            joints.step(self.dt_s, self.now_ns, estop=node.sim.estop)
        node.publish_status(self.now_ns)
        return os.getppid() == self.parent_pid


def main(argv: list[str] | None = None) -> int:
    """Entry point of the simulator process."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.sim.realtime")
    parser.add_argument("--config")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--parent-pid", type=int, default=os.getppid())
    parser.add_argument("--devices", choices=("sim", "serial"), default="sim")
    args = parser.parse_args(argv)
    lifeline.attach()  # SIGTERM when the loop's process dies, even by SIGKILL

    from robo_orch.config import load_config
    from robo_orch.runtime.loop import FixedRateLoop
    from robo_orch.sim.node import SimNode
    from robo_orch.sim.simulator import make_simulator

    config = load_config(args.config, args.set, with_behaviors=False)
    clock = make_clock("wall")
    bus = make_bus("zmq", clock, publisher_id=SIM_PUBLISHER_ID, run_dir=args.run_dir,
                   hwm=config.bus.hwm, **network.bus_options(config))
    sim = make_simulator(config.world, config.robot, config.sim, config.safety,
                         config.mission.start)
    seed = config.sim.seed if args.seed is None else args.seed
    sim.reset(seed)
    devices = None
    if args.devices == "serial":
        from robo_orch.sim.devices import SerialDevices

        devices = SerialDevices(config, sim, seed)
        # the parent reads this before it starts the drivers: write it atomically
        tmp = Path(args.run_dir) / "devices.json.tmp"
        tmp.write_text(json.dumps(devices.paths()))
        tmp.replace(Path(args.run_dir) / DEVICES_FILE)
    node = SimNode(config, sim, bus, devices)
    rate = config.sim.physics_hz or config.loop.rate_hz
    # between physics steps, apply commands the moment they arrive, as a motor
    # controller does (and so measure their latency on arrival, not at the next step)
    listening = ListeningClock(node.cmd_sub.wait, lambda: node.receive(clock.now_ns()))
    loop = FixedRateLoop(listening, int(1e9 / rate), spin_ns=int(config.loop.spin_us * 1e3))
    lifeline.on_terminate(loop.stop)  # also when the loop's process dies (robo_orch.lifeline)
    # Ctrl-C in a terminal reaches the whole process group: the parent ends the run
    # and then stops this process with SIGTERM, so a dying simulator is never mistaken
    # for a crash in between
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        loop.run(_SimTicks(node, 1.0 / rate, args.parent_pid))
    finally:
        if devices is not None:
            devices.close()
        bus.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
