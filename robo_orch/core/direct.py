"""Direct calls of eagerly compiled kernels, past the numba dispatcher's argument typing.

A numba dispatcher types every argument of every call before it picks the compiled
code (about 0.2 us a call; a lockstep tick makes a dozen such calls around the
estimator and the arbitration).  A kernel compiled eagerly for exactly one signature
can be called through that overload's entry point instead: the same machine code
and the same results, without the typing.

The entry point converts scalars and refuses an array of another dtype, but it does
**not** check an array's layout or number of dimensions.  So use :func:`direct`
only where every array argument is the caller's own preallocated array, and check
those once with :func:`require_contiguous` where they are made.  Anywhere else, call
the kernel itself.  Without numba's JIT (``NUMBA_DISABLE_JIT``) or for a kernel with
no single compiled signature, :func:`direct` returns the kernel unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def direct(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """The compiled entry point of ``kernel``'s one eager signature (else ``kernel``)."""
    signatures = getattr(kernel, "signatures", None)
    overloads = getattr(kernel, "overloads", None)
    if not signatures or len(signatures) != 1 or not overloads:
        return kernel
    compiled = overloads.get(signatures[0])
    return kernel if compiled is None else compiled.entry_point


def contiguous(array: object, ndim: int) -> bool:
    """True if ``array`` is a C-contiguous numpy array of ``ndim`` dimensions."""
    return isinstance(array, np.ndarray) and array.ndim == ndim and array.flags.c_contiguous


def require_contiguous(**arrays: tuple[np.ndarray, int]) -> None:
    """Raise ``ValueError`` unless every ``name=(array, ndim)`` is a C-contiguous array of
    ``ndim`` dimensions (the entry point checks the dtype itself)."""
    for name, (array, ndim) in arrays.items():
        if not contiguous(array, ndim):
            raise ValueError(f"{name}: a direct kernel call needs a C-contiguous {ndim}-D "
                             f"array, got {type(array).__name__} {getattr(array, 'shape', '')}")
