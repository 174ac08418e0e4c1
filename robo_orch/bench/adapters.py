"""What the built-in input adapters cost beside the code they replaced, on the same inputs.

Every built-in input runs through a built-in adapter (:mod:`robo_orch.adapters`):
``scan`` through ``laser_points``, ``gps`` through ``gps_fix``, ``odom`` through
``wheel_speeds``, ``imu`` through ``imu_gyro``.  This section times, in one process
and in alternating rounds (so a load change on a shared machine hits both alike),
each adapter's path as the sense phase runs it (the message copied into the
adapter's arrays, one kernel call, the measurement's check and the EKF update) against
the path it replaced (the same steps as separate calls from Python: the rays copied
into two arrays, ``scan_to_points``, the copy into the world, ``mark_scan``,
``build_field``; for a fix, the antenna offset in Python; for odometry and the IMU,
the message's values unpacked and checked in Python, then the EKF update).
Both paths start from the same world and message, and must leave the same world
(checked: the section raises otherwise).  Reported per path: microseconds per
message, the median over rounds of the best of a few repeats, and the ratio
adapter / replaced (the median of the per-round ratios).

``python -m robo_orch.bench.adapters [--quick]`` runs this section alone; in
``robo-orch bench`` it is the ``adapters`` section.
"""

from __future__ import annotations

import argparse
import math
import statistics
import timeit
from typing import Any

import numpy as np

from robo_orch import clock, registry
from robo_orch.adapter import MessageBuffers
from robo_orch.bench.measure import write_json
from robo_orch.bus.counters import Received
from robo_orch.core import estimator, field, odoframe
from robo_orch.core import world as W
from robo_orch.messages import Header, message_type

RAYS = 360  #: the demo lidar's


def _world(config) -> W.World:
    """The demo's world arrays, with a pose and a time."""
    from robo_orch.runtime.controller import make_world

    world = make_world(config)
    s = world.state
    s[W.X], s[W.Y], s[W.YAW], s[W.T] = 1.0, -0.5, 0.3, 12.34
    return world


def _scan_message() -> tuple[np.ndarray, np.ndarray]:
    mtype = message_type("laser_scan")
    fixed = np.zeros((), dtype=mtype.dtype)
    fixed["range_min"], fixed["range_max"] = 0.05, 8.0
    var = np.zeros(RAYS, dtype=mtype.var_dtype)
    var["angle"] = np.linspace(-math.pi, math.pi, RAYS, endpoint=False)
    var["range"] = 2.0 + np.sin(3.0 * var["angle"])
    var["range"][::7] = np.inf  # rays without a return
    return fixed, var


def _scan_paths(config) -> tuple[Any, Any, W.World, W.World]:
    """The adapter's path and the replaced one, each on its own world."""
    fixed, var = _scan_message()
    new_world, old_world = _world(config), _world(config)
    cls = registry.load(registry.ADAPTERS, "laser_points")
    n = new_world.scan.shape[0]
    ny, nx = new_world.field.shape
    params = cls.Params(min_returns=1, max_points=n, field_ny=ny, field_nx=nx)
    buf = MessageBuffers(message_type(cls.message), n)
    packed, state = cls.pack_params(params), cls.new_state(params)
    idx = np.zeros(0, dtype=np.int64)
    kernel = cls.kernel

    def adapter() -> None:
        count = buf.load(fixed, var)
        kernel(new_world.arrays, idx, buf.fixed, buf.var, count, packed, state)

    angles, ranges = np.zeros(n), np.zeros(n)
    points = np.zeros_like(old_world.scan)
    scratch = field.alloc_field_scratch(old_world.field.shape)

    def replaced() -> None:
        s = old_world.state
        m = min(len(var), n)
        angles[:m] = var["angle"][:m]
        ranges[:m] = var["range"][:m]
        count = field.scan_to_points(angles, ranges, m, s[W.X], s[W.Y], s[W.YAW],
                                     float(fixed["range_min"]), float(fixed["range_max"]),
                                     points)
        old_world.scan[:count] = points[:count]
        s[W.SCAN_COUNT] = count
        odoframe.mark_scan(s)
        s[W.SCAN_T] = s[W.T]
        field.build_field(old_world.scan, count, s[W.X], s[W.Y], s, old_world.field, scratch)

    return adapter, replaced, new_world, old_world


