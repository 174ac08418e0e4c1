"""core.arbitrate: priority, the blending cascade, no active behavior; against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import props
from hypothesis import given
from hypothesis import strategies as st

from robo_orch.core.arbitrate import arbitrate
from robo_orch.core.world import OUT_LEN, OUT_V, OUT_W
from robo_orch.testing import naive


def run(vw, activations, priorities, blendable=None, enabled=None):
    """Call the kernel on plain lists; returns (winner, out)."""
    n = len(vw)
    proposals = np.zeros((n, OUT_LEN))
    proposals[:, OUT_V] = [p[0] for p in vw]
    proposals[:, OUT_W] = [p[1] for p in vw]
    out = np.full(4, np.nan)
    winner = arbitrate(
        proposals,
        np.asarray(activations, np.float64),
        np.ones(n, np.uint8) if enabled is None else np.asarray(enabled, np.uint8),
        np.asarray(priorities, np.int64),
        np.zeros(n, np.uint8) if blendable is None else np.asarray(blendable, np.uint8),
        out,
    )
    return winner, out


def test_highest_priority_active_wins():
    winner, out = run([(0.1, 0.0), (0.5, 1.0), (0.9, -1.0)], [1, 0.3, 1], [1, 5, 3])
    assert winner == 1
    assert list(out) == [0.5, 1.0, 1.0, 1.0]


def test_priority_tie_goes_to_lower_index():
    winner, out = run([(0.1, 0.0), (0.2, 0.0), (0.3, 0.0)], [1, 1, 1], [2, 7, 7])
    assert winner == 1 and out[0] == 0.2


def test_inactive_and_disabled_are_skipped():
    winner, _ = run([(1, 0), (2, 0), (3, 0), (4, 0)], [0.0, np.nan, 1.0, 1.0], [9, 8, 7, 1],
                    enabled=[1, 1, 0, 1])
    assert winner == 3


def test_no_active_behavior():
    winner, out = run([(1, 1), (2, 2)], [0.0, 0.9], [1, 2], enabled=[1, 0])
    assert winner == -1
    assert list(out) == [0.0, 0.0, 0.0, 0.0]
    winner, out = run([], [], [])
    assert winner == -1 and list(out) == [0.0, 0.0, 0.0, 0.0]


def test_non_blendable_winner_takes_all():
    winner, out = run([(0.2, 0.0), (1.0, 1.0)], [0.5, 1.0], [5, 1], blendable=[0, 1])
    assert winner == 0
    assert list(out) == [0.2, 0.0, 1.0, 1.0]


def test_cascade_weights():
    # weights: 0.5, 0.5 * 0.5 = 0.25, then 0.25 * 1.0 = 0.25 (activation capped at 1)
    winner, out = run([(1.0, 0.0), (0.0, 1.0), (0.4, -1.0)], [0.5, 0.5, 3.0], [3, 2, 1],
                      blendable=[1, 1, 1])
    assert winner == 0
    assert out[0] == pytest.approx((0.5 * 1.0 + 0.25 * 0.0 + 0.25 * 0.4) / 1.0)
    assert out[1] == pytest.approx((0.25 * 1.0 + 0.25 * -1.0) / 1.0)
    assert out[2] == pytest.approx(1.0) and out[3] == 3


def test_cascade_stops_at_first_active_non_blendable():
    winner, out = run([(1.0, 0.0), (0.0, 0.0), (0.0, 5.0), (9.0, 9.0)], [0.5, 1.0, 1.0, 1.0],
                      [4, 2, 3, 1], blendable=[1, 0, 1, 1])
    # order: 0 (p4), 2 (p3), 1 (p2, not blendable: stop); 3 never blends
    assert winner == 0
    assert out[2] == pytest.approx(1.0) and out[3] == 2
    assert out[0] == pytest.approx(0.5) and out[1] == pytest.approx(2.5)


def test_full_activation_ends_the_blend():
    _, out = run([(1.0, 0.0), (5.0, 5.0)], [1.0, 1.0], [2, 1], blendable=[1, 1])
    assert list(out) == [1.0, 0.0, 1.0, 1.0]


def test_single_weak_blendable_is_its_own_proposal():
    _, out = run([(0.3, -0.2)], [0.1], [0], blendable=[1])
    assert out[0] == pytest.approx(0.3) and out[1] == pytest.approx(-0.2)
    assert out[2] == pytest.approx(0.1) and out[3] == 1


@pytest.mark.parametrize("activation", [2.2e-313, 5e-324, 1e-300])
def test_a_blend_of_tiny_activations_stays_within_the_proposals(activation):
    """Weights too small for their products to keep every bit (subnormal) blend as
    exactly as ordinary ones: the proposal alone is itself, two are mixed in range."""
    _, out = run([(0.25, -0.2)], [activation], [0], blendable=[1])
    assert (out[0], out[1]) == (0.25, -0.2) and out[2] == activation and out[3] == 1
    _, out = run([(0.25, 1.0), (0.75, 3.0)], [activation, activation], [1, 0],
                 blendable=[1, 1])
    assert 0.25 <= out[0] <= 0.75 and 1.0 <= out[1] <= 3.0 and out[3] == 2
    assert out[0] == pytest.approx(0.5, abs=1e-15) and out[1] == pytest.approx(2.0)


finite = st.floats(-5, 5, allow_nan=False)


@props(300)
@given(st.lists(st.tuples(finite, finite,
                          st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1.5)),
                          st.integers(-3, 3), st.booleans(), st.booleans()),
                max_size=8))
def test_matches_reference(rows):
    vw = [(r[0], r[1]) for r in rows]
    acts = [r[2] for r in rows]
    prios = [r[3] for r in rows]
    blend = [r[4] for r in rows]
    enabled = [r[5] for r in rows]
    winner, out = run(vw, acts, prios, blend, enabled)
    ref_winner, ref_out = naive.arbitrate(vw, acts, enabled, prios, blend)
    assert winner == ref_winner
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    if winner >= 0:
        # a blend lies within the range of the proposals it mixes
        lo = min(v for v, _ in vw) - 1e-12
        hi = max(v for v, _ in vw) + 1e-12
        assert lo <= out[0] <= hi
