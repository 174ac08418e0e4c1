"""``robo-orch estop`` and ``robo-orch status``: a running loop's control endpoint, by hand.

Locally the loop is found like ``robo-orch topics`` finds runs; ``--connect
tcp://HOST:PORT`` with ``--keys DIR`` reaches a loop on another machine over CURVE
(:func:`add_remote_args`, :func:`connect`: shared with ``topics`` and any other
command that talks to the control endpoint).

Kept free of heavy imports at module level (the ``robo-orch`` parser is built
before numpy and zmq load).
"""

from __future__ import annotations

import argparse
import json
import sys

ESTOP_EPILOG = """\
the acknowledgement: `estop` sends the request to the loop's control endpoint (found
like `robo-orch topics` finds runs) and waits.  The loop latches (or releases) the
e-stop at the start of its next tick, publishes the state on the e-stop topic, and
answers once a tick whose command obeys it has completed and every actuator driver
of the run (the motor driver) has reported the same latch state.

remote: `--connect tcp://ROBOT:PORT --keys DIR` reaches a loop on another machine over
CURVE (its bus.control_endpoint or bus.tcp_base); a read-only client key may run
`status` but not `estop` (the loop answers `forbidden`).

exit status: 0 acknowledged by the loop and every actuator driver; 2 no running loop
found (or a usage error); 3 no answer from the loop within --timeout (or it refused);
4 the loop applied it but an actuator driver did not confirm within --timeout."""


def add_remote_args(parser: argparse.ArgumentParser, *, default=None) -> None:
    """``--connect``, ``--keys`` and ``--key``: a loop on another machine, over CURVE.

    ``default=argparse.SUPPRESS`` for nested parsers (a value given before the
    subcommand stands).
    """
    parser.add_argument("--connect", metavar="tcp://HOST:PORT", default=default,
                        help="the loop's remote control endpoint (bus.control_endpoint or "
                             "bus.tcp_base) instead of a local run")
    parser.add_argument("--keys", metavar="DIR", default=default,
                        help="with --connect: a key directory holding the robot's server.key "
                             "and this client's clients/NAME.key_secret (or readonly/...); "
                             "default: --config's bus.keys")
    parser.add_argument("--key", metavar="NAME", default=default,
                        help="which client key of --keys (default: the only one there, or "
                             "--config's bus.client_key)")


def remote_keys(args: argparse.Namespace):
    """The CURVE keys ``--keys``/``--key`` (or ``--config``'s bus.keys) name, for --connect."""
    from robo_orch.bus.keys import load_keys
    from robo_orch.errors import UsageError

    keys, name = getattr(args, "keys", None), getattr(args, "key", None)
    if not keys and getattr(args, "config", None):
        from robo_orch.config import load_config
        from robo_orch.config.network import keys_dir

        config = load_config(args.config, with_behaviors=False)
        if config.bus.keys:
            keys, name = keys_dir(config), name or config.bus.client_key
    if not keys:
        raise UsageError("--connect needs CURVE keys: pass --keys DIR (a copy of the robot's "
                         "server.key and this client's .key_secret, from `robo-orch keys "
                         "generate`) or --config with bus.keys")
    return load_keys(keys, name)


def _place_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="the robot's run directory (default: discovered)")
    parser.add_argument("--config", help="the robot's config (its bus.run_dir)")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="S",
                        help="wait this long for the answer (default 2 s)")
    parser.add_argument("--json", action="store_true", help="print the whole reply as JSON")
    add_remote_args(parser)


def add_parser(sub) -> None:
    """Register ``estop`` and ``status``."""
    estop = sub.add_parser("estop", help="engage (or --reset) the latched e-stop of a running "
                           "loop and wait for its acknowledgement",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=ESTOP_EPILOG,
                           description="Engage (or --reset) the latched e-stop of a running "
                           "`robo-orch run` or realtime `robo-orch sim` through its control "
                           "endpoint, and exit 0 only once it is confirmed.")
    estop.add_argument("--reset", action="store_true", help="release the e-stop")
    _place_args(estop)
    estop.set_defaults(func=run_estop)
    status = sub.add_parser("status", help="a running loop's health as JSON (ticks, overruns, "
                            "e-stop, inputs, drivers)")
    _place_args(status)
    status.set_defaults(func=run_status)


def _client(args: argparse.Namespace):
    """The control client of the loop the arguments name (a usage error if none)."""
    from robo_orch.control.client import ControlClient, find_control
    from robo_orch.errors import UsageError

    if not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0, got {args.timeout}")
    return connect(args) if getattr(args, "connect", None) else ControlClient(
        find_control(args.run_dir, args.config))


def connect(args: argparse.Namespace):
    """A control client of the remote loop at ``--connect`` (over CURVE)."""
    from robo_orch.control.client import ControlClient, ControlTarget
    from robo_orch.errors import UsageError

    if not args.connect.startswith("tcp://"):
        raise UsageError(f"--connect takes a tcp://HOST:PORT address, got {args.connect!r}")
    return ControlClient(ControlTarget(args.connect, ""), curve=remote_keys(args))


def run_status(args: argparse.Namespace, out=None) -> int:
    """Run ``status``: print the loop's health as JSON; returns the exit status."""
    from robo_orch.control import protocol as P

    out = sys.stdout if out is None else out
    with _client(args) as client:
        reply = client.call("status", timeout_s=args.timeout)
    if not reply.get("ok"):
        raise P.RequestFailed(reply)
    print(json.dumps(reply if args.json else reply["result"], indent=2), file=out)
    return 0


def run_estop(args: argparse.Namespace, out=None) -> int:
    """Run ``estop``; returns the exit status (errors raise, one line)."""
    from robo_orch.control import protocol as P

    out = sys.stdout if out is None else out
    with _client(args) as client:
        # the loop waits up to the timeout for the drivers; this end a little longer
        reply = client.call("estop", {"engage": not args.reset, "timeout_s": args.timeout},
                            timeout_s=args.timeout + 1.0)
        where = client.target.describe()
    if args.json:
        print(json.dumps(reply), file=out)
    if not reply.get("ok"):
        err = P.RequestFailed(reply)
        if not args.json:
            print(f"robo-orch estop: {'NOT CONFIRMED' if err.exit_status == 4 else 'FAILED'}: "
                  f"{err}", file=sys.stderr)
        return err.exit_status
    if not args.json:
        print(estop_line(reply["result"], where), file=out)
    return 0


def estop_line(result: dict, where: str) -> str:
    """The one-line acknowledgement of ``robo-orch estop``."""
    word = "engaged" if result["estop"] else "released"
    drivers = result.get("drivers") or {}
    if drivers:
        confirmed = ", ".join(f"{name} ({d['after_ms']:.0f} ms)" for name, d in drivers.items())
        by = f"; confirmed by {confirmed}"
    else:
        by = "; no actuator driver in this run"
    v, w = result.get("command", [0.0, 0.0])
    return (f"robo-orch estop: e-stop {word} by {where} at tick {result['tick']} (command "
            f"v {v:+.3f} w {w:+.3f}){by}, {result['elapsed_ms']:.0f} ms after the request")
