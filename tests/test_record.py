"""Recording to MCAP: every bus message kept, Foxglove channels valid, bad input handled."""

from __future__ import annotations

import io
import json
import math
import os
import random
import signal
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from helpers import cli
from mcap.reader import make_reader
from pictures import TAB, cells, coloured, drawn_along, fit_markers, read_png

from robo_orch.config import load_config
from robo_orch.messages import MessageType, encode, message_type
from robo_orch.missions.session import run_mission
from robo_orch.record import schemas
from robo_orch.record.channels import RAW_ENCODING, RecordingContext, raw_channel
from robo_orch.record.plot import recording_arrays
from robo_orch.record.reader import RecordingError, RecordingWarning, open_recording
from robo_orch.record.sink import McapSink
from robo_orch.record.ticks import LOOP_TICK, ROLES
from robo_orch.record.writer import Recorder, RecordOptions

ROOT = Path(__file__).resolve().parents[1]


def record(path: Path, duration_s: float = 5.0, seed: int = 1, **options):
    config = load_config(None)
    recorder = Recorder(RecordOptions(str(path), **options), seed=seed)
    result = run_mission(config, backend="lockstep", seed=seed, duration_s=duration_s,
                         on_start=recorder.attach)
    return result, recorder.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "run.mcap"
    result, rec = record(path)
    return path, result, rec


def raw_by_topic(path) -> dict[str, list]:
    out = defaultdict(list)
    for raw in open_recording(path).raw():
        out[raw.topic].append(raw)
    return out


def test_every_bus_message_is_recorded_with_its_seq_and_stamp(recorded):
    path, result, rec = recorded
    ctl = result.controller
    assert rec.stopped is None and rec.files == [path]
    assert all(n == 0 for n in rec.lost.values()), rec.lost
    by_topic = raw_by_topic(path)
    for role, sub in ctl.sensing.subs.items():
        msgs = by_topic[sub.topic]
        counters = sub.counters
        assert len(msgs) == counters.received > 0, role
        seqs = [m.decode().header.seq for m in msgs]
        assert seqs == list(range(1, counters.received + 1)), role
        assert msgs[-1].decode().header.stamp_ns == counters.last_stamp_ns
        assert all(m.log_time_ns == m.decode().header.stamp_ns for m in msgs)
    # every command (one per tick, plus the stop published after the loop)
    cmds = by_topic[ctl.config.topics.command]
    assert len(cmds) == ctl.cmd_pub.sent == result.stats.ticks + 1
    assert len(by_topic["loop/tick"]) == len(by_topic["loop/behaviors"]) == result.stats.ticks
    # the raw channel holds the exact wire bytes: re-encoding the decoded message matches
    msg = cmds[10].decode()
    h = msg.header
    again = encode(message_type("velocity_command"), ctl.config.topics.command,
                   np.array(msg.fixed).reshape(1), seq=h.seq, stamp_ns=h.stamp_ns,
                   publisher_id=h.publisher_id, incarnation=h.incarnation,
                   clock_id=h.clock_id, frame_id=h.frame_id)
    assert again == cmds[10].frames
    # the recorded commands are the trace's commands, bit for bit
    trace = ctl.trace.array()
    v = np.array([float(m.decode().fixed["v"]) for m in cmds[:-1]])
    assert np.array_equal(v, trace[:, 7])


def test_the_mcap_reader_sees_every_message(recorded):
    path, _, rec = recorded
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        counts = {summary.channels[cid].topic: n
                  for cid, n in summary.statistics.channel_message_counts.items()}
        n_read = sum(1 for _ in reader.iter_messages())
    assert n_read == rec.messages == summary.statistics.message_count
    for topic, n in rec.raw.items():
        assert counts.get(topic, 0) == n, topic
    encodings = {ch.topic: ch.message_encoding for ch in summary.channels.values()}
    assert encodings["sensor/scan"] == RAW_ENCODING and encodings["/scan"] == "json"


def test_each_tick_record_lists_the_inputs_it_consumed(recorded):
    path, result, _ = recorded
    rec = open_recording(path)
    ticks = [m.decode() for m in rec.raw(["loop/tick"])]
    first = ticks[0].var
    roles = sorted(int(e["role"]) for e in first)
    assert roles == [0, 1, 2]  # odom, imu, scan: the primed first tick used one of each
    # later ticks use one odom and one imu message each, whose seq follows the tick
    later = ticks[20].var
    assert sorted(int(e["seq"]) for e in later if e["role"] == 0) == [21]


