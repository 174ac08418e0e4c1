"""The process around one driver: open its port, wait for bytes and bus messages, call its hooks.

``python -m robo_orch.hosting.driver_host --config FILE --name NAME`` runs the driver
``[drivers.NAME]`` of a config; the supervisor starts one such process per
driver.  ``robo-orch driver KIND --port URL --echo`` runs one alone and prints
every message it publishes as a JSON line.

The host waits on the port's file descriptor and the driver's bus subscriptions
together (``zmq.Poller``), so a byte or a command is handled the moment it
arrives.  When the supervisor passes ``ROBO_ORCH_READY_FD``, the host writes one
JSON line to that descriptor once the port is open and the device set up.
Exit status: 0 stopped on request, 2 the port could not be opened (start-up
error), 3 the port failed while running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import termios
import time
from typing import Any, TextIO

import serial

from robo_orch import lifeline, registry
from robo_orch.bus import Bus, QoS, Subscription, make_bus
from robo_orch.clock import make_clock
from robo_orch.config.drivers import DriverConfig, build_driver
from robo_orch.driver import Driver, DriverSpec
from robo_orch.errors import RegistryError, RoboOrchError
from robo_orch.messages import MessageType, fields_as_dict

READY_FD_ENV = "ROBO_ORCH_READY_FD"
#: what a port raises when its device goes away: pyserial's flush() and
#: reset_input_buffer() raise termios.error, which is no OSError, on a vanished device
PORT_ERRORS = (serial.SerialException, OSError, termios.error)
#: ``[bus]`` keys that put topics on tcp: with any of them the driver reads the whole config
_NETWORK_KEYS = frozenset({"endpoints", "tcp_base", "control_endpoint", "keys", "insecure"})


class DeviceError(RoboOrchError, OSError):
    """A driver's serial port could not be opened or failed."""

    exit_status = 2


def open_port(name: str, cfg: DriverConfig) -> serial.SerialBase:
    """Open the driver's port by URL, exclusively, non-blocking; one-line error if impossible."""
    spec = cfg.spec
    baud = spec.baud or cfg.cls.default_baud
    try:
        port = serial.serial_for_url(spec.port, baudrate=baud, timeout=0, exclusive=True,
                                     do_not_open=False)
    except (serial.SerialException, OSError, ValueError) as err:
        raise DeviceError(f"driver '{name}' ({cfg.spec.kind}): cannot open {spec.port}: "
                          f"{_reason(err)}; check the port with `robo-orch ports` (is the device "
                          "plugged in, the path right, another program using it?)") from None
    if spec.low_latency and hasattr(port, "set_low_latency_mode"):
        # FTDI and other USB adapters; a pty or a plain UART refuses, harmlessly
        with contextlib.suppress(OSError, ValueError, AttributeError, NotImplementedError):
            port.set_low_latency_mode(True)
    return port


