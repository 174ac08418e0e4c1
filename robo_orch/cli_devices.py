"""Bring-up commands: ``driver``, ``ports``, ``estop`` and ``teleop``.

These talk to a robot's bus from any terminal.  Every process of one robot
shares the bus's run directory (``bus.run_dir`` in config, default
``$XDG_RUNTIME_DIR/robo_orch-<uid>``); ``--run-dir`` or ``--config`` picks it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

from robo_orch.errors import UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the bring-up subcommands."""
    driver = sub.add_parser("driver", help="run one hardware driver alone (bring-up)")
    driver.add_argument("kind", help="driver kind, e.g. nmea_gps, witmotion_imu, rplidar, "
                        "motor_bridge")
    driver.add_argument("--port", required=True, help="device path or URL (loop://, "
                        "socket://host:port, /dev/serial/by-id/...)")
    driver.add_argument("--baud", type=int, default=0, help="baud rate (default: the "
                        "driver's)")
    driver.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a driver setting (repeatable), e.g. --set origin_lat=48.1")
    driver.add_argument("--echo", action="store_true",
                        help="print every decoded message as one JSON line on stdout")
    driver.add_argument("--run-dir", help="also publish on this robot bus")

    sub.add_parser("ports", help="list the serial ports present, with stable by-id names")

    estop = sub.add_parser("estop", help="engage (or --reset) the latched e-stop of a "
                           "running robot")
    estop.add_argument("--reset", action="store_true", help="release the e-stop")
    _bus_args(estop)
    estop.add_argument("--wait", type=float, default=2.0, metavar="S",
                       help="how long to wait for subscribers (default 2 s)")

    teleop = sub.add_parser("teleop", help="drive the robot from the keyboard (bring-up: the "
                            "control loop must not be running)")
    _bus_args(teleop)
    teleop.add_argument("--max-speed", type=float, default=0.3, help="m/s (default 0.3)")
    teleop.add_argument("--max-yaw-rate", type=float, default=1.0, help="rad/s (default 1.0)")


def _bus_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the robot's config (for bus.run_dir and topics)")
    parser.add_argument("--run-dir", help="the robot's bus directory")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a bring-up subcommand; None if ``args.command`` is not one of them."""
    if args.command == "driver":
        from robo_orch.driver_host import run_standalone

        return run_standalone(args.kind, args.port, args.baud, args.set, echo=args.echo,
                              run_dir=args.run_dir)
    if args.command == "ports":
        return list_ports(sys.stdout)
    if args.command == "estop":
        return send_estop(*_bus_place(args), engage=not args.reset, wait_s=args.wait)
    if args.command == "teleop":
        from robo_orch.teleop import teleop

        run_dir, topics = _bus_place(args)
        return teleop(run_dir, topics, max_speed=args.max_speed,
                      max_yaw_rate=args.max_yaw_rate)
    return None


def _bus_place(args: argparse.Namespace):
    from robo_orch.config import TopicsConfig, load_config
    from robo_orch.hardware import default_run_dir

    if args.config:
        config = load_config(args.config, with_behaviors=False)
        return args.run_dir or config.bus.run_dir or default_run_dir(), config.topics
    return args.run_dir or default_run_dir(), TopicsConfig()


# --- ports -------------------------------------------------------------------------


def list_ports(out) -> int:
    """Print every serial port with its stable ``/dev/serial/by-id`` name, if any."""
    from serial.tools import list_ports as lp

    by_id: dict[str, str] = {}
    folder = Path("/dev/serial/by-id")
    if folder.is_dir():
        for link in folder.iterdir():
            by_id[os.path.realpath(link)] = str(link)
    ports = sorted(lp.comports(), key=lambda p: p.device)
    if not ports:
        print("no serial ports found (is the adapter plugged in? `dmesg | tail` shows new "
              "USB devices; your user may need to be in the 'dialout' group)", file=out)
        return 0
    for p in ports:
        stable = by_id.get(os.path.realpath(p.device), "")
        print(f"{p.device}\t{stable or '(no by-id name)'}\t{p.description}\t{p.hwid}", file=out)
    print("use the /dev/serial/by-id/... name in config: it survives re-plugging", file=out)
    return 0


# --- e-stop ------------------------------------------------------------------------


def endpoint_in_use(path: str) -> bool:
    """Whether a live process has bound the ipc socket at ``path`` (not just a stale file)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        return False
    finally:
        s.close()
    return True


def send_estop(run_dir: str, topics, *, engage: bool, wait_s: float = 2.0) -> int:
    """Publish one e-stop request and report how many subscribers it reached.

    Uses an XPUB socket on the e-stop topic's endpoint, so it can see the
    subscriptions arrive (the loop, the motor driver, the simulator) before it
    sends: a plain publisher could send before anyone is connected.
    """
    import zmq

    from robo_orch.clock import WallClock
    from robo_orch.messages import encode, message_type, new_fixed

    topic = topics.estop
    path = os.path.join(run_dir, topic.replace("/", ".") + ".sock")
    if not os.path.isdir(run_dir):
        raise UsageError(f"no robot bus in {run_dir} (is the robot running? pass --run-dir "
                         "or --config)")
    if endpoint_in_use(path):
        raise UsageError(f"another process publishes {topic} ({path}); use its e-stop "
                         "(teleop: the space bar)")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 1000)
    try:
        sock.bind("ipc://" + path)
        subscribers = 0
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if sock.poll(50, zmq.POLLIN):
                event = sock.recv()
                if event[:1] == b"\x01":
                    subscribers += 1
                    deadline = min(deadline, time.monotonic() + 0.3)  # others join together
        mtype = message_type("estop")
        msg = new_fixed(mtype)
        msg["engage"] = 1 if engage else 0
        frames = encode(mtype, topic, msg, seq=1, stamp_ns=WallClock().now_ns(),
                        publisher_id=0xE5, incarnation=int(time.time()) & 0xFFFF)
        sock.send_multipart(frames)
        time.sleep(0.05)
    finally:
        sock.close()
        ctx.term()
        if os.path.exists(path) and not endpoint_in_use(path):
            os.unlink(path)
    word = "engaged" if engage else "reset"
    if subscribers == 0:
        print(f"robo-orch estop: nobody subscribes to {topic} in {run_dir}: e-stop NOT "
              f"delivered (is the robot running with this run dir?)", file=sys.stderr)
        return 3
    print(f"robo-orch estop: e-stop {word}, delivered to {subscribers} subscriber(s)")
    return 0
