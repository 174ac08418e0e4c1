"""Damaged recordings and recording limits: what is intact is kept, and said once.

A corrupt chunk is skipped and the intact chunks after it are read; the warning
about a damaged file is one line, printed once; split and cap sizes too small to
hold a file's own records are refused with a clear message.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest
from helpers import cli
from mcap.records import Chunk, Message
from mcap.stream_reader import breakup_chunk

from robo_orch.config import load_config
from robo_orch.missions.session import run_mission
from robo_orch.record.channels import RAW_ENCODING
from robo_orch.record.reader import RecordingWarning, open_recording
from robo_orch.record.sink import MIN_FILE_BYTES, McapSink
from robo_orch.record.writer import Recorder, RecordOptions

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 0x06


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A 4 s lockstep recording in small chunks (many of them to damage)."""
    path = tmp_path_factory.mktemp("dmg") / "run.mcap"
    recorder = Recorder(RecordOptions(str(path), chunk_size=24_000), seed=1)
    run_mission(load_config(None), backend="lockstep", seed=1, duration_s=4.0,
                on_start=recorder.attach)
    assert recorder.close().stopped is None
    return path


def chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, record length) of every top-level chunk of an MCAP file."""
    out, at = [], 8
    while at + 9 <= len(data):
        op, length = struct.unpack_from("<BQ", data, at)
        if op == CHUNK:
            out.append((at, 9 + length))
        if op == 0x0F:  # DataEnd: the summary follows
            break
        at += 9 + length
    return out


def raw_keys(path: Path) -> list[tuple[str, bytes]]:
    """(topic, header bytes) of every recorded bus message: unique per message."""
    return [(m.topic, m.header_bytes) for m in open_recording(path).raw()]


def raw_keys_in_chunk(data: bytes, offset: int, length: int,
                      raw_ids: set[int]) -> Counter:
    from io import BytesIO

    from mcap.data_stream import ReadDataStream

    chunk = Chunk.read(ReadDataStream(BytesIO(data[offset + 9:offset + length])))
    return Counter(r.channel_id for r in breakup_chunk(chunk)
                   if isinstance(r, Message) and r.channel_id in raw_ids)


def _raw_channel_ids(path: Path) -> set[int]:
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    return {cid for cid, ch in summary.channels.items() if ch.message_encoding == RAW_ENCODING}


@pytest.mark.parametrize("where", ["first", "middle"])
@pytest.mark.parametrize("damage", ["body", "header"])
def test_a_corrupt_chunk_is_skipped_and_the_intact_chunks_after_it_are_kept(
        recording, tmp_path, where, damage):
    data = bytearray(recording.read_bytes())
    found = chunks(bytes(data))
    assert len(found) >= 6
    index = 0 if where == "first" else len(found) // 2
    offset, length = found[index]
    lost = raw_keys_in_chunk(bytes(data), offset, length, _raw_channel_ids(recording))
    if damage == "body":  # bytes inside the compressed records: its CRC fails
        data[offset + length // 2:offset + length // 2 + 32] = bytes(32)
    else:  # its record header: no length to skip by, the reader finds the next chunk
        data[offset:offset + 9] = b"\xee" * 9
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(bytes(data))
    full = raw_keys(recording)
    rec = open_recording(bad)
    # the raw channels are known before reading (from the summary if the chunk held them)
    assert set(rec.channels) == set(open_recording(recording).channels)
    with pytest.warns(RecordingWarning) as caught:
        got = [(m.topic, m.header_bytes) for m in rec.raw()]
    assert len(caught) == 1
    assert len(got) == len(full) - sum(lost.values()) > 0
    assert set(got) <= set(full)
    # messages of the chunks after the damaged one are there
    after = {k for k in full[len(full) * 3 // 4:]}
    assert after <= set(got)
    assert "skipped 1 corrupt chunk" in rec.warnings[0]


def test_a_damaged_file_warns_on_one_line_once(recording, tmp_path):
    data = recording.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[:len(data) * 2 // 3])
    png = tmp_path / "cut.png"
    for argv in (["plot", str(cut), "--out", str(png)],
                 ["replay", str(cut), "--rerun", "demo"]):  # the rerun reads the file twice
        proc = cli(*argv, timeout=300, cwd=ROOT)
        assert proc.returncode in (0, 1), proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        damaged = [line for line in lines if "truncated or corrupt" in line]
        assert len(damaged) == 1, proc.stderr
        assert damaged[0].startswith("robo-orch: warning: cut.mcap is truncated or corrupt")
        assert "warnings.warn" not in proc.stderr and "RecordingWarning" not in proc.stderr


@pytest.mark.parametrize("option", ["--record-split-mb", "--record-max-mb"])
@pytest.mark.parametrize("value", ["0.001", "0.2"])
def test_too_small_split_and_cap_sizes_are_refused(tmp_path, option, value):
    proc = cli("sim", "--lockstep", "--duration", "0.2", "--record", str(tmp_path / "r.mcap"),
               option, value, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "at least" in lines[0], proc.stderr
    assert not list(tmp_path.glob("*.mcap"))


def test_the_smallest_cap_keeps_most_of_its_size(tmp_path):
    from robo_orch.messages import message_type
    from robo_orch.record.channels import RecordingContext, raw_channel

    sink = McapSink(tmp_path / "cap.mcap", RecordingContext(), max_bytes=MIN_FILE_BYTES)
    sink.add_channel(raw_channel("t", message_type("velocity_command")))
    blob = bytes(range(256)) * 8  # 2 kB that do not compress to nothing
    n = 0
    while sink.write("t", n, blob + n.to_bytes(8, "little"), n):
        n += 1
    sink.close()
    kept = sum(f.stat().st_size for f in sink.files)
    assert 0.6 * MIN_FILE_BYTES < kept <= MIN_FILE_BYTES
