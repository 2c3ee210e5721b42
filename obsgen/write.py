"""Writing an output tree: all or nothing, touching only what obsgen owns, safe against kills and
concurrent runs.

- Nothing here renders. `write` is given every file's text; `stage` gives a Stage that a render puts its
  files into as they are rendered (obsgen.render.render_into), each staged at once and held no longer, and
  commits them. The lock is then held while rendering. A Stage over an output obsgen wrote before updates
  it in place (below) and stages only the files whose text changed: a re-render costs what changed, and
  the kept files of unchanged services are not even read (ON_DISK) unless a later family asks for one.
- `-o` may be a symbolic link to a folder: it is resolved once, and the output is written into the link's
  target (the swap happens beside the target; the link stays).
- One run at a time per output: `write` holds an exclusive `flock` on `<parent>/.<name>.obsgen-lock`
  (never removed: removing a lock file races) from recovery and planning to the end of writing; `plan`
  and `diff` hold it shared (unlocked where they may not create it: a read-only checkout). A run waits up
  to LOCK_TIMEOUT seconds for it, then fails with a WriteError.
- `write` replaces a fresh or obsgen-only folder (a Stage only a fresh one) by a directory swap: the
  complete new tree is written beside it and exchanged with the old one in one
  `renameat2(RENAME_EXCHANGE)`, so a reader (or a kill) sees the old output or the new one, never half of
  either. Where the exchange is unsupported it is two renames; a kill between them leaves the previous
  tree as `.<name>.obsgen-old-*`, and the next run renames it back.
- A folder that also holds the user's own entries (any file, link or folder obsgen did not generate, or
  an unreadable folder), or any output obsgen wrote before when a Stage writes it, is updated in place:
  every new or changed file is staged beside its target, a journal (`.obsgen-journal.json`) lists the
  renames and removals, then they are made and the journal deleted. Files whose text is unchanged are
  not touched. A run stopped while staging changed nothing (the next run removes the staged files); one
  stopped after the journal was written is finished by the next run (`recover`), so the generated files
  are the old set or the new one. A reader may see some files renamed and not yet others while the
  journal is applied. The user's entries are never moved, hidden or removed.
- Recovery (under the exclusive lock, before planning) also removes the temporary trees and
  `*.obsgen-tmp` files an earlier stopped run left, matching obsgen's own name patterns only (the output
  is walked for the files only where `.<name>.obsgen-staging` beside it says a run had some staged). `plan` and
  `diff` never mutate: they only report an interrupted run as stale output.
- obsgen writes, links, reads and removes nothing through a symbolic link: the manifest may list only
  normalized relative paths inside the output, every folder on the way must be a real folder, and a link
  in the way is refused, naming it. A path obsgen would write that already exists but is not in the
  manifest is refused too: obsgen never overwrites a file it did not generate.
- What is guarded against is the process dying (a kill, a signal, a full disk); file data is not synced
  to disk, so a power loss may still lose recent writes.
"""

from __future__ import annotations

import ctypes
import difflib
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__

MANIFEST = ".obsgen-manifest.json"
JOURNAL = ".obsgen-journal.json"
TMP_SUFFIX = ".obsgen-tmp"
LOCK_TIMEOUT = 60.0  # seconds a run waits for another run of the same output to finish
# a staged file's name: '.' + its target's name + '.' + 8 of [a-z0-9_] + the suffix
_TMP_FILE = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(TMP_SUFFIX))


