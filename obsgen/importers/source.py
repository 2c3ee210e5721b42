"""Reading the files an importer takes: every YAML document of a file, with the place of every node.

Importers read other tools' formats, so a refusal names the source file, line and column and the path in
that document (`slos[1].sli.plugin`), as obsgen's own spec errors do (`spec.errors.Problem`). The YAML is
read as safely as a spec (`spec.load._Builder`: no arbitrary tags, no alias bombs, duplicate keys refused),
but a file may hold several documents (`---`), as Sloth's and Kubernetes' files do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from ..spec.errors import Mark, Path, Problem, SpecError
from ..spec.load import MAX_BYTES, _Builder, _mark

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass
class Document:
    """One YAML document of a source file: its data and the place of each of its nodes."""

    file: str
    index: int  # 0-based, in its file
    data: Any
    marks: dict[Path, yaml.Mark] = field(default_factory=dict)

    def mark(self, path: Path) -> Mark | None:
        p = tuple(path)
        while True:
            if p in self.marks:
                return _mark(self.marks[p])
            if not p:
                return None
            p = p[:-1]

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(tuple(path), message, self.mark(path), self.file)

    def where(self, path: Path) -> str:
        """`file:line` of a node, for the comments of the written spec."""
        m = self.mark(path)
        return f"{self.file}:{m.line}" if m else self.file


class SourceError(Exception):
    """Problems of the input files: each located, all printed, exit 2 and nothing written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [p.render(p.file or "<input>") for p in self.problems]


def read_documents(path: str | FsPath) -> list[Document]:
    """Every non-empty document of a YAML file, in order; SourceError when it cannot be read or parsed."""
    name = str(path)
    try:
        raw = FsPath(path).read_bytes()
    except OSError as e:
        raise SourceError([Problem((), f"cannot read it: {e.strerror or e}", None, name)]) from None
    if len(raw) > MAX_BYTES:
        raise SourceError([Problem((), f"larger than {MAX_BYTES // 2**20} MiB", None, name)])
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise SourceError([Problem((), f"not UTF-8 (byte 0x{raw[e.start]:02x})", None, name)]) from None
    docs: list[Document] = []
    try:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                builder = _Builder(name)
                try:
                    data = builder.build(node, ())
                except SpecError as e:
                    raise SourceError([Problem(p.path, p.message, p.mark, name) for p in e.problems]) from None
                if data is not None:
                    docs.append(Document(name, len(docs), data, builder.marks))
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        msg = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        mark = Mark(m.line + 1, m.column + 1) if m else None
        raise SourceError([Problem((), f"YAML syntax error: {msg}", mark, name)]) from None
    except yaml.YAMLError as e:
        raise SourceError([Problem((), f"YAML error: {e}", None, name)]) from None
    if not docs:
        raise SourceError([Problem((), "holds no YAML document", None, name)])
    return docs


def read_all(paths: Iterable[str | FsPath]) -> list[Document]:
    """The documents of every file, every file's problems together."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for p in paths:
        try:
            docs += read_documents(p)
        except SourceError as e:
            problems += e.problems
    if problems:
        raise SourceError(problems)
    return docs


class Refusals:
    """Collects located problems while an importer maps its documents, so every one is said at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, doc: Document, path: Path, message: str) -> None:
        self.problems.append(doc.problem(path, message))

    def raise_any(self) -> None:
        if self.problems:
            raise SourceError(self.problems)


def mapping(doc: Document, path: Path, value: Any, known: Iterable[str], what: str,
            refusals: Refusals) -> dict[str, Any]:
    """`value` as a mapping with only `known` keys; each other key (a typo, or a field of another version
    of the format) is refused at its place."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        refusals.add(doc, path, f"must be a mapping ({what})")
        return {}
    known = tuple(known)
    for key in value:
        if key not in known:
            refusals.add(doc, (*path, key), f"unknown key {key!r} in {what}; known: {', '.join(known)}")
    return value


def text(doc: Document, path: Path, value: Any, refusals: Refusals, required: bool = False) -> str | None:
    if value is None:
        if required:
            refusals.add(doc, path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        refusals.add(doc, path, "must be a string")
        return None
    return str(value)


def string_map(doc: Document, path: Path, value: Any, refusals: Refusals) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        refusals.add(doc, path, "must be a mapping of names to strings")
        return {}
    out = {}
    for k, v in value.items():
        if isinstance(v, (dict, list)) or v is None:
            refusals.add(doc, (*path, k), "must be a string")
        else:
            out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out
