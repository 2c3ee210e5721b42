"""Safe YAML loading that remembers where every node came from.

The YAML is composed into nodes (never constructed into arbitrary objects), then turned into plain
data by hand so that every mapping key and value keeps its line and column, duplicate keys are
refused, and aliases cannot expand into a billion nodes. Whatever cannot be a spec value is refused
here, at its place: other tags than YAML's plain ones, merge keys, aliases that contain themselves,
nesting deeper than any spec needs, numbers no field can hold, and control characters.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from .errors import Mark, Path, Problem, SpecError

try:  # the C parser is much faster on large specs; the pure one is a fine fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class _SpecLoader(_Loader):
    """The safe loader, resolving tags faster: a spec repeats its values (`0.5%`, `250ms`, `true`) by the
    thousand, and PyYAML's resolver tries its regexes on every one."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type, value: Any, implicit: Any) -> Any:
        if not _PLAIN_RESOLVER:  # pragma: no cover - a PyYAML with path or wildcard resolvers
            return super().resolve(kind, value, implicit)
        if kind is not yaml.ScalarNode:  # without path resolvers a collection's tag is its kind's
            return _MAP if kind is yaml.MappingNode else _SEQ
        # what PyYAML's resolver does: only a plain scalar whose first character keys an implicit resolver (a
        # digit, `t`, `~`, ...) can be other than a string, and its regexes are tried once per text and style
        if not implicit[0] or value[:1] not in _RESOLVED_FIRST:
            return _STR
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


# The first characters (and '' for the empty text) PyYAML's implicit resolvers are keyed by
_RESOLVED_FIRST = frozenset(k for k in _Loader.yaml_implicit_resolvers if k is not None)
# The shortcut above holds for the safe loader's resolvers: none by path, none for any first character
_PLAIN_RESOLVER = not _Loader.yaml_path_resolvers and None not in _Loader.yaml_implicit_resolvers

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 500_000  # after alias expansion: a 1,000-service spec is ~60k nodes
MAX_DEPTH = 32  # the deepest spec value is 9 levels down
MAX_INT = 2**63 - 1  # no field holds more; Go's int64 cannot either

# Characters no spec value may hold: C0 controls but tab and newline, DEL, C1 controls, and the line
# and paragraph separators (YAML reads U+0085, U+2028 and U+2029 as line breaks, editors do not).
_BAD_RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_BAD_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # free text: tab and newline pass
_BAD_ONE_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")  # a summary: tab passes
_BAD_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # names, paths, URLs, labels: one line
# Values that are multi-line by nature (free text and query expressions), by their key ...
_MULTILINE_KEYS = frozenset({"description", "expr", "logql", "errors", "total"})
# ... or anywhere under these keys (expected annotations, reasons)
_MULTILINE_UNDER = frozenset({"exp_annotations", "accept_unproven"})
# single-line free text, where a tab is harmless
_TEXT_KEYS = frozenset({"summary", "title"})

_STR = "tag:yaml.org,2002:str"
_PREFIX = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_PREFIX + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_MAP, _SEQ = _PREFIX + "map", _PREFIX + "seq"
_COLLECTION_TAGS = frozenset({_MAP, _SEQ})
_MERGE = _PREFIX + "merge"
_TIMESTAMP = _PREFIX + "timestamp"
_NAMES = {0x00: "NUL", 0x09: "tab", 0x0A: "newline", 0x0D: "carriage return", 0x1B: "ESC", 0x7F: "DEL",
          0x85: "NEL", 0x2028: "line separator", 0x2029: "paragraph separator"}


