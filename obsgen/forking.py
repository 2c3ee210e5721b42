"""How many processes obsgen may use (`jobs`), and what every forked worker does first (spec files parsed side
by side, services rendered side by side)."""

from __future__ import annotations

import os
import signal
import sys


def die_with_parent(parent: int) -> None:
    """The forked worker's start: it dies with this process, even one killed by SIGKILL, instead of
    working on for nobody; and a SIGTERM or SIGHUP simply ends it (the parent does the cleaning up)."""
    for name in ("SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    if sys.platform == "linux":
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)


MAX_JOBS = 8  # by default: each process more copies pages of the model it shares, for less and less gain


class JobsError(ValueError):
    """OBSGEN_JOBS holds something other than a number of processes."""


def jobs() -> int:
    """How many processes may render: OBSGEN_JOBS (1: this one only), else the cores this process may run
    on, at most MAX_JOBS."""
    value = os.environ.get("OBSGEN_JOBS", "").strip()
    if value:
        if not value.isdigit() or not 1 <= int(value) <= 64:
            raise JobsError(f"OBSGEN_JOBS must be a number of processes from 1 to 64, got {value!r}")
        return int(value)
    return min(len(os.sched_getaffinity(0)), MAX_JOBS) if hasattr(os, "sched_getaffinity") else 1
