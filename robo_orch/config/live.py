"""Live parameter changes: which keys a running loop may change, validated like a config file.

Every config key is marked in the schema (:func:`robo_orch.schema.option`'s
``live``) as *live* (the loop may change it between ticks) or *restart-only* (the
default: anything that resizes state, changes the structure of the run, or is
repeated by another process that would not learn the new value).

* :func:`flatten` lists every key of a validated :class:`Config` with its value and mark;
* :func:`propose` takes ``KEY = VALUE`` changes (``robo-orch param set``), checks
  each key exists and is live, validates the changed sections with the same schema
  and the same cross-field checks as a config file (one-line
  :class:`~robo_orch.errors.ConfigError`), and returns a :class:`LiveChange`: the
  new config and the new parameter arrays;
* :func:`from_file` does the same for a whole config file saved again (``--watch``):
  the changed keys must all be live, else :class:`RestartNeeded` names them.

Nothing here touches a running loop: :mod:`robo_orch.runtime.params` applies a
:class:`LiveChange` between ticks.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robo_orch import schema
from robo_orch.config.load import (
    _BEHAVIOR_KEYS,
    _SECTIONS,
    BehaviorSpec,
    Config,
    check_config,
    load_config,
)
from robo_orch.config.sections import BehaviorEntry
from robo_orch.core import safety_steps as saf  # (flags and limits; no kernel compiled)
from robo_orch.errors import ConfigError

#: how a change is named in errors and records: ``robo-orch param set``
SET_SOURCE = "param set"


class RestartNeeded(ConfigError):
    """A change names restart-only keys (or changes the structure): a restart is needed."""

    def __init__(self, source: str, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        what = "is restart-only" if len(self.keys) == 1 else "are restart-only"
        super().__init__(source, ", ".join(self.keys),
                         f"{what}: restart needed (live keys: robo-orch param list --live)")


@dataclass(frozen=True)
class Key:
    """One config key of a validated config: its value (JSON-ready) and whether it is live."""

    value: Any
    live: bool


@dataclass
class LiveChange:
    """A validated change, ready to be applied between two ticks.

    ``params`` holds the new parameter array of each behavior whose parameters
    changed, ``limits`` the new safety limits (None if unchanged), ``enabled`` the
    behaviors switched on or off; ``changes`` is what was asked for (key -> value,
    JSON-ready), as recorded.
    """

    config: Config
    changes: dict[str, Any]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    limits: np.ndarray | None = None
    enabled: dict[str, bool] = field(default_factory=dict)
    source: str = SET_SOURCE


def plain(value: Any) -> Any:
    """A validated value as JSON-ready data (tables as dicts, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _section_keys(out: dict[str, Key], prefix: str, obj: Any, live_ok: bool) -> None:
    """The keys of one validated dataclass; nested tables are restart-only as a whole."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            _section_keys(out, key, value, False)
        elif isinstance(value, Mapping) and all(dataclasses.is_dataclass(v)
                                                 for v in value.values()) and value:
            for name, entry in value.items():
                _section_keys(out, f"{key}.{name}", entry, False)
        else:
            out[key] = Key(plain(value), live_ok and bool(f.metadata.get("live", False)))


def flatten(config: Config) -> dict[str, Key]:
    """Every key of ``config`` (dotted, as in a config file) with its value and mark."""
    out: dict[str, Key] = {}
    for name in _SECTIONS:
        _section_keys(out, name, getattr(config, name), True)
    for role, inp in config.inputs.items():
        _section_keys(out, f"inputs.{role}", inp, False)
    for spec in config.behaviors:
        prefix = f"behaviors.{spec.name}"
        for f in dataclasses.fields(BehaviorEntry):
            if f.name == "params":
                continue
            value = spec.cls.kind if f.name == "kind" else getattr(spec, f.name)
            out[f"{prefix}.{f.name}"] = Key(plain(value), bool(f.metadata.get("live", False)))
        _section_keys(out, prefix, spec.params, True)
    for name, drv in config.drivers.items():
        for part in (drv, getattr(drv, "params", None)):
            if dataclasses.is_dataclass(part):
                for f in dataclasses.fields(part):
                    if f.name not in ("params", "cls", "name"):
                        out[f"drivers.{name}.{f.name}"] = Key(plain(getattr(part, f.name)),
                                                              False)
    return out


def find_key(keys: Mapping[str, Key], key: str, source: str) -> Key:
    """``keys[key]``, or a one-line error: unknown (with a suggestion), or a table."""
    found = keys.get(key)
    if found is not None:
        return found
    below = [k for k in keys if k.startswith(key + ".")]
    if below:
        raise ConfigError(source, key, f"is a table; name one of its keys, e.g. {below[0]}")
    close = difflib.get_close_matches(key, list(keys), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(source, key, f"unknown key{hint}")


def propose(config: Config, changes: Mapping[str, Any], *, source: str = SET_SOURCE,
            keys: Mapping[str, Key] | None = None) -> LiveChange:
    """Validate ``changes`` (key -> value) against ``config``; a :class:`LiveChange` or an error.

    ``keys``: :func:`flatten` of ``config``, if the caller keeps it (saves its cost).
    Every key must exist and be live (else :class:`RestartNeeded` names the
    restart-only ones); the changed sections are rebuilt with the schema and the
    whole config passes the cross-field checks of a config file.
    """
    if not changes:
        raise ConfigError(source, "", "no keys to change")
    keys = flatten(config) if keys is None else keys
    for key in changes:
        find_key(keys, key, source)
    fixed = [k for k in changes if not keys[k].live]
    if fixed:
        raise RestartNeeded(source, fixed)
    sections: dict[str, dict[str, Any]] = {}
    behaviors: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        head, rest = key.split(".", 1)
        if head == "behaviors":
            name, sub = rest.split(".", 1)
            behaviors.setdefault(name, {})[sub] = value
        else:
            sections.setdefault(head, {})[rest] = value
    replaced: dict[str, Any] = {}
    for name, table in sections.items():
        current = getattr(config, name)
        merged = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        merged.update(table)
        replaced[name] = schema.build(type(current), merged, source=source, prefix=name)
    specs = list(config.behaviors)
    enabled: dict[str, bool] = {}
    changed_params: list[int] = []
    for i, spec in enumerate(specs):
        table = behaviors.get(spec.name)
        if table is None:
            continue
        specs[i] = spec = _new_spec(spec, table, source)
        if any(k not in _BEHAVIOR_KEYS for k in table):
            changed_params.append(i)
        if "enabled" in table:
            enabled[spec.name] = spec.enabled
    raw = _new_raw(config.raw, changes)
    new = dataclasses.replace(config, behaviors=tuple(specs), raw=raw, **replaced)
    try:
        check_config(new, live=True)
    except ConfigError as err:
        raise ConfigError(source, err.key, err.problem) from None
    return _change(new, {k: _value_of(new, k) for k in changes}, changed_params, enabled,
                   "safety" in replaced or "robot" in replaced, source)


def _value_of(config: Config, key: str) -> Any:
    """The validated value of a live ``key`` in ``config`` (``3`` given: ``3.0`` stored)."""
    head, rest = key.split(".", 1)
    if head != "behaviors":
        return plain(getattr(getattr(config, head), rest))
    name, sub = rest.split(".", 1)
    spec = next(b for b in config.behaviors if b.name == name)
    return plain(getattr(spec, sub) if sub in _BEHAVIOR_KEYS else getattr(spec.params, sub))


def _new_spec(spec: BehaviorSpec, table: Mapping[str, Any], source: str) -> BehaviorSpec:
    prefix = f"behaviors.{spec.name}"
    own = {k: v for k, v in table.items() if k in _BEHAVIOR_KEYS}
    params = {k: v for k, v in table.items() if k not in _BEHAVIOR_KEYS}
    out = spec
    if own:
        entry = {"kind": spec.cls.kind, "priority": spec.priority, "divisor": spec.divisor,
                 "enabled": spec.enabled, "blendable": spec.blendable, **own}
        built = schema.build(BehaviorEntry, entry, source=source, prefix=prefix)
        out = dataclasses.replace(out, enabled=built.enabled, priority=built.priority,
                                  divisor=built.divisor)
    if params:
        merged = {f.name: getattr(spec.params, f.name)
                  for f in dataclasses.fields(spec.params)}
        merged.update(params)
        out = dataclasses.replace(out, params=spec.cls.parse_params(merged, source=source,
                                                                    prefix=prefix))
    return out


def _new_raw(raw: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with each change written in (tables on the way copied, the rest shared)."""
    out = dict(raw)
    for key, value in changes.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}
            node[part] = child
            node = child
        node[parts[-1]] = plain(value)
    return out