def _gps_paths(config) -> tuple[Any, Any, list, list]:
    mtype = message_type("position_fix")
    fix = np.zeros((), dtype=mtype.dtype)
    fix["x"], fix["y"], fix["std"] = 4.0, -1.0, 0.8
    ax, ay = 0.3, -0.1
    x = np.array([1.0, -0.5, 0.3, 0.2, 0.0])
    world = W.World(field_shape=(8, 8), max_scan=8, max_path=4)
    cls = registry.load(registry.ADAPTERS, "gps_fix")
    params = cls.pack_params(cls.Params(antenna_x=ax, antenna_y=ay))
    state = cls.new_state(None)
    buf = MessageBuffers(mtype)
    idx = np.zeros(0, dtype=np.int64)
    kernel, write = cls.kernel, estimator.ekf_write_world
    new_out: list = [0.0, 0.0]
    old_out: list = [0.0, 0.0]

    def adapter() -> None:
        fx, fy, std = fix.item()
        f = buf.fixed
        f[0], f[1], f[2] = fx, fy, std
        write(x, world.state)
        kernel(world.arrays, idx, f, buf.var, 0, params, state)
        new_out[0], new_out[1] = float(state[0]), float(state[1])

    def replaced() -> None:
        fx, fy, std = fix.item()
        yaw = float(x[estimator.EKF_YAW])
        c, s = math.cos(yaw), math.sin(yaw)
        old_out[0] = fx - (c * ax - s * ay)
        old_out[1] = fy - (s * ax + c * ay)

    return adapter, replaced, new_out, old_out


def _received(name: str, **values) -> Received:
    """A message of type ``name`` as a subscription delivers it (stamped on arrival)."""
    mtype = message_type(name)
    fixed = np.zeros((), dtype=mtype.dtype)
    for key, value in values.items():
        fixed[key] = value
    return Received(Header(1, clock.SIM, mtype.type_id, 0, 1, 0, 1, 10**9, 0, ""), fixed,
                    None, 10**9)


def _estimator_paths(config, role: str, msg: Received, replaced_step: Any
                     ) -> tuple[Any, Any, tuple, tuple]:
    """The adapter path of estimator input ``role`` (as the sense phase runs it) and the
    replaced one (``replaced_step(checks, x, P)``), each on its own EKF state."""
    from robo_orch.kinematics import kinematics_for
    from robo_orch.runtime.input_checks import InputChecks, adapter_reasons
    from robo_orch.runtime.measured import measured_inputs

    kin = kinematics_for(config.robot)
    (inp,) = measured_inputs(config, [role], kin)
    checks = InputChecks(config, [role], clock.SIM, {role: adapter_reasons(inp.cls)})
    world = _world(config)
    xa, Pa, xb, Pb = np.zeros(5), np.eye(5) * 0.1, np.zeros(5), np.eye(5) * 0.1
    est = config.estimator
    v_std, w_std, gyro_std = est.odom_speed_std, est.odom_yaw_rate_std, est.imu_yaw_rate_std
    write, arrays, state = estimator.ekf_write_world, world.arrays, inp.state
    update = (estimator.ekf_update_velocity if inp.fuses == "velocity"
              else estimator.ekf_update_yaw_rate)

    def adapter() -> None:
        if inp.reads_world:
            write(xa, world.state)
        if inp.take(msg, arrays, checks):
            if update is estimator.ekf_update_velocity:
                update(xa, Pa, state[0], state[1], v_std, w_std)
            else:
                update(xa, Pa, state[0], gyro_std)

    def replaced() -> None:
        replaced_step(checks, xb, Pb)

    return adapter, replaced, (xa, Pa), (xb, Pb)