class WriteError(Exception):
    """The output folder cannot be written safely; nothing was changed."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _shas(files: dict[str, str]) -> dict[str, str]:
    """sha256 of each text, once per text object (the Kubernetes ConfigMap sources are the other families'
    very strings)."""
    by_id: dict[int, str] = {}
    out = {}
    for path, text in files.items():
        sha = by_id.get(id(text))
        if sha is None:
            sha = by_id[id(text)] = _sha(text)
        out[path] = sha
    return out


def manifest_text(files: dict[str, str], source: str, shas: dict[str, str] | None = None) -> str:
    """What json.dumps(indent=2, sort_keys=True) makes of the manifest, written out line by line: with an
    indent, json encodes in Python, and a manifest lists every file."""
    shas = shas if shas is not None else _shas(files)
    enc = json.encoder.encode_basestring_ascii  # json.dumps' encoding of a str (ensure_ascii)
    # without an indent json encodes in C, and its item separator may hold the next line's indent
    flat = json.dumps({path: shas[path] for path in sorted(files)}, separators=(",\n    ", ": "))
    listed = "{\n    " + flat[1:-1] + "\n  }" if files else "{}"
    return (f'{{\n  "files": {listed},\n  "generator": {enc(f"obsgen {__version__}")},\n'
            f'  "spec": {enc(source)}\n}}\n')


# --------------------------------------------------------------------------- paths obsgen may touch


# A normalized relative path: non-empty parts, none '.' or '..', no backslash or NUL (checked first: a
# manifest lists every file, and this is most of the time it takes to read one)
_NORMAL = re.compile(r"(?:(?!\.\.?(?:/|\Z))[^/\\\0]+/)*(?!\.\.?\Z)[^/\\\0]+")


def _bad_path(rel: object, bookkeeping: bool = False) -> str | None:
    """Why `rel` is not a normalized relative path inside an output (None if it is); the manifest's own
    name is one only where `bookkeeping` allows it (a journal's rename of the manifest)."""
    if type(rel) is str and _NORMAL.fullmatch(rel) and rel != JOURNAL and (rel != MANIFEST or bookkeeping):
        return None
    if not isinstance(rel, str) or not rel:
        return "is not a file path"
    if "\\" in rel or "\0" in rel:
        return "holds a backslash or a NUL"
    if rel.startswith("/"):
        return "is absolute"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "is not a normalized relative path (empty, '.' or '..' parts)"
    if rel == JOURNAL or (rel == MANIFEST and not bookkeeping):
        return "is obsgen's own bookkeeping file"
    return None


def _check_generated(files: dict[str, str]) -> None:
    # Renderers make these paths; a bad one is a bug in obsgen, not bad input.
    for path in files:
        why = _bad_path(path)
        if why is not None:
            raise ValueError(f"generated path {path!r} {why}")


class _Guard:
    """Checks that paths under `out` pass through real folders only (lstat: a link is never followed),
    remembering the folders already checked."""

    def __init__(self, out: Path) -> None:
        self.out = str(out)
        self.prefix = self.out if self.out.endswith("/") else self.out + "/"
        self.dirs: set[str] = {""}

    def path(self, rel: str) -> str:
        return self.prefix + rel if rel else self.out  # os.path.join of a relative path, only quicker

    def parents(self, rel: str, create: bool = False, made: list[str] | None = None) -> bool:
        """True when every folder above `rel` is a real folder (missing ones made if `create`, and added
        to `made` before they are made); False when one is missing or is a file. A symbolic link on the
        way is a WriteError."""
        head = rel.rpartition("/")[0]
        if head in self.dirs:
            return True
        parts = head.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self.dirs:
                continue
            full = self.path(sub)
            try:
                mode = os.lstat(full).st_mode
            except FileNotFoundError:
                if not create:
                    return False
                if made is not None:
                    made.append(sub)
                os.mkdir(full)
                mode = stat.S_IFDIR
            if stat.S_ISLNK(mode):
                raise WriteError(f"{full} is a symbolic link; obsgen does not write or read through links "
                                 "(replace it with a folder, or render into another folder)")
            if not stat.S_ISDIR(mode):
                if create:
                    raise WriteError(f"{full} is not a folder, but obsgen needs a folder there")
                return False
            self.dirs.add(sub)
        return True

    def lstat(self, rel: str) -> os.stat_result | None:
        """lstat of `rel` (None if it or a folder above it is missing); a link on the way is refused."""
        if not self.parents(rel):
            return None
        try:
            return os.lstat(self.path(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None


def _link_error(path: str) -> WriteError:
    return WriteError(f"{path} is a symbolic link; obsgen does not write or read through links "
                      "(replace it with a file, or render into another folder)")


def _read(guard: _Guard, rel: str) -> str | None:
    """The text at `rel`, None when there is no file; never through a link."""
    st = guard.lstat(rel)
    if st is None or stat.S_ISDIR(st.st_mode):
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _link_error(guard.path(rel))
    if not stat.S_ISREG(st.st_mode):
        return "\0(not a file)"
    try:
        fd = os.open(guard.path(rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:  # replaced by a link since the lstat
            raise _link_error(guard.path(rel)) from None
        raise
    with open(fd, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\0(binary)"


def _resolve(out: Path) -> Path:
    # `-o` through a link means its target: resolved once, everything below works on the real path.
    return Path(os.path.realpath(out))


# --------------------------------------------------------------------------- the manifest


def read_manifest(out: Path) -> dict[str, str]:
    """The files the manifest in `out` says obsgen generated ({} without one). An entry that is not a
    normalized relative path, or that goes through or is a symbolic link, is refused (WriteError)."""
    return _manifest(out)[0]


def _manifest(out: Path, stats: dict[str, os.stat_result] | None = None) -> tuple[dict[str, str], str | None]:
    """The manifest's files and the sha256 of its text (None without one); `stats` gets the lstat of each
    file it lists that exists (taken anyway, to refuse links)."""
    where = os.path.join(out, MANIFEST)
    guard = _Guard(out)
    try:
        text = _read(guard, MANIFEST)
    except WriteError:
        raise WriteError(f"{where} is a symbolic link, not an obsgen manifest; remove it or choose another "
                         "folder") from None
    if text is None:
        return {}, None
    try:
        files = json.loads(text)["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a mapping")
    except (ValueError, KeyError, TypeError) as e:
        raise WriteError(f"{where} is not an obsgen manifest ({e}); remove it or choose another folder") from None
    # the usual entry (a normalized path whose folder was checked already) is checked inline: the manifest
    # lists every file, and the call per entry was a third of reading it
    normal, dirs, prefix, lstat = _NORMAL.fullmatch, guard.dirs, guard.prefix, os.lstat
    for rel in files:
        if type(rel) is str and normal(rel) and rel != JOURNAL and rel != MANIFEST:
            if rel.rpartition("/")[0] in dirs:
                try:
                    st: os.stat_result | None = lstat(prefix + rel)
                except (FileNotFoundError, NotADirectoryError):
                    st = None
                if st is None or not stat.S_ISLNK(st.st_mode):
                    if st is not None and stats is not None:
                        stats[rel] = st
                    continue
        why = _bad_path(rel)
        if why is not None:
            raise WriteError(f"{where} lists {rel!r}, which {why}; obsgen only touches files inside the output: "
                             "remove the entry (or the manifest) and render again")
        try:
            st = guard.lstat(rel)
        except WriteError as e:
            link = str(e).split(" is a symbolic link")[0]
        else:
            if st is None or not stat.S_ISLNK(st.st_mode):
                if st is not None and stats is not None:
                    stats[rel] = st
                continue
            link = guard.path(rel)
        raise WriteError(f"{where} lists {rel!r}, but {link} is a symbolic link; obsgen does not write or read "
                         "through links: replace the link with what it points to, or render into another folder")
    if not all(type(sha) is str for sha in files.values()):
        files = {k: str(v) for k, v in files.items()}
    return files, _sha(text)


# --------------------------------------------------------------------------- what an output was rendered from

# Beside the output, as the lock is: the manifest is committed with the output and stays a function of the
# spec, while this file holds what only this checkout knows (sizes, mtimes and inodes). It is only believed
# for the manifest whose sha256 it names, so a run stopped before writing it leaves it ignored, not wrong.
CACHE_SUFFIX = ".obsgen-cache"
# 2: "stat" is one flat list of [size, mtime_ns, inode] triples in the manifest's order (its sorted paths),
# a tenth of the time to read of a mapping of 70,000 paths to lists
CACHE_FORMAT = 2
SPEC_CACHE_FORMAT = 1
# A file whose mtime is this close to the cache's own (or later) may have changed within one tick of the
# file system's clock after its stat was taken: it is read, as git reads its "racily clean" entries.
RACY_NS = 100_000_000


def cache_path(out: Path) -> Path:
    return out.parent / f".{out.name}{CACHE_SUFFIX}"


def _cache_tmp(out: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{out.name}{CACHE_SUFFIX}-") + r"[0-9a-f]{8}")


FileId = tuple[int, int, int, int]  # device, inode, size, mtime


def _file_id(st: os.stat_result) -> FileId:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class _Cache:
    inputs: dict[str, Any]
    stats: dict[str, tuple[int, int, int]]  # path -> (size, mtime_ns, inode) when it was written
    cutoff: int  # a recorded mtime from here on is racy
    read_from: FileId  # the file it was read from

    def holds(self, rel: str, st: os.stat_result) -> bool:
        """True when `st` is the recorded stat of `rel`, and not racy: the file holds the manifest's bytes."""
        want = self.stats.get(rel)
        return (want is not None and stat.S_ISREG(st.st_mode) and want[1] < self.cutoff
                and (st.st_size, st.st_mtime_ns, st.st_ino) == want)


def _id_of(path: Path) -> FileId | None:
    try:
        return _file_id(os.lstat(path))
    except OSError:
        return None


def _cache(out: Path, manifest_sha: str | None, paths: Iterable[str]) -> _Cache | None:
    """What the cache beside `out` records for this manifest, whose files are `paths` in its order (None
    without a valid one)."""
    if manifest_sha is None:
        return None
    try:
        fd = os.open(cache_path(out), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as f:
        st = os.fstat(f.fileno())
        raw = f.read()
    try:
        data = json.loads(raw)
        if data["format"] != CACHE_FORMAT or data["manifest"] != manifest_sha:
            return None
        inputs, flat = data["inputs"], data["stat"]
        if not isinstance(inputs, dict) or not isinstance(flat, list):
            raise TypeError("not a mapping")
        paths = list(paths)
        if len(flat) != 3 * len(paths) or not all(type(n) is int for n in flat):
            raise TypeError("not the stats of the manifest's files")
    except (ValueError, KeyError, TypeError):
        return None
    triples = iter(flat)
    stats = dict(zip(paths, zip(triples, triples, triples, strict=True), strict=True))
    return _Cache(inputs, stats, st.st_mtime_ns - RACY_NS, _file_id(st))


def _known(out: Path, manifest_sha: str | None, owned: dict[str, str], stats: dict[str, os.stat_result]) -> set[str]:
    """The files whose size, mtime and inode are still those recorded when they were written (their bytes
    are the manifest's, `owned`); none without a valid cache."""
    cache = _cache(out, manifest_sha, owned)
    if cache is None:
        return set()
    return {rel for rel, st in stats.items() if cache.holds(rel, st)}


def _write_cache(out: Path, manifest_sha: str, inputs: dict[str, Any], paths: list[str],
                 taken: Mapping[str, os.stat_result] | None = None, untouched: set[str] | None = None) -> None:
    """Record `inputs` and the stat of every generated file (`taken`: those of files left untouched since
    they were found to hold their text; of those only the `untouched`, where given), in the manifest's
    order; a failure only costs the next run its speed."""
    flat: list[int] = []
    taken = taken or {}
    root = str(out)
    for rel in sorted(paths):
        st = taken.get(rel) if untouched is None or rel in untouched else None
        st = st or os.lstat(os.path.join(root, rel))
        flat += (st.st_size, st.st_mtime_ns, st.st_ino)
    text = json.dumps({"format": CACHE_FORMAT, "manifest": manifest_sha, "inputs": inputs, "stat": flat},
                      separators=(",", ":"))
    tmp = out.parent / f".{out.name}{CACHE_SUFFIX}-{_token()}"
    try:
        with open(_create(str(tmp)), "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, cache_path(out))
    except OSError:
        pass
    finally:
        with suppress(OSError):
            tmp.unlink()


def _drop_cache(out: Path) -> None:
    with suppress(FileNotFoundError, IsADirectoryError):
        os.unlink(cache_path(out))


# Beside the output too: the data of the spec folder's files, by a digest of their bytes and obsgen's code
# (obsgen.spec.load.FileCache), so a re-render parses only the files that changed. Each entry is checked by
# its own key, so whatever run wrote the file, an entry that is found is right.
SPEC_CACHE_SUFFIX = ".obsgen-spec-cache"


def spec_cache_path(out: Path) -> Path:
    return out.parent / f".{out.name}{SPEC_CACHE_SUFFIX}"


def read_spec_cache(out: Path) -> dict[str, str]:
    """The cached data of spec files ({} without a readable cache)."""
    try:
        fd = os.open(spec_cache_path(_resolve(out)), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, ValueError):
        return {}
    with open(fd, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw)
        files = data["files"] if data["format"] == SPEC_CACHE_FORMAT else {}
    except (ValueError, KeyError, TypeError):
        return {}
    return {k: v for k, v in files.items() if isinstance(v, str)} if isinstance(files, dict) else {}


def write_spec_cache(out: Path, files: dict[str, str]) -> None:
    """Record the data of the spec's files (a temporary renamed into place; a failure only costs speed)."""
    out = _resolve(out)
    tmp = out.parent / f".{out.name}{CACHE_SUFFIX}-{_token()}"  # a temporary recovery knows
    try:
        with open(_create(str(tmp)), "w", encoding="utf-8") as f:
            json.dump({"format": SPEC_CACHE_FORMAT, "files": dict(sorted(files.items()))}, f, separators=(",", ":"))
        os.replace(tmp, spec_cache_path(out))
    except OSError:
        pass
    finally:
        with suppress(OSError):
            tmp.unlink()


@dataclass
class Recorded:
    """What an output was rendered from (the caller's inputs, as `write` was given them) and how its files
    compare with its manifest: `changes.unchanged` hold the manifest's bytes, `changed` differ, `added` are
    missing (a file the manifest lists that is gone), `interrupted` an earlier run's unfinished work."""
    inputs: dict[str, Any]
    files: dict[str, str]
    changes: Changes
    cache: _Cache
    litter: bool = False  # a stopped run's temporary tree lies beside the output (`recover` removes it)
    seen: _Seen | None = None


@dataclass
class _Seen:
    """What `recorded` read, for the same run's Stage to take over (`stage(seen=)`) rather than stat every
    file again, where the manifest is still the very file it read: obsgen replaces it by a rename, never
    writes it where it is, so any run's commit in between gives it another identity."""
    manifest: FileId
    owned: dict[str, str]
    sha: str
    stats: dict[str, os.stat_result]
    held: set[str]  # the files that held the manifest's bytes


def recorded(out: Path) -> Recorded | None:
    """Under the shared lock, the inputs recorded for `out` and its files checked against its manifest: by
    size, mtime and inode where the cache has them, else by reading. None without a valid cache."""
    out = _resolve(out)
    if not _is_real_dir(out):
        return None
    with _locked(out, shared=True):
        try:
            manifest_id = _file_id(os.lstat(out / MANIFEST))  # before it is read: then it is at most older
        except OSError:
            return None
        stats: dict[str, os.stat_result] = {}
        files, manifest_sha = _manifest(out, stats)
        cache = _cache(out, manifest_sha, files)
        if cache is None or manifest_sha is None:
            return None
        guard = _Guard(out)
        ch = Changes()
        recorded_stats, cutoff, regular = cache.stats, cache.cutoff, stat.S_ISREG
        for rel, sha in files.items():
            st = stats.get(rel)
            want = recorded_stats.get(rel)
            # cache.holds, inline: this is once per file of the output
            if (st is not None and want is not None and want[1] < cutoff and regular(st.st_mode)
                    and (st.st_size, st.st_mtime_ns, st.st_ino) == want):
                ch.unchanged.append(rel)
            elif st is None:
                ch.added.append(rel)
            else:
                text = _read(guard, rel)
                (ch.unchanged if text is not None and _sha(text) == sha else ch.changed).append(rel)
        ch.interrupted = _interrupted(out)
        seen = _Seen(manifest_id, files, manifest_sha, stats, set(ch.unchanged))
        return Recorded(cache.inputs, files, ch, cache, bool(_trees(out)), seen)


def read_kept(out: Path, before: Recorded, paths: list[str]) -> dict[str, str]:
    """The texts of those `paths` that still hold what `before` recorded (checked by the stat of the file
    read, else by the sha256 of its bytes: a file written within RACY_NS of the cache, as the last files of
    a render are, is read and hashed rather than given up; never through a link); the others are left out,
    for the caller to render."""
    out = _resolve(out)
    guard = _Guard(out)
    texts: dict[str, str] = {}
    with _locked(out, shared=True):
        for rel in paths:
            if rel not in before.files or rel not in before.cache.stats or not guard.parents(rel):
                continue
            try:
                fd = os.open(guard.path(rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            with open(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    continue
                held = before.cache.holds(rel, st)
                data = f.read()
            if not held and hashlib.sha256(data).hexdigest() != before.files[rel]:
                continue
            with suppress(UnicodeDecodeError):
                texts[rel] = data.decode("utf-8")
    return texts


# --------------------------------------------------------------------------- the lock


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.obsgen-lock"


@contextmanager
def _locked(out: Path, shared: bool) -> Iterator[None]:
    """Hold the output's lock: exclusive to write, shared to read. Waits up to LOCK_TIMEOUT seconds.

    A reader whose folder it may not write (a read-only checkout) reads unlocked: no obsgen run can be
    writing there either."""
    path = lock_path(out)
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    fd: int | None = None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o644)
    except OSError as e:
        if not shared:
            raise WriteError(f"cannot create the lock file {path}: {e.strerror or e}") from None
        with suppress(OSError):
            fd = os.open(path, os.O_RDONLY | flags)
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriteError(f"{out} is being written by another obsgen run (it has held {path} for "
                                     f"{LOCK_TIMEOUT:g} s); try again when it has finished") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------- recovery


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _trees(out: Path) -> list[tuple[str, Path]]:
    """Temporary trees beside `out` ('new' or 'old', path), by obsgen's name pattern, real folders only."""
    pattern = re.compile(re.escape(f".{out.name}.obsgen-") + r"(new|old)-[a-z0-9_]+")
    try:
        names = sorted(os.listdir(out.parent))
    except OSError:
        return []
    found = []
    for name in names:
        m = pattern.fullmatch(name)
        if m and stat.S_ISDIR(os.lstat(out.parent / name).st_mode):
            found.append((m.group(1), out.parent / name))
    return found


def _interrupted(out: Path) -> list[str]:
    """What an earlier, stopped run left unfinished in the output itself (read only)."""
    found = []
    if not os.path.lexists(out) and any(kind == "old" for kind, _ in _trees(out)):
        found.append(f"{out} is missing: an earlier render stopped mid-swap (the next render restores it)")
    if _is_real_dir(out) and os.path.lexists(out / JOURNAL):
        found.append(f"an earlier render of {out} stopped mid-update (the next render finishes it)")
    return found


def _read_journal(out: Path) -> tuple[list[tuple[str, str]], list[str]] | None:
    where = out / JOURNAL
    text = _read(_Guard(out), JOURNAL)
    if text is None:
        return None
    try:
        data = json.loads(text)
        renames = [(str(t), str(d)) for t, d in data["renames"]]
        removals = [str(r) for r in data["removals"]]
    except (ValueError, KeyError, TypeError) as e:
        raise WriteError(f"{where} is not an obsgen journal ({e}); remove it and render again") from None
    for tmp, target in renames:
        if (_bad_path(tmp) or _bad_path(target, bookkeeping=True) or os.path.dirname(tmp) != os.path.dirname(target)
                or not _TMP_FILE.fullmatch(os.path.basename(tmp))):
            raise WriteError(f"{where} lists a rename {tmp!r} -> {target!r} obsgen never makes; remove it "
                             "and render again")
    for rel in removals:
        if _bad_path(rel):
            raise WriteError(f"{where} lists a removal of {rel!r} obsgen never makes; remove it and render again")
    return renames, removals


def _apply(out: Path, renames: list[tuple[str, str]], removals: list[str]) -> None:
    """Make a journal's renames (those whose staged file is still there) and removals."""
    guard = _Guard(out)
    for tmp, target in renames:
        if guard.lstat(tmp) is not None:
            os.replace(guard.path(tmp), guard.path(target))  # replaces a link at `target`, never follows it
    for rel in removals:
        st = guard.lstat(rel)
        if st is None or stat.S_ISDIR(st.st_mode):
            continue
        os.unlink(guard.path(rel))
        parent = os.path.dirname(rel)
        while parent:  # remove the folders this emptied
            try:
                os.rmdir(guard.path(parent))
            except OSError:
                break
            parent = os.path.dirname(parent)


def _remove_emptied(out: Path, folders: list[str]) -> None:
    """Remove each of `folders` (relative to `out`) and its parents below `out` while they are empty."""
    for rel in sorted(set(folders), key=lambda f: -f.count("/")):
        while rel not in ("", "."):
            try:
                os.rmdir(out / rel)
            except OSError:  # not empty (or gone): neither are its parents
                break
            rel = os.path.dirname(rel)


def _recover(out: Path) -> list[str]:
    """Repair what a stopped run left (the caller holds the exclusive lock); returns what was done."""
    done = []
    trees = _trees(out)
    if not os.path.lexists(out):
        for kind, tree in trees:
            if kind == "old":  # the two-rename swap stopped between its renames: this is the output
                os.rename(tree, out)
                trees.remove((kind, tree))
                done.append(f"restored {out} from {tree.name}")
                break
    for _kind, tree in trees:
        shutil.rmtree(tree, ignore_errors=True)
        done.append(f"removed {tree.name}")
    cache_tmp = _cache_tmp(out)
    with suppress(OSError):
        for name in os.listdir(out.parent):
            if cache_tmp.fullmatch(name):
                os.unlink(out.parent / name)
    if not _is_real_dir(out):
        _unmark_staging(out)
        return done
    journal = _read_journal(out)
    if journal is not None:
        _apply(out, *journal)
        os.unlink(out / JOURNAL)
        done.append(f"finished the interrupted update of {out} ({len(journal[0])} files, "
                    f"{len(journal[1])} removals)")
    if not os.path.lexists(_staging_mark(out)):
        return done  # no run stopped while it had files staged in the output: nothing to look for
    stray = 0
    emptied = []
    for root, _dirs, names in os.walk(out):  # never follows links; unreadable folders are skipped
        for name in names:
            path = os.path.join(root, name)
            if _TMP_FILE.fullmatch(name) and stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                stray += 1
                emptied.append(os.path.relpath(root, out))
    _remove_emptied(out, emptied)  # the folders the stopped run made for them
    _unmark_staging(out)
    if stray:
        done.append(f"removed {stray} temporary file(s) in {out}")
    return done


# Beside the output while a run may have files staged inside it (made before the first is, removed once
# none is left): the next run walks the output for the staged files of a stopped run only where it is.
STAGING_SUFFIX = ".obsgen-staging"


def _staging_mark(out: Path) -> Path:
    return out.parent / f".{out.name}{STAGING_SUFFIX}"


def _mark_staging(out: Path) -> None:
    os.close(os.open(_staging_mark(out), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))


def _unmark_staging(out: Path) -> None:
    with suppress(FileNotFoundError):
        os.unlink(_staging_mark(out))


def recover(out: Path) -> list[str]:
    """Under the exclusive lock, repair what a stopped render left: restore an output the two-rename swap
    left missing, finish an interrupted in-place update from its journal, and remove temporary trees and
    files. Returns what was done ([] when nothing was left). `write` calls it first."""
    out = _resolve(out)
    if not out.parent.is_dir():
        return []
    with _locked(out, shared=False):
        return _recover(out)


# --------------------------------------------------------------------------- planning, --check and diff


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # an earlier run's unfinished work (see recover)

    @property
    def stale(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.interrupted)


def _plan(files: dict[str, str], out: Path, owned: dict[str, str], known: set[str] | None = None,
          shas: dict[str, str] | None = None) -> Changes:
    """`known`: files whose bytes are the manifest's (`_known`), compared by `shas` without reading them."""
    guard = _Guard(out)
    ch = Changes()
    for path, text in files.items():
        if known and shas is not None and path in known:
            (ch.unchanged if owned[path] == shas[path] else ch.changed).append(path)
            continue
        current = _read(guard, path)
        if current is None:
            ch.added.append(path)
        elif current != text:
            ch.changed.append(path)
        else:
            ch.unchanged.append(path)
    ch.removed = sorted(p for p in owned if p not in files and guard.lstat(p) is not None)
    ch.interrupted = _interrupted(out)
    return ch


def plan(files: dict[str, str], out: Path) -> Changes:
    """What writing `files` into `out` would change (also the basis of --check and diff). Reads only,
    under the shared lock."""
    _check_generated(files)
    out = _resolve(out)
    with _locked(out, shared=True):
        if not out.is_dir():
            return _plan(files, out, {})
        stats: dict[str, os.stat_result] = {}
        owned, manifest_sha = _manifest(out, stats)
        known = _known(out, manifest_sha, owned, stats)
        return _plan(files, out, owned, known, _shas(files) if known else None)


def diff(files: dict[str, str], out: Path) -> str:
    _check_generated(files)
    out = _resolve(out)
    with _locked(out, shared=True):
        ch = _plan(files, out, read_manifest(out) if out.is_dir() else {})
        guard = _Guard(out)
        chunks: list[str] = []
        for path in sorted(ch.added + ch.changed + ch.removed):
            old = _read(guard, path) or ""
            new = files.get(path, "")
            chunks.extend(difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile=f"a/{path}" if path not in ch.added else "/dev/null",
                tofile=f"b/{path}" if path in files else "/dev/null"))
    return "".join(c if c.endswith("\n") else c + "\n" for c in chunks)


# --------------------------------------------------------------------------- writing


def _foreign(out: Path, owned: dict[str, str]) -> list[str]:
    """Entries under `out` that obsgen did not generate: any file, link or folder other than a generated
    file, the manifest, or a folder holding a generated file. An unreadable folder counts as foreign."""
    holders = {""}
    for rel in owned:
        parts = rel.split("/")[:-1]
        holders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    found: list[str] = []

    def scan(rel_dir: str) -> None:
        try:
            with os.scandir(os.path.join(out, rel_dir)) as it:
                entries = list(it)
        except OSError:
            found.append(rel_dir or ".")
            return
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            if e.is_symlink():
                found.append(rel)
            elif e.is_dir(follow_symlinks=False):
                if rel not in holders:
                    found.append(rel)
                scan(rel)  # the user's files inside count too: obsgen must not overwrite them
            elif not (e.is_file(follow_symlinks=False) and (rel in owned or rel == MANIFEST)):
                found.append(rel)

    scan("")
    return sorted(found)


def write(files: dict[str, str], out: Path, source: str, inputs: dict[str, Any] | None = None) -> Changes:
    """Write `files` (and the manifest) into `out`: recover an earlier stopped run, then swap in a new
    tree, or update in place when the folder holds entries of the user's. Holds the exclusive lock.

    `inputs` (JSON data: what the files were rendered from) is recorded beside the output with the stat of
    every file, for `recorded`; without it, what was recorded is removed."""
    _check_generated(files)
    out = _resolve(out)
    if os.path.lexists(out) and not out.is_dir():
        raise WriteError(f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out, shared=False):
        _recover(out)
        exists = out.is_dir()
        stats: dict[str, os.stat_result] = {}
        owned, manifest_sha = _manifest(out, stats) if exists else ({}, None)
        known = _known(out, manifest_sha, owned, stats)
        shas = _shas(files)
        foreign = _foreign(out, owned) if exists else []
        clash = sorted(set(foreign) & set(files))
        if clash:
            raise WriteError(f"{out} already holds files obsgen did not generate and would overwrite: "
                             + ", ".join(clash[:5]) + (" ..." if len(clash) > 5 else "")
                             + "; move them away or render into another folder")
        changes = _plan(files, out, owned, known, shas)
        manifest = manifest_text(files, source, shas)
        everything = {**files, MANIFEST: manifest}
        _drop_cache(out)  # describes the previous output; a stop from here on leaves none
        if not foreign:
            _swap(out, everything, set(changes.unchanged))
        else:
            _in_place(out, everything, set(changes.unchanged), changes.removed)
        if inputs is not None:
            _write_cache(out, _sha(manifest), inputs, list(files))
    return changes


class OnDisk(str):
    """The text of a kept file that the output already holds (`Stage.intact`): put into a Stage in place of
    the text, which is then never read unless asked for (`Stage.read`)."""


ON_DISK = OnDisk()


class Stage:
    """An output written as its files arrive (`stage`): each is staged at once and only its sha256 kept, so
    a render need not hold every text. A fresh folder gets its new tree written beside it and swapped in by
    `commit` (forked renderers may write their files into that tree themselves: `write_forked`, `adopt`). An output obsgen wrote before (or a folder holding the user's entries) is updated in place:
    only a file that is new or changed is staged, beside its target, and `commit` renames the staged files
    into place through a journal (as `write` does in place), so a re-render costs what changed. Until
    `commit` nothing is changed: a stop leaves staged files, which `abort` or the next run's recovery
    removes."""

    def __init__(self, out: Path, seen: Recorded | None = None) -> None:
        self.out = out
        exists = out.is_dir()
        self.stats: dict[str, os.stat_result] = {}
        self.manifest_sha: str | None
        taken = seen.seen if seen is not None and exists else None
        if taken is not None and _id_of(out / MANIFEST) == taken.manifest:
            self.owned, self.manifest_sha, self.stats, self.known = taken.owned, taken.sha, taken.stats, taken.held
        else:
            self.owned, self.manifest_sha = _manifest(out, self.stats) if exists else ({}, None)
            self.known = _known(out, self.manifest_sha, self.owned, self.stats)
        # Over an obsgen output, a path the manifest does not list is checked when it is staged (`_classify`)
        # rather than every entry of the output walked first: its files are mostly the manifest's.
        self.foreign = set(_foreign(out, self.owned)) if exists and self.manifest_sha is None else set()
        self.in_place = exists and (self.manifest_sha is not None or bool(self.foreign))
        self.guard = _Guard(out)
        self.shas: dict[str, str] = {}
        self.unchanged: set[str] = set()
        self.changes = Changes()
        self.on_disk: dict[str, str] = {}  # kept files the output holds (`intact`) -> their sha256
        self.staged: dict[str, str] = {}  # in place: path -> its staged file beside it, until `commit`
        self.made_dirs: list[str] = []  # in place: folders made for staged files (`abort` removes them)
        self.journal_tmp: list[str] = []
        self.marked = False  # the staging mark is (or is about to be) beside the output
        self.tree: Path | None = None
        self.committed = False
        self.made: set[Path] = set()

    def begin(self) -> None:
        if not self.in_place:
            tree = self.out.parent / f".{self.out.name}.obsgen-new-{_token()}"
            self.tree = tree  # recorded before it is made: `abort` finds it whenever a signal lands
            os.mkdir(tree, 0o700)

    def __contains__(self, path: str) -> bool:
        return path in self.shas

    def sha(self, path: str) -> str:
        return self.shas[path]

    def intact(self, shas: Mapping[str, str]) -> list[str]:
        """Those of `shas`' paths (each with the sha256 of the text the render would put there) whose file
        in the output holds that text, by the manifest and the stat the cache recorded (else by hashing its
        bytes), under this stage's lock: the render may put them as ON_DISK, not read."""
        found: list[str] = []
        if not self.in_place:  # a new tree is written: the old one's files are not kept on disk
            return found
        for path, sha in shas.items():
            if self.owned.get(path) != sha or path not in self.stats:
                continue
            if path not in self.known:  # racy, or no cache: hash the bytes
                try:
                    text = _read(self.guard, path)
                except (OSError, WriteError):
                    continue
                if text is None or _sha(text) != sha:
                    continue
            self.on_disk[path] = sha
            found.append(path)
        return found

    def _classify(self, path: str, sha: str, same: bool | None = None) -> None:
        """Note `path`'s sha256 and whether the output holds it already (`same`, when known)."""
        if path in self.shas:
            raise RuntimeError(f"{path} is staged twice")
        owned = path in self.owned  # a path of the manifest is a normalized one (`_manifest` checked it)
        why = None if owned else _bad_path(path)
        if why is not None:
            raise ValueError(f"generated path {path!r} {why}")
        if path in self.foreign or (self.manifest_sha is not None and not owned
                                    and self.guard.lstat(path) is not None):
            raise WriteError(f"{self.out} already holds files obsgen did not generate and would overwrite: "
                             f"{path}; move them away or render into another folder")
        self.shas[path] = sha
        if same is not None:
            pass
        elif path in self.known:
            same = self.owned[path] == sha
        else:
            current = _read(self.guard, path)
            if current is None:
                self.changes.added.append(path)
                return
            same = _sha(current) == sha
        (self.changes.unchanged if same else self.changes.changed).append(path)
        if same:
            self.unchanged.add(path)

    def _target(self, path: str) -> Path:
        assert self.tree is not None
        target = self.tree / path
        if target.parent not in self.made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(target.parent)
        return target

    def _link(self, source: Path, target: Path) -> bool:
        try:
            if not source.is_symlink():  # the old tree holds none (a link is foreign: no swap)
                os.link(source, target, follow_symlinks=False)
                return True
        except OSError:
            pass  # no hard links here (or the file just vanished): write it
        return False

    def _tmp(self, path: str) -> str:
        """A fresh name beside `path` to stage it at, recorded (for `abort`) before anything is made."""
        if not self.marked:
            self.marked = True
            _mark_staging(self.out)
        self.guard.parents(path, create=True, made=self.made_dirs)
        head, _, name = path.rpartition("/")
        tmp = f"{head}/" * bool(head) + f".{name}.{_token()}{TMP_SUFFIX}"
        self.staged[path] = tmp
        return tmp

    def _stage_text(self, path: str, text: str | bytes) -> None:
        _write_new(self.guard.path(self._tmp(path)), text)

    def put(self, files: Mapping[str, str]) -> None:
        """Stage `files`; an unchanged one keeps its inode and mtime (in place: is not touched at all)."""
        for path, text in files.items():
            if text is ON_DISK:
                self._classify(path, self.on_disk[path], same=True)
                continue
            data = text.encode("utf-8")  # once, for its sha256 and to write (a hundred MB for the largest)
            self._classify(path, hashlib.sha256(data).hexdigest())
            if self.in_place:
                if path not in self.unchanged:
                    self._stage_text(path, data)
                continue
            target = self._target(path)
            if path not in self.unchanged or not self._link(self.out / path, target):
                target.write_bytes(data)

    def forked_writes(self) -> bool:
        """Whether a forked process may write files into this stage itself (`write_forked`), handing this one
        only their sha256s (`adopt`): where a new tree is written, which an `abort` removes whole, whatever
        a process wrote into it. (In place, each staged file must be known here to be removed.)"""
        return not self.in_place and self.tree is not None

    def write_forked(self, files: Mapping[str, str]) -> dict[str, str]:
        """In a forked process: write `files` into the new tree, as `put` would; their sha256s, by path, for
        this stage's owner to `adopt`. Nothing of this process's copy of the stage changes."""
        assert self.forked_writes() and self.tree is not None
        shas: dict[str, str] = {}
        made: set[str] = set()
        for path, text in files.items():
            why = _bad_path(path)
            if why is not None:
                raise ValueError(f"generated path {path!r} {why}")
            data = text.encode("utf-8")
            shas[path] = hashlib.sha256(data).hexdigest()
            target = self.tree / path
            folder = str(target.parent)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            target.write_bytes(data)
        return shas

    def adopt(self, shas: Mapping[str, str]) -> None:
        """The files a forked process wrote (`write_forked`), by their sha256s, staged as if `put` here."""
        assert self.forked_writes()
        for path, sha in shas.items():
            self._classify(path, sha)

    def reserve(self, path: str) -> str:
        """The file a forked process is to write `path`'s text at (`write_reserved`), recorded here first, as
        any staged file is, so that `abort` removes it whatever that process did; then `adopt_reserved` it,
        or `unreserve` it."""
        if self.in_place:
            return self.guard.path(self._tmp(path))
        return str(self._target(path))

    def write_reserved(self, place: str, data: bytes) -> None:
        """In the forked process: the text's bytes at the place `reserve` gave."""
        if self.in_place:
            _write_new(place, data)
        else:
            Path(place).write_bytes(data)

    def adopt_reserved(self, path: str, sha: str) -> None:
        """The file written at `path`'s reserved place, whose sha256 is `sha`, staged as if `put` here (in
        place and unchanged, it is removed: the output holds it)."""
        self._classify(path, sha)
        if self.in_place and path in self.unchanged:
            self.unreserve(path)

    def unreserve(self, path: str) -> None:
        """The reserved place given up: what may have been written there is removed."""
        if self.in_place:
            place = self.guard.path(self.staged.pop(path))
        else:
            assert self.tree is not None
            place = str(self.tree / path)
        with suppress(FileNotFoundError):
            os.unlink(place)

    def holds(self, path: str, sha: str) -> bool:
        """Whether the output holds `path` with the bytes whose sha256 is `sha`, as its manifest and the stat
        its cache recorded say: staging it again would leave it as it is."""
        return self.in_place and path in self.known and self.owned.get(path) == sha

    def read_held(self, path: str, sha: str) -> str | None:
        """The text of the output's `path` if its bytes are those of the manifest, whose sha256 is `sha` (by
        the stat its cache recorded, else by hashing them), else None; never through a link. Under this
        stage's lock: nothing of the output is changed before `commit`."""
        if not self.in_place or self.owned.get(path) != sha or not self.guard.parents(path):
            return None
        try:
            fd = os.open(self.guard.path(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        with open(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            seen = self.stats.get(path)
            held = (path in self.known and seen is not None
                    and (st.st_size, st.st_mtime_ns, st.st_ino) == (seen.st_size, seen.st_mtime_ns, seen.st_ino))
            data = f.read()
        if not held and hashlib.sha256(data).hexdigest() != sha:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put_read(self, path: str, text: str, sha: str) -> None:
        """`put` a text read from the output whose sha256 is `sha` (`read_kept` checked it): it is not hashed
        again, and not encoded either where the output still holds it."""
        if not self.in_place:
            self.put({path: text})
            return
        self._classify(path, sha)
        if path not in self.unchanged:
            self._stage_text(path, text)

    def copy(self, path: str, source: str) -> None:
        """Stage `path` with the bytes of the staged `source` (hard-linked where they are written)."""
        self._classify(path, self.shas[source])
        if self.in_place:
            if path in self.unchanged:
                return
            src = self.guard.path(self.staged.get(source, source))
            tmp = self.guard.path(self._tmp(path))
            with suppress(OSError):  # the output's own copy of `source` is a regular file: link it
                if source in self.staged or stat.S_ISREG(os.lstat(src).st_mode):
                    os.link(src, tmp, follow_symlinks=False)
                    return
            self._stage_text(path, self.read(source))
            return
        target = self._target(path)
        if path in self.unchanged and self._link(self.out / path, target):
            return
        assert self.tree is not None
        if not self._link(self.tree / source, target):
            target.write_text(self.read(source), "utf-8")

    def read(self, path: str, limit: int | None = None) -> str:
        """The text staged at `path`, read back (from the output where it was unchanged, or once committed);
        its first `limit` characters only, where given."""
        if path not in self.shas:
            raise KeyError(path)
        if self.tree is not None:
            rel, root = path, str(self.tree)
        else:
            rel, root = self.staged.get(path, path), str(self.out)
            if not self.guard.parents(rel):
                raise FileNotFoundError(errno.ENOENT, "no such file", self.guard.path(rel))
        fd = os.open(os.path.join(root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, encoding="utf-8", newline="") as f:
            return f.read() if limit is None else f.read(limit)

    def commit(self, source: str, inputs: dict[str, Any] | None) -> Changes:
        """Add the manifest and put the staged files in place; what `write` returns."""
        self.changes.removed = sorted(p for p in self.owned if p not in self.shas and self.guard.lstat(p) is not None)
        self.changes.interrupted = _interrupted(self.out)
        paths = sorted(self.shas)
        manifest = manifest_text(dict.fromkeys(paths, ""), source, self.shas)
        _drop_cache(self.out)  # describes the previous output; a stop from here on leaves none
        if self.in_place:
            self._commit_in_place(manifest)
        else:
            self._target(MANIFEST).write_text(manifest, "utf-8")
            tree, self.tree = self.tree, None
            assert tree is not None
            _swap_in(self.out, tree)
        self.committed = True
        if inputs is not None:
            # the files not touched are as their stat was taken when they were found unchanged
            _write_cache(self.out, _sha(manifest), inputs, paths, self.stats, self.unchanged)
        return self.changes

    def _commit_in_place(self, manifest: str) -> None:
        # The renames are journalled first: a stop before the journal is written changed nothing (`abort`,
        # or the next run, removes the staged files); one after it is finished (here or by the next run).
        removed = self.changes.removed
        if _sha(manifest) != self.manifest_sha:
            self._stage_text(MANIFEST, manifest)  # the last rename
        if not self.staged and not removed:
            self._unmark()
            return  # nothing changed: nothing is touched
        renames = [(tmp, path) for path, tmp in self.staged.items()]
        try:
            _write_journal(self.out, renames, removed, self.journal_tmp)
        except BaseException:
            if os.path.lexists(self.out / JOURNAL):  # stopped just after the journal was written
                self._handed_over()
                _finish(self.out, renames, removed)
            raise
        self._handed_over()
        try:
            _apply(self.out, renames, removed)
        except BaseException:
            _finish(self.out, renames, removed)
            raise
        (self.out / JOURNAL).unlink()
        self._unmark()

    def _unmark(self) -> None:
        if self.marked:
            _unmark_staging(self.out)
            self.marked = False

    def _handed_over(self) -> None:
        # the journal holds the staged files now: they are renamed into place, not removed
        self.staged, self.made_dirs = {}, []

    def abort(self) -> None:
        if self.tree is not None:
            shutil.rmtree(self.tree, ignore_errors=True)
            self.tree = None
        if not self.in_place or self.committed:
            return
        if os.path.lexists(self.out / JOURNAL):  # stopped between writing the journal and handing over
            journal = _read_journal(self.out)
            self._handed_over()
            if journal is not None:
                _finish(self.out, *journal)
            return
        for rel in [*self.staged.values(), *self.journal_tmp]:
            with suppress(FileNotFoundError):
                os.unlink(self.guard.path(rel))
        self.staged, self.journal_tmp = {}, []
        for rel in reversed(self.made_dirs):  # the folders made for them, if nothing else came to be there
            with suppress(OSError):
                os.rmdir(self.guard.path(rel))
        self.made_dirs = []
        self._unmark()


@contextmanager
def stage(out: Path, seen: Recorded | None = None) -> Iterator[Stage]:
    """Hold the exclusive lock of `out`, recover an earlier stopped run, and give a Stage to `put` the files
    into as they are rendered and `commit`; anything else leaves the output as it was (the staged files
    are removed). `seen`: what `recorded` found in this run, taken over where the manifest is the one it
    read. A kept file's text is put as ON_DISK (see `Stage.intact`)."""
    out = _resolve(out)
    if os.path.lexists(out) and not out.is_dir():
        raise WriteError(f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out, shared=False):
        _recover(out)
        st: Stage | None = None
        try:
            st = Stage(out, seen)
            st.begin()
            yield st
        finally:
            _finally(lambda: st.abort() if st is not None else None)


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
        # `old` holds no link (a link is foreign, which means no swap), and plan read these files
        source = old / path if path in unchanged else written.get(id(text))
        if source is not None:
            try:
                if not source.is_symlink():
                    os.link(source, target, follow_symlinks=False)
                    written.setdefault(id(text), target)
                    continue
            except OSError:
                pass  # no hard links here (or the file just vanished): write it
        target.write_text(text, "utf-8")
        written.setdefault(id(text), target)


@functools.cache
def _libc_renameat2() -> Any:
    """libc's renameat2, or None (not Linux, no ctypes, an old libc)."""
    if sys.platform != "linux":
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (renameat2 with RENAME_EXCHANGE); False where that is unsupported."""
    fn = _libc_renameat2()
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # this kernel or filesystem cannot
        return False
    raise OSError(err, os.strerror(err), str(b))


def _finally(*steps: Callable[[], object]) -> None:
    """Run every cleanup step even if a signal's exception interrupts one (it is re-raised after)."""
    pending: BaseException | None = None
    for step in steps:
        for _attempt in range(3):
            try:
                step()
                break
            except BaseException as e:  # a signal mid-step: try the step again
                pending = pending or e
    if pending is not None:
        raise pending


def _token() -> str:
    return os.urandom(4).hex()  # 8 of [0-9a-f]: within the patterns recovery matches


# A temporary's name is chosen, and recorded for the cleanup, before it is made: a signal landing inside
# the call that makes it then still finds it cleaned up.

def _swap(out: Path, files: dict[str, str], unchanged: set[str]) -> None:
    new = out.parent / f".{out.name}.obsgen-new-{_token()}"
    try:
        os.mkdir(new, 0o700)
        _write_tree(new, files, out, unchanged)
    except BaseException:
        _finally(lambda: shutil.rmtree(new, ignore_errors=True))
        raise
    _swap_in(out, new)


def _swap_in(out: Path, new: Path) -> None:
    """Put the complete tree `new` (beside `out`) in place of `out`, and remove it or the previous tree."""
    old: Path | None = None

    def put_back() -> None:
        if old is None or not os.path.lexists(old):
            return
        if not os.path.lexists(out):
            os.rename(old, out)  # the second rename failed: the previous output returns
        else:
            shutil.rmtree(old, ignore_errors=True)

    try:
        new.chmod(0o755)
        if not os.path.lexists(out):
            os.rename(new, out)
        elif not _exchange(new, out):  # after an exchange `new` holds the previous output
            old = out.parent / f".{out.name}.obsgen-old-{_token()}"
            # a kill between these two renames leaves `old` and no `out`: the next run renames it back
            os.rename(out, old)
            os.rename(new, out)
            os.rename(old, new)  # the previous output is garbage now: named so nothing restores it
    finally:
        _finally(put_back, lambda: shutil.rmtree(new, ignore_errors=True))


def _in_place(out: Path, files: dict[str, str], unchanged: set[str], removed: list[str]) -> None:
    # Stage every changed file beside its target, then journal the renames: a stop while staging leaves
    # the output untouched (the next run removes the staged files), one after it is finished by the next run.
    guard = _Guard(out)
    staged: list[tuple[str, str]] = []
    journal_tmp: list[str] = []

    def unstage() -> None:
        for tmp in [t for t, _ in staged] + journal_tmp:
            Path(guard.path(tmp)).unlink(missing_ok=True)
        _unmark_staging(out)

    _mark_staging(out)
    try:
        for path, text in sorted(files.items(), key=lambda item: item[0] == MANIFEST):  # the manifest last
            if path in unchanged:
                continue  # keeps its inode and mtime
            guard.parents(path, create=True)
            head, _, name = path.rpartition("/")
            tmp = f"{head}/" * bool(head) + f".{name}.{_token()}{TMP_SUFFIX}"
            staged.append((tmp, path))
            _write_new(guard.path(tmp), text)
        _write_journal(out, staged, removed, journal_tmp)
    except BaseException:
        if os.path.lexists(out / JOURNAL):  # stopped just after the journal was written: finish below
            _finish(out, staged, removed)
        else:
            _finally(unstage)
        raise
    try:
        _apply(out, staged, removed)
    except BaseException:
        _finish(out, staged, removed)
        raise
    (out / JOURNAL).unlink()
    _unmark_staging(out)


def _write_new(path: str, text: str | bytes) -> None:
    """Create the file `path` (it must not exist), mode 0644 whatever the umask, holding `text` (or its
    UTF-8 bytes)."""
    # The file object owns the descriptor at once and is its only closer: a signal's exception raised just
    # after a call returns (where Python runs handlers) must not close it a second time, which failed a
    # SIGHUP'd render with "Bad file descriptor" instead of its exit 129.
    with open(_create(path), "wb") as f:
        os.fchmod(f.fileno(), 0o644)
        f.write(text.encode("utf-8") if isinstance(text, str) else text)


def _create(path: str) -> int:
    # a fresh name (tokens do not repeat in practice); never opens what is already there, nor a link
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _finish(out: Path, renames: list[tuple[str, str]], removals: list[str]) -> None:
    # After a stop or an error, try once more what the journal says, so the run leaves the new files;
    # if that fails too, the journal stays and the next run finishes it.
    with suppress(BaseException):
        _apply(out, renames, removals)
        (out / JOURNAL).unlink()


def _write_journal(out: Path, renames: list[tuple[str, str]], removals: list[str], tmp: list[str]) -> None:
    """The journal, atomically: a temporary file, synced, renamed into place."""
    text = json.dumps({"generator": f"obsgen {__version__}", "renames": renames, "removals": removals},
                      indent=1) + "\n"
    tmp_name = f".{JOURNAL}.{_token()}{TMP_SUFFIX}"
    tmp.append(tmp_name)
    with open(_create(os.path.join(out, tmp_name)), "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(out / tmp_name, out / JOURNAL)
    tmp.clear()
    with suppress(OSError):  # the rename itself is durable once the folder is synced
        dir_fd = os.open(out, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
