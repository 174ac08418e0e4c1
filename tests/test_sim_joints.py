"""sim.joints: the velocity lag, the position loop, hard stops, bad commands, encoder noise,
and the joints safety kernel driving the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robo_orch.core import safety_joints as sj
from robo_orch.sim.joints import H_LEN, JointsModel, step_joints

HARD = np.array([[-3.0, 3.0, 4.0], [-0.7, 1.4, 3.0]])
DT = 0.02


def _cmd(*values):
    return np.array(values, dtype=np.float64)


def test_velocity_mode_follows_the_command_with_a_first_order_lag():
    model = JointsModel(HARD, tau=0.05, start=[0.0, 0.0])
    for _ in range(10):  # 0.2 s = 4 tau
        model.step(_cmd(0.0, 0.0), _cmd(1.0, -0.5), 1, DT)
    t, tau = 0.2, 0.05
    lag = 1.0 - math.exp(-t / tau)
    np.testing.assert_allclose(model.vel, [lag, -0.5 * lag], rtol=1e-12)
    # position: u t - u tau (1 - exp(-t / tau)), exact
    np.testing.assert_allclose(model.pos, [t - tau * lag, -0.5 * (t - tau * lag)], rtol=1e-12)


def test_without_lag_the_velocity_is_the_command():
    model = JointsModel(HARD, tau=0.0, start=[0.0, 0.0])
    model.step(_cmd(0.0, 0.0), _cmd(1.0, 9.0), 1, DT)
    np.testing.assert_allclose(model.vel, [1.0, 3.0])  # the device's speed limit
    np.testing.assert_allclose(model.pos, [DT, 3.0 * DT])


def test_position_mode_settles_on_the_setpoint_without_overshoot():
    model = JointsModel(HARD, tau=0.02, gain=10.0, start=[0.0, 0.0])
    trace = []
    for _ in range(200):  # 4 s, 8 position-loop time constants
        model.step(_cmd(1.0, -0.5), _cmd(0.0, 0.0), 0, DT)
        trace.append(model.pos.copy())
    trace = np.array(trace)
    np.testing.assert_allclose(trace[-1], [1.0, -0.5], atol=1e-3)
    assert np.all(np.diff(trace[:, 0]) >= -1e-12) and np.all(trace[:, 0] <= 1.0 + 1e-9)
    assert np.all(np.diff(trace[:, 1]) <= 1e-12) and np.all(trace[:, 1] >= -0.5 - 1e-9)


def test_hard_stops_are_walls():
    model = JointsModel(HARD, tau=0.01, start=[2.9, -0.6])
    for _ in range(50):
        model.step(_cmd(0.0, 0.0), _cmd(4.0, -3.0), 1, DT)
        assert -3.0 <= model.pos[0] <= 3.0 and -0.7 <= model.pos[1] <= 1.4
    np.testing.assert_array_equal(model.pos, [3.0, -0.7])
    np.testing.assert_array_equal(model.vel, [0.0, 0.0])
    model.step(_cmd(0.0, 0.0), _cmd(-1.0, 1.0), 1, DT)  # it leaves the wall at once
    assert model.pos[0] < 3.0 and model.pos[1] > -0.7


def test_a_long_step_stays_stable():
    """A 0.5 s step with a stiff position loop is split into sub-steps."""
    model = JointsModel(HARD, tau=0.02, gain=50.0, start=[0.0, 0.0])
    for _ in range(20):
        model.step(_cmd(2.0, 1.0), _cmd(0.0, 0.0), 0, 0.5)
        assert np.all(np.isfinite(model.pos)) and np.all(np.abs(model.pos) <= 3.0)
    np.testing.assert_allclose(model.pos, [2.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_command_stops_the_joint(bad):
    model = JointsModel(HARD, tau=0.0, start=[0.5, 0.5])
    model.step(_cmd(bad, 0.0), _cmd(0.0, bad), 0, DT)
    model.step(_cmd(0.0, 0.0), _cmd(bad, bad), 1, DT)
    np.testing.assert_array_equal(model.pos, [0.5, 0.5])
    np.testing.assert_array_equal(model.vel, [0.0, 0.0])


def test_encoder_noise_is_seeded_and_has_its_spread():
    def readings(seed):
        model = JointsModel(HARD, noise_std=0.01, seed=seed, start=[0.25, 0.5])
        out_p, out_v = np.zeros(2), np.zeros(2)
        got = []
        for _ in range(2000):
            model.measure(out_p, out_v)
            got.append(out_p.copy())
        return np.array(got)

    a, b, c = readings(3), readings(3), readings(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.std(a[:, 0]) == pytest.approx(0.01, rel=0.1)
    assert np.mean(a[:, 1]) == pytest.approx(0.5, abs=1e-3)
    quiet = JointsModel(HARD, start=[0.25, 0.5])
    out_p, out_v = np.zeros(2), np.zeros(2)
    quiet.measure(out_p, out_v)
    np.testing.assert_array_equal(out_p, [0.25, 0.5])


def test_bad_hard_array_is_refused():
    with pytest.raises(ValueError, match=f"shape \\(n, {H_LEN}\\)"):
        JointsModel(np.zeros((2, 2)))


def test_step_ignores_a_bad_period():
    pos, vel = np.array([0.1, 0.2]), np.zeros(2)
    step_joints(pos, vel, _cmd(1.0, 1.0), _cmd(1.0, 1.0), 1, HARD, np.nan, 0.02, 10.0)
    np.testing.assert_array_equal(pos, [0.1, 0.2])


@pytest.mark.parametrize("mode", [sj.MODE_POSITION, sj.MODE_VELOCITY])
def test_the_kernel_drives_the_model_within_its_limits(mode):
    """The safety kernel's commands, followed by a lagging device: within the limits up to
    the lag allowance the kernel's docstring names (max velocity times tau)."""
    limits = np.array([[-2.6, 2.6, 2.0, 8.0], [-0.5, 1.2, 1.5, 6.0]])
    tau = 0.02
    model = JointsModel(HARD, tau=tau, gain=10.0, start=[0.0, 0.0])
    meas, meas_v = np.zeros(2), np.zeros(2)
    cmd_pos, cmd_vel = model.pos.copy(), np.zeros(2)
    rng = np.random.default_rng(7)
    for k in range(600):
        if k % 60 == 0:  # a new target (or velocity) beyond the limits every 1.2 s
            proposal = rng.choice([-9.0, 9.0], 2)
        model.measure(meas, meas_v)
        sj.safety_joints(limits, meas, cmd_pos, cmd_vel, proposal, mode, 0.0, 0.0, DT,
                         cmd_pos, cmd_vel)
        model.step(cmd_pos, cmd_vel, mode, DT)
        allowance = limits[:, sj.L_MAX_VEL] * tau
        assert np.all(model.pos <= limits[:, sj.L_MAX] + allowance), (k, model.pos)
        assert np.all(model.pos >= limits[:, sj.L_MIN] - allowance), (k, model.pos)
