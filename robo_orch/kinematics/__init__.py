"""Kinematics: the seam between robo_orch and a kind of base (see :mod:`.base`)."""

from __future__ import annotations

from robo_orch.kinematics.base import Kinematics, kinematics_for

__all__ = ["Kinematics", "kinematics_for"]
