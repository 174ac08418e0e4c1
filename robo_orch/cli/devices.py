"""Bring-up commands: ``driver``, ``ports`` and ``teleop``.

These talk to a robot's bus from any terminal.  Every process of one robot
shares the bus's run directory (``bus.run_dir`` in config, default
``$XDG_RUNTIME_DIR/robo_orch-<uid>``, see :mod:`robo_orch.rundir`); ``--run-dir``
or ``--config`` picks it.  ``estop`` and ``status`` talk to the running loop
instead (:mod:`robo_orch.cli.control`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the bring-up subcommands ``driver``, ``ports`` and ``teleop``."""
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
    driver.set_defaults(func=run_driver)

    ports = sub.add_parser("ports", help="list the serial ports present, with stable by-id "
                           "names")
    ports.set_defaults(func=run_ports)

    teleop = sub.add_parser("teleop", help="drive the robot from the keyboard (bring-up: the "
                            "control loop must not be running)")
    _bus_args(teleop)
    teleop.add_argument("--max-speed", type=float, default=0.3, help="m/s (default 0.3)")
    teleop.add_argument("--max-yaw-rate", type=float, default=1.0, help="rad/s (default 1.0)")
    teleop.set_defaults(func=run_teleop)


def _bus_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the robot's config (for bus.run_dir and topics)")
    parser.add_argument("--run-dir", help="the robot's bus directory")


def run_driver(args: argparse.Namespace) -> int:
    """Run ``driver``: one hardware driver alone, on its port."""
    from robo_orch.hosting.driver_host import run_standalone

    return run_standalone(args.kind, args.port, args.baud, args.set, echo=args.echo,
                          run_dir=args.run_dir)


def run_ports(args: argparse.Namespace) -> int:
    """Run ``ports``."""
    return list_ports(sys.stdout)


def run_teleop(args: argparse.Namespace) -> int:
    """Run ``teleop`` on the bus the arguments name."""
    from robo_orch.cli.teleop import teleop

    run_dir, topics = _bus_place(args)
    return teleop(run_dir, topics, max_speed=args.max_speed, max_yaw_rate=args.max_yaw_rate)


def _bus_place(args: argparse.Namespace):
    from robo_orch.config import TopicsConfig, load_config
    from robo_orch.rundir import default_run_dir

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
