"""The ``battery_state`` message type (registered through the ``robo_orch.messages`` group)."""

from __future__ import annotations

from robo_orch.messages import PLUGIN_TYPE_IDS, MessageType

#: pack voltage (V), current drawn (A, positive while discharging), state of charge (0-1)
BATTERY_STATE = MessageType("battery_state", PLUGIN_TYPE_IDS,
                            [("voltage", "<f8"), ("current", "<f8"), ("charge", "<f8")])
