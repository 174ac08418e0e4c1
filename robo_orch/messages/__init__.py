"""Message types and their wire form.

A message type is a numpy structured dtype for the fixed part plus, optionally,
the dtype of one element of a variable-length part (a scan with N points).  On
the wire a message is three frames::

    [topic, header, payload]

``header`` is the fixed little-endian struct :data:`HEADER` (see :class:`Header`);
``payload`` is the fixed part followed by ``header.count`` variable elements.
Every header carries the type's ``layout_hash``, so a reader built against another
layout refuses the data instead of misreading it.

This package is the one import path (``from robo_orch.messages import encode, IMU``);
its modules each do one thing:

- :mod:`~robo_orch.messages.types`: :class:`MessageType` (layout hash, size limits),
  the registry by name and type id, and the types of installed packages;
- :mod:`~robo_orch.messages.builtin`: robo_orch's own types (``imu``, ``laser_scan``,
  ..., the joint types);
- :mod:`~robo_orch.messages.header`: the header struct, frame ids, frame size limits;
- :mod:`~robo_orch.messages.wire`: :func:`encode`, :func:`encode_frames` and
  :func:`decode`, with the reasons a decode fails.
"""

from robo_orch.errors import MessageError
from robo_orch.messages.builtin import (
    BODY_ODOMETRY,
    BODY_VELOCITY_COMMAND,
    ESTOP,
    GNSS_FIX,
    IMU,
    JOINT_COMMAND,
    JOINT_ELEMENT,
    JOINT_STATE,
    LASER_SCAN,
    MAX_JOINTS,
    MAX_SCAN_POINTS,
    MOTOR_STATUS,
    POSE2D,
    POSITION_FIX,
    VELOCITY_COMMAND,
    WHEEL_ODOMETRY,
)
from robo_orch.messages.header import (
    FORMAT_VERSION,
    FRAME_ID_LEN,
    HEADER,
    MAX_TOPIC_BYTES,
    MIN_FRAME_LIMIT,
    Header,
    frame_id_bytes,
    frame_limit,
)
from robo_orch.messages.types import (
    DEFAULT_VAR_BYTES,
    PLUGIN_TYPE_IDS,
    MessageType,
    fields_as_dict,
    load_plugin_types,
    message_type,
    new_fixed,
    new_var,
    register,
    registered,
)
from robo_orch.messages.wire import (
    DECODE_REASONS,
    Decoded,
    DecodeError,
    Frames,
    decode,
    encode,
    encode_frames,
)

__all__ = [
    "BODY_ODOMETRY", "BODY_VELOCITY_COMMAND", "DECODE_REASONS", "DEFAULT_VAR_BYTES",
    "DecodeError", "Decoded", "ESTOP", "FORMAT_VERSION", "FRAME_ID_LEN", "Frames", "GNSS_FIX",
    "HEADER", "Header", "IMU", "JOINT_COMMAND", "JOINT_ELEMENT", "JOINT_STATE", "LASER_SCAN",
    "MAX_JOINTS", "MAX_SCAN_POINTS", "MAX_TOPIC_BYTES", "MIN_FRAME_LIMIT", "MOTOR_STATUS",
    "MessageError", "MessageType", "PLUGIN_TYPE_IDS", "POSE2D", "POSITION_FIX",
    "VELOCITY_COMMAND", "WHEEL_ODOMETRY", "decode", "encode", "encode_frames",
    "fields_as_dict", "frame_id_bytes", "frame_limit", "load_plugin_types", "message_type",
    "new_fixed", "new_var", "register", "registered",
]
