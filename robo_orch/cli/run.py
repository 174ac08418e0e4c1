"""``robo-orch run``: the loop on hardware, with the config's drivers publishing on the bus."""

from __future__ import annotations

import argparse

from robo_orch.cli import record
from robo_orch.record import live


def add_parser(sub) -> None:
    """Register ``run``."""
    p = sub.add_parser("run", help="run the loop on hardware (drivers publish on the bus)")
    p.add_argument("config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    from robo_orch.cli.sim import add_watch_arg

    add_watch_arg(p)
    record.add_record_args(p)
    live.add_live_args(p)
    p.set_defaults(func=run_robot)


def run_robot(args: argparse.Namespace) -> int:
    """Run ``run`` until the duration ends or a signal stops it."""
    from robo_orch.hosting.robot import run_hardware
    from robo_orch.runtime.watch import watching

    path = None
    if args.watch:
        from pathlib import Path

        from robo_orch.config import embedded_config_path

        path = Path(args.config)
        if not path.exists() and path.suffix == "" and "/" not in args.config:
            path = embedded_config_path(args.config)  # a shipped config, as load_config finds it
    with record.recording(args, overrides=tuple(args.set)) as on_start, \
            live.serving(args, on_start) as on_start, \
            watching(path, tuple(args.set), on_start) as on_start:
        return run_hardware(args.config, tuple(args.set), duration_s=args.duration,
                            quiet=args.quiet, on_start=on_start)
