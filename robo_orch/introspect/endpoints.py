"""How a tool finds a running robot: which run directories to look at, and what is in them.

The discovery files themselves are the bus's (:mod:`robo_orch.bus.discovery`: the
ZeroMQ backend writes them); this module is the tools' view of them, and adds
:func:`find_run_dirs`, which may read a config file to learn its ``bus.run_dir``.
"""

from __future__ import annotations

import os

from robo_orch.bus.discovery import (
    ACTIVE_DIR,
    ENDPOINTS_DIR,
    ProcessEntry,
    active_run_dirs,
    read_run_dir,
    runtime_base,
)
from robo_orch.errors import UsageError

__all__ = ["ACTIVE_DIR", "ENDPOINTS_DIR", "ProcessEntry", "active_run_dirs", "find_run_dirs",
           "read_run_dir", "runtime_base"]


def find_run_dirs(run_dir: str | None = None, config: str | None = None) -> list[str]:
    """The run directories a tool should look at: ``run_dir``, the config's, or every live one.

    How ``topics``, ``estop``, ``status`` and every other tool find a robot:
    ``--run-dir`` wins, then ``bus.run_dir`` of ``--config`` (default: the per-user
    directory), else every run directory in the per-user index plus the default
    run directory of ``robo-orch run``.
    """
    if run_dir:
        if not os.path.isdir(run_dir):
            raise UsageError(f"no robot bus in {run_dir} (no such directory)")
        return [os.path.abspath(run_dir)]
    if config:
        from robo_orch.config import load_config  # local: most tools never read a config

        cfg = load_config(config, with_behaviors=False)
        return [os.path.abspath(cfg.bus.run_dir or runtime_base())]
    dirs = active_run_dirs()
    base = runtime_base()
    if base not in dirs and os.path.isdir(base):
        dirs.append(base)
    return dirs
