"""JSON text of the Foxglove messages, from precomputed templates.

A recording at 100 Hz makes about 600 Foxglove messages per second; building a
dict per message and running ``json.dumps`` on it costs ~20 us each, so the
per-tick messages are ``%``-formatted from fixed templates instead (a few
microseconds).  Numbers are Python floats and ints (from ``struct``), whose
``str`` is the JSON text; a non-finite float, which JSON cannot carry, becomes
``null`` (:func:`clean`).  The 1 Hz scene messages are built as dicts.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: LinePrimitive.type values (as in :mod:`robo_orch.record.schemas`)
LINE_STRIP, LINE_LOOP, LINE_LIST = 0, 1, 2
_TS = '"timestamp":{"sec":%d,"nsec":%d}'
_YAW_QUAT = '{"x":0.0,"y":0.0,"z":%s,"w":%s}'

POSE = ('{' + _TS + ',"frame_id":"world","pose":{"position":{"x":%s,"y":%s,"z":0.0},'
        '"orientation":' + _YAW_QUAT + '}}')
TF = ('{' + _TS + ',"parent_frame_id":"world","child_frame_id":"base_link",'
      '"translation":{"x":%s,"y":%s,"z":0.0},"rotation":' + _YAW_QUAT + '}')
TICK = ('{"tick":%d,"t":%s,"x":%s,"y":%s,"yaw":%s,"v":%s,"w":%s,"cmd_v":%s,"cmd_w":%s,'
        '"arb_v":%s,"arb_w":%s,"flags":%d,"flag_names":%s,"winner":%s,"target_index":%d,'
        '"goal_reached":%s,"stale":%s,"estop":%s,"inputs_used":%d}')
TIMING = ('{"tick":%d,"lateness_us":%s,"backend_us":%s,"sense_us":%s,"plan_us":%s,'
          '"act_us":%s,"tick_us":%s,"overruns":%d}')
COMMAND = '{' + _TS + ',"v":%s,"w":%s}'
SCAN = ('{' + _TS + ',"frame_id":%s,"pose":{"position":{"x":0.0,"y":0.0,"z":0.0},'
        '"orientation":{"x":0.0,"y":0.0,"z":0.0,"w":1.0}},"start_angle":%s,"end_angle":%s,'
        '"ranges":[%s],"intensities":[]}')
BOOL = ("false", "true")


def behaviors_template(names: list[str]) -> str:
    """Template of ``/behaviors``: tick, winner, then 5 values per behavior in ``names``."""
    parts = []
    for name in names:
        key = json.dumps(name).replace("%", "%%")
        parts.append(key + ':{"activation":%s,"v":%s,"w":%s,"ran":%s,"enabled":%s}')
    return '{"tick":%d,"winner":%s,"behaviors":{' + ",".join(parts) + "}}"


def clean(values: tuple) -> tuple:
    """``values`` (floats) with every non-finite one replaced by ``"null"``."""
    total = sum(values)
    if total - total == 0.0:  # all finite (NaN or inf anywhere makes this NaN)
        return values
    return tuple(v if v - v == 0.0 else "null" for v in values)


def stamp(ns: int) -> tuple[int, int]:
    """``(sec, nsec)`` of a stamp (negative stamps clamp to 0)."""
    return divmod(ns, 1_000_000_000) if ns > 0 else (0, 0)


def quat_z(yaw: float) -> tuple[float, float]:
    """``(z, w)`` of the rotation by ``yaw`` about z."""
    return math.sin(yaw * 0.5), math.cos(yaw * 0.5)


def _time(ns: int) -> dict[str, int]:
    sec, nsec = stamp(ns)
    return {"sec": sec, "nsec": nsec}


def _pose(x: float, y: float, yaw: float, z: float = 0.0) -> dict[str, Any]:
    qz, qw = quat_z(yaw)
    return {"position": {"x": x, "y": y, "z": z},
            "orientation": {"x": 0.0, "y": 0.0, "z": qz, "w": qw}}


def _color(r: float, g: float, b: float, a: float = 1.0) -> dict[str, float]:
    return {"r": r, "g": g, "b": b, "a": a}


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (no NaN)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


_ZERO_POSE = _pose(0.0, 0.0, 0.0)
_OBSTACLE = _color(0.45, 0.45, 0.45)
_WALL = _color(0.1, 0.1, 0.1)
_WAYPOINT = _color(0.17, 0.63, 0.17)


def scene(context) -> tuple[dict[str, Any], dict[str, Any]]:
    """``/world`` (a ``foxglove.SceneUpdate``) and ``/path`` messages, timestamps unset.

    ``context`` is a :class:`~robo_orch.record.channels.RecordingContext`.
    """
    w = context.world
    lines, cylinders, spheres = [], [], []

    def line(kind: int, pts, color, thickness=0.05):
        lines.append({"type": kind, "pose": _ZERO_POSE, "thickness": thickness,
                      "scale_invariant": False,
                      "points": [{"x": float(x), "y": float(y), "z": 0.0} for x, y in pts],
                      "color": color, "colors": [], "indices": []})

    if w.get("bounds"):
        x0, y0, x1, y1 = w["bounds"]
        line(LINE_LOOP, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], _WALL)
    for start, end in w.get("walls", ()):
        line(LINE_LIST, [start, end], _WALL)
    for poly in w.get("polygons", ()):
        line(LINE_LOOP, poly, _OBSTACLE, 0.08)
    for (cx, cy), r in w.get("circles", ()):
        cylinders.append({"pose": _pose(cx, cy, 0.0, 0.25),
                          "size": {"x": 2 * r, "y": 2 * r, "z": 0.5},
                          "bottom_scale": 1.0, "top_scale": 1.0, "color": _OBSTACLE})
    line(LINE_STRIP, [context.start[:2], *context.waypoints], _color(0.17, 0.63, 0.17, 0.6),
         0.03)
    for x, y in context.waypoints:
        spheres.append({"pose": _pose(x, y, 0.0), "size": {"x": 0.2, "y": 0.2, "z": 0.2},
                        "color": _WAYPOINT})
    entity = {"timestamp": None, "frame_id": "world", "id": "world",
              "lifetime": {"sec": 0, "nsec": 0}, "frame_locked": False,
              "metadata": [{"key": "config", "value": context.config_source}], "arrows": [],
              "cubes": [], "spheres": spheres, "cylinders": cylinders, "lines": lines,
              "triangles": [], "texts": [], "models": []}
    path = {"timestamp": None, "frame_id": "world",
            "poses": [_pose(float(x), float(y), 0.0) for x, y in context.waypoints]}
    return {"deletions": [], "entities": [entity]}, path


def scene_messages(world: dict[str, Any], path: dict[str, Any],
                   ns: int) -> list[tuple[str, int, bytes]]:
    """``/world``, ``/path`` and the ``base_link -> laser`` transform, stamped ``ns``."""
    ts = _time(ns)
    world["entities"][0]["timestamp"] = ts
    path["timestamp"] = ts
    laser = {"timestamp": ts, "parent_frame_id": "base_link", "child_frame_id": "laser",
             "translation": {"x": 0.0, "y": 0.0, "z": 0.0},
             "rotation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}}
    return [("/world", ns, dumps(world)), ("/path", ns, dumps(path)), ("/tf", ns, dumps(laser))]
