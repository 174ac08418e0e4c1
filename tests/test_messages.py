"""Message types, the header and the wire form: round trips and every malformed reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_orch import messages as m
from robo_orch.clock import SIM
from robo_orch.errors import MessageError

BUILTIN = {"wheel_odometry": 1, "imu": 2, "laser_scan": 3, "velocity_command": 4, "estop": 5,
           "pose2d": 6, "position_fix": 7}


def random_fixed(mtype: m.MessageType, rng: np.random.Generator) -> np.ndarray:
    """A fixed part filled with random bytes (any bit pattern must survive)."""
    fixed = m.new_fixed(mtype)
    fixed.view(np.uint8)[:] = rng.integers(0, 256, mtype.itemsize, dtype=np.uint8)
    return fixed


def encode_basic(mtype, fixed, var=None, **kw):
    args = {"seq": 1, "stamp_ns": 5}
    args.update(kw)
    return m.encode(mtype, "t/x", fixed, var, **args)


# --- registry and types ---------------------------------------------------------

@pytest.mark.parametrize(("name", "type_id"), sorted(BUILTIN.items()))
def test_builtin_types_are_registered_by_name_and_id(name, type_id):
    mtype = m.message_type(name)
    assert mtype is m.message_type(type_id)
    assert (mtype.name, mtype.type_id) == (name, type_id)
    assert mtype.itemsize == sum(mtype.dtype[f].itemsize for f in mtype.dtype.names)


def test_builtin_layouts():
    assert m.message_type("imu").dtype["gyro"].shape == (3,)
    assert m.message_type("imu").dtype["orientation"].shape == (4,)
    scan = m.message_type("laser_scan")
    assert scan.dtype.names == ("range_min", "range_max", "scan_duration", "pad")
    assert scan.var_dtype.names == ("angle", "range")
    assert scan.var_dtype.itemsize == 8 and scan.itemsize == 16
    assert m.message_type("estop").itemsize == 8
    assert m.message_type("pose2d").dtype.names == ("x", "y", "yaw", "v", "w")
    assert m.message_type("velocity_command").var_dtype is None


def test_layout_hash_is_stable_and_sensitive():
    # a change here breaks compatibility with every deployed reader: bump deliberately
    assert m.VELOCITY_COMMAND.layout_hash == 0x0993FC2D
    same = m.MessageType("velocity_command", 4, [("v", "<f8"), ("w", "<f8")])
    assert same.layout_hash == m.VELOCITY_COMMAND.layout_hash
    renamed_field = m.MessageType("velocity_command", 4, [("v", "<f8"), ("omega", "<f8")])
    narrower = m.MessageType("velocity_command", 4, [("v", "<f8"), ("w", "<f4")])
    swapped = m.MessageType("velocity_command", 4, [("w", "<f8"), ("v", "<f8")])
    other_name = m.MessageType("velocity_cmd", 4, [("v", "<f8"), ("w", "<f8")])
    with_var = m.MessageType("velocity_command", 4, [("v", "<f8"), ("w", "<f8")], [("a", "<f4")])
    hashes = {t.layout_hash for t in (m.VELOCITY_COMMAND, renamed_field, narrower, swapped,
                                      other_name, with_var)}
    assert len(hashes) == 6


def test_unknown_type_suggests_a_name():
    with pytest.raises(MessageError, match="did you mean 'laser_scan'"):
        m.message_type("laser_scna")
    with pytest.raises(MessageError):
        m.message_type(999)


def test_register_refuses_clashes_and_accepts_identical():
    assert m.register(m.MessageType("pose2d", 6, m.POSE2D.dtype)) is not None
    with pytest.raises(MessageError, match="clashes"):
        m.register(m.MessageType("pose2d", 6, [("x", "<f8")]))
    with pytest.raises(MessageError, match="clashes"):
        m.register(m.MessageType("not_pose", 6, m.POSE2D.dtype))


@pytest.mark.parametrize("dtype", [
    [("a", ">f8")],  # big-endian
    np.dtype([("a", "u1"), ("b", "<f8")], align=True),  # padded
    [("a", [("b", "<f8")])],  # nested struct
    "<f8",  # not structured
])
def test_bad_layouts_are_refused(dtype):
    with pytest.raises(MessageError):
        m.MessageType("bad", 900, dtype)


def test_type_id_must_fit_uint16():
    with pytest.raises(MessageError):
        m.MessageType("big", 70000, [("a", "<f8")])


# --- round trips ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_round_trip_every_builtin_type(name):
    mtype = m.message_type(name)
    fixed = random_fixed(mtype, np.random.default_rng(mtype.type_id))
    frames = m.encode(mtype, "sensor/x", fixed, seq=2**64 - 1, stamp_ns=-(2**63),
                      publisher_id=2**32 - 1, incarnation=7, clock_id=SIM, frame_id="base_link")
    assert [type(f) for f in frames] == [bytes, bytes, bytes]
    assert frames[0] == b"sensor/x" and len(frames[1]) == m.HEADER.size == 52
    out = m.decode(frames, mtype)
    assert out.header == m.Header(1, SIM, mtype.type_id, mtype.layout_hash, 2**32 - 1, 7,
                                  2**64 - 1, -(2**63), 0, "base_link")
    assert out.fixed.shape == () and out.fixed.dtype == mtype.dtype
    assert out.fixed.tobytes() == fixed.tobytes()
    assert not out.fixed.flags.writeable
    if mtype.var_dtype is None:
        assert out.var is None
    else:  # sent without a var part: an empty array, so readers need no None check
        assert out.var.shape == (0,) and out.var.dtype == mtype.var_dtype


@pytest.mark.parametrize("count", [0, 1, 7, 360, 1081])
def test_round_trip_laser_scan_lengths(count):
    rng = np.random.default_rng(count)
    fixed = m.new_fixed(m.LASER_SCAN)
    fixed["range_min"], fixed["range_max"], fixed["scan_duration"] = 0.1, 12.0, 0.1
    var = m.new_var(m.LASER_SCAN, count)
    var["angle"] = np.sort(rng.uniform(-np.pi, np.pi, count))  # uneven angles
    var["range"] = rng.uniform(-1.0, 12.0, count)
    if count:
        var["range"][0] = np.nan  # "no return" must survive
    out = m.decode(m.encode(m.LASER_SCAN, "sensor/scan", fixed, var, seq=3, stamp_ns=9),
                   m.LASER_SCAN)
    assert out.header.count == count
    assert out.var.shape == (count,) and not out.var.flags.writeable
    assert out.var.tobytes() == var.tobytes()
    assert out.fixed["range_max"] == np.float32(12.0)


def test_encode_accepts_shape_scalar_fixed_and_bytes_topic():
    fixed = m.new_fixed(m.VELOCITY_COMMAND)[0:1].reshape(())
    frames = m.encode(m.VELOCITY_COMMAND, b"cmd/vel", fixed, seq=1, stamp_ns=0)
    assert frames[0] == b"cmd/vel"
    assert m.decode(frames, m.VELOCITY_COMMAND).header.frame_id == ""


def test_decode_of_mutable_buffer_gives_read_only_views():
    fixed = m.new_fixed(m.LASER_SCAN)
    frames = m.encode(m.LASER_SCAN, "s", fixed, m.new_var(m.LASER_SCAN, 4), seq=1, stamp_ns=0)
    out = m.decode([frames[0], frames[1], bytearray(frames[2])], m.LASER_SCAN)
    assert not out.fixed.flags.writeable and not out.var.flags.writeable


@pytest.mark.parametrize("call", [
    lambda: encode_basic(m.VELOCITY_COMMAND, m.new_fixed(m.POSE2D)),  # wrong dtype
    lambda: encode_basic(m.VELOCITY_COMMAND, np.zeros(2, m.VELOCITY_COMMAND.dtype)),  # 2 items
    lambda: encode_basic(m.VELOCITY_COMMAND, m.new_fixed(m.VELOCITY_COMMAND),
                         m.new_var(m.LASER_SCAN, 2)),  # var on a fixed-only type
    lambda: encode_basic(m.LASER_SCAN, m.new_fixed(m.LASER_SCAN),
                         np.zeros(2, [("a", "<f8")])),  # wrong var dtype
    lambda: encode_basic(m.VELOCITY_COMMAND, m.new_fixed(m.VELOCITY_COMMAND),
                         frame_id="x" * 17),  # frame id too long
    lambda: encode_basic(m.VELOCITY_COMMAND, m.new_fixed(m.VELOCITY_COMMAND),
                         frame_id="caf\u00e9"),  # not ASCII
    lambda: encode_basic(m.VELOCITY_COMMAND, m.new_fixed(m.VELOCITY_COMMAND), seq=-1),
    lambda: m.new_var(m.VELOCITY_COMMAND, 3),
])
def test_encode_refuses_bad_input(call):
    with pytest.raises(MessageError):
        call()


# --- malformed frames --------------------------------------------------------------

def good_scan_frames(count: int = 3) -> list[bytes]:
    return m.encode(m.LASER_SCAN, "sensor/scan", m.new_fixed(m.LASER_SCAN),
                    m.new_var(m.LASER_SCAN, count), seq=1, stamp_ns=0, frame_id="laser")


def patched_header(**fields) -> bytes:
    values = m.decode(good_scan_frames(), m.LASER_SCAN).header._asdict()
    values.update(fields)
    values["frame_id"] = values["frame_id"].encode() if isinstance(values["frame_id"], str) \
        else values["frame_id"]
    return m.HEADER.pack(*values.values())


def malformed_cases():
    topic, head, payload = good_scan_frames()
    other_layout = m.MessageType("laser_scan", 3, m.LASER_SCAN.dtype, [("angle", "<f4")])
    return [
        ("frames", [topic, head]),
        ("frames", [topic, head, payload, b""]),
        ("frames", []),
        ("header", [topic, head[:-1], payload]),
        ("header", [topic, head + b"\0", payload]),
        ("header", [topic, patched_header(frame_id=b"\xff\xfe"), payload]),
        ("version", [topic, patched_header(version=2), payload]),
        ("type", m.encode(m.POSE2D, "sensor/scan", m.new_fixed(m.POSE2D), seq=1, stamp_ns=0)),
        ("layout", m.encode(other_layout, "sensor/scan", m.new_fixed(other_layout),
                            np.zeros(3, other_layout.var_dtype), seq=1, stamp_ns=0)),
        ("size", [topic, head, payload[:-1]]),
        ("size", [topic, head, payload + b"\0"]),
        ("size", [topic, patched_header(count=4), payload]),
        ("size", [topic, patched_header(count=2**32 - 1), payload]),
    ]


@pytest.mark.parametrize(("reason", "frames"), malformed_cases())
def test_malformed_frames_raise_with_reason(reason, frames):
    with pytest.raises(m.DecodeError) as info:
        m.decode(frames, m.LASER_SCAN)
    assert info.value.reason == reason
    assert isinstance(info.value, MessageError)


def test_size_reason_for_var_count_on_fixed_only_type():
    topic, head, payload = m.encode(m.VELOCITY_COMMAND, "c", m.new_fixed(m.VELOCITY_COMMAND),
                                    seq=1, stamp_ns=0)
    values = list(m.HEADER.unpack(head))
    values[8] = 1  # count
    with pytest.raises(m.DecodeError) as info:
        m.decode([topic, m.HEADER.pack(*values), payload], m.VELOCITY_COMMAND)
    assert info.value.reason == "size"


def test_every_reason_is_covered():
    assert {reason for reason, _ in malformed_cases()} == set(m.DECODE_REASONS)


# --- properties ----------------------------------------------------------------------

any_f64 = st.floats(allow_nan=True, allow_infinity=True)
any_f32 = st.floats(width=32, allow_nan=True, allow_infinity=True)


@settings(max_examples=150, deadline=None)
@given(v=any_f64, w=any_f64, seq=st.integers(1, 2**64 - 1),
       stamp=st.integers(-(2**63), 2**63 - 1), frame=st.text("abcxyz_/0189", max_size=16))
def test_velocity_command_round_trip_property(v, w, seq, stamp, frame):
    fixed = m.new_fixed(m.VELOCITY_COMMAND)
    fixed["v"], fixed["w"] = v, w
    out = m.decode(m.encode(m.VELOCITY_COMMAND, "cmd/vel", fixed, seq=seq, stamp_ns=stamp,
                            frame_id=frame), m.VELOCITY_COMMAND)
    assert out.fixed.tobytes() == fixed.tobytes()
    assert (out.header.seq, out.header.stamp_ns, out.header.frame_id) == (seq, stamp, frame)


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.tuples(any_f32, any_f32), max_size=400),
       limits=st.tuples(any_f32, any_f32, any_f32))
def test_laser_scan_round_trip_property(points, limits):
    fixed = m.new_fixed(m.LASER_SCAN)
    fixed["range_min"], fixed["range_max"], fixed["scan_duration"] = limits
    var = np.array(points, dtype=m.LASER_SCAN.var_dtype) if points else m.new_var(m.LASER_SCAN, 0)
    out = m.decode(m.encode(m.LASER_SCAN, "sensor/scan", fixed, var, seq=1, stamp_ns=0),
                   m.LASER_SCAN)
    assert out.header.count == len(points)
    assert out.fixed.tobytes() == fixed.tobytes()
    assert out.var.tobytes() == var.tobytes()
    # field by field, NaN-aware, against the Python values themselves
    expect = np.array(points, dtype=np.float32).reshape(-1, 2)
    np.testing.assert_array_equal(out.var["angle"], expect[:, 0])
    np.testing.assert_array_equal(out.var["range"], expect[:, 1])
