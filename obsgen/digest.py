"""Digests of what an output tree is rendered from, so a re-render and `render --check` can tell what changed
without rendering (or reading) everything again.

Three levels, each covering obsgen's own code (every source file and template of the package, and its version:
a new obsgen invalidates every digest):

- the source digest: the bytes of the spec file, or of every file a spec folder is read from, and the spec's
  name (it is in every generated file's header). Equal source digests mean equal output, without loading.
- the global digest: the validated spec but its services (project, defaults, classes, channels, routing,
  stack, proof), which any service's files may read.
- one digest per service: the global digest and the service's own validated entry. A service's files (its
  rules, tests, dashboard, Loki rules) are a function of these alone, and so are its parts of the aggregate
  files joined from parts (proof/alerts.json, proof/routes.json: `obsgen.render.parts`); the other files
  about all services are always rendered again.

A spec folder's files are also cached by their bytes (`obsgen.spec.load.FileCache`): an unchanged file is
not parsed again, though every service is validated again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .spec.load import MAX_FOLDER_BYTES, folder_files
from .spec.models import Spec

_CODE_SKIP = {"__pycache__"}


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))  # length-prefixed: no two part lists hash alike
        h.update(data)
    return h.hexdigest()


@functools.cache
def code_digest() -> str:
    """obsgen's version and every file of the package (templates included, through their link)."""
    root = Path(__file__).resolve().parent
    parts: list[bytes | str] = [__version__]
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in _CODE_SKIP)
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / name
            parts += [path.relative_to(root).as_posix(), path.read_bytes()]
    return _sha(*parts)


def _regular_bytes(path: Path) -> bytes:
    """A regular file's bytes, never blocking: a FIFO, a device or anything larger than a spec folder may
    be raises OSError, and the loader says what is wrong with it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FOLDER_BYTES:
            raise OSError(f"{path} is not a spec file obsgen reads")
        return f.read(MAX_FOLDER_BYTES + 1)


def source_digest(spec_path: Path, source: str) -> str:
    """The spec's bytes (a folder: each file's path in it and bytes, in the loader's order), its name and
    obsgen's code. Raises OSError when a file cannot be read (the loader then says why)."""
    parts: list[bytes | str] = [code_digest(), source]
    if spec_path.is_dir():
        for f in folder_files(spec_path):
            parts += [f.relative_to(spec_path).as_posix(), _regular_bytes(f)]
    else:
        parts += ["", _regular_bytes(spec_path)]
    return _sha(*parts)


@dataclass(frozen=True)
class Digests:
    source: str
    global_: str
    services: tuple[tuple[str, str], ...]  # (name, digest) in the spec's order


def digests(spec: Spec, source: str, source_digest: str) -> Digests:
    shared = _sha(code_digest(), source, spec.model_dump_json(exclude={"services"}))
    return Digests(source_digest, shared,
                   tuple((svc.name, _sha(shared, svc.model_dump_json())) for svc in spec.services))
