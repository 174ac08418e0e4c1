"""``robo-orch bench``: the benchmark suite (:mod:`robo_orch.bench.suite`)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register ``bench``."""
    p = sub.add_parser("bench", help="run the benchmark suite")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 min)")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the figures (scaling, timing, latency, tick) as a PNG")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Run ``bench``."""
    from robo_orch.bench.suite import run_bench as run_suite

    return run_suite(json_path=args.json, quick=args.quick, plot_path=args.plot)
