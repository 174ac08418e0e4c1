"""Parser fuzz benchmark: clean throughput and made-up frames under stream damage.

For each serial protocol (rplidar, nmea, witmotion, motor_bridge) and its
emulator's valid stream:

* ``frames_per_s``: frames decoded per CPU second from a clean stream read in
  256-byte chunks (median of repeats of at least 0.2 s each);
* under mutation (:mod:`robo_orch.testing.mutations`: splice, insert and
  duplicate in turn, one per stream, the stream read in random chunks of 1 to
  256 bytes): ``false``, frames returned that were never sent (per 10,000
  mutations and per million frames returned); ``dropped``, frames the damage
  left whole that were not returned (per mutation, and as a share of the
  frames left whole; a frame received twice, as a duplicate or a splice back
  leaves it, counts twice); ``dropped_unique``, frames left whole that never came
  out at all (a parser that refuses a replayed copy loses no data: the RPLIDAR's
  replayed nodes step back in angle and are refused); ``crashes``, exceptions out
  of ``feed``.

Streams: RPLIDAR 4 revolutions (about 1,440 nodes, 0.7 s of scanning), NMEA 240
sentences (8 s at 10 Hz), WitMotion 600 packets, motor bridge 400 frames; each
gets one mutation at a random place, and a splice continues in the same stream
or another one (equally often) at a random place.  Every stream ends with frames
the mutation does not touch (a parser may hold the last frames until the next
bytes confirm them); frames there are not counted as dropped.  A frame is
identified by its bytes (RPLIDAR nodes) or its decoded value (the others).
Mutations per protocol: 300 quick; 30,000 for RPLIDAR (its bound is 1 per
10,000) and 10,000 for the others in the full run.

Registered in the ``robo_orch.benchmarks`` group; ``python -m
robo_orch.bench.fuzz [--quick] [--json PATH]`` runs it alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robo_orch.bench.measure import write_json
from robo_orch.testing.mutations import KINDS, chunks, intact, random_mutation

#: per mode: mutations per protocol (RPLIDAR's bound, 1 per 10,000, needs more), and
#: clean-throughput repeats
SIZES = {"quick": ({"rplidar": 300}, 300, 3), "full": ({"rplidar": 30_000}, 10_000, 7)}
_TAIL = 24  # frames at the end of every stream that mutations leave alone
_CLEAN_CHUNK = 256


@dataclass(frozen=True)
class Protocol:
    """How to fuzz one protocol: its streams, frames, parser and frame identities."""

    name: str
    #: (seed) -> a valid device stream
    stream: Callable[[int], bytes]
    #: a clean stream -> the byte range of each frame in it, in order
    spans: Callable[[bytes], list[tuple[int, int]]]
    #: a new parser, ready for the stream
    parser: Callable[[], Any]
    #: decoded outputs -> one identity per frame
    keys: Callable[[list], list]
    #: bytes a stream starts with once (RPLIDAR: the scan descriptor)
    head: int = 0


# --- the four protocols ----------------------------------------------------------------


def _rplidar() -> Protocol:
    from robo_orch.drivers import rplidar_protocol as rp
    from robo_orch.sim.emulators.rplidar import sample_stream

    def parser() -> Any:
        p = rp.RplidarParser()
        p.expect(rp.SCAN)
        return p

    def spans(data: bytes) -> list[tuple[int, int]]:
        return [(i, i + rp.NODE_SIZE)
                for i in range(rp.DESCRIPTOR_SIZE, len(data) - rp.NODE_SIZE + 1, rp.NODE_SIZE)]

    def keys(frames: list) -> list:
        return [f.raw[i:i + rp.NODE_SIZE] for f in frames if type(f) is rp.Nodes
                for i in range(0, len(f.raw), rp.NODE_SIZE)]

    return Protocol("rplidar", lambda seed: sample_stream(4, seed), spans, parser, keys,
                    rp.DESCRIPTOR_SIZE)


def _lines(sep: bytes) -> Callable[[bytes], list[tuple[int, int]]]:
    def spans(data: bytes) -> list[tuple[int, int]]:
        out, pos = [], 0
        while (end := data.find(sep, pos)) >= 0:
            out.append((pos, end + len(sep)))
            pos = end + len(sep)
        return out
    return spans


def _nmea() -> Protocol:
    from robo_orch.drivers.nmea_protocol import NmeaParser
    from robo_orch.sim.emulators.nmea import sample_stream

    return Protocol("nmea", lambda seed: sample_stream(240, seed), _lines(b"\n"), NmeaParser,
                    lambda frames: [repr(f) for f in frames])


def _witmotion() -> Protocol:
    from robo_orch.drivers.witmotion_protocol import PACKET_LEN, WitmotionParser
    from robo_orch.sim.emulators.witmotion import sample_stream

    def spans(data: bytes) -> list[tuple[int, int]]:
        return [(i, i + PACKET_LEN) for i in range(0, len(data) - PACKET_LEN + 1, PACKET_LEN)]

    return Protocol("witmotion", lambda seed: sample_stream(600, seed), spans, WitmotionParser,
                    lambda frames: [repr(f) for f in frames])


def _motor_bridge() -> Protocol:
    from robo_orch.drivers.motor_bridge_protocol import BridgeParser
    from robo_orch.sim.emulators.motor_bridge import sample_stream

    return Protocol("motor_bridge", lambda seed: sample_stream(400, seed), _lines(b"\x00"),
                    BridgeParser, lambda frames: [repr(f) for f in frames])


#: the protocols in the order the benchmark runs them
PROTOCOLS: dict[str, Callable[[], Protocol]] = {
    "rplidar": _rplidar, "nmea": _nmea, "witmotion": _witmotion, "motor_bridge": _motor_bridge}


# --- measurements ----------------------------------------------------------------------


def _decode(parser: Any, pieces: Any) -> list:
    out: list = []
    for piece in pieces:
        out.extend(parser.feed(piece))
    return out


def clean_throughput(proto: Protocol, repeats: int, sample_s: float = 0.2) -> dict[str, Any]:
    """Frames per CPU second from a clean stream in 256-byte reads: the median of
    ``repeats`` samples, each decoding the stream with a new parser for at least
    ``sample_s`` of this process's CPU time (other work on a shared machine does not
    count; the parsers are single-threaded and do no I/O)."""
    data = proto.stream(0) + b"".join(proto.stream(seed)[proto.head:] for seed in range(1, 4))
    pieces = [data[i:i + _CLEAN_CHUNK] for i in range(0, len(data), _CLEAN_CHUNK)]
    frames = len(proto.keys(_decode(proto.parser(), pieces)))  # (and warms up)
    rates = []
    for _ in range(repeats):
        passes, t0 = 0, time.process_time()
        while True:
            _decode(proto.parser(), pieces)
            passes += 1
            dt = time.process_time() - t0
            if dt >= sample_s:
                break
        rates.append(frames * passes / dt)
    median = statistics.median(rates)
    return {"frames_per_s": round(median), "frames": frames, "bytes": len(data),
            "spread": round((max(rates) - min(rates)) / median, 3)}


def fuzz(proto: Protocol, mutations: int, seed: int = 1) -> dict[str, Any]:
    """Made-up and dropped frames over ``mutations`` damaged streams (kinds in turn)."""
    rng = np.random.default_rng(seed)
    pool = []  # (stream, spans, frame keys)
    for s in range(6):
        data = proto.stream(1000 + s)
        spans = proto.spans(data)
        keys = proto.keys(_decode(proto.parser(), [data]))
        if not len(spans) - _TAIL < len(keys) <= len(spans):  # the last may be held
            raise RuntimeError(f"{proto.name}: {len(keys)} frames decoded from a clean stream "
                               f"of {len(spans)}")
        pool.append((data, spans, keys))
    sent = {k for _, _, keys in pool for k in keys}
    false = dropped = kept = out_frames = crashes = lost_unique = kept_unique = 0
    per_kind = {k: Counter() for k in KINDS}
    for m in range(mutations):
        kind = KINDS[m % len(KINDS)]
        a, spans, keys = pool[int(rng.integers(len(pool)))]
        other = pool[int(rng.integers(len(pool)))][0]
        counted = len(spans) - _TAIL  # frames mutations may touch, and that are counted
        mut = random_mutation(a, rng, kind, others=(other,), lo=spans[0][0],
                              hi=spans[counted][0])
        parser = proto.parser()
        try:
            got = proto.keys(_decode(parser, chunks(mut.data, rng)))
        except Exception:  # noqa: BLE001 -- counted: the figure is "0 crashes"
            crashes += 1
            per_kind[kind]["crashes"] += 1
            continue
        made_up = sum(1 for k in got if k not in sent)
        whole = Counter(keys[i] for i in intact(spans, mut) if i < counted)
        lost = sum((whole - Counter(got)).values())
        lost_unique += len(whole.keys() - set(got))
        kept_unique += len(whole)
        false += made_up
        dropped += lost
        kept += sum(whole.values())
        out_frames += len(got)
        per_kind[kind]["false"] += made_up
        per_kind[kind]["dropped"] += lost
    return {"mutations": mutations, "false": false, "frames_out": out_frames,
            "false_per_10k_mutations": round(false * 1e4 / mutations, 2),
            "false_per_million_frames": round(false * 1e6 / max(out_frames, 1), 1),
            "dropped": dropped, "kept_whole": kept,
            "dropped_per_mutation": round(dropped / mutations, 3),
            "dropped_share": round(dropped / max(kept, 1), 5),
            "dropped_unique_per_mutation": round(lost_unique / mutations, 3),
            "dropped_unique_share": round(lost_unique / max(kept_unique, 1), 5),
            "dropped_unique": lost_unique, "kept_unique": kept_unique,
            "crashes": crashes,
            "per_kind": {k: dict(v) for k, v in per_kind.items()}}


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`fuzz` results of several seeds as one (counts summed, rates of the sums)."""
    if len(runs) == 1:
        return runs[0]
    total = {k: sum(r[k] for r in runs) for k in ("mutations", "false", "frames_out",
                                                  "dropped", "kept_whole", "crashes",
                                                  "dropped_unique", "kept_unique")}
    return {**total,
            "false_per_10k_mutations": round(total["false"] * 1e4 / total["mutations"], 2),
            "false_per_million_frames": round(total["false"] * 1e6
                                              / max(total["frames_out"], 1), 1),
            "dropped_per_mutation": round(total["dropped"] / total["mutations"], 3),
            "dropped_share": round(total["dropped"] / max(total["kept_whole"], 1), 5),
            "dropped_unique_per_mutation": round(total["dropped_unique"] / total["mutations"],
                                                 3),
            "dropped_unique_share": round(total["dropped_unique"]
                                          / max(total["kept_unique"], 1), 5),
            "false_per_10k_by_seed": [r["false_per_10k_mutations"] for r in runs]}


