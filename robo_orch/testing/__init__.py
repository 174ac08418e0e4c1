"""For tests and plugin authors: slow, obviously correct reference implementations of
the compiled kernels (:mod:`~robo_orch.testing.naive` for the core,
:mod:`~robo_orch.testing.naive_nav` for navigation,
:mod:`~robo_orch.testing.naive_behaviors` for the built-in behaviors), and the stream
damage a serial parser must survive (:mod:`~robo_orch.testing.mutations`); the plugin
checkers ``check_behavior``, ``check_adapter``, ``check_driver`` and ``check_parser``."""

from robo_orch.testing.behavior_check import check_behavior  # noqa: F401
from robo_orch.testing.check_adapter import check_adapter  # noqa: F401
from robo_orch.testing.check_driver import check_driver  # noqa: F401
from robo_orch.testing.check_parser import check_parser  # noqa: F401
from robo_orch.testing.check_report import CheckFailed, CheckReport  # noqa: F401
