"""Hardware drivers (serial devices through pyserial), one module per device protocol.

Drivers run in their own processes and never import numba.  The built-in ones are
listed in :mod:`robo_orch.registry`; a user's own drivers register under the
``robo_orch.drivers`` entry-point group, or are named by ``.py`` file in the config.
"""
