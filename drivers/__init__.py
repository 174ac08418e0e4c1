"""Hardware drivers (serial devices through pyserial), one module per device protocol.

Drivers run in their own processes and never import numba.  The serial drivers
arrive with the hardware issue; this package exists so that they, and a user's
own drivers, register under the ``robo_orch.drivers`` entry-point group.
"""
