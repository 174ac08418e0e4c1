"""The simulator's serial devices: one emulator on one pseudo-terminal per configured driver.

With ``--devices serial`` the simulator stops publishing the sensor topics that
drivers cover and instead feeds each driver's emulator from its state; the real
driver processes open the pseudo-terminals and publish as on a robot.  The motor
bridge emulator's wheel command drives the simulated wheels (the simulator's own
limits still apply, as a motor's physics would).

Faults are injected per driver with ``[sim.faults.NAME]`` tables (keys of
:class:`robo_orch.sim.emulators.base.Faults`), e.g. ``--set sim.faults.imu.garbage_rate=0.05``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from robo_orch.config import Config
from robo_orch.errors import ConfigError
from robo_orch.planar import wheels_to_body, wrap_to_pi
from robo_orch.sim.emulators.base import Faults, PtyLink
from robo_orch.sim.robot import V_LEFT, V_RIGHT
from robo_orch.sim.simulator import SCAN, Simulator

#: driver kind -> the input role its emulator takes over from the simulator's topics
COVERS = {"motor_bridge": "odom", "witmotion_imu": "imu", "rplidar": "scan", "nmea_gps": "gps"}


def _gps(cfg: Any, config: Config, faults: Faults, seed: int) -> Any:
    from robo_orch.sim.emulators.nmea import NmeaGpsEmulator

    p = cfg.params
    if not (math.isfinite(p.origin_lat) and math.isfinite(p.origin_lon)):
        # the driver would take its first fix as the origin, the simulated world is
        # fixed to one: they would disagree by the start position
        raise ConfigError(config.source, f"drivers.{cfg.name}.origin_lat",
                          "simulated GPS needs origin_lat and origin_lon: the lat/lon of "
                          "the world's (0, 0)")
    return NmeaGpsEmulator(p.origin_lat, p.origin_lon, faults=faults, seed=seed)


def _imu(cfg: Any, config: Config, faults: Faults, seed: int) -> Any:
    from robo_orch.sim.emulators.witmotion import WitmotionImuEmulator

    return WitmotionImuEmulator(rate_hz=config.sim.imu_rate_hz, faults=faults, seed=seed)


def _lidar(cfg: Any, config: Config, faults: Faults, seed: int) -> Any:
    from robo_orch.sim.emulators.rplidar import RplidarEmulator

    return RplidarEmulator(points_per_rev=config.sim.lidar.rays, faults=faults, seed=seed)


def _motor(cfg: Any, config: Config, faults: Faults, seed: int) -> Any:
    from robo_orch.sim.emulators.motor_bridge import MotorBridgeEmulator

    p = cfg.params
    return MotorBridgeEmulator(ticks_per_rev=p.ticks_per_rev, wheel_radius=p.wheel_radius,
                               encoder_rate_hz=config.sim.odom_rate_hz, faults=faults, seed=seed)


_FACTORIES: dict[str, Callable[[Any, Config, Faults, int], Any]] = {
    "nmea_gps": _gps, "witmotion_imu": _imu, "rplidar": _lidar, "motor_bridge": _motor}


class Device:
    """One emulated device: its driver's name and kind, mounting pose, emulator and pty."""

    def __init__(self, name: str, kind: str, mount: tuple[float, ...], emulator: Any) -> None:
        self.name = name
        self.kind = kind
        self.mount = (float(mount[0]), float(mount[1]), float(mount[2]))
        self.emulator = emulator
        self.link = PtyLink()


