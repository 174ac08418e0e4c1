"""``robo-orch warmup``: compile every kernel into numba's cache before deployment."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from robo_orch import _numba_env


def add_parser(sub) -> None:
    """Register ``warmup``."""
    p = sub.add_parser("warmup", help="compile and cache every kernel, or a config's")
    p.add_argument("config", nargs="?", help="compile only what `robo-orch run CONFIG` needs "
                   "(the service runs this before each start); default: every built-in "
                   "behavior and the simulator")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run_warmup)


def run_warmup(args: argparse.Namespace) -> int:
    """Run ``warmup``."""
    if args.config:
        return warmup_config(args.config, tuple(args.set), quiet=args.quiet)
    return warmup_all(quiet=args.quiet)


def warmup_config(config_path: str, overrides: tuple[str, ...], quiet: bool = False) -> int:
    """Compile the kernels ``robo-orch run CONFIG`` loads (no simulator), prune old caches."""
    from robo_orch.hosting import compile as kernels

    t0 = time.perf_counter()
    kernels.precompile(config_path, overrides, simulator=False, quiet=quiet)
    from robo_orch.bus import MemoryBus
    from robo_orch.clock import SimClock
    from robo_orch.config import load_config
    from robo_orch.runtime.controller import Controller

    config = load_config(config_path, overrides)
    bus = MemoryBus(SimClock(), publisher_id=1)
    try:
        Controller(config, bus).warmup()  # the kernels compiled lazily, on a first call
    finally:
        bus.close()
    return _finish(t0, quiet)


def warmup_all(quiet: bool = False) -> int:
    """Compile every built-in kernel module (in two processes), load every registered
    behavior, run the demo's kernels once, prune old caches."""
    from robo_orch import registry
    from robo_orch.hosting import compile as kernels

    t0 = time.perf_counter()
    kernels.compile_shares(*kernels.everything(), quiet=quiet)
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    for name in registry.names(registry.BEHAVIORS):
        registry.load(registry.BEHAVIORS, name)  # a plugin's eager signatures compile here
    config = load_config(None)
    # a one-second lockstep mission runs the sense, plan and act kernels and the
    # simulator's physics, sensor and ray-casting kernels
    run_mission(config, backend="lockstep", duration_s=1.0)
    return _finish(t0, quiet)


def _finish(t0: float, quiet: bool) -> int:
    if _numba_env.uses_default_cache():
        _numba_env.mark_cache_dir(os.environ["NUMBA_CACHE_DIR"])
    removed = prune_other_builds()
    if not quiet:
        print(f"kernels compiled and cached in {os.environ.get('NUMBA_CACHE_DIR')} "
              f"({time.perf_counter() - t0:.1f} s)")
        if removed:
            print(f"removed {len(removed)} cache directories of earlier builds of this "
                  "installation")
    return 0


def prune_other_builds() -> list[Path]:
    """Delete this installation's cache directories of its earlier builds (after upgrades).

    Only the default cache root is looked at, only when the current cache is in it,
    and only directories marked as made by this installation
    (:func:`robo_orch._numba_env.mark_cache_dir`) are removed: another install on
    the same machine shares the root (one directory per build of its sources) and
    keeps its kernels.  Unmarked directories (made before marking, or by hand) stay.
    """
    current = Path(os.environ.get("NUMBA_CACHE_DIR", ""))
    root = _numba_env.default_cache_dir().parent
    if current.parent != root or not root.is_dir():
        return []
    mine = _numba_env.installation_root()
    removed = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and folder != current and _numba_env.cache_owner(folder) == mine:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
