"""Writing what an importer found as an obsgen spec: YAML with a comment on every entry that did not map
exactly, merged into an existing spec when there is one, validated, and written atomically.

An importer builds `Map` and `Seq` values (a dict and a list that carry comments) and an `Imported`; this
module does the rest, the same way for every source format:

- a new spec gets a project, a placeholder channel and routing (said in its head comment);
- into an existing spec (`-o` naming a file that exists), imported services are added, and one of the same
  name gets the imported SLOs, alerts and recording rules appended (a name already there is refused, at its
  place in the file; a series already recorded is the validation's to refuse). The merge only adds entries,
  so each is spliced into the file's own text at its place (after the entry before it, at its siblings'
  indentation; ruamel.yaml's round-trip reader says where each key and item is), and every comment and the
  formatting of the rest stay. Only where that cannot be done (a flow-style `{...}` collection that grew) is
  the file written again from its data, its comments lost, which the head comment says;
- the result must pass obsgen's own validation; what obsgen cannot prove of the imported alerts (a ratio
  SLI, a query shape obsgen cannot feed, an alert without tests) is listed in `proof.accept_unproven`
  with the generators' own reason, so `obsgen check --strict` says it instead of failing on it;
- the file is written to a temporary file beside the target and renamed over it: nothing half-written.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from ..render import yamlout
from ..render.common import one_line
from ..spec import SpecError, load_spec_text
from ..spec.errors import Problem
from ..spec.load import load_file
from .source import SourceError


class Map(dict[str, Any]):
    """A mapping of the written spec; `note(key, text)` comments the entry of `key` (`None`: the mapping
    itself, written before it, or before its `- ` in a list)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: dict[str | None, list[str]] = {}

    def note(self, key: str | None, text: str) -> None:
        lines = self.notes.setdefault(key, [])
        if text not in lines:
            lines.append(text)


class Seq(list[Any]):
    """A list of the written spec (its items' comments are their own `Map.note(None, ...)`)."""


@dataclass
class Imported:
    """What an importer maps its sources to."""

    source: str  # "Sloth", "Prometheus rules", ...
    services: list[Map] = field(default_factory=list)
    slo_windows: dict[str, Map] = field(default_factory=dict)  # by period (`30d`): `defaults.slo_windows`
    head: list[str] = field(default_factory=list)  # comment lines on top of the file


PLACEHOLDER_CHANNEL = "imported-default"


def new_spec(project: str) -> Map:
    """The parts of a spec an import does not provide: a project, one placeholder channel, routing."""
    spec = Map(version=1, project=Map(name=project))
    spec.note("project", "project: the name of the generated stack (Grafana folder, Kubernetes objects)")
    spec["services"] = Seq()
    spec["channels"] = Map({PLACEHOLDER_CHANNEL: Map(type="webhook", url="http://alert-receiver.example.com/hook")})
    spec.note("channels", "a placeholder receiver: point it at your own (or add Slack, PagerDuty, ... channels "
                          "and `routing.severity`)")
    spec["routing"] = Map(default=PLACEHOLDER_CHANNEL)
    return spec


def _as_written(value: Any) -> Any:
    """Plain data of an existing spec, as Map/Seq so the merge can add to it."""
    if isinstance(value, dict):
        return Map({k: _as_written(v) for k, v in value.items()})
    if isinstance(value, list):
        return Seq(_as_written(v) for v in value)
    return value


