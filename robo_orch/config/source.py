"""Where a config's raw tables come from: files (safely), ``extends``, shipped configs, ``--set``.

A config file is read only if it is a regular file of UTF-8 text of at most
:data:`MAX_FILE_BYTES` (:mod:`robo_orch.files`), its tables and arrays nested at most
:data:`MAX_DEPTH` deep; an ``extends`` chain is at most :data:`MAX_EXTENDS` files
long.  Every problem is a one-line :class:`ConfigError` naming the file.
:mod:`robo_orch.config.load` validates what these functions return.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from robo_orch import files
from robo_orch.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Jetson boards ship Python 3.10
    import tomli as tomllib

MAX_FILE_BYTES = 8 << 20  #: a config file larger than this is refused
MAX_DEPTH = 32  #: tables and arrays nested deeper than this are refused
MAX_EXTENDS = 16  #: files in one ``extends`` chain


def embedded_config_path(name: str = "demo") -> Path:
    """Path of a config shipped inside the package (``demo`` or a scenario name)."""
    data = resources.files("robo_orch") / "data"
    for candidate in (data / f"{name}.toml", data / "scenarios" / f"{name}.toml"):
        if candidate.is_file():
            return Path(str(candidate))
    shipped = [p.stem for p in Path(str(data)).glob("*.toml")] + [
        p.stem for p in shipped_scenarios()]
    close = difflib.get_close_matches(name, shipped, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(name, "", f"no such config file or shipped scenario{hint}")


def shipped_scenarios() -> list[Path]:
    """The scenario files shipped with the package, sorted by name."""
    folder = Path(str(resources.files("robo_orch") / "data" / "scenarios"))
    return sorted(folder.glob("*.toml"))


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; every problem with it becomes a one-line ConfigError.

    Only a regular file of at most :data:`MAX_FILE_BYTES` of UTF-8 text is read
    (:mod:`robo_orch.files`), nested at most :data:`MAX_DEPTH` deep.
    """
    try:
        text = files.read_text(path, MAX_FILE_BYTES)
    except files.BadFile as err:
        problem = str(err)
        if problem == "is a directory":
            problem += ", expected a .toml file"
        raise ConfigError(str(path), "", problem) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), "", f"invalid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(str(path), "", _too_deep()) from None
    if nesting_depth(raw) > MAX_DEPTH:
        raise ConfigError(str(path), "", _too_deep())
    return raw


def nesting_depth(value: Any) -> int:
    """How deeply tables and arrays nest in ``value`` (0: a plain value); no recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
        stack.extend((child, depth) for child in children)
    return deepest


def _too_deep() -> str:
    return f"tables or arrays nested deeper than {MAX_DEPTH} levels"


def read_with_extends(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a TOML file; a top-level ``extends = "base.toml"`` merges it over that base.

    Tables merge key by key; any other value (arrays included) replaces the base's.
    The base path is relative to the file, or the name of a shipped config.  A
    chain is at most :data:`MAX_EXTENDS` files long.
    """
    raw = read_toml(path)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(str(path), "extends", f"expected a file name, got {base!r}")
    base_path = path.parent / base
    if not base_path.exists() and Path(base).suffix == "":
        base_path = embedded_config_path(base)
    resolved = base_path.resolve()
    if resolved in _seen:
        raise ConfigError(str(path), "extends", f"circular: {base} extends itself")
    if len(_seen) + 1 >= MAX_EXTENDS:
        raise ConfigError(str(path), "extends", f"a chain of more than {MAX_EXTENDS} files "
                          "extending each other")
    if not base_path.exists():
        raise ConfigError(str(path), "extends", f"no such file: {base_path}")
    try:
        base_raw = read_with_extends(base_path, (*_seen, path.resolve()))
    except ConfigError as err:
        if err.source != str(base_path) or err.key:
            raise
        raise ConfigError(str(path), "extends", f"{base_path}: {err.problem}") from None
    return _merge(base_raw, raw)


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is read as TOML, else taken as a plain string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text}", "", "expected key=value")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    except RecursionError:
        raise ConfigError(f"--set {_short(text)}", key, _too_deep()) from None
    if nesting_depth(parsed) > MAX_DEPTH:
        raise ConfigError(f"--set {_short(text)}", key, _too_deep())
    return key, parsed


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, str]:
    """Apply ``--set`` overrides to ``raw`` in place; returns key -> original argument."""
    applied: dict[str, str] = {}
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, Mapping) else None
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {text}", key, f"'{prefix}' is not a table")
            node = child
        node[parts[-1]] = value
        applied[key] = text
    return applied
