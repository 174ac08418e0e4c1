"""``robo-orch topics``, ``topics echo`` and ``topics hz``: a running robot from another terminal.

Kept free of heavy imports at module level (the ``robo-orch`` parser is built
before numpy and numba load); the work happens in :func:`run`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

DISCOVERY_HELP = """\
how the robot is found (no endpoints to type):
  every process that publishes on the ZeroMQ bus writes
  run_dir/endpoints/<pid>-<start time>-<n>.json
  (its pid and name, publisher id and incarnation, each topic's endpoint and type) and an
  index entry in $XDG_RUNTIME_DIR/robo_orch-<uid>/active/ (or <tmp>/robo_orch-<uid>/active/
  without XDG_RUNTIME_DIR) naming its run directory; both go away when it exits, and
  entries of processes that died (a re-used pid included) are ignored and removed.
  With no --run-dir or --config, `topics` looks at every run directory in that index
  (a realtime `robo-orch sim` too, whose bus lives in a private temporary directory)
  and at the default run directory of `robo-orch run`.  Lockstep simulations run on
  an in-process bus: nothing to see from outside.

rates come from the publishers' own header stamps and sequence numbers, not from
arrival times: a busy terminal or a loaded machine does not change them, and
messages lost on the way show up as gaps instead of a lower rate."""


def _place_args(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    from robo_orch.cli.control import add_remote_args

    # nested parsers must not overwrite a value given before the subcommand
    default = argparse.SUPPRESS if nested else None
    parser.add_argument("--run-dir", default=default,
                        help="the robot's bus directory (default: discovered)")
    parser.add_argument("--config", default=default,
                        help="the robot's config (its bus.run_dir)")
    add_remote_args(parser, default=default)


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``topics`` (with ``echo`` and ``hz``) to the ``robo-orch`` subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("topics", help="list a running robot's topics (type, rate, publisher, "
                       "counters); `topics echo`, `topics hz`", epilog=DISCOVERY_HELP,
                       formatter_class=fmt,
                       description="List the topics of a running robot or realtime simulation "
                       "with type, rate, publisher and counters (gaps, malformed) measured over "
                       "a short sample.")
    _place_args(p, nested=False)
    p.add_argument("--sample", type=float, default=1.0, metavar="S",
                   help="listen this long to measure rates and counters (default 1 s)")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    p.set_defaults(func=run_list)
    tsub = p.add_subparsers(dest="topics_command", metavar="{echo,hz}")

    echo = tsub.add_parser("echo", help="print a topic's messages as JSON lines",
                           epilog=DISCOVERY_HELP, formatter_class=fmt,
                           description="Print each message of TOPIC as one JSON line: topic, "
                           "type, header (publisher id, incarnation, seq, stamp, clock, frame) "
                           "and data (the message's fields; a variable part under 'points').")
    echo.add_argument("topic")
    echo.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    echo.add_argument("--timeout", type=float, metavar="S",
                      help="give up (status 3) after S s without a message")
    _place_args(echo, nested=True)
    echo.set_defaults(func=run_echo)

    hz = tsub.add_parser("hz", help="a topic's rate from its stamps, with interval min/max/std",
                         epilog=DISCOVERY_HELP, formatter_class=fmt,
                         description="Report the rate of TOPIC computed from the publisher's "
                         "own stamps and sequence numbers, with the minimum, maximum and "
                         "standard deviation of the interval between messages, updated every "
                         "second on one line (one line per update when not on a terminal).")
    hz.add_argument("topic")
    hz.add_argument("--window", type=int, default=100, metavar="N",
                    help="statistics over the last N intervals (default 100)")
    hz.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    hz.add_argument("--json", action="store_true", help="one JSON object per update")
    _place_args(hz, nested=True)
    hz.set_defaults(func=run_hz)
    return p


def run_list(args: argparse.Namespace, out=None) -> int:
    """Run ``topics``: the table (or JSON list) of every topic; returns the exit status."""
    out = sys.stdout if out is None else out
    with _reader_may_leave(out):
        found, curve, rejects = _found(args)
        return list_topics([] if found is not None else _run_dirs(args), out,
                           sample_s=args.sample, as_json=args.json, found=found, curve=curve,
                           rejects=rejects)
    return 0


def run_echo(args: argparse.Namespace, out=None) -> int:
    """Run ``topics echo``; returns the exit status."""
    out = sys.stdout if out is None else out
    with _reader_may_leave(out):
        found, curve, _ = _found(args)
        return echo(_one_topic(_run_dirs(args) if found is None else [], args.topic, found),
                    out, count=args.count, timeout_s=args.timeout, curve=curve)
    return 0


def run_hz(args: argparse.Namespace, out=None) -> int:
    """Run ``topics hz``; returns the exit status."""
    out = sys.stdout if out is None else out
    with _reader_may_leave(out):
        found, curve, _ = _found(args)
        return hz(_one_topic(_run_dirs(args) if found is None else [], args.topic, found), out,
                  window=args.window, duration_s=args.duration, as_json=args.json, curve=curve)
    return 0


def _found(args: argparse.Namespace):
    from robo_orch.cli.topics_source import found

    return found(args)


def _run_dirs(args: argparse.Namespace) -> list[str]:
    from robo_orch.introspect.endpoints import find_run_dirs

    return find_run_dirs(getattr(args, "run_dir", None), getattr(args, "config", None))


@contextmanager
def _reader_may_leave(out) -> Iterator[None]:
    """The reader going away (``| head``) ends the command quietly (status 0)."""
    try:
        yield
    except BrokenPipeError:
        # and keep Python quiet at exit too
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _no_robot(run_dirs: list[str]) -> Exception:
    from robo_orch.errors import UsageError
    from robo_orch.introspect.endpoints import ACTIVE_DIR, runtime_base

    where = ", ".join(run_dirs) if run_dirs else os.path.join(runtime_base(), ACTIVE_DIR)
    return UsageError(f"no running robo_orch process publishes in {where}; start "
                      "`robo-orch sim` or `robo-orch run`, or pass --run-dir/--config "
                      "(lockstep simulations cannot be seen from outside)")


def _one_topic(run_dirs: list[str], topic: str, found=None):
    from robo_orch.errors import UsageError
    from robo_orch.introspect.probe import find_topics

    topic = topic.lstrip("/")
    found = find_topics(run_dirs) if found is None else found
    if not found:
        raise _no_robot(run_dirs)
    matches = [t for t in found if t.topic == topic]
    if not matches:
        names = sorted({t.topic for t in found})
        close = difflib.get_close_matches(topic, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"nobody publishes {topic!r}{hint} (topics: {', '.join(names)})")
    dirs = sorted({t.run_dir for t in matches})
    if len(dirs) > 1:
        raise UsageError(f"{topic!r} is published in several run directories "
                         f"({', '.join(dirs)}): pass --run-dir")
    return matches[-1]


def _jsonable(value):
    """``value`` with non-finite floats as None (strict JSON, for jq and friends)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _dumps(obj) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_jsonable(obj), separators=(",", ":"), allow_nan=False)


