"""The ``[inputs.NAME]`` tables: the built-in inputs and the inputs with an input adapter.

The built-in inputs (:data:`INPUT_ROLES`: ``odom``, ``imu``, ``scan``, ``gps``) keep
their defaults; any other name must name an input adapter (``adapter = "KIND"``,
:mod:`robo_orch.adapter`), whose class is loaded through the registry and whose
parameters are the input's keys beyond :class:`~robo_orch.config.sections.InputConfig`'s.
The estimator's inputs (:data:`ROLE_MEASUREMENTS`) run through a built-in adapter
unless they name another one, which must hand the estimator the same measurement
(``[inputs.odom] adapter = "my_encoders"`` for wheel encoders of another message type).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robo_orch import registry, schema
from robo_orch.config.sections import InputConfig, default_inputs
from robo_orch.errors import ConfigError, MessageError, RegistryError
from robo_orch.messages import message_type

#: input roles the sense phase understands, and the message type each carries
INPUT_ROLES = {"odom": "wheel_odometry", "imu": "imu", "scan": "laser_scan",
               "gps": "position_fix"}
#: the built-in adapter of each built-in input (``odom``'s is the kinematics'
#: ``odometry_adapter``: ``wheel_speeds``, or ``body_velocity`` on a holonomic base)
BUILTIN_ADAPTERS = {"imu": "imu_gyro", "scan": "laser_points", "gps": "gps_fix"}
#: what an input adapter may hand the estimator (its ``fuses``, :mod:`robo_orch.adapter`):
#: the names of the ``state[0:3]`` its kernel leaves
MEASUREMENTS: dict[str, tuple[str, str, str]] = {
    "position": ("x", "y", "std"),
    "velocity": ("v", "w", "vy"),
    "yaw_rate": ("yaw_rate", "has_heading", "heading"),
}
#: the measurement (:data:`MEASUREMENTS`) each estimator input fuses:
#: an adapter named on one of these inputs must fuse that
ROLE_MEASUREMENTS = {"odom": "velocity", "imu": "yaw_rate", "gps": "position"}

@dataclass(frozen=True)
class AdapterSpec:
    """One input with an input adapter: the input's name, the adapter's class and
    validated parameters (:mod:`robo_orch.adapter`)."""

    input: str
    cls: type
    params: Any

    @property
    def name(self) -> str:
        """Its name in the layout (readers and writers, ``idx``): ``inputs.NAME``."""
        return f"inputs.{self.input}"

    @property
    def key(self) -> str:
        """The config key its declaration errors name."""
        return f"inputs.{self.input}.adapter"


_INPUT_KEYS = frozenset(f.name for f in dataclasses.fields(InputConfig))


def build_inputs(table: Any, source: str
                 ) -> tuple[dict[str, InputConfig], dict[str, dict[str, Any]]]:
    """The inputs, and the adapter parameter tables of those with an adapter (their keys
    beyond :class:`InputConfig`'s)."""
    inputs = dict(default_inputs())
    params: dict[str, dict[str, Any]] = {}
    if table is None:
        return inputs, params
    if not isinstance(table, Mapping):
        raise ConfigError(source, "inputs", "expected a table of inputs")
    for role, entry in table.items():
        adapter = entry.get("adapter") if isinstance(entry, Mapping) else None
        if role not in INPUT_ROLES and not adapter:
            err = schema.unknown_key_error(source, f"inputs.{role}", role, list(INPUT_ROLES))
            raise ConfigError(source, f"inputs.{role}", f"{err.problem}; an input of another "
                              "name needs an input adapter: adapter = \"KIND\"")
        if role in INPUT_ROLES and role not in ROLE_MEASUREMENTS and adapter:
            raise ConfigError(source, f"inputs.{role}.adapter", f"'{role}' is a built-in input "
                              "(the scan and the distance field are built from it); give an "
                              "input with an adapter a name of its own")
        if adapter:
            params[role] = {k: v for k, v in entry.items() if k not in _INPUT_KEYS}
            entry = {k: v for k, v in entry.items() if k in _INPUT_KEYS}
        known = inputs.get(role)
        merged = ({"topic": known.topic, **entry} if known is not None else dict(entry)) \
            if isinstance(entry, Mapping) else entry
        inputs[role] = schema.build(InputConfig, merged, source=source, prefix=f"inputs.{role}")
    return inputs, params


def build_adapters(inputs: Mapping[str, InputConfig], tables: Mapping[str, dict[str, Any]],
                    source: str, base_dir: Path | None) -> tuple[AdapterSpec, ...]:
    """Load each adapter input's class, check its message type, validate its parameters."""
    specs = []
    for name, table in tables.items():
        key = f"inputs.{name}.adapter"
        try:
            cls = registry.load(registry.ADAPTERS, inputs[name].adapter, base_dir=base_dir)
        except RegistryError as err:
            raise ConfigError(source, key, str(err)) from None
        try:
            message_type(cls.message)
        except (MessageError, AttributeError) as err:
            raise ConfigError(source, key, f"{cls.kind} consumes an unknown message type: "
                              f"{err}") from None
        fuses = getattr(cls, "fuses", "")
        if fuses and fuses not in MEASUREMENTS:
            raise ConfigError(source, key, f"{cls.kind} fuses '{fuses}', which the estimator "
                              f"does not take (one of: {', '.join(MEASUREMENTS)})")
        wanted = ROLE_MEASUREMENTS.get(name)
        if wanted and fuses != wanted:
            what = f"fuses '{fuses}'" if fuses else "hands the estimator nothing"
            raise ConfigError(source, key, f"inputs.{name} takes an adapter that fuses "
                              f"'{wanted}'; {cls.kind} {what}")
        params = cls.parse_params(table, source=source, prefix=f"inputs.{name}")
        specs.append(AdapterSpec(input=name, cls=cls, params=params))
    return tuple(specs)