def merge(imported: Imported, existing: FsPath | None, project: str) -> Map:
    """The spec to write: `existing` (a spec file) or a new one, with the imported services, windows and
    notes. SourceError when an imported name is taken already."""
    loaded = None
    if existing is not None:
        try:
            loaded = load_file(existing)
        except SpecError as e:
            raise SourceError([Problem(p.path, p.message, p.mark, str(existing)) for p in e.problems]) from None
        spec = _as_written(loaded.data)
        if not isinstance(spec.get("services"), list):
            spec["services"] = Seq()
    else:
        spec = new_spec(project)
    problems: list[Problem] = []
    where = str(existing) if existing else None
    services: list[Map] = spec["services"]
    old_count = len(services)
    by_name = {s.get("name"): s for s in services if isinstance(s, dict)}
    for svc in imported.services:
        have = by_name.get(svc["name"])
        if have is None:
            services.append(svc)
            by_name[svc["name"]] = svc
            continue
        for key in ("slos", "alerts"):
            if not svc.get(key):
                continue
            mine = have.setdefault(key, Seq())
            # name -> its index in the existing spec's list (None: imported now, it has no place in the file)
            own = next((i for i, s in enumerate(services[:old_count]) if s is have), None)
            taken: dict[Any, int | None] = {x.get("name"): i if own is not None else None
                                            for i, x in enumerate(mine) if isinstance(x, dict)}
            for item in svc[key]:
                if item["name"] in taken:
                    index = taken[item["name"]]
                    place: tuple[Any, ...] = ("services", own, key, index, "name") if index is not None else ()
                    mark = loaded.mark_for(place) if loaded is not None and place else None
                    problems.append(Problem(place, f"service {svc['name']!r} already has an {key[:-1].upper()} "
                                                   f"named {item['name']!r}", mark, where))
                else:
                    mine.append(item)
                    taken[item["name"]] = None
        for item in svc.get("recording_rules") or ():  # a series recorded twice is the validation's to say
            have.setdefault("recording_rules", Seq()).append(item)
        for key, value in svc.items():
            if key not in ("name", "slos", "alerts", "recording_rules") and key not in have:
                have[key] = value
    if imported.slo_windows:
        if "defaults" not in spec:  # a new entry goes where a person would write it: after the project
            items = list(spec.items())
            at = next((i + 1 for i, (k, _) in enumerate(items) if k == "project"), len(items))
            notes = spec.notes
            spec = Map(items[:at] + [("defaults", Map())] + items[at:])
            spec.notes = notes
        defaults = spec["defaults"]
        windows = defaults.get("slo_windows")
        if windows and not all(isinstance(k, str) and k[:-1].isdigit() and k.endswith("d") for k in windows):
            problems.append(Problem(("defaults", "slo_windows"), (
                "holds one window set for every period; the imported windows are per period: key the existing "
                "set by its period (e.g. `30d: {...}`) and import again"), None, where))
        else:
            windows = defaults.setdefault("slo_windows", Map())
            for period, tiers in imported.slo_windows.items():
                if period in windows and windows[period] != tiers:
                    problems.append(Problem(("defaults", "slo_windows", period), (
                        f"already holds a {period} window set that differs from the imported one"), None, where))
                windows[period] = tiers
            for period, tiers in imported.slo_windows.items():
                for note in tiers.notes.get(None, []):
                    windows.note(period, note)
    if problems:
        raise SourceError(problems)
    return spec


def accept_unproven(spec: Map, names: dict[str, str]) -> None:
    if not names:
        return
    proof = spec.setdefault("proof", Map())
    accepted = proof.setdefault("accept_unproven", Map())
    for name, reason in names.items():
        accepted.setdefault(name, reason)
    proof.note("accept_unproven", "imported alerts obsgen's generated tests cannot prove, each with the reason: "
                                  "`obsgen check --strict` lists them instead of failing; prove them with `tests:` "
                                  "and remove them here")


# --------------------------------------------------------------------------- text


def emit(spec: Map, head: list[str]) -> str:
    out = [f"# {one_line(line)}" if line else "#" for line in head]
    _write(spec, "", out)
    return "\n".join(out) + "\n"


def _comments(notes: list[str], indent: str, out: list[str]) -> None:
    for note in notes:
        for line in note.split("\n"):
            out.append(f"{indent}# {one_line(line)}")


