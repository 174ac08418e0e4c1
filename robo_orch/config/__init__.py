"""Configuration: TOML files to validated, typed objects.

* :mod:`~robo_orch.config.source`: reading files safely (``extends``, shipped
  configs, ``--set``);
* :mod:`~robo_orch.config.load`: building and cross-checking a :class:`Config`;
* :mod:`~robo_orch.config.sections`: the dataclasses of each section;
* :mod:`~robo_orch.config.estimator`: the ``[estimator]`` section;
* :mod:`~robo_orch.config.inputs`: the ``[inputs.NAME]`` tables and their adapters;
* :mod:`~robo_orch.config.drivers`: the ``[drivers.NAME]`` tables;
* :mod:`~robo_orch.config.network`: tcp endpoints and CURVE keys of ``[bus]``;
* :mod:`~robo_orch.config.describe`: ``robo-orch check`` and the README reference.

The names below are the public API; import them from here.
"""

from __future__ import annotations

from robo_orch.config.inputs import INPUT_ROLES, ROLE_MEASUREMENTS, AdapterSpec
from robo_orch.config.load import (
    BLIND_ROLES,
    BehaviorSpec,
    Config,
    TopicsConfig,
    blind_warning,
    build_config,
    load_config,
    refuse_centre_keys,
    start_warnings,
    stopping_time,
    world_clearance,
)
from robo_orch.config.source import (
    apply_overrides,
    embedded_config_path,
    parse_override,
    read_toml,
    read_with_extends,
    shipped_scenarios,
)

__all__ = ["BLIND_ROLES", "INPUT_ROLES", "ROLE_MEASUREMENTS", "AdapterSpec", "BehaviorSpec",
           "Config", "TopicsConfig",
           "apply_overrides", "blind_warning", "build_config", "embedded_config_path",
           "load_config", "parse_override", "read_toml", "read_with_extends",
           "refuse_centre_keys", "shipped_scenarios", "start_warnings", "stopping_time",
           "world_clearance"]
