"""Live view: a Foxglove WebSocket server with the same Foxglove channels as a recording.

``robo-orch sim --live`` (and ``run --live``) serves ``ws://127.0.0.1:8765`` by
default, ``--live-port 0`` picks a free port.  In Foxglove: *Open connection* >
*Foxglove WebSocket* > the printed URL.

Safe by default: the server has no authentication (foxglove-sdk offers no
handshake hook for tokens or Origin checks), so it listens on loopback only
unless told otherwise.  A non-loopback ``--live-address`` (``0.0.0.0``, the
robot's address) is refused unless it is served with TLS (``--live-tls-cert`` and
``--live-tls-key``, PEM; then ``wss://``) or ``--live-insecure`` says so on
purpose, which warns at every start.  TLS encrypts but admits anyone who can
reach the port; who may watch is decided in front of it: SSH port forwarding
(``ssh -L 8765:127.0.0.1:8765 robot``) or a reverse proxy with authentication
(README: "The live view from another machine").

The channels are :class:`~robo_orch.record.channels.FoxgloveChannels`' (``/tf``,
``/robot/pose``, ``/scan``, ``/world``, ``/path``, ``/loop/tick``, ...), derived
from the loop's per-tick records (:class:`~robo_orch.record.ticks.TickTap`, shared
with a recorder when both run) and from the scan, truth and command topics.

Live parameter changes (:mod:`~robo_orch.record.params`) are published on
``loop/params`` when the loop applies them, between ticks, and shown as
``/loop/params``.

The loop's thread only publishes the two tick records on the bus (a recording
alone hands them to its writer process over a pipe, which costs less than two
ZeroMQ sends).  Everything else happens on the live view's thread, which has its own
bus: bounded subscription queues (overflow is dropped and counted, never
waited for), JSON conversion, and hand-over to the server, whose per-client queue
drops the oldest messages when a viewer is slow.  With no viewer subscribed
nothing is converted (the queues are emptied four times a second).

The loop never wakes the live view's thread: a thread made runnable during a
tick contends for the interpreter lock and delays the tick.  The thread times
its own wake-ups into the slack after a tick (ticks run on absolute deadlines,
so the phase holds), yields the lock after each message and pauses while a tick
runs.  Measured on the demo mission (realtime, 50 Hz, loaded 2-core machine):
the act phase's median grows by ~50-80 us with ``--live`` beyond the ~160 us of
the two tick-record publishes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from robo_orch.clock import make_clock
from robo_orch.record.live_access import (
    DEFAULT_ADDRESS,
    DEFAULT_PORT,
    add_live_args,
    check_exposure,
    exposure_warning,
    is_loopback,
)

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_PORT", "LiveStats", "LiveView", "add_live_args",
           "is_loopback", "serving"]

LIVE_PUBLISHER_ID = 0xFFFF_FF02  # never publishes; keeps it apart from real nodes
VIEWER_DRAIN_NS = 20_000_000  #: with a viewer, serve at most this often (or every tick)
IDLE_DRAIN_NS = 250_000_000  #: with no viewer, empty the queues (without converting)
_yield_gil = partial(time.sleep, 0)
_PERF = make_clock("perf")


@dataclass
class LiveStats:
    """What a live view did."""

    served: int  #: Foxglove messages handed to the server
    missed: int  #: bus messages the live view's queues dropped (overflow, gaps)
    idle: int  #: bus messages not converted because no viewer was subscribed
    fault: str | None  #: why the live view's thread stopped early, or None


def _chain(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    if first is None:
        return second

    def both() -> None:
        first()
        second()

    return both


def _listener_bus(bus, hwm: int):
    """A bus on the same transport as ``bus`` for the live view's thread."""
    return bus.peer(LIVE_PUBLISHER_ID, hwm=hwm)


