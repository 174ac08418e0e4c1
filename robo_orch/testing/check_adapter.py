"""``check_adapter(cls)``: does an input adapter class keep the adapter contract?

For plugin authors, like :func:`~robo_orch.testing.check_behavior` (the project runs
it on every built-in adapter)::

    from robo_orch.testing import check_adapter
    from my_robot.adapters import SonarRange

    def test_sonar_range_keeps_the_contract():
        check_adapter(SonarRange)

It runs every check it can, records each in a
:class:`~robo_orch.testing.check_report.CheckReport` and raises one
:class:`~robo_orch.testing.check_report.CheckFailed` naming every failed check
(unless ``raise_on_failure=False``).  The checks, by name:

* ``convention``: a subclass of :class:`~robo_orch.adapter.InputAdapter` with
  ``kind``, ``Params`` (a dataclass), ``kernel`` and ``message``; ``rejects`` a tuple
  of reason names; ``fuses`` empty or a measurement the estimator takes, with
  ``state_size`` of at least 3 (the measurement is left in ``state[0:3]``);
* ``message``: the message type is registered and every field of its fixed and
  variable parts is numeric (the Python side copies them into float64 arrays);
* ``params``: as for a behavior (defaults parse and round-trip, pack to a finite
  float64 array, every field refuses a non-number and a value beyond its bounds);
* ``declarations``: ``reads``, ``writes``, ``scalars``, ``arrays``, ``merge`` build a
  valid layout alone, or beside ``others`` (classes providing what it reads);
* ``signature``: the kernel was compiled eagerly with exactly
  :func:`~robo_orch.adapter.adapter_signature`;
* ``runs``: on a sample message (``sample=(fixed, var)``, structured arrays of the
  type; default: zeros, with 8 elements of a variable part), copied in as the loop
  does, the kernel raises nothing and returns a finite status;
* ``writes_declared``: that call changed nothing of the world it did not declare;
* ``no_compile``: that first call compiled nothing new;
* ``layout_independent``: with other names placed before its own, the same results
  (a kernel taking a user index from a module global fails here).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from robo_orch.adapter import MEASUREMENTS, InputAdapter, MessageBuffers, adapter_signature
from robo_orch.config.layout import Layout
from robo_orch.messages import MessageType, message_type
from robo_orch.testing.behavior_check import (
    _SOURCE,
    _fresh_world,
    _params,
    _undeclared,
    _values,
    signature_problem,
    two_layouts,
)
from robo_orch.testing.check_report import CheckReport

_RUN_CHECKS = ("runs", "writes_declared", "no_compile", "layout_independent")
_NAME = "inputs.checked"


def check_adapter(cls: type, *, sample: tuple[np.ndarray, np.ndarray | None] | None = None,
                  others: Sequence[type] = (), raise_on_failure: bool = True) -> CheckReport:
    """Check ``cls`` against the input adapter contract; see the module docstring."""
    name = getattr(cls, "kind", getattr(cls, "__name__", repr(cls)))
    report = CheckReport(f"check_adapter({name})")
    report.run("convention", lambda: _convention(cls))
    if report.results["convention"] is not None:
        for check in ("message", "params", "declarations", "signature", *_RUN_CHECKS):
            report.skipped[check] = "the convention check failed"
        return report.raise_if_failed() if raise_on_failure else report
    mtype: list[MessageType] = []
    report.run("message", lambda: _message(cls, mtype))
    report.run("params", lambda: _params(cls))
    try:
        params = cls.parse_params({}, source=_SOURCE, prefix=name)
    except Exception:  # noqa: BLE001 -- reported by the params check
        params = None
    layouts: list[Layout] = []
    if params is None:
        report.skipped["declarations"] = "the defaults do not parse"
    else:
        report.run("declarations", lambda: _declarations(cls, params, others, layouts))
    report.run("signature", lambda: _signature(cls))
    if not layouts or not mtype:
        for check in _RUN_CHECKS:
            report.skipped[check] = "no layout or no message type (an earlier check failed)"
    else:
        calls: dict[str, Any] = {}
        report.run("runs", lambda: _runs(cls, params, layouts[0], mtype[0], sample, calls))
        if "wrote" in calls:
            report.run("writes_declared", lambda: _writes_declared(calls))
            report.run("no_compile", lambda: _no_compile(calls))
            report.run("layout_independent",
                       lambda: _layout_independent(cls, params, layouts, mtype[0], sample))
        else:
            for check in _RUN_CHECKS[1:]:
                report.skipped[check] = "the runs check failed"
    return report.raise_if_failed() if raise_on_failure else report


def _convention(cls: type) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, InputAdapter)):
        return f"{cls!r} is not a subclass of robo_orch.adapter.InputAdapter"
    for attr in ("kind", "Params", "kernel", "message"):
        if not hasattr(cls, attr):
            return f"no class attribute '{attr}'"
    if not dataclasses.is_dataclass(cls.Params):
        return "Params must be a dataclass"
    if not isinstance(cls.message, str):
        return f"message must be a message type's name, got {cls.message!r}"
    rejects = getattr(cls, "rejects", ())
    if not (isinstance(rejects, tuple) and all(isinstance(r, str) and r for r in rejects)):
        return f"rejects must be a tuple of reason names, got {rejects!r}"
    fuses = getattr(cls, "fuses", "")
    if fuses and fuses not in MEASUREMENTS:
        return f"fuses must be '' or one of {', '.join(MEASUREMENTS)}, got {fuses!r}"
    if fuses and cls.state_size < 3:
        return f"an adapter that fuses '{fuses}' needs state_size >= 3, got {cls.state_size}"
    return None


def _message(cls: type, found: list[MessageType]) -> str | None:
    mtype = message_type(cls.message)
    for part, dtype in (("fixed", mtype.dtype), ("variable", mtype.var_dtype)):
        if dtype is None:
            continue
        for field in dtype.names:
            if dtype[field].base.kind not in "biuf":
                return f"the {part} part's field '{field}' is not numeric ({dtype[field]})"
    found.append(mtype)
    return None


def _specs(cls: type, params: Any, others: Sequence[type]) -> list[SimpleNamespace]:
    specs = [SimpleNamespace(name=f"other{k}", cls=o,
                             params=o.parse_params({}, source=_SOURCE, prefix=o.kind))
             for k, o in enumerate(others)]
    specs.append(SimpleNamespace(name=_NAME, key=f"{_NAME}.adapter", cls=cls, params=params))
    return specs


def _declarations(cls: type, params: Any, others: Sequence[type],
                  found: list[Layout]) -> str | None:
    return two_layouts(_specs(cls, params, others), found)


def _signature(cls: type) -> str | None:
    return signature_problem(cls.kernel, adapter_signature(), "adapter_signature()")


def _buffers(cls: type, mtype: MessageType,
             sample: tuple[np.ndarray, np.ndarray | None] | None) -> tuple[MessageBuffers, int]:
    """The message copied in as the loop copies it; returns the buffers and ``count``."""
    buf = MessageBuffers(mtype, min(cls.max_rows or mtype.max_count, 64))
    if sample is None:
        fixed = np.zeros((), dtype=mtype.dtype)
        var = None if mtype.var_dtype is None else np.zeros(8, dtype=mtype.var_dtype)
    else:
        fixed, var = sample
    return buf, buf.load(fixed, var)


def _call(cls: type, params: Any, layout: Layout, mtype: MessageType,
          sample: tuple[np.ndarray, np.ndarray | None] | None):
    world = _fresh_world(layout)
    buf, count = _buffers(cls, mtype, sample)
    before = tuple(a.copy() for a in world.arrays)
    status = float(cls.kernel(world.arrays, layout.idx[_NAME], buf.fixed, buf.var, count,
                              cls.pack_params(params), cls.new_state(params)))
    return world, before, status


def _runs(cls: type, params: Any, layout: Layout, mtype: MessageType,
          sample: tuple[np.ndarray, np.ndarray | None] | None, calls: dict[str, Any]) -> str | None:
    overloads = len(getattr(cls.kernel, "overloads", {}))
    world, before, status = _call(cls, params, layout, mtype, sample)
    calls["compiled"] = len(getattr(cls.kernel, "overloads", {})) - overloads
    calls["wrote"] = _undeclared(cls, layout, before, world)
    if not math.isfinite(status):
        return f"on the sample message the status is {status}, expected a finite number"
    return None


def _writes_declared(calls: dict[str, Any]) -> str | None:
    if calls["wrote"]:
        return f"the kernel wrote {', '.join(calls['wrote'])} without declaring it in writes"
    return None


def _no_compile(calls: dict[str, Any]) -> str | None:
    if calls["compiled"]:
        return (f"the first call compiled {calls['compiled']} new specialisation(s): compile "
                "the kernel eagerly with adapter_signature()")
    return None


def _layout_independent(cls: type, params: Any, layouts: list[Layout], mtype: MessageType,
                        sample: tuple[np.ndarray, np.ndarray | None] | None) -> str | None:
    seen = []
    for layout in layouts:
        world, _, status = _call(cls, params, layout, mtype, sample)
        values = _values(layout, world)
        pad = values.pop("check_padding", None), values.pop("check_padding_buf", None)
        seen.append((status, world.state[:len(world.state) - layout.n_scalars].tolist(),
                     values, pad))
    (s0, b0, v0, _), (s1, b1, v1, pad) = seen
    if pad != ([0.0], [0.0] * 3):
        return ("with other names placed first, the kernel wrote into them: it must take "
                "user indices from idx, not module globals")
    if not (s0 == s1 or (math.isnan(s0) and math.isnan(s1))) or b0 != b1 or v0 != v1:
        return ("with other names placed first, the results differ: it must take user "
                "indices from idx, not module globals")
    return None