def _reason(err: BaseException) -> str:
    if isinstance(err, termios.error) and len(err.args) == 2:  # (errno, text), as OSError says
        return f"[Errno {err.args[0]}] {err.args[1]}"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class DriverHost:
    """Runs one driver against its port until :meth:`stop`."""

    def __init__(self, name: str, cfg: DriverConfig, bus: Bus, *, log: TextIO | None = None,
                 echo: TextIO | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self.bus = bus
        self.log = log if log is not None else sys.stderr
        self.clock = bus.clock
        self.driver: Driver = cfg.cls(name, cfg.spec, cfg.params, bus, self.clock)
        self.port: serial.SerialBase | None = None
        self.running = False
        self.silent = False
        self._stop_requested = False  # a SIGTERM before run() started still counts
        self._echo = echo
        self._taps: list[Subscription] = []
        if echo is not None:
            self.driver.on_new_output = self._tap

    def say(self, text: str) -> None:
        """One log line, prefixed with the driver's name."""
        try:
            print(f"robo-orch driver {self.name}: {text}", file=self.log, flush=True)
        except OSError:  # the supervisor reading our log died: stopping the device comes first
            lifeline.mute_broken_output()

    def _tap(self, topic: str, mtype: MessageType) -> None:
        self._taps.append(self.bus.subscribe(topic, mtype, QoS.queue(1024)))

    def open(self) -> None:
        """Open the port and set the device up (:class:`DeviceError` if the port fails)."""
        self.port = open_port(self.name, self.cfg)
        try:
            self.driver.start(self.port)
        except PORT_ERRORS as err:
            port, self.port = self.port, None
            with contextlib.suppress(*PORT_ERRORS):
                port.close()
            raise DeviceError(f"driver '{self.name}' ({self.cfg.spec.kind}): "
                              f"{self.cfg.spec.port} failed while setting the device up: "
                              f"{_reason(err)}") from None

    def run(self) -> int:
        """Serve the port until :meth:`stop` or a port failure; returns the exit status."""
        import zmq

        port, driver = self.port, self.driver
        assert port is not None, "open() first"
        poller = zmq.Poller()
        fd = _fileno(port)
        if fd is not None:
            poller.register(fd, zmq.POLLIN)
        else:  # loop:// and other fd-less ports: short read time-outs instead
            port.timeout = driver.service_period_s
        for sub in driver.inputs:
            handle = sub.poll_handle()
            if handle is not None:
                poller.register(handle, zmq.POLLIN)
        period_ms = max(1, int(driver.service_period_s * 1000))
        timeout_ns = int(self.cfg.spec.timeout_s * 1e9)
        last_rx = self.clock.now_ns()
        self.running = not self._stop_requested
        status = 0
        while self.running:
            try:
                if fd is not None:
                    events = dict(poller.poll(period_ms))
                    # readable with nothing waiting is a hang-up: read() then raises
                    data = port.read(max(1, port.in_waiting)) if events.get(fd) else b""
                else:
                    data = port.read(1)
                    if data and port.in_waiting:
                        data += port.read(port.in_waiting)
            except PORT_ERRORS as err:
                status = self._port_failed(err)
                break
            except InterruptedError:
                continue
            now = self.clock.now_ns()
            if data:
                last_rx = now
                if self.silent:
                    self.silent = False
                    self.say("device answering again")
                driver.handle_bytes(data, now)
            elif not self.silent and now - last_rx > timeout_ns:
                self.silent = True
                driver.stats["silences"] += 1
                self.say(f"device not answering on {self.cfg.spec.port} "
                         f"(no bytes for {self.cfg.spec.timeout_s:g} s)")
            try:
                driver.service(port, now)
            except PORT_ERRORS as err:
                status = self._port_failed(err)
                break
            if self._taps:
                self._print_taps()
        self.close()
        return status

    def _port_failed(self, err: Exception) -> int:
        """The exit status for a port error: 3 (said why), or 0 when stopping anyway."""
        if not self.running:
            return 0
        self.say(f"port {self.cfg.spec.port} failed: {_reason(err)}")
        return 3

    def _print_taps(self) -> None:
        for sub in self._taps:
            if not sub.poll():
                continue
            for msg in sub.take():
                line = {"topic": sub.topic, "type": sub.mtype.name, "seq": msg.header.seq,
                        "stamp": msg.header.stamp_ns * 1e-9, "frame_id": msg.header.frame_id,
                        **fields_as_dict(msg.fixed, msg.var)}
                print(json.dumps(line), file=self._echo, flush=True)

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler; also before it started)."""
        self._stop_requested = True
        self.running = False

    def close(self) -> None:
        """Leave the device safe and close the port (idempotent)."""
        port, self.port = self.port, None
        if port is None:
            return
        try:
            self.driver.stop(port)
        except PORT_ERRORS as err:
            self.say(f"could not stop the device cleanly: {_reason(err)}")
        finally:
            with contextlib.suppress(*PORT_ERRORS):
                port.close()

    def summary(self) -> str:
        """The driver's counters on one line (and its tcp handshakes, over CURVE)."""
        counters = dict(self.driver.counters())
        tcp = getattr(self.bus, "tcp_health", dict)()
        if tcp.get("mechanism") == "curve" and "refused" in tcp:
            counters["tcp.admitted"] = tcp["admitted"]
            counters["tcp.refused"] = tcp["refused"]
            counters["tcp.outgoing_failed"] = sum(tcp["outgoing_failed"].values())
        return ", ".join(f"{k}={v}" for k, v in sorted(counters.items()))


def _fileno(port: Any) -> int | None:
    try:
        return port.fileno()
    except (AttributeError, OSError, NotImplementedError, serial.SerialException):
        return None


