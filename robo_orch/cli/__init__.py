"""The ``robo-orch`` command: :mod:`~robo_orch.cli.main` parses the arguments and
dispatches to one module per command group.  Importing this package loads nothing
heavy, so ``--help`` is quick."""
