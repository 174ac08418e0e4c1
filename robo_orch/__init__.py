"""robo_orch: a Python sense-plan-act coordinator for robots."""

from pathlib import Path as _Path

from robo_orch import platforms as _platforms

if _platforms.unsupported():  # 32-bit ARM: say why before numba fails to import
    raise ImportError(_platforms.unsupported())

from robo_orch import _numba_env  # noqa: F401  (sets the numba cache dir before numba loads)
from robo_orch.errors import RoboOrchError

__all__ = ["RoboOrchError", "__version__"]
__version__ = "0.1.0"

# In a source checkout, sim/, drivers/ and behaviors/ are folders beside this package
# (an install maps them inside it: setuptools package-dir).  A process that imports
# robo_orch from the checkout itself (``python -m`` started in it, with Python 3.10,
# which always puts the current directory first on sys.path) finds them there.
_here = _Path(__file__).resolve().parent
if not (_here / "sim").is_dir() and (_here.parent / "sim" / "__init__.py").is_file() \
        and (_here.parent / "pyproject.toml").is_file():
    __path__.append(str(_here.parent))
