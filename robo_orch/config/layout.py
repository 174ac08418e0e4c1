"""The world layout: where every behavior's declared names live, built once at config load.

Behaviors declare by name what they read and write (see :mod:`robo_orch.behavior`):
built-in state slots (the lower-case names of the constants of
:mod:`robo_orch.core.world`: ``"x"``, ``"target_x"``, ``"nav_status"``), the built-in
arrays (``"scan"``, ``"field"``, ``"path"``), and their own *user* names: scalars
(``Behavior.scalars``) appended to ``state`` after the built-in slots, and arrays
(``Behavior.arrays``, name -> length) placed in the flat ``user`` buffer.

:func:`build_layout` places them and validates the declarations:

* built-in slots keep their fixed indices (built-in kernels use the constants);
* user scalars take ``state[STATE_LEN + j]``, ``j`` in order of first declaration
  (config order); user arrays take ``user[offset : offset + length]``, with their
  length stored in ``user[offset - 1]`` (written once, when the world is made);
* each behavior gets an int64 ``idx`` array: the offsets of its user names in the
  order of :func:`index_names` (its scalars, its arrays, then the other user names
  it reads or writes); a kernel reads its indices only from ``idx``;
* every read has a provider (built-ins: the framework; a user name: a behavior or an
  input adapter (:mod:`robo_orch.adapter`) that writes it, or the reader's own
  declaration); one writer per name unless every
  writer declares the same merge rule (:data:`MERGE_RULES`); unknown names are
  refused with a did-you-mean.

Any problem raises :class:`ConfigError` naming the file, ``behaviors.NAME`` and
the declaration.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robo_orch.core import world as W
from robo_orch.errors import ConfigError


def builtin_slots() -> dict[str, int]:
    """Built-in state slots: lower-case constant name -> index (``{"x": 2, ...}``): the
    upper-case int constants :mod:`robo_orch.core.world` defines before ``STATE_LEN``."""
    slots = {}
    for name, value in vars(W).items():
        if name == "STATE_LEN":
            break
        if name.isupper() and type(value) is int and 0 <= value < W.STATE_LEN:
            slots[name.lower()] = value
    return dict(sorted(slots.items(), key=lambda kv: kv[1]))


#: built-in arrays of the world tuple, by name
BUILTIN_ARRAYS = ("scan", "field", "path")
#: merge rules a declaration may give a name with several writers, and the value a
#: user name is reset to at the start of every plan phase (None: never reset).
#: ``max``/``min``/``sum``: each writer combines its value with the slot's
#: (``s[i] = max(s[i], v)``...); ``latch``: writers only set it from 0 to a non-zero
#: value (a request or a status code), the first one stands until its reader clears it.
#: Only ``latch`` applies to built-in names (they are never reset).
MERGE_RULES: dict[str, float | None] = {"max": -math.inf, "min": math.inf, "sum": 0.0,
                                        "latch": None}
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass
class UserName:
    """One user scalar or array and who uses it."""

    name: str
    kind: str  #: "scalar" or "array"
    index: int  #: state index (scalar) or offset in ``user`` (array)
    length: int = 1
    owners: list[str] = field(default_factory=list)
    writers: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    merge: str = ""


@dataclass
class Layout:
    """The placed names of one config; :attr:`idx` maps behavior name -> index array."""

    names: dict[str, UserName]
    idx: dict[str, np.ndarray]
    n_scalars: int
    user_len: int
    #: built-in names used: name -> (readers, writers)
    builtins: dict[str, tuple[list[str], list[str]]]
    #: merge rule of each built-in name several behaviors write
    builtin_merge: dict[str, str] = field(default_factory=dict)

    def check_world(self, world: W.World) -> None:
        """Refuse a world not allocated for this layout (kernels do not check bounds)."""
        if world.state.shape[0] != W.STATE_LEN + self.n_scalars \
                or world.user.shape[0] != self.user_len:
            raise ValueError("the world was not allocated for this layout (make it with "
                             "World(..., **layout.world_sizes()))")

    def prepare(self, world: W.World) -> None:
        """Write each user array's length into the slot before it (once, at start)."""
        self.check_world(world)
        for u in self.names.values():
            if u.kind == "array":
                world.user[u.index - 1] = float(u.length)

    def world_sizes(self) -> dict[str, int]:
        """Keyword arguments of :class:`~robo_orch.core.world.World` for this layout."""
        return {"user_scalars": self.n_scalars, "user_len": self.user_len}

    def resets(self, world: W.World) -> list[tuple[np.ndarray, float]]:
        """(view, value): the merged user names, reset every plan phase (``view.fill``:
        the views are made here, once, so a tick creates no object)."""
        out = []
        for u in self.names.values():
            init = MERGE_RULES.get(u.merge) if u.merge else None
            if init is None:
                continue
            target = world.state if u.kind == "scalar" else world.user
            out.append((target[u.index:u.index + u.length], init))
        return out

    def describe(self) -> list[str]:
        """The layout as ``robo-orch check`` prints it."""
        slots = builtin_slots()
        used = [f"{n}={slots[n]}" if n in slots else n for n in self.builtins]
        lines = [f"layout    built-in names used: {', '.join(used) or 'none'}"]
        written = [f"{n}{'=' + str(slots[n]) if n in slots else ''} by {', '.join(w)}"
                   + (f" ({self.builtin_merge[n]})" if n in self.builtin_merge else "")
                   for n, (_, w) in self.builtins.items() if w]
        if written:
            lines.append(f"  built-in names written: {'; '.join(written)}")
        if not self.names:
            lines.append("  no user scalars or arrays")
        for u in self.names.values():
            where = (f"state[{u.index}]" if u.kind == "scalar"
                     else f"user[{u.index}:{u.index + u.length}] ({u.length} values)")
            merge = f", merge {u.merge}" if u.merge else ""
            lines.append(f"  {u.kind:<6} {u.name:<16} {where:<26} declared by "
                         f"{', '.join(u.owners)}; written by {', '.join(u.writers) or '-'};"
                         f" read by {', '.join(u.readers) or '-'}{merge}")
        for name, idx in self.idx.items():
            if len(idx):
                lines.append(f"  idx of {name}: {list(map(int, idx))}")
        return lines