def bench_fuzz(quick: bool = False, names: tuple[str, ...] | None = None,
               mutations_override: int | None = None,
               seeds: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """Every protocol's clean throughput and fuzz figures; printed and returned.

    ``mutations_override`` replaces every protocol's number of mutations; with several
    ``seeds`` each runs that many and the figures are of them all.
    """
    special, mutations, repeats = SIZES["quick" if quick else "full"]
    print(f"  parser fuzz (splice/insert/duplicate mutations, one per stream; clean: "
          f"256-byte reads, median of {repeats}):")
    out: dict[str, Any] = {}
    for name in names or tuple(PROTOCOLS):
        proto = PROTOCOLS[name]()
        count = mutations_override or special.get(name, mutations)
        row = {"clean": clean_throughput(proto, repeats),
               "fuzz": pooled([fuzz(proto, count, seed=seed) for seed in seeds])}
        out[name] = row
        c, f = row["clean"], row["fuzz"]
        print(f"    {name:13s} {c['frames_per_s']:>10,} frames/s clean; {f['mutations']:,} "
              f"mutations: false {f['false_per_10k_mutations']:.2f} per 10k mutations "
              f"({f['false_per_million_frames']:.1f} per million frames); dropped "
              f"{f['dropped_per_mutation']:.2f} per mutation ({100 * f['dropped_share']:.3f}% "
              f"of frames left whole; never returned: {100 * f['dropped_unique_share']:.3f}%); "
              f"{f['crashes']} crashes")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m robo_orch.bench.fuzz``: the section alone."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--mutations", type=int, help="per protocol and seed (default: the "
                                                   "benchmark's: 30,000 RPLIDAR, 10,000 others)")
    ap.add_argument("--seeds", default="1", help="comma-separated; the figures pool them")
    ap.add_argument("protocols", nargs="*", choices=[*PROTOCOLS, []], help="default: all")
    args = ap.parse_args(argv)
    try:
        seeds = tuple(int(v) for v in args.seeds.split(","))
    except ValueError:
        ap.error(f"--seeds: comma-separated integers, got {args.seeds!r}")
    if args.mutations is not None and args.mutations < 1:
        ap.error("--mutations: at least 1")
    res = bench_fuzz(args.quick, tuple(args.protocols) or None, args.mutations, seeds)
    write_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
