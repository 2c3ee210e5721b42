"""Writing what an importer found as an obsgen spec: YAML with a comment on every entry that did not map
exactly, merged into an existing spec when there is one, validated, and written atomically.

An importer builds `Map` and `Seq` values (a dict and a list that carry comments) and an `Imported`; this
module does the rest, the same way for every source format:

- a new spec gets a project, a placeholder channel and routing (said in its head comment);
- into an existing spec (`-o` naming a file that exists), imported services are added, and one of the same
  name gets the imported SLOs, alerts and recording rules appended (a name already there is refused, a
  series already recorded is the validation's to refuse). When the import only
  adds services (and a `proof:` block the file lacks), they are spliced into the file's own text, so its
  comments stay; otherwise its content is kept, its comments are not (it is written again from its data,
  which the head comment says);
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
            taken = {x.get("name") for x in mine if isinstance(x, dict)}
            for item in svc[key]:
                if item["name"] in taken:
                    problems.append(Problem((), f"service {svc['name']!r} already has an {key[:-1].upper()} "
                                                f"named {item['name']!r}", None, where))
                else:
                    mine.append(item)
                    taken.add(item["name"])
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


def spliced(existing: FsPath, spec: Map, imported: Imported, head: list[str]) -> str | None:
    """The existing spec's own text, comments and all, with the imported services added at the end of its
    `services:` list (and a `proof:` block at the end when it has none), when that is all the merge changed
    and the text reads back as exactly the merged data; None otherwise (the spec is then written again)."""
    import yaml

    try:
        loaded = load_file(existing)
        text = existing.read_text("utf-8")
    except (SpecError, OSError, UnicodeDecodeError):
        return None
    old = loaded.data
    names = {s.get("name") for s in old.get("services", []) if isinstance(s, dict)}
    new = [s for s in spec["services"] if s.get("name") not in names]
    if not isinstance(old.get("services"), list) or not old["services"] or len(new) != len(imported.services):
        return None  # an imported service merged into one of the file's
    extra = {k for k in spec if k not in old}
    if extra - {"proof"} or any(spec[k] != old[k] for k in old if k not in ("services", "proof")):
        return None  # defaults of the file changed
    lines = text.split("\n")
    inserts: list[tuple[int, list[str]]] = []  # (before line, lines), in the file's order
    if "proof" in old and spec["proof"] != old["proof"]:  # entries added to its accept_unproven
        have = old["proof"].get("accept_unproven") if isinstance(old["proof"], dict) else None
        added = {k: v for k, v in spec["proof"]["accept_unproven"].items() if k not in (have or {})}
        if not have or set(spec["proof"]) != set(old["proof"]) or \
                any(spec["proof"]["accept_unproven"][k] != v for k, v in have.items()):
            return None
        entry = loaded.marks[("proof", "accept_unproven", next(iter(have)))]
        key = lines[entry.line]
        indent = len(key) - len(key.lstrip())
        if key.lstrip().startswith(("{", "-")) or indent == 0:
            return None  # a flow mapping
        later = [m.line for p, m in loaded.marks.items() if m.line > entry.line and p[:2] != ("proof", "accept_unproven")]
        end = min(later, default=len(lines))
        while end > entry.line + 1 and not lines[end - 1].strip():
            end -= 1
        block: list[str] = []
        _write(Map(added), " " * indent, block)
        inserts.append((end, block))
    first = loaded.marks[("services", 0)]
    dash = lines[first.line].rfind("-", 0, first.column)
    if dash < 0 or lines[first.line][:dash].strip():
        return None  # not a block list
    top = sorted(m.line for path, m in loaded.marks.items() if len(path) == 1)
    after = [n for n in top if n > loaded.marks[("services",)].line]
    at = after[0] if after else len(lines)
    while at > 0 and (not lines[at - 1].strip() or lines[at - 1].lstrip().startswith("#")) and after:
        at -= 1  # the comments and blank lines before the next key are that key's
    while at > 0 and not lines[at - 1].strip():
        at -= 1
    services = [" " * dash + f"# {one_line(line)}" if line else " " * dash + "#" for line in head]
    _write(Seq(new), " " * dash, services)
    inserts.append((at, services))
    tail: list[str] = []
    if "proof" in extra:
        _write(Map(proof=spec["proof"]), "", tail)
    for line_no, block in sorted(inserts, key=lambda x: -x[0]):  # from the end: earlier places keep their lines
        lines[line_no:line_no] = block
    out = "\n".join(lines).rstrip("\n") + "\n" + ("\n".join(tail) + "\n" if tail else "")
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
