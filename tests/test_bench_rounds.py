"""The rotated-rounds helper of the bases and spaces bench sections (robo_orch/bench/rounds.py)."""

from __future__ import annotations

import pytest

from robo_orch.bench.rounds import KEYS, medians, ratios


def _runs(*rtfs: float) -> list[dict[str, float]]:
    return [{"rtf": r, "tick_p99_us": 100.0 / r, "cpu_us_per_tick": 50.0} for r in rtfs]


def test_medians_and_per_round_ratios():
    base, other = _runs(300.0, 310.0, 290.0), _runs(360.0, 310.0, 290.0)
    assert medians(other) == {"rtf": 310.0, "tick_p99_us": round(100.0 / 310.0, 2),
                              "cpu_us_per_tick": 50.0}
    # the median of the per-round ratios (1.2, 1.0, 1.0), not the ratio of the medians
    # (310 / 300 = 1.033)
    r = ratios(other, base)
    assert set(r) == {f"{k}_ratio" for k in KEYS}
    assert r["rtf_ratio"] == 1.0 and r["cpu_us_per_tick_ratio"] == 1.0
    assert set(ratios(other, base, "_vs_circle")) == {f"{k}_vs_circle" for k in KEYS}
    with pytest.raises(ValueError):
        ratios(other, base[:2])  # rounds must pair up


def test_the_spaces_section_measures_each_variant_in_rotated_rounds():
    from robo_orch.bench.spaces import bench_spaces

    out = bench_spaces(pairs=1)
    demo, space = out["variants"]["demo"], out["variants"]["space"]
    assert out["pairs"] == 1 and demo["rtf"] > 0 and space["rtf"] > 0
    assert space["rtf_ratio"] == pytest.approx(space["rtf"] / demo["rtf"], rel=1e-2)
