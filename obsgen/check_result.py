"""One line of `obsgen check`'s report (which tool checked what, and how it went), and the output's YAML
files as the checks read them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

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


def load_yaml(path: Path) -> Any:
    """A YAML file of the output tree, parsed once however many checks read it (the rule files are read by
    the coverage count and the route proof). The data is shared: callers do not change it."""
    stat = path.stat()
    return _parsed(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4096)
def _parsed(path: str, mtime_ns: int, size: int) -> Any:
    return yaml.load(Path(path).read_text("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
