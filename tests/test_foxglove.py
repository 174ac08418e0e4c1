"""Recordings Foxglove loads: the official schemas, field for field, and data CRCs.

Foxglove's official JSON schemas are other projects' data: they stay in
``../shared/data/foxglove_schemas/`` beside the clone and are read from there (the
tests skip, saying why, when that folder is absent).
"""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from io import BytesIO
from pathlib import Path

import jsonschema
import pytest
from helpers import shared_data
from mcap.data_stream import ReadDataStream
from mcap.reader import make_reader
from mcap.records import Chunk, DataEnd
from mcap.stream_reader import StreamReader

from robo_orch.config import load_config
from robo_orch.missions.session import run_mission
from robo_orch.record import schemas
from robo_orch.record.reader import RecordingWarning, open_recording
from robo_orch.record.writer import Recorder, RecordOptions

FOXGLOVE_TOPICS = {"/tf": "foxglove.FrameTransform", "/robot/pose": "foxglove.PoseInFrame",
                   "/robot/pose_truth": "foxglove.PoseInFrame", "/scan": "foxglove.LaserScan",
                   "/world": "foxglove.SceneUpdate", "/path": "foxglove.PosesInFrame"}
SAMPLE = 40  #: messages per channel validated, spread over the run


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A 3 s lockstep recording of the demo mission (3 scene updates on /world)."""
    path = tmp_path_factory.mktemp("fox") / "run.mcap"
    recorder = Recorder(RecordOptions(str(path)), seed=1)
    run_mission(load_config(None), backend="lockstep", seed=1, duration_s=3.0,
                on_start=recorder.attach)
    assert recorder.close().stopped is None
    return path


@pytest.fixture(scope="module")
def channels(recording) -> dict[str, tuple[str, dict, list[dict]]]:
    """JSON channel topic -> (schema name, embedded schema, a sample of its messages)."""
    every: dict[str, list[bytes]] = defaultdict(list)
    schema_of = {}
    with open(recording, "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages():
            if channel.message_encoding != "json":
                continue
            assert schema.encoding == "jsonschema", channel.topic
            schema_of[channel.topic] = (schema.name, json.loads(schema.data))
            every[channel.topic].append(message.data)
    out = {}
    for topic, (name, schema) in schema_of.items():
        msgs = every[topic]
        step = max(1, len(msgs) // SAMPLE)
        out[topic] = (name, schema, [json.loads(m) for m in msgs[::step] + msgs[-1:]])
    return out


def official(name: str) -> dict:
    """Foxglove's own schema of ``foxglove.<Type>``."""
    folder = shared_data("foxglove_schemas")
    return json.loads((folder / f"{name.removeprefix('foxglove.')}.json").read_text())


_KEPT = ("type", "title", "minimum", "maximum", "contentEncoding", "const")


def shape(schema: dict) -> dict:
    """What a schema says about the data (types, fields, required, enums, bounds), without
    its prose (``description``, ``$comment``): two schemas match field for field when
    their shapes are equal."""
    out = {k: schema[k] for k in _KEPT if k in schema}
    if "properties" in schema:
        out["properties"] = {k: shape(v) for k, v in schema["properties"].items()}
    if schema.get("required"):
        out["required"] = sorted(schema["required"])
    if "items" in schema:
        out["items"] = shape(schema["items"])
    if "oneOf" in schema:
        out["oneOf"] = [shape(alt) for alt in schema["oneOf"]]
    if "enum" in schema:
        out["enum"] = schema["enum"]
    return out


def test_every_foxglove_channel_embeds_the_official_schema_field_for_field(channels):
    fox = {t: c for t, c in channels.items() if c[0].startswith("foxglove.")}
    assert {t: c[0] for t, c in fox.items()} == FOXGLOVE_TOPICS
    for topic, (name, schema, _) in fox.items():
        assert shape(schema) == shape(official(name)), topic


def test_a_sample_of_every_channels_messages_is_valid_against_the_official_schema(channels):
    for topic, (name, schema, msgs) in channels.items():
        reference = official(name) if name.startswith("foxglove.") else schema
        validator = jsonschema.Draft202012Validator(reference)
        jsonschema.Draft202012Validator.check_schema(reference)
        assert msgs, topic
        for msg in msgs:
            problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                        for e in validator.iter_errors(msg)]
            assert problems == [], (topic, problems)
            assert schemas.check(msg, schema) == [], topic  # the in-package check agrees
    world = channels["/world"][2][0]["entities"][0]
    assert world["lines"] and world["spheres"]  # the sample holds real scene content


