"""``robo-orch scenarios``: the scenario suite, judged and printed as one table.

The running and judging is :mod:`robo_orch.missions.scenarios`; this module is the
command: its options, the table and summary line it prints, and the files it writes.
The exit status is 0 only when every scenario passes (1 otherwise; 3 when a run hit
a runtime fault).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from robo_orch.cli.output import write_output
from robo_orch.cli.sweep import add_runner_options, make_runner


def add_parser(sub) -> None:
    """Register ``scenarios``."""
    p = sub.add_parser("scenarios", help="run the scenario suite over several seeds "
                       "and judge it by each scenario's pass criteria")
    p.add_argument("names", nargs="*", metavar="SCENARIO",
                   help="scenario files or shipped scenario names (default: all shipped)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds per scenario "
                   "(default 5)")
    p.add_argument("--first-seed", type=int, default=1, metavar="S",
                   help="seeds S .. S+N-1 (default 1)")
    add_runner_options(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key in every scenario (repeatable)")
    p.add_argument("--plot", metavar="FILE", help="write a PNG of every run's path")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.set_defaults(func=run_scenarios)


def run_scenarios(args: argparse.Namespace) -> int:
    """Run ``scenarios``: 0 every scenario passed, 1 one failed, 3 a run hit a fault."""
    from robo_orch.config import shipped_scenarios
    from robo_orch.errors import UsageError
    from robo_orch.missions.scenarios import format_table, plot_suite, run_suite

    if args.seeds < 1 or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--seeds and --jobs must be at least 1")
    paths: list[str | Path] = list(args.names) or list(shipped_scenarios())
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    overrides = tuple(args.set)
    t0 = time.perf_counter()
    with make_runner(args, len(paths) * len(seeds)) as runner:
        rows, runs = run_suite(paths, seeds, overrides=overrides, runner=runner,
                               progress=None if args.quiet else sys.stderr)
    wall = time.perf_counter() - t0
    print(format_table(rows))
    failed = [r["name"] for r in rows if not r["passed"]]
    print(f"{len(rows)} scenarios x {len(seeds)} seeds in {wall:.1f} s: "
          f"{len(rows) - len(failed)} passed" + (f", FAILED: {', '.join(failed)}"
                                                 if failed else ""))
    if args.json:
        doc = {"seeds": seeds, "overrides": list(overrides), "wall_time_s": round(wall, 2),
               "passed": not failed, "scenarios": rows}
        write_output(args.json, json.dumps(doc, indent=1) + "\n")
    if args.plot:
        plot_suite(paths, runs, args.plot, overrides)
        print(f"plot written to {args.plot}")
    if any(r["fault"] for r in runs):
        return 3
    return 1 if failed else 0
