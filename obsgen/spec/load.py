"""Safe YAML loading that remembers where every node came from.

The YAML is composed into nodes (never constructed into arbitrary objects), then turned into plain
data by hand so that every mapping key and value keeps its line and column, duplicate keys are
refused, and aliases cannot expand into a billion nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from .errors import Mark, Path, Problem, SpecError

try:  # the C parser is much faster on large specs; the pure one is a fine fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 500_000  # after alias expansion: a 1,000-service spec is ~60k nodes


@dataclass
class Loaded:
    filename: str
    data: Any
    marks: dict[Path, yaml.Mark] = field(default_factory=dict)  # PyYAML's own (0-based) marks

    def mark_for(self, path: Path) -> Mark | None:
        """The closest known place for a path: itself, or the nearest parent that exists."""
        p = tuple(path)
        while True:
            if p in self.marks:
                return _mark(self.marks[p])
            if not p:
                return None
            p = p[:-1]


def _mark(mark: yaml.Mark) -> Mark:
    return Mark(mark.line + 1, mark.column + 1)


_STR = "tag:yaml.org,2002:str"


class _Builder:
    def __init__(self, filename: str):
        self.filename = filename
        self.marks: dict[Path, yaml.Mark] = {}
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.count = 0

    def fail(self, node: yaml.Node | None, path: Path, message: str) -> SpecError:
        return SpecError(self.filename, [Problem(path, message, _mark(node.start_mark) if node else None)])

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR:  # most scalars: skip PyYAML's generic construction
            return node.value
        return self.constructor.construct_object(node)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, path, f"the spec expands to more than {MAX_NODES} nodes "
                                        "(aliases that expand too far are refused)")
        self.marks.setdefault(path, node.start_mark)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # resolves `<<` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, path, "mapping keys must be plain scalars")
                key = self.scalar(key_node)
                if isinstance(key, (list, dict)) or key is None:
                    raise self.fail(key_node, path, "mapping keys must be plain scalars")
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    raise self.fail(key_node, path + (key,), f"duplicate key {key!r}")
                child = path + (key,)
                out[key] = self.build(value_node, child)
                # a scalar value's own place is more precise than its key's
                self.marks[child] = (value_node if isinstance(value_node, yaml.ScalarNode) else key_node).start_mark
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        value = self.scalar(node)
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            value = node.value  # dates and binaries stay the text the user wrote
        return value


def load_text(text: str | bytes, filename: str = "<spec>") -> Loaded:
    if isinstance(text, bytes):
        raw = text
        if len(raw) > MAX_BYTES:
            raise SpecError(filename, [Problem((), f"the spec is {len(raw) / 1e6:.1f} MB; "
                                                     f"specs larger than {MAX_BYTES // 2**20} MiB are refused")])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
            raise SpecError(filename, [Problem((), f"the spec is not UTF-8 (byte 0x{raw[e.start]:02x})",
                                               Mark(line, col))]) from None
    if len(text) > MAX_BYTES:
        raise SpecError(filename, [Problem((), f"the spec is larger than {MAX_BYTES // 2**20} MiB")])
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        mark = Mark(m.line + 1, m.column + 1) if m else None
        msg = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        raise SpecError(filename, [Problem((), f"YAML syntax error: {msg}", mark)]) from None
    except yaml.YAMLError as e:
        raise SpecError(filename, [Problem((), f"YAML error: {e}")]) from None
    if node is None:
        raise SpecError(filename, [Problem((), "the spec is empty; `obsgen init` writes a starter spec")])
    builder = _Builder(filename)
    data = builder.build(node, ())
    if not isinstance(data, dict):
        raise SpecError(filename, [Problem((), "the spec must be a mapping (version, project, services, ...)",
                                           _mark(node.start_mark))])
    return Loaded(filename, data, builder.marks)


def load_file(path: str | FsPath) -> Loaded:
    p = FsPath(path)
    name = str(path)
    try:
        if p.is_dir():
            raise SpecError(name, [Problem((), "is a folder; name the spec file")])
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(name, [Problem((), f"the spec is {size / 1e6:.1f} MB; "
                                               f"specs larger than {MAX_BYTES // 2**20} MiB are refused")])
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(name, [Problem((), "no such file; `obsgen init` writes a starter spec")]) from None
    except OSError as e:
        raise SpecError(name, [Problem((), f"cannot read the spec: {e.strerror}")]) from None
    return load_text(raw, name)
