"""joint_command and joint_state: registered ids, layouts and round trips over a real bus."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import join, memory_pair, receive_until
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_orch import messages as m
from robo_orch.bus import QoS


@pytest.mark.parametrize(("name", "type_id"), [("joint_command", 14), ("joint_state", 15)])
def test_registered_by_name_and_id(name, type_id):
    mtype = m.message_type(name)
    assert mtype is m.message_type(type_id)
    assert mtype.var_dtype.names == ("position", "velocity")
    assert mtype.var_itemsize == 16 and mtype.itemsize == 8
    assert mtype.max_count == m.MAX_JOINTS
    assert mtype.max_bytes > mtype.itemsize + m.MAX_JOINTS * 16


def test_layouts():
    assert m.JOINT_COMMAND.dtype.names == ("mode", "pad", "flags")
    assert m.JOINT_STATE.dtype.names == ("faults", "pad")
    assert m.JOINT_COMMAND.layout_hash != m.JOINT_STATE.layout_hash


def _joints(n: int, rng: np.random.Generator, mtype: m.MessageType) -> np.ndarray:
    var = m.new_var(mtype, n)
    var["position"] = rng.uniform(-3.0, 3.0, n)
    var["velocity"] = rng.uniform(-2.0, 2.0, n)
    return var


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, m.MAX_JOINTS), mode=st.sampled_from([0, 1]),
       flags=st.integers(0, 2**32 - 1), seed=st.integers(0, 2**32 - 1))
def test_joint_command_round_trip(n, mode, flags, seed):
    fixed = m.new_fixed(m.JOINT_COMMAND)
    fixed["mode"], fixed["flags"] = mode, flags
    var = _joints(n, np.random.default_rng(seed), m.JOINT_COMMAND)
    out = m.decode(m.encode(m.JOINT_COMMAND, "cmd/pan_tilt", fixed, var, seq=4, stamp_ns=7),
                   m.JOINT_COMMAND)
    assert out.header.count == n and out.header.type_id == 14
    assert int(out.fixed["mode"]) == mode and int(out.fixed["flags"]) == flags
    np.testing.assert_array_equal(out.var["position"], var["position"])
    np.testing.assert_array_equal(out.var["velocity"], var["velocity"])
    assert m.fields_as_dict(out.fixed, out.var) == {
        "mode": mode, "flags": flags,
        "points": {"position": var["position"].tolist(), "velocity": var["velocity"].tolist()}}


def test_joint_state_round_trip_over_a_bus(make_bus):
    tx, rx = make_bus(1), make_bus(2)
    sub = rx.subscribe("sensor/pan_tilt", m.JOINT_STATE, QoS.queue(4))
    pub = tx.publisher("sensor/pan_tilt", m.JOINT_STATE)
    fixed = m.new_fixed(m.JOINT_STATE)
    var = _joints(2, np.random.default_rng(1), m.JOINT_STATE)
    join(pub, sub, fixed, var)
    fixed["faults"] = 5
    var["position"][1] = np.nan  # a missing reading must survive the trip
    seq = pub.publish(fixed, var)
    got = receive_until(sub, lambda got: any(r.header.seq == seq for r in got))[-1]
    assert int(got.fixed["faults"]) == 5 and got.header.count == 2
    assert got.var.tobytes() == var.tobytes()


def test_more_joints_than_the_limit_are_refused_and_counted():
    tx, rx = memory_pair()
    sub = rx.subscribe("cmd/pan_tilt", m.JOINT_COMMAND, QoS.queue(4))
    pub = tx.publisher("cmd/pan_tilt", m.JOINT_COMMAND)
    fixed = m.new_fixed(m.JOINT_COMMAND)
    pub.publish(fixed, m.new_var(m.JOINT_COMMAND, 4 * m.MAX_JOINTS))  # beyond max_bytes
    pub.publish(fixed, m.new_var(m.JOINT_COMMAND, m.MAX_JOINTS))
    got = receive_until(sub, lambda got: len(got) == 1)
    assert got[0].header.count == m.MAX_JOINTS
    assert sub.counters.malformed_by_reason["oversize"] == 1
