"""The ``robo-orch`` command: :mod:`~robo_orch.cli.main` parses the arguments and
dispatches to one module per command group.  Importing this package loads nothing
heavy, so ``--help`` is quick."""

import time

#: when the command's code began loading: ``sim`` counts its start-up time from here
STARTED = time.perf_counter()
