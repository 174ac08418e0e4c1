"""The battery as a simulated device on the simulator's bus (no serial port).

:class:`SimulatedBattery` publishes ``battery_state`` messages at ``rate_hz``,
stamped with the time it is stepped to (a lockstep simulator's time), from the pack
model of :mod:`.emulator`: the charge falls by ``drain`` a second and the voltage
follows :func:`~robo_orch_battery.emulator.pack_voltage`.  A simulator backend steps
it beside its own sensors; on a robot the ``battery_monitor`` driver publishes the
same messages from the real device.
"""

from __future__ import annotations

import numpy as np

from robo_orch.bus import Bus
from robo_orch_battery.emulator import pack_voltage
from robo_orch_battery.messages import BATTERY_STATE


class SimulatedBattery:
    """A draining pack publishing on ``topic`` of ``bus``."""

    def __init__(self, bus: Bus, topic: str = "sensor/battery", *, rate_hz: float = 10.0,
                 charge: float = 1.0, drain: float = 0.01, current: float = 2.5) -> None:
        self.publisher = bus.publisher(topic, BATTERY_STATE)
        self.period_ns = round(1e9 / rate_hz)
        self.charge = float(charge)
        self.drain_per_s = float(drain)
        self.current = float(current)
        self._msg = np.zeros((), dtype=BATTERY_STATE.dtype)
        self._t_ns: int | None = None  # time stepped to
        self._next_ns = 0  # time of the next message

    def step(self, now_ns: int) -> None:
        """Advance to ``now_ns`` and publish the messages that fell due."""
        if self._t_ns is not None:
            self.charge = max(0.0, self.charge - self.drain_per_s * (now_ns - self._t_ns) * 1e-9)
        self._t_ns = now_ns
        while self._next_ns <= now_ns:
            msg = self._msg
            msg["voltage"] = pack_voltage(self.charge)
            msg["current"] = self.current
            msg["charge"] = self.charge
            self.publisher.publish(msg, stamp_ns=now_ns)
            self._next_ns += self.period_ns