@dataclass
class Loaded:
    filename: str
    data: Any
    marks: dict[Path, yaml.Mark] = field(default_factory=dict)  # PyYAML's own (0-based) marks
    problems: list[Problem] = field(default_factory=list)  # values refused while loading (control characters)
    # a spec folder: which file each part comes from, by path prefix (`()`: the project file; a service's index)
    files: dict[Path, str] = field(default_factory=dict)
    # a spec folder's files of services, in the order of their services: (the index of the first, how many, that
    # file's marks). A service's places are looked up in its file by its index there, not copied under the merged
    # indexes (half a million places for 10,000 services, of which a valid spec needs none).
    parts: list[tuple[int, int, dict[Path, yaml.Mark]]] = field(default_factory=list)

    def mark_for(self, path: Path) -> Mark | None:
        """The closest known place for a path: itself, or the nearest parent that exists."""
        p = tuple(path)
        while True:
            mark = self.marks.get(p)
            if mark is None and self.parts and len(p) > 1 and p[0] == "services" and isinstance(p[1], int):
                mark = self._service_mark(p)
            if mark is not None:
                return _mark(mark, self.file_of(p))
            if not p:
                return None
            p = p[:-1]

    def _service_mark(self, path: Path) -> yaml.Mark | None:
        """The mark of a path under ("services", i) in the file that holds service i."""
        i = path[1]
        assert isinstance(i, int)
        n = bisect.bisect_right(self.parts, i, key=lambda part: part[0]) - 1
        if n < 0:
            return None
        first, count, marks = self.parts[n]
        if not i < first + count:
            return None
        return marks.get(("services", i - first) + tuple(path[2:]))

    def file_of(self, path: Path) -> str | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.files:
                return self.files[path[:n]]
        return None


def _mark(mark: yaml.Mark, file: str | None = None) -> Mark:
    return Mark(mark.line + 1, mark.column + 1, file)


def _char(c: str) -> str:
    name = _NAMES.get(ord(c))
    return f"U+{ord(c):04X}" + (f" ({name})" if name else "")


def _short(text: str) -> str:
    """A value as a message quotes it: a long one is cut (a number of 5,000 digits helps nobody)."""
    return repr(text if len(text) <= 40 else text[:30] + "...")


def _tag(tag: str) -> str:
    return "!!" + tag[len(_PREFIX):] if tag.startswith(_PREFIX) else tag


def _where(text: str, index: int) -> Mark:
    line = text.count("\n", 0, index) + 1
    return Mark(line, index - (text.rfind("\n", 0, index) + 1) + 1)


