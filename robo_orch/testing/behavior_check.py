"""``check_behavior(cls)``: does a behavior class keep the behavior contract?

For plugin authors, in the spirit of Gymnasium's ``check_env``: run it in a test of
your own behavior (the project runs it on every built-in)::

    from robo_orch.testing import check_behavior
    from my_robot.behaviors import ReturnHome

    def test_return_home_keeps_the_contract():
        check_behavior(ReturnHome)

Like the other checkers it runs every check it can, records each in a
:class:`~robo_orch.testing.check_report.CheckReport`, and raises one
:class:`~robo_orch.testing.check_report.CheckFailed` naming every failed check
(unless ``raise_on_failure=False``).  The checks, by name:

* ``convention``: ``kind``, ``Params`` (a dataclass) and ``kernel``;
* ``params``: the defaults parse from an empty table and round-trip through
  :meth:`~robo_orch.behavior.Behavior.parse_params`, pack to a flat finite float64
  array, and every field refuses a non-numeric value and a value beyond its bounds;
* ``declarations``: ``reads``, ``writes``, ``scalars``, ``arrays`` and ``merge`` build
  a valid layout (:mod:`robo_orch.config.layout`) alone, or beside ``others``
  (classes providing the user names it reads);
* ``signature``: the kernel was compiled eagerly with exactly the permanent
  signature (:func:`robo_orch.core.world.kernel_signature`);
* ``runs``: on a fresh world and on one with a path and an obstacle, the kernel
  raises nothing, returns a finite activation in [0, 1] and, when above 0, writes
  a finite proposal (a joints behavior, ``command_space`` other than ``"base"``:
  a finite target for each of its declared ``joints``, in an ``out`` row of
  ``max(OUT_LEN, len(joints))``);
* ``writes_declared``: those calls changed nothing of the world the class did not
  declare in ``writes`` (its own scalars and arrays aside);
* ``no_compile``: those first calls compiled nothing new;
* ``layout_independent``: with another behavior's names placed before its own
  (every user index moved), the kernel gives the same results and touches none of
  the other's slots (a kernel that took an index from a module global, which numba
  freezes into the cached kernel, fails here).

Checks that need an earlier one (a parsed ``Params``, a layout) are skipped, with
the reason, when it failed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from robo_orch.config.layout import (
    BUILTIN_ARRAYS,
    Layout,
    build_layout,
    builtin_slots,
    declarations,
)
from robo_orch.core import world as W
from robo_orch.errors import ConfigError
from robo_orch.testing.check_report import CheckReport

_SOURCE = "check_behavior"
_RUN_CHECKS = ("runs", "writes_declared", "no_compile", "layout_independent")


class _Padding:
    """Declared first in a second layout, so every user name of the checked class moves."""

    kind = "check_padding"
    Params = None
    scalars = ("check_padding",)
    arrays = {"check_padding_buf": 3}


def check_behavior(cls: type, *, others: Sequence[type] = (),
                   raise_on_failure: bool = True) -> CheckReport:
    """Check ``cls`` against the behavior contract; see the module docstring."""
    name = getattr(cls, "kind", getattr(cls, "__name__", repr(cls)))
    report = CheckReport(f"check_behavior({name})")
    report.run("convention", lambda: _convention(cls))
    if report.results["convention"] is not None:
        for check in ("params", "declarations", "signature", *_RUN_CHECKS):
            report.skipped[check] = "the convention check failed"
        return report.raise_if_failed() if raise_on_failure else report
    report.run("params", lambda: _params(cls))
    try:
        params = cls.parse_params({}, source=_SOURCE, prefix=name)
    except Exception:  # noqa: BLE001 -- reported by the params check
        params = None
    layout: list[Layout] = []
    if params is None:
        report.skipped["declarations"] = "the defaults do not parse"
    else:
        report.run("declarations", lambda: _declarations(cls, params, others, layout))
    report.run("signature", lambda: _signature(cls))
    if not layout:
        for check in _RUN_CHECKS:
            report.skipped[check] = "no layout (the declarations or params check failed)"
    else:
        calls = _calls(cls, params, layout[0])
        report.run("runs", lambda: _runs(calls))
        report.run("writes_declared", lambda: _writes_declared(calls))
        report.run("no_compile", lambda: _no_compile(calls))
        report.run("layout_independent", lambda: _layout_independent(cls, params, *layout))
    return report.raise_if_failed() if raise_on_failure else report


def _convention(cls: type) -> str | None:
    for attr in ("kind", "Params", "kernel"):
        if not hasattr(cls, attr):
            return f"no class attribute '{attr}'"
    if not dataclasses.is_dataclass(cls.Params):
        return "Params must be a dataclass"
    return None


def _beyond(meta: Mapping[str, Any]) -> float | None:
    """A value just outside a field's numeric bounds (None if it has none)."""
    if meta.get("gt") is not None:
        return float(meta["gt"])
    if meta.get("ge") is not None:
        return float(meta["ge"]) - 1.0
    if meta.get("lt") is not None:
        return float(meta["lt"])
    if meta.get("le") is not None:
        return float(meta["le"]) + 1.0
    return None


