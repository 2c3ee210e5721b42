"""A spec folder's files parsed side by side, into its FileCache, before the folder is loaded.

Parsing YAML is most of loading a large folder (10,000 services: about 7 of 10 CPU seconds) and each file
parses alone, so the files the cache does not hold yet are parsed by forked processes, which send back
what `FileCache.load` would have kept of them: their data as JSON text, by the digest of their bytes.
The folder is then loaded as always and finds them in the cache. A file that cannot be read or has a
problem is left out: loading it again is what says where the problem is. Nothing here decides anything
the loading does not: with or without it, the same data comes out (tests compare).
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path as FsPath

from ..forking import die_with_parent
from .errors import SpecError
from .load import FileCache, _read, folder_files, load_text

MIN_BYTES = 256 * 1024  # below this, forking costs about what it saves (a spec of ~250 services)


def prefill(cache: FileCache, folder: FsPath, processes: int) -> int:
    """Parse the files of `folder` that `cache` does not hold, in up to `processes` processes (this one
    included), into `cache.ahead`; returns how many were added. Does nothing for one process, off Linux
    (forking is what makes it cheap), or when there is too little to parse."""
    if processes < 2 or sys.platform != "linux":
        return 0
    todo = _unparsed(cache, folder)
    if len(todo) < 2 or sum(size for size, _ in todo) < MIN_BYTES:
        return 0
    shares = _shares(todo, min(processes, len(todo)))
    parsed: dict[str, str] = {}
    pool = ProcessPoolExecutor(len(shares) - 1, mp_context=get_context("fork"),
                               initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        futures = [pool.submit(_parse, cache.salt, share) for share in shares[1:]]
        parsed.update(_parse(cache.salt, shares[0]))
        for future in futures:
            try:
                parsed.update(future.result())
            except Exception:  # noqa: BLE001 - a worker that failed parsed nothing: its files load here
                pass
    finally:
        pool.shutdown(cancel_futures=True)
    cache.ahead.update(parsed)
    return len(parsed)


def _unparsed(cache: FileCache, folder: FsPath) -> list[tuple[int, str]]:
    """(size, path) of the folder's files whose bytes the cache has no data for."""
    todo = []
    for path in folder_files(folder):
        try:
            raw = _read(path, str(path))
        except (OSError, ValueError, SpecError):
            continue  # loading it says why
        key = cache.key(raw)
        if key not in cache.old and key not in cache.ahead:
            todo.append((len(raw), str(path)))
    return todo


def _shares(todo: list[tuple[int, str]], n: int) -> list[list[str]]:
    """The files in `n` shares of about equal bytes (the largest first, each to the lightest share)."""
    shares: list[list[str]] = [[] for _ in range(n)]
    weights = [0] * n
    for size, path in sorted(todo, key=lambda t: (-t[0], t[1])):
        i = weights.index(min(weights))
        shares[i].append(path)
        weights[i] += size
    return shares


def _parse(salt: str, paths: list[str]) -> dict[str, str]:
    """What FileCache.load keeps of each file that loads without a problem."""
    cache = FileCache(salt)
    out: dict[str, str] = {}
    for path in paths:
        try:
            raw = _read(path, path)
            one = load_text(raw, path, places=False)  # the data alone: a file with a problem is left out
        except (OSError, ValueError, SpecError):
            continue
        if not one.problems:
            out[cache.key(raw)] = json.dumps(one.data)  # as FileCache.load keeps it
    return out
