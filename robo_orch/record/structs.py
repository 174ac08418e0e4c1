"""Packed numpy structured dtypes as ``struct`` formats (for reading records without numpy)."""

from __future__ import annotations

import numpy as np

_STRUCT_CODES = {"f8": "d", "f4": "f", "i8": "q", "u8": "Q", "i4": "i", "u4": "I",
                 "i2": "h", "u2": "H", "i1": "b", "u1": "B", "b1": "?"}


def struct_layout(dtype: np.dtype) -> tuple[str, dict[str, int]]:
    """A packed structured dtype as a ``struct`` format and each field's index in the tuple.

    Subarray fields unpack into consecutive items (``index[name]`` is the first).
    """
    fmt, index, i = "<", {}, 0
    for name in dtype.names:
        sub = dtype.fields[name][0]
        n = int(np.prod(sub.shape)) if sub.shape else 1
        fmt += (str(n) if n > 1 else "") + _STRUCT_CODES[sub.base.str[1:]]
        index[name] = i
        i += n
    return fmt, index