def _write(value: Any, indent: str, out: list[str]) -> None:
    child = indent + "  "
    if isinstance(value, dict):
        notes = value.notes if isinstance(value, Map) else {}
        for key, item in value.items():
            _comments(notes.get(key, []), indent, out)
            lead = f"{indent}{yamlout.scalar(str(key))}:"
            inline = _inline(item)
            if inline is not None:
                out.append(f"{lead} {inline}")
            elif isinstance(item, str):
                out.append(f"{lead} {yamlout._block(item, child)}")
            elif isinstance(item, dict):
                out.append(lead)
                _write(item, child, out)
            else:
                out.append(lead)
                _write(item, child, out)
        return
    for item in value:
        if isinstance(item, Map):
            _comments(item.notes.get(None, []), indent, out)
        inline = _inline(item)
        if inline is not None:
            out.append(f"{indent}- {inline}")
        elif isinstance(item, str):
            out.append(f"{indent}- {yamlout._block(item, child)}")
        elif isinstance(item, dict):
            first = len(out)
            _write(item, child, out)
            # the first line of the mapping may be a comment of its first key: the dash goes on the first entry
            at = next(i for i in range(first, len(out)) if not out[i].lstrip().startswith("#"))
            out[at] = f"{indent}- {out[at][len(child):]}"
            if at > first:  # comments of the first key move before the dash, at the dash's indent
                out[first:at] = [indent + line[len(child):] for line in out[first:at]]
        else:
            out.append(f"{indent}-")
            _write(item, child, out)


def _inline(value: Any) -> str | None:
    return yamlout._inline(value)


# --------------------------------------------------------------------------- checking and writing


def check(text: str, filename: str) -> Any:
    """The written spec as obsgen reads it (a Model); SourceError with obsgen's own messages when it is
    not valid, which is a mapping obsgen's importer got wrong or input it cannot express."""
    from ..model import resolve

    try:
        spec = load_spec_text(text, filename)
    except SpecError as e:
        raise SourceError([Problem(p.path, "the imported spec would not be valid: " + p.message, p.mark, filename)
                           for p in e.problems]) from None
    return resolve(spec, filename)


def unproven(model: Any, services: set[str]) -> dict[str, str]:
    """Alerts of the imported services no generated or copied test proves, with the generators' reason."""
    from ..render.proof import proofs

    out = {}
    for p in proofs(model):
        file = p.rule.file
        if not p.proven and any(file == f"prometheus/rules/{s}.yml" for s in services):
            out[p.rule.alert] = "imported: " + p.why()
    return out


