"""robo_orch: a Python sense-plan-act coordinator for robots."""

from robo_orch import platforms as _platforms

if _platforms.unsupported():  # 32-bit ARM: say why before numba fails to import
    raise ImportError(_platforms.unsupported())

from robo_orch import _numba_env  # noqa: F401  (sets the numba cache dir before numba loads)
from robo_orch.errors import RoboOrchError

__all__ = ["RoboOrchError", "__version__"]
__version__ = "0.1.0"
