"""``robo-orch sim``: run a simulated mission and print its one-line verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robo_orch import cli
from robo_orch.cli import record
from robo_orch.cli.output import write_output
from robo_orch.record import live


def add_parser(sub) -> None:
    """Register ``sim``."""
    p = sub.add_parser("sim", help="run a simulated mission")
    p.add_argument("config", nargs="?", help="config file or shipped scenario name "
                   "(default: the embedded demo mission)")
    p.add_argument("--lockstep", action="store_true",
                   help="deterministic, faster than real time, in one process")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S simulated s")
    p.add_argument("--seed", type=int, help="seed of every noise source")
    p.add_argument("--summary", metavar="FILE", help="write the JSON summary here")
    p.add_argument("--plot", metavar="FILE", help="write a PNG of the run here")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    p.add_argument("--devices", choices=("sim", "serial"), default="sim",
                   help="'serial': run the config's real drivers against device emulators "
                   "on pseudo-terminals (realtime only)")
    add_watch_arg(p)
    record.add_record_args(p)
    live.add_live_args(p)
    p.set_defaults(func=run_sim)


def add_watch_arg(parser: argparse.ArgumentParser) -> None:
    """``--watch`` (``sim`` and ``run``): reload the config file on save."""
    parser.add_argument("--watch", action="store_true",
                        help="real time: reload the config file when it is saved and apply "
                             "its changed live keys between two ticks (a restart-only key "
                             "or an invalid file changes nothing, and says why)")


def run_sim(args: argparse.Namespace) -> int:
    """Run ``sim``: 0 the mission met its criteria, 1 it did not, 128 + n on signal n."""
    from robo_orch.config import load_config
    from robo_orch.missions.report import plot, summarize
    from robo_orch.missions.session import run_mission
    from robo_orch.runtime.progress import ProgressLine

    overrides = tuple(args.set)
    config = load_config(args.config, overrides)
    backend = "lockstep" if args.lockstep else config.sim.backend
    if args.devices == "serial":
        from robo_orch.errors import ConfigError
        from robo_orch.kinematics import kinematics_for

        if not kinematics_for(config.robot).serial_devices:
            raise ConfigError(config.source, "robot.kinematics",
                              f"--devices serial emulates a (v, w) motor bridge; the "
                              f"'{config.robot.kinematics}' base has none yet (run without "
                              "--devices)")
    if args.watch and backend == "lockstep":
        from robo_orch.errors import UsageError

        raise UsageError("--watch needs a real-time run (lockstep runs faster than anyone "
                         "can edit a file); drop --lockstep, or sim.backend = \"lockstep\"")
    from robo_orch.runtime.watch import watching

    progress = None if args.quiet else ProgressLine(sys.stderr)
    with record.recording(args, seed=args.seed, overrides=overrides) as on_start, \
            live.serving(args, on_start) as on_start, \
            watching(config.source if args.watch else None, overrides, on_start) as on_start:
        result = run_mission(config, backend=backend, config_path=config.source,
                             overrides=overrides, seed=args.seed, duration_s=args.duration,
                             progress=progress, process_start=cli.STARTED,
                             devices=args.devices, on_start=on_start)
    if progress is not None:
        progress.finish(result.controller)
    summary = summarize(result)
    if args.summary:
        write_output(args.summary, json.dumps(summary, indent=2) + "\n")
    if args.plot:
        plot(result, args.plot)
    print(verdict_line(summary, result.stats, config, Path(config.source).name))
    if args.plot:
        print(f"plot written to {args.plot}")
    if result.signal is not None:
        return 128 + result.signal  # interrupted: not a verdict on the mission
    return 0 if summary["success"] else 1


def verdict_line(summary: dict, stats, config, name: str) -> str:
    """The one line ``sim`` prints: how the mission ended, its figures and the verdict."""
    from robo_orch.missions.report import estimate_notes
    from robo_orch.missions.session import loop_health_line

    notes = estimate_notes(summary)  # rejected inputs, estimate recoveries (issue 10)
    verdict = "success" if summary["success"] else "FAILED: " + "; ".join(
        summary["failed_criteria"])
    health = ""
    if summary["backend"] != "lockstep":  # lockstep: simulated time, no deadlines to miss
        health = loop_health_line(stats, round(1e9 / config.loop.rate_hz))
        if health and summary["success"]:
            verdict = "success, but the loop missed deadlines"
    return (f"{name} [{summary['backend']}, seed {summary['seed']}]: "
            f"{summary['end_reason']} in {summary['sim_time_s']:.2f} s sim "
            f"({summary['wall_time_s']:.2f} s wall, {summary['realtime_factor']}x), "
            f"path {summary['path_length_m']:.2f} m, {summary['collisions']} collisions, "
            f"min clearance {summary['min_clearance_m']} m, "
            f"{summary['safety_stops']} safety stops, "
            f"{notes + ', ' if notes else ''}tick p99 "
            f"{summary['tick_time_us']['p99']} us{', ' + health if health else ''}: {verdict}")
