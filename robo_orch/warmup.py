"""``robo-orch warmup``: compile every kernel into numba's cache before deployment."""

from __future__ import annotations

import os
import time

from robo_orch import registry


def warmup_all(quiet: bool = False) -> int:
    """Load every registered behavior and backend and run each kernel once."""
    t0 = time.perf_counter()
    from robo_orch.config import load_config
    from robo_orch.session import run_mission

    for name in registry.names(registry.BEHAVIORS):
        registry.load(registry.BEHAVIORS, name)  # eager signatures compile at import
    config = load_config(None)
    # a one-second lockstep mission runs the sense, plan and act kernels and the
    # simulator's physics, sensor and ray-casting kernels
    run_mission(config, backend="lockstep", duration_s=1.0)
    if not quiet:
        print(f"kernels compiled and cached in {os.environ.get('NUMBA_CACHE_DIR')} "
              f"({time.perf_counter() - t0:.1f} s)")
    return 0