def _params(cls: type) -> str | None:
    try:
        params = cls.parse_params({}, source=_SOURCE, prefix=cls.kind)
    except ConfigError as err:
        return f"the defaults do not parse: {err}"
    table = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    try:
        again = cls.parse_params(table, source=_SOURCE, prefix=cls.kind)
    except ConfigError as err:
        return f"the defaults, written out, do not parse: {err}"
    if again != params:
        return f"the defaults do not round-trip: {again!r} != {params!r}"
    packed = cls.pack_params(params)
    if not (isinstance(packed, np.ndarray) and packed.dtype == np.float64 and packed.ndim == 1
            and packed.flags.c_contiguous and np.isfinite(packed).all()):
        return "pack_params must return a flat, contiguous, finite float64 array"
    for f in dataclasses.fields(params):
        bad: list[Any] = ["not a number"]
        beyond = _beyond(f.metadata)
        if beyond is not None:
            bad.append(int(beyond) if f.type in (int, "int") else beyond)
        for value in bad:
            try:
                cls.parse_params({f.name: value}, source=_SOURCE, prefix=cls.kind)
            except ConfigError as err:
                if f.name not in str(err):
                    return (f"refusing '{f.name}' = {value!r}, the error does not name the "
                            f"key: {err}")
                continue
            return f"'{f.name}' = {value!r} was accepted"
    return None


def _declarations(cls: type, params: Any, others: Sequence[type],
                  found: list[Layout]) -> str | None:
    specs = [SimpleNamespace(name=f"other{k}", cls=o,
                             params=o.parse_params({}, source=_SOURCE, prefix=o.kind))
             for k, o in enumerate(others)]
    specs.append(SimpleNamespace(name=cls.kind, cls=cls, params=params))
    return two_layouts(specs, found)


def two_layouts(specs: Sequence[Any], found: list[Layout]) -> str | None:
    """Build the layout of ``specs`` and one with :class:`_Padding` declared first (every
    user name moves) into ``found``; the load error's problem, or None."""
    padding = SimpleNamespace(name=_Padding.kind, cls=_Padding, params=None)
    try:
        found.append(build_layout(specs, _SOURCE))
        found.append(build_layout([padding, *specs], _SOURCE))
    except ConfigError as err:
        return err.problem
    return None


def _signature(cls: type) -> str | None:
    return signature_problem(cls.kernel, W.kernel_signature(), "kernel_signature()")


def signature_problem(kernel: Any, signature: str, maker: str) -> str | None:
    """Why ``kernel`` is not a dispatcher compiled for exactly ``signature`` (made by the
    function named ``maker``), or None."""
    import numba
    from numba.core import sigutils

    if numba.config.DISABLE_JIT:
        return None
    signatures = getattr(kernel, "signatures", None)
    if signatures is None:
        return f"kernel is not a numba dispatcher (@numba.njit({maker}, cache=True))"
    args, _ = sigutils.normalize_signature(signature)
    if [tuple(s) for s in signatures] != [tuple(args)]:
        return (f"compiled for {signatures}, expected exactly [{signature}] "
                f"(compile eagerly with {maker})")
    return None


def _fresh_world(layout: Layout) -> W.World:
    world = W.World(field_shape=(32, 32), max_scan=64, max_path=16, **layout.world_sizes())
    layout.prepare(world)
    s = world.state
    s[W.DT], s[W.ROBOT_RADIUS], s[W.GOAL_TOLERANCE] = 0.02, 0.2, 0.25
    return world


def _busy_world(layout: Layout) -> W.World:
    from robo_orch.core import field

    world = _fresh_world(layout)
    world.set_path(np.array([[1.0, 0.5], [2.0, 0.0]]))
    pts = np.array([[0.6, 0.0], [0.6, 0.1], [0.6, -0.1]])
    world.scan[:3] = pts
    world.state[W.SCAN_COUNT] = 3
    field.build_field(world.scan, 3, 0.0, 0.0, world.state, world.field,
                      field.alloc_field_scratch(world.field.shape))
    return world