class LiveView:
    """A Foxglove WebSocket server fed from a controller's bus (see the module docstring).

    ``start()`` binds the port (call it early: a busy port fails before anything
    else loads); ``attach(controller)`` before the first tick; ``close()`` after.
    """

    def __init__(self, host: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT, *,
                 queue_depth: int = 256, name: str = "robo_orch",
                 tls_cert: str | None = None, tls_key: str | None = None,
                 insecure: bool = False) -> None:
        self.host = host
        self.requested_port = port
        #: PEM files: serve wss:// (both or neither)
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        #: a non-loopback host without TLS, allowed on purpose
        self.insecure = insecure
        self.queue_depth = int(queue_depth)
        self.name = name
        self.server = None
        self.channels: dict[str, object] = {}
        self.served = 0
        self.idle = 0
        self.fault: str | None = None
        self._fg_context = None
        self._fox = None
        self._bus = None
        self._subs: list = []
        self._controller = None
        self._tap = None
        self._own_tap = False
        self._saved_hooks = (None, None, True)
        self._param_seq = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop_busy = False
        self._realtime = True
        self._tick_end_ns = 0
        self._period_ns = 20_000_000
        self._settle_ns = 1_000_000

    # --- start and stop -------------------------------------------------------------
    def start(self) -> None:
        """Start the WebSocket server (no channels yet); refuse an unprotected exposure.

        A non-loopback host needs TLS or ``insecure`` (:class:`UsageError`, exit 2).
        """
        from robo_orch.errors import UsageError

        tls = check_exposure(self.host, self.tls_cert, self.tls_key, self.insecure)
        try:
            import foxglove
        except ImportError as err:
            raise UsageError("--live needs the live view's extra: `pip install "
                             "'robo-orch[live]'` (foxglove-sdk; wheels for CPython >= 3.10 on "
                             f"Linux x86_64 and aarch64 with glibc >= 2.28): {err}") from None
        self._fg_context = foxglove.Context()
        options = {} if tls is None else {"tls_cert": tls[0], "tls_key": tls[1]}
        try:
            self.server = foxglove.start_server(name=self.name, host=self.host,
                                                port=self.requested_port,
                                                context=self._fg_context, **options)
        except (RuntimeError, OSError, ValueError, OverflowError) as err:
            hint = (" (--live-tls-cert and --live-tls-key must be a PEM certificate and its "
                    "PEM private key)" if tls is not None else "")
            raise UsageError(f"cannot serve the live view on {self.host}:"
                             f"{self.requested_port}: {err}{hint}") from None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server.port)

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` with TLS) of the server."""
        return f"{'wss' if self.tls_cert else 'ws'}://{self.host}:{self.port}"

    def attach(self, controller) -> None:
        """Advertise the channels, subscribe to the bus, tap the ticks, start the thread."""
        import foxglove

        from robo_orch.bus import QoS
        from robo_orch.clock import SIM
        from robo_orch.messages import message_type
        from robo_orch.record.channels import FoxgloveChannels, RecordingContext
        from robo_orch.record.ticks import (
            BEHAVIOR_TICK,
            BEHAVIOR_TOPIC,
            LOOP_TICK,
            TICK_TOPIC,
            TickTap,
        )

        if self.server is None:
            self.start()
        ctx = RecordingContext.from_controller(controller)
        self._fox = FoxgloveChannels(ctx)
        for spec in self._fox.specs():
            schema = foxglove.Schema(name=spec.schema_name, encoding=spec.schema_encoding,
                                     data=spec.schema_data)
            self.channels[spec.topic] = foxglove.Channel(
                spec.topic, schema=schema, message_encoding=spec.message_encoding,
                context=self._fg_context, metadata=dict(spec.metadata) or None)
        from robo_orch.record.params import PARAM_CHANGE, PARAMS_TOPIC

        # only what the Foxglove channels are made from
        wanted = {TICK_TOPIC: LOOP_TICK.name, BEHAVIOR_TOPIC: BEHAVIOR_TICK.name,
                  ctx.truth_topic: "pose2d", ctx.command_topic: "velocity_command",
                  PARAMS_TOPIC: PARAM_CHANGE.name}
        if self._fox.scan_topic:
            wanted[self._fox.scan_topic] = "laser_scan"
        depth = self.queue_depth
        self._bus = _listener_bus(controller.bus, depth)
        for topic, type_name in wanted.items():
            self._subs.append(self._bus.subscribe(topic, message_type(type_name),
                                                  QoS.queue(depth), hwm=depth))
        self._controller = controller
        if PARAMS_TOPIC not in {p.topic for p in controller.bus.publishers}:
            controller.bus.publisher(PARAMS_TOPIC, PARAM_CHANGE)  # bound before any change
        controller.live.listeners.append(self._publish_change)
        self._realtime = controller.bus.clock.clock_id != SIM
        self._period_ns = int(1e9 / controller.config.loop.rate_hz)
        # the tap runs inside the act phase: let that phase end before taking the GIL
        self._settle_ns = min(1_000_000, self._period_ns // 4)
        tap = controller.tap
        if tap is None:  # no recorder: publish the tick records ourselves
            tap = TickTap(controller).attach(controller)
            self._own_tap = True
        self._tap = tap
        self._saved_hooks = (tap.before, tap.after, tap.publish)
        tap.publish = True  # a recorder's tap hands its records over a pipe, not the bus
        tap.before = _chain(tap.before, self._before_tick)
        tap.after = _chain(tap.after, self._after_tick)
        self._thread = threading.Thread(target=self._run, name="robo_orch-live", daemon=True)
        self._thread.start()

    def close(self) -> LiveStats:
        """Untap the loop, stop the thread and the server; return what was served."""
        if self._controller is not None and \
                self._publish_change in self._controller.live.listeners:
            self._controller.live.listeners.remove(self._publish_change)
        if self._tap is not None:
            if self._own_tap:
                from robo_orch.record.ticks import TickTap

                TickTap.detach(self._controller)
            else:
                self._tap.before, self._tap.after, self._tap.publish = self._saved_hooks
            self._tap = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        missed = sum(s.counters.dropped + s.counters.seq_gaps + s.counters.malformed
                     for s in self._subs)
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        for channel in self.channels.values():
            channel.close()
        if self.server is not None:
            self.server.stop()
            self.server = None
        return LiveStats(served=self.served, missed=missed, idle=self.idle, fault=self.fault)

    # --- loop side ------------------------------------------------------------------
    def _publish_change(self, tick: int, now_ns: int, change) -> None:
        """A live parameter change was applied (between ticks): publish it for the view."""
        from robo_orch.record.params import publish_change

        self._param_seq += 1
        publish_change(self._controller.bus, self._param_seq, tick, now_ns, change)

    def _before_tick(self) -> None:
        self._loop_busy = True

    def _after_tick(self) -> None:
        # no wake-up from here: a thread made runnable during the tick would contend for
        # the interpreter lock; the live thread times itself into the slack instead
        self._loop_busy = False
        self._tick_end_ns = _PERF.now_ns()

    # --- the live view's thread ---------------------------------------------------
    def _next_wake_ns(self, last_ns: int, interval_ns: int, now: int) -> int:
        """The first moment in a tick's slack (``settle`` after a tick) ``interval`` after
        the last drain: ticks run on absolute deadlines, so the phase holds."""
        due = max(last_ns + interval_ns, now)
        if not self._realtime or not self._tick_end_ns:
            return due
        anchor, period = self._tick_end_ns + self._settle_ns, self._period_ns
        return anchor + -(-(due - anchor) // period) * period

    def _run(self) -> None:
        period = self._period_ns
        busy_interval = -(-VIEWER_DRAIN_NS // period) * period
        last = retries = 0
        try:
            while not self._stop.is_set():
                viewers = any(ch.has_sinks() for ch in self.channels.values())
                now = _PERF.now_ns()
                idle = not viewers and self._realtime  # lockstep fills queues too fast
                wake = self._next_wake_ns(last, IDLE_DRAIN_NS if idle else busy_interval, now)
                if self._stop.wait(max(wake - now, 0) * 1e-9):
                    break
                if self._loop_busy and self._realtime and retries < 5:
                    retries += 1  # a long or late tick: try again once it is over
                    time.sleep(self._settle_ns * 1e-9)
                    continue
                retries = 0
                last = _PERF.now_ns()
                self._drain(viewers)
        except Exception as err:  # a viewer bug must not take the robot down with it
            self.fault = f"{type(err).__name__}: {err}"
            print(f"robo-orch: live view stopped: {self.fault}; the run goes on",
                  file=sys.stderr, flush=True)

    def _drain(self, viewers: bool) -> None:
        batch = []
        for sub in self._subs:
            sub.poll()  # always: keeps the transport drained and the counters right
            msgs = sub.take()
            _yield_gil()
            if not viewers:
                self.idle += len(msgs)
                continue
            name = sub.mtype.name
            batch += [(m.header.stamp_ns, len(batch) + i, sub.topic, name, m)
                      for i, m in enumerate(msgs)]
        batch.sort(key=lambda item: (item[0], item[1]))
        fox, channels = self._fox, self.channels
        for _, _, topic, name, msg in batch:
            for channel, log_time, data in fox.convert(topic, name, msg.header, msg.fixed,
                                                       msg.var):
                channels[channel].log(data, log_time=log_time)
                self.served += 1
            _yield_gil()
            while self._loop_busy and self._realtime and not self._stop.is_set():
                time.sleep(0.0002)  # work in the slack between ticks


def _announce_bus(bus, out) -> None:
    """Say where a realtime run's bus is, for ``robo-orch topics`` from another terminal."""
    run_dir = getattr(bus, "run_dir", None)
    if run_dir:
        print(f"robo-orch: bus sockets in {run_dir}; from another terminal: `robo-orch "
              "topics`, `robo-orch topics hz sensor/imu`", file=out)


