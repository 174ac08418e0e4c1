"""Introspection of a running robot from another terminal: ``robo-orch topics``.

:mod:`~robo_orch.introspect.endpoints` writes and reads the discovery files the
ZeroMQ bus keeps; :mod:`~robo_orch.introspect.probe` listens to topics and
computes rates from the publishers' stamps; :mod:`~robo_orch.introspect.cli`
has the ``topics``, ``topics echo`` and ``topics hz`` commands.  Importing this
package loads nothing heavy: the bus of every process (drivers too) imports the
discovery part.
"""

from __future__ import annotations

from robo_orch.introspect.cli import add_parser, run

__all__ = ["add_parser", "run"]
