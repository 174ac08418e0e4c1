"""``robo-orch estop`` and ``robo-orch status``: a running loop's control endpoint, by hand.

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

exit status: 0 acknowledged by the loop and every actuator driver; 2 no running loop
found (or a usage error); 3 no answer from the loop within --timeout (or it refused);
4 the loop applied it but an actuator driver did not confirm within --timeout."""


def _place_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="the robot's run directory (default: discovered)")
    parser.add_argument("--config", help="the robot's config (its bus.run_dir)")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="S",
                        help="wait this long for the answer (default 2 s)")
    parser.add_argument("--json", action="store_true", help="print the whole reply as JSON")


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
    return ControlClient(find_control(args.run_dir, args.config))


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
