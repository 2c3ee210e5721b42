"""A large spec's semantic checks (validate.check_spec) run in a forked process, beside the caller's own work on
the spec (resolving its model), so that loading takes the longer of the two rather than their sum.

At 10,000 services each takes about a second. The checks are a pure function of the Spec that the fork
shares with this process; what comes back is small (the problems, as paths and messages, and the notes), so
nothing large crosses between the processes. The caller's work runs on a spec not yet known to be valid:
whatever it raises is kept and re-raised only when the checks found no problem (a spec with problems is
reported as such, as if the work had not run). A child that fails in any way, or a platform without fork,
leaves the checks to this process: the result is the same, only not side by side.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ..forking import Forked, fork_json
from .errors import Path
from .models import Spec

T = TypeVar("T")
MIN_SERVICES = 200  # below this, both take a few tens of milliseconds: forking costs about what it saves

Checker = Callable[[Spec, "list[str] | None"], "list[tuple[Path, str]]"]


def checked_beside(spec: Spec, notes: list[str] | None, check: Checker, work: Callable[[Spec], T],
                   processes: int) -> tuple[list[tuple[Path, str]], Callable[[], T]]:
    """`check(spec, notes)`'s problems (its notes appended to `notes`) and a function returning what
    `work(spec)` returned (or raising what it raised), the two run side by side when `processes` allows
    more than one and the spec is large enough."""
    if processes < 2 or sys.platform != "linux" or len(spec.services) < MIN_SERVICES:
        return check(spec, notes), lambda: work(spec)
    child = _fork(spec, check)
    if child is None:
        return check(spec, notes), lambda: work(spec)
    done: dict[str, Any] = {}
    try:
        try:
            done["value"] = work(spec)
        except Exception as e:  # noqa: BLE001 - kept for when the checks find no problem (see the docstring)
            done["error"] = e
        found = _collected(child)
    finally:
        child.end()  # when interrupted (Ctrl-C, a signal), the child goes too, by its own handle
    if found is None:
        problems = check(spec, notes)
    else:
        problems, more = found
        if notes is not None:
            notes += more

    def result() -> T:
        if "error" in done:
            raise done["error"]
        return done["value"]

    return problems, result


def _collected(child: Forked) -> tuple[list[tuple[Path, str]], list[str]] | None:
    """The child's problems and notes, or None if it did not finish well (the caller checks again)."""
    found = child.collect()
    if found is None:
        return None
    try:
        data = found["value"]
        problems = [(tuple(p), m) for p, m in data["problems"]]
        notes = data["notes"]
    except (ValueError, KeyError, TypeError):
        return None
    if not (all(isinstance(m, str) and all(isinstance(e, (str, int)) for e in p) for p, m in problems)
            and isinstance(notes, list) and all(isinstance(n, str) for n in notes)):
        return None
    return problems, notes


def _fork(spec: Spec, check: Checker) -> Forked | None:
    def checked() -> dict[str, Any]:
        notes: list[str] = []
        problems = check(spec, notes)
        return {"problems": [[list(p), m] for p, m in problems], "notes": notes}

    return fork_json(checked)
