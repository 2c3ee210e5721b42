"""Spec problems: one type for every error a person can act on, with its place in the file."""

from __future__ import annotations

import json
import re
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


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    mark: Mark | None = None

    def render(self, filename: str) -> str:
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