class _Builder:
    def __init__(self, filename: str):
        self.filename = filename
        self.marks: dict[Path, yaml.Mark] = {}
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.count = 0
        self.open: set[int] = set()  # ids of the collections being built: an alias to one is a cycle

    def fail(self, node: yaml.Node | None, path: Path, message: str) -> SpecError:
        return SpecError(self.filename, [Problem(path, message, _mark(node.start_mark) if node else None)])

    def scalar(self, node: yaml.Node, path: Path) -> Any:
        if node.tag == _STR:  # most scalars: skip PyYAML's generic construction
            return node.value
        if node.tag == _TIMESTAMP:  # dates stay the text the user wrote
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise self.fail(node, path, f"YAML tag {_tag(node.tag)} is not supported; a spec holds plain "
                                        "strings, numbers, booleans, lists and mappings")
        try:
            value = self.constructor.construct_object(node)
        except ValueError as e:
            if "digits" in str(e):  # Python refuses to read integers of more than 4300 digits
                raise self.fail(node, path, "this number has thousands of digits; no field holds one "
                                            f"larger than {MAX_INT}") from None
            raise self.fail(node, path, f"{_short(node.value)} is not a {_tag(node.tag)}") from None
        except (yaml.YAMLError, KeyError, TypeError):
            raise self.fail(node, path, f"{_short(node.value)} is not a {_tag(node.tag)}") from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise self.fail(node, path, f"{_short(node.value)} is too large; no field holds a number above {MAX_INT}")
        if isinstance(value, float) and value != value:
            raise self.fail(node, path, ".nan is not a number a spec can use")
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            raise self.fail(node, path, f"{_short(node.value)} is infinite (or too large for a 64-bit float); "
                                        "use a finite number")
        return value

    def text(self, value: str, node: yaml.Node, path: Path, key: bool = False) -> None:
        """Refuse control characters; tab and newline only where free text or multi-line text is meant."""
        if _BAD_LINE.search(value) is None:  # the widest of the three sets: such a value passes every rule
            return
        last = None if key else path[-1] if path else None
        if last in _MULTILINE_KEYS or (not key and any(p in _MULTILINE_UNDER for p in path[:-1])):
            bad, rule = _BAD_TEXT, "tab and newline are the only control characters text may hold"
        elif last in _TEXT_KEYS:
            bad, rule = _BAD_ONE_LINE, "a summary or title is one line, without control characters but tab"
        else:
            bad, rule = _BAD_LINE, "names, paths, URLs and labels are one line, without control characters"
        found = sorted(set(bad.findall(value)))
        if found:
            self.problems.append(Problem(path, f"the {'key' if key else 'value'} contains "
                                               f"{', '.join(_char(c) for c in found)}; {rule}",
                                         _mark(node.start_mark)))

    def too_many(self, node: yaml.Node, path: Path) -> SpecError:
        return self.fail(node, path, f"the spec expands to more than {MAX_NODES} nodes "
                                     "(aliases that expand too far are refused)")

    def too_deep(self, node: yaml.Node, path: Path) -> SpecError:
        return self.fail(node, path, f"the spec nests deeper than {MAX_DEPTH} levels; no field needs that")

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.too_many(node, path)
        if len(path) > MAX_DEPTH:
            raise self.too_deep(node, path)
        self.marks.setdefault(path, node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            value = node.value if node.tag == _STR else self.scalar(node, path)
            if isinstance(value, str):
                self.text(value, node, path)
            return value
        if node.tag not in _COLLECTION_TAGS:
            raise self.fail(node, path, f"YAML tag {_tag(node.tag)} is not supported; a spec holds plain "
                                        "strings, numbers, booleans, lists and mappings")
        if id(node) in self.open:
            raise self.fail(node, path, "this alias refers to a value that contains it: it would never end")
        self.open.add(id(node))
        try:
            return self._mapping(node, path) if isinstance(node, yaml.MappingNode) else [
                self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        marks = self.marks
        deep = len(path) + 1 > MAX_DEPTH
        for key_node, value_node in node.value:
            if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode):  # most keys: plain text
                key = key_node.value
            else:
                if key_node.tag == _MERGE:
                    # A merge key hides where each value came from (and which one wins): refused, not resolved.
                    raise self.fail(key_node, path, "merge keys (`<<`) are not supported: they hide where a "
                                                    "value comes from; write the keys out (an alias *name may "
                                                    "stand for a whole value)")
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, path, "mapping keys must be plain scalars")
                key = self.scalar(key_node, path)
                if isinstance(key, (list, dict)) or key is None:
                    raise self.fail(key_node, path, "mapping keys must be plain scalars")
                key = str(key) if not isinstance(key, str) else key
            if key in out:
                raise self.fail(key_node, path + (key,), f"duplicate key {key!r}")
            child = path + (key,)
            if _BAD_LINE.search(key) is not None:  # (text() would return at once)
                self.text(key, key_node, child, key=True)
            if value_node.tag == _STR and isinstance(value_node, yaml.ScalarNode):
                # most values are plain text: what `build` does for one, without the call
                self.count += 1
                if self.count > MAX_NODES:
                    raise self.too_many(value_node, child)
                if deep:
                    raise self.too_deep(value_node, child)
                marks[child] = value_node.start_mark
                out[key] = value = value_node.value
                if _BAD_LINE.search(value) is not None:
                    self.text(value, value_node, child)
                continue
            out[key] = self.build(value_node, child)
            # a scalar value's own place is more precise than its key's
            marks[child] = (value_node if isinstance(value_node, yaml.ScalarNode) else key_node).start_mark
        return out


class _Unusual(Exception):
    """What _data does not build: the builder that keeps the places decides what it is."""


