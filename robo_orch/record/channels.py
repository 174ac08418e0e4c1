"""What a recording (or a live view) carries: raw bus channels and Foxglove channels.

Raw channels keep the exact wire frames: one MCAP channel per bus topic, with the
topic as its name, message encoding :data:`RAW_ENCODING` and each message's data
the 52-byte header followed by the payload, byte for byte as on the bus.  The
channel's schema describes the message type (name, type id, layout hash and
dtypes), so a reader built against another layout refuses it instead of
misreading it.  Replay and re-run use these.

Foxglove channels are derived from the same messages, JSON-encoded with
well-known schema names so Foxglove shows them with no plugin:

==================== ========================= ===================================
channel              schema                    from
==================== ========================= ===================================
``/tf``              foxglove.FrameTransform   tick record (world -> base_link),
                                               and base_link -> laser
``/robot/pose``      foxglove.PoseInFrame      tick record (the loop's estimate)
``/robot/pose_truth`` foxglove.PoseInFrame     simulator ground truth
``/scan``            foxglove.LaserScan        the lidar input
``/world``           foxglove.SceneUpdate      config: bounds, walls, obstacles,
                                               waypoints and planned path (1 Hz)
``/path``            foxglove.PosesInFrame     config: the waypoints (1 Hz)
``/loop/tick``       robo_orch.Tick            tick record: command, flags, winner
``/loop/timing``     robo_orch.LoopTiming      tick record: lateness and phases
``/behaviors``       robo_orch.Behaviors       per behavior activation, proposal
``/cmd``             robo_orch.VelocityCommand the command topic
==================== ========================= ===================================

:class:`FoxgloveChannels` is transport-free: ``convert`` turns one decoded bus
message into ``(channel, log_time_ns, json_bytes)`` items, so the live view can
serve the same channels.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from robo_orch.messages import FORMAT_VERSION, HEADER, MessageType
from robo_orch.record import schemas as S

#: MCAP message encoding of raw channels: header frame + payload frame, concatenated
RAW_ENCODING = "robo_orch.frames"
#: MCAP schema encoding of raw channels: JSON describing the message type's layout
RAW_SCHEMA_ENCODING = "robo_orch.layout"
#: version of the recording layout (metadata, channel naming); bumped on changes
RECORDING_VERSION = 1
WORLD_PERIOD_NS = 1_000_000_000


@dataclass(frozen=True)
class ChannelSpec:
    """One channel: topic, schema and encodings (what MCAP and a WebSocket server need)."""

    topic: str
    schema_name: str
    schema_encoding: str
    schema_data: bytes
    message_encoding: str
    metadata: dict[str, str] = field(default_factory=dict)


def raw_channel(topic: str, mtype: MessageType) -> ChannelSpec:
    """The raw channel of one bus topic."""
    layout = {"type": mtype.name, "type_id": mtype.type_id,
              "layout_hash": mtype.layout_hash, "format_version": FORMAT_VERSION,
              "header": HEADER.format, "dtype": str(mtype.dtype.descr),
              "var_dtype": None if mtype.var_dtype is None else str(mtype.var_dtype.descr)}
    meta = {k: str(layout[k]) for k in ("type", "type_id", "layout_hash", "format_version")}
    return ChannelSpec(topic, f"robo_orch.{mtype.name}", RAW_SCHEMA_ENCODING,
                       json.dumps(layout).encode(), RAW_ENCODING, meta)


def split_raw(data: bytes) -> tuple[bytes, bytes]:
    """A raw channel message's data as its ``(header, payload)`` frames."""
    return data[:HEADER.size], data[HEADER.size:]