def test_foxglove_channels_have_valid_schemas_and_messages(recorded):
    path, result, _ = recorded
    expected = {"/tf": "foxglove.FrameTransform", "/robot/pose": "foxglove.PoseInFrame",
                "/robot/pose_truth": "foxglove.PoseInFrame", "/scan": "foxglove.LaserScan",
                "/world": "foxglove.SceneUpdate", "/path": "foxglove.PosesInFrame",
                "/loop/tick": "robo_orch.Tick", "/behaviors": "robo_orch.Behaviors",
                "/loop/timing": "robo_orch.LoopTiming", "/cmd": "robo_orch.VelocityCommand"}
    with open(path, "rb") as f:
        reader = make_reader(f)
        seen: dict[str, list] = defaultdict(list)
        schema_of = {}
        for schema, channel, message in reader.iter_messages(topics=list(expected)):
            schema_of[channel.topic] = (schema.name, schema.encoding, json.loads(schema.data))
            if len(seen[channel.topic]) < 5:
                seen[channel.topic].append(json.loads(message.data))
    assert set(seen) == set(expected)
    for topic, (name, encoding, schema) in schema_of.items():
        assert (name, encoding) == (expected[topic], "jsonschema"), topic
        for msg in seen[topic]:
            assert schemas.check(msg, schema) == [], (topic, msg)
    scan = seen["/scan"][0]
    assert len(scan["ranges"]) == result.config.sim.lidar.rays
    assert scan["end_angle"] > scan["start_angle"]
    children = {m["child_frame_id"] for m in seen["/tf"]}
    assert children == {"base_link", "laser"}
    names = set(seen["/behaviors"][0]["behaviors"])
    assert names == set(result.controller.planner.names)
    world = seen["/world"][0]["entities"][0]
    assert len(world["cylinders"]) == len(result.config.world.circles)
    # the validator is able to fail
    broken = dict(seen["/robot/pose"][0], timestamp={"sec": -1, "nsec": 0})
    assert schemas.check(broken, schemas.POSE_IN_FRAME)
    assert schemas.check({"frame_id": 3}, schemas.POSE_IN_FRAME)


def test_tick_records_carry_the_trace_and_the_loop_timing(recorded):
    path, result, _ = recorded
    ticks = [m.decode().fixed for m in open_recording(path).raw(["loop/tick"])]
    trace = result.controller.trace.array()
    assert len(ticks) == len(trace) == result.stats.ticks
    got = np.array([[f["t"], f["x"], f["y"], f["yaw"], f["cmd_v"], f["cmd_w"], f["flags"],
                     f["winner"]] for f in ticks])
    want = trace[:, [0, 1, 2, 3, 7, 8, 9, 10]]
    assert got.tobytes() == want.tobytes()  # bit for bit
    assert [int(f["tick"]) for f in ticks] == list(range(len(ticks)))
    st = result.stats
    late = st.lateness.window()
    sense, act = st.phase["sense"].window(), st.phase["act"].window()
    for k in (0, 1, 57, len(ticks) - 1):  # this tick's lateness, the previous tick's phases
        f = ticks[k]
        assert int(f["lateness_ns"]) == late[k]
        assert int(f["prev_sense_ns"]) == (sense[k - 1] if k else 0)
        assert int(f["prev_act_ns"]) == (act[k - 1] if k else 0)


def test_behavior_records_hold_each_behaviors_activation_and_last_run(recorded):
    path, result, _ = recorded
    planner = result.controller.planner
    records = [m.decode() for m in open_recording(path).raw(["loop/behaviors"])]
    last = records[-1]
    assert int(last.fixed["tick"]) == result.stats.ticks - 1
    assert last.var["activation"].tobytes() == planner.activations.tobytes()
    assert last.var["proposal"].tobytes() == planner.proposals.tobytes()
    assert list(last.var["last_run"]) == list(planner.last_run)
    assert list(last.var["enabled"]) == list(planner.enabled)


