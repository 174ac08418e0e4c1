"""JSON schemas (``jsonschema`` encoding) of the Foxglove messages a recording carries.

Foxglove recognises its well-known types by schema *name* (``foxglove.LaserScan``,
...), with JSON messages whose field names and nesting follow the Foxglove schema
reference: times are ``{"sec", "nsec"}`` objects, enums are integers.  The
schemas below are written from that reference for the types robo_orch emits, and
the robo_orch-specific channels (tick, behaviors, timing, command) get their own
small schemas so Foxglove's Plot and Raw Messages panels can browse them.
"""

from __future__ import annotations

import json
from typing import Any

#: LinePrimitive.type values
LINE_STRIP, LINE_LOOP, LINE_LIST = 0, 1, 2


def _obj(props: dict[str, Any], title: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "required": list(props)}
    if title:
        out["title"] = title
    return out


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


NUM = {"type": "number"}
INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
TIME = _obj({"sec": {"type": "integer", "minimum": 0},
             "nsec": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}, "time")
DURATION = _obj({"sec": INT, "nsec": {"type": "integer", "minimum": 0,
                                      "maximum": 999_999_999}}, "duration")
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
SPHERE = _obj({"pose": POSE, "size": VECTOR3, "color": COLOR}, "foxglove.SpherePrimitive")
CYLINDER = _obj({"pose": POSE, "size": VECTOR3, "bottom_scale": NUM, "top_scale": NUM,
                 "color": COLOR}, "foxglove.CylinderPrimitive")
LINE = _obj({"type": {"type": "integer", "enum": [LINE_STRIP, LINE_LOOP, LINE_LIST]},
             "pose": POSE, "thickness": NUM, "scale_invariant": BOOL, "points": _arr(POINT3),
             "color": COLOR, "colors": _arr(COLOR), "indices": _arr(INT)},
            "foxglove.LinePrimitive")
_ENTITY_PROPS = {"timestamp": TIME, "frame_id": STR, "id": STR, "lifetime": DURATION,
                 "frame_locked": BOOL, "metadata": _arr(KEY_VALUE), "arrows": _arr({}),
                 "cubes": _arr({}), "spheres": _arr(SPHERE), "cylinders": _arr(CYLINDER),
                 "lines": _arr(LINE), "triangles": _arr({}), "texts": _arr({}),
                 "models": _arr({})}
SCENE_ENTITY = _obj(_ENTITY_PROPS, "foxglove.SceneEntity")
SCENE_UPDATE = _obj({"deletions": _arr(_obj({"timestamp": TIME, "type": INT, "id": STR})),
                     "entities": _arr(SCENE_ENTITY)}, "foxglove.SceneUpdate")

TICK = _obj({"tick": INT, "t": NUM, "x": NUM, "y": NUM, "yaw": NUM, "v": NUM, "w": NUM,
             "cmd_v": NUM, "cmd_w": NUM, "arb_v": NUM, "arb_w": NUM, "flags": INT,
             "flag_names": STR, "winner": STR, "target_index": INT, "goal_reached": BOOL,
             "stale": BOOL, "estop": BOOL, "inputs_used": INT}, "robo_orch.Tick")
TIMING = _obj({"tick": INT, "lateness_us": NUM, "backend_us": NUM, "sense_us": NUM,
               "plan_us": NUM, "act_us": NUM, "tick_us": NUM, "overruns": INT},
              "robo_orch.LoopTiming")
COMMAND = _obj({"timestamp": TIME, "v": NUM, "w": NUM}, "robo_orch.VelocityCommand")
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
    ``properties``, ``items``, ``enum``, ``minimum`` and ``maximum``.
    """
    problems: list[str] = []
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
