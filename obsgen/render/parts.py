"""Aggregate files assembled from per-service parts, so a re-render after one service changed renders that
service's part and reuses the others' text.

An aggregate family (proof/alerts.json, proof/routes.json) is a JSON document holding one list of items
that come from the services' rule files. Its module has:

- `service_parts(model, svc) -> {key: Part}`: the service's items, each key's (a rule file's path) already
  serialized as they stand in the document (`json_items`), with a little data the join needs (`meta`);
- `join(model, parts) -> Joined`: the document from every service's parts (and what is not a service's),
  with the span of each part in its text.

A full render joins fresh parts (`render`); a re-render joins the parts of changed services, fresh, with
those of kept services, cut from the earlier text at the spans recorded for it. Since a part's text is a
function of the service's digest (obsgen.digest) and the join only concatenates, both are the same bytes.

A cut part is a span of the earlier text, not a copy (three files of a hundred MB each at 10,000 services):
the join copies the kept parts that stand together there as one slice, takes a fresh string (the head, a
separator, a part rendered again) that the earlier text holds at that very place as part of that slice,
and so, when nothing moved, gives back the earlier text itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from .common import dump_json

_MARK = "\x00obsgen-parts\x00"  # no item of a list holds it: a control character a spec refuses


class Part:
    """A part's items, as in the document at their depth, joined by ",\n" ("" for none), with JSON data the
    join needs (`meta`: counts). A part kept from an earlier text (`Part.cut`) holds its span of that text
    and no copy of it: a join copies a run of kept parts that stood together there at once (or, when every
    byte is where it was, takes that text as it is), and `text` slices it only when asked for."""

    __slots__ = ("_text", "meta", "source", "start", "end")

    def __init__(self, text: str = "", meta: dict[str, Any] | None = None) -> None:
        self._text: str | None = text
        self.meta: dict[str, Any] = {} if meta is None else meta
        self.source, self.start, self.end = text, 0, len(text)

    @classmethod
    def cut(cls, source: str, start: int, end: int, meta: dict[str, Any]) -> Part:
        """The part at `source[start:end]`."""
        part = cls.__new__(cls)
        part._text, part.meta, part.source, part.start, part.end = None, meta, source, start, end
        return part

    def with_meta(self, meta: dict[str, Any]) -> Part:
        """The same text (or span) with another meta."""
        part = Part.cut(self.source, self.start, self.end, meta)
        part._text = self._text
        return part

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.source[self.start:self.end]
        return self._text

    @property
    def size(self) -> int:
        return self.end - self.start

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Part) and self.meta == other.meta and self.text == other.text

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Part({self.text[:40]!r}{'...' if self.size > 40 else ''}, {self.meta!r})"


@dataclass(frozen=True)
class Joined:
    text: str
    spans: dict[str, tuple[int, int]]  # part key -> [start, end) in `text`
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)  # part key -> the meta of the part joined


class _Runs:
    """A text as runs of strings (string, start, end), joined once: a run that continues where the last
    one ended in the same string extends it, and so does a string whose characters that one holds there
    (a separator, a head or a part rendered again as it was), so that kept parts cut from one earlier text
    are copied as a few long slices of it."""

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []

    def add(self, source: str, start: int, end: int) -> None:
        if start == end:
            return
        runs = self.runs
        if runs and start == 0 and end == len(source):  # a whole string the last run's holds next
            last, _, b = runs[-1]
            if last.startswith(source, b):
                runs[-1][2] = b + end
                return
        while runs:
            last, a, b = runs[-1]
            if last is source and b == start:
                runs[-1][2] = end
                return
            n = b - a  # a whole string just before, which `source` holds just before `start`: a part of it
            if a == 0 and b == len(last) and n <= start and source.startswith(last, start - n):
                start -= n
                runs.pop()
                continue
            break
        runs.append([source, start, end])

    def text(self) -> str:
        runs = self.runs
        if len(runs) == 1 and runs[0][1] == 0 and runs[0][2] == len(runs[0][0]):
            whole: str = runs[0][0]  # every character where it was: no copy
            return whole
        last, a, b = runs[-1]
        if b == len(last) and 0 < a < b - a:
            # most of the text is the end of one string: that string with what comes before in place of its
            # head, copied once (`last[:a]` first occurs at 0), not sliced out then copied again by a join
            # (with a == 0 the join alone copies once: the replace would copy the joined text again)
            return last.replace(last[:a], "".join(_pieces(runs[:-1])), 1)
        return "".join(_pieces(runs))


def _pieces(runs: list[list[Any]]) -> Iterator[str]:
    for s, a, b in runs:
        yield s if a == 0 and b == len(s) else s[a:b]


def json_items(items: list[Any], depth: int) -> str:
    """`items` as they stand in a `dump_json` document, as elements of a list `depth` levels down (2: the list
    is a value of the top mapping), joined by ",\n", without the brackets. JSON strings hold no raw newline,
    so each newline of the text starts a line to indent."""
    if not items:
        return ""
    text = pydantic_core.to_json(items, indent=2).decode()  # "[\n  item,\n  item\n]"
    pad = "  " * (depth - 1)
    return pad + text[2:-2].replace("\n", "\n" + pad)


def json_document(data: dict[str, Any], key: str, parts: Iterable[tuple[str, Part]]) -> Joined:
    """`dump_json(data)` with `data[key]` the list of every part's items, in the order given (its value in
    `data` is ignored); parts of no items take no place."""
    text = dump_json({**data, key: [_MARK]})
    token = pydantic_core.to_json(_MARK).decode()
    at = text.index(token)
    line = text.rindex("\n", 0, at) + 1
    head, tail = text[:line], text[at + len(token):]
    runs = _Runs()  # joined once with the tail: the text is copied once (a hundred MB at 10,000 services)
    runs.add(head, 0, len(head))
    spans: dict[str, tuple[int, int]] = {}
    metas: dict[str, dict[str, Any]] = {}
    pos = len(head)
    for name, part in parts:
        size = part.size
        if size:
            if pos > len(head):
                runs.add(",\n", 0, 2)
                pos += 2
            runs.add(part.source, part.start, part.end)
        spans[name] = (pos, pos + size)
        metas[name] = part.meta
        pos += size
    if pos == len(head):  # an empty list is written `[]`, on the key's line
        head = head[:head.rindex("[") + 1]
        tail = tail[tail.index("]"):]
        return Joined(head + tail, {name: (len(head), len(head)) for name in spans}, metas)
    runs.add(tail, 0, len(tail))
    return Joined(runs.text(), spans, metas)


@dataclass
class Record:
    """The parts of a re-render's aggregate files. `kept`: those of unchanged services, cut from the earlier
    text (aggregate path -> service -> key -> Part). `made`: filled by `render_all`, where each service's parts
    stand in this render's text, for the next re-render (path -> service -> key -> [start, end, meta])."""
    kept: dict[str, dict[str, dict[str, Part]]] = field(default_factory=dict)
    made: dict[str, dict[str, dict[str, list[Any]]]] = field(default_factory=dict)
    # What the packaging measured of the files (the sha256 of a text -> its size in kubectl's JSON, a
    # function of the text alone): `sizes` as an earlier render recorded them, `made_sizes` this render's.
    sizes: dict[str, int] = field(default_factory=dict)
    made_sizes: dict[str, int] = field(default_factory=dict)
    # path -> the earlier text (the object the parts are cut from) and its sha256: a join that gives it back
    # whole (nothing moved) is staged by that sha, neither encoded nor hashed again
    earlier: dict[str, tuple[str, str]] = field(default_factory=dict)
    # path -> (spans, services, sha256) of an earlier text not read yet (`keep_later`): read by `load` where the
    # file is joined (for a large spec, a forked child), not by a process that only stages what it joined
    later: dict[str, tuple[Any, set[str], str]] = field(default_factory=dict)

    def keep(self, path: str, text: str, spans: Any, services: set[str], sha: str | None = None) -> None:
        """Take the parts of `services` from the earlier `text` of `path`, at the `spans` recorded for it
        (as `made` holds them); a record that does not fit the text is not used. `sha`: the text's sha256,
        when known."""
        if sha is not None:
            self.earlier[path] = (text, sha)
        try:
            own: dict[str, dict[str, Part]] = {}
            for name, keyed in spans.items():
                if name not in services:
                    continue
                parts = {}
                for key, (start, end, meta) in keyed.items():
                    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text)
                            and isinstance(meta, dict)):
                        return
                    parts[str(key)] = Part.cut(text, start, end, meta)
                own[str(name)] = parts
        except (AttributeError, TypeError, ValueError):
            return
        self.kept[path] = own

    def keep_later(self, path: str, spans: Any, services: set[str], sha: str) -> None:
        """`keep` the parts of `services` from the earlier text of `path`, whose sha256 is `sha`, when `load`
        reads it."""
        self.later[path] = (spans, services, sha)

    def load(self, path: str, read: Callable[[str, str], str | None]) -> None:
        """Keep the parts `keep_later` noted for `path`, from `read(path, sha)`: the earlier text, or None
        where the output no longer holds it (then the parts are made again)."""
        pending = self.later.pop(path, None)
        if pending is None:
            return
        spans, services, sha = pending
        text = read(path, sha)
        if text is not None:
            self.keep(path, text, spans, services, sha)

    def keep_sizes(self, sizes: Any) -> None:
        """The sizes an earlier render recorded (as `made_sizes`); ignored unless a mapping of shas to sizes."""
        if isinstance(sizes, dict) and all(type(v) is int for v in sizes.values()):
            self.sizes = {str(k): v for k, v in sizes.items()}
