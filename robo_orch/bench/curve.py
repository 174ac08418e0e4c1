"""What CURVE costs on tcp: one-hop latency with and without it, in the same run.

A peer process publishes IMU messages at a fixed rate over the robo_orch bus on
a loopback tcp endpoint, and this process receives them
(:func:`robo_orch.bench.latency.measure_bus`, ``receive time - stamp`` on the
shared monotonic clock).  Plain tcp (``insecure``) and CURVE (keys made for the
run by :func:`robo_orch.bus.keys.generate_keys`) alternate, ``rounds`` times
each, so a load change on a shared machine hits both alike; the figures are the
medians over the rounds of each round's p50 and p99.  The target: CURVE adds at
most 15% at p50.

``python -m robo_orch.bench.curve [--quick]`` runs this section alone; in
``robo-orch bench`` it is the ``curve`` section of the ``robo_orch.benchmarks``
registry group.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from typing import Any

#: most CURVE may add to the plain tcp p50 (the issue's target)
TARGET_ADDED_P50 = 0.15


def bench_curve(quick: bool = False, *, count: int | None = None, rate: float = 1000.0,
                rounds: int | None = None) -> dict[str, Any]:
    """tcp latency p50/p99 with CURVE against without, alternating ``rounds`` times."""
    from robo_orch.bench.latency import _free_port, measure_bus
    from robo_orch.bus.keys import generate_keys

    count = count or (300 if quick else 2000)
    rounds = rounds or (2 if quick else 5)
    keys = tempfile.mkdtemp(prefix="robo_orch-bench-keys-")
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "curve": []}
    try:
        generate_keys(keys)
        for _ in range(rounds):
            for kind in ("plain", "curve"):
                endpoint = f"tcp://127.0.0.1:{_free_port()}"
                runs[kind].append(measure_bus(endpoint, count, rate,
                                              keys=keys if kind == "curve" else None))
    finally:
        shutil.rmtree(keys, ignore_errors=True)
    out: dict[str, Any] = {"messages": count, "rate_hz": rate, "rounds": rounds}
    for kind, results in runs.items():
        out[kind] = {"p50_us": statistics.median(r["p50_us"] for r in results),
                     "p99_us": statistics.median(r["p99_us"] for r in results),
                     "received": sum(r["received"] for r in results),
                     "sent": sum(r["sent"] for r in results),
                     "rounds_p50_us": [r["p50_us"] for r in results]}
    plain, curve = out["plain"]["p50_us"], out["curve"]["p50_us"]
    out["added_p50"] = round(curve / plain - 1.0, 3) if plain else None
    out["target_added_p50"] = TARGET_ADDED_P50
    print_curve(out)
    return out


def print_curve(out: dict[str, Any]) -> None:
    """The section as a few lines."""
    print(f"  tcp latency with CURVE against plain tcp, {out['messages']} IMU messages at "
          f"{out['rate_hz']:g} Hz from another process, {out['rounds']} alternating rounds "
          "(median of each round's p50 / p99, us):")
    for kind, title in (("plain", "tcp plain"), ("curve", "tcp CURVE")):
        r = out[kind]
        print(f"    {title:<10} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f}   "
              f"({r['received']}/{r['sent']} received)")
    added = out["added_p50"]
    if added is not None:
        verdict = "within" if added <= out["target_added_p50"] else "ABOVE"
        print(f"    CURVE adds {added * 100:+.1f}% at p50 ({verdict} the "
              f"{out['target_added_p50'] * 100:.0f}% target)")


def main(argv: list[str] | None = None) -> int:
    """This section alone."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.bench.curve")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args(argv)
    bench_curve(args.quick, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
