"""``robo-orch param list|get|set``: tune a running loop through its control endpoint.

The loop is found like ``robo-orch estop`` finds it (locally, or ``--connect`` with
``--keys`` over CURVE: a read-only client key may list and get, not set).  Values
are written as in a config file (TOML: ``0.5``, ``true``, ``"text"``; a bare word
is a string) and validated by the loop exactly as a config file would be.

Kept free of heavy imports at module level (the parser is built before numpy loads).
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
live and restart-only: every config key is one or the other (`param list` shows
which; the config reference in the README marks live keys "(live)").  `set` changes
live keys only; a restart-only key is refused with "restart needed".  Several keys
in one `set` are validated together and take effect together, between two ticks;
the answer names the tick that first ran with them.  Enabling and disabling a
behavior is `set behaviors.NAME.enabled false`.

exit status: 0 done; 2 no running loop found, an unknown key, an invalid value or a
restart-only key (one line, as `robo-orch check` prints a config file's error); 3 no
answer from the loop within --timeout, or refused (`set` with a read-only client key)."""


def add_parser(sub) -> None:
    """Register ``param`` and its three subcommands."""
    from robo_orch.cli.control import _place_args

    param = sub.add_parser("param", help="list, get or set the parameters of a running loop "
                           "(live tuning)", formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=EPILOG,
                           description="Read and change the parameters of a running `robo-orch "
                           "run` or realtime `robo-orch sim` through its control endpoint.")
    nested = param.add_subparsers(dest="param_command", required=True, metavar="ACTION")
    lst = nested.add_parser("list", help="every key with its value, marked live or restart-only")
    lst.add_argument("--live", action="store_true", help="only the live keys")
    _place_args(lst)
    lst.set_defaults(func=run_param)
    get = nested.add_parser("get", help="the values of KEYs")
    get.add_argument("names", nargs="+", metavar="KEY")  # not "keys": --keys is the key dir
    _place_args(get)
    get.set_defaults(func=run_param)
    put = nested.add_parser("set", help="change live keys together: KEY VALUE [KEY VALUE ...]",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    put.add_argument("pairs", nargs="+", metavar="KEY VALUE")
    _place_args(put)
    put.set_defaults(func=run_param)


def parse_pairs(pairs: list[str]) -> dict:
    """``[KEY, VALUE, ...]`` as ``{key: value}``, each value read as TOML (else a string)."""
    from robo_orch.config.source import parse_override
    from robo_orch.errors import UsageError

    if len(pairs) % 2:
        raise UsageError(f"param set takes KEY VALUE pairs; {pairs[-1]!r} has no value")
    out = {}
    for key, text in zip(pairs[::2], pairs[1::2], strict=True):
        if key in out:
            raise UsageError(f"param set: {key} is given twice")
        out[key] = parse_override(f"{key}={text}")[1]
    return out


def _value(value) -> str:
    return json.dumps(value)


def run_param(args: argparse.Namespace, out=None) -> int:
    """Run ``param list|get|set``; returns the exit status (errors raise, one line)."""
    from robo_orch.cli.control import _client
    from robo_orch.control import protocol as P

    out = sys.stdout if out is None else out
    action = args.param_command
    if action == "set":
        request = ("param.set", {"changes": parse_pairs(args.pairs)})
    elif action == "get":
        request = ("param.get", {"keys": list(args.names)})
    else:
        request = ("param.list", {"live": bool(args.live)})
    with _client(args) as client:
        reply = client.call(*request, timeout_s=args.timeout)
    if not reply.get("ok"):
        raise P.RequestFailed(reply)
    result = reply["result"]
    if args.json:
        print(json.dumps(result, indent=2), file=out)
        return 0
    if action == "set":
        what = ", ".join(f"{k} = {_value(v)}" for k, v in result["changes"].items())
        print(f"robo-orch param: {what}: in effect from tick {result['tick']} (requested "
              f"during tick {result['requested_tick']})", file=out)
        return 0
    keys = result["keys"]
    width = max((len(k) for k in keys), default=0)
    for key, entry in keys.items():
        mark = "live" if entry["live"] else "restart-only"
        print(f"{key:<{width}} = {_value(entry['value'])}  ({mark})", file=out)
    return 0
