"""The message bus: one publisher/subscriber interface, memory and ZeroMQ backends.

Backends are chosen by name through :mod:`robo_orch.registry` (group
``robo_orch.buses``), as python-can's ``Bus(interface=...)``::

    bus = make_bus("zmq", clock, publisher_id=1, run_dir=run_dir)
    bus = make_bus("memory", clock, publisher_id=2, hub=hub)

``ZmqBus`` is imported on first use (``robo_orch.bus.ZmqBus``, ``make_bus("zmq", ...)``
or ``robo_orch.bus.zmq_bus``), so the memory bus works without loading pyzmq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robo_orch import registry
from robo_orch.bus.base import Bus, Publisher, Subscription
from robo_orch.bus.counters import Received, TopicCounters, copy_into
from robo_orch.bus.memory import MemoryBus, MemoryHub
from robo_orch.bus.qos import QoS
from robo_orch.clock import Clock

if TYPE_CHECKING:
    from robo_orch.bus.zmq_bus import ZmqBus

__all__ = ["Bus", "MemoryBus", "MemoryHub", "Publisher", "QoS", "Received", "Subscription",
           "TopicCounters", "ZmqBus", "copy_into", "make_bus"]


def make_bus(kind: str, clock: Clock, **options: Any) -> Bus:
    """The bus backend registered as ``kind`` (``zmq``, ``memory`` or a plugin's) on
    ``clock``; ``options`` are the backend's keyword arguments (``publisher_id``,
    ``hwm``, and e.g. ``run_dir`` for zmq, ``hub`` for memory)."""
    return registry.create(registry.BUSES, kind, clock, **options)


def __getattr__(name: str) -> Any:
    if name == "ZmqBus":
        from robo_orch.bus.zmq_bus import ZmqBus

        return ZmqBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