def _notify_ready(payload: dict[str, Any]) -> None:
    fd = os.environ.get(READY_FD_ENV)
    if not fd:
        return
    try:
        with os.fdopen(int(fd), "w") as fh:
            fh.write(json.dumps(payload) + "\n")
    except (OSError, ValueError):
        pass


def serve(name: str, cfg: DriverConfig, bus: Bus, *, echo: TextIO | None = None,
          supervised: bool = False) -> int:
    """Open, notify readiness, run until SIGTERM (and SIGINT unless supervised), close."""
    host = DriverHost(name, cfg, bus, echo=echo)
    host.open()
    lifeline.on_terminate(host.stop)  # also when the supervisor dies (robo_orch.lifeline)
    # supervised: Ctrl-C reaches the whole process group, but the supervisor stops
    # the loop first and then each driver in order, with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN if supervised else (lambda *_: host.stop()))
    _notify_ready({"name": name, "pid": os.getpid(), "port": cfg.spec.port,
                   "info": getattr(host.driver, "info", None)})
    host.say(f"ready on {cfg.spec.port}")
    t0 = time.monotonic()
    status = host.run()
    host.say(f"stopped after {time.monotonic() - t0:.1f} s: {host.summary()}")
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of a supervised driver process."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.hosting.driver_host")
    parser.add_argument("--config", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--port", help="override the configured port (the simulator's pty)")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--publisher-id", type=int, default=10)
    parser.add_argument("--incarnation", type=int, default=0)
    args = parser.parse_args(argv)
    lifeline.attach()  # SIGTERM when the supervisor dies, even by SIGKILL
    try:
        from pathlib import Path

        from robo_orch.config import apply_overrides, load_config, network, read_with_extends

        raw = read_with_extends(Path(args.config))
        apply_overrides(raw, args.set)
        table = dict((raw.get("drivers") or {}).get(args.name) or {})
        if not table:
            print(f"robo-orch driver {args.name}: no [drivers.{args.name}] in {args.config}",
                  file=sys.stderr)
            return 2
        if args.port:
            table["port"] = args.port
        cfg = build_driver(args.name, table, source=args.config,
                           base_dir=Path(args.config).parent)
        # with tcp, the whole config (without behaviors: no kernels) says which topics
        # are tcp and with which keys; a drivers-only file (bring-up) needs no mission
        options = {}
        if _NETWORK_KEYS & set(raw.get("bus") or {}):
            full = load_config(args.config, args.set, with_behaviors=False)
            options = network.bus_options(full)
        bus = make_bus("zmq", make_clock("wall"), publisher_id=args.publisher_id,
                       incarnation=args.incarnation, run_dir=args.run_dir, **options)
        try:
            return serve(args.name, cfg, bus, supervised=True)
        finally:
            bus.close()
    except RoboOrchError as err:
        print(f"robo-orch driver {args.name}: error: {err}", file=sys.stderr)
        return err.exit_status


def run_standalone(kind: str, port: str, baud: int, settings: list[str], *, echo: bool,
                   run_dir: str | None) -> int:
    """``robo-orch driver``: one driver alone, publishing on the bus and/or echoing JSON."""
    from robo_orch.config import parse_override

    table: dict[str, Any] = {"kind": kind, "port": port, "baud": baud}
    for text in settings:
        key, value = parse_override(text)
        table[key] = value
    try:  # its name (and default frame id) is the class's registered kind, not a path
        name = registry.load(registry.DRIVERS, kind).kind
    except (RegistryError, AttributeError):
        name = kind  # build_driver says what is wrong with it
    cfg = build_driver(name, table, source="command line", prefix="--set")
    if run_dir is None and echo:
        bus = make_bus("memory", make_clock("wall"), publisher_id=10)
    else:
        from robo_orch.rundir import default_run_dir

        bus = make_bus("zmq", make_clock("wall"), publisher_id=10,
                       run_dir=run_dir or default_run_dir())
    try:
        return serve(name, cfg, bus, echo=sys.stdout if echo else None)
    finally:
        bus.close()


__all__ = ["DeviceError", "DriverHost", "DriverSpec", "main", "open_port", "run_standalone",
           "serve"]

if __name__ == "__main__":
    sys.exit(main())
