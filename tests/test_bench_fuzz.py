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
