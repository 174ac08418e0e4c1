"""Typed, validated config sections built from plain TOML tables.

A section is a frozen dataclass whose fields are declared with :func:`option`,
which carries the constraints (range, choices) and a one-line doc.  :func:`build`
turns a TOML table into an instance and raises :class:`ConfigError` naming the
source file, the dotted key and the problem.  Behavior parameter classes use the
same machinery, so every tunable in robo_orch is validated the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import operator
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from robo_orch.errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    *,
    doc: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    length: int | None = None,
    live: bool = False,
) -> Any:
    """Declare a config field with its default, constraints and documentation.

    ``live``: the running loop may change it between ticks (``robo-orch param set``,
    ``--watch``); the default is restart-only, which anything that resizes state,
    changes the structure of the run or is repeated by another process must stay.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices,
            "length": length, "live": live}
    if isinstance(default, (list, dict)):
        frozen = tuple(default) if isinstance(default, list) else dict(default)
        return dataclasses.field(default_factory=lambda: frozen, metadata=meta)
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1 and len(typing.get_args(tp)) == 2:  # X | None: unset by default
        return _type_name(args[0])
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if origin in (tuple, list):
        return "a list"
    if origin in (dict, Mapping):
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return str(tp)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None and len(non_none) < len(args):
            return None
        errors = []
        for alt in non_none:
            try:
                return _convert(alt, value, source, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list):
        if isinstance(value, (list, tuple)):
            if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
                elem = args[0]
                return tuple(_convert(elem, v, source, f"{key}[{i}]")
                             for i, v in enumerate(value))
            if origin is tuple and args:
                if len(value) != len(args):
                    raise ConfigError(source, key, f"expected {len(args)} values, "
                                      f"got {len(value)}")
                return tuple(_convert(a, v, source, f"{key}[{i}]")
                             for i, (a, v) in enumerate(zip(args, value, strict=True)))
            elem = args[0] if args else Any
            return tuple(_convert(elem, v, source, f"{key}[{i}]") for i, v in enumerate(value))
    elif origin in (dict, Mapping):
        if isinstance(value, Mapping):
            vt = args[1] if len(args) == 2 else Any
            return {k: _convert(vt, v, source, f"{key}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            return build(tp, value, source=source, prefix=key)
        if dataclasses.is_dataclass(value):
            return value
    else:
        raise TypeError(f"unsupported config type {tp!r} at {key}")
    raise ConfigError(source, key, f"expected {_type_name(tp)}, got {_describe(value)}")


def _check(meta: Mapping[str, Any], value: Any, source: str, key: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        names = ", ".join(repr(c) for c in choices)
        raise ConfigError(source, key, f"must be one of {names}, got {_describe(value)}")
    length = meta.get("length")
    if length is not None and len(value) != length:
        raise ConfigError(source, key, f"expected {length} values, got {len(value)}")
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        for bound, ok, word in _BOUNDS:
            limit = meta.get(bound)
            if limit is not None and not ok(item, limit):
                raise ConfigError(source, key, f"must be {word} {limit}, got {_describe(item)}")


_BOUNDS = (("ge", operator.ge, ">="), ("gt", operator.gt, ">"), ("le", operator.le, "<="),
           ("lt", operator.lt, "<"))


@functools.lru_cache(maxsize=512)
def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a section class (resolving them costs ~0.1 ms a call)."""
    return typing.get_type_hints(cls)


def unknown_key_error(source: str, key: str, name: str, known: list[str]) -> ConfigError:
    """The error for a key that a section does not have, with a suggestion."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(source, key, f"unknown key{hint}")


def build(cls: type[T], table: Mapping[str, Any], *, source: str, prefix: str = "") -> T:
    """Validate ``table`` against the dataclass ``cls`` and return an instance."""
    if not isinstance(table, Mapping):
        raise ConfigError(source, prefix, f"expected a table, got {_describe(table)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in table:
        if name not in fields:
            key = key_of(prefix, name)
            raise unknown_key_error(source, key, name, list(fields))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = key_of(prefix, name)
        if name in table:
            value = _convert(hints[name], table[name], source, key)
        elif f.default is not _MISSING:
            value = f.default
        elif f.default_factory is not _MISSING:
            value = f.default_factory()
        else:
            raise ConfigError(source, key, "missing required key")
        _check(f.metadata, value, source, key)
        values[name] = value
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(source, prefix)
    return obj


def key_of(prefix: str, name: str) -> str:
    """The full config key of field ``name`` of the table at ``prefix`` ("" at the top)."""
    return f"{prefix}.{name}" if prefix else name


def check_order(params: Any, source: str, prefix: str, low: str, high: str, *,
                strict: bool = False) -> None:
    """A cross-field check for ``validate``: ``params.low <= params.high`` (``<`` if ``strict``).

    Otherwise a :class:`ConfigError` on the key of ``low`` that names the bound.
    """
    lo, hi = getattr(params, low), getattr(params, high)
    if lo >= hi if strict else lo > hi:
        raise ConfigError(source, key_of(prefix, low),
                          f"must be {'<' if strict else '<='} {high} ({hi})")


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """Rows (name, type, default, doc) for documenting a section; a live key's doc ends
    with "(live)"."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        doc = f.metadata.get("doc", "")
        if f.metadata.get("live"):
            doc = f"{doc} (live)" if doc else "(live)"
        rows.append((f.name, _type_name(hints[f.name]), default, doc))
    return rows


def pack(params: Any) -> Any:
    """A validated parameter dataclass as a float64 array in field order (what a
    compiled kernel takes: behaviors and input adapters)."""
    import numpy as np

    return np.array([float(getattr(params, f.name)) for f in dataclasses.fields(params)],
                    dtype=np.float64)


class KernelPlugin:
    """What behaviors and input adapters share (:class:`robo_orch.behavior.Behavior`,
    :class:`robo_orch.adapter.InputAdapter`): their parameters, state and declarations.

    :attr:`Params` is a dataclass of options validated from the plugin's config table;
    its kernel takes them packed into a float64 array, and a float64 ``state`` array of
    :attr:`state_size` values that persists between calls.  The declarations place its
    names in the config's world layout (:mod:`robo_orch.config.layout`).
    """

    #: dataclass of its parameters (numeric or boolean fields), from its config table
    Params: typing.ClassVar[type]
    #: number of float64 values of persistent state
    state_size: typing.ClassVar[int] = 1
    #: names it reads: built-in slots and arrays, user scalars and arrays
    reads: typing.ClassVar[tuple[str, ...]] = ()
    #: names it writes (a behavior's proposal goes to ``out``, not here)
    writes: typing.ClassVar[tuple[str, ...]] = ()
    #: its own user scalars (appended to ``state``; zero at start)
    scalars: typing.ClassVar[tuple[str, ...]] = ()
    #: its own user arrays in ``user``: name -> length (int, or an int parameter's name)
    arrays: typing.ClassVar[Mapping[str, int | str]] = {}
    #: merge rule of each name it writes together with other writers
    merge: typing.ClassVar[Mapping[str, str]] = {}

    @classmethod
    def parse_params(cls, table: Mapping[str, Any], *, source: str, prefix: str) -> Any:
        """Validate its config table (its own keys) into an instance of :attr:`Params`."""
        return build(cls.Params, table, source=source, prefix=prefix)

    @classmethod
    def pack_params(cls, params: Any) -> Any:
        """The parameter array handed to the kernel, in dataclass field order."""
        return pack(params)

    @classmethod
    def new_state(cls, params: Any) -> Any:
        """A zeroed state array (override to size it from the parameters)."""
        import numpy as np

        return np.zeros(max(1, cls.state_size), dtype=np.float64)
