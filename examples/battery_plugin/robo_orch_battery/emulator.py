"""The battery monitor on a pseudo-terminal, for tests and simulation.

``python -m robo_orch_battery.emulator [--rate HZ] [--drain PER_S] [--seconds S]``
prints the device path on its first line, then sends a line ``rate`` times a second
while the charge falls by ``drain`` per second (the voltage follows a simple
lithium-ion curve), until ``seconds`` have passed or it is interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time

from robo_orch.sim.emulators.base import DeviceEmulator, Faults, PtyLink
from robo_orch_battery.protocol import encode_line

CELLS = 4  #: a 4S lithium-ion pack


def pack_voltage(charge: float) -> float:
    """Open-circuit voltage of the pack at ``charge`` (0-1): 3.3 V to 4.2 V a cell."""
    charge = min(max(charge, 0.0), 1.0)
    return CELLS * (3.3 + 0.9 * charge - 0.15 * (1.0 - charge) ** 4)


class BatteryEmulator(DeviceEmulator):
    """A pack discharging at ``drain`` of its charge per second, drawing ``current`` A."""

    def __init__(self, charge: float = 1.0, drain: float = 0.01, current: float = 2.5,
                 faults: Faults | None = None, seed: int = 0) -> None:
        super().__init__(faults, seed)
        self.charge = float(charge)
        self.drain_per_s = float(drain)
        self.current = float(current)

    def step(self, dt: float) -> None:
        """Advance ``dt`` seconds and queue one line."""
        self.charge = max(0.0, self.charge - self.drain_per_s * dt)
        self.emit(encode_line(pack_voltage(self.charge), self.current, self.charge))


def main(argv: list[str] | None = None) -> int:
    """Run the emulator on a new pseudo-terminal (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch_battery.emulator")
    parser.add_argument("--rate", type=float, default=10.0, help="lines per second")
    parser.add_argument("--charge", type=float, default=1.0, help="charge at the start, 0-1")
    parser.add_argument("--drain", type=float, default=0.01, help="charge lost per second")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this; 0: never")
    args = parser.parse_args(argv)
    link = PtyLink()
    device = BatteryEmulator(args.charge, args.drain)
    print(link.path, flush=True)
    period = 1.0 / args.rate
    start = time.monotonic()
    k = 0
    try:
        while not args.seconds or time.monotonic() - start < args.seconds:
            k += 1
            time.sleep(max(0.0, start + k * period - time.monotonic()))
            device.step(period)
            link.write(device.drain())
    except KeyboardInterrupt:
        pass
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