def _reference(ctx, topic: str, raw) -> dict:
    """What the fast JSON templates must produce, built as plain dicts."""
    msg = raw.decode()
    f, ns = msg.fixed, msg.header.stamp_ns
    ts = {"sec": ns // 10**9, "nsec": ns % 10**9}
    if topic == "/loop/tick":
        winner = int(f["winner"])
        return {"tick": int(f["tick"]), **{k: float(f[k]) for k in (
            "t", "x", "y", "yaw", "v", "w", "cmd_v", "cmd_w", "arb_v", "arb_w")},
            "flags": int(f["flags"]), "flag_names": ctx.flag_names(int(f["flags"])),
            "winner": ctx.behaviors[winner] if winner >= 0 else "none",
            "target_index": int(f["target_index"]), "goal_reached": bool(f["goal_reached"]),
            "stale": bool(f["stale"]), "estop": bool(f["estop"]), "inputs_used": len(msg.var)}
    if topic == "/loop/timing":
        ph = [int(f[f"prev_{p}_ns"]) for p in ("backend", "sense", "plan", "act")]
        return {"tick": int(f["tick"]), "lateness_us": int(f["lateness_ns"]) * 1e-3,
                "backend_us": ph[0] * 1e-3, "sense_us": ph[1] * 1e-3, "plan_us": ph[2] * 1e-3,
                "act_us": ph[3] * 1e-3, "tick_us": sum(ph[1:]) * 1e-3,
                "overruns": int(f["overruns"])}
    if topic == "/robot/pose":
        yaw = float(f["yaw"])
        return {"timestamp": ts, "frame_id": "world", "pose": {
            "position": {"x": float(f["x"]), "y": float(f["y"]), "z": 0.0},
            "orientation": {"x": 0.0, "y": 0.0, "z": math.sin(yaw / 2), "w": math.cos(yaw / 2)}}}
    if topic == "/behaviors":
        tick = int(f["tick"])
        rows = {n: {"activation": float(r["activation"]), "v": float(r["proposal"][0]),
                    "w": float(r["proposal"][1]), "ran": int(r["last_run"]) == tick,
                    "enabled": bool(r["enabled"])} for n, r in zip(ctx.behaviors, msg.var,
                                                                   strict=True)}
        best = max((r["activation"], -i) for i, r in enumerate(rows.values()) if r["enabled"])
        return {"tick": tick, "winner": ctx.behaviors[-best[1]] if best[0] > -1 else "none",
                "behaviors": rows}
    assert topic == "/cmd"
    return {"timestamp": ts, "v": float(f["v"]), "w": float(f["w"])}


def test_the_fast_foxglove_json_matches_a_plain_dict_reference(recorded):
    from robo_orch.record.channels import FoxgloveChannels

    path, result, _ = recorded
    recording = open_recording(path)
    ctx = recording.context
    assert ctx.flag_bits and ctx.flag_names(3) == "estop+stale_stop"
    fox = FoxgloveChannels(ctx)
    source = {"loop/tick": ("/loop/tick", "/loop/timing", "/robot/pose"),
              "loop/behaviors": ("/behaviors",), "cmd/velocity": ("/cmd",)}
    checked = defaultdict(int)
    for raw in recording.raw(list(source)):
        out = fox.convert_raw(raw.topic, raw.mtype.name, raw.header_bytes + raw.payload,
                              raw.log_time_ns)
        for channel, log_time, data in out:
            assert log_time == raw.log_time_ns or channel in ("/world", "/path", "/tf")
            if channel in source[raw.topic]:
                assert json.loads(data) == _reference(ctx, channel, raw), channel
                checked[channel] += 1
    ticks = result.stats.ticks
    assert checked["/loop/tick"] == checked["/loop/timing"] == checked["/behaviors"] == ticks
    assert checked["/cmd"] == ticks + 1
    assert ctx.rate_hz == 50 and checked["/robot/pose"] == ticks  # 50 Hz: every tick
    # at 100 Hz the 3D view's pose is thinned to 50 Hz, every other tick
    fresh = FoxgloveChannels(ctx)
    raw = next(recording.raw(["loop/tick"]))
    poses = [c for k in range(10) for c, _, _ in fresh.convert_raw(
        raw.topic, "loop_tick", raw.header_bytes + raw.payload, k * 10_000_000)
        if c == "/robot/pose"]
    assert len(poses) == 5


def test_non_finite_numbers_become_null_not_invalid_json():
    from robo_orch.record import foxjson as J

    assert J.clean((1.0, 2.5)) == (1.0, 2.5)
    assert J.clean((1.0, float("nan"), float("-inf"))) == (1.0, "null", "null")
    text = J.COMMAND % (1, 2, *J.clean((float("inf"), 0.5)))
    assert json.loads(text) == {"timestamp": {"sec": 1, "nsec": 2}, "v": None, "w": 0.5}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_truncated_file_gives_back_a_prefix_with_a_warning(recorded, tmp_path, seed):
    path, _, rec = recorded
    data = path.read_bytes()
    full = raw_by_topic(path)
    # within the data section: the footer (before the closing magic) says where it ends
    summary_start = struct.unpack_from("<Q", data, len(data) - 8 - 20)[0]
    cut = random.Random(seed).randrange(len(data) // 4, summary_start - 200)
    short = tmp_path / "cut.mcap"
    short.write_bytes(data[:cut])
    recording = open_recording(short)
    with pytest.warns(RecordingWarning, match="truncated or corrupt"):
        got = defaultdict(list)
        for raw in recording.raw():
            got[raw.topic].append(raw)
    assert "recovered" in recording.warnings[0]
    total = sum(len(v) for v in got.values())
    assert 0 < total < sum(len(v) for v in full.values())
    for topic, msgs in got.items():  # a prefix of each topic, nothing misread
        assert [m.frames for m in msgs] == [m.frames for m in full[topic][:len(msgs)]]


def test_a_corrupt_chunk_loses_its_messages_with_a_warning(recorded, tmp_path):
    path, _, _ = recorded
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(bytes(data))
    recording = open_recording(bad)
    with pytest.warns(RecordingWarning):
        n = sum(1 for _ in recording.raw())
    assert 0 < n < sum(rec for rec in recorded[2].raw.values())


def test_a_file_cut_before_its_first_chunk_is_refused(recorded, tmp_path):
    short = tmp_path / "tiny.mcap"
    short.write_bytes(recorded[0].read_bytes()[:40])
    with pytest.raises(RecordingError):
        open_recording(short)
    with pytest.raises(RecordingError, match="no recording"):
        open_recording(tmp_path / "missing.mcap")


def test_a_recording_of_another_message_layout_is_refused(tmp_path):
    # the same type name and id with float32 fields: another build of robo_orch
    other = MessageType("velocity_command", 4, [("v", "<f4"), ("w", "<f4")])
    path = tmp_path / "other.mcap"
    sink = McapSink(path, RecordingContext())
    sink.add_channel(raw_channel("cmd/velocity", other))
    fixed = np.zeros(1, dtype=other.dtype)
    frames = encode(other, "cmd/velocity", fixed, seq=1, stamp_ns=0)
    sink.write("cmd/velocity", 0, frames[1] + frames[2], 0, 1)
    sink.close()
    with pytest.raises(RecordingError, match="layout 0x.*this installation"):
        open_recording(path)


def test_a_size_cap_splits_files_and_the_set_reads_as_one(tmp_path):
    path = tmp_path / "split.mcap"
    result, rec = record(path, duration_s=4.0, split_bytes=120_000)
    assert len(rec.files) >= 3 and rec.stopped is None
    assert rec.files[1].name == "split-001.mcap"
    for f in rec.files:
        assert f.stat().st_size <= 120_000
        with open(f, "rb") as fh:  # each file is complete on its own
            assert make_reader(fh).get_summary().statistics.message_count > 0
    by_topic = raw_by_topic(path)
    odom = by_topic["sensor/odom"]
    assert [m.decode().header.seq for m in odom] == list(range(1, len(odom) + 1))
    assert len(by_topic["loop/tick"]) == result.stats.ticks


def test_a_total_cap_stops_recording_and_the_run_goes_on(tmp_path, capsys):
    path = tmp_path / "capped.mcap"
    config = load_config(None)
    recorder = Recorder(RecordOptions(str(path), max_bytes=150_000, split_bytes=60_000))
    result = run_mission(config, backend="lockstep", seed=1, duration_s=4.0,
                         on_start=recorder.attach)
    rec = recorder.close()
    assert result.stats.ticks == 201  # the whole run happened
    assert rec.stopped and "size cap" in rec.stopped
    assert sum(f.stat().st_size for f in rec.files) <= 150_000
    err = capsys.readouterr().err
    assert err.count("recording stopped") == 1
    n = sum(1 for _ in open_recording(path).raw())
    assert 0 < n == sum(rec.raw.values())


def _frames(path) -> dict[str, list]:
    """Each topic's recorded frames; tick records without their (measured) timing."""
    out = {}
    for topic, msgs in raw_by_topic(path).items():
        frames = [m.frames for m in msgs]
        if topic == "loop/tick":
            at = LOOP_TICK.dtype.fields["lateness_ns"][1]
            frames = [[t, h, p[:at] + p[at + 48:]] for t, h, p in frames]
        out[topic] = frames
    return out


def test_writing_beside_the_loop_records_the_same_bytes(recorded, tmp_path):
    path, _, _ = recorded
    other = tmp_path / "overlap.mcap"
    _, rec = record(other, overlap=True, flush_bytes=20_000)  # many batches, no waiting
    assert rec.stopped is None and not any(rec.lost.values())
    assert _frames(other) == _frames(path)


def test_a_recorder_process_that_dies_leaves_the_run_going(tmp_path):
    err = io.StringIO()
    recorder = Recorder(RecordOptions(str(tmp_path / "dead.mcap"), flush_bytes=8_000),
                        stderr=err)

    def attach_then_kill(controller):
        recorder.attach(controller)
        os.kill(recorder.pid, signal.SIGKILL)

    result = run_mission(load_config(None), backend="lockstep", seed=1, duration_s=2.0,
                         on_start=attach_then_kill)
    rec = recorder.close()
    assert result.stats.ticks == 101 and result.controller.end_reason == "time limit"
    assert "ended without a result" in rec.stopped
    assert err.getvalue().count("recording stopped") == 1


@pytest.mark.slow
def test_a_zeromq_run_is_recorded_by_the_recorder_process(tmp_path):
    path = tmp_path / "zmq.mcap"
    config = load_config(None)
    recorder = Recorder(RecordOptions(str(path)), seed=1)
    recorder.start()
    result = run_mission(config, backend="realtime", seed=1, duration_s=2.0,
                         on_start=recorder.attach)
    rec = recorder.close()
    assert rec.stopped is None and not any(rec.lost.values()), rec.lost
    by_topic = raw_by_topic(path)
    ctl = result.controller
    assert len(by_topic["loop/tick"]) == len(by_topic["loop/behaviors"]) == result.stats.ticks
    assert [m.decode().header.seq for m in by_topic["cmd/velocity"]] == list(
        range(1, ctl.cmd_pub.sent + 1))
    for sub in ctl.sensing.subs.values():  # no gaps from the first message recorded on
        seqs = [m.decode().header.seq for m in by_topic[sub.topic]]
        assert seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs))), sub.topic
    # every input a tick consumed is in the recording (a re-run finds them)
    recorded_keys = {(m.topic, m.decode().header.seq) for t in ctl.sensing.subs.values()
                     for m in by_topic[t.topic]}
    role_topic = {role: sub.topic for role, sub in ctl.sensing.subs.items()}
    for m in by_topic["loop/tick"][1:]:
        for e in m.decode().var:
            topic = role_topic.get(ROLES[int(e["role"])])
            assert topic is None or (topic, int(e["seq"])) in recorded_keys


