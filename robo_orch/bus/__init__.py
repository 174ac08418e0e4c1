"""The message bus: one publisher/subscriber interface, memory and ZeroMQ backends.

``ZmqBus`` is imported on first use (``robo_orch.bus.ZmqBus`` or
``robo_orch.bus.zmq_bus``), so the memory bus works without loading pyzmq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robo_orch.bus.base import Bus, Publisher, Subscription
from robo_orch.bus.counters import Received, TopicCounters, copy_into
from robo_orch.bus.memory import MemoryBus, MemoryHub
from robo_orch.bus.qos import QoS

if TYPE_CHECKING:
    from robo_orch.bus.zmq_bus import ZmqBus

__all__ = ["Bus", "MemoryBus", "MemoryHub", "Publisher", "QoS", "Received", "Subscription",
           "TopicCounters", "ZmqBus", "copy_into"]


def __getattr__(name: str) -> Any:
    if name == "ZmqBus":
        from robo_orch.bus.zmq_bus import ZmqBus

        return ZmqBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
