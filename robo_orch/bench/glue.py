"""What the lockstep tick pays outside the kernels, piece by piece.

``python -m robo_orch.bench.glue [--rounds N]``: one message through the in-process
(``memory``) bus, publish alone, an empty poll, and the fixed-rate loop's own cost per
tick on the simulated clock (a handler that does nothing), each the median over
``rounds`` batches of many calls (per call, us).  With the demo's messages per tick
(``robo_orch.bench.sim``'s tick breakdown) they say how much of a tick the bus and the
loop take, beside the kernels.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from robo_orch.bench.measure import write_json

_BATCH = 20_000


def _per_call_us(fn: Callable[[], object], rounds: int, batch: int = _BATCH) -> float:
    """Median over ``rounds`` batches of the time per call, us."""
    return round(statistics.median(timeit.repeat(fn, number=batch, repeat=rounds))
                 / batch * 1e6, 3)


def bus_costs(rounds: int = 5, batch: int = _BATCH) -> dict[str, float]:
    """One ``wheel_odometry`` message between two memory buses: the round trip (publish,
    poll, take), publish alone, and a poll that finds nothing (us per call); and how many
    messages the round trips delivered (every one, or the figure is not a round trip)."""
    from robo_orch.bus import MemoryHub, QoS, make_bus
    from robo_orch.clock import make_clock
    from robo_orch.messages import message_type, new_fixed

    clock = make_clock("sim")
    hub = MemoryHub()
    loop_bus = make_bus("memory", clock, publisher_id=1, hub=hub)
    sim_bus = make_bus("memory", clock, publisher_id=2, hub=hub)
    mtype = message_type("wheel_odometry")
    pub = sim_bus.publisher("sensor/odom", "wheel_odometry")
    sub = loop_bus.subscribe("sensor/odom", mtype, QoS.latest())
    msg = new_fixed(mtype)
    inbox = sub._receiver.queue  # (publish alone: emptied without the subscription's work)

    def round_trip() -> None:
        pub.publish(msg, stamp_ns=5)
        sub.poll()
        sub.take()

    def publish_only() -> None:
        pub.publish(msg, stamp_ns=5)
        inbox.clear()

    try:
        out = {"message_round_trip_us": _per_call_us(round_trip, rounds, batch)}
        out["delivered"] = sub.counters.received
        out["publish_us"] = _per_call_us(publish_only, rounds, batch)
        out["empty_poll_us"] = _per_call_us(sub.poll, rounds, batch)
        return out
    finally:
        loop_bus.close()
        sim_bus.close()


class _Idle:
    """A tick handler that does nothing for ``ticks`` ticks."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks

    def pre_tick(self, tick: int, now_ns: int) -> None:
        """Nothing."""

    def sense(self, tick: int, now_ns: int) -> None:
        """Nothing."""

    def plan(self, tick: int) -> None:
        """Nothing."""

    def act(self, tick: int) -> bool:
        """Go on until the last tick."""
        return tick < self.ticks - 1


def loop_cost(rounds: int = 5, ticks: int = _BATCH) -> float:
    """The fixed-rate loop's own time per tick on the simulated clock, us (median of rounds)."""
    from robo_orch.clock import make_clock
    from robo_orch.runtime.loop import FixedRateLoop

    samples = []
    for _ in range(rounds):
        loop = FixedRateLoop(make_clock("sim"), 20_000_000)
        t0 = time.perf_counter_ns()
        stats = loop.run(_Idle(ticks))
        samples.append((time.perf_counter_ns() - t0) / ticks / 1e3)
        if stats.ticks != ticks:
            raise RuntimeError(f"the loop ran {stats.ticks} ticks, not {ticks}")
    return round(statistics.median(samples), 3)


def bench_glue(rounds: int = 5, batch: int = _BATCH) -> dict[str, Any]:
    """The bus's and the loop's costs (see the module docstring); printed and returned."""
    out = {**bus_costs(rounds, batch), "empty_loop_tick_us": loop_cost(rounds, batch)}
    print(f"  tick glue (medians of {rounds} batches): a message through the memory bus "
          f"{out['message_round_trip_us']} us (publish {out['publish_us']} us, an empty poll "
          f"{out['empty_poll_us']} us); the loop's own tick {out['empty_loop_tick_us']} us")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m robo_orch.bench.glue``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="batches per figure (default 5)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds: at least 1")
    res = bench_glue(args.rounds)
    write_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
