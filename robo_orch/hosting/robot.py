"""``robo-orch run``: the control loop on a real robot.

The loop runs on the wall clock and the ZeroMQ bus, consuming whatever the
hardware drivers publish on the configured input topics.  Until drivers publish,
every input is stale, so the robot is held at a controlled stop.

The run directory (``bus.run_dir``, default the per-user directory of
:mod:`robo_orch.rundir`) must be private; the loop refuses to start while another
live process holds its command or e-stop topic, binds its control endpoint there
(:mod:`robo_orch.control`), and exits 130 after SIGINT, 143 after SIGTERM.  Under
systemd it reports ready, alive and stopping (:mod:`robo_orch.runtime.heartbeat`).
"""

from __future__ import annotations

import sys
import time

from robo_orch import rundir
from robo_orch.bus import make_bus
from robo_orch.clock import make_clock
from robo_orch.config import load_config, network, start_warnings
from robo_orch.missions.session import loop_health_line, trigger_options
from robo_orch.rt import apply_realtime
from robo_orch.runtime.controller import Controller
from robo_orch.runtime.heartbeat import Heartbeat
from robo_orch.runtime.loop import FixedRateLoop
from robo_orch.runtime.progress import ProgressLine
from robo_orch.runtime.signals import StopSignals
from robo_orch.runtime.stats import TickStats


def run_hardware(config_path: str, overrides: tuple[str, ...], *, duration_s: float | None = None,
                 quiet: bool = False, on_start=None) -> int:
    """Run the loop until SIGINT/SIGTERM (or ``duration_s``); returns the exit status.

    0 after ``duration_s``, 130 after SIGINT, 143 after SIGTERM.
    ``on_start(controller)`` runs once the controller is built (a recorder subscribes there).
    """
    with StopSignals() as signals:
        return _run(config_path, overrides, signals, duration_s=duration_s, quiet=quiet,
                    on_start=on_start)


def _run(config_path: str, overrides: tuple[str, ...], signals: StopSignals, *,
         duration_s: float | None, quiet: bool, on_start) -> int:
    from robo_orch.control import endpoint as control

    config = load_config(config_path, overrides)
    # allow_blind, unreachable speeds, bus.insecure: one line each at every start
    insecure = network.insecure_warning(config)
    for line in [*start_warnings(config), *([insecure] if insecure else [])]:
        print(line, file=sys.stderr, flush=True)
    clock = make_clock("wall")
    run_dir = rundir.ensure_run_dir(config.bus.run_dir or rundir.default_run_dir())
    # ZeroMQ's I/O threads get the loop's real-time priority (where permitted)
    bus = make_bus("zmq", clock, publisher_id=1, run_dir=run_dir, hwm=config.bus.hwm,
                   realtime_priority=config.loop.realtime_priority,
                   **network.bus_options(config))
    try:
        # before any driver starts: nobody else may publish the command or the e-stop
        for topic in (config.topics.command, config.topics.estop):
            bus.check_free(topic)
    except BaseException:
        bus.close()
        raise
    if not quiet:
        print(f"robo-orch: bus sockets in {run_dir} (drivers use the same bus.run_dir)",
              file=sys.stderr)
    supervisor = _supervise(config, config_path, overrides, run_dir)
    stats = TickStats()
    status = 0
    try:
        if supervisor is not None:
            supervisor.launch()  # drivers open their ports while the kernels load
        controller = Controller(config, bus,
                                progress=None if quiet else ProgressLine(sys.stderr),
                                stats=stats,
                                trace_rows=int(600 * config.loop.rate_hz))  # last 10 minutes
        # a robot has no mission time limit; only --duration ends the run early
        controller.time_limit_s = duration_s if duration_s else float("inf")
        control.attach(controller, bus, control.estop_feedback_topics(config),
                       remote=network.control_address(config))
        controller.warmup()
        if supervisor is not None:
            supervisor.wait_ready()
        if on_start is not None:
            on_start(controller)
        missing = controller.sensing.wait_for_inputs(config.loop.input_wait_s)
        if missing and not quiet:
            print(f"robo-orch: waiting for {', '.join(missing)}: the robot holds still until "
                  "every required input is fresh", file=sys.stderr)
        apply_realtime(config.loop.realtime_priority, config.loop.cpu,
                       config.loop.lock_memory, config.loop.timer_slack_ns)
        loop = FixedRateLoop(clock, int(round(1e9 / config.loop.rate_hz)),
                             overrun=config.loop.overrun, spin_ns=int(config.loop.spin_us * 1e3),
                             gc_mode=config.loop.gc_mode, stats=stats,
                             **trigger_options(config, controller))
        signals.attach(loop)
        t0 = time.perf_counter()
        # under systemd (Type=notify): READY after the first tick, WATCHDOG while ticks
        # complete, STOPPING on the way out (nothing without NOTIFY_SOCKET)
        heartbeat = Heartbeat(stats, loop.period_ns * 1e-9).start()
        try:
            loop.run(controller)
        finally:
            heartbeat.stop(f"stopping after {stats.ticks} ticks")
            controller.publish_stop()
        status = signals.exit_status or 0
        if not quiet:
            health = loop_health_line(stats, loop.period_ns)
            print(f"\nran {stats.ticks} ticks in {time.perf_counter() - t0:.1f} s"
                  f"{', ' + health if health else ', no overruns'}", file=sys.stderr)
    finally:
        # the loop has stopped and said so (a zero command): now the actuators, then the rest
        if supervisor is not None:
            supervisor.shutdown()
        bus.close()
    return status


def _supervise(config, config_path: str, overrides: tuple[str, ...], run_dir: str):
    """A supervisor for the config's drivers (None when there are none)."""
    if not config.drivers:
        return None
    from robo_orch.hosting.supervisor import DRIVER_PUBLISHER_ID, Supervisor

    supervisor = Supervisor()
    for i, (name, cfg) in enumerate(config.drivers.items()):
        supervisor.add_driver(name, config_path=str(config_path), overrides=overrides,
                              run_dir=run_dir, publisher_id=DRIVER_PUBLISHER_ID + i,
                              actuator=cfg.cls.actuator, restart=cfg.spec.restart)
    return supervisor
