"""The simulator-backend seam: what stands in for the devices.

A backend decides which clock and which bus the loop gets, starts whatever
produces the sensor data, and may do work before each tick.  The loop code is the
same for every backend:

* ``realtime``: the simulator runs in its own process at wall-clock rate and all
  traffic crosses ZeroMQ;
* ``lockstep``: the simulator runs in the loop's process on the ``memory`` bus and
  is advanced exactly one loop period before each tick on a simulated clock:
  deterministic, and as fast as the machine allows.

Implementations are found through :mod:`robo_orch.registry` (group
``robo_orch.sim_backends``); ``sim.backend`` in config names one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from robo_orch.bus import Bus
from robo_orch.clock import Clock
from robo_orch.config import Config


@dataclass
class GroundTruth:
    """What only the simulator knows about a run."""

    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sim_time_s: float = 0.0
    distance_m: float = 0.0
    min_clearance_m: float = float("inf")
    collisions: int = 0
    deadman_stops: int = 0
    #: sensor-to-actuator latency of the applied commands (p50, p99, max), us
    latency_us: tuple[float, float, float] = (float("nan"),) * 3
    #: the simulator's bus input counters: {"command"|"estop": {received, malformed, ...}}
    inputs: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


class SimBackend(ABC):
    """Base class of simulator backends."""

    #: registry name, as written in config (``sim.backend = "lockstep"``)
    kind: ClassVar[str]
    #: no parameters of its own: a backend reads the ``[sim]`` and ``[bus]`` sections
    Params: ClassVar[type | None] = None

    #: device modes this backend supports: 'sim' (sensor topics straight from the
    #: simulator) and/or 'serial' (device emulators on pseudo-terminals, real drivers)
    device_modes: tuple[str, ...] = ("sim",)

    def __init__(self, config: Config, *, config_path: str | None = None,
                 overrides: tuple[str, ...] = (), seed: int | None = None,
                 devices: str = "sim") -> None:
        self.config = config
        self.config_path = config_path
        self.overrides = tuple(overrides)
        self.seed = config.sim.seed if seed is None else seed
        if devices not in self.device_modes:
            from robo_orch.errors import UsageError

            raise UsageError(f"the {self.kind} simulator backend cannot run --devices {devices} "
                             f"(supported: {', '.join(self.device_modes)})")
        self.devices = devices

    @abstractmethod
    def make_clock(self) -> Clock:
        """The clock the loop runs on."""

    @abstractmethod
    def make_bus(self, clock: Clock) -> Bus:
        """The loop's bus (its publisher id is the loop's)."""

    def launch(self) -> None:  # noqa: B027 (optional hook)
        """Begin starting up (a process, say) while the loop compiles its kernels."""

    @abstractmethod
    def start(self, bus: Bus) -> None:
        """Start producing sensor data; return when the simulator is ready."""

    def pre_tick(self, tick: int, now_ns: int) -> None:  # noqa: B027 (optional hook)
        """Work to do before the loop senses (lockstep: advance one period)."""

    def topics(self) -> dict[str, str]:
        """Topics the backend itself publishes besides the config's, with their message
        type names (a recorder records them); default: none."""
        return {}

    @abstractmethod
    def truth(self) -> GroundTruth:
        """The latest ground truth known to the backend."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the simulator and release its resources."""
