"""Optional real-time scheduling: SCHED_FIFO priority and CPU pinning.

Both need privileges a normal user often lacks; each falls back with a single
warning and the loop runs anyway.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def apply_realtime(priority: int = 0, cpu: int = -1) -> list[str]:
    """Apply what is configured; returns the warnings issued (empty when all applied)."""
    warnings: list[str] = []
    if cpu >= 0:
        try:
            os.sched_setaffinity(0, {cpu})
        except (OSError, AttributeError, ValueError) as err:
            warnings.append(f"could not pin the loop to CPU {cpu} ({err}); running unpinned")
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError) as err:
            warnings.append(f"could not set SCHED_FIFO priority {priority} ({err}); running "
                            "with normal priority (grant CAP_SYS_NICE or an rtprio limit)")
    for text in warnings:
        log.warning(text)
    return warnings
