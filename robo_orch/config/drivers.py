"""``[drivers.NAME]`` tables: the shared keys, and the rest validated by the driver's class."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robo_orch import registry, schema
from robo_orch.driver import Driver, DriverSpec
from robo_orch.errors import ConfigError, MessageError, RegistryError
from robo_orch.messages import frame_id_bytes

_SPEC_KEYS = tuple(f.name for f in dataclasses.fields(DriverSpec))


@dataclass(frozen=True)
class DriverConfig:
    """One configured driver: its name, shared settings, class and own parameters."""

    name: str
    spec: DriverSpec
    cls: type[Driver]
    params: Any


def build_driver(name: str, table: Mapping[str, Any], *, source: str,
                 prefix: str | None = None, base_dir: Path | None = None) -> DriverConfig:
    """Validate one driver table (``prefix`` is its dotted key, for error messages).

    ``kind`` may name a ``.py`` file, relative to ``base_dir`` (the config's folder).
    """
    prefix = prefix or f"drivers.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(source, prefix, "expected a table with at least 'kind' and 'port'")
    kind = table.get("kind")
    if not isinstance(kind, str):
        raise ConfigError(source, f"{prefix}.kind", "missing driver kind (known: "
                          f"{', '.join(registry.names(registry.DRIVERS))})")
    try:
        cls = registry.load(registry.DRIVERS, kind, base_dir=base_dir)
    except RegistryError as err:
        raise ConfigError(source, f"{prefix}.kind", str(err)) from None
    own = {k: v for k, v in table.items() if k not in _SPEC_KEYS}
    shared = {k: v for k, v in table.items() if k in _SPEC_KEYS}
    own_keys = [f.name for f in dataclasses.fields(cls.Params)]
    for key in own:
        if key not in own_keys:
            raise schema.unknown_key_error(source, f"{prefix}.{key}", key,
                                           [*_SPEC_KEYS, *own_keys])
    spec = schema.build(DriverSpec, shared, source=source, prefix=prefix)
    frame_id = spec.frame_id or name
    try:
        frame_id_bytes(frame_id)
    except MessageError as err:
        why = (f"the driver's name is its frame id by default, and {err}" if not spec.frame_id
               else str(err))
        raise ConfigError(source, f"{prefix}.frame_id", why) from None
    params = schema.build(cls.Params, own, source=source, prefix=prefix)
    return DriverConfig(name=name, spec=spec, cls=cls, params=params)


def build_drivers(table: Any, source: str,
                  base_dir: Path | None = None) -> dict[str, DriverConfig]:
    """Every driver of a ``[drivers]`` table, in file order (disabled ones left out)."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError(source, "drivers", "expected a table with one sub-table per driver")
    out = {}
    for name, entry in table.items():
        cfg = build_driver(name, entry, source=source, base_dir=base_dir)
        if cfg.spec.enabled:
            out[name] = cfg
    return out
