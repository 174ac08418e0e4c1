"""What a plugin checker returns, and raises when a check fails.

A checker (:func:`~robo_orch.testing.check_parser.check_parser`,
:func:`~robo_orch.testing.check_driver.check_driver`) runs every check even after one
fails, records each outcome in a :class:`CheckReport` and, unless told not to, raises
one :class:`CheckFailed` listing every failed check by name, as Gymnasium's
``check_env`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from robo_orch.errors import RoboOrchError


class CheckFailed(RoboOrchError, AssertionError):
    """A plugin failed one or more of its checker's checks (:attr:`report` says which)."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        lines = [f"  {name}: {problem}" for name, problem in report.failed.items()]
        super().__init__(f"{report.subject}: {len(lines)} of {len(report.results)} checks "
                         "failed:\n" + "\n".join(lines))


@dataclass
class CheckReport:
    """The outcome of each check, by name, in the order they ran: None when it passed,
    else one line saying what went wrong.  Checks not run (no emulator given, ...) are
    listed in :attr:`skipped` with the reason."""

    subject: str
    results: dict[str, str | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        """The failed checks and their problems."""
        return {k: v for k, v in self.results.items() if v is not None}

    @property
    def passed(self) -> list[str]:
        """The names of the checks that passed."""
        return [k for k, v in self.results.items() if v is None]

    @property
    def ok(self) -> bool:
        """Every check run passed."""
        return not self.failed

    def run(self, name: str, check: Callable[[], str | None]) -> None:
        """Run one check: it returns None or a problem, or raises (an uncaught
        exception is the check's failure, named with its type)."""
        try:
            problem = check()
        except Exception as err:  # noqa: BLE001 -- a checker reports, it does not crash
            text = " ".join(str(err).split()) or "(no message)"
            problem = f"raised {type(err).__name__}: {text[:300]}"
        self.results[name] = problem

    def raise_if_failed(self) -> CheckReport:
        """Raise :class:`CheckFailed` if a check failed; else return the report."""
        if self.failed:
            raise CheckFailed(self)
        return self

    def __str__(self) -> str:
        lines = [f"{self.subject}: {len(self.passed)} of {len(self.results)} checks passed"]
        lines += [f"  FAIL {k}: {v}" for k, v in self.failed.items()]
        lines += [f"  skipped {k}: {v}" for k, v in self.skipped.items()]
        return "\n".join(lines)
