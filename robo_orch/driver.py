"""The driver seam: a device on a serial port, speaking to the bus.

A driver has two parts with separate jobs:

* a :class:`Parser` is pure protocol: bytes in, decoded frames out.  It keeps a
  partial frame across calls, resynchronises after garbage and counts every
  rejected frame by reason.  It never raises on bad input.
* a :class:`Driver` owns the device's behaviour: what to send at start-up, how a
  frame becomes a bus message, what to write to the device (commands,
  heartbeats), and how to stop the device safely.

The port and the process around a driver belong to :mod:`robo_orch.hosting.driver_host`,
which opens the port with ``serial.serial_for_url`` (device paths, ``loop://``,
``socket://`` and pseudo-terminals all work), waits for bytes and bus messages
and calls the driver's hooks.  Driver modules must not import numba: a driver
process starts in a fraction of a second and stays small.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np

from robo_orch import schema
from robo_orch.bus import Bus, Publisher, QoS, Subscription
from robo_orch.clock import Clock
from robo_orch.errors import ConfigError
from robo_orch.messages import MessageType, message_type


class Parser(ABC):
    """Incremental parser of one serial protocol.

    :meth:`feed` accepts any chunking of the byte stream (single bytes, split or
    joined frames) and returns the frames completed by this chunk.  Subclasses
    implement :meth:`_feed` and call :meth:`reject` for every bad frame and
    :meth:`skip` for bytes discarded while hunting for the next frame start.
    """

    def __init__(self) -> None:
        #: good frames returned so far
        self.frames = 0
        #: bytes fed so far
        self.bytes_in = 0
        #: bytes discarded while resynchronising
        self.skipped_bytes = 0
        #: rejected frames by reason (``"checksum"``, ``"length"``, ...)
        self.bad: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[Any]:
        """Consume ``data`` and return the frames it completed, oldest first."""
        self.bytes_in += len(data)
        out = self._feed(bytes(data))
        self.frames += len(out)
        return out

    @abstractmethod
    def _feed(self, data: bytes) -> list[Any]:
        """Protocol-specific part of :meth:`feed`; must never raise on bad input."""

    def reject(self, reason: str) -> None:
        """Count one bad frame."""
        self.bad[reason] += 1

    def skip(self, n: int = 1) -> None:
        """Count ``n`` bytes discarded while looking for a frame start."""
        self.skipped_bytes += n

    def seek(self, buf: bytes | bytearray, pos: int, marker: bytes | int) -> int:
        """Index of the next frame start ``marker`` in ``buf`` at or after ``pos``.

        The bytes passed over are counted as skipped: up to the marker, or all of
        them when there is none (then -1).
        """
        start = buf.find(marker, pos)
        self.skipped_bytes += (len(buf) if start < 0 else start) - pos
        return start

    def counters(self) -> dict[str, int]:
        """Counters as a flat dict (``bad.<reason>`` for each rejection reason)."""
        out = {"frames": self.frames, "bytes_in": self.bytes_in,
               "skipped_bytes": self.skipped_bytes}
        out.update({f"bad.{reason}": n for reason, n in sorted(self.bad.items())})
        return out


class BufferedParser(Parser):
    """A :class:`Parser` that keeps the bytes of an unfinished frame between feeds.

    Subclasses implement :meth:`_parse` on the buffer (the kept bytes followed by
    the new ones); the bytes it reports as used are dropped, the rest is kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back for the next feed (an incomplete frame, or one not yet confirmed)."""
        return len(self._buf)

    def _feed(self, data: bytes) -> list[Any]:
        buf = self._buf
        buf += data
        out: list[Any] = []
        del buf[:self._parse(buf, out)]
        return out

    @abstractmethod
    def _parse(self, buf: bytearray, out: list[Any]) -> int:
        """Append the frames at the front of ``buf`` to ``out``; return how many bytes
        are done with (decoded, rejected or skipped)."""


class Port(Protocol):
    """What a driver may do with its port (a ``serial.Serial`` or compatible)."""

    def write(self, data: bytes) -> int | None: ...  # noqa: D102

    def flush(self) -> None: ...  # noqa: D102

    def reset_input_buffer(self) -> None: ...  # noqa: D102


@dataclasses.dataclass(frozen=True)
class DriverSpec:
    """The settings every driver shares (the keys of ``[drivers.NAME]`` in config).

    Everything else in the table is the driver's own and is validated by its
    ``Params`` class.
    """

    kind: str = schema.option(doc="registered driver name, e.g. 'nmea_gps'")
    port: str = schema.option(doc="serial port: a device path (prefer /dev/serial/by-id/...), "
                                  "'loop://', 'socket://host:port' or a pseudo-terminal")
    baud: int = schema.option(0, ge=0, le=100_000_000, doc="baud rate; 0 uses the driver's default")
    frame_id: str = schema.option("", doc="frame id stamped on messages (default: the "
                                          "driver's name)")
    mount: tuple[float, ...] = schema.option([0.0, 0.0, 0.0], length=3,
                                             doc="mounting pose on the robot [x, y, yaw] "
                                                 "in m, m, rad")
    timeout_s: float = schema.option(1.0, gt=0, le=3600,
                                     doc="no bytes for this long: the device is "
                                                     "reported as not answering")
    low_latency: bool = schema.option(True, doc="ask the serial adapter for low-latency mode "
                                                "(FTDI adapters otherwise batch bytes for 16 ms)")
    restart: bool = schema.option(True, doc="the supervisor restarts the driver when it dies")
    enabled: bool = schema.option(True, doc="false leaves the driver out of the run")

    def validate(self, source: str, prefix: str) -> None:
        """Refuse an empty port name (it would pass for a path until the driver opens it)."""
        if not self.port.strip():
            raise ConfigError(source, f"{prefix}.port", "empty: name the serial port (a "
                              "device path, 'loop://', 'socket://host:port')")


class Driver(ABC):
    """One device on one serial port.

    Subclasses set :attr:`kind`, :attr:`Params`, :attr:`default_baud`, implement
    :meth:`handle_bytes` and declare what they publish in :meth:`output_topics`.
    The host calls the hooks in this order: :meth:`start` once the port is open,
    then :meth:`handle_bytes` for every chunk read and :meth:`service` after every
    wake-up (bytes, a bus message or :attr:`service_period_s` passing), and finally
    :meth:`stop` on shutdown, while the port is still open.
    """

    #: registry name, as written in config (``kind = "nmea_gps"``)
    kind: ClassVar[str]
    #: dataclass of the driver's own options (topics, rates, device settings)
    Params: ClassVar[type]
    #: baud rate used when the config says 0
    default_baud: ClassVar[int] = 115200
    #: the host calls :meth:`service` at least this often, s
    service_period_s: ClassVar[float] = 0.02
    #: drives actuators: on shutdown the supervisor stops it right after the loop,
    #: before the sensors, so its :meth:`stop` still reaches a live device
    actuator: ClassVar[bool] = False

    def __init__(self, name: str, spec: DriverSpec, params: Any, bus: Bus, clock: Clock) -> None:
        self.name = name
        self.spec = spec
        self.params = params
        self.bus = bus
        self.clock = clock
        self.frame_id = spec.frame_id or name
        #: driver-level counters (published messages, commands written, ...)
        self.stats: Counter[str] = Counter()
        self._outputs: dict[str, Publisher] = {}
        self._inputs: list[Subscription] = []
        #: called with (topic, message type) when an output is created (``--echo`` taps it)
        self.on_new_output: Callable[[str, MessageType], None] | None = None

    # --- helpers for subclasses -------------------------------------------------

    def output(self, topic: str, mtype: MessageType | str) -> Publisher:
        """A publisher on ``topic`` (created once, reused), stamped with this frame id."""
        pub = self._outputs.get(topic)
        if pub is None:
            mtype = message_type(mtype)
            if self.on_new_output is not None:
                self.on_new_output(topic, mtype)
            pub = self.bus.publisher(topic, mtype, frame_id=self.frame_id)
            self._outputs[topic] = pub
        return pub

    def input(self, topic: str, mtype: MessageType | str, qos: str = "latest") -> Subscription:
        """A subscription the host waits on together with the port."""
        sub = self.bus.subscribe(topic, message_type(mtype), QoS.parse(qos))
        self._inputs.append(sub)
        return sub

    @property
    def outputs(self) -> dict[str, Publisher]:
        """Publishers created so far, by topic."""
        return dict(self._outputs)

    @property
    def inputs(self) -> tuple[Subscription, ...]:
        """Subscriptions the host waits on."""
        return tuple(self._inputs)

    @staticmethod
    def record(mtype: MessageType | str, **fields: Any) -> np.ndarray:
        """A zeroed fixed part of ``mtype`` with ``fields`` filled in."""
        rec = np.zeros((), dtype=message_type(mtype).dtype)
        for key, value in fields.items():
            rec[key] = value
        return rec

    @classmethod
    def output_topics(cls, params: Any) -> dict[str, str]:
        """The topics this driver publishes with ``params``, and their message type names
        (a recorder records them); default: none.  Declare every :meth:`output`."""
        return {}

    @classmethod
    def estop_status_topic(cls, params: Any) -> str | None:
        """Where this driver reports its e-stop latch, or None (it has none).

        An actuator driver that latches the e-stop publishes its latch state as the
        ``estop`` field of ``motor_status`` messages on this topic, at once after
        every e-stop message it handles; the loop's e-stop acknowledgement waits
        for it (:mod:`robo_orch.control.endpoint`).
        """
        return None

    # --- hooks --------------------------------------------------------------------

    def start(self, port: Port) -> None:  # noqa: B027  (optional hook)
        """Set the device up (start streaming, set rates); default: nothing."""

    @abstractmethod
    def handle_bytes(self, data: bytes, stamp_ns: int) -> None:
        """Parse ``data`` (read at ``stamp_ns``) and publish what it completes."""

    def service(self, port: Port, now_ns: int) -> None:  # noqa: B027  (optional hook)
        """Write commands and heartbeats, enforce deadmen; default: nothing."""

    def stop(self, port: Port) -> None:  # noqa: B027  (optional hook)
        """Leave the device safe (motors at zero, scanning stopped); default: nothing."""

    def counters(self) -> dict[str, int]:
        """The parser's counters (if the driver has ``self.parser``), :attr:`stats`, and
        each input's bus counters as ``in.<topic>.<name>`` (``received``, ``malformed``,
        ``dropped``, ``disconnects``)."""
        parser = getattr(self, "parser", None)
        out = parser.counters() if isinstance(parser, Parser) else {}
        out.update(self.stats)
        for sub in self._inputs:
            c = sub.counters
            prefix = f"in.{sub.topic}."
            out[prefix + "received"] = c.received
            out[prefix + "malformed"] = c.malformed
            out[prefix + "dropped"] = c.dropped
            out[prefix + "disconnects"] = c.disconnects
        return out