@dataclass
class RecordingContext:
    """What a reader needs besides the messages: names, topics, world, mission.

    Stored as JSON in the recording's ``robo_orch`` metadata record.
    """

    config_source: str = ""
    clock: str = "sim"  #: "sim" or "wall" (monotonic): the time base of every stamp
    rate_hz: float = 50.0
    behaviors: list[str] = field(default_factory=list)  #: planner order
    roles: dict[str, str] = field(default_factory=dict)  #: input role -> topic
    command_topic: str = "cmd/velocity"
    estop_topic: str = "cmd/estop"
    truth_topic: str = "sim/truth"
    world: dict[str, Any] = field(default_factory=dict)
    waypoints: list[list[float]] = field(default_factory=list)
    start: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    robot_radius: float = 0.2
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    config_raw: dict[str, Any] = field(default_factory=dict)
    version: int = RECORDING_VERSION

    @classmethod
    def from_controller(cls, controller, *, seed: int | None = None,
                        overrides: tuple[str, ...] = ()) -> RecordingContext:
        """The context of a running controller."""
        from robo_orch.clock import SIM

        cfg = controller.config
        w = cfg.world
        world = {"bounds": list(w.bounds),
                 "walls": [[list(x.start), list(x.end)] for x in w.walls],
                 "circles": [[list(c.center), c.radius] for c in w.circles],
                 "polygons": [[list(p) for p in poly.points] for poly in w.polygons]}
        try:
            raw = json.loads(json.dumps(cfg.raw, default=str))
        except (TypeError, ValueError):
            raw = {}
        return cls(config_source=str(cfg.source),
                   clock="sim" if controller.bus.clock.clock_id == SIM else "wall",
                   rate_hz=float(cfg.loop.rate_hz), behaviors=list(controller.planner.names),
                   roles={r: i.topic for r, i in cfg.inputs.items()},
                   command_topic=cfg.topics.command, estop_topic=cfg.topics.estop,
                   truth_topic=cfg.topics.truth, world=world,
                   waypoints=[list(map(float, p)) for p in cfg.mission.waypoints],
                   start=list(map(float, cfg.mission.start)),
                   robot_radius=float(cfg.robot.radius), seed=seed,
                   overrides=list(overrides), config_raw=raw)

    def to_metadata(self) -> dict[str, str]:
        """As an MCAP metadata record (string values)."""
        return {"context": json.dumps(asdict(self)), "version": str(self.version)}

    @classmethod
    def from_metadata(cls, data: dict[str, str]) -> RecordingContext:
        """Back from :meth:`to_metadata`."""
        return cls(**json.loads(data["context"]))


def _time(ns: int) -> dict[str, int]:
    ns = max(int(ns), 0)
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def _quat_z(yaw: float) -> dict[str, float]:
    return {"x": 0.0, "y": 0.0, "z": math.sin(yaw / 2), "w": math.cos(yaw / 2)}


def _pose(x: float, y: float, yaw: float, z: float = 0.0) -> dict[str, Any]:
    return {"position": {"x": x, "y": y, "z": z}, "orientation": _quat_z(yaw)}


def _color(r: float, g: float, b: float, a: float = 1.0) -> dict[str, float]:
    return {"r": r, "g": g, "b": b, "a": a}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


_ZERO_POSE = _pose(0.0, 0.0, 0.0)
_OBSTACLE = _color(0.45, 0.45, 0.45)
_WALL = _color(0.1, 0.1, 0.1)
_WAYPOINT = _color(0.17, 0.63, 0.17)


