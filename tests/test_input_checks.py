"""No input can poison the estimate, and no blind motion: whole lockstep missions on the
memory bus with position fixes published by the test, the config refusal, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, config_error, props
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from robo_orch.config import load_config
from robo_orch.core import estimator
from robo_orch.core import safety as saf
from robo_orch.messages import message_type, new_fixed
from robo_orch.missions.report import estimate_notes, summarize
from robo_orch.missions.session import run_mission
from robo_orch.runtime.controller import Controller
from robo_orch.runtime.trace import COLUMNS

COL = {name: i for i, name in enumerate(COLUMNS)}
REPO = Path(__file__).resolve().parents[1]
GPS = ["inputs.gps.topic=test/gps", "inputs.gps.required=false", "inputs.gps.max_age_s=0.5"]


class FixSource:
    """Publishes position fixes on the loop's bus from the progress hook.

    ``plan(tick, truth)`` returns ``(x, y, std)`` to publish after that tick, or None.
    """

    def __init__(self, plan) -> None:
        self.plan = plan
        self.pub = None
        self.msg = new_fixed(message_type("position_fix"))

    def __call__(self, ctl: Controller) -> None:
        if self.pub is None:
            self.pub = ctl.bus.publisher("test/gps", message_type("position_fix"))
        tick = ctl.trace.rows - 1
        fix = self.plan(tick, ctl._truth)
        if fix is not None:
            self.msg["x"], self.msg["y"], self.msg["std"] = fix
            self.pub.publish(self.msg, stamp_ns=ctl.now_ns)


def mission(overrides=(), hook=None, **kwargs):
    config = load_config(None, [*GPS, *overrides])
    return run_mission(config, backend="lockstep", progress=hook, **kwargs)


def estimate_error(result) -> np.ndarray:
    """Distance between the estimated and the true position, per tick."""
    tr = result.controller.trace.array()
    return np.hypot(tr[:, COL["x"]] - tr[:, COL["true_x"]], tr[:, COL["y"]] - tr[:, COL["true_y"]])


# --- finding 3: one GPS message with std = inf (or 1e200) --------------------------------

@pytest.mark.parametrize("bad_std", [math.inf, 1e200])
def test_a_fix_with_an_absurd_std_is_rejected_and_the_mission_completes(bad_std):
    def plan(tick, truth):
        if tick == 60:
            return truth[0], truth[1], bad_std
        if tick % 25 == 0 and tick > 0:
            return truth[0], truth[1], 0.5  # a plausible fix now and then
        return None

    result = mission(hook=FixSource(plan))
    summary = summarize(result)
    assert summary["goal_reached"], summary["end_reason"]
    assert np.isfinite(result.controller.trace.array()[:, COL["x"]]).all()
    rejects = result.controller.sensing.input_rejects()
    assert rejects["gps"]["rejected"]["std_bounds"] == 1
    assert rejects["gps"]["accepted"] >= 5
    assert summary["input_rejects"]["gps"]["rejected"]["std_bounds"] == 1
    assert estimate_notes(summary) == "rejected inputs: gps std_bounds 1"  # in the verdict


# --- finding 3: a stream of invalid messages kept the input fresh -----------------------

def test_a_stream_of_invalid_fixes_lets_a_required_input_go_stale():
    switch = 150  # valid fixes before this tick, then only NaN ones

    def plan(tick, truth):
        return (truth[0] if tick < switch else math.nan), truth[1], 0.3

    result = mission(["inputs.gps.required=true"], hook=FixSource(plan), duration_s=6.0)
    trace = result.controller.trace.array()
    stale = (trace[:, COL["flags"]].astype(int) & saf.STALE_STOP) != 0
    assert not stale[5:switch].any(), "fresh valid fixes: no stop"
    # max_age 0.5 s at 50 Hz: stale from 25 ticks after the last valid fix, for good
    assert stale[switch + 27:].all()
    assert trace[-1, COL["cmd_v"]] == 0.0
    rejects = result.controller.sensing.input_rejects()["gps"]["rejected"]
    assert rejects["non_finite"] == len(trace) - switch - 1


# --- Mahalanobis gating ------------------------------------------------------------------

def test_a_fix_50_m_away_is_gated_and_a_consistent_one_is_fused():
    def plan(tick, truth):
        if tick == 100:
            return truth[0] + 50.0, truth[1], 0.01  # a confident fix far away
        if tick in (120, 140):
            return truth[0], truth[1], 0.5
        return None

    result = mission(hook=FixSource(plan), duration_s=4.0)
    err = estimate_error(result)
    assert err[101:].max() < 0.3, "the 50 m fix must not move the estimate"
    gps = result.controller.sensing.input_rejects()["gps"]
    assert gps["rejected"]["gated"] == 1
    assert gps["accepted"] == 2


def test_fixes_that_consistently_disagree_relocalise_after_a_controlled_stop(capfd):
    # the robot "really is elsewhere": every fix from tick 100 on is 3 m off in y
    def plan(tick, truth):
        if tick >= 100 and tick % 5 == 0:
            return truth[0], truth[1] + 3.0, 0.2
        return None

    result = mission(hook=FixSource(plan), duration_s=12.0)
    health = result.controller.sensing.estimate_health()
    assert health["relocalisations"] == 1
    assert result.controller.sensing.input_rejects()["gps"]["rejected"]["gated"] == 10
    err = estimate_error(result)
    assert abs(err[-1] - 3.0) < 0.3, "the estimate follows the fixes after relocalising"
    trace = result.controller.trace.array()
    stale = (trace[:, COL["flags"]].astype(int) & saf.STALE_STOP) != 0
    first = int(np.argmax(stale))
    assert 145 <= first <= 147, "controlled stop from the tick after the 10th gated fix"
    assert not stale[first + 60:].any(), "and motion resumes once the fixes agree"
    warnings = [line for line in capfd.readouterr().err.splitlines() if "gps" in line]
    assert len(warnings) == 1 and "relocalis" in warnings[0], warnings


# --- non-finite estimate: restore, controlled stop, one warning, summary -----------------

def test_a_non_finite_estimate_is_restored_with_a_controlled_stop_and_one_warning(capfd):
    poisoned = 80

    def poison(ctl: Controller) -> None:
        if ctl.trace.rows - 1 == poisoned:  # a kernel fed an infinite step: x turns NaN
            estimator.ekf_predict(ctl.sensing.x, ctl.sensing.P, math.inf, 1.0, 1.0)

    config = load_config(None)
    result = run_mission(config, backend="lockstep", progress=poison)
    summary = summarize(result)
    trace = result.controller.trace.array()
    assert np.isfinite(trace[:, COL["x"]]).all() and np.isfinite(trace[:, COL["yaw"]]).all()
    flags = trace[:, COL["flags"]].astype(int)
    assert flags[poisoned + 1] & saf.STALE_STOP, "controlled stop from the next tick"
    assert not (flags[:poisoned + 1] & saf.STALE_STOP).any()
    assert summary["goal_reached"], summary["end_reason"]
    est = summary["estimate"]
    assert est["non_finite"] == 1 and est["holding"] is False
    [event] = est["events"]
    assert event["kind"] == "non_finite"
    assert event["t"] == pytest.approx((poisoned + 1) * 0.02)
    released = int(np.argmax(~(flags[poisoned + 1:] & saf.STALE_STOP).astype(bool)))
    assert event["until"] == pytest.approx((poisoned + 1 + released) * 0.02)
    lines = [line for line in capfd.readouterr().err.splitlines() if "estimate" in line]
    assert len(lines) == 1 and "non-finite" in lines[0], lines


# --- finding 4: driving blind ---------------------------------------------------------------

@pytest.mark.parametrize("role", ["scan", "odom"])
def test_a_blind_config_is_refused_at_load(role):
    err = config_error(None, [f"inputs.{role}.required=false"])
    assert err.key == f"inputs.{role}.required"
    assert "safety.allow_blind" in err.problem


def test_check_refuses_a_blind_config_with_one_line():
    proc = cli("check", "--set", "inputs.scan.required=false", timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "inputs.scan.required" in lines[0], proc.stderr
    assert "allow_blind" in lines[0]


def test_allow_blind_runs_and_warns_at_every_start():
    config = load_config(None, ["inputs.scan.required=false", "safety.allow_blind=true"])
    assert config.safety.allow_blind
    proc = cli("-q", "sim", "--lockstep", "--duration", "1", "--set",
               "inputs.scan.required=false", "--set", "safety.allow_blind=true", timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    blind = [line for line in proc.stderr.splitlines() if "blind" in line]
    assert len(blind) == 1, proc.stderr


@pytest.mark.slow
def test_run_refuses_a_blind_config_and_warns_when_it_is_allowed(tmp_path):
    base = ["run", "config/demo.toml", "--duration", "0.3", "--set",
            f"bus.run_dir={tmp_path}", "--set", "inputs.odom.required=false",
            "--set", "loop.input_wait_s=0.2"]  # (no drivers: not worth the default 5 s)
    proc = cli(*base, timeout=300, cwd=REPO)
    assert proc.returncode == 2 and "inputs.odom.required" in proc.stderr, proc.stderr
    proc = cli("-q", *base, "--set", "safety.allow_blind=true", timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    blind = [line for line in proc.stderr.splitlines() if "blind" in line]
    assert len(blind) == 1 and "odom" in blind[0], proc.stderr


# --- each check, message by message, on a real memory bus ------------------------------------

class Rig:
    """A controller on a memory bus (no simulator) and a second bus that publishes to it."""

    def __init__(self, overrides=()) -> None:
        from robo_orch.bus.memory import MemoryBus, MemoryHub
        from robo_orch.clock import SimClock, WallClock

        self.config = load_config(None, [*GPS, *overrides])
        self.clock = SimClock(1_000_000_000)
        hub = MemoryHub()
        self.bus = MemoryBus(self.clock, publisher_id=1, hub=hub)
        self.ctl = Controller(self.config, self.bus)
        self.feed = MemoryBus(self.clock, publisher_id=2, hub=hub)
        self.foreign = MemoryBus(WallClock(), publisher_id=3, hub=hub)  # another clock id
        self.pubs = {}
        self.tick = 0

    def send(self, role, values, *, var=None, stamp_s=0.0, foreign=False):
        mtype = message_type({"odom": "wheel_odometry", "imu": "imu", "scan": "laser_scan",
                              "gps": "position_fix"}[role])
        topic = self.config.inputs[role].topic
        msg = new_fixed(mtype)
        for key, value in values.items():
            msg[key] = value
        key = (topic, foreign)
        if key not in self.pubs:
            self.pubs[key] = (self.foreign if foreign else self.feed).publisher(topic, mtype)
        self.pubs[key].publish(msg, var, stamp_ns=self.clock.now_ns() + int(stamp_s * 1e9))

    def step(self, dt=0.02):
        now = self.clock.now_ns()
        self.ctl.pre_tick(self.tick, now)
        self.ctl.sense(self.tick, now)
        self.tick += 1
        self.clock.advance_to_ns(now + int(dt * 1e9))

    def rejected(self, role):
        return {k: v for k, v in self.ctl.sensing.input_rejects()[role]["rejected"].items() if v}


def scan_points(n=8, r=2.0):
    var = np.zeros(n, dtype=message_type("laser_scan").var_dtype)
    var["angle"] = np.linspace(-1, 1, n)
    var["range"] = r
    return var


UNIT_Q = (0.0, 0.0, 0.0, 1.0)
BAD = [
    ("odom", {"v_left": math.nan, "v_right": 0.1}, "non_finite"),
    ("odom", {"v_left": 0.1, "v_right": 2.5}, "out_of_range"),  # 2 x max_wheel_speed 1.2
    ("imu", {"gyro": (0.0, 0.0, math.inf), "orientation": UNIT_Q}, "non_finite"),
    ("imu", {"gyro": (0.0, 0.0, 40.0), "orientation": UNIT_Q}, "out_of_range"),
    ("imu", {"gyro": (0.0, 0.0, 0.1), "orientation": (0.0, 0.0, 0.0, 0.9)}, "quaternion"),
    ("gps", {"x": 0.0, "y": math.nan, "std": 1.0}, "non_finite"),
    ("gps", {"x": 0.0, "y": 0.0, "std": 1e-6}, "std_bounds"),
    ("gps", {"x": 0.0, "y": 0.0, "std": 1e4}, "std_bounds"),
    ("scan", {"range_min": 2.0, "range_max": 1.0}, "scan_limits"),
    ("scan", {"range_min": 0.1, "range_max": math.nan}, "scan_limits"),
]


@pytest.mark.parametrize("role, values, reason", BAD, ids=[f"{r}-{w}-{i}" for i, (r, _, w)
                                                           in enumerate(BAD)])
def test_each_implausible_message_is_rejected_with_its_reason(role, values, reason):
    rig = Rig()
    rig.step()
    before = rig.ctl.sensing.x.copy()
    rig.send(role, values, var=scan_points() if role == "scan" else None)
    rig.step()
    assert rig.rejected(role) == {reason: 1}
    assert rig.ctl.sensing.input_rejects()[role]["accepted"] == 0
    assert np.isfinite(rig.ctl.sensing.x).all()
    if role != "scan":
        assert np.allclose(rig.ctl.sensing.x[:2], before[:2], atol=1e-9)


def test_a_message_stamped_in_the_loops_future_is_rejected_another_clocks_is_not():
    rig = Rig()
    rig.send("odom", {"v_left": 0.1, "v_right": 0.1}, stamp_s=1.0)
    rig.step()
    assert rig.rejected("odom") == {"future_stamp": 1}
    rig.send("odom", {"v_left": 0.1, "v_right": 0.1}, stamp_s=0.04)  # within max_stamp_lead_s
    rig.step()
    rig.send("odom", {"v_left": 0.1, "v_right": 0.1}, stamp_s=1e6, foreign=True)
    rig.step()
    assert rig.rejected("odom") == {"future_stamp": 1}
    assert rig.ctl.sensing.input_rejects()["odom"]["accepted"] == 2


def test_age_comes_from_the_stamp_on_the_loops_clock_else_from_the_arrival():
    from robo_orch.core import world as W

    def fresh_inputs(rig, stamp_s, foreign=False):
        for role, values in (("odom", {"v_left": 0.0, "v_right": 0.0}),
                             ("imu", {"orientation": UNIT_Q}),
                             ("gps", {"x": 0.0, "y": 0.0, "std": 0.5})):
            rig.send(role, values, stamp_s=stamp_s, foreign=foreign)
        rig.send("scan", {"range_min": 0.1, "range_max": 8.0}, var=scan_points(),
                 stamp_s=stamp_s, foreign=foreign)
        rig.step()
        return rig.ctl.world.state[W.STALE]

    assert fresh_inputs(Rig(), 0.0) == 0.0
    # stamped 0.3 s ago on the loop's clock: older than odom's max_age 0.2 s on arrival
    assert fresh_inputs(Rig(), -0.3) == 1.0
    # the same stamp from another clock says nothing about age: arrival time counts
    assert fresh_inputs(Rig(), -0.3, foreign=True) == 0.0


@pytest.fixture(scope="module")
def rig():
    return Rig()


any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)


@props(300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=st.sampled_from(["odom", "imu", "gps"]),
       a=any_float, b=any_float, c=any_float | st.floats(1e-6, 1e3))
def test_no_message_makes_the_estimate_non_finite(rig, role, a, b, c):
    values = {"odom": {"v_left": a, "v_right": b},
              "imu": {"gyro": (0.0, 0.0, a), "orientation": (0.0, 0.0, b, c)},
              "gps": {"x": a, "y": b, "std": c}}[role]
    rig.send(role, values)
    rig.step()
    s = rig.ctl.sensing
    assert np.isfinite(s.x).all() and np.isfinite(s.P).all()
    assert s.estimate_health()["non_finite"] == 0  # rejected before fusion, not repaired
