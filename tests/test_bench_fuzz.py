"""The parser fuzz benchmark section, small: it runs every protocol and counts."""

from __future__ import annotations

from robo_orch import registry
from robo_orch.bench import fuzz


def test_section_is_registered_and_counts_every_protocol(capsys):
    assert registry.load(registry.BENCHMARKS, "parsers") is fuzz.bench_fuzz
    for name in fuzz.PROTOCOLS:
        proto = fuzz.PROTOCOLS[name]()
        clean = fuzz.clean_throughput(proto, 1)
        assert clean["frames_per_s"] > 0 and clean["frames"] > 100
        res = fuzz.fuzz(proto, 12, seed=3)
        assert res["mutations"] == 12 and res["crashes"] == 0
        assert res["frames_out"] > 0 and res["kept_whole"] >= res["dropped"]
        assert set(res["per_kind"]) == {"splice", "insert", "duplicate"}


def test_a_refused_replay_is_dropped_but_not_lost():
    """Duplicated bytes: the RPLIDAR parser refuses the replayed nodes (they step back in
    angle) and returns each node once; ``dropped`` counts the replays, ``dropped_unique``
    only nodes that never came out."""
    proto = fuzz.PROTOCOLS["rplidar"]()
    res = fuzz.fuzz(proto, 30, seed=5)  # kinds in turn: 10 duplicates
    assert res["per_kind"]["duplicate"]["dropped"] > 0
    assert res["dropped_unique_per_mutation"] < res["dropped_per_mutation"]
    assert 0 < res["dropped_unique_share"] < res["dropped_share"]


def test_seeds_pool_into_one_figure(capsys):
    proto = fuzz.PROTOCOLS["motor_bridge"]()
    runs = [fuzz.fuzz(proto, 9, seed=s) for s in (1, 2)]
    both = fuzz.pooled(runs)
    assert both["mutations"] == 18 and both["false"] == runs[0]["false"] + runs[1]["false"]
    assert both["dropped"] == runs[0]["dropped"] + runs[1]["dropped"]
    assert both["false_per_10k_by_seed"] == [r["false_per_10k_mutations"] for r in runs]
    assert fuzz.pooled(runs[:1]) is runs[0]
    assert fuzz.main(["motor_bridge", "--quick", "--mutations", "6", "--seeds", "1,2"]) == 0
    assert "12 mutations" in capsys.readouterr().out
