"""Test behaviors that declare user scalars and arrays (tests/test_layout.py).

Loaded by the registry as ``layout_plugins:Tally`` (tests/plugins on sys.path) or as
``/path/to/layout_plugins.py:Tally``.  Every kernel here proposes nothing (activation
0), so a demo run with them drives exactly as without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.core.world import OUT_V, OUT_W, STATE_LEN, TARGET_X, kernel_signature
from robo_orch.schema import option


@dataclass(frozen=True)
class TallyParams:
    history: int = option(4, ge=1, le=64, doc="length of the tally_hist array")
    scale: float = option(1.0, gt=0, doc="tally_hist[k] = scale * (k + 1)")


P_SCALE = param_index(TallyParams)["scale"]


@numba.njit(kernel_signature(), cache=True)
def tally_step(world, idx, params, state, out):
    """Counts its runs in tally_level; fills tally_hist with scale * 1..n."""
    ws = world[0]
    user = world[4]
    level = idx[0]
    hist = idx[1]
    n = int(user[hist - 1])
    ws[level] += 1.0
    for k in range(n):
        user[hist + k] = params[P_SCALE] * (k + 1)
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Tally(Behavior):
    """Declares a user scalar and a user array sized by a parameter, and writes both."""

    kind = "tally"
    Params = TallyParams
    kernel = tally_step
    scalars = ("tally_level",)
    arrays = {"tally_hist": "history"}
    writes = ("tally_level", "tally_hist")


@dataclass(frozen=True)
class NoParams:
    value: float = option(1.0, doc="what the kernel writes")


@numba.njit(kernel_signature(), cache=True)
def gauge_step(world, idx, params, state, out):
    """gauge_sum = tally_level + sum(tally_hist): reads another behavior's names."""
    ws = world[0]
    user = world[4]
    own = idx[0]
    level = idx[1]
    hist = idx[2]
    total = ws[level]
    for k in range(int(user[hist - 1])):
        total += user[hist + k]
    ws[own] = total
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Gauge(Behavior):
    """Reads Tally's scalar and array; writes its own scalar."""

    kind = "gauge"
    Params = NoParams
    kernel = gauge_step
    scalars = ("gauge_sum",)
    reads = ("tally_level", "tally_hist")
    writes = ("gauge_sum",)


@numba.njit(kernel_signature(), cache=True)
def fill_step(world, idx, params, state, out):
    """Writes params[0] to its scalar idx[0] and to every value of its array idx[1]."""
    ws = world[0]
    user = world[4]
    ws[idx[0]] = params[0]
    for k in range(int(user[idx[1] - 1])):
        user[idx[1] + k] = params[0]
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Shifter(Behavior):
    """Declares its own scalar and a 3-value array: placed first, it shifts Tally's."""

    kind = "shifter"
    Params = NoParams
    kernel = fill_step
    scalars = ("shift_a",)
    arrays = {"shift_buf": 3}
    writes = ("shift_a", "shift_buf")


@numba.njit(kernel_signature(), cache=True)
def peak_step(world, idx, params, state, out):
    """Merges params[0] into the shared scalar by max."""
    ws = world[0]
    ws[idx[0]] = max(ws[idx[0]], params[0])
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Peak(Behavior):
    """Several instances write one scalar, merged by "max"."""

    kind = "peak"
    Params = NoParams
    kernel = peak_step
    scalars = ("peak",)
    writes = ("peak",)
    merge = {"peak": "max"}


class Greedy(Behavior):
    """Like Peak without a merge rule: two instances are two writers (refused)."""

    kind = "greedy"
    Params = NoParams
    kernel = peak_step
    scalars = ("greedy",)
    writes = ("greedy",)


@numba.njit(kernel_signature(), cache=True)
def idle_step(world, idx, params, state, out):
    """Proposes nothing."""
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Silent(Behavior):
    """Declares a scalar it never writes."""

    kind = "silent"
    Params = NoParams
    kernel = idle_step
    scalars = ("quiet",)


class Listener(Behavior):
    """Reads Silent's scalar, which nobody writes (refused: no provider)."""

    kind = "listener"
    Params = NoParams
    kernel = idle_step
    reads = ("quiet",)


class Typo(Behavior):
    """Reads a misspelt name (refused, with a did-you-mean)."""

    kind = "typo"
    Params = NoParams
    kernel = idle_step
    reads = ("tally_levl",)


@numba.njit(kernel_signature(), cache=True)
def sneaky_step(world, idx, params, state, out):
    """Moves the target: a built-in slot."""
    world[0][TARGET_X] = params[0]
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Sneaky(Behavior):
    """Writes a built-in slot it does not declare (check_behavior refuses it)."""

    kind = "sneaky"
    Params = NoParams
    kernel = sneaky_step


@numba.njit(cache=True)
def lazy_step(world, idx, params, state, out):
    """Compiled on first call, for whatever types it is given."""
    out[OUT_V] = 0.0
    return 0.0


class Lazy(Behavior):
    """A kernel without the eager signature (check_behavior refuses it)."""

    kind = "lazy"
    Params = NoParams
    kernel = lazy_step


FROZEN_LEVEL = STATE_LEN  # right only while frozen_level is the first user scalar


@numba.njit(kernel_signature(), cache=True)
def frozen_step(world, idx, params, state, out):
    """Takes its index from a module global, which numba freezes into the kernel."""
    world[0][FROZEN_LEVEL] = params[0]
    out[OUT_V] = 0.0
    out[OUT_W] = 0.0
    return 0.0


class Frozen(Behavior):
    """Declares honestly but indexes by a global (check_behavior refuses it)."""

    kind = "frozen"
    Params = NoParams
    kernel = frozen_step
    scalars = ("frozen_level",)
    writes = ("frozen_level",)
