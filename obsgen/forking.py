"""How many processes obsgen may use (`jobs`), what every forked worker does first (spec files parsed side
by side, services rendered side by side), and a forked child that sends back one JSON value (`fork_json`: a
large spec's checks beside its resolving, joined files beside each other)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


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


class Forked:
    """A forked child working out one JSON value (`fork_json`), with its pid and the read end of the pipe the
    value comes through."""

    def __init__(self, pid: int, read_end: int) -> None:
        self.pid, self.read_end = pid, read_end

    def collect(self) -> dict[str, Any] | None:
        """{"value": the child's value}, or None if it did not finish well (the caller does the work itself)."""
        chunks = []
        while chunk := os.read(self.read_end, 1 << 20):
            chunks.append(chunk)
        self._close()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        try:
            data = json.loads(b"".join(chunks))
        except ValueError:
            return None
        return data if isinstance(data, dict) and "value" in data else None

    def end(self) -> None:
        """Stop and reap the child if `collect` did not (idempotent)."""
        self._close()
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self.pid, 0)
            self.pid = 0

    def _close(self) -> None:
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1


def fork_json(make: Callable[[], Any], nice: int = 0) -> Forked | None:
    """A forked child sending back `make()` as JSON, then leaving without running anything of the parent's
    (atexit, finally); None where it cannot be forked. `nice`: how much less CPU it asks for than this
    process (`os.nice`), for a child whose value is wanted after others'."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            die_with_parent(parent)
            gc.disable()  # short-lived: collecting would only copy the parent's pages it touches
            if nice:
                with contextlib.suppress(OSError):
                    os.nice(nice)
            view = memoryview(json.dumps({"value": make()}).encode())
            while view:
                view = view[os.write(write_end, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return Forked(pid, read_end)