class SerialDevices:
    """Every emulated device of a run, stepped with the simulator."""

    def __init__(self, config: Config, sim: Simulator, seed: int) -> None:
        self.sim = sim
        if not sim.kinematics.serial_devices:
            raise ConfigError(config.source, "robot.kinematics",
                              f"--devices serial emulates a (v, w) motor bridge; the "
                              f"'{config.robot.kinematics}' base has no device emulator yet "
                              "(use the simulated sensors: no --devices)")
        #: the track the motor bridge's wheel speeds are converted with (skid steer: the
        #: effective one, which the motor_bridge driver's wheel_base must then be too)
        self.wheel_base = float(sim.wheel_base)
        if not config.drivers:
            raise ConfigError(config.source, "drivers", "--devices serial needs [drivers.NAME] "
                              "tables (see config/robot.toml)")
        self.devices: list[Device] = []
        self.motor: Device | None = None
        for i, (name, cfg) in enumerate(config.drivers.items()):
            kind = cfg.spec.kind
            factory = _FACTORIES.get(kind)
            if factory is None:
                raise ConfigError(config.source, f"drivers.{name}.kind",
                                  f"no device emulator for '{kind}' (emulated: "
                                  f"{', '.join(sorted(_FACTORIES))})")
            faults = config.sim.faults.get(name) or Faults()
            device = Device(name, kind, cfg.spec.mount,
                            factory(cfg, config, faults, seed * 101 + i))
            self.devices.append(device)
            if kind == "motor_bridge":
                self.motor = device
        #: input roles now produced by drivers instead of the simulator's own topics
        self.covers = {COVERS[d.kind] for d in self.devices}

    def paths(self) -> dict[str, str]:
        """Driver name -> the pseudo-terminal its driver must open."""
        return {d.name: d.link.path for d in self.devices}

    def receive(self) -> None:
        """Hand bytes the drivers wrote to their emulators; apply the motor command."""
        sim = self.sim
        for d in self.devices:
            data = d.link.read()
            if data:
                d.emulator.host_bytes(data)
        if self.motor is not None:
            left, right = self.motor.emulator.wheel_command(sim.t)
            sim.set_command(*wheels_to_body(left, right, self.wheel_base), sim.t)

    def publish(self, due: int) -> None:
        """Feed every emulator the simulator's state and write what it produced."""
        sim = self.sim
        t = sim.t
        x, y, yaw = sim.pose
        for d in self.devices:
            emu = d.emulator
            if d.kind == "motor_bridge":
                emu.update(t, float(sim.state[V_LEFT]), float(sim.state[V_RIGHT]))
            elif d.kind == "witmotion_imu":
                # a sensor mounted at yaw m measures the robot's heading plus m; a
                # rotation about z leaves the yaw rate alone
                mx, my, myaw = d.mount
                c, s_ = math.cos(-myaw), math.sin(-myaw)
                g, a = sim.imu_gyro, sim.imu_accel
                gyro = (c * g[0] - s_ * g[1], s_ * g[0] + c * g[1], g[2])
                accel = (c * a[0] - s_ * a[1], s_ * a[0] + c * a[1], a[2])
                emu.update(t, gyro, accel, 0.0, 0.0, wrap_to_pi(yaw + myaw))
            elif d.kind == "rplidar":
                if due & SCAN:
                    angles, ranges = _to_sensor_frame(sim, d.mount)
                    emu.update(t, angles, ranges)
            elif d.kind == "nmea_gps":
                # the antenna, not the robot's centre, is where the fix is
                mx, my, _ = d.mount
                c, s_ = math.cos(yaw), math.sin(yaw)
                emu.update(t, x + c * mx - s_ * my, y + s_ * mx + c * my, sim.v, yaw)
            d.link.write(emu.drain())

    def close(self) -> None:
        """Close every pseudo-terminal (the drivers see their devices vanish)."""
        for d in self.devices:
            d.link.close()


def _to_sensor_frame(sim: Simulator, mount: tuple[float, float, float]):
    """The simulated scan (rays from the robot's centre) as a lidar at ``mount`` sees it.

    Returns angles (counter-clockwise, rad, sensor frame) and ranges (m, inf for
    no return).  The points are the same; only their polar coordinates change.
    """
    n = sim.scan_count
    r = sim.scan_ranges[:n]
    a = sim.scan_angles[:n]
    hit = r < sim.lidar_range_max
    mx, my, myaw = mount
    px = r * np.cos(a) - mx
    py = r * np.sin(a) - my
    angles = np.arctan2(py, px) - myaw
    ranges = np.where(hit, np.hypot(px, py), np.inf)
    return np.arctan2(np.sin(angles), np.cos(angles)), ranges
