"""Command-line parts of recording: ``--record`` options, ``replay`` and ``plot``.

Kept free of heavy imports: the ``robo-orch`` parser is built before numpy and
numba load (so ``--cache-dir`` still applies).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def add_record_args(parser: argparse.ArgumentParser) -> None:
    """``--record FILE.mcap`` and its size options, for ``sim`` and ``run``."""
    parser.add_argument("--record", metavar="FILE.mcap",
                        help="record every bus message, each tick's inputs, proposals, "
                             "command and timing to MCAP (opens in Foxglove)")
    parser.add_argument("--record-split-mb", type=float, metavar="MB",
                        help="start a new file of the recording past this size (at least 1)")
    parser.add_argument("--record-max-mb", type=float, metavar="MB",
                        help="stop recording when the recording reaches this size (at "
                             "least 1)")


def add_parser(sub) -> None:
    """Register ``replay`` and ``plot``."""
    add_replay_parser(sub).set_defaults(func=run_replay)
    add_plot_parser(sub).set_defaults(func=run_plot)


def add_replay_parser(sub) -> argparse.ArgumentParser:
    """Add ``replay`` to the ``robo-orch`` subcommands."""
    p = sub.add_parser("replay", help="republish a recording on the bus, or re-run the loop "
                       "on its inputs (--rerun)")
    p.add_argument("recording", metavar="FILE.mcap")
    p.add_argument("--rate", type=float, default=1.0,
                   help="speed factor (2 = twice as fast; 0 = as fast as possible)")
    p.add_argument("--topics", nargs="+", metavar="TOPIC",
                   help="only these topics (glob patterns allowed, e.g. 'sensor/*')")
    p.add_argument("--run-dir", help="bus run directory to publish into (default: the one "
                   "`robo-orch run` uses)")
    p.add_argument("--rerun", metavar="CONFIG", help="re-run the loop with CONFIG on the "
                   "recorded inputs (open-loop) and compare the commands")
    p.add_argument("--resim", action="store_true", help="simulate a lockstep recording's "
                   "mission again, closed-loop (same world and seed), with the --set changes: "
                   "first divergence, metric deltas, both paths")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for --rerun and --resim (repeatable)")
    p.add_argument("--plot", metavar="FILE.png", help="--rerun: plot recorded vs re-run "
                   "commands here; --resim: both paths (default when they diverge: next to "
                   "the recording)")
    return p


def add_plot_parser(sub) -> argparse.ArgumentParser:
    """Add ``plot`` to the ``robo-orch`` subcommands."""
    p = sub.add_parser("plot", help="draw a recording: path, commands, activations, timing")
    p.add_argument("recording", metavar="FILE.mcap")
    p.add_argument("--out", metavar="FILE.png", help="default: the recording's name with .png")
    return p


def run_replay(args: argparse.Namespace) -> int:
    """Run ``replay`` (:mod:`robo_orch.record.replay`; ``--resim``:
    :mod:`robo_orch.missions.resim`)."""
    if args.resim:
        return run_resim(args)
    from robo_orch.record.replay import run

    return run(args)


def run_resim(args: argparse.Namespace) -> int:
    """``replay FILE --resim [--set k=v]``: 0 done (whether or not the runs diverge)."""
    from pathlib import Path

    from robo_orch.errors import UsageError
    from robo_orch.missions.resim import plot_resim, resimulate
    from robo_orch.record.reader import open_recording

    if args.rerun:
        raise UsageError("--resim and --rerun are two different re-runs: give one")
    report = resimulate(open_recording(args.recording), tuple(args.set))
    print(report.text())
    plot_path = args.plot
    if plot_path is None and report.diverged is not None:
        plot_path = str(Path(args.recording).with_suffix("")) + "-resim.png"
    if plot_path:
        plot_resim(report, plot_path, title=f"{Path(args.recording).name} re-simulated with "
                   f"{' '.join(args.set) or 'no change'}")
        print(f"plot written to {plot_path}")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """Run ``plot`` (:mod:`robo_orch.record.plot`)."""
    from robo_orch.record.plot import run

    return run(args)


@contextmanager
def recording(args: argparse.Namespace, *, seed: int | None = None,
              overrides: tuple[str, ...] = ()) -> Iterator:
    """Yield the ``on_start`` hook that starts recording (None without ``--record``).

    On exit the recording is finished and one line says what it holds.
    """
    if not getattr(args, "record", None):
        yield None
        return
    from robo_orch.errors import UsageError
    from robo_orch.record.sink import MIN_FILE_BYTES
    from robo_orch.record.writer import Recorder, RecordOptions

    mb = 1_000_000
    split = args.record_split_mb
    cap = args.record_max_mb
    for option, value in (("--record-split-mb", split), ("--record-max-mb", cap)):
        if value is not None and not MIN_FILE_BYTES <= value * mb < math.inf:  # NaN too
            raise UsageError(f"{option} must be a size of at least {MIN_FILE_BYTES / mb:g} "
                             "MB (each file holds the run's context, the schemas and a "
                             f"summary besides the messages), got {value:g}")
    options = RecordOptions(args.record, split_bytes=None if split is None else int(split * mb),
                            max_bytes=None if cap is None else int(cap * mb))
    recorder = Recorder(options, seed=seed, overrides=overrides)
    recorder.start()  # its process loads while the run loads its kernels
    try:
        yield recorder.attach
    finally:
        attached = recorder.attached
        result = recorder.close()
        if attached:
            lost = sum(result.lost.values())
            files = ", ".join(str(p) for p in result.files)
            print(f"recorded {sum(result.raw.values())} bus messages ({result.messages} "
                  f"MCAP messages, {result.bytes / mb:.1f} MB) to {files}"
                  + (f"; {lost} missed (see the file's robo_orch.runtime.stats)" if lost else ""),
                  file=sys.stderr if args.quiet else sys.stdout)
