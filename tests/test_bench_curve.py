"""The CURVE benchmark's two kinds of run really deliver over tcp, plain and with CURVE."""

from __future__ import annotations

from robo_orch.bench.curve import bench_curve


def test_plain_and_curve_rounds_deliver_every_message(capsys):
    out = bench_curve(count=40, rate=400.0, rounds=1)
    for kind in ("plain", "curve"):
        r = out[kind]
        assert r["received"] == r["sent"] == 40, (kind, r)
        assert 0 < r["p50_us"] <= r["p99_us"] < 30e6
    assert out["added_p50"] == round(out["curve"]["p50_us"] / out["plain"]["p50_us"] - 1, 3)
    assert "CURVE adds" in capsys.readouterr().out
