"""One simulated mission from start to summary: backend, bus, controller and loop.

:func:`run_mission` is what ``robo-orch sim`` calls, and what tests call for a
whole run.  It compiles (or loads) every kernel before the first tick, installs
SIGINT/SIGTERM handlers that end the loop cleanly (:mod:`robo_orch.runtime.signals`; the
signal is kept in :attr:`MissionResult.signal`), gives a real-time run its control
endpoint (:mod:`robo_orch.control`), and always stops the backend and closes the
bus, also when something fails.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from robo_orch import registry
from robo_orch.backend import GroundTruth, SimBackend
from robo_orch.config import Config, blind_warning, network, start_warnings
from robo_orch.errors import BackendTimeout
from robo_orch.rt import apply_realtime
from robo_orch.runtime.controller import Controller, time_limit
from robo_orch.runtime.loop import FixedRateLoop
from robo_orch.runtime.signals import StopSignals
from robo_orch.runtime.stats import TickStats, mission_capacity


@dataclass
class MissionResult:
    """Everything a finished mission produced."""

    config: Config
    backend: str
    seed: int
    controller: Controller
    stats: TickStats
    truth: GroundTruth
    wall_time_s: float
    startup_s: float
    warnings: list[str] = field(default_factory=list)
    #: the signal (SIGINT, SIGTERM) that ended the run early, or None
    signal: int | None = None


def loop_health_line(stats: TickStats, period_ns: int) -> str:
    """``5 overruns, 32 skipped slots, 14 stalls, worst tick 49.1 ms / 20 ms period``.

    Empty when the loop kept every deadline (no overrun, skipped slot or stall and
    no tick longer than the period).
    """
    parts = [f"{n} {word}" for n, word in ((stats.overruns, "overruns"),
                                           (stats.skipped, "skipped slots"),
                                           (stats.stalls, "stalls")) if n]
    worst = stats.tick.max
    if parts or worst > period_ns:
        parts.append(f"worst tick {worst * 1e-6:.3g} ms / {period_ns * 1e-6:g} ms period")
    return ", ".join(parts)


def trigger_options(config: Config, controller: Controller, *, enabled: bool = True) -> dict:
    """Keyword arguments of :class:`FixedRateLoop` for the configured trigger, if any.

    A lockstep run always ticks at the fixed rate: its inputs are published by
    the backend right before each tick.
    """
    role = config.loop.trigger
    if not role or not enabled:
        return {}
    timeout = config.loop.trigger_timeout_s
    return {"trigger": controller.sensing.subs[role],
            "trigger_timeout_ns": int(timeout * 1e9) if timeout > 0 else None}


def make_backend(config: Config, name: str | None = None, **kwargs) -> SimBackend:
    """Instantiate the simulator backend named in config (or ``name``)."""
    cls = registry.load(registry.SIM_BACKENDS, name or config.sim.backend)
    return cls(config, **kwargs)


def run_mission(
    config: Config,
    *,
    backend: str | None = None,
    config_path: str | None = None,
    overrides: tuple[str, ...] = (),
    seed: int | None = None,
    duration_s: float | None = None,
    progress: Callable[[Controller], None] | None = None,
    process_start: float | None = None,
    trace_rows: int | None = None,
    on_start: Callable[[Controller], None] | None = None,
    devices: str = "sim",
    warmup: bool = True,
) -> MissionResult:
    """Run a simulated mission to its end and return what happened.

    ``trace_rows`` bounds the per-tick trace (None keeps every tick, for the plot).
    ``devices="serial"`` runs the config's real drivers against device emulators.
    ``on_start(controller)`` runs once the controller is built, before the simulator
    starts (a recorder subscribes there).  ``warmup=False`` skips compiling the kernels
    before the first tick: for a process that has run the same behaviors before (the
    runner's warm workers).
    """
    t_start = time.perf_counter() if process_start is None else process_start
    blind = blind_warning(config)  # safety.allow_blind: also in the summary's warnings
    for line in start_warnings(config):  # allow_blind, unreachable speeds: at every start
        print(line, file=sys.stderr, flush=True)
    insecure = network.insecure_warning(config)  # bus.insecure: the same, for real time
    if insecure and (backend or config.sim.backend) != "lockstep":
        print(insecure, file=sys.stderr, flush=True)
    with StopSignals() as signals:
        sim_backend = make_backend(config, backend, config_path=config_path,
                                   overrides=overrides, seed=seed, devices=devices)
        clock = sim_backend.make_clock()
        bus = sim_backend.make_bus(clock)
        loop_cfg = config.loop
        set_io_priority = getattr(bus, "set_io_thread_priority", None)  # a ZeroMQ bus
        if set_io_priority is not None and loop_cfg.realtime_priority > 0:
            set_io_priority(loop_cfg.realtime_priority)  # before its first socket
        realtime = sim_backend.kind != "lockstep"
        try:
            sim_backend.launch()
            stats = TickStats() if realtime else TickStats(
                mission_capacity(time_limit(config, duration_s), loop_cfg.rate_hz))
            controller = Controller(config, bus, backend=sim_backend, duration_s=duration_s,
                                    progress=progress, stats=stats, trace_rows=trace_rows)
            if realtime and hasattr(bus, "bind_socket"):  # tools reach the loop over ZeroMQ
                from robo_orch.control import endpoint as control

                drivers = control.estop_feedback_topics(config) if devices == "serial" else {}
                control.attach(controller, bus, drivers, remote=network.control_address(config))
            if warmup:
                controller.warmup()
            if on_start is not None:
                on_start(controller)
            sim_backend.start(bus)
            if realtime:
                missing = controller.sensing.wait_for_inputs(config.sim.ready_timeout_s)
                if missing:
                    raise BackendTimeout(f"no data on {', '.join(missing)} within "
                                         f"{config.sim.ready_timeout_s:g} s of the simulator "
                                         "start")
            warnings = apply_realtime(loop_cfg.realtime_priority, loop_cfg.cpu,
                                      loop_cfg.lock_memory, loop_cfg.timer_slack_ns) \
                if sim_backend.kind == "realtime" else []
            if blind:
                warnings.insert(0, blind)
            loop = FixedRateLoop(clock, int(round(1e9 / loop_cfg.rate_hz)),
                                 overrun=loop_cfg.overrun,
                                 spin_ns=int(loop_cfg.spin_us * 1e3), gc_mode=loop_cfg.gc_mode,
                                 stats=stats, collect_at_start=realtime,
                                 **trigger_options(config, controller, enabled=realtime))
            signals.attach(loop)
            startup_s = time.perf_counter() - t_start
            try:
                loop.run(controller)
            finally:
                wall = loop.elapsed_ns * 1e-9
                controller.publish_stop()
            if not controller.end_reason:
                controller.end_reason = "interrupted"
            truth = sim_backend.truth()
        finally:
            sim_backend.stop()
            bus.close()
    return MissionResult(config=config, backend=sim_backend.kind, seed=sim_backend.seed,
                         controller=controller, stats=stats, truth=truth, wall_time_s=wall,
                         startup_s=startup_s, warnings=warnings, signal=signals.signum)
