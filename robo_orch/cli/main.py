"""The ``robo-orch`` command: the top-level parser, the global options and dispatch.

Each command group lives in its own module (:mod:`~robo_orch.cli.sim`,
:mod:`~robo_orch.cli.run`, ...), whose ``add_parser(sub)`` registers its
subcommands with ``set_defaults(func=...)``; :func:`main` calls ``args.func(args)``.

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
import os
import sys
import traceback
import warnings

from robo_orch.cli import (
    bench,
    check,
    control,
    devices,
    faults,
    keys,
    record,
    run,
    scenarios,
    service,
    sim,
    topics,
    warmup,
)
from robo_orch.errors import RoboOrchError, RoboOrchWarning

#: in the order ``robo-orch --help`` lists them
GROUPS = (sim, run, check, bench, warmup, devices, control, scenarios, faults, record, topics,
          keys, service)


def _global_args(parser, *, after_command: bool) -> list[argparse.Action]:
    # after the command they have no defaults: when not given there, the values given
    # before the command (or the top level's defaults) stand
    cache_dir, quiet = (argparse.SUPPRESS, argparse.SUPPRESS) if after_command else (None, False)
    return [
        parser.add_argument("--cache-dir", default=cache_dir, help="numba cache directory "
                            "(default: $NUMBA_CACHE_DIR or ~/.cache/robo_orch/numba)"),
        parser.add_argument("-q", "--quiet", action="store_true", default=quiet,
                            help="no progress line"),
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
        description="Sense-plan-act coordinator for robots: simulate, run, check, benchmark.")
    _global_args(parser, after_command=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
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
    from robo_orch.runtime.signals import Interrupted

    warnings.showwarning = _show_warning

    try:
        return args.func(args)
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


_python_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """robo_orch's own warnings as one line on stderr (others as Python prints them)."""
    if not issubclass(category, RoboOrchWarning):
        _python_showwarning(message, category, filename, lineno, file, line)
        return
    print(f"robo-orch: warning: {message}", file=file if file is not None else sys.stderr,
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
