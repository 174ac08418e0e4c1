"""The battery monitor's driver: ``$BAT`` lines to ``battery_state`` messages."""

from __future__ import annotations

import dataclasses
from typing import Any

from robo_orch import schema
from robo_orch.driver import Driver, DriverSpec
from robo_orch_battery.messages import BATTERY_STATE
from robo_orch_battery.protocol import BatteryParser


@dataclasses.dataclass(frozen=True)
class BatteryParams:
    """Options of the battery monitor (``[drivers.NAME]`` keys besides the common ones)."""

    topic: str = schema.option("sensor/battery", doc="topic of the battery_state messages")


class BatteryMonitorDriver(Driver):
    """Publishes one ``battery_state`` message per line the monitor sends."""

    kind = "battery_monitor"
    Params = BatteryParams
    default_baud = 9600

    def __init__(self, name: str, spec: DriverSpec, params: Any, bus: Any, clock: Any) -> None:
        super().__init__(name, spec, params, bus, clock)
        self.parser = BatteryParser()

    @classmethod
    def output_topics(cls, params: Any) -> dict[str, str]:
        """The one topic this driver publishes."""
        return {params.topic: BATTERY_STATE.name}

    def handle_bytes(self, data: bytes, stamp_ns: int) -> None:
        """Publish every complete line in ``data``."""
        for reading in self.parser.feed(data):
            pub = self.output(self.params.topic, BATTERY_STATE)  # (created once, on first use)
            rec = self.record(BATTERY_STATE, voltage=reading.voltage, current=reading.current,
                              charge=reading.charge)
            pub.publish(rec, stamp_ns=stamp_ns)
            self.stats["published"] += 1
