"""Device emulators: the exact bytes real serial devices send, driven by the simulator.

Each emulator serves one pseudo-terminal (:class:`robo_orch.sim.emulators.base.PtyLink`)
that a real driver opens like a device path.  Faults (garbage, dropped bytes,
corrupted frames, silence) are injected on request, so the drivers' recovery
is tested against the same byte streams a flaky cable produces.
"""