def _data(node: yaml.Node, depth: int, builder: _Builder) -> Any:
    """What `_Builder.build` returns for a node of a spec without problems, without the place of each value (a
    spec that loads and validates needs none). Anything that could be a problem, or is not usual (a control
    character, a duplicate or other than a string key, nesting near the limit), raises _Unusual, and the node
    is built again by _Builder, which says where and what it is. Aliases are built at each use, as there; one
    that contains itself nests past the limit. `builder.count` counts the nodes, as there."""
    if isinstance(node, yaml.ScalarNode):
        builder.count += 1
        if node.tag == _STR:
            value = node.value
        else:
            try:
                value = builder.scalar(node, ())
            except SpecError:
                raise _Unusual from None
            if not isinstance(value, str):
                return value
        if _BAD_LINE.search(value) is not None:
            raise _Unusual
        return value
    # a collection's children are one level down: within the limit whatever they are
    if depth >= MAX_DEPTH or node.tag not in _COLLECTION_TAGS:
        raise _Unusual
    builder.count += 1
    if builder.count > MAX_NODES:
        raise _Unusual
    if not isinstance(node, yaml.MappingNode):
        return [_data(item, depth + 1, builder) for item in node.value]
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag != _STR or not isinstance(key_node, yaml.ScalarNode):
            raise _Unusual
        key = key_node.value
        if key in out or _BAD_LINE.search(key) is not None:
            raise _Unusual
        if value_node.tag == _STR and isinstance(value_node, yaml.ScalarNode):  # most values: inline
            builder.count += 1
            value = value_node.value
            if _BAD_LINE.search(value) is not None:
                raise _Unusual
            out[key] = value
        else:
            out[key] = _data(value_node, depth + 1, builder)
    if builder.count > MAX_NODES:
        raise _Unusual
    return out


def _too_large(filename: str, size: int) -> SpecError:
    return SpecError(filename, [Problem((), f"the spec is {size / 1e6:.1f} MB; "
                                            f"specs larger than {MAX_BYTES // 2**20} MiB are refused")])


def load_text(text: str | bytes, filename: str = "<spec>", places: bool = True) -> Loaded:
    """The spec's data, with the place of every value; without them (`places=False`) when the file has no
    problem the loader sees, for a caller that loads it again with them if it meets one."""
    if isinstance(text, bytes):
        raw = text
        if len(raw) > MAX_BYTES:
            raise _too_large(filename, len(raw))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
            raise SpecError(filename, [Problem((), f"the spec is not UTF-8 (byte 0x{raw[e.start]:02x})",
                                               Mark(line, col))]) from None
    if len(text) > MAX_BYTES:
        raise SpecError(filename, [Problem((), f"the spec is larger than {MAX_BYTES // 2**20} MiB")])
    if text.startswith("\ufeff"):  # a UTF-8 byte order mark is allowed, as YAML allows it
        text = text[1:]
    bad = [(m.start(), m.group()) for m in _BAD_RAW.finditer(text, 0)][:20]
    if bad:  # before parsing: YAML would refuse some without a line, and read others as line breaks
        raise SpecError(filename, [Problem((), f"the spec contains {_char(c)}; control characters are not "
                                               "allowed in a spec", _where(text, i)) for i, c in bad])
    try:
        loader = _SpecLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        mark = Mark(m.line + 1, m.column + 1) if m else None
        msg = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        raise SpecError(filename, [Problem((), f"YAML syntax error: {msg}", mark)]) from None
    except yaml.reader.ReaderError as e:  # a character YAML refuses outright: no line, only a position
        raise SpecError(filename, [Problem((), f"the spec contains {_char(chr(e.character))}, which YAML "
                                               "does not allow", _where(text, e.position))]) from None
    except yaml.YAMLError as e:
        raise SpecError(filename, [Problem((), f"YAML error: {e}")]) from None
    if node is None:
        raise SpecError(filename, [Problem((), "the spec is empty; `obsgen init` writes a starter spec")])
    builder = _Builder(filename)
    if not places:
        try:
            data = _data(node, 0, builder)
        except _Unusual:
            pass
        else:
            if isinstance(data, dict):
                return Loaded(filename, data)
        builder = _Builder(filename)
    data = builder.build(node, ())
    if not isinstance(data, dict):
        raise SpecError(filename, [Problem((), "the spec must be a mapping (version, project, services, ...)",
                                           _mark(node.start_mark))])
    return Loaded(filename, data, builder.marks, builder.problems)


