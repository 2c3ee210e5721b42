"""Spec problems: one type for every error a person can act on, with its place in the file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

PathElem = str | int
Path = tuple[PathElem, ...]


def format_path(path: Path) -> str:
    """`("services", 2, "slos", 0, "objective")` -> `services[2].slos[0].objective`."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(elem)):
            out += ("." if out else "") + str(elem)
        else:
            out += "[" + json.dumps(str(elem)) + "]"
    return out or "(top level)"


# A check that names a second place (the first definition of a duplicate) writes `place(path)` into its
# message; `resolve_places` turns it into `services[0].name (line 12)` once the file's marks are known.
# The separator is a control character, which the loader refuses in every spec value.
_PLACE = "\x1e"
_PLACE_RE = re.compile(_PLACE + r"(\[.*?\])" + _PLACE)


def place(path: Path) -> str:
    return _PLACE + json.dumps(list(path)) + _PLACE


def resolve_places(message: str, mark_for: Callable[[Path], Mark | None]) -> str:
    def one(m: re.Match[str]) -> str:
        path = tuple(json.loads(m.group(1)))
        mark = mark_for(path)
        if mark is None:
            return format_path(path)
        return format_path(path) + (f" ({mark.file} line {mark.line})" if mark.file else f" (line {mark.line})")

    return _PLACE_RE.sub(one, message)


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based
    file: str | None = None  # in a spec folder, the file of the folder it is in


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    mark: Mark | None = None
    file: str | None = None  # in a spec folder, the file a problem without a line is about

    def render(self, filename: str) -> str:
        filename = (self.mark.file if self.mark else None) or self.file or filename
        where = filename if self.mark is None else f"{filename}:{self.mark.line}:{self.mark.col}"
        if not self.path:  # a problem with the file as a whole
            return f"{where}: {self.message}"
        return f"{where} {format_path(self.path)}: {self.message}"


class SpecError(Exception):
    """Raised with every problem found; the CLI prints them all and exits 2."""

    def __init__(self, filename: str, problems: list[Problem]):
        self.filename = filename
        self.problems = problems
        super().__init__("\n".join(p.render(filename) for p in problems))

    def lines(self) -> list[str]:
        return [p.render(self.filename) for p in self.problems]