def list_topics(run_dirs: list[str], out, *, sample_s: float = 1.0, as_json: bool = False,
                found=None, curve=None, rejects: dict | None = None) -> int:
    """Print every topic with type, rate, publisher and counters measured over ``sample_s``.

    ``found``: the topics (default: those in ``run_dirs``); ``curve``: keys for tcp ones;
    ``rejects``: the loop's input rejects per run dir (default: asked of each run dir's loop).
    """
    import zmq

    from robo_orch.clock import make_clock
    from robo_orch.introspect.probe import Probe, find_topics, poll

    topics = find_topics(run_dirs) if found is None else found
    if not topics:
        raise _no_robot(run_dirs)
    clock = make_clock("wall")
    context = zmq.Context()
    probes = []
    try:
        for t in topics:
            probes.append(Probe(t, context, window=100_000, curve=curve))
        end = clock.now_ns() + int(max(sample_s, 0.0) * 1e9)
        while (left := end - clock.now_ns()) > 0:
            for probe in poll(probes, left * 1e-9):
                while probe.read() is not None:
                    pass
    finally:
        for probe in probes:
            probe.close()
        context.term()
    if rejects is None:
        from robo_orch.cli.topics_source import loop_input_rejects

        rejects = {d: loop_input_rejects(d) for d in {p.info.run_dir for p in probes}}
    rows = []
    for p in probes:
        t, s = p.info, p.stats
        proc = t.process
        rows.append({"run_dir": t.run_dir, "topic": t.topic, "type": t.type_name,
                     "endpoint": t.endpoint, "rate_hz": s.rate_hz,
                     "publisher": None if proc is None else {
                         "id": proc.publisher_id, "incarnation": proc.incarnation,
                         "pid": proc.pid, "name": proc.name},
                     "received": s.received, "seq_gaps": s.seq_gaps,
                     "malformed": p.malformed_total,
                     "loop_rejected": rejects[t.run_dir].get(t.topic)})
    if as_json:
        print(_dumps(rows), file=out)
        return 0
    for run_dir in sorted({r["run_dir"] for r in rows}):
        where = f"loop at {run_dir}" if run_dir.startswith("tcp://") else f"run dir {run_dir}"
        print(f"{where} (sampled {sample_s:g} s)", file=out)
        table = [("TOPIC", "TYPE", "RATE Hz", "PUBLISHER", "MSGS", "GAPS", "MALFORMED",
                  "LOOP REJECTED")]
        for r, p in zip(rows, probes, strict=True):
            if r["run_dir"] != run_dir:
                continue
            rate = "-" if math.isnan(r["rate_hz"]) else f"{r['rate_hz']:.2f}"
            rejected = r["loop_rejected"]
            reasons = "-" if rejected is None else (", ".join(
                f"{why} {n}" for why, n in sorted(rejected.items()) if n) or "0")
            table.append((r["topic"], r["type"], rate, p.info.publisher_text(),
                          str(r["received"]), str(r["seq_gaps"]), str(r["malformed"]),
                          reasons))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
                  file=out)
    return 0