def _change(new: Config, changes: dict[str, Any], params_of: Sequence[int],
            enabled: dict[str, bool], limits: bool, source: str) -> LiveChange:
    params = {new.behaviors[i].name: new.behaviors[i].cls.pack_params(new.behaviors[i].params)
              for i in params_of}
    packed = None
    if limits:
        packed = saf.pack_limits(new.safety, new.robot)
        if new.robot.footprint:  # keep the footprint's circles after the limits
            from robo_orch.core.footprint_stop import footprint_limits_polygon

            packed = footprint_limits_polygon(packed, new.robot.circles()[0],
                                              new.robot.footprint)
    return LiveChange(new, changes, params, packed, enabled, source)


def diff(old: Config, new: Config) -> tuple[dict[str, Any], list[str]]:
    """``(changed live keys -> new value, changed restart-only keys)`` from ``old`` to ``new``.

    A key that only one of them has (a behavior added or removed) is restart-only.
    """
    a, b = flatten(old), flatten(new)
    live: dict[str, Any] = {}
    fixed: list[str] = []
    for key in [*a, *(k for k in b if k not in a)]:
        was, now = a.get(key), b.get(key)
        if was is not None and now is not None and _same(was.value, now.value):
            continue
        if was is not None and now is not None and was.live:
            live[key] = now.value
        else:
            fixed.append(key)
    return live, fixed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def from_file(config: Config, path: str | Path, overrides: Sequence[str] = ()) -> LiveChange:
    """The change that makes the running ``config`` what ``path`` (with ``overrides``) says.

    The file is loaded and validated like at start-up (its errors name it); its
    changed keys must all be live, else :class:`RestartNeeded` names the others.  A
    :class:`LiveChange` with no ``changes`` means the file says what runs already.
    """
    new = load_config(path, overrides)
    live, fixed = diff(config, new)
    if fixed:
        raise RestartNeeded(str(path), fixed)
    if not live:
        return LiveChange(config, {}, source=str(path))
    changed = {k.split(".")[1] for k in live if k.startswith("behaviors.")
               and k.split(".", 2)[2] not in _BEHAVIOR_KEYS}
    params_of = [i for i, b in enumerate(new.behaviors) if b.name in changed]
    enabled = {k.split(".")[1]: bool(v) for k, v in live.items()
               if k.startswith("behaviors.") and k.endswith(".enabled")}
    limits = any(k.startswith(("safety.", "robot.")) for k in live)
    return _change(new, live, params_of, enabled, limits, str(path))


def parse_value(text: str) -> Any:
    """A ``VALUE`` of the command line: TOML (``0.5``, ``true``, ``[1, 2]``), else a string."""
    from robo_orch.config.source import parse_override

    return parse_override(f"v={text}")[1]
