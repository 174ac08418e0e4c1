"""The params benchmark section: both runs happen, every change is applied and counted."""

from __future__ import annotations

import pytest

from robo_orch import registry
from robo_orch.bench.params import RANGES, bench_params, random_change

pytestmark = pytest.mark.watchdog(300)


def test_random_changes_are_live_and_valid():
    import random

    from robo_orch.bench.params import OVERRIDES
    from robo_orch.config import load_config
    from robo_orch.config.live import flatten, propose

    config = load_config(None, list(OVERRIDES))
    keys = flatten(config)
    assert all(keys[k].live for k in RANGES)
    rng = random.Random(3)
    for _ in range(50):
        propose(config, random_change(rng), keys=keys)  # raises if any were refused


def test_params_is_a_registered_section():
    assert "params" in registry.names(registry.BENCHMARKS)


@pytest.mark.slow
def test_a_short_run_applies_and_counts_every_change(runtime, capsys):
    out = bench_params(count=40, rounds=1)
    changes, base = out["changes"], out["baseline"]
    assert changes["sent"] == changes["applied"] == 40 and changes["refused"] == 0
    assert 0 <= changes["within_one_tick"] <= 40
    assert base["sent"] == 40 and base["refused"] == 0 and base["applied"] == 0
    assert base["ticks"] > 0 and changes["tick_us"]["p99"] > 0
    assert "took effect within one tick" in capsys.readouterr().out
