"""The flood benchmark's setup really floods the loop's input, and its table case measures."""

from __future__ import annotations

import pytest

from robo_orch.bench.flood import _mission, _table
from robo_orch.bus.counters import MAX_PUBLISHERS


@pytest.mark.slow
def test_the_flooder_reaches_the_loops_input_and_is_bounded():
    r = _mission(True, 2.0)
    assert r["flood_sent"] > 1000
    # the loop decoded at most its bound per tick and dropped the rest undecoded
    assert 0 < r["gps_malformed"] <= 32 * r["ticks"]
    assert r["gps_malformed"] + r["gps_dropped"] > r["ticks"]
    assert r["collisions"] == 0


def test_the_publisher_table_case():
    bounded, lifted = _table(5000, True), _table(5000, False)
    assert bounded["received"] == lifted["received"] == 5000
    assert bounded["publishers"] == MAX_PUBLISHERS
    assert bounded["evicted"] == 5000 - MAX_PUBLISHERS
    assert lifted["publishers"] == 5000 and lifted["evicted"] == 0
