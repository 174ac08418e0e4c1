"""The ``robo-orch`` command: the top-level parser, the global options and dispatch.

Each command group lives in its own module (:mod:`~robo_orch.cli.sim`,
:mod:`~robo_orch.cli.run`, ...), whose ``add_parser(sub)`` registers its
subcommands with ``set_defaults(func=...)``; :func:`main` calls ``args.func(args)``.

Exit status: 0 done (for ``sim``: the mission met its success criteria),
1 the mission ran but failed its success criteria, 2 usage or config error
(one line on stderr, no traceback), 3 runtime fault, 130 interrupted by SIGINT
(Ctrl-C), 143 stopped by SIGTERM (``sim`` and ``run``; 128 + the signal
number).  ``estop`` adds 4: the loop applied it but an actuator driver did not
confirm (see ``robo-orch estop --help``); ``param set`` exits 2 on a value the loop
refuses (invalid, or a restart-only key).

Log lines (:mod:`robo_orch.logs`): the commands a service runs (``run``,
``driver``, ``warmup``), and any command given ``--log-file``, write timestamped,
levelled lines; a command's final one-line error stays as it is.

Heavy imports (numpy, numba, zmq) happen after the arguments are parsed, so that
``--cache-dir`` can still choose numba's cache directory and ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from robo_orch import logs
from robo_orch.cli import (
    bench,
    check,
    control,
    devices,
    faults,
    keys,
    param,
    record,
    run,
    scenarios,
    service,
    sim,
    sweep,
    topics,
    tune,
    warmup,
)
from robo_orch.errors import RoboOrchError, RoboOrchWarning

#: in the order ``robo-orch --help`` lists them
GROUPS = (sim, run, check, bench, warmup, devices, control, param, scenarios, faults, sweep,
          tune, record, topics, keys, service)


#: commands whose stderr is a log (timestamped, levelled lines; robo_orch.logs) even
#: without --log-file: what a service runs.  The others answer a user on stderr.
LOGGED_COMMANDS = frozenset({"run", "driver", "warmup"})


def _global_args(parser, *, after_command: bool) -> list[argparse.Action]:
    # after the command they have no defaults: when not given there, the values given
    # before the command (or the top level's defaults) stand
    def default(value):
        return argparse.SUPPRESS if after_command else value

    return [
        parser.add_argument("--cache-dir", default=default(None), help="numba cache directory "
                            "(default: $NUMBA_CACHE_DIR or ~/.cache/robo_orch/numba)"),
        parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                            help="no progress line"),
        parser.add_argument("--log-level", choices=logs.LEVELS, default=default("info"),
                            help="drop log lines below this level (default info)"),
        parser.add_argument("--log-file", metavar="FILE", default=default(None),
                            help="also write every log line, timestamped, to FILE (rotated)"),
        parser.add_argument("--log-max-mb", type=float, metavar="MB", default=default(10.0),
                            help="rotate the log file at this size (default 10)"),
        parser.add_argument("--log-backups", type=int, metavar="N", default=default(5),
                            help="rotated log files kept (default 5)"),
    ]


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser, which also accepts the global options (``robo-orch sim -q``).

    They are added last (:meth:`accept_global_options`), after the command's own
    options, and without defaults, so that a global option given before the
    subcommand is kept when it is not repeated after it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._global_actions: list[argparse.Action] = []
        self._commands: argparse.Action | None = None

    def add_subparsers(self, **kwargs):
        """As in argparse; the nested commands accept the global options too."""
        self._commands = super().add_subparsers(**kwargs)
        return self._commands

    def accept_global_options(self) -> None:
        """Add the global options to this command and to its nested commands."""
        group = self.add_argument_group("global options (also accepted before the command)")
        self._global_actions = _global_args(group, after_command=True)
        if self._commands is not None:
            for nested in self._commands.choices.values():
                nested.accept_global_options()

    def _get_option_tuples(self, option_string):
        # an abbreviation of the command's own option keeps meaning it: `bench --q`
        # is still --quick, not ambiguous with --quiet
        found = super()._get_option_tuples(option_string)
        own = [t for t in found if t[0] not in self._global_actions]
        return own or found


def build_parser() -> argparse.ArgumentParser:
    """The ``robo-orch`` parser with every command group's subcommands."""
    parser = argparse.ArgumentParser(
        prog="robo-orch",
        # the --log-* options are listed by --help; the one-line usage stays short
        usage="%(prog)s [-h] [--cache-dir CACHE_DIR] [-q] COMMAND ...",
        description="Sense-plan-act coordinator for robots: simulate, run, check, benchmark.")
    _global_args(parser, after_command=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", prog="robo-orch",
                                parser_class=CommandParser)
    for group in GROUPS:
        group.add_parser(sub)
    for command in sub.choices.values():
        command.accept_global_options()
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``robo-orch`` console script."""
    args = build_parser().parse_args(argv)
    from robo_orch import _numba_env

    _numba_env.set_cache_dir(args.cache_dir)
    if _numba_env.uses_default_cache():  # whose it is: `warmup` prunes only its own
        _numba_env.mark_cache_dir(_numba_env.default_cache_dir())
    warnings.showwarning = _show_warning
    try:
        if args.log_file or args.command in LOGGED_COMMANDS:
            logs.setup(args.log_level, args.log_file, args.log_max_mb, args.log_backups)
        _cold_start(args)
        return _dispatch(args)
    except RoboOrchError as err:  # --log-file could not be opened
        logs.final_line(f"robo-orch: error: {err}")
        return err.exit_status
    finally:
        logs.teardown()


def _cold_start(args: argparse.Namespace) -> None:
    """``sim`` and ``run`` on an empty kernel cache: compile in two processes first."""
    if args.command not in ("sim", "run"):
        return
    from robo_orch.hosting import compile as kernels

    # `sim`: the simulator's kernels too (a realtime simulator process then loads them)
    kernels.precompile(args.config, tuple(args.set), simulator=args.command == "sim",
                       quiet=args.quiet)


def _dispatch(args: argparse.Namespace) -> int:
    from robo_orch.runtime.signals import Interrupted

    try:
        return args.func(args)
    except Interrupted as err:
        logs.final_line(f"robo-orch: {err}")
        return err.exit_status
    except RoboOrchError as err:
        logs.final_line(f"robo-orch: error: {err}")
        return err.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: say so in one line, the traceback on request
        if os.environ.get("ROBO_ORCH_DEBUG"):
            traceback.print_exc()
        logs.final_line(f"robo-orch: runtime fault: {type(err).__name__}: {err} "
                        "(set ROBO_ORCH_DEBUG=1 for the traceback)")
        return 3


_python_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """robo_orch's own warnings as one line on stderr (others as Python prints them)."""
    if not issubclass(category, RoboOrchWarning):
        _python_showwarning(message, category, filename, lineno, file, line)
        return
    if file is None or file is sys.stderr:
        logs.final_line(f"robo-orch: warning: {message}")
    else:
        print(f"robo-orch: warning: {message}", file=file, flush=True)


if __name__ == "__main__":
    sys.exit(main())