def _read(path: str | FsPath, name: str) -> bytes:
    """The bytes of a regular file, at most MAX_BYTES of them.

    Opened without blocking (a FIFO with no writer would hang `open`), checked to be a regular file
    before anything is read (a device such as /dev/zero never ends), and read with a bound.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise SpecError(name, [Problem((), "is a folder; name the spec file")])
        if not stat.S_ISREG(st.st_mode):
            kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise SpecError(name, [Problem((), f"is {kind}; obsgen reads a spec only from a regular file")])
        if st.st_size > MAX_BYTES:
            raise _too_large(name, st.st_size)
        chunks: list[bytes] = []
        left = MAX_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        raw = b"".join(chunks)
        if len(raw) > MAX_BYTES:  # it grew while being read
            raise _too_large(name, len(raw))
        return raw
    finally:
        os.close(fd)


def load_file(path: str | FsPath, places: bool = True) -> Loaded:
    name = str(path)
    try:
        raw = _read(path, name)
    except FileNotFoundError:
        raise SpecError(name, [Problem((), "no such file; `obsgen init` writes a starter spec")]) from None
    except OSError as e:
        raise SpecError(name, [Problem((), f"cannot read the spec: {e.strerror or e}")]) from None
    except ValueError:  # a NUL in the file name
        raise SpecError(name, [Problem((), "cannot read the spec: the file name contains a NUL")]) from None
    return load_text(raw, name, places)


# --------------------------------------------------------------------------- a spec folder

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_FOLDER_BYTES = 64 * 1024 * 1024  # every file together: a 10,000-service fleet is about 10 MB
MAX_FOLDER_FILES = 20_000
SERVICE_FILE_KEYS = frozenset({"version", "services"})  # what a file other than the project file may hold


def folder_files(root: FsPath) -> list[FsPath]:
    """The spec files under a folder: `*.yaml` and `*.yml` at any depth, in the order of their paths relative to
    it (byte order of the POSIX form), skipping names that start with a dot; symlinked folders are not entered."""
    found: list[tuple[bytes, FsPath]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(SPEC_SUFFIXES) and not name.startswith("."):
                path = FsPath(dirpath) / name
                found.append((path.relative_to(root).as_posix().encode("utf-8", "surrogateescape"), path))
    return [p for _, p in sorted(found)]


class FileCache:
    """The data of spec files loaded before, as JSON text by a digest of their bytes and of obsgen's code
    (`key`): a file found in `old` is not parsed again. Its data has no marks, so a caller that meets a
    problem loads the folder again without the cache, for the places. `new` gets the text of every file
    loaded, taken before anything reads the data, for the next run. `ahead` holds the same of files parsed
    ahead in this run (obsgen.spec.prefill): found there as in `old`, but not loaded before."""

    def __init__(self, salt: str, old: dict[str, str] | None = None) -> None:
        self.salt, self.old = salt, old or {}
        self.new: dict[str, str] = {}
        self.ahead: dict[str, str] = {}

    def key(self, raw: bytes) -> str:
        return hashlib.sha256(self.salt.encode() + b"\0" + raw).hexdigest()

    def load(self, path: FsPath, places: bool = True) -> Loaded:
        name = str(path)
        try:
            raw = _read(path, name)
        except (OSError, ValueError):
            return load_file(path)  # which says why it cannot be read
        key = self.key(raw)
        text = self.old.get(key, self.ahead.get(key))
        if isinstance(text, str):
            with contextlib.suppress(ValueError):
                data = json.loads(text)
                if isinstance(data, dict):
                    self.new[key] = text
                    return Loaded(name, data)
        one = load_text(raw, name, places)
        if not one.problems:
            self.new[key] = json.dumps(one.data)  # plain data (load_text makes nothing else): JSON holds it exactly
        return one


def load_folder(path: str | FsPath, cache: FileCache | None = None, places: bool = True) -> Loaded:
    """A spec written as a folder: one project file (the one holding anything but `services` and `version`)
    and any number of files of `services`, merged in the order of `folder_files`; every place keeps its
    file. Each file has the limits of a spec file, and all of them together MAX_FOLDER_BYTES. With `cache`,
    files loaded before are taken from it, without their marks; with `places=False` the files parsed have none
    either unless they have problems (load_text)."""
    root, name = FsPath(path), str(path)
    files = folder_files(root)
    if not files:
        raise SpecError(name, [Problem((), "the folder holds no spec file (*.yaml or *.yml); name a spec file, or "
                                           "put the project file and the files of services in it")])
    if len(files) > MAX_FOLDER_FILES:
        raise SpecError(name, [Problem((), f"the folder holds {len(files)} spec files; at most "
                                           f"{MAX_FOLDER_FILES} are read")])
    total = 0
    for f in files:
        try:
            total += f.stat().st_size
        except OSError:
            pass  # load_file says why it cannot be read
    if total > MAX_FOLDER_BYTES:
        raise SpecError(name, [Problem((), f"the folder's spec files hold {total / 1e6:.1f} MB; spec folders "
                                           f"larger than {MAX_FOLDER_BYTES // 2**20} MiB are refused")])
    problems: list[Problem] = []
    loaded: list[Loaded] = []
    for f in files:
        try:
            one = load_file(f, places) if cache is None else cache.load(f, places)
        except SpecError as e:
            problems += [_in_file(p, e.filename) for p in e.problems]
            continue
        loaded.append(one)
        problems += [_in_file(p, one.filename) for p in one.problems]  # values refused while loading
    if problems and not loaded:
        raise SpecError(name, problems)
    project = [one for one in loaded if set(one.data) - SERVICE_FILE_KEYS]
    if not project:
        problems.append(Problem((), "no file of the folder holds the project settings (`project`, `defaults`, "
                                    "`channels`, `routing`, `stack`, ...): one file must, the others hold "
                                    "`services`"))
    for extra in project[1:]:
        key = next(k for k in extra.data if k not in SERVICE_FILE_KEYS)
        problems.append(Problem((key,), f"{project[0].filename} holds the project settings already; one file "
                                        f"of a spec folder does, the others hold only `services` (and `version`)",
                                _mark_of(extra, (key,))))
    if problems:
        raise SpecError(name, problems)
    main = project[0]
    data = dict(main.data)
    marks = {p: m for p, m in main.marks.items() if p[:1] != ("services",)}
    where: dict[Path, str] = {(): main.filename}
    parts: list[tuple[int, int, dict[Path, yaml.Mark]]] = []
    services: list[Any] = []
    for one in [main] + [x for x in loaded if x is not main]:
        if "version" in one.data and one is not main and one.data["version"] != main.data.get("version"):
            problems.append(Problem(("version",), f"version {one.data['version']!r} differs from the project "
                                                  f"file's ({main.data.get('version')!r}); give them one version",
                                    _mark_of(one, ("version",))))
        if "services" not in one.data:
            continue
        own = one.data["services"]
        if not isinstance(own, list):
            problems.append(Problem(("services",), "a list of services", _mark_of(one, ("services",))))
            continue
        if (one is main or ("services",) not in marks) and ("services",) in one.marks:  # a cached file has none
            marks[("services",)] = one.marks[("services",)]
            where[("services",)] = one.filename
        offset = len(services)
        services += own
        if own:
            parts.append((offset, len(own), one.marks))
        for i in range(len(own)):
            where[("services", offset + i)] = one.filename
    if problems:
        raise SpecError(name, problems)
    if services or "services" in data:
        data["services"] = services
    return Loaded(name, data, marks, [], where, parts)  # values refused while loading were raised above


def _mark_of(one: Loaded, path: Path) -> Mark | None:
    """The place of `path` in one file (None in a cached file's data, which the caller loads again)."""
    mark = one.marks.get(path)
    return _mark(mark, one.filename) if mark is not None else None


def _in_file(problem: Problem, filename: str) -> Problem:
    mark = problem.mark
    return Problem(problem.path, problem.message,
                   Mark(mark.line, mark.col, filename) if mark is not None else None, filename)