def declarations(cls: type) -> dict[str, Any]:
    """A behavior class's declarations (``reads``, ``writes``, ``scalars``, ``arrays``,
    ``merge``), with the defaults of an undeclared one."""
    return {"reads": getattr(cls, "reads", ()), "writes": getattr(cls, "writes", ()),
            "scalars": getattr(cls, "scalars", ()), "arrays": getattr(cls, "arrays", {}),
            "merge": getattr(cls, "merge", {})}


def index_names(cls: type) -> list[str]:
    """The user names of ``cls``'s ``idx`` array, in order: its own scalars, its own
    arrays, then the other user names it reads and writes (first mention)."""
    d = declarations(cls)
    known = set(builtin_slots()) | set(BUILTIN_ARRAYS)
    names = [*d["scalars"], *d["arrays"]]
    for name in (*d["reads"], *d["writes"]):
        if name not in known and name not in names:
            names.append(name)
    return names


def array_length(cls: type, name: str, params: Any) -> int:
    """Length of ``cls``'s declared array ``name``: an int, or the name of a parameter."""
    spec = declarations(cls)["arrays"][name]
    if isinstance(spec, str):
        return int(getattr(params, spec))
    return int(spec)


def _where(cls: type) -> str:
    try:
        path = inspect.getsourcefile(cls) or "?"
    except TypeError:
        path = "?"
    return f"{getattr(cls, 'kind', cls.__name__)} ({path})"


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_shapes(cls: type, source: str, key: str, params: Any) -> dict[str, Any]:
    """Types and names of one class's declarations; returns them."""
    d = declarations(cls)
    where = _where(cls)

    def fail(problem: str) -> ConfigError:
        return ConfigError(source, key, f"{where}: {problem}")

    for attr in ("reads", "writes", "scalars"):
        value = d[attr]
        if isinstance(value, str) or not isinstance(value, (tuple, list)) \
                or not all(isinstance(n, str) for n in value):
            raise fail(f"{attr} must be a tuple of names, got {value!r}")
        if len(set(value)) != len(value):
            raise fail(f"{attr} names a name twice: {list(value)}")
    for attr in ("arrays", "merge"):
        if not isinstance(d[attr], Mapping):
            raise fail(f"{attr} must be a dict, got {d[attr]!r}")
    slots = builtin_slots()
    for name in (*d["scalars"], *d["arrays"]):
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail(f"user name {name!r} must be lower-case letters, digits and _")
        if name in slots or name in BUILTIN_ARRAYS:
            raise fail(f"'{name}' is a built-in name; a user scalar or array needs its own")
    both = set(d["scalars"]) & set(d["arrays"])
    if both:
        raise fail(f"'{sorted(both)[0]}' is declared both as a scalar and as an array")
    fields = {f for f in getattr(params, "__dataclass_fields__", {})}
    for name, spec in d["arrays"].items():
        if isinstance(spec, str):
            if spec not in fields:
                raise fail(f"arrays['{name}'] = '{spec}': no such parameter"
                           f"{_suggest(spec, sorted(fields))}")
            meta = params.__dataclass_fields__[spec].metadata
            if meta.get("live"):
                raise fail(f"arrays['{name}'] is sized by '{spec}', a live parameter: the "
                           "layout is built once; make it restart-only")
        elif isinstance(spec, bool) or not isinstance(spec, int):
            raise fail(f"arrays['{name}'] must be an int length or a parameter name, "
                       f"got {spec!r}")
        n = array_length(cls, name, params)
        if n < 1:
            raise fail(f"arrays['{name}'] has length {n}; it must be at least 1")
    for name, rule in d["merge"].items():
        if rule not in MERGE_RULES:
            raise fail(f"merge['{name}'] = {rule!r}: unknown rule (known: "
                       f"{', '.join(MERGE_RULES)}){_suggest(str(rule), list(MERGE_RULES))}")
        if name not in d["writes"]:
            raise fail(f"merge['{name}']: '{name}' is not in writes")
        if rule != "latch" and (name in slots or name in BUILTIN_ARRAYS):
            raise fail(f"merge['{name}'] = '{rule}': a built-in name is never reset, so it "
                       "takes only 'latch'; max, min and sum are for user names")
    return d


