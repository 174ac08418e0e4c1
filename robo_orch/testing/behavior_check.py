"""``check_behavior(cls)``: does a behavior class keep the behavior contract?

For plugin authors, in the spirit of Gymnasium's ``check_env``: run it in a test of
your own behavior (the project runs it on every built-in)::

    from robo_orch.testing import check_behavior
    from my_robot.behaviors import ReturnHome

    def test_return_home_keeps_the_contract():
        check_behavior(ReturnHome)

It checks, in order, and raises :class:`BehaviorCheckError` (one line naming the
class and the failed check) at the first failure:

1. the registry convention: ``kind``, ``Params`` (a dataclass) and ``kernel``;
2. the parameters: the defaults parse from an empty table and round-trip through
   :meth:`~robo_orch.behavior.Behavior.parse_params`, pack to a flat finite float64
   array, and a non-numeric value for any field is refused with a ConfigError;
3. the declarations (``reads``, ``writes``, ``scalars``, ``arrays``, ``merge``) build a
   valid layout (:mod:`robo_orch.config.layout`) alone, or beside ``others`` (classes
   providing the user names it reads);
4. the kernel was compiled eagerly with exactly the permanent signature
   (:func:`robo_orch.core.world.kernel_signature`);
5. the kernel runs on a fresh world (and on one with a path and an obstacle) without
   error, returns a finite activation in [0, 1], writes a finite proposal when the
   activation is above 0, writes nothing of the world it did not declare in
   ``writes`` (its own scalars and arrays aside), and compiles nothing on the call.

It returns the names of the checks passed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from robo_orch.config.layout import BUILTIN_ARRAYS, Layout, build_layout, builtin_slots
from robo_orch.core import world as W
from robo_orch.errors import ConfigError, RoboOrchError

_SOURCE = "check_behavior"


class BehaviorCheckError(RoboOrchError, AssertionError):
    """A behavior class breaks the behavior contract (the message names the check)."""


def check_behavior(cls: type, *, others: Sequence[type] = ()) -> list[str]:
    """Check ``cls`` against the behavior contract; see the module docstring."""
    name = getattr(cls, "kind", getattr(cls, "__name__", repr(cls)))

    def fail(check: str, problem: str) -> BehaviorCheckError:
        return BehaviorCheckError(f"{name}: {check}: {problem}")

    passed = []
    for attr in ("kind", "Params", "kernel"):
        if not hasattr(cls, attr):
            raise fail("convention", f"no class attribute '{attr}'")
    if not dataclasses.is_dataclass(cls.Params):
        raise fail("convention", "Params must be a dataclass")
    passed.append("convention")
    params = _check_params(cls, fail)
    passed.append("params")
    layout = _check_layout(cls, params, others, fail)
    passed.append("declarations")
    _check_signature(cls, fail)
    passed.append("signature")
    _check_runs(cls, params, layout, fail)
    passed.append("runs")
    return passed


def _check_params(cls: type, fail) -> Any:
    try:
        params = cls.parse_params({}, source=_SOURCE, prefix=cls.kind)
    except ConfigError as err:
        raise fail("params", f"the defaults do not parse: {err}") from None
    table = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    try:
        again = cls.parse_params(table, source=_SOURCE, prefix=cls.kind)
    except ConfigError as err:
        raise fail("params", f"the defaults, written out, do not parse: {err}") from None
    if again != params:
        raise fail("params", f"the defaults do not round-trip: {again!r} != {params!r}")
    packed = cls.pack_params(params)
    if not (isinstance(packed, np.ndarray) and packed.dtype == np.float64 and packed.ndim == 1
            and packed.flags.c_contiguous and np.isfinite(packed).all()):
        raise fail("params", "pack_params must return a flat, contiguous, finite float64 array")
    for f in dataclasses.fields(params):
        try:
            cls.parse_params({f.name: "not a number"}, source=_SOURCE, prefix=cls.kind)
        except ConfigError:
            continue
        raise fail("params", f"'{f.name}' = 'not a number' was accepted")
    return params


def _spec(cls: type, params: Any, name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, cls=cls, params=params)


def _check_layout(cls: type, params: Any, others: Sequence[type], fail) -> Layout:
    specs = [_spec(o, o.parse_params({}, source=_SOURCE, prefix=o.kind), f"other{k}")
             for k, o in enumerate(others)]
    specs.append(_spec(cls, params, cls.kind))
    try:
        return build_layout(specs, _SOURCE)
    except ConfigError as err:
        raise fail("declarations", err.problem) from None


def _check_signature(cls: type, fail) -> None:
    import numba
    from numba.core import sigutils

    if numba.config.DISABLE_JIT:
        return
    signatures = getattr(cls.kernel, "signatures", None)
    if signatures is None:
        raise fail("signature", "kernel is not a numba dispatcher (@numba.njit(kernel_signature()"
                                ", cache=True))")
    args, _ = sigutils.normalize_signature(W.kernel_signature())
    if [tuple(s) for s in signatures] != [tuple(args)]:
        raise fail("signature", f"compiled for {signatures}, expected exactly "
                                f"[{W.kernel_signature()}] (compile eagerly with "
                                "kernel_signature())")


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


def _snapshot(world: W.World) -> tuple[np.ndarray, ...]:
    return tuple(a.copy() for a in world.arrays)


def _undeclared(cls: type, layout: Layout, before, world: W.World) -> list[str]:
    """Names of what the call changed without declaring it."""
    from robo_orch.config.layout import declarations

    d = declarations(cls)
    allowed = set(d["writes"]) | set(d["scalars"]) | set(d["arrays"])
    found = []
    state = world.arrays[0]
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
    if world.user.shape[0] and any(not _same(before[4][u.index - 1], world.user[u.index - 1])
                                   for u in layout.names.values() if u.kind == "array"):
        found.append("an array's length slot")
    return found


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _check_runs(cls: type, params: Any, layout: Layout, fail) -> None:
    idx = layout.idx[cls.kind]
    packed = cls.pack_params(params)
    kernel = cls.kernel
    overloads = len(getattr(kernel, "overloads", {}))
    for label, world in (("a fresh world", _fresh_world(layout)),
                         ("a world with a path and an obstacle", _busy_world(layout))):
        state = cls.new_state(params)
        out = np.zeros(W.OUT_LEN, dtype=np.float64)
        before = _snapshot(world)
        try:
            act = float(kernel(world.arrays, idx, packed, state, out))
        except Exception as err:  # the author's kernel: report whatever it raised
            raise fail("runs", f"on {label} the kernel raised {type(err).__name__}: {err}") \
                from None
        if not (math.isfinite(act) and 0.0 <= act <= 1.0):
            raise fail("runs", f"on {label} the activation is {act}, expected 0..1")
        if act > 0.0 and not np.isfinite(out[[W.OUT_V, W.OUT_W]]).all():
            raise fail("runs", f"on {label} the proposal is not finite: {out.tolist()}")
        wrote = _undeclared(cls, layout, before, world)
        if wrote:
            raise fail("runs", f"on {label} the kernel wrote {', '.join(wrote)} without "
                               "declaring it in writes")
    if len(getattr(kernel, "overloads", {})) != overloads:
        raise fail("runs", "the kernel compiled a new specialisation on its first call: "
                           "pass the world tuple, idx and arrays exactly as typed in "
                           "kernel_signature()")
