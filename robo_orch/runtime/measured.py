"""The estimator's inputs, each through an input adapter that hands it a measurement.

Every input whose adapter declares ``fuses`` (:data:`robo_orch.adapter.MEASUREMENTS`)
is a :class:`MeasuredInput`: the built-in ``odom``, ``imu`` and ``gps`` inputs run
through the built-in adapters (:func:`builtin_adapter`: the kinematics'
``odometry_adapter``, ``imu_gyro``, ``gps_fix``) unless the config names another
one; an input of another name may fuse too.  :meth:`MeasuredInput.take` runs one
message through the seam (copy, finite values, stamps, kernel) and then checks the
measurement the kernel left in its ``state`` (:class:`MeasurementChecks`), so a
user's adapter is held to the same bounds as the built-in ones; the sense phase
(:mod:`robo_orch.runtime.sense`) fuses what passes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robo_orch import registry
from robo_orch.adapter import MessageBuffers, reject_reason
from robo_orch.bus.counters import Received
from robo_orch.config import ROLE_MEASUREMENTS, Config
from robo_orch.config.inputs import BUILTIN_ADAPTERS
from robo_orch.core.direct import direct, require_contiguous
from robo_orch.kinematics import Kinematics
from robo_orch.messages import message_type
from robo_orch.runtime.input_checks import InputChecks

_NO_IDX = np.zeros(0, dtype=np.int64)  # the index array of an adapter without user names
_isfinite = math.isfinite


def builtin_adapter(role: str, config: Config, kin: Kinematics) -> tuple[type, Any]:
    """The built-in adapter of estimator input ``role`` and its parameters (from the
    kinematics and ``[estimator]``)."""
    est = config.estimator
    if role == "odom":
        cls = registry.load(registry.ADAPTERS, kin.odometry_adapter)
        fields = getattr(cls.Params, "__dataclass_fields__", {})
        return cls, cls.Params(track=kin.track) if "track" in fields else cls.Params()
    cls = registry.load(registry.ADAPTERS, BUILTIN_ADAPTERS[role])
    if role == "imu":
        return cls, cls.Params(quaternion_tolerance=est.quaternion_tolerance)
    return cls, cls.Params(antenna_x=float(est.gps_antenna[0]),
                           antenna_y=float(est.gps_antenna[1]))


class MeasurementChecks:
    """The bounds every measurement is held to, whichever adapter made it: one method per
    measurement kind, named as the kind, returning the reason of a reject or None."""

    def __init__(self, config: Config, kin: Kinematics) -> None:
        est = config.estimator
        self.max_wheel_speed = est.wheel_speed_factor * config.robot.max_wheel_speed
        self.half_track = 0.5 * kin.track
        self.max_gyro_rate = est.max_gyro_rate
        self.std_min = est.position_std_min
        self.std_max = est.position_std_max

    def velocity(self, m: np.ndarray) -> str | None:
        """``(v, w, vy)``: finite, and no wheel faster than the bound."""
        v, w, vy = m[:3].tolist()
        if not (_isfinite(v) and _isfinite(w) and _isfinite(vy)):
            return "non_finite"
        bound = self.max_wheel_speed
        if abs(v) + abs(w) * self.half_track > bound or abs(vy) > bound:
            return "out_of_range"
        return None

    def yaw_rate(self, m: np.ndarray) -> str | None:
        """``(rate, has_heading, heading)``: finite, the rate within the gyro bound."""
        rate, has_heading, heading = m[:3].tolist()
        if not _isfinite(rate) or (has_heading != 0.0 and not _isfinite(heading)):
            return "non_finite"
        return "out_of_range" if abs(rate) > self.max_gyro_rate else None

    def position(self, m: np.ndarray) -> str | None:
        """``(x, y, std)``: finite, the std within its bounds (an infinite std is out of
        its bounds, not non-finite)."""
        x, y, std = m[:3].tolist()
        if not (_isfinite(x) and _isfinite(y)) or std != std:
            return "non_finite"
        return None if self.std_min <= std <= self.std_max else "std_bounds"


class MeasuredInput:
    """One input that hands the estimator a measurement: its adapter's arrays and kernel."""

    def __init__(self, name: str, cls: type, params: Any, bounds: MeasurementChecks,
                 idx: np.ndarray | None = None, noted: bool = True) -> None:
        self.name = name
        #: its messages are noted in a recording's tick records (the built-in inputs)
        self.noted = noted
        self.cls = cls
        self.fuses: str = cls.fuses
        self.buf = MessageBuffers(message_type(cls.message), cls.max_rows)
        self.idx = _NO_IDX if idx is None else idx
        self.params = cls.pack_params(params)
        #: the kernel's persistent state; ``state[0:3]`` the measurement it leaves
        self.state = cls.new_state(params)
        require_contiguous(idx=(self.idx, 1), params=(self.params, 1), state=(self.state, 1))
        # past the dispatcher: its arrays are these, the buffers' and the world's own
        self.kernel = direct(cls.kernel)
        self.rejects: tuple[str, ...] = tuple(cls.rejects)
        #: its kernel reads world names: the sense phase writes the estimate fused so far
        #: to the world before each call (``gps_fix`` reads ``yaw``)
        self.reads_world = bool(cls.reads)
        self._finite = (bool(cls.finite_fixed), bool(cls.finite_var))
        #: a finiteness pass over the message is needed (else the measurement's check
        #: is the only one: the built-in odometry adapters, whose every field enters it)
        self._check_finite = bool(cls.finite_fixed or (cls.finite_var and self.buf.columns))
        self._check = getattr(bounds, self.fuses)  # the measurement's check

    def take(self, msg: Received, world: tuple, checks: InputChecks) -> bool:
        """Run ``msg`` through the adapter; True if its measurement may be fused
        (``state[0:3]``), else the reject is counted (or the kernel ignored it)."""
        buf = self.buf
        count = buf.load(msg.fixed, msg.var)
        if self._check_finite:
            finite_fixed, finite_var = self._finite
            finite = buf.finite(count, finite_var, finite_fixed)
        else:
            finite = True
        if not checks.adapted(self.name, finite, msg):
            return False
        state = self.state
        status = self.kernel(world, self.idx, buf.fixed, buf.var, count, self.params, state)
        if status <= 0.0:
            if status < 0.0:
                checks.reject(self.name, reject_reason(self.rejects, status))
            return False
        reason = self._check(state)
        if reason is not None:
            return checks.reject(self.name, reason)
        return True


def measured_inputs(config: Config, roles: list[str], kin: Kinematics) -> list[MeasuredInput]:
    """The estimator's inputs among ``roles``, in fusing order: ``odom``, ``imu``, ``gps``
    (those configured), then the other inputs whose adapter fuses, in config order."""
    specs = {spec.input: spec for spec in config.adapters if spec.cls.fuses}
    bounds = MeasurementChecks(config, kin)
    out = []
    for role in ROLE_MEASUREMENTS:
        if role not in roles:
            continue
        spec = specs.pop(role, None)
        if spec is None:
            cls, params = builtin_adapter(role, config, kin)
            out.append(MeasuredInput(role, cls, params, bounds))
        else:
            out.append(MeasuredInput(role, spec.cls, spec.params, bounds,
                                     config.layout.idx[spec.name]))
    out += [MeasuredInput(s.input, s.cls, s.params, bounds, config.layout.idx[s.name],
                          noted=False)
            for s in specs.values()]
    return out
