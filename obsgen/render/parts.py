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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from .common import dump_json

_MARK = "\x00obsgen-parts\x00"  # no item of a list holds it: a control character a spec refuses


@dataclass(frozen=True)
class Part:
    text: str  # the items, as in the document at their depth, joined by ",\n"; "" for none
    meta: dict[str, Any] = field(default_factory=dict)  # JSON data the join needs (counts)


@dataclass(frozen=True)
class Joined:
    text: str
    spans: dict[str, tuple[int, int]]  # part key -> [start, end) in `text`


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
    chunks: list[str] = [head]  # joined once with the tail: the text is copied once (a hundred MB at 10,000 services)
    spans: dict[str, tuple[int, int]] = {}
    pos = len(head)
    for name, part in parts:
        text = part.text
        if text:
            if len(chunks) > 1:
                chunks.append(",\n")
                pos += 2
            chunks.append(text)
        spans[name] = (pos, pos + len(text))
        pos += len(text)
    if len(chunks) == 1:  # an empty list is written `[]`, on the key's line
        head = head[:head.rindex("[") + 1]
        tail = tail[tail.index("]"):]
        return Joined(head + tail, {name: (len(head), len(head)) for name in spans})
    chunks.append(tail)
    return Joined("".join(chunks), spans)


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

    def keep(self, path: str, text: str, spans: Any, services: set[str]) -> None:
        """Take the parts of `services` from the earlier `text` of `path`, at the `spans` recorded for it
        (as `made` holds them); a record that does not fit the text is not used."""
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
                    parts[str(key)] = Part(text[start:end], meta)
                own[str(name)] = parts
        except (AttributeError, TypeError, ValueError):
            return
        self.kept[path] = own

    def keep_sizes(self, sizes: Any) -> None:
        """The sizes an earlier render recorded (as `made_sizes`); ignored unless a mapping of shas to sizes."""
        if isinstance(sizes, dict) and all(type(v) is int for v in sizes.values()):
            self.sizes = {str(k): v for k, v in sizes.items()}
