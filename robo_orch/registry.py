"""Implementations registered by name, found through entry points.

The framework never imports ``drivers/``, ``behaviors/`` or ``sim/`` by module path:
config names an implementation (``kind = "go_to_goal"``) and the registry finds
it in an entry-point group, importing the module only when it is chosen.  A
user's own package adds implementations by declaring entry points in the same
groups.  For quick experiments a behavior can also be named by module path
(``my_pkg.my_behavior:MyBehavior``) or by a ``.py`` file next to the config.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from robo_orch.errors import RegistryError

BEHAVIORS = "robo_orch.behaviors"
SIM_BACKENDS = "robo_orch.sim_backends"
BUSES = "robo_orch.buses"
CLOCKS = "robo_orch.clocks"
DRIVERS = "robo_orch.drivers"
#: extra sections of ``robo-orch bench``: ``fn(quick: bool) -> dict`` printing its own table
BENCHMARKS = "robo_orch.benchmarks"

_GROUP_WORDS = {BEHAVIORS: "behavior", SIM_BACKENDS: "simulator backend", BUSES: "bus backend",
                CLOCKS: "clock", DRIVERS: "driver",
                BENCHMARKS: "benchmark"}


def names(group: str) -> list[str]:
    """Registered names in an entry-point group, sorted."""
    return sorted({ep.name for ep in entry_points(group=group)})


def load(group: str, name: str, *, base_dir: Path | None = None) -> Any:
    """The object registered as ``name`` in ``group``.

    ``name`` may also be ``module:attr``, or a path to a ``.py`` file (relative to
    ``base_dir``) that defines exactly one subclass of the group's base class.
    """
    for ep in entry_points(group=group):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as err:  # a broken plugin must not look like a missing one
                raise RegistryError(f"{_GROUP_WORDS.get(group, group)} '{name}' failed to "
                                    f"load from {ep.value}: {_one_line(err)}") from err
    if name.endswith(".py"):
        return _load_file(group, name, base_dir)
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as err:
            raise RegistryError(f"cannot load '{name}': {err}") from err
    known = names(group)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    word = _GROUP_WORDS.get(group, group)
    raise RegistryError(f"unknown {word} '{name}' (known: {', '.join(known) or 'none'}){hint}")


def _load_file(group: str, name: str, base_dir: Path | None) -> Any:
    path = Path(name)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise RegistryError(f"no such file: {path}")
    module_name = f"robo_orch_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # numba's cache needs the module importable by name
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise RegistryError(f"{path} failed to import: {_one_line(err)}") from err
    base = _base_class(group)
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and base is not None and issubclass(obj, base)
             and obj is not base and obj.__module__ == module_name]
    if len(found) != 1:
        raise RegistryError(f"{path} must define exactly one {base.__name__} subclass, "
                            f"found {len(found)}")
    return found[0]


def _one_line(err: Exception, limit: int = 400) -> str:
    """An exception's message folded onto one line (numba's typing errors span many)."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _base_class(group: str) -> type | None:
    if group == BEHAVIORS:
        from robo_orch.behavior import Behavior

        return Behavior
    return None
