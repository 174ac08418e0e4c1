"""Behavior modules: each one a parameter class and a numba kernel (see robo_orch.behavior);
the ``dwa_*`` modules are the parts of ``avoid_obstacles``'s kernel."""