def test_every_embedded_schema_loads_under_foxglove_readers_rules(channels):
    for topic, (_, schema, _) in channels.items():
        assert loader_problems(schema) == [], topic


def test_the_reader_rule_refuses_an_untyped_array_item_and_accepts_the_official_schemas():
    untyped = {"type": "object", "properties": {"entities": {"type": "array", "items": {
        "type": "object", "properties": {"arrows": {"type": "array", "items": {}}}}}}}
    assert loader_problems(untyped) == [
        "entities.arrows: array items have no supported type (None)"]
    for name in set(FOXGLOVE_TOPICS.values()):
        assert loader_problems(official(name)) == [], name


_SCALARS = ("boolean", "string", "number", "integer")


def loader_problems(schema: dict, path: str = "") -> list[str]:
    """Why Foxglove's JSON-schema reader (``parseJsonSchema`` in its ``mcap-support``
    package) would refuse ``schema`` (empty: it loads).  Its rules, restated: an object
    has ``properties``; each property is an enum (``oneOf`` of numeric ``const``s) or of
    type boolean, string (plain or base64), number, integer, object (the same rules) or
    array; an array's items are typed: a scalar (a string item not base64) or an object
    (the same rules) -- never untyped, never an array of arrays."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return [f"{path or '$'}: expected an object with properties"]
    problems = []
    for name, field in schema["properties"].items():
        key = f"{path}.{name}" if path else name
        if "oneOf" in field:
            if not all(isinstance(alt.get("const"), (int, float)) for alt in field["oneOf"]):
                problems.append(f"{key}: oneOf alternatives must be numeric consts")
            continue
        kind = field.get("type")
        if kind == "object":
            problems += loader_problems(field, key)
        elif kind == "array":
            item = field.get("items") or {}
            if item.get("type") == "object":
                problems += loader_problems(item, key)
            elif item.get("type") not in _SCALARS:
                problems.append(f"{key}: array items have no supported type "
                                f"({item.get('type')})")
            elif item.get("contentEncoding") is not None:
                problems.append(f"{key}: encoded array items")
        elif kind not in _SCALARS:
            problems.append(f"{key}: unsupported type {kind}")
        elif field.get("contentEncoding") not in (None, "base64"):
            problems.append(f"{key}: unsupported contentEncoding")
    return problems


def _top_level(data: bytes) -> list[tuple[int, object]]:
    """(opcode, record) of the data section's top-level chunks and its DataEnd."""
    out, at = [], 8
    while at < len(data):
        op, length = struct.unpack_from("<BQ", data, at)
        body = ReadDataStream(BytesIO(data[at + 9:at + 9 + length]))
        if op == 0x06:
            out.append((op, Chunk.read(body)))
        elif op == 0x0F:
            out.append((op, DataEnd.read(body)))
            return out
        at += 9 + length
    raise AssertionError("no DataEnd record")


def test_chunk_and_data_section_crcs_are_written_and_the_reader_verifies_them(recording,
                                                                            tmp_path):
    records = _top_level(recording.read_bytes())
    chunks = [r for op, r in records if op == 0x06]
    data_end = records[-1][1]
    assert chunks and all(c.uncompressed_crc != 0 for c in chunks)
    assert data_end.data_section_crc != 0
    with open(recording, "rb") as f:  # mcap's own reader checks every CRC on the way
        assert sum(1 for _ in StreamReader(f, validate_crcs=True).records) > len(chunks)
    # a byte flipped where no chunk CRC covers it (a message index between chunks):
    # every message still reads, and robo_orch's reader says the data CRC failed
    data = bytearray(recording.read_bytes())
    at = _first_record(data, 0x07)  # MessageIndex
    data[at + 9 + 4] ^= 0x40  # inside its body
    bad = tmp_path / "flipped.mcap"
    bad.write_bytes(bytes(data))
    good_count = sum(1 for _ in open_recording(recording).raw())
    rec = open_recording(bad)
    with pytest.warns(RecordingWarning, match="data section CRC"):
        n = sum(1 for _ in rec.raw())
    assert n == good_count
    assert any("data section CRC" in w for w in rec.warnings)


def _first_record(data: bytearray, opcode: int) -> int:
    """Offset of the first top-level record with ``opcode`` in an MCAP file."""
    at = 8
    while at < len(data):
        op, length = struct.unpack_from("<BQ", data, at)
        if op == opcode:
            return at
        at += 9 + length
    raise AssertionError(f"no record {opcode:#x}")
