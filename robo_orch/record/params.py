"""Live parameter changes in a recording: the ``loop/params`` channel.

Each change the loop applied (``robo-orch param set``, ``--watch``;
:mod:`robo_orch.runtime.params`) becomes one ``param_change`` message on
``loop/params``: a fixed part (the tick it took effect at, the tick's time) and,
as its variable part, the change as JSON text::

    {"tick": 1234, "source": "param set", "changes": {"safety.max_decel": 2.5}}

It is recorded like the tick records (handed to the recorder by the loop's
process, stamped with the tick's time, so it sorts just before that tick's
record), shown in Foxglove as ``/loop/params`` (schema ``robo_orch.ParamChange``),
and applied by ``replay --rerun`` before the same tick
(:func:`robo_orch.record.replay.rerun`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from robo_orch.messages import FORMAT_VERSION, HEADER, MessageType, register

PARAMS_TOPIC = "loop/params"
PARAM_CHANGE = register(MessageType("param_change", 66, [("tick", "<i8"), ("now_ns", "<i8")],
                                    [("text", "u1")]))


def change_json(tick: int, change) -> bytes:
    """The JSON text of one applied change (a :class:`~robo_orch.config.live.LiveChange`)."""
    return json.dumps({"tick": int(tick), "source": change.source, "changes": change.changes},
                      separators=(",", ":"), allow_nan=False).encode()


def param_frames(bus, seq: int, tick: int, now_ns: int, text: bytes) -> tuple[bytes, bytes]:
    """The wire header and payload of one ``param_change`` message from ``bus``."""
    head = HEADER.pack(FORMAT_VERSION, bus.clock.clock_id, PARAM_CHANGE.type_id,
                       PARAM_CHANGE.layout_hash, bus.publisher_id, bus.incarnation, seq, now_ns,
                       len(text), b"")
    fixed = np.zeros(1, PARAM_CHANGE.dtype)
    fixed["tick"], fixed["now_ns"] = tick, now_ns
    return head, fixed.tobytes() + text


def parse_payload(payload: bytes) -> dict[str, Any]:
    """The change a ``param_change`` payload carries (the dict of :func:`change_json`)."""
    return json.loads(bytes(payload[PARAM_CHANGE.itemsize:]))


def foxglove_json(stamp_ns: int, payload) -> bytes:
    """The ``/loop/params`` message (schema ``robo_orch.ParamChange``) of one change."""
    change = parse_payload(payload)
    return json.dumps({
        "timestamp": {"sec": stamp_ns // 1_000_000_000, "nsec": stamp_ns % 1_000_000_000},
        "tick": change["tick"], "source": change["source"],
        "changes": [{"key": k, "value": json.dumps(v)} for k, v in change["changes"].items()],
    }, separators=(",", ":")).encode()


def publish_change(bus, seq: int, tick: int, now_ns: int, change) -> None:
    """Send one applied change on ``loop/params`` (the live view; ``bus`` has its publisher);
    nothing once the bus has closed."""
    from robo_orch.errors import BusError

    head, payload = param_frames(bus, seq, tick, now_ns, change_json(tick, change))
    try:
        bus.send_raw(PARAMS_TOPIC, [PARAMS_TOPIC.encode(), head, payload])
    except BusError:  # the run ended while the change went out
        return
