"""Behavior modules: each one a parameter class and a numba kernel (see robo_orch.behavior)."""
