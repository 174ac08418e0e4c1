"""The loop's control endpoint: the one way tools talk to a running loop, with acknowledgements.

A real-time loop (``robo-orch run``, realtime ``robo-orch sim``) binds one
ZeroMQ ROUTER socket, ``control.sock`` in its private run directory (mode
0600), and lists it in its discovery file.  Tools find it like ``robo-orch
topics`` finds runs and send small versioned JSON requests with request ids:
``ping``, ``status``, ``estop`` and the ``param.*`` operations; remote
(CURVE-authenticated, possibly read-only) clients share the same operation table.

* :mod:`~robo_orch.control.protocol`: the wire format, error codes, exceptions;
* :mod:`~robo_orch.control.server`: the ROUTER socket and the operation table,
  served from inside the tick without blocking;
* :mod:`~robo_orch.control.endpoint`: the loop's operations and the actuator
  drivers' e-stop confirmations;
* :mod:`~robo_orch.control.params`: ``param.list``, ``param.get``, ``param.set``;
* :mod:`~robo_orch.control.client`: finding an endpoint and calling it;
* :mod:`~robo_orch.cli.control`: ``robo-orch estop`` and ``robo-orch status``;
  :mod:`~robo_orch.cli.param`: ``robo-orch param``.

Importing this package loads nothing heavy.
"""
