"""One line of `obsgen check`'s report: which tool checked what, and how it went."""

from __future__ import annotations

from dataclasses import dataclass

# passed: the tool ran and accepted it; failed: it ran and refused it (or obsgen's own proof failed);
# not found: the tool is not installed; skipped: nothing was checked, and `output` says why.
STATUSES = ("passed", "failed", "not found", "skipped")


@dataclass(frozen=True)
class Result:
    tool: str
    target: str
    status: str  # one of STATUSES
    output: str = ""
    # output-relative paths this check read; a file no result names was not checked by anything
    files: tuple[str, ...] = ()