def write_atomic(path: FsPath, text: str) -> None:
    """`text` into `path` by renaming a complete temporary file over it."""
    folder = path.parent if str(path.parent) else FsPath(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class _Unsplicable(Exception):
    """The merge changed the file in a way its text cannot take by insertion alone."""


@dataclass
class _Insert:
    line: int  # 0-based: the lines go before this line
    lines: list[str]


def _node_lines(node: Any, out: list[tuple[int, int]]) -> None:
    """(line, column) of every key and list item (a dash's column) under a round-trip-loaded node."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        for k in node:
            out.append(node.lc.key(k))
            _node_lines(node[k], out)
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            line, col = node.lc.item(i)
            out.append((line, max(col - 2, 0)))
            _node_lines(item, out)


class _Splicer:
    """Where the text of each entry the merge added goes: after the block of the entry before it, at its
    siblings' indentation. Any other change (a value changed or removed, a flow-style `{...}` or `[...]`
    collection grown) is _Unsplicable."""

    def __init__(self, text: str, root: Any):
        self.lines = text.split("\n")
        self.starts: list[tuple[int, int]] = []
        _node_lines(root, self.starts)
        self.inserts: list[_Insert] = []
        self.led = False  # whether the import's head comment went in (before the services it added)

    def end_of(self, line: int, column: int) -> int:
        """The line after the block that starts at `line` (a key or dash at `column`), before the blank lines and
        the comments that lead the next entry (indented no deeper than it: a deeper one ends this block)."""
        later = min(((ln, col) for ln, col in self.starts if ln > line and col <= column), default=None)
        at, lead = later if later is not None else (len(self.lines), 0)
        while at > line + 1:
            prev = self.lines[at - 1]
            if prev.strip() and not (prev.lstrip().startswith("#") and len(prev) - len(prev.lstrip()) <= lead):
                break
            at -= 1
        return at

    def walk(self, old: Any, new: Any, lead: dict[tuple[Any, ...], list[str]], path: tuple[Any, ...] = ()) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        if old == new:
            return
        if isinstance(old, CommentedMap) and isinstance(new, dict):
            if set(old) - set(new) or old.fa.flow_style() or not old:
                raise _Unsplicable
            keys = list(new)
            prev = None
            k = 0
            while k < len(keys):
                key = keys[k]
                if key in old:
                    self.walk(old[key], new[key], lead, (*path, key))
                    prev, k = key, k + 1
                    continue
                run = []
                while k < len(keys) and keys[k] not in old:
                    run.append(keys[k])
                    k += 1
                first = next(iter(old))
                column = old.lc.key(first)[1]
                at = self.end_of(*old.lc.key(prev)) if prev is not None else old.lc.key(first)[0]
                while prev is None and at > 0 and self.lines[at - 1].lstrip().startswith("#"):
                    at -= 1  # before the first key and the comments that lead it
                one = Map({x: new[x] for x in run})
                notes = new.notes if isinstance(new, Map) else {}
                one.notes = {x: notes[x] for x in run if x in notes}
                block: list[str] = []
                _write(one, " " * column, block)
                self.inserts.append(_Insert(at, block))
            return
        if isinstance(old, CommentedSeq) and isinstance(new, list):
            if len(new) < len(old) or old.fa.flow_style() or not old:
                raise _Unsplicable
            for i, item in enumerate(old):
                self.walk(item, new[i], lead, (*path, i))
            if len(new) > len(old):
                line, col = old.lc.item(len(old) - 1)
                dash = self.lines[line].rfind("-", 0, col + 1)
                if dash < 0 or self.lines[line][:dash].strip():
                    raise _Unsplicable  # an item not written `- ...` on its own line
                block = [" " * dash + (f"# {one_line(x)}" if x else "#") for x in lead.get(path, [])]
                self.led = self.led or path in lead
                _write(Seq(new[len(old):]), " " * dash, block)
                self.inserts.append(_Insert(self.end_of(line, dash), block))
            return
        raise _Unsplicable


def spliced(existing: FsPath, spec: Map, imported: Imported, head: list[str]) -> str | None:
    """The existing spec's own text, comments and formatting all kept, with every entry the merge added
    (services at the end of `services:`, SLOs and alerts of a service, `defaults` or its `slo_windows`,
    `proof.accept_unproven` entries) written in at its place, when the merge only added entries and the text
    reads back as exactly the merged data; None otherwise (the spec is then written again)."""
    import yaml
    from ruamel.yaml import YAML  # round-trip loading: the line and column of every key and list item
    from ruamel.yaml.error import YAMLError as RuamelError

    try:
        text = existing.read_text("utf-8")
        rt = YAML(typ="rt")
        rt.version = (1, 1)  # as obsgen reads specs (PyYAML): `yes` is a boolean, equal to what it loaded
        root = rt.load(text)
    except (OSError, UnicodeDecodeError, RuamelError):
        return None
    splicer = _Splicer(text, root)
    try:
        splicer.walk(root, spec, {("services",): head})
    except _Unsplicable:
        return None
    if not splicer.led and splicer.inserts and head:  # no service added: the head goes before the first entry
        first = min(splicer.inserts, key=lambda x: x.line)
        indent = " " * (len(first.lines[0]) - len(first.lines[0].lstrip()))
        first.lines[:0] = [indent + (f"# {one_line(x)}" if x else "#") for x in head]
    lines = splicer.lines
    for ins in sorted(splicer.inserts, key=lambda x: -x.line):  # from the end: earlier places keep their lines
        lines[ins.line:ins.line] = ins.lines
    out = "\n".join(lines).rstrip("\n") + "\n"
    try:
        if yaml.safe_load(out) != yaml.safe_load(emit(spec, [])):
            return None
    except yaml.YAMLError:
        return None
    return out


def write_spec(imported: Imported, output: FsPath, project: str) -> tuple[str, Any]:
    """Merge, list what stays unproven, validate, write. Returns (text, Model)."""
    existing = output if output.exists() else None
    spec = merge(imported, existing, project)
    head = list(imported.head)
    text = emit(spec, head)
    model = check(text, output.name)
    accept_unproven(spec, unproven(model, {s["name"] for s in imported.services}))
    text = emit(spec, head)
    if existing is not None:
        text = spliced(existing, spec, imported, head) or emit(spec, head + [
            "", f"Merged into {output}: its content is kept, its comments are not (the file is written again from "
                "its data: the import changed more than its list of services)."])
    model = check(text, output.name)
    write_atomic(output, text)
    return text, model
