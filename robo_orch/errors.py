"""The one exception tree of robo_orch.

Every error the framework raises on purpose derives from :class:`RoboOrchError`.
Where a builtin meaning fits (a bad value, a time-out) the class inherits it too,
so ``except ValueError`` keeps working for callers who do not know robo_orch.
"""

from __future__ import annotations


class RoboOrchError(Exception):
    """Base of every error raised by robo_orch on purpose."""

    #: process exit status the command line uses for this class of error
    exit_status = 3


class ConfigError(RoboOrchError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    The message always names the file, the key and the problem, on one line.
    """

    exit_status = 2

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class RoboOrchWarning(UserWarning):
    """Base of robo_orch's warnings; the command line prints each as one line."""


class UsageError(RoboOrchError, ValueError):
    """The command line was used wrongly."""

    exit_status = 2


class RegistryError(RoboOrchError, LookupError):
    """No implementation is registered under the requested name."""

    exit_status = 2


class MessageError(RoboOrchError, ValueError):
    """A message could not be encoded or decoded (bad layout, version or size)."""


class BusError(RoboOrchError, OSError):
    """The message bus could not be set up or used."""


class LoopError(RoboOrchError, RuntimeError):
    """The fixed-rate loop hit a fault it cannot continue from."""


class BackendError(RoboOrchError, RuntimeError):
    """A simulator or device backend failed to start or died."""


class BackendTimeout(BackendError, TimeoutError):
    """A backend did not become ready in time."""
