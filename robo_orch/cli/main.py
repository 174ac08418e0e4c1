"""The ``robo-orch`` command.

Exit status: 0 done (for ``sim``: the mission met its success criteria),
1 the mission ran but failed its success criteria, 2 usage or config error
(one line on stderr, no traceback), 3 runtime fault, 130 interrupted by SIGINT
(Ctrl-C), 143 stopped by SIGTERM (``sim`` and ``run``; 128 + the signal
number).  ``estop`` adds 4: the loop applied it but an actuator driver did not
confirm (see ``robo-orch estop --help``).

Heavy imports (numpy, numba, zmq) happen after the arguments are parsed, so that
``--cache-dir`` can still choose numba's cache directory and ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from robo_orch.cli import control as control_cli
from robo_orch.cli import devices as cli_devices
from robo_orch.cli import record as record_cli
from robo_orch.cli import topics as introspect
from robo_orch.errors import RoboOrchError
from robo_orch.missions import scenarios
from robo_orch.record import live

_T0 = time.perf_counter()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robo-orch",
        description="Sense-plan-act coordinator for robots: simulate, run, check, benchmark.")
    parser.add_argument("--cache-dir", help="numba cache directory (default: "
                        "$NUMBA_CACHE_DIR or ~/.cache/robo_orch/numba)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("sim", help="run a simulated mission")
    sim.add_argument("config", nargs="?", help="config file or shipped scenario name "
                     "(default: the embedded demo mission)")
    sim.add_argument("--lockstep", action="store_true",
                     help="deterministic, faster than real time, in one process")
    sim.add_argument("--duration", type=float, metavar="S", help="stop after S simulated s")
    sim.add_argument("--seed", type=int, help="seed of every noise source")
    sim.add_argument("--summary", metavar="FILE", help="write the JSON summary here")
    sim.add_argument("--plot", metavar="FILE", help="write a PNG of the run here")
    sim.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key (repeatable)")
    sim.add_argument("--devices", choices=("sim", "serial"), default="sim",
                     help="'serial': run the config's real drivers against device emulators "
                     "on pseudo-terminals (realtime only)")
    record_cli.add_record_args(sim)
    live.add_live_args(sim)

    run = sub.add_parser("run", help="run the loop on hardware (drivers publish on the bus)")
    run.add_argument("config")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    record_cli.add_record_args(run)
    live.add_live_args(run)

    check = sub.add_parser("check", help="validate a config and print what would run")
    check.add_argument("config", nargs="?")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    bench = sub.add_parser("bench", help="run the benchmark suite")
    bench.add_argument("--json", metavar="FILE", help="write the results as JSON")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 min)")
    bench.add_argument("--plot", metavar="FILE",
                       help="draw the figures (scaling, timing, latency, tick) as a PNG")

    sub.add_parser("warmup", help="compile and cache every kernel")
    cli_devices.add_parsers(sub)
    control_cli.add_parsers(sub)
    scenarios.add_parser(sub)
    record_cli.add_parsers(sub)
    introspect.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``robo-orch`` console script."""
    args = _parser().parse_args(argv)
    from robo_orch import _numba_env

    _numba_env.set_cache_dir(args.cache_dir)
    from robo_orch.runtime.signals import Interrupted

    try:
        return _dispatch(args)
    except Interrupted as err:
        print(f"robo-orch: {err}", file=sys.stderr)
        return err.exit_status
    except RoboOrchError as err:
        print(f"robo-orch: error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: say so in one line, the traceback on request
        if os.environ.get("ROBO_ORCH_DEBUG"):
            traceback.print_exc()
        print(f"robo-orch: runtime fault: {type(err).__name__}: {err} "
              "(set ROBO_ORCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


def _dispatch(args: argparse.Namespace) -> int:
    status = cli_devices.dispatch(args)
    if status is not None:
        return status
    if args.command == "sim":
        return _cmd_sim(args)
    if args.command == "check":
        return _cmd_check(args)
    if args.command == "warmup":
        return _cmd_warmup(args)
    if args.command == "scenarios":
        return scenarios.run(args)
    if args.command in ("replay", "plot"):
        return record_cli.run(args)
    if args.command == "topics":
        return introspect.run(args)
    if args.command in ("estop", "status"):
        return control_cli.run(args)
    if args.command == "bench":
        from robo_orch.bench.suite import run_bench

        return run_bench(json_path=args.json, quick=args.quick, plot_path=args.plot)
    if args.command == "run":
        from robo_orch.hosting.robot import run_hardware

        with record_cli.recording(args, overrides=tuple(args.set)) as on_start, \
                live.serving(args, on_start) as on_start:
            return run_hardware(args.config, tuple(args.set), duration_s=args.duration,
                                quiet=args.quiet, on_start=on_start)
    raise AssertionError(args.command)


def _cmd_sim(args: argparse.Namespace) -> int:
    from robo_orch.config import load_config
    from robo_orch.missions.report import estimate_notes, plot, summarize
    from robo_orch.missions.session import loop_health_line, run_mission
    from robo_orch.runtime.progress import ProgressLine

    overrides = tuple(args.set)
    config = load_config(args.config, overrides)
    backend = "lockstep" if args.lockstep else config.sim.backend
    progress = None if args.quiet else ProgressLine(sys.stderr)
    with record_cli.recording(args, seed=args.seed, overrides=overrides) as on_start, \
            live.serving(args, on_start) as on_start:
        result = run_mission(config, backend=backend, config_path=config.source,
                             overrides=overrides, seed=args.seed, duration_s=args.duration,
                             progress=progress, process_start=_T0, devices=args.devices,
                             on_start=on_start)
    if progress is not None:
        progress.finish(result.controller)
    summary = summarize(result)
    if args.summary:
        _write(args.summary, json.dumps(summary, indent=2) + "\n")
    if args.plot:
        plot(result, args.plot)
    notes = estimate_notes(summary)  # rejected inputs, estimate recoveries (issue 10)
    verdict = "success" if summary["success"] else "FAILED: " + "; ".join(
        summary["failed_criteria"])
    health = ""
    if summary["backend"] != "lockstep":  # lockstep: simulated time, no deadlines to miss
        health = loop_health_line(result.stats, round(1e9 / config.loop.rate_hz))
        if health and summary["success"]:
            verdict = "success, but the loop missed deadlines"
    print(f"{Path(config.source).name} [{summary['backend']}, seed {summary['seed']}]: "
          f"{summary['end_reason']} in {summary['sim_time_s']:.2f} s sim "
          f"({summary['wall_time_s']:.2f} s wall, {summary['realtime_factor']}x), "
          f"path {summary['path_length_m']:.2f} m, {summary['collisions']} collisions, "
          f"min clearance {summary['min_clearance_m']} m, "
          f"{summary['safety_stops']} safety stops, "
          f"{notes + ', ' if notes else ''}tick p99 "
          f"{summary['tick_time_us']['p99']} us{', ' + health if health else ''}: {verdict}")
    if args.plot:
        print(f"plot written to {args.plot}")
    if result.signal is not None:
        return 128 + result.signal  # interrupted: not a verdict on the mission
    return 0 if summary["success"] else 1


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as err:
        from robo_orch.errors import UsageError

        raise UsageError(f"cannot write {path}: {err.strerror}") from None


def _cmd_check(args: argparse.Namespace) -> int:
    from robo_orch.config import load_config
    from robo_orch.config.describe import describe_config

    config = load_config(args.config, tuple(args.set))
    print(describe_config(config))
    return 0


def _cmd_warmup(args: argparse.Namespace) -> int:
    from robo_orch.cli.warmup import warmup_all

    return warmup_all(quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