def message_json(topic: str, msg, type_name: str | None = None) -> dict:
    """One message (``Decoded``, or a bare ``Header`` of an unknown type) as a JSON-ready dict."""
    from robo_orch.clock import SIM
    from robo_orch.messages import fields_as_dict

    header = getattr(msg, "header", msg)
    type_name = type_name or f"#{header.type_id}"
    data = fields_as_dict(msg.fixed, msg.var) if hasattr(msg, "fixed") else None
    return {"topic": topic, "type": type_name,
            "header": {"publisher_id": header.publisher_id, "incarnation": header.incarnation,
                       "seq": header.seq, "stamp_ns": header.stamp_ns,
                       "clock": "sim" if header.clock_id == SIM else "wall",
                       "frame_id": header.frame_id, "count": header.count},
            "data": data}


def echo(info, out, *, count: int | None = None, timeout_s: float | None = None,
         curve=None) -> int:
    """Print ``info``'s messages as JSON lines until ``count`` (or Ctrl-C, or the timeout)."""
    import zmq

    from robo_orch.clock import make_clock
    from robo_orch.errors import BusError
    from robo_orch.introspect.probe import poll

    clock = make_clock("wall")
    context = zmq.Context()
    probe = _probe(info, context, curve)
    n = 0
    last = clock.now_ns()
    try:
        while count is None or n < count:
            if not poll([probe], 0.2):
                if timeout_s is not None and clock.now_ns() - last > timeout_s * 1e9:
                    raise BusError(f"no message on {info.topic} for {timeout_s:g} s")
                continue
            while (count is None or n < count) and (msg := probe.read()) is not None:
                name = info.mtype.name if info.mtype is not None else None
                print(_dumps(message_json(info.topic, msg, name)), file=out, flush=True)
                n += 1
            last = clock.now_ns()
    except KeyboardInterrupt:
        pass
    finally:
        probe.close()
        context.term()
    return 0


def hz_line(topic: str, summary: dict, malformed: int) -> str:
    """The one-line rate report of ``topics hz``."""
    if summary["window"] == 0:
        return f"{topic}: waiting for messages ({summary['received']} so far)"
    ms = {k: summary[k] * 1e3 for k in ("min_s", "max_s", "std_s")}
    return (f"{topic}: {summary['rate_hz']:.3f} Hz  interval min {ms['min_s']:.3f} ms  "
            f"max {ms['max_s']:.3f} ms  std {ms['std_s']:.3f} ms  (window {summary['window']}, "
            f"gaps {summary['seq_gaps']}, malformed {malformed}, restarts {summary['restarts']})")


def hz(info, out, *, window: int = 100, duration_s: float | None = None,
       as_json: bool = False, curve=None) -> int:
    """Report ``info``'s rate from stamps every second until Ctrl-C (or ``duration_s``)."""
    import zmq

    from robo_orch.clock import make_clock
    from robo_orch.errors import UsageError
    from robo_orch.introspect.probe import poll

    if window < 1:
        raise UsageError("--window must be >= 1")
    clock = make_clock("wall")
    context = zmq.Context()
    probe = _probe(info, context, curve, window=window)
    tty = not as_json and out.isatty()
    start = clock.now_ns()
    end = None if duration_s is None else start + int(duration_s * 1e9)
    next_report = start + 1_000_000_000
    try:
        while True:
            now = clock.now_ns()
            stop_at = next_report if end is None else min(next_report, end)
            for p in poll([probe], max(stop_at - now, 0) * 1e-9):
                while p.read() is not None:
                    pass
            now = clock.now_ns()
            done = end is not None and now >= end
            if now >= next_report or done:
                next_report += 1_000_000_000
                summary = probe.stats.summary()
                if as_json:
                    print(_dumps({"topic": info.topic, **summary,
                                  "malformed": probe.malformed_total}), file=out, flush=True)
                elif tty:
                    out.write("\r" + hz_line(info.topic, summary, probe.malformed_total)
                              + "\x1b[K")
                    out.flush()
                else:
                    print(hz_line(info.topic, summary, probe.malformed_total), file=out,
                          flush=True)
            if done:
                break
    except KeyboardInterrupt:
        pass
    finally:
        if tty:
            out.write("\n")
        probe.close()
        context.term()
    return 0


def _probe(info, context, curve, **options):
    """A :class:`~robo_orch.introspect.probe.Probe` (the context terminated if it fails)."""
    from robo_orch.introspect.probe import Probe

    try:
        return Probe(info, context, curve=curve, **options)
    except BaseException:
        context.term()
        raise
