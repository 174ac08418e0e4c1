"""Where robo_orch runs: 64-bit Linux on x86_64 or aarch64; 32-bit ARM is refused early.

numba (the planning core) publishes no wheels for 32-bit ARM (``armv7l``,
``armv6l``: Raspberry Pi OS 32-bit), and neither does foxglove-sdk, so pip would
try to compile LLVM bindings from source for an hour and fail with a cryptic
error.  ``pip install`` from a clone (``setup.py``) and ``import robo_orch`` both
call :func:`unsupported` and stop with one line saying why and what to install
instead.  ``.ci/check-platforms`` checks that every dependency has wheels for the
supported platforms.

A leaf module with no imports beyond the standard library: ``setup.py`` loads it
by path, before any dependency is installed.
"""

from __future__ import annotations

import platform
import struct

#: CPU architectures with wheels for every dependency (``platform.machine()``)
SUPPORTED = ("x86_64", "aarch64")
_ARM32 = ("armv6", "armv7", "armv8l", "armhf", "arm")


def unsupported(machine: str | None = None, pointer_bits: int | None = None) -> str | None:
    """Why this platform cannot run robo_orch (None: it can).

    ``machine`` and ``pointer_bits`` default to this interpreter's.
    """
    machine = (platform.machine() if machine is None else machine).lower()
    bits = struct.calcsize("P") * 8 if pointer_bits is None else pointer_bits
    if machine.startswith(_ARM32) or (machine in ("aarch64", "arm64") and bits == 32):
        return (f"robo_orch does not run on 32-bit ARM ({machine}, a {bits}-bit Python): numba "
                "and foxglove-sdk publish no wheels for it. On a Raspberry Pi install Raspberry "
                "Pi OS 64-bit (Bookworm or later); on a Jetson, JetPack's 64-bit Ubuntu")
    if bits == 32:
        return (f"robo_orch needs a 64-bit Python (this one is {bits}-bit on {machine}): numba "
                "publishes no 32-bit Linux wheels. Supported: x86_64 and aarch64")
    return None
