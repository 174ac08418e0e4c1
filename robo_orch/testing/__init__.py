"""For tests and plugin authors: slow, obviously correct reference implementations of
the compiled kernels (:mod:`~robo_orch.testing.naive` for the core,
:mod:`~robo_orch.testing.naive_nav` for navigation,
:mod:`~robo_orch.testing.naive_behaviors` for the built-in behaviors), and the stream
damage a serial parser must survive (:mod:`~robo_orch.testing.mutations`); and checkers
for plugin authors: :func:`check_behavior` (:mod:`~robo_orch.testing.behavior_check`)."""

from typing import Any


def __getattr__(name: str) -> Any:
    """Lazy checkers: importing this package loads no numba."""
    if name == "check_behavior":
        from robo_orch.testing.behavior_check import check_behavior

        return check_behavior
    raise AttributeError(f"module 'robo_orch.testing' has no attribute '{name}'")
