"""Each base's cost against the differential drive's: the demo in lockstep, interleaved.

One warm process runs the demo mission in lockstep with ``robot.kinematics`` =
``diff_drive``, ``skid_steer`` and ``holonomic`` in turn, the order rotated every
round, so each base is paired with a differential-drive run of the same round
(slow changes in the machine's load cancel in the per-pair ratios).  Each base is
run once before measuring (kernels loaded, caches warm).  Per run: the realtime
factor (simulated s per wall s), the tick compute p99 (sense + plan + act) and
CPU microseconds per tick.  Printed: medians per base and the median of the
per-pair ratios base / diff_drive.  With ``--footprint`` each base also runs with
the rectangular footprint :data:`RECT` (``robot.footprint``; "BASE+rect", its
ratios against the same base with the round footprint, same round).  Rerun::

    python -m robo_orch.bench.bases --pairs 9 [--footprint] [--json out.json]

(``robo-orch bench`` section ``bases``: 9 pairs, quick 3, with the footprints.)
"""

from __future__ import annotations

import argparse
from typing import Any

from robo_orch.bench.measure import write_json
from robo_orch.bench.rounds import medians, ratios, rotated_rounds, row_line

BASES = ("diff_drive", "skid_steer", "holonomic")
#: the rectangle of the footprint runs: 0.44 m x 0.34 m about the tracked point
RECT = "[[0.22, 0.17], [-0.22, 0.17], [-0.22, -0.17], [0.22, -0.17]]"


def _overrides(variant: str) -> list[str]:
    base, _, shape = variant.partition("+")
    sets = [f"robot.kinematics={base}"]
    if shape == "rect":
        sets.append(f"robot.footprint={RECT}")
    return sets


def bench_bases(pairs: int = 9, footprint: bool = False) -> dict[str, Any]:
    """The figures of the module docstring for ``pairs`` rounds (each base once a round)."""
    from robo_orch.config import load_config

    variants = BASES + (tuple(f"{b}+rect" for b in BASES) if footprint else ())
    configs = {v: load_config(None, _overrides(v)) for v in variants}
    runs = rotated_rounds(configs, pairs)
    out: dict[str, Any] = {"pairs": pairs, "bases": {}}
    for base in variants:
        row = medians(runs[base])
        if base != "diff_drive":
            row.update(ratios(runs[base], runs["diff_drive"]))
        if base.endswith("+rect"):  # against the same base, round footprint
            row.update(ratios(runs[base], runs[base.partition("+")[0]], "_vs_circle"))
        row["rtf_runs"] = [round(r["rtf"], 1) for r in runs[base]]
        out["bases"][base] = row
    return out


def print_bases(r: dict[str, Any]) -> None:
    print(f"  demo in lockstep per base, {r['pairs']} interleaved rounds (medians; ratio = "
          "median of per-round ratios against diff_drive)")
    for base, row in r["bases"].items():
        circle = "" if not base.endswith("+rect") else (
            f"  vs circle: x{row['rtf_vs_circle']:.3f} rtf, "
            f"x{row['cpu_us_per_tick_vs_circle']:.3f} cpu")
        print(row_line(base, row, 16) + circle)


def bench_section(quick: bool = False) -> dict[str, Any]:
    """``robo-orch bench`` section ``bases``: 9 rounds (quick: 3)."""
    r = bench_bases(3 if quick else 9, footprint=True)
    print_bases(r)
    return r


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=9, help="rounds (each base once a round)")
    p.add_argument("--footprint", action="store_true",
                   help="also each base with the rectangular footprint RECT")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    r = bench_bases(args.pairs, footprint=args.footprint)
    print_bases(r)
    write_json(args.json, r)
    return r


if __name__ == "__main__":
    main()
