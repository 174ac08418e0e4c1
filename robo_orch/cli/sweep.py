"""``robo-orch sweep``: parameter sets compared on the same (scenario, seed) instances.

The sets, the runs and the statistics are :mod:`robo_orch.missions.sweep` and
:mod:`robo_orch.missions.paired`; this module is the command: its options, the
table, the no-effect line and the files it writes.  Exit status 0 when every run
completed (whatever its criteria said), 3 when a run hit a runtime fault.
"""

from __future__ import annotations

import argparse
import json
import sys

from robo_orch.cli.output import write_output


def add_runner_options(p: argparse.ArgumentParser) -> None:
    """``--jobs`` and ``--dask``: where the missions run (shared with ``tune``)."""
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="J",
                   help="processes that run missions: this one and J - 1 workers "
                   "(default: number of CPUs)")
    p.add_argument("--dask", metavar="ADDRESS", help="run the missions on a Dask cluster "
                   "(scheduler address, e.g. tcp://10.0.0.5:8786; needs robo-orch[cluster])")


def add_parser(sub) -> None:
    """Register ``sweep``."""
    p = sub.add_parser("sweep", help="compare parameter sets on the same scenarios and seeds "
                       "(paired statistics against the first set)")
    p.add_argument("names", nargs="+", metavar="SCENARIO",
                   help="scenario files or shipped scenario names")
    p.add_argument("--param", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values of one key (repeatable: every combination is a set; "
                   "KEY may start with a behavior's name, e.g. follow_path.max_speed)")
    p.add_argument("--set-file", action="append", default=[], metavar="FILE",
                   help="a TOML file whose keys are one more set (e.g. a `tune --out` file); "
                   "with only set files, the unchanged config is the first set")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key in every set (repeatable)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds per scenario "
                   "(default 5)")
    p.add_argument("--first-seed", type=int, default=1, metavar="S",
                   help="seeds S .. S+N-1 (default 1)")
    add_runner_options(p)
    p.add_argument("--json", metavar="FILE", help="write every set's figures, comparisons "
                   "and runs as JSON")
    p.add_argument("--plot", metavar="FILE", help="write a PNG: success rate and time to goal "
                   "per set")
    p.set_defaults(func=run_sweep)


def make_runner(args: argparse.Namespace, tasks: int):
    """The runner the options ask for: a Dask cluster's or local warm workers."""
    import os

    from robo_orch.errors import UsageError
    from robo_orch.missions.runner import Runner

    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if getattr(args, "dask", None):
        from robo_orch.missions.cluster import DaskBackend

        return Runner(backend=DaskBackend(args.dask, stream=None if args.quiet
                                          else sys.stderr))
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, tasks))
    return Runner(jobs).start()


def run_sweep(args: argparse.Namespace) -> int:
    """Run ``sweep``: 0 done, 3 a run hit a runtime fault."""
    from robo_orch.config import load_config
    from robo_orch.errors import UsageError
    from robo_orch.missions import sweep as S

    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if not args.param and not args.set_file:
        raise UsageError("give the sets to compare: --param KEY=V1,V2,... or --set-file FILE")
    first = load_config(args.names[0], tuple(args.set), with_behaviors=False)
    grid = S.parse_grid(args.param, first.raw)
    sets = S.grid_sets(grid) + [S.file_set(f) for f in args.set_file]
    if not grid:
        sets.insert(0, S.ParamSet(name="default"))
    if len(sets) < 2:
        raise UsageError("a sweep compares at least two sets: give a key two values or more")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    with make_runner(args, len(sets) * len(args.names) * len(seeds)) as runner:
        result = S.run_sweep(args.names, sets, seeds, runner=runner, overrides=tuple(args.set),
                             progress=None if args.quiet else sys.stderr)
    print(S.format_table(result))
    none = result.no_effect()
    for key in none:
        print(f"no effect: {key} (bit-identical runs on every instance, whatever the other "
              "parameters)")
    runs = len(sets) * len(args.names) * len(seeds)
    print(f"{len(sets)} sets x {len(args.names)} scenarios x {len(seeds)} seeds = {runs} runs "
          f"in {result.wall_s:.1f} s; each set compared with the first on the same instances "
          "(McNemar exact on success, Wilcoxon signed-rank on time to goal)")
    if args.json:
        write_output(args.json, json.dumps(result.to_json(), indent=1) + "\n")
    if args.plot:
        S.plot_sweep(result, args.plot)
        print(f"plot written to {args.plot}")
    return 3 if any(r.get("fault") for runs in result.runs for r in runs) else 0
