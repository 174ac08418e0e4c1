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
``/tf``              foxglove.FrameTransform   tick record (world -> base_link, at
                                               most 50 Hz), and base_link -> laser
                                               (1 Hz)
``/robot/pose``      foxglove.PoseInFrame      tick record (the loop's estimate,
                                               at most 50 Hz)
``/robot/pose_truth`` foxglove.PoseInFrame     simulator ground truth (<= 50 Hz)
``/scan``            foxglove.LaserScan        the lidar input
``/world``           foxglove.SceneUpdate      config: bounds, walls, obstacles,
                                               waypoints and planned path (1 Hz)
``/path``            foxglove.PosesInFrame     config: the waypoints (1 Hz)
``/loop/tick``       robo_orch.Tick            tick record: command, flags, winner
``/loop/timing``     robo_orch.LoopTiming      tick record: lateness and phases
``/behaviors``       robo_orch.Behaviors       per behavior activation, proposal
``/cmd``             robo_orch.VelocityCommand the command topic
``/loop/params``     robo_orch.ParamChange     live parameter changes, with their
                                               tick (:mod:`~robo_orch.record.params`)
==================== ========================= ===================================

The plot channels (``/loop/*``, ``/behaviors``, ``/cmd``) keep every tick; the
3D view's poses are thinned to :data:`POSE_PERIOD_NS`, which a viewer cannot tell
apart and which saves a third of the messages at 100 Hz.

:class:`FoxgloveChannels` is transport-free: it turns one bus message into
``(channel, log_time_ns, json_bytes)`` items (from the raw bytes, with
precomputed JSON templates: :mod:`~robo_orch.record.foxjson`), so the live view
serves the same channels.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from robo_orch.messages import FORMAT_VERSION, HEADER, MessageType
from robo_orch.record import foxjson as J
from robo_orch.record import schemas as S
from robo_orch.record.structs import struct_layout

#: MCAP message encoding of raw channels: header frame + payload frame, concatenated
RAW_ENCODING = "robo_orch.frames"
#: MCAP schema encoding of raw channels: JSON describing the message type's layout
RAW_SCHEMA_ENCODING = "robo_orch.layout"
#: version of the recording layout (metadata, channel naming); bumped on changes
RECORDING_VERSION = 1
WORLD_PERIOD_NS = 1_000_000_000
#: the 3D view's poses (/tf base_link, /robot/pose, /robot/pose_truth) at most this often
POSE_PERIOD_NS = 20_000_000



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


def type_description(mtype: MessageType) -> dict[str, Any]:
    """JSON-ready layout of a message type (:func:`type_from_description` rebuilds it)."""
    return {"name": mtype.name, "type_id": mtype.type_id, "layout_hash": mtype.layout_hash,
            "dtype": mtype.dtype.descr,
            "var_dtype": None if mtype.var_dtype is None else mtype.var_dtype.descr}


def _descr(items) -> list[tuple]:
    return [tuple(tuple(x) if isinstance(x, list) else x for x in item) for item in items]


def type_from_description(desc: dict[str, Any]) -> MessageType:
    """The message type of :func:`type_description` (checked against its layout hash)."""
    from robo_orch.errors import MessageError

    var = desc.get("var_dtype")
    mtype = MessageType(desc["name"], desc["type_id"], _descr(desc["dtype"]),
                        None if var is None else _descr(var))
    if mtype.layout_hash != desc["layout_hash"]:
        raise MessageError(f"message type {desc['name']!r} did not survive its description "
                           f"(layout 0x{mtype.layout_hash:08x}, expected "
                           f"0x{desc['layout_hash']:08x})")
    return mtype


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
    #: safety flag bits and their names, in the order ``flag_names`` lists them
    flag_bits: list[list] = field(default_factory=list)
    version: int = RECORDING_VERSION

    @classmethod
    def from_controller(cls, controller, *, seed: int | None = None,
                        overrides: tuple[str, ...] = ()) -> RecordingContext:
        """The context of a running controller."""
        from robo_orch.clock import SIM
        from robo_orch.runtime.controller import flag_names

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
        bits = [[flag_names(1 << i), 1 << i] for i in range(32) if flag_names(1 << i) != "none"]
        return cls(config_source=str(cfg.source),
                   clock="sim" if controller.bus.clock.clock_id == SIM else "wall",
                   rate_hz=float(cfg.loop.rate_hz), behaviors=list(controller.planner.names),
                   roles={r: i.topic for r, i in cfg.inputs.items()},
                   command_topic=cfg.topics.command, estop_topic=cfg.topics.estop,
                   truth_topic=cfg.topics.truth, world=world,
                   waypoints=[list(map(float, p)) for p in cfg.mission.waypoints],
                   start=list(map(float, cfg.mission.start)),
                   robot_radius=float(cfg.robot.radius), seed=seed,
                   overrides=list(overrides), config_raw=raw, flag_bits=bits)

    def to_metadata(self) -> dict[str, str]:
        """As an MCAP metadata record (string values)."""
        return {"context": json.dumps(asdict(self)), "version": str(self.version)}

    @classmethod
    def from_metadata(cls, data: dict[str, str]) -> RecordingContext:
        """Back from :meth:`to_metadata`."""
        return cls(**json.loads(data["context"]))

    def flag_names(self, flags: int) -> str:
        """``flags`` as names joined by ``+`` (``"none"`` if no bit is set)."""
        return "+".join(name for name, bit in self.flag_bits if flags & bit) or "none"


class FoxgloveChannels:
    """Converts bus messages into JSON messages on the Foxglove channels.

    :meth:`convert_raw` takes a raw channel's bytes (header and payload), as the
    recorder has them; :meth:`convert` a decoded message, as the live view has it.
    """

    def __init__(self, context: RecordingContext) -> None:
        from operator import itemgetter

        from robo_orch.messages import message_type
        from robo_orch.record.ticks import BEHAVIOR_TICK, LOOP_TICK

        self.context = context
        self.scan_topic = context.roles.get("scan")
        self._beh_schema = S.behaviors_schema(context.behaviors)
        self._beh_fmt = J.behaviors_template(context.behaviors)
        self._winner = [json.dumps(n) for n in context.behaviors]
        self._flag_text: dict[int, str] = {}
        self._scene: tuple | None = None
        self._next_world_ns: int | None = None
        self._next_pose_ns = self._next_truth_ns = -(1 << 62)
        self._pose_gap_ns = POSE_PERIOD_NS - POSE_PERIOD_NS // 4  # tolerates jittery stamps
        fmt, ix = struct_layout(LOOP_TICK.dtype)
        self._tick = struct.Struct(fmt)
        self._tick_size, self._tick_var = LOOP_TICK.itemsize, LOOP_TICK.var_itemsize
        self._tick_fields = itemgetter(*(ix[n] for n in (
            "tick", "t", "x", "y", "yaw", "v", "w", "cmd_v", "cmd_w", "arb_v", "arb_w", "flags",
            "winner", "target_index", "goal_reached", "stale", "estop", "lateness_ns",
            "prev_backend_ns", "prev_sense_ns", "prev_plan_ns", "prev_act_ns", "overruns")))
        fmt, ix = struct_layout(BEHAVIOR_TICK.var_dtype)
        self._beh_row = struct.Struct(fmt)
        self._beh_fields = itemgetter(ix["activation"], ix["proposal"], ix["proposal"] + 1,
                                      ix["last_run"], ix["enabled"])
        self._beh_size = BEHAVIOR_TICK.itemsize
        self._scan_type = message_type("laser_scan")
        self._scan_fixed = self._fields(self._scan_type, "range_max")
        self._pose = self._fields(message_type("pose2d"), "x", "y", "yaw")
        self._cmd = self._fields(message_type("velocity_command"), "v", "w")

    @staticmethod
    def _fields(mtype: MessageType, *names: str):
        """A function of (buffer, offset) giving the named fields of a fixed part."""
        from operator import itemgetter

        fmt, ix = struct_layout(mtype.dtype)
        unpack, get = struct.Struct(fmt).unpack_from, itemgetter(*(ix[n] for n in names))
        return lambda buf, off: get(unpack(buf, off))

    def specs(self) -> list[ChannelSpec]:
        """Every Foxglove channel, in a fixed order."""
        def spec(topic: str, schema: dict[str, Any]) -> ChannelSpec:
            return ChannelSpec(topic, schema["title"], "jsonschema", S.schema_bytes(schema),
                               "json")

        return [spec("/tf", S.FRAME_TRANSFORM), spec("/robot/pose", S.POSE_IN_FRAME),
                spec("/robot/pose_truth", S.POSE_IN_FRAME), spec("/scan", S.LASER_SCAN),
                spec("/world", S.SCENE_UPDATE), spec("/path", S.POSES_IN_FRAME),
                spec("/loop/tick", S.TICK), spec("/loop/timing", S.TIMING),
                spec("/behaviors", self._beh_schema), spec("/cmd", S.COMMAND),
                spec("/loop/params", S.PARAM_CHANGE)]

    def convert(self, topic: str, type_name: str, header, fixed: np.ndarray,
                var: np.ndarray | None) -> list[tuple[str, int, bytes]]:
        """Foxglove messages derived from one decoded bus message (may be none)."""
        size = fixed.nbytes + (0 if var is None else var.nbytes)
        payload = fixed.base
        if not isinstance(payload, (bytes, memoryview)) or len(payload) != size:
            payload = fixed.tobytes() + (b"" if var is None else var.tobytes())
        return self._convert(topic, type_name, int(header.stamp_ns), header.frame_id,
                             payload, 0, size)

    def convert_raw(self, topic: str, type_name: str, data: bytes,
                    stamp_ns: int) -> list[tuple[str, int, bytes]]:
        """Foxglove messages derived from a raw channel's ``data`` (header + payload)."""
        return self._convert(topic, type_name, stamp_ns, None, data, HEADER.size,
                             len(data) - HEADER.size)

    # --- per message type -------------------------------------------------------------
    def _convert(self, topic: str, type_name: str, stamp: int, frame_id: str | None, buf,
                 off: int, size: int) -> list[tuple[str, int, bytes]]:
        out: list[tuple[str, int, bytes]] = []
        if self._next_world_ns is None or stamp >= self._next_world_ns:
            self._next_world_ns = stamp + WORLD_PERIOD_NS
            if self._scene is None:
                self._scene = J.scene(self.context)
            out += J.scene_messages(*self._scene, stamp)
        if type_name == "loop_tick":
            self._convert_tick(out, stamp, buf, off, size)
        elif type_name == "behavior_tick":
            out.append(("/behaviors", stamp, self._behaviors(buf, off, size)))
        elif type_name == "laser_scan" and topic == self.scan_topic:
            if frame_id is None:
                frame_id = bytes(buf[36:52]).rstrip(b"\0").decode("ascii", "replace")
            out.append(("/scan", stamp, self._scan(stamp, frame_id, buf, off, size)))
        elif type_name == "pose2d" and topic == self.context.truth_topic:
            if stamp >= self._next_truth_ns:
                self._next_truth_ns = stamp + self._pose_gap_ns
                x, y, yaw = self._pose(buf, off)
                sec, nsec = J.stamp(stamp)
                out.append(("/robot/pose_truth", stamp, (J.POSE % (
                    sec, nsec, *J.clean((x, y, *J.quat_z(yaw))))).encode()))
        elif type_name == "param_change":
            from robo_orch.record.params import foxglove_json

            out.append(("/loop/params", stamp, foxglove_json(stamp, bytes(buf[off:off + size]))))
        elif type_name == "velocity_command" and topic == self.context.command_topic:
            sec, nsec = J.stamp(stamp)
            out.append(("/cmd", stamp, (J.COMMAND % (
                sec, nsec, *J.clean(self._cmd(buf, off)))).encode()))
        return out

    def _convert_tick(self, out: list, stamp: int, buf, off: int, size: int) -> None:
        (tick, t, x, y, yaw, v, w, cmd_v, cmd_w, arb_v, arb_w, flags, winner, target,
         goal, stale, estop, late, p_backend, p_sense, p_plan, p_act,
         overruns) = self._tick_fields(self._tick.unpack_from(buf, off))
        if stamp >= self._next_pose_ns:
            self._next_pose_ns = stamp + self._pose_gap_ns
            sec, nsec = J.stamp(stamp)
            pose = J.clean((x, y, *J.quat_z(yaw)))
            out.append(("/tf", stamp, (J.TF % (sec, nsec, *pose)).encode()))
            out.append(("/robot/pose", stamp, (J.POSE % (sec, nsec, *pose)).encode()))
        names = self._flag_text.get(flags)
        if names is None:
            names = self._flag_text[flags] = json.dumps(self.context.flag_names(flags))
        win = self._winner[winner] if 0 <= winner < len(self._winner) else '"none"'
        used = (size - self._tick_size) // self._tick_var
        out.append(("/loop/tick", stamp, (J.TICK % (
            tick, *J.clean((t, x, y, yaw, v, w, cmd_v, cmd_w, arb_v, arb_w)), flags, names, win,
            target, J.BOOL[goal != 0], J.BOOL[stale != 0], J.BOOL[estop != 0], used)).encode()))
        out.append(("/loop/timing", stamp, (J.TIMING % (
            tick, late * 1e-3, p_backend * 1e-3, p_sense * 1e-3, p_plan * 1e-3, p_act * 1e-3,
            (p_sense + p_plan + p_act) * 1e-3, overruns)).encode()))

    def _behaviors(self, buf, off: int, size: int) -> bytes:
        names = self.context.behaviors
        tick = _I64.unpack_from(buf, off)[0]
        get = self._beh_fields
        rows = [get(r) for r in _rows(self._beh_row, buf, off + self._beh_size, off + size)]
        best, winner = -1.0, "none"
        for name, (act, _, _, _, enabled) in zip(names, rows, strict=False):
            if enabled and act > best:
                best, winner = act, name
        if len(rows) != len(names):  # not this planner's record: spell out what matches
            return J.dumps({"tick": tick, "winner": winner, "behaviors": {
                n: {"activation": a, "v": v, "w": w, "ran": r == tick, "enabled": bool(e)}
                for n, (a, v, w, r, e) in zip(names, rows, strict=False)}})
        values: list = []
        for act, v, w, last_run, enabled in rows:
            values += (*J.clean((act, v, w)), J.BOOL[last_run == tick], J.BOOL[enabled != 0])
        return (self._beh_fmt % (tick, json.dumps(winner), *values)).encode()

    def _scan(self, stamp: int, frame_id: str, buf, off: int, size: int) -> bytes:
        mtype = self._scan_type
        rmax = self._scan_fixed(buf, off)
        if rmax - rmax != 0.0:
            rmax = 0.0
        n = (size - mtype.itemsize) // mtype.var_itemsize
        pts = np.frombuffer(buf, mtype.var_dtype, n, off + mtype.itemsize)
        ranges = np.nan_to_num(pts["range"].astype(np.float64), nan=rmax, posinf=rmax,
                               neginf=0.0).round(4)
        first, last = (float(pts["angle"][0]), float(pts["angle"][-1])) if n else (0.0, 0.0)
        sec, nsec = J.stamp(stamp)
        return (J.SCAN % (sec, nsec, json.dumps(frame_id or "laser"), *J.clean((first, last)),
                          ",".join(map(repr, ranges.tolist())))).encode()


_I64 = struct.Struct("<q")


def _rows(row: struct.Struct, buf, start: int, end: int):
    view = memoryview(buf)[start:end]
    return row.iter_unpack(view) if len(view) % row.size == 0 else ()