class FoxgloveChannels:
    """Converts decoded bus messages into JSON messages on the Foxglove channels."""

    def __init__(self, context: RecordingContext) -> None:
        self.context = context
        self.scan_topic = context.roles.get("scan")
        self._next_world_ns: int | None = None
        self._beh_schema = S.behaviors_schema(context.behaviors)

    def specs(self) -> list[ChannelSpec]:
        """Every Foxglove channel, in a fixed order."""
        def spec(topic: str, schema: dict[str, Any]) -> ChannelSpec:
            return ChannelSpec(topic, schema["title"], "jsonschema", S.schema_bytes(schema),
                               "json")

        return [spec("/tf", S.FRAME_TRANSFORM), spec("/robot/pose", S.POSE_IN_FRAME),
                spec("/robot/pose_truth", S.POSE_IN_FRAME), spec("/scan", S.LASER_SCAN),
                spec("/world", S.SCENE_UPDATE), spec("/path", S.POSES_IN_FRAME),
                spec("/loop/tick", S.TICK), spec("/loop/timing", S.TIMING),
                spec("/behaviors", self._beh_schema), spec("/cmd", S.COMMAND)]

    def convert(self, topic: str, type_name: str, header, fixed: np.ndarray,
                var: np.ndarray | None) -> list[tuple[str, int, bytes]]:
        """Foxglove messages derived from one bus message (may be none)."""
        stamp = int(header.stamp_ns)
        out: list[tuple[str, int, bytes]] = []
        if self._next_world_ns is None or stamp >= self._next_world_ns:
            self._next_world_ns = stamp + WORLD_PERIOD_NS
            out += self.world_messages(stamp)
        if type_name == "loop_tick":
            out += self._tick(stamp, fixed, var)
        elif type_name == "behavior_tick":
            out.append(("/behaviors", stamp, _dumps(self.behaviors_json(fixed, var))))
        elif type_name == "laser_scan" and topic == self.scan_topic and var is not None:
            out.append(("/scan", stamp, _dumps(self.scan_json(stamp, header.frame_id,
                                                              fixed, var))))
        elif type_name == "pose2d" and topic == self.context.truth_topic:
            pose = _pose(float(fixed["x"]), float(fixed["y"]), float(fixed["yaw"]))
            out.append(("/robot/pose_truth", stamp, _dumps(
                {"timestamp": _time(stamp), "frame_id": "world", "pose": pose})))
        elif type_name == "velocity_command" and topic == self.context.command_topic:
            out.append(("/cmd", stamp, _dumps({"timestamp": _time(stamp),
                                               "v": float(fixed["v"]),
                                               "w": float(fixed["w"])})))
        return out

    def _tick(self, stamp: int, f: np.ndarray, var) -> list[tuple[str, int, bytes]]:
        from robo_orch.controller import flag_names

        x, y, yaw = float(f["x"]), float(f["y"]), float(f["yaw"])
        names = self.context.behaviors
        winner = int(f["winner"])
        tick = {"tick": int(f["tick"]), "t": float(f["t"]), "x": x, "y": y, "yaw": yaw,
                "v": float(f["v"]), "w": float(f["w"]), "cmd_v": float(f["cmd_v"]),
                "cmd_w": float(f["cmd_w"]), "arb_v": float(f["arb_v"]),
                "arb_w": float(f["arb_w"]), "flags": int(f["flags"]),
                "flag_names": flag_names(int(f["flags"])),
                "winner": names[winner] if 0 <= winner < len(names) else "none",
                "target_index": int(f["target_index"]),
                "goal_reached": bool(f["goal_reached"]), "stale": bool(f["stale"]),
                "estop": bool(f["estop"]), "inputs_used": 0 if var is None else len(var)}
        phases = [int(f[k]) * 1e-3 for k in ("prev_backend_ns", "prev_sense_ns",
                                             "prev_plan_ns", "prev_act_ns")]
        timing = {"tick": int(f["tick"]), "lateness_us": int(f["lateness_ns"]) * 1e-3,
                  "backend_us": phases[0], "sense_us": phases[1], "plan_us": phases[2],
                  "act_us": phases[3], "tick_us": sum(phases[1:]),
                  "overruns": int(f["overruns"])}
        ts = _time(stamp)
        tf = {"timestamp": ts, "parent_frame_id": "world", "child_frame_id": "base_link",
              "translation": {"x": x, "y": y, "z": 0.0}, "rotation": _quat_z(yaw)}
        laser = {"timestamp": ts, "parent_frame_id": "base_link", "child_frame_id": "laser",
                 "translation": {"x": 0.0, "y": 0.0, "z": 0.0}, "rotation": _quat_z(0.0)}
        return [("/tf", stamp, _dumps(tf)), ("/tf", stamp, _dumps(laser)),
                ("/robot/pose", stamp, _dumps({"timestamp": ts, "frame_id": "world",
                                                "pose": _pose(x, y, yaw)})),
                ("/loop/tick", stamp, _dumps(tick)), ("/loop/timing", stamp, _dumps(timing))]

    def behaviors_json(self, fixed: np.ndarray, var: np.ndarray | None) -> dict[str, Any]:
        """The ``/behaviors`` message of one behavior record."""
        names = self.context.behaviors
        out: dict[str, Any] = {}
        best, winner = -1.0, "none"
        rows = var if var is not None else ()
        for name, row in zip(names, rows, strict=False):
            act = float(row["activation"])
            prop = row["proposal"]
            out[name] = {"activation": act, "v": float(prop[0]), "w": float(prop[1]),
                         "ran": bool(row["ran"]), "enabled": bool(row["enabled"])}
            if row["enabled"] and act > best:
                best, winner = act, name
        return {"tick": int(fixed["tick"]), "winner": winner, "behaviors": out}

    def scan_json(self, stamp: int, frame_id: str, fixed: np.ndarray,
                  var: np.ndarray) -> dict[str, Any]:
        """A ``foxglove.LaserScan`` from a ``laser_scan`` message (equally spaced rays)."""
        rmax = float(fixed["range_max"])
        ranges = np.nan_to_num(var["range"].astype(np.float64), nan=rmax, posinf=rmax,
                               neginf=0.0)
        angles = var["angle"]
        n = len(angles)
        return {"timestamp": _time(stamp), "frame_id": frame_id or "laser", "pose": _ZERO_POSE,
                "start_angle": float(angles[0]) if n else 0.0,
                "end_angle": float(angles[-1]) if n else 0.0,
                "ranges": [round(r, 4) for r in ranges.tolist()], "intensities": []}

    def world_messages(self, stamp: int) -> list[tuple[str, int, bytes]]:
        """``/world`` (the scene) and ``/path`` (the waypoints), both in frame ``world``."""
        ctx, ts = self.context, _time(stamp)
        w = ctx.world
        lines, cylinders, spheres = [], [], []

        def line(kind: int, pts, color, thickness=0.05):
            lines.append({"type": kind, "pose": _ZERO_POSE, "thickness": thickness,
                          "scale_invariant": False,
                          "points": [{"x": float(x), "y": float(y), "z": 0.0} for x, y in pts],
                          "color": color, "colors": [], "indices": []})

        if w.get("bounds"):
            x0, y0, x1, y1 = w["bounds"]
            line(S.LINE_LOOP, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], _WALL)
        for start, end in w.get("walls", ()):
            line(S.LINE_LIST, [start, end], _WALL)
        for poly in w.get("polygons", ()):
            line(S.LINE_LOOP, poly, _OBSTACLE, 0.08)
        for (cx, cy), r in w.get("circles", ()):
            cylinders.append({"pose": _pose(cx, cy, 0.0, 0.25),
                              "size": {"x": 2 * r, "y": 2 * r, "z": 0.5},
                              "bottom_scale": 1.0, "top_scale": 1.0, "color": _OBSTACLE})
        pts = [ctx.start[:2], *ctx.waypoints]
        line(S.LINE_STRIP, pts, _color(0.17, 0.63, 0.17, 0.6), 0.03)
        for x, y in ctx.waypoints:
            spheres.append({"pose": _pose(x, y, 0.0), "size": {"x": 0.2, "y": 0.2, "z": 0.2},
                            "color": _WAYPOINT})
        entity = {"timestamp": ts, "frame_id": "world", "id": "world",
                  "lifetime": {"sec": 0, "nsec": 0}, "frame_locked": False,
                  "metadata": [{"key": "config", "value": ctx.config_source}], "arrows": [],
                  "cubes": [], "spheres": spheres, "cylinders": cylinders, "lines": lines,
                  "triangles": [], "texts": [], "models": []}
        path = {"timestamp": ts, "frame_id": "world",
                "poses": [_pose(float(x), float(y), 0.0) for x, y in ctx.waypoints]}
        return [("/world", stamp, _dumps({"deletions": [], "entities": [entity]})),
                ("/path", stamp, _dumps(path))]
