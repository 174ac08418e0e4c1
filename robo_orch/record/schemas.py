"""JSON schemas (``jsonschema`` encoding) of the Foxglove messages a recording carries.

Foxglove recognises its well-known types by schema *name* (``foxglove.LaserScan``,
...), with JSON messages whose field names and nesting follow its schemas: times
are ``{"sec", "nsec"}`` objects, enums are integers.  The ``foxglove.*`` schemas
below match Foxglove's official JSON schemas field for field (types, titles,
required fields, enums as ``oneOf`` constants, bounds; only the prose is left out),
and every array item is typed, as Foxglove's schema reader requires
(``tests/test_foxglove.py`` compares them with the official files).  The
robo_orch-specific channels (tick, behaviors, timing, command) get their own small
schemas so Foxglove's Plot and Raw Messages panels can browse them.
"""

from __future__ import annotations

import json
from typing import Any

#: LinePrimitive.type values
LINE_STRIP, LINE_LOOP, LINE_LIST = 0, 1, 2


def _obj(props: dict[str, Any], title: str | None = None, *,
         required: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(props)
    if title:
        out["title"] = title
    return out


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _enum(title: str, *names: str) -> dict[str, Any]:
    """An integer enum as Foxglove writes it: ``oneOf`` named constants 0, 1, ..."""
    return {"title": title, "oneOf": [{"title": n, "const": i} for i, n in enumerate(names)]}


NUM = {"type": "number"}
INT = {"type": "integer"}
UINT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
_NSEC = {"type": "integer", "minimum": 0, "maximum": 999_999_999}
TIME = _obj({"sec": UINT, "nsec": _NSEC}, "time", required=False)
DURATION = _obj({"sec": INT, "nsec": _NSEC}, "duration", required=False)
VECTOR3 = _obj({"x": NUM, "y": NUM, "z": NUM}, "foxglove.Vector3")
POINT3 = _obj({"x": NUM, "y": NUM, "z": NUM}, "foxglove.Point3")
QUATERNION = _obj({"x": NUM, "y": NUM, "z": NUM, "w": NUM}, "foxglove.Quaternion")
POSE = _obj({"position": VECTOR3, "orientation": QUATERNION}, "foxglove.Pose")
COLOR = _obj({"r": NUM, "g": NUM, "b": NUM, "a": NUM}, "foxglove.Color")
KEY_VALUE = _obj({"key": STR, "value": STR}, "foxglove.KeyValuePair")

POSE_IN_FRAME = _obj({"timestamp": TIME, "frame_id": STR, "pose": POSE}, "foxglove.PoseInFrame")
POSES_IN_FRAME = _obj({"timestamp": TIME, "frame_id": STR, "poses": _arr(POSE)},
                      "foxglove.PosesInFrame")
FRAME_TRANSFORM = _obj({"timestamp": TIME, "parent_frame_id": STR, "child_frame_id": STR,
                        "translation": VECTOR3, "rotation": QUATERNION},
                       "foxglove.FrameTransform")
LASER_SCAN = _obj({"timestamp": TIME, "frame_id": STR, "pose": POSE, "start_angle": NUM,
                   "end_angle": NUM, "ranges": _arr(NUM), "intensities": _arr(NUM)},
                  "foxglove.LaserScan")
# the primitives of a scene entity
ARROW = _obj({"pose": POSE, "shaft_length": NUM, "shaft_diameter": NUM, "head_length": NUM,
              "head_diameter": NUM, "color": COLOR}, "foxglove.ArrowPrimitive")
CUBE = _obj({"pose": POSE, "size": VECTOR3, "color": COLOR}, "foxglove.CubePrimitive")
SPHERE = _obj({"pose": POSE, "size": VECTOR3, "color": COLOR}, "foxglove.SpherePrimitive")
CYLINDER = _obj({"pose": POSE, "size": VECTOR3, "bottom_scale": NUM, "top_scale": NUM,
                 "color": COLOR}, "foxglove.CylinderPrimitive")
LINE = _obj({"type": _enum("foxglove.LineType", "LINE_STRIP", "LINE_LOOP", "LINE_LIST"),
             "pose": POSE, "thickness": NUM, "scale_invariant": BOOL, "points": _arr(POINT3),
             "color": COLOR, "colors": _arr(COLOR), "indices": _arr(UINT)},
            "foxglove.LinePrimitive")
TRIANGLES = _obj({"pose": POSE, "points": _arr(POINT3), "color": COLOR, "colors": _arr(COLOR),
                  "indices": _arr(UINT)}, "foxglove.TriangleListPrimitive")
TEXT = _obj({"pose": POSE, "billboard": BOOL, "font_size": NUM, "scale_invariant": BOOL,
             "color": COLOR, "text": STR}, "foxglove.TextPrimitive")
MODEL = _obj({"pose": POSE, "scale": VECTOR3, "color": COLOR, "override_color": BOOL,
              "url": STR, "media_type": STR, "data": {"type": "string",
                                                      "contentEncoding": "base64"}},
             "foxglove.ModelPrimitive")
SCENE_ENTITY = _obj({"timestamp": TIME, "frame_id": STR, "id": STR, "lifetime": DURATION,
                     "frame_locked": BOOL, "metadata": _arr(KEY_VALUE), "arrows": _arr(ARROW),
                     "cubes": _arr(CUBE), "spheres": _arr(SPHERE),
                     "cylinders": _arr(CYLINDER), "lines": _arr(LINE),
                     "triangles": _arr(TRIANGLES), "texts": _arr(TEXT),
                     "models": _arr(MODEL)}, "foxglove.SceneEntity")
SCENE_DELETION = _obj({"timestamp": TIME,
                       "type": _enum("foxglove.SceneEntityDeletionType", "MATCHING_ID", "ALL"),
                       "id": STR}, "foxglove.SceneEntityDeletion")
SCENE_UPDATE = _obj({"deletions": _arr(SCENE_DELETION), "entities": _arr(SCENE_ENTITY)},
                    "foxglove.SceneUpdate")

TICK = _obj({"tick": INT, "t": NUM, "x": NUM, "y": NUM, "yaw": NUM, "v": NUM, "w": NUM,
             "cmd_v": NUM, "cmd_w": NUM, "arb_v": NUM, "arb_w": NUM, "flags": INT,
             "flag_names": STR, "winner": STR, "target_index": INT, "goal_reached": BOOL,
             "stale": BOOL, "estop": BOOL, "inputs_used": INT}, "robo_orch.Tick")
TIMING = _obj({"tick": INT, "lateness_us": NUM, "backend_us": NUM, "sense_us": NUM,
               "plan_us": NUM, "act_us": NUM, "tick_us": NUM, "overruns": INT},
              "robo_orch.LoopTiming")
COMMAND = _obj({"timestamp": TIME, "v": NUM, "w": NUM}, "robo_orch.VelocityCommand")
#: a live parameter change: each value as its JSON text
PARAM_CHANGE = _obj({"timestamp": TIME, "tick": INT, "source": STR,
                     "changes": _arr(_obj({"key": STR, "value": STR}))},
                    "robo_orch.ParamChange")
_BEHAVIOR = _obj({"activation": NUM, "v": NUM, "w": NUM, "ran": BOOL, "enabled": BOOL})


def behaviors_schema(names: list[str]) -> dict[str, Any]:
    """Schema of ``/behaviors``: one object per behavior name (so plots can address them)."""
    return _obj({"tick": INT, "winner": STR,
                 "behaviors": _obj({name: _BEHAVIOR for name in names})},
                "robo_orch.Behaviors")


#: Foxglove schema name -> schema
FOXGLOVE = {s["title"]: s for s in (POSE_IN_FRAME, POSES_IN_FRAME, FRAME_TRANSFORM, LASER_SCAN,
                                     SCENE_UPDATE)}


def schema_bytes(schema: dict[str, Any]) -> bytes:
    """The schema as the bytes stored in an MCAP Schema record."""
    return json.dumps(schema, separators=(",", ":")).encode()


def check(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Problems of ``value`` against the subset of JSON Schema used here (empty: valid).

    Checks ``type`` (object, array, number, integer, string, boolean), ``required``,
    ``properties``, ``items``, ``enum``, ``oneOf`` constants, ``minimum`` and ``maximum``.
    """
    problems: list[str] = []
    if "oneOf" in schema:
        consts = [alt["const"] for alt in schema["oneOf"]]
        ok = any(value == c and type(value) is type(c) for c in consts)
        return [] if ok else [f"{path}: {value!r} not one of {consts}"]
    kind = schema.get("type")
    ok = {"object": isinstance(value, dict), "array": isinstance(value, list),
          "string": isinstance(value, str), "boolean": isinstance(value, bool),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool),
          None: True}[kind]
    if not ok:
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: {value} < {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(f"{path}: {value} > {schema['maximum']}")
    if kind == "object":
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{path}: missing {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += check(value[key], sub, f"{path}.{key}")
    elif kind == "array" and schema.get("items"):
        for i, item in enumerate(value):
            problems += check(item, schema["items"], f"{path}[{i}]")
    return problems
