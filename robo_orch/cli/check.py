"""``robo-orch check``: validate a config and print what would run."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register ``check``."""
    p = sub.add_parser("check", help="validate a config and print what would run")
    p.add_argument("config", nargs="?")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Run ``check``: print the loaded config's description (a bad config raises)."""
    from robo_orch.config import load_config
    from robo_orch.config.describe import describe_config

    print(describe_config(load_config(args.config, tuple(args.set))))
    return 0
