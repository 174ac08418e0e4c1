"""Run by test_missions.py in a fresh interpreter: does any kernel compile on a tick?

Arguments: a config file (default: the demo), then config overrides
(``robot.kinematics=holonomic``).  Prints JSON: how many numba dispatchers were
loaded, and which gained overloads while ticks ran after the controller's warm-up
and the backend's start.
"""

from __future__ import annotations

import json
import sys

import numba

from robo_orch.config import load_config
from robo_orch.missions.session import make_backend
from robo_orch.runtime.controller import Controller


def dispatchers() -> dict[str, numba.core.registry.CPUDispatcher]:
    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("robo_orch", "behaviors", "sim")):
            continue
        for attr, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher):
                found[f"{name}.{attr}"] = obj
    return found


def main() -> None:
    args = sys.argv[1:]
    path = args.pop(0) if args and "=" not in args[0] else None
    config = load_config(path, args)  # --set style overrides, e.g. robot.kinematics=
    backend = make_backend(config, "lockstep")
    clock = backend.make_clock()
    bus = backend.make_bus(clock)
    ctl = Controller(config, bus, backend=backend)
    ctl.warmup()
    backend.start(bus)
    before = {k: len(d.overloads) for k, d in dispatchers().items()}
    for tick in range(30):  # every behavior divisor and several scans
        now = clock.now_ns()
        ctl.pre_tick(tick, now)
        ctl.sense(tick, now)
        ctl.plan(tick)
        ctl.act(tick)
        clock.advance_ns(20_000_000)
    after = {k: len(d.overloads) for k, d in dispatchers().items()}
    backend.stop()
    bus.close()
    grown = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    print(json.dumps({"dispatchers": len(after), "compiled_during_ticks": grown}))


if __name__ == "__main__":
    main()
