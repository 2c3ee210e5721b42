"""Writing an output tree: all or nothing, with a manifest of what obsgen owns.

- Everything is rendered in memory before this module is called; nothing here renders.
- A fresh or obsgen-only folder is replaced by a directory swap (the new tree is written beside it,
  then renamed into place), so a reader sees the old output or the new one, never half of either.
- A folder that also holds the user's own files is updated file by file (each replaced atomically),
  stale generated files removed, and the user's files left exactly as they were.
- A path obsgen would write that already exists but is not in the manifest is refused: obsgen never
  overwrites a file it did not generate.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

MANIFEST = ".obsgen-manifest.json"


class WriteError(Exception):
    """The output folder cannot be written safely; nothing was changed."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_text(files: dict[str, str], source: str) -> str:
    data = {"generator": f"obsgen {__version__}", "spec": source,
            "files": {path: _sha(text) for path, text in sorted(files.items())}}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_manifest(out: Path) -> dict[str, str]:
    try:
        data = json.loads((out / MANIFEST).read_text("utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError
        return {str(k): str(v) for k, v in files.items()}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as e:
        raise WriteError(f"{out / MANIFEST} is not an obsgen manifest ({e}); remove it or choose another folder") from None


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except UnicodeDecodeError:
        return "\0(binary)"


def plan(files: dict[str, str], out: Path) -> Changes:
    """What writing `files` into `out` would change (also the basis of --check and diff)."""
    owned = read_manifest(out) if out.is_dir() else {}
    ch = Changes()
    for path, text in files.items():
        current = _read(out / path)
        if current is None:
            ch.added.append(path)
        elif current != text:
            ch.changed.append(path)
        else:
            ch.unchanged.append(path)
    ch.removed = sorted(p for p in owned if p not in files and (out / p).exists())
    return ch


def diff(files: dict[str, str], out: Path) -> str:
    ch = plan(files, out)
    chunks: list[str] = []
    for path in sorted(ch.added + ch.changed + ch.removed):
        old = _read(out / path) or ""
        new = files.get(path, "")
        chunks.extend(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{path}" if path not in ch.added else "/dev/null",
            tofile=f"b/{path}" if path in files else "/dev/null"))
    return "".join(c if c.endswith("\n") else c + "\n" for c in chunks)


def _foreign(out: Path, owned: dict[str, str]) -> list[str]:
    """Files under `out` that obsgen did not generate."""
    found = []
    for root, _dirs, names in os.walk(out):
        for name in names:
            rel = (Path(root) / name).relative_to(out).as_posix()
            if rel != MANIFEST and rel not in owned:
                found.append(rel)
    return sorted(found)


def _write_tree(root: Path, files: dict[str, str], old: Path, unchanged: set[str]) -> None:
    """Write `files` under `root`, hard-linking where the text already is on disk: a file `old` holds
    unchanged, or a copy of another file of this render (the Kubernetes ConfigMap sources are the
    very texts of the other families, and half the bytes of a large render).

    Linking keeps an unchanged file's inode and mtime (make, and config watchers, see no change) and
    writes nothing: re-rendering a thousand services mostly changes nothing. Where hard links are not
    supported, files are written."""
    made: set[Path] = set()
    written: dict[int, Path] = {}  # id() of a text (alive in `files` meanwhile) -> its first file here
    for path, text in files.items():
        target = root / path
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        source = old / path if path in unchanged else written.get(id(text))
        if source is not None:
            try:
                if not source.is_symlink():
                    os.link(source, target)
                    written.setdefault(id(text), target)
                    continue
            except OSError:
                pass  # no hard links here (or the file just vanished): write it
        target.write_text(text, "utf-8")
        written.setdefault(id(text), target)


def write(files: dict[str, str], out: Path, source: str) -> Changes:
    if out.exists() and not out.is_dir():
        raise WriteError(f"{out} exists and is not a folder")
    owned = read_manifest(out) if out.exists() else {}
    foreign = _foreign(out, owned) if out.exists() else []
    clash = sorted(set(foreign) & set(files))
    if clash:
        raise WriteError(f"{out} already holds files obsgen did not generate and would overwrite: "
                         + ", ".join(clash[:5]) + (" ..." if len(clash) > 5 else "")
                         + "; move them away or render into another folder")
    changes = plan(files, out)
    everything = {**files, MANIFEST: manifest_text(files, source)}
    out.parent.mkdir(parents=True, exist_ok=True)
    if not foreign:
        _swap(out, everything, set(changes.unchanged))
    else:
        _in_place(out, everything, changes.removed)
    return changes


def _swap(out: Path, files: dict[str, str], unchanged: set[str]) -> None:
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.obsgen-new-", dir=out.parent))
    try:
        _write_tree(new, files, out, unchanged)
        new.chmod(0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.obsgen-old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
            try:
                new.rename(out)
            except OSError:
                old.rename(out)  # put the previous output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            new.rename(out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def _in_place(out: Path, files: dict[str, str], removed: list[str]) -> None:
    # Stage every file first (same filesystem), then rename each into place: a failure while staging
    # leaves the output untouched.
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".obsgen-tmp", dir=target.parent)
            staged.append((Path(tmp_name), target))
            try:
                f = os.fdopen(fd, "w", encoding="utf-8")
            except BaseException:
                os.close(fd)
                raise
            with f:
                f.write(text)
            os.chmod(tmp_name, 0o644)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    manifest = [(t, d) for t, d in staged if d.name == MANIFEST]
    for tmp, target in [s for s in staged if s not in manifest] + manifest:  # the manifest last
        os.replace(tmp, target)
    for rel in removed:
        (out / rel).unlink(missing_ok=True)
        parent = (out / rel).parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