def _undeclared(cls: type, layout: Layout, before: tuple[np.ndarray, ...],
                world: W.World) -> list[str]:
    """Names of what the call changed without declaring it."""
    d = declarations(cls)
    allowed = set(d["writes"]) | set(d["scalars"]) | set(d["arrays"])
    found = []
    state = world.state
    for slot, i in builtin_slots().items():
        if slot not in allowed and not _same(before[0][i], state[i]):
            found.append(slot)
    for k, arr in enumerate(BUILTIN_ARRAYS, start=1):
        if arr not in allowed and not np.array_equal(before[k], world.arrays[k], equal_nan=True):
            found.append(arr)
    for u in layout.names.values():
        target, old = (state, before[0]) if u.kind == "scalar" else (world.user, before[4])
        sl = slice(u.index, u.index + u.length)
        if u.name not in allowed and not np.array_equal(old[sl], target[sl], equal_nan=True):
            found.append(u.name)
    if any(not _same(before[4][u.index - 1], world.user[u.index - 1])
           for u in layout.names.values() if u.kind == "array"):
        found.append("an array's length slot")
    return found


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _calls(cls: type, params: Any, layout: Layout) -> dict[str, Any]:
    """Call the kernel on the two worlds once each; what the checks look at."""
    idx = layout.idx[cls.kind]
    packed = cls.pack_params(params)
    kernel = cls.kernel
    overloads = len(getattr(kernel, "overloads", {}))
    results = []
    for label, world in (("a fresh world", _fresh_world(layout)),
                         ("a world with a path and an obstacle", _busy_world(layout))):
        state = cls.new_state(params)
        out = np.zeros(_out_len(cls), dtype=np.float64)
        before = tuple(a.copy() for a in world.arrays)
        try:
            act: float | str = float(kernel(world.arrays, idx, packed, state, out))
        except Exception as err:  # noqa: BLE001 -- the author's kernel: report what it raised
            act = f"the kernel raised {type(err).__name__}: {err}"
        results.append((label, act, out, _undeclared(cls, layout, before, world)))
    return {"results": results, "proposed": _proposed(cls),
            "compiled": len(getattr(kernel, "overloads", {})) - overloads}


def _out_len(cls: type) -> int:
    """The ``out`` row a behavior gets: OUT_LEN, or more for a joints space's many joints."""
    return max(W.OUT_LEN, len(getattr(cls, "joints", ()) or ()))


def _proposed(cls: type) -> list[int]:
    """The entries of ``out`` its proposal fills: (v, w) for the base, else its joints."""
    if getattr(cls, "command_space", "base") == "base":
        return [W.OUT_V, W.OUT_W]
    return list(range(max(1, len(getattr(cls, "joints", ()) or ()))))


def _runs(calls: dict[str, Any]) -> str | None:
    for label, act, out, _ in calls["results"]:
        if isinstance(act, str):
            return f"on {label} {act}"
        if not (math.isfinite(act) and 0.0 <= act <= 1.0):
            return f"on {label} the activation is {act}, expected 0..1"
        if act > 0.0 and not np.isfinite(out[calls["proposed"]]).all():
            return f"on {label} the proposal is not finite: {out.tolist()}"
    return None


def _writes_declared(calls: dict[str, Any]) -> str | None:
    for label, _, _, wrote in calls["results"]:
        if wrote:
            return f"on {label} the kernel wrote {', '.join(wrote)} without declaring it in writes"
    return None


def _no_compile(calls: dict[str, Any]) -> str | None:
    if calls["compiled"]:
        return (f"the first calls compiled {calls['compiled']} new specialisation(s): the "
                "kernel must be compiled eagerly with kernel_signature() and called with "
                "exactly those types")
    return None


def _values(layout: Layout, world: W.World) -> dict[str, list[float]]:
    """Every user name's values (the padding's aside)."""
    out = {}
    for u in layout.names.values():
        target = world.state if u.kind == "scalar" else world.user
        out[u.name] = target[u.index:u.index + u.length].tolist()
    return out


def _layout_independent(cls: type, params: Any, plain: Layout, padded: Layout) -> str | None:
    """The same results when the class's user names sit elsewhere (a kernel that took an
    index from a module global, frozen at compile time, writes the wrong slot)."""
    packed = cls.pack_params(params)
    for label, make in (("a fresh world", _fresh_world), ("a busy world", _busy_world)):
        seen = []
        for layout in (plain, padded):
            world = make(layout)
            out = np.zeros(_out_len(cls), dtype=np.float64)
            try:
                act = float(cls.kernel(world.arrays, layout.idx[cls.kind], packed,
                                       cls.new_state(params), out))
            except Exception as err:  # noqa: BLE001 -- reported as this check's failure
                return f"on {label} the kernel raised {type(err).__name__}: {err}"
            values = _values(layout, world)
            pad = values.pop("check_padding", None), values.pop("check_padding_buf", None)
            seen.append((act, out.tolist(), world.state[:W.STATE_LEN].tolist(), values, pad))
        (a0, o0, s0, v0, _), (a1, o1, s1, v1, pad) = seen
        if pad != ([0.0], [0.0] * 3):
            return (f"on {label}, with another behavior's names placed first, the kernel "
                    "wrote into them: it must take user indices from idx, not module globals")
        if not (_same(a0, a1) and np.array_equal(o0, o1, equal_nan=True)
                and np.array_equal(s0, s1, equal_nan=True) and v0 == v1):
            return (f"on {label}, with another behavior's names placed first, the results "
                    "differ: it must take user indices from idx, not module globals")
    return None