def _odom_paths(config) -> tuple[Any, Any, tuple, tuple]:
    from robo_orch.kinematics import kinematics_for

    msg = _received("wheel_odometry", v_left=0.42, v_right=0.58)
    est = config.estimator
    bound = est.wheel_speed_factor * config.robot.max_wheel_speed
    track, v_std, w_std = kinematics_for(config.robot).track, est.odom_speed_std, \
        est.odom_yaw_rate_std
    update = estimator.ekf_update_odometry

    def step(checks, x, P) -> None:
        vl, vr = msg.fixed.item()
        if (math.isfinite(vl) and math.isfinite(vr) and abs(vl) <= bound and abs(vr) <= bound
                and checks.adapted("odom", True, msg)):
            update(x, P, vl, vr, track, v_std, w_std)

    return _estimator_paths(config, "odom", msg, step)


def _imu_paths(config) -> tuple[Any, Any, tuple, tuple]:
    msg = _received("imu", gyro=[0.01, -0.02, 0.21],
                    orientation=[0.0, 0.0, math.sin(0.35), math.cos(0.35)])
    est = config.estimator
    max_rate, tol, std = est.max_gyro_rate, est.quaternion_tolerance, est.imu_yaw_rate_std
    update = estimator.ekf_update_yaw_rate

    def step(checks, x, P) -> None:
        gyro, _, orientation = msg.fixed.item()
        gz = float(gyro[2])
        q = orientation.tolist()
        if not math.isfinite(gz) or abs(gz) > max_rate:
            return
        if any(q):
            n2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]
            if not math.isfinite(n2) or abs(math.sqrt(n2) - 1.0) > tol:
                return
            math.atan2(2.0 * (q[3] * q[2] + q[0] * q[1]), 1.0 - 2.0 * (q[1] ** 2 + q[2] ** 2))
        if checks.adapted("imu", True, msg):
            update(x, P, gz, std)

    return _estimator_paths(config, "imu", msg, step)


def _same(new: Any, old: Any) -> bool:
    """Whether two paths left the same arrays (a world, EKF states, or numbers)."""
    if isinstance(new, W.World):
        new, old = new.arrays, old.arrays
    elif not isinstance(new, tuple):
        new, old = (np.array(new),), (np.array(old),)
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(new, old, strict=True))


def _time(fn: Any, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def bench_adapters(quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    """``robo-orch bench`` section ``adapters``: see the module docstring."""
    from robo_orch.config import load_config

    config = load_config(None)
    rounds = rounds or (5 if quick else 11)
    out: dict[str, Any] = {}
    for name, make, number in (("scan", _scan_paths, 50), ("gps", _gps_paths, 2000),
                               ("odom", _odom_paths, 2000), ("imu", _imu_paths, 2000)):
        adapter, replaced, new, old = make(config)
        adapter()
        replaced()
        if not _same(new, old):
            raise RuntimeError(f"adapters bench: the {name} adapter's results differ from the "
                               "replaced path's")
        rows = []
        for r in range(rounds):
            order = (("adapter", adapter), ("replaced", replaced))
            if r % 2:
                order = order[::-1]
            row = {label: _time(fn, number, 3) for label, fn in order}
            rows.append(row)
        out[name] = {"adapter_us": round(statistics.median(r["adapter"] for r in rows), 2),
                     "replaced_us": round(statistics.median(r["replaced"] for r in rows), 2),
                     "adapter_over_replaced": round(statistics.median(
                         r["adapter"] / r["replaced"] for r in rows), 3),
                     "rounds": rounds, "same_results": True}
    print(f"{'input':<6} {'adapter us':>11} {'replaced us':>12} {'ratio':>7}   "
          f"(medians of {rounds} alternating rounds; same results checked)")
    for name, row in out.items():
        print(f"{name:<6} {row['adapter_us']:>11.2f} {row['replaced_us']:>12.2f} "
              f"{row['adapter_over_replaced']:>7.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run this section alone."""
    ap = argparse.ArgumentParser(prog="python -m robo_orch.bench.adapters",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    out = bench_adapters(args.quick, args.rounds)
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
