"""``robo-orch service unit CONFIG`` and ``service install CONFIG [--user]``: a systemd unit.

The unit runs ``robo-orch run CONFIG`` as a ``Type=notify`` service: systemd
counts it started once the loop completed its first tick (``READY=1``), restarts
it when it crashes or when its ticks stop for ``WatchdogSec`` (``WATCHDOG=1``,
:mod:`robo_orch.runtime.heartbeat`), but never after exit status 2 (a config
error would only fail again).  ``ExecStartPre`` compiles the kernels the config
needs (``robo-orch warmup CONFIG``) into ``CacheDirectory=``, so only the first
start after an install or upgrade is slow, and ``TimeoutStartSec`` allows for
that compile on a Raspberry Pi.  A system unit gets ``RuntimeDirectory=`` (mode
0700) as its ``XDG_RUNTIME_DIR`` (system services have none), so the run-dir
rule of :mod:`robo_orch.rundir` holds; tools find the run with
``XDG_RUNTIME_DIR=/run/robo_orch robo-orch status``.

Kept free of heavy imports (the config is read only by the command itself).
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from pathlib import Path

from robo_orch.errors import UsageError

#: systemd restarts the loop when no tick completed for this long
WATCHDOG_S = 10
#: start-up allowance: ExecStartPre compiles every kernel on an empty cache (minutes on a Pi)
START_TIMEOUT = "15min"
#: the loop stops first (zero command), then the drivers; what is left after this is killed
STOP_TIMEOUT_S = 30
UNIT_NAME = "robo-orch"

USER_NOTE = (
    "a --user unit runs only while you are logged in unless lingering is on: "
    "`loginctl enable-linger {user}`; it cannot raise real-time limits (LimitRTPRIO, "
    "LimitMEMLOCK: a user's service manager has no privileges), so loop.realtime_priority "
    "and loop.lock_memory need limits from /etc/security/limits.d, or a system unit; "
    "the serial ports need you in the dialout group")


def add_parser(sub) -> None:
    """Register ``service`` with ``unit`` and ``install``."""
    p = sub.add_parser("service", help="a systemd unit that runs the robot on boot",
                       description="A systemd service for `robo-orch run CONFIG`: Type=notify "
                       "with a watchdog, restarts on failure (not on config errors), kernels "
                       "compiled before the start. README: Deploying on a robot.")
    ssub = p.add_subparsers(dest="service_command", metavar="{unit,install}", required=True)
    for name, text in (("unit", "print the unit"), ("install", "write the unit file")):
        q = ssub.add_parser(name, help=text)
        q.add_argument("config", metavar="CONFIG")
        q.add_argument("--user", action="store_true",
                       help="a unit for your own service manager (systemctl --user)")
        q.add_argument("--run-as", metavar="NAME", help="system unit: the user the loop runs "
                       "as (default: $SUDO_USER or you); never root")
        q.add_argument("--name", default=UNIT_NAME, help=f"unit name (default {UNIT_NAME})")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="config overrides passed to warmup and run")
        if name == "install":
            q.add_argument("--unit-dir", metavar="DIR", help="where to write it (default "
                           "/etc/systemd/system, or ~/.config/systemd/user with --user)")
            q.add_argument("--force", action="store_true", help="replace an existing unit")
        q.set_defaults(func=run_unit if name == "unit" else run_install)


def run_unit(args: argparse.Namespace) -> int:
    """Print the unit."""
    print(make_unit(args.config, user=args.user, run_as=args.run_as, overrides=args.set),
          end="")
    if args.user:
        print(f"robo-orch service: note: {USER_NOTE.format(user=_invoking_user())}",
              file=sys.stderr)
    return 0


def run_install(args: argparse.Namespace) -> int:
    """Write the unit file and say how to enable it."""
    text = make_unit(args.config, user=args.user, run_as=args.run_as, overrides=args.set)
    folder = Path(args.unit_dir) if args.unit_dir else default_unit_dir(args.user)
    path = folder / f"{args.name}.service"
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; --force replaces it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except PermissionError:
        raise UsageError(f"cannot write {path} (permission denied): run it with sudo "
                         "for a system unit, or use --user") from None
    ctl = "systemctl --user" if args.user else "sudo systemctl"
    print(f"wrote {path}\nnext: {ctl} daemon-reload && {ctl} enable --now {args.name}\n"
          f"watch: journalctl {'--user ' if args.user else ''}-u {args.name} -f")
    if args.user:
        print(f"note: {USER_NOTE.format(user=_invoking_user())}")
    return 0


def default_unit_dir(user: bool) -> Path:
    """``/etc/systemd/system``, or ``$XDG_CONFIG_HOME/systemd/user`` for a user unit."""
    if not user:
        return Path("/etc/systemd/system")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def _invoking_user() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _command() -> list[str]:
    """How the unit starts robo-orch: this install's console script, else ``python -m``."""
    script = Path(sys.executable).parent / "robo-orch"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "robo_orch.cli"]


