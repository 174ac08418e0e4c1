"""robo_orch's own message types: the built-in ones and the joint types.

Their type ids are below :data:`~robo_orch.messages.types.PLUGIN_TYPE_IDS` (those
of installed packages start there).  Importing this module registers them;
``robo_orch.messages`` does so, and re-exports them (``messages.IMU``, ...).
"""

from __future__ import annotations

from robo_orch.messages.types import MessageType, register

#: most points of a ``laser_scan``: 2D lidars send a few thousand per revolution
#: (the simulator at most 8192); a subscriber expecting more passes ``max_bytes``
MAX_SCAN_POINTS = 16384

WHEEL_ODOMETRY = register(MessageType(
    "wheel_odometry", 1, [("v_left", "<f8"), ("v_right", "<f8")]))
IMU = register(MessageType(
    "imu", 2, [("gyro", "<f8", (3,)), ("accel", "<f8", (3,)), ("orientation", "<f8", (4,))]))
LASER_SCAN = register(MessageType(
    "laser_scan", 3,
    [("range_min", "<f4"), ("range_max", "<f4"), ("scan_duration", "<f4"), ("pad", "<f4")],
    [("angle", "<f4"), ("range", "<f4")], max_count=MAX_SCAN_POINTS))
VELOCITY_COMMAND = register(MessageType("velocity_command", 4, [("v", "<f8"), ("w", "<f8")]))
ESTOP = register(MessageType("estop", 5, [("engage", "u1"), ("pad", "u1", (7,))]))
POSE2D = register(MessageType(
    "pose2d", 6, [("x", "<f8"), ("y", "<f8"), ("yaw", "<f8"), ("v", "<f8"), ("w", "<f8")]))
POSITION_FIX = register(MessageType(
    "position_fix", 7, [("x", "<f8"), ("y", "<f8"), ("std", "<f8")]))
GNSS_FIX = register(MessageType(
    "gnss_fix", 8,
    [("latitude", "<f8"), ("longitude", "<f8"), ("altitude", "<f8"), ("hdop", "<f8"),
     ("speed", "<f8"), ("course", "<f8"), ("quality", "u1"), ("satellites", "u1"),
     ("pad", "u1", (6,))]))
#: ``estop``: the driver's own e-stop latch (1 latched), sent at once when it handles
#: an e-stop message; ``faults`` are the device's (its FAULT_ESTOP bit: the firmware's latch)
MOTOR_STATUS = register(MessageType(
    "motor_status", 9,
    [("left_ticks", "<i8"), ("right_ticks", "<i8"), ("battery_v", "<f8"), ("faults", "<u4"),
     ("device_ms", "<u4"), ("estop", "u1"), ("pad", "u1", (7,))]))
#: a holonomic base's command: body-frame forward, lateral (left) speed, m/s, yaw rate, rad/s
BODY_VELOCITY_COMMAND = register(MessageType(
    "body_velocity_command", 10, [("vx", "<f8"), ("vy", "<f8"), ("w", "<f8")]))
#: a holonomic base's odometry: its measured body-frame velocity (as the command's)
BODY_ODOMETRY = register(MessageType(
    "body_odometry", 11, [("vx", "<f8"), ("vy", "<f8"), ("w", "<f8")]))
# type ids 12-13: kept for the bases (e.g. mecanum wheel speeds); 14-15: joints


# --- the joints command space (robo_orch.core.safety_joints) ------------------------

#: most joints of one ``joints`` command space (and of its messages)
MAX_JOINTS = 64
#: one joint of a joint message's variable part, in the order of the space's config
JOINT_ELEMENT = [("position", "<f8"), ("velocity", "<f8")]
#: ``mode``: 0 position, 1 velocity (``robo_orch.core.safety_joints.MODES``): in position
#: mode a device tracks ``position`` with ``velocity`` as feed-forward, in velocity mode
#: it runs at ``velocity`` (``position`` is where that takes it in one tick);
#: ``flags``: the safety kernel's flags for this command
JOINT_COMMAND = register(MessageType(
    "joint_command", 14, [("mode", "u1"), ("pad", "u1", (3,)), ("flags", "<u4")],
    JOINT_ELEMENT, max_count=MAX_JOINTS))
#: measured joint positions and velocities; ``faults``: the device's fault bits (0 = none)
JOINT_STATE = register(MessageType(
    "joint_state", 15, [("faults", "<u4"), ("pad", "u1", (4,))],
    JOINT_ELEMENT, max_count=MAX_JOINTS))