@contextmanager
def serving(args: argparse.Namespace, on_start: Callable | None = None) -> Iterator:
    """Yield ``on_start`` extended with the live view (``--live``) and a bus announcement.

    The server starts here, before anything heavy loads, so a busy port fails at
    once; on exit it stops and one line says what it served.  For ``sim`` (not
    ``--quiet``) the hook also says where a realtime run's bus is.
    """
    live = None
    if getattr(args, "live", False):
        live = LiveView(args.live_address, args.live_port,
                        tls_cert=getattr(args, "live_tls_cert", None),
                        tls_key=getattr(args, "live_tls_key", None),
                        insecure=getattr(args, "live_insecure", False))
        live.start()
        warning = exposure_warning(live.host, bool(live.tls_cert))
        if warning:  # --live-insecure: one line at every start
            print(warning, file=sys.stderr, flush=True)
    announce = getattr(args, "command", "") == "sim" and not getattr(args, "quiet", False)
    if live is None and not announce:
        yield on_start
        return

    def hook(controller) -> None:
        if on_start is not None:
            on_start(controller)  # a recorder first: the live view shares its tick tap
        if announce:
            _announce_bus(controller.bus, sys.stderr)
        if live is not None:
            live.attach(controller)
            _announce_live(live, sys.stderr)

    try:
        yield hook
    finally:
        if live is not None:
            stats = live.close()
            print(f"live view: {stats.served} messages served, {stats.missed} bus messages "
                  f"missed" + (f", stopped early: {stats.fault}" if stats.fault else ""),
                  file=sys.stderr)


def _announce_live(live: LiveView, out) -> None:
    exposed = not is_loopback(live.host)
    how = "with TLS, without authentication" if live.tls_cert else \
        "without TLS or authentication"
    print(f"robo-orch: live view on {live.url} (Foxglove: Open connection > Foxglove "
          "WebSocket)" + (f"; reachable from the network, {how}" if exposed else ""),
          file=out, flush=True)
