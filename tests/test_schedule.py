"""core.schedule: rate divisors, enable/disable resets, staggering; against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import props
from hypothesis import given
from hypothesis import strategies as st

from robo_orch.core.schedule import schedule, stagger
from robo_orch.testing import naive


class Sched:
    """The caller's arrays for n behaviors, and one-call helper."""

    def __init__(self, divisors, enabled=None):
        self.divisors = np.asarray(divisors, dtype=np.int64)
        n = len(self.divisors)
        self.enabled = np.ones(n, np.uint8) if enabled is None else np.asarray(enabled, np.uint8)
        self.was_enabled = np.zeros(n, np.uint8)
        self.last_run = np.zeros(n, np.int64)
        self.due = np.full(n, -7, np.int64)
        self.reset = np.full(n, 9, np.uint8)

    def tick(self, t):
        k = schedule(t, self.divisors, self.enabled, self.was_enabled, self.last_run,
                     self.due, self.reset)
        return list(self.due[:k]), list(np.flatnonzero(self.reset))


def test_divisors_run_every_kth_tick_after_the_first():
    s = Sched([1, 2, 3])
    runs = {0: [], 1: [], 2: []}
    for t in range(12):
        due, reset = s.tick(t)
        assert reset == ([0, 1, 2] if t == 0 else [])
        for i in due:
            runs[i].append(t)
    assert runs[0] == list(range(12))
    assert runs[1] == [0, 2, 4, 6, 8, 10]
    assert runs[2] == [0, 3, 6, 9]


def test_due_order_is_ascending_index():
    s = Sched([2, 1, 2, 1, 1])
    assert s.tick(0)[0] == [0, 1, 2, 3, 4]
    assert s.tick(1)[0] == [1, 3, 4]
    assert s.tick(2)[0] == [0, 1, 2, 3, 4]


def test_disable_then_reenable_resets_and_runs_at_once():
    s = Sched([5, 1])
    s.tick(0)
    s.tick(1)
    s.enabled[0] = 0
    for t in range(2, 7):
        due, reset = s.tick(t)
        assert 0 not in due and reset == []
    assert s.was_enabled[0] == 0
    s.enabled[0] = 1
    due, reset = s.tick(7)  # only 2 ticks after its last due slot (5): still runs now
    assert due == [0, 1] and reset == [0]
    assert s.last_run[0] == 7
    for t in range(8, 12):
        assert s.tick(t) == ([1], [])
    assert s.tick(12) == ([0, 1], [])


def test_disabled_from_the_start_never_runs():
    s = Sched([1, 1], enabled=[0, 1])
    for t in range(5):
        due, reset = s.tick(t)
        assert due == [1]
        assert reset == ([1] if t == 0 else [])


@pytest.mark.parametrize("divisors", [[4, 4, 4, 4], [3, 3, 5, 5, 5, 1], [10, 10], [2, 2, 2]])
def test_stagger_spreads_load(divisors):
    s = Sched(divisors)
    stagger(s.divisors, s.last_run)
    s.was_enabled[:] = 1  # start-up: states freshly zeroed, keep the offsets
    period = int(np.lcm.reduce(s.divisors))
    runs = {i: [] for i in range(len(divisors))}
    for t in range(3 * period):
        for i in s.tick(t)[0]:
            runs[i].append(t)
    for d in set(divisors):
        members = [i for i, di in enumerate(divisors) if di == d]
        # each behavior still runs every d ticks, starting in the first period
        for i in members:
            assert runs[i][0] < d
            assert np.all(np.diff(runs[i]) == d)
        # load per tick within the group is as even as possible
        per_tick = np.zeros(3 * period, int)
        for i in members:
            per_tick[runs[i]] += 1
        assert per_tick.max() <= -(-len(members) // d)
        if len(members) <= d:
            assert len({runs[i][0] for i in members}) == len(members)


def test_stagger_rejects_bad_divisors():
    with pytest.raises(ValueError):
        stagger(np.array([0, 1], np.int64), np.zeros(2, np.int64))


@props(150)
@given(
    divisors=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    data=st.data(),
)
def test_matches_reference(divisors, data):
    n = len(divisors)
    masks = data.draw(st.lists(st.lists(st.booleans(), min_size=n, max_size=n),
                               min_size=1, max_size=30))
    s = Sched(divisors)
    ref_was = [0] * n
    ref_last = [0] * n
    for t, mask in enumerate(masks):
        s.enabled[:] = mask
        due, reset = s.tick(t)
        ref_due, ref_reset = naive.schedule(t, divisors, mask, ref_was, ref_last)
        assert due == ref_due
        assert reset == ref_reset
        assert list(s.was_enabled) == ref_was
        assert list(s.last_run) == ref_last
