"""Introspection of a running robot from another terminal: ``robo-orch topics``.

:mod:`~robo_orch.introspect.endpoints` finds the run directories and reads the
discovery files the ZeroMQ bus keeps (:mod:`robo_orch.bus.discovery`);
:mod:`~robo_orch.introspect.probe` listens to topics and computes rates from the
publishers' stamps (the ``topics``, ``topics echo`` and ``topics hz`` commands are
in :mod:`robo_orch.cli.topics`).  Importing this package loads nothing heavy.
"""
