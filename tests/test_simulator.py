"""The simulator: robot kinematics, actuator-side checks, collisions, sensors, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robo_orch.config.sections import LidarConfig, RobotConfig, SafetyConfig, SimConfig
from robo_orch.config.world import Circle, Wall, WorldConfig
from robo_orch.errors import ConfigError
from robo_orch.planar import body_to_wheels, wheels_to_body
from robo_orch.sim.robot import step_diff_drive
from robo_orch.sim.simulator import IMU, ODOM, SCAN, Simulator

DT = 0.02
QUIET = SimConfig(odom_noise_std=0.0, imu_yaw_rate_noise_std=0.0, imu_accel_noise_std=0.0,
                  lidar=LidarConfig(noise_std=0.0, range_min=0.0, range_max=20.0))


def make_sim(world=None, robot=None, sim=QUIET, safety=None, start=(0.0, 0.0, 0.0)):
    return Simulator(world or WorldConfig(), robot or RobotConfig(motor_time_constant=0.0),
                     sim, safety or SafetyConfig(), start)


def drive(s: Simulator, v: float, w: float, seconds: float, dt: float = DT) -> list[int]:
    """Send (v, w) every step, like the loop does, and step; return the flags."""
    flags = []
    for _ in range(round(seconds / dt)):
        s.set_command(v, w)
        flags.append(s.step(dt))
    return flags


# --- robot kinematics ------------------------------------------------------------------------

def euler_reference(state, cl, cr, dt, tau, base, substeps=20000):
    """Tiny explicit Euler steps of the same ODEs (wheel lag, unicycle)."""
    x, y, yaw, vl, vr = state
    h = dt / substeps
    for _ in range(substeps):
        v, w = 0.5 * (vl + vr), (vr - vl) / base
        x += h * v * math.cos(yaw)
        y += h * v * math.sin(yaw)
        yaw += h * w
        vl += h * (cl - vl) / tau
        vr += h * (cr - vr) / tau
    return x, y, math.atan2(math.sin(yaw), math.cos(yaw)), vl, vr


@pytest.mark.parametrize("start, cmd", [((0.0, 0.0, 0.0, 0.0, 0.0), (0.5, 0.7)),
                                        ((1.0, -2.0, 3.0, 0.4, -0.2), (-0.3, 0.6)),
                                        ((0.0, 0.0, -3.1, 0.3, 0.3), (0.3, 0.3))])
def test_step_diff_drive_matches_fine_integration(start, cmd):
    state = np.array(start, dtype=np.float64)
    step_diff_drive(state, cmd[0], cmd[1], 0.05, 0.08, 0.34, 1.2)
    ref = euler_reference(start, cmd[0], cmd[1], 0.05, 0.08, 0.34)
    np.testing.assert_allclose(state, ref, atol=2e-5)


def test_wheel_body_conversions_round_trip():
    vl, vr = body_to_wheels(0.5, 1.5, 0.34)
    assert (vl, vr) == pytest.approx((0.5 - 0.255, 0.5 + 0.255))
    assert wheels_to_body(vl, vr, 0.34) == pytest.approx((0.5, 1.5))


def test_straight_driving_covers_v_t():
    s = make_sim()
    drive(s, 0.5, 0.0, 2.0)
    assert s.pose == pytest.approx((1.0, 0.0, 0.0), abs=1e-12)
    assert s.distance == pytest.approx(1.0, rel=1e-12)
    assert s.t == pytest.approx(2.0) and s.v == pytest.approx(0.5)


def test_constant_twist_drives_a_circle_of_radius_v_over_w():
    v, w = 0.4, 0.8  # radius 0.5 around (0, 0.5)
    s = make_sim(start=(0.0, 0.0, 0.0))
    period = 2 * math.pi / w
    n = 200
    dt = period / n
    for k in range(n):
        s.set_command(v, w)
        s.step(dt)
        x, y, yaw = s.pose
        assert math.hypot(x, y - 0.5) == pytest.approx(0.5, abs=1e-9)
        expected_yaw = math.atan2(math.sin(w * s.t), math.cos(w * s.t))
        assert math.cos(yaw - expected_yaw) == pytest.approx(1.0, abs=1e-12), k
    # dt is rounded to whole ns, so the lap closes to within v * n * 0.5 ns
    assert s.pose[:2] == pytest.approx((0.0, 0.0), abs=1e-6)
    assert s.distance == pytest.approx(v * period, rel=1e-4)


def test_motor_lag_reaches_63_percent_at_tau():
    tau = 0.1
    s = make_sim(robot=RobotConfig(motor_time_constant=tau))
    drive(s, 0.5, 0.0, tau, dt=0.001)
    assert s.v == pytest.approx(0.5 * (1 - math.exp(-1)), rel=1e-9)
    drive(s, 0.5, 0.0, 10 * tau)
    assert s.v == pytest.approx(0.5, rel=1e-4)


# --- actuator side ----------------------------------------------------------------------------

def test_commands_are_clamped_to_safety_limits():
    safety = SafetyConfig(max_speed=0.8, max_reverse=0.2, max_yaw_rate=2.0)
    s = make_sim(safety=safety, robot=RobotConfig(motor_time_constant=0.0, max_wheel_speed=5.0))
    drive(s, 5.0, 0.0, DT)
    assert s.v == pytest.approx(0.8)
    drive(s, -5.0, 0.0, DT)
    assert s.v == pytest.approx(-0.2)
    drive(s, 0.0, -9.0, DT)
    assert s.w == pytest.approx(-2.0)


def test_wheel_speed_limit_scales_both_wheels_keeping_curvature():
    s = make_sim(robot=RobotConfig(motor_time_constant=0.0, max_wheel_speed=0.6,
                                   wheel_base=0.34))
    drive(s, 0.5, 2.0, DT)  # wheels would be 0.16 and 0.84
    left, right = s.wheel_command
    assert max(abs(left), abs(right)) == pytest.approx(0.6)
    assert s.w / s.v == pytest.approx(2.0 / 0.5)


def test_non_finite_command_stops_and_is_counted():
    s = make_sim()
    drive(s, 0.5, 0.0, 0.2)
    drive(s, math.nan, 0.0, DT)
    assert s.v == 0.0 and s.rejected_commands == 1


def test_deadman_stops_the_robot_and_counts_activations():
    s = make_sim(safety=SafetyConfig(deadman_s=0.5))
    for _ in range(50):  # 1 s with no command at all: not an activation
        s.step(DT)
    assert s.deadman_stops == 0
    s.set_command(0.5, 0.0)  # one command, then silence
    for _ in range(round(0.5 / DT)):
        s.step(DT)
        assert s.v == pytest.approx(0.5)
    s.step(DT)
    s.step(DT)
    assert s.v == 0.0 and s.deadman_stops == 1
    x_stopped = s.pose[0]
    for _ in range(50):
        s.step(DT)
    assert s.pose[0] == x_stopped and s.deadman_stops == 1
    drive(s, 0.5, 0.0, 0.2)  # fresh commands: moving again
    assert s.v == pytest.approx(0.5)
    for _ in range(40):
        s.step(DT)
    assert s.deadman_stops == 2


def test_estop_is_latched_until_released_and_a_new_command_arrives():
    s = make_sim()
    drive(s, 0.5, 0.0, 0.2)
    s.set_estop(True)
    s.step(DT)
    assert s.v == 0.0
    drive(s, 0.5, 0.3, 0.5)  # commands keep arriving: still stopped
    assert s.v == 0.0 and s.w == 0.0
    s.set_estop(False)
    s.step(DT)
    assert s.v == 0.0  # the command from before the e-stop is gone
    drive(s, 0.5, 0.0, DT)
    assert s.v == pytest.approx(0.5)


# --- collisions ------------------------------------------------------------------------------

def test_collision_with_wall_is_detected_once_and_not_passed():
    world = WorldConfig(walls=(Wall(start=(2.0, -5.0), end=(2.0, 5.0)),))
    s = make_sim(world=world)
    for _ in range(round(8.0 / DT)):
        s.set_command(0.5, 0.0)
        s.step(DT)
        assert s.pose[0] < 2.0 - 0.2 + 1e-12
    assert s.collisions == 1 and s.in_collision
    assert s.v == 0.0
    assert -0.5 * DT - 1e-9 <= s.min_clearance < 0.0
    assert s.distance == pytest.approx(s.pose[0])
    drive(s, -0.2, 0.0, 0.5)  # backing away ends the contact
    assert not s.in_collision
    drive(s, 0.5, 0.0, 2.0)
    assert s.collisions == 2


def test_collision_with_circle_obstacle():
    world = WorldConfig(circles=(Circle(center=(1.0, 0.0), radius=0.3),))
    s = make_sim(world=world)
    drive(s, 0.4, 0.0, 4.0)
    assert s.collisions == 1
    assert math.hypot(s.pose[0] - 1.0, s.pose[1]) >= 0.3 + 0.2


def test_validate_start_refuses_overlap():
    world = WorldConfig(bounds=(-5.0, -5.0, 5.0, 5.0),
                        circles=(Circle(center=(1.0, 0.0), radius=0.5),))
    assert make_sim(world=world).validate_start() == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="mission.start"):
        make_sim(world=world, start=(0.75, 0.0, 0.0)).validate_start("demo.toml")
    with pytest.raises(ConfigError):
        make_sim(world=world, start=(4.9, 0.0, 0.0)).validate_start()


# --- sensors ------------------------------------------------------------------------------------

def test_sensor_schedule_counts_over_one_second():
    s = make_sim()
    flags = drive(s, 0.2, 0.1, 1.0)
    assert s.scan_seq == 10 and s.odom_seq == 50 and s.imu_seq == 50
    scan_steps = [k for k, f in enumerate(flags) if f & SCAN]
    assert scan_steps == list(range(4, 50, 5))  # every 5th step exactly
    assert all(f & ODOM and f & IMU for f in flags)


def test_schedule_does_not_drift_at_rates_that_do_not_divide_dt():
    s = make_sim(sim=SimConfig(odom_rate_hz=30.0, imu_rate_hz=7.0))
    drive(s, 0.0, 0.0, 3.0, dt=0.01)
    assert s.odom_seq == 90 and s.imu_seq == 21
    assert s.odom_t_ns == 3_000_000_000


def box_range(x, y, a, half=5.0):
    """Distance from (x, y) inside the box [-half, half]^2 to its wall along angle a."""
    c, s = math.cos(a), math.sin(a)
    ts = [(half - x) / c if c > 0 else (-half - x) / c if c < 0 else math.inf,
          (half - y) / s if s > 0 else (-half - y) / s if s < 0 else math.inf]
    return min(ts)


def test_scan_without_noise_matches_geometry():
    s = make_sim(world=WorldConfig(bounds=(-5.0, -5.0, 5.0, 5.0)), start=(1.0, 0.5, 0.3))
    assert s.scan_angles.shape == (360,) and s.scan_count == 360
    assert s.scan_angles[0] == -math.pi and s.scan_angles[-1] < math.pi
    expected = [box_range(1.0, 0.5, 0.3 + a) for a in s.scan_angles]
    # reset already took a scan at time 0
    assert s.scan_t_ns == 0 and s.scan_seq == 0
    np.testing.assert_allclose(s.scan_ranges, expected, rtol=1e-12)
    s.scan_ranges[:] = -1.0
    while not s.step(DT) & SCAN:
        pass
    np.testing.assert_allclose(s.scan_ranges, expected, rtol=1e-12)


def test_scan_out_of_range_reads_zero():
    lidar = LidarConfig(noise_std=0.0, range_min=0.5, range_max=3.0, rays=8)
    world = WorldConfig(bounds=(-5.0, -5.0, 5.0, 5.0), circles=(Circle(center=(0.6, 0.0),
                                                                       radius=0.05),))
    s = make_sim(world=world, sim=SimConfig(lidar=lidar), start=(-4.0, 0.0, 0.0))
    drive(s, 0.0, 0.0, 0.1)
    # ray 0 points backwards at 1 m (kept), ray 4 forwards at > 3 m: no return
    assert s.scan_ranges[0] == pytest.approx(1.0) and s.scan_ranges[4] == 0.0
    s2 = make_sim(world=world, sim=SimConfig(lidar=lidar), start=(0.3, 0.0, 0.0))
    drive(s2, 0.0, 0.0, 0.1)
    assert s2.scan_ranges[4] == 0.0  # the circle at 0.25 m is below range_min


def test_scan_noise_has_the_configured_spread():
    lidar = LidarConfig(noise_std=0.02, range_min=0.0, range_max=20.0, rays=2000)
    s = make_sim(world=WorldConfig(bounds=(-5.0, -5.0, 5.0, 5.0)),
                 sim=SimConfig(lidar=lidar), start=(0.0, 0.0, 0.0))
    drive(s, 0.0, 0.0, 0.1)
    err = s.scan_ranges - [box_range(0.0, 0.0, a) for a in s.scan_angles]
    assert abs(err.mean()) < 0.003 and 0.017 < err.std() < 0.023


def test_odometry_and_imu_without_noise_read_the_truth():
    sim = SimConfig(odom_noise_std=0.0, imu_yaw_rate_noise_std=0.0, imu_accel_noise_std=0.0,
                    imu_yaw_rate_bias=0.05)
    s = make_sim(robot=RobotConfig(motor_time_constant=0.1, wheel_base=0.4), sim=sim)
    drive(s, 0.4, 1.0, DT)
    assert tuple(s.odom) == pytest.approx(tuple(s.state[3:5]))
    assert s.imu_accel[0] == pytest.approx(s.v / DT)  # from rest in one step
    drive(s, 0.4, 1.0, 3.0)
    assert tuple(s.odom) == pytest.approx((0.2, 0.6), abs=1e-6)
    assert tuple(s.imu_gyro) == pytest.approx((0.0, 0.0, 1.05), abs=1e-6)
    assert tuple(s.imu_accel) == pytest.approx((0.0, 0.4, 9.81), abs=1e-6)


# --- determinism ---------------------------------------------------------------------------

def record(s: Simulator, seed: int) -> np.ndarray:
    s.reset(seed)
    rows = []
    for k in range(100):
        s.set_command(0.5, 0.8 * math.sin(0.05 * k))
        s.step(DT)
        rows.append(np.concatenate([s.state, s.odom, s.imu_gyro, s.imu_accel, s.scan_ranges]))
    return np.array(rows)


def test_same_seed_gives_identical_outputs_different_seed_does_not():
    world = WorldConfig(bounds=(-5.0, -5.0, 5.0, 5.0), circles=(Circle(center=(2.0, 1.0),
                                                                       radius=0.4),))
    a = make_sim(world=world, sim=SimConfig(), robot=RobotConfig())
    b = make_sim(world=world, sim=SimConfig(), robot=RobotConfig())
    first = record(a, 7)
    assert np.array_equal(first, record(b, 7))
    assert np.array_equal(first, record(a, 7))  # reset really starts over
    other = record(b, 8)
    assert np.array_equal(first[:, :5], other[:, :5])  # same physics
    assert not np.array_equal(first[:, 5:], other[:, 5:])  # different noise
