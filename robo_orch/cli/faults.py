"""``robo-orch faults``: the seeded fault campaign, its table and its targets.

The campaign itself is :mod:`robo_orch.missions.faults`; this module is the command:
its options, the table, the targets line, and the one replay command per failing run.
Exit status: 0 every injection got its expected reaction and every mission completed,
1 otherwise, 3 when a run hit a runtime fault.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from robo_orch.cli.output import write_output

#: shown when no scenario is named
DEFAULT_NOTE = "default: every shipped scenario"
_MAX_FAILURES_SHOWN = 20


def add_parser(sub) -> None:
    """Register ``faults``."""
    p = sub.add_parser("faults", help="inject seeded faults into lockstep missions and check "
                       "each reaction (stop times, contacts, resume)")
    p.add_argument("names", nargs="*", metavar="SCENARIO",
                   help=f"scenario files or shipped scenario names ({DEFAULT_NOTE})")
    p.add_argument("--runs", type=int, default=20, metavar="N",
                   help="runs per scenario (default 20)")
    p.add_argument("--seed", type=int, default=1, metavar="S",
                   help="campaign seed: run k of a scenario depends on (S, k) only (default 1)")
    p.add_argument("--only", type=int, metavar="K",
                   help="replay run K alone (of each named scenario) and print every injection")
    p.add_argument("--faults", type=int, default=None, metavar="N",
                   help="faults drawn per run, injected while the mission lasts (default 8)")
    p.add_argument("--kinds", metavar="K1,K2", default="",
                   help="draw only these kinds or labels (e.g. silent,estop,bad_value:gps)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="J",
                   help="processes that run missions: this one and J - 1 workers "
                   "(default: number of CPUs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key in every run (repeatable)")
    p.add_argument("--json", metavar="FILE", help="write every injection and the table as JSON")
    p.set_defaults(func=run_faults)


def run_faults(args: argparse.Namespace) -> int:
    """Run ``faults``: 0 all reactions as expected, 1 a failure, 3 a run hit a fault."""
    from robo_orch.config import load_config, shipped_scenarios
    from robo_orch.errors import UsageError
    from robo_orch.missions import fault_kinds as fk
    from robo_orch.missions import faults as F
    from robo_orch.missions.runner import ProgressLine, Runner, describe_error

    faults = F.FAULTS_PER_RUN if args.faults is None else args.faults
    if args.runs < 1 or faults < 1 or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--runs, --faults and --jobs must be at least 1")
    if args.only is not None and args.only < 0:
        raise UsageError("--only must be a run index (0 or more)")
    kinds = tuple(k for k in args.kinds.split(",") if k)
    known = set(fk.labels()) | set(fk.KINDS)
    bad = [k for k in kinds if k not in known]
    if bad:
        raise UsageError(f"unknown fault kind {bad[0]!r}: use one of {', '.join(fk.KINDS)} "
                         f"or a label such as {fk.labels()[0]}")
    names = list(args.names) or [p.stem for p in shipped_scenarios()]
    overrides = tuple(args.set)
    for name in names:  # a bad file or key fails here, before anything runs
        load_config(name, (*F.CAMPAIGN_OVERRIDES, *overrides), with_behaviors=False)
    specs = F.specs(names, args.runs, args.seed, only_index=args.only, faults=faults,
                    kinds=kinds, overrides=overrides)
    jobs = 1 if args.only is not None else max(1, min(args.jobs or os.cpu_count() or 1,
                                                      len(specs)))
    bar = ProgressLine(None if args.quiet or args.only is not None else sys.stderr, "faults",
                       describe=lambda o: (f"{o.instance.args.scenario} run "
                                           f"{o.instance.args.index}" if o.ok
                                           else describe_error(o)),
                       failed=lambda o: not o.ok or not o.value["completed"] or any(
                           i["problems"] for i in o.value["injections"]))
    t0 = time.perf_counter()
    with Runner(jobs) as runner:
        records, errors, stats = F.run_campaign(specs, runner, bar)
    wall = time.perf_counter() - t0
    rows = F.table_rows(records)
    total = F.totals(records, errors, wall, stats.sim_s)
    if args.only is not None:
        for r in records:
            print(f"{r['scenario']} run {r['index']} (sim seed {r['sim_seed']}): "
                  f"{r['end_reason']} at {r['sim_time_s']:.2f} s, {r['collisions']} "
                  "collisions")
            for inj in r["injections"]:
                print("  " + F.describe_injection(inj))
    print(F.format_table(rows))
    print(F.headline(total))
    failed = total["failed_runs"]
    by_key = {(r["scenario"], r["index"]): r for r in records}
    for key in failed[:_MAX_FAILURES_SHOWN]:
        run = by_key[key]
        why = [f"{i['label']} at {i['t_fault']:.2f} s: {'; '.join(i['problems'])}"
               for i in run["injections"] if i["problems"]]
        if not run["completed"]:
            why.append(f"mission not completed ({run['end_reason']})")
        print(f"FAILED {key[0]} run {key[1]}: {' | '.join(why)}\n"
              f"  replay: {F.replay_command(run['spec'])}")
    if len(failed) > _MAX_FAILURES_SHOWN:
        print(f"... and {len(failed) - _MAX_FAILURES_SHOWN} more failing runs (--json lists all)")
    for err in errors:
        print(f"ERROR {err.instance.args.scenario} run {err.instance.args.index}: "
              f"{describe_error(err)}\n  replay: {F.replay_command(err.instance.args)}",
              file=sys.stderr)
    if args.json:
        doc = {"seed": args.seed, "runs_per_scenario": args.runs, "scenarios": names,
               "overrides": list(overrides), "totals": total, "table": rows,
               "reactions": fk.REACTIONS,
               "runs": [{k: v for k, v in r.items() if k != "spec"} for r in records]}
        write_output(args.json, json.dumps(doc, indent=1, default=str) + "\n")
    if errors:
        return 3
    return 1 if failed else 0
