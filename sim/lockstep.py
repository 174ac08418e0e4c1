"""Lockstep backend: the simulator inside the loop's process, one period per tick.

The loop runs on a :class:`SimClock` and both the loop and the simulator talk
over one in-process ``memory`` bus, through the same encode/decode path as
ZeroMQ.  Before tick ``k`` the simulator receives the command of tick ``k-1``,
advances exactly one loop period and publishes what fell due, stamped with the
simulated time.  Given a config, a seed, a machine and a build, every run is
bit-for-bit the same, and it runs as fast as the machine allows.

A tick that holds the simulated clock past its period (an overrun injected by
``robo-orch faults``) makes the loop skip slots; the simulator then catches up one
period at a time, applying the last command it received, as a real robot would.
"""

from __future__ import annotations

from robo_orch.backend import GroundTruth, SimBackend
from robo_orch.bus import Bus, MemoryHub, make_bus
from robo_orch.clock import Clock, SimClock, make_clock
from robo_orch.sim.node import SimNode
from robo_orch.sim.simulator import Simulator, make_simulator

LOOP_PUBLISHER_ID = 1
SIM_PUBLISHER_ID = 2


class LockstepBackend(SimBackend):
    """Deterministic, faster-than-real-time simulation in the loop's process."""

    kind = "lockstep"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hub = MemoryHub()
        self.clock: SimClock | None = None
        self.node: SimNode | None = None
        self.sim: Simulator | None = None
        self._dt = 1.0 / self.config.loop.rate_hz
        self._dt_ns = round(1e9 / self.config.loop.rate_hz)
        self._sim_ns = 0  # the time the simulator has been stepped to

    def make_clock(self) -> Clock:
        self.clock = make_clock("sim")
        return self.clock

    def make_bus(self, clock: Clock) -> Bus:
        return make_bus("memory", clock, publisher_id=LOOP_PUBLISHER_ID, hub=self.hub,
                        hwm=self.config.bus.hwm)

    def start(self, bus: Bus) -> None:
        cfg = self.config
        self.sim = make_simulator(cfg.world, cfg.robot, cfg.sim, cfg.safety, cfg.mission.start)
        self.sim.reset(self.seed)
        sim_bus = make_bus("memory", self.clock, publisher_id=SIM_PUBLISHER_ID, hub=self.hub,
                           hwm=cfg.bus.hwm)
        self.node = SimNode(cfg, self.sim, sim_bus)

    def pre_tick(self, tick: int, now_ns: int) -> None:
        if tick == 0:
            self.node.prime(now_ns)
            self._sim_ns = now_ns
            return
        step, t = self.node.step, self._sim_ns + self._dt_ns
        while t < now_ns:  # slots the loop skipped: the command is held
            step(self._dt, t)
            t += self._dt_ns
        step(self._dt, now_ns)
        self._sim_ns = now_ns

    def truth(self) -> GroundTruth:
        sim = self.sim
        return GroundTruth(pose=tuple(float(v) for v in sim.pose), sim_time_s=float(sim.t),
                           distance_m=float(sim.distance),
                           min_clearance_m=float(sim.min_clearance),
                           collisions=int(sim.collisions), deadman_stops=int(sim.deadman_stops),
                           latency_us=self.node.latency_us(),
                           inputs=self.node.input_counters())

    def stop(self) -> None:
        if self.node is not None:
            self.node.bus.close()