DISK_FULL = """
import resource, signal, sys
from robo_orch.config import load_config
from robo_orch.record.writer import Recorder, RecordOptions
from robo_orch.missions.session import run_mission
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, resource.RLIM_INFINITY))
recorder = Recorder(RecordOptions(sys.argv[1], chunk_size=32_000))
result = run_mission(load_config(None), backend="lockstep", seed=1, duration_s=4.0,
                     on_start=recorder.attach)
rec = recorder.close()
print(result.stats.ticks, sum(rec.raw.values()))
"""


def test_a_full_disk_stops_recording_with_one_line_and_the_file_stays_readable(tmp_path):
    path = tmp_path / "full.mcap"
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(path)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    ticks, kept = map(int, proc.stdout.split())
    assert ticks == 201  # the loop kept running
    lines = [line for line in proc.stderr.splitlines() if "recording stopped" in line]
    assert len(lines) == 1 and "too large" in lines[0].lower(), proc.stderr
    recording = open_recording(path)
    with pytest.warns(RecordingWarning):
        n = sum(1 for _ in recording.raw())
    assert 0 < n <= kept


def test_cli_sim_record_then_plot(tmp_path):
    path, png = tmp_path / "cli.mcap", tmp_path / "cli.png"
    proc = cli("sim", "--lockstep", "--duration", "2", "--record", str(path), timeout=300,
               cwd=ROOT)
    assert proc.returncode in (0, 1), proc.stderr
    assert "recorded" in proc.stdout and str(path) in proc.stdout
    proc = cli("plot", str(path), "--out", str(png), timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    img = read_png(png)
    assert img.shape[:2] == (900, 1200)  # 12 x 9 in at 100 dpi
    # the map (left): the waypoints where they are, the path where the robot went
    recording = open_recording(path)
    truth = recording_arrays(recording)["truth"]
    assert len(truth) > 50
    fit = fit_markers(img, TAB["green"], recording.context.waypoints,
                      region=(slice(None), slice(0, 600)))
    assert fit.residual_px < 1.5
    lines = [TAB["blue"], TAB["orange"], TAB["purple"]]  # truth, estimate, the start marker
    assert drawn_along(img, fit.pixels(truth), lines) > 0.97
    assert drawn_along(img, fit.pixels(truth * [1.0, -1.0] + [0.0, 0.5]), lines[:2]) < 0.2
    # commands, activations and loop timing (right): each panel draws its curves
    assert [int(coloured(cell).sum() > 200) for cell in cells(img[:, 600:], 3, 1)] == [1, 1, 1]
    proc = cli("plot", str(tmp_path / "no"), timeout=300, cwd=ROOT)
    assert proc.returncode == 2 and "no recording" in proc.stderr