def _key(b: Any) -> str:
    """The config key a declaration error names: ``behaviors.NAME``, or the item's own
    ``key`` (an input adapter's: ``inputs.NAME.adapter``)."""
    return getattr(b, "key", None) or f"behaviors.{b.name}"


def build_layout(behaviors: Sequence[Any], source: str) -> Layout:
    """Place and validate the declarations of ``behaviors`` (items with ``.name``,
    ``.cls`` and ``.params``, in config order; input adapters among them, named
    ``inputs.NAME``, with a ``key``)."""
    slots = builtin_slots()
    builtin = set(slots) | set(BUILTIN_ARRAYS)
    decl = {}
    names: dict[str, UserName] = {}
    n_scalars = 0
    user_len = 0
    for b in behaviors:
        key = _key(b)
        d = decl[b.name] = _check_shapes(b.cls, source, key, b.params)
        for name in d["scalars"]:
            u = names.get(name)
            if u is None:
                u = names[name] = UserName(name, "scalar", W.STATE_LEN + n_scalars)
                n_scalars += 1
            elif u.kind != "scalar":
                raise ConfigError(source, key, f"{_where(b.cls)}: '{name}' is declared as a "
                                  f"scalar here and as an array by {', '.join(u.owners)}")
            u.owners.append(b.name)
        for name in d["arrays"]:
            n = array_length(b.cls, name, b.params)
            u = names.get(name)
            if u is None:
                u = names[name] = UserName(name, "array", user_len + 1, n)
                user_len += n + 1  # the length slot, then the values
            elif u.kind != "array":
                raise ConfigError(source, key, f"{_where(b.cls)}: '{name}' is declared as an "
                                  f"array here and as a scalar by {', '.join(u.owners)}")
            elif u.length != n:
                raise ConfigError(source, key, f"{_where(b.cls)}: array '{name}' has length {n}"
                                  f" here and {u.length} as declared by {', '.join(u.owners)}")
            u.owners.append(b.name)
    used: dict[str, tuple[list[str], list[str]]] = {}
    for b in behaviors:
        key = _key(b)
        d = decl[b.name]
        for attr, role in (("reads", 0), ("writes", 1)):
            for name in d[attr]:
                if name in builtin:
                    used.setdefault(name, ([], []))[role].append(b.name)
                elif name in names:
                    (names[name].readers, names[name].writers)[role].append(b.name)
                else:
                    raise ConfigError(source, key, f"{_where(b.cls)}: {attr} '{name}': unknown "
                                      f"name{_suggest(name, [*builtin, *names])}")
    builtin_merge = _check_writers(behaviors, decl, names, used, source)
    for u in names.values():
        for reader in u.readers:
            if not u.writers and reader not in u.owners:
                b = next(x for x in behaviors if x.name == reader)
                raise ConfigError(source, _key(b), f"{_where(b.cls)}: reads '{u.name}' but "
                                  "no behavior or input adapter writes it (declared by "
                                  f"{', '.join(u.owners)})")
    idx = {}
    for b in behaviors:
        idx[b.name] = np.array([names[n].index for n in index_names(b.cls)], dtype=np.int64)
    return Layout(names=names, idx=idx, n_scalars=n_scalars, user_len=user_len,
                  builtins=dict(sorted(used.items(), key=lambda kv: slots.get(kv[0], 999))),
                  builtin_merge=builtin_merge)


def _check_writers(behaviors: Sequence[Any], decl: dict[str, dict[str, Any]],
                   names: dict[str, UserName], used: dict[str, tuple[list[str], list[str]]],
                   source: str) -> dict[str, str]:
    """One writer per name, or the same merge rule declared by every writer; returns the
    merge rules of the built-in names with several writers."""
    builtin_merge = {}
    writers = {name: w for name, (_, w) in used.items()}
    writers.update({name: u.writers for name, u in names.items()})
    for name, who in writers.items():
        if len(who) < 2:
            if who and name in names:
                names[name].merge = decl[who[0]]["merge"].get(name, "")
            continue
        rules = {w: decl[w]["merge"].get(name) for w in who}
        missing = [w for w, r in rules.items() if r is None]
        if missing or len(set(rules.values())) > 1:
            w = missing[-1] if missing else who[-1]
            b = next(x for x in behaviors if x.name == w)
            others = ", ".join(_key(x) for x in behaviors if x.name in who and x.name != w)
            raise ConfigError(source, _key(b), f"{_where(b.cls)}: writes '{name}', "
                              f"also written by {others}: one writer per name, unless every "
                              f"writer declares the same merge rule (merge = {{'{name}': "
                              f"'max'}}; rules: {', '.join(MERGE_RULES)})")
        if name in names:
            names[name].merge = rules[who[0]]
        else:
            builtin_merge[name] = rules[who[0]]
    return builtin_merge
