"""What a joints command space costs the loop: the demo with and without one, interleaved.

One warm process runs the demo mission in lockstep as it is (``demo``) and with a
two-joint ``[commands.pan_tilt]`` space that no behavior drives (``space``: the
space is sensed, held through its safety kernel and published every tick, and the
simulator steps its device), and, with ``--config``, a config of your own (``head``;
e.g. the plugin example's ``examples/battery_plugin/robot_pan_tilt.toml``, the
example installed), the order rotated every round.  Each variant runs once before
measuring.  Per run: the realtime factor (simulated s per wall s), the tick compute
p99 and CPU microseconds per tick (loop and lockstep simulator together).  Printed:
medians per variant and the median of the per-round ratios against ``demo``.
Rerun::

    python -m robo_orch.bench.spaces --pairs 9 [--config robot_pan_tilt.toml] [--json out.json]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from robo_orch.bench.measure import write_json
from robo_orch.bench.rounds import medians, ratios, rotated_rounds, row_line

SPACE = """extends = "demo"

[commands.pan_tilt]
kind = "joints"
topic = "cmd/pan_tilt"
state_topic = "sensor/pan_tilt"
joints = [ { name = "pan", min = -2.6, max = 2.6, max_velocity = 3.0, max_accel = 15.0 },
           { name = "tilt", min = -0.5, max = 1.2, max_velocity = 1.5, max_accel = 6.0 } ]
"""
def bench_spaces(pairs: int = 9, config: str | None = None) -> dict[str, Any]:
    """The figures of the module docstring for ``pairs`` rounds."""
    from robo_orch.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "space.toml"
        path.write_text(SPACE)
        configs = {"demo": load_config(None), "space": load_config(path)}
        if config is not None:
            configs["head"] = load_config(config)
        runs = rotated_rounds(configs, pairs)
    out: dict[str, Any] = {"pairs": pairs, "variants": {}}
    for name in configs:
        row: dict[str, Any] = medians(runs[name])
        if name != "demo":
            row.update(ratios(runs[name], runs["demo"]))
        out["variants"][name] = row
    return out


def print_spaces(r: dict[str, Any]) -> None:
    print(f"  demo in lockstep with and without a joints space, {r['pairs']} interleaved "
          "rounds (medians; ratio = median of per-round ratios against demo)")
    for name, row in r["variants"].items():
        print(row_line(name, row, 6))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=9, help="rounds (each variant once a round)")
    p.add_argument("--config", help="a third variant: this config (e.g. with a joints "
                                    "behavior of an installed plugin)")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    r = bench_spaces(args.pairs, args.config)
    print_spaces(r)
    write_json(args.json, r)
    return r


if __name__ == "__main__":
    main()
