"""The loop's control endpoint: the one way tools talk to a running loop, with acknowledgements.

A real-time loop (``robo-orch run``, realtime ``robo-orch sim``) binds one
ZeroMQ ROUTER socket, ``control.sock`` in its private run directory (mode
0600), and lists it in its discovery file.  Tools find it like ``robo-orch
topics`` finds runs and send small versioned JSON requests with request ids:
``ping``, ``status`` and ``estop`` today; parameter changes and remote
(CURVE-authenticated, possibly read-only) clients plug into the same operation
table later.

* :mod:`~robo_orch.control.protocol`: the wire format, error codes, exceptions;
* :mod:`~robo_orch.control.server`: the ROUTER socket and the operation table,
  served from inside the tick without blocking;
* :mod:`~robo_orch.control.endpoint`: the loop's operations and the actuator
  drivers' e-stop confirmations;
* :mod:`~robo_orch.control.client`: finding an endpoint and calling it;
* :mod:`~robo_orch.cli.control`: ``robo-orch estop`` and ``robo-orch status``.

Importing this package loads nothing heavy.
"""