def _quote(words: list[str]) -> str:
    # systemd's command lines follow shell quoting closely enough for paths and --set;
    # % is systemd's specifier character
    return " ".join(shlex.quote(w) for w in words).replace("%", "%%")


def make_unit(config_path: str, *, user: bool = False, run_as: str | None = None,
              overrides: list[str] | tuple[str, ...] = ()) -> str:
    """The unit file's text for ``robo-orch run CONFIG``; the config is validated first."""
    from robo_orch.config import load_config

    config_file = os.path.abspath(config_path)
    if not os.path.isfile(config_file):
        raise UsageError(f"{config_path}: no such config file (the unit needs a file, not a "
                         "shipped name: copy it, e.g. `cp config/robot.toml /etc/robo_orch/`)")
    config = load_config(config_file, tuple(overrides))  # exit 2 now, not at every boot
    run_as = None if user else (run_as or _invoking_user())
    if run_as == "root":
        raise UsageError("the loop must not run as root: --run-as NAME (a user in the dialout "
                         "group)")
    sets = [w for o in overrides for w in ("--set", o)]
    exe = _command()
    loop = config.loop
    lines = [
        "# robo_orch: `robo-orch run` as a systemd service (made by `robo-orch service unit`;",
        "# README: Deploying on a robot).",
        "[Unit]",
        f"Description=robo_orch robot loop ({config_file})",
        "After=network-online.target",
        "Wants=network-online.target",
        "# give up after 5 failed starts in 2 minutes (systemctl reset-failed to try again)",
        "StartLimitIntervalSec=120",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "# READY=1 after the first tick; WATCHDOG=1 while ticks complete; STOPPING=1",
        "Type=notify",
        "NotifyAccess=main",
        f"WatchdogSec={WATCHDOG_S}",
        "# compile the kernels the config needs (a cold compile takes minutes on a Pi)",
        f"ExecStartPre={_quote([*exe, 'warmup', config_file, *sets])}",
        f"ExecStart={_quote([*exe, '-q', 'run', config_file, *sets])}",
        f"TimeoutStartSec={START_TIMEOUT}",
        "# SIGTERM to the loop only: it stops first (zero command), then its drivers",
        "KillMode=mixed",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        "Restart=on-failure",
        "RestartSec=2",
        "# exit status 2 is a config or usage error: restarting would only fail again",
        "RestartPreventExitStatus=2",
        "# 143: stopped by SIGTERM (systemctl stop), a clean stop",
        "SuccessExitStatus=143",
        "# kernel cache: %C/robo_orch/numba/<build>, kept across restarts and reboots",
        "CacheDirectory=robo_orch",
        "Environment=XDG_CACHE_HOME=%C",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    if user:
        lines += [
            "# a user unit: the run directory is the usual $XDG_RUNTIME_DIR/robo_orch-<uid>;",
            "# lingering (`loginctl enable-linger`) starts it on boot; a user's service",
            "# manager cannot raise real-time limits (set them in /etc/security/limits.d)",
            f"# LimitRTPRIO={max(loop.realtime_priority, 1)}",
            "# LimitMEMLOCK=infinity",
        ]
    else:
        lines += [
            f"User={run_as}",
            "SupplementaryGroups=dialout",
            "# the run directory: /run/robo_orch/robo_orch-<uid>, 0700 (tools on the robot:",
            "# `XDG_RUNTIME_DIR=/run/robo_orch robo-orch status`)",
            "RuntimeDirectory=robo_orch",
            "RuntimeDirectoryMode=0700",
            "Environment=XDG_RUNTIME_DIR=%t/robo_orch",
            "# real-time limits for loop.realtime_priority and loop.lock_memory",
            f"LimitRTPRIO={max(loop.realtime_priority, 1)}",
            "LimitMEMLOCK=infinity",
        ]
    lines += ["", "[Install]", f"WantedBy={'default.target' if user else 'multi-user.target'}",
              ""]
    return "\n".join(lines)
