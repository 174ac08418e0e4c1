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
    import sys

    from robo_orch.config import load_config, start_warnings
    from robo_orch.config.describe import describe_config

    config = load_config(args.config, tuple(args.set))
    for line in start_warnings(config):  # what `sim` and `run` would print at start
        print(line, file=sys.stderr)
    print(describe_config(config))
    return 0
