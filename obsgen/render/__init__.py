"""Renderers: one module per output family, each a pure `render(model) -> {relative path: text}`.

Packaging families come after them and are given what the others rendered as well
(`render(model, rendered)`): the Kubernetes manifests pack those files into ConfigMaps, the output README
lists them. They never render a config a second time.

A re-render may be given the texts of the files of services that did not change (`kept`, read from the
previous output: `own_files` says which they are): their families then leave those services out, and the
families about every service, and the packaging, get the kept texts as if rendered.

The aggregate files about every service (grafana/dashboards/_overview.json, proof/alerts.json,
proof/routes.json: the JOINED families) are joined from per-service parts (`obsgen.render.parts`): given a
`Record`, a re-render reuses the parts of unchanged services, cut from the previous text at the spans
recorded beside the output, and renders only the others'; the join is the same either way, so are the
bytes (the overview's join shifts a kept part's panel ids and places to where it now stands). A join in
which nothing moved gives back the earlier text itself, which the sink takes by the sha256 it was read
with (`Sink.put_read`: not encoded nor hashed again, nor written where the output holds it). What the
README reads of proof/alerts.json is read as it is joined (`_read_joined`), not read back from the sink. For a
large spec, each joined file is joined by a forked child, all three side by side with what this process
renders meanwhile: the child writes the file at a place the sink reserves for it and sends back its sha256,
its parts' spans and what is read of it (`_join_beside`); a child that fails leaves the join to this process.

Because renderers are pure, a large spec's per-service files (the KEEPING families' `service_files`: rule
and test files, LogQL rules, dashboards, most of the work) are rendered in chunks by forked processes, one
per usable core but this one, while this process renders the other files; then it makes chunks too, from
the other end of the services left (see SHARE). A chunk also makes its services' parts of the JOINED files
(`_service_work`), so that this process only joins them; one process makes them the same way, service by
service. Every file is a function of the model alone and the joined files take the parts in the spec's
order, so the bytes never depend on how many processes there were, nor on which made what.

Given a `Sink` (obsgen.write's Stage), render_all hands every family's files, and every chunk of the
processes', to it as soon as they are rendered, and holds none of them (where the sink is a new tree, a
forked process writes its chunks' files into it itself and sends only their sha256s: the texts, most of
the output's bytes, never cross a pipe, and their encoding, hashing and writing is spread over the processes): the packaging families read the
files they pack back from it one at a time (a Kubernetes ConfigMap's copy of another file is staged as a
copy, not as a text), so a large spec's output is never in memory as a whole.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from importlib import import_module
from multiprocessing import get_context
from typing import Any, Protocol

from ..forking import Forked, die_with_parent, fork_json, jobs
from ..forking import JobsError as JobsError  # the render commands report it
from ..model import Model, ServiceModel
from .kubernetes import SIZES, measured
from .loki import TENANT
from .parts import Part, Record
from .prometheus import ALERTING_MEMO
from .prometheus_tests import COVERAGE_MEMO

FAMILIES: list[tuple[str, str]] = [
    ("prometheus", "obsgen.render.prometheus"),
    ("alertmanager", "obsgen.render.alertmanager"),
    ("blackbox", "obsgen.render.blackbox"),
    ("loki", "obsgen.render.loki"),
    ("fluentd", "obsgen.render.fluentd"),
    ("grafana", "obsgen.render.grafana"),
    ("overview", "obsgen.render.grafana_overview"),
    ("compose", "obsgen.render.compose"),
    ("proof", "obsgen.render.proof"),
    ("routes", "obsgen.render.routes"),
    ("ruler", "obsgen.render.ruler"),
]
PACKAGING: list[tuple[str, str]] = [
    ("kubernetes", "obsgen.render.kubernetes"),
    ("readme", "obsgen.render.readme"),
]
STEPS = len(FAMILIES) + len(PACKAGING)  # the calls of render_all's `step`
FORK_FROM_SERVICES = 50  # below this, forking costs about what it saves
JOIN_BESIDE_FROM = 200  # services; below this, joining a file takes a few ms
# Each join child after the first asks for this much less CPU than the one before (os.nice): the packaging
# reads the overview first, and waited for it while the other two children shared the cores with it
JOIN_NICE = 5
# Chunks of services a process renders at a time: the forked processes take them from the front of the
# services left, this one from the back, each a 1/(SHARE * processes) of what is left, so that processes that
# started late or run on a busier core do fewer, and the last chunks are small: none waits long for another's
# last (with one chunk for all that was left, it did for a second at 1,000 services). At least MIN_CHUNK (a
# chunk's round trip is a few ms), at most MAX_CHUNK, whose files cross the pipe as one message.
SHARE = 4
MIN_CHUNK = 4
MAX_CHUNK = 200
QUEUED = 2  # chunks given to each forked process at a time: it renders one while the other's files cross
PIPE_SWITCH_INTERVAL = 0.0005  # seconds; see render_all
SERVICE_MEMOS = (COVERAGE_MEMO, ALERTING_MEMO)  # kept by the services' files for their parts
PIPE_SIZE = 1 << 20  # bytes: Linux's largest for an unprivileged process by default (see _widen)

# Families that leave out the files of kept services: each takes `keep`, the names of those services, and
# has `service_files(model, svc)`, the files of one service, which the forked processes render.
KEEPING = frozenset({"prometheus", "loki", "grafana"})
# Families of one file joined from per-service parts (obsgen.render.parts): a re-render given a Record
# renders the parts of the services it holds none for.
JOINED = frozenset({"overview", "proof", "routes"})
_SERVICE_FAMILIES = [module for family, module in FAMILIES if family in KEEPING]
_JOINED_FAMILIES = [module for family, module in FAMILIES if family in JOINED]
# The parts of the JOINED files made with the services' files: a file's path -> service -> key -> Part
Parts = dict[str, dict[str, dict[str, Part]]]
# a chunk's files (their texts, or their sha256s where a forked process wrote them into the sink: `written`),
# parts and sizes (kubernetes.measured)
Work = tuple[dict[str, str], Parts, dict[str, int], bool]

# What the forked processes render: inherited, never pickled
_forked_model: Model | None = None
_forked_services: list[ServiceModel] = []
_forked_sink: Sink | None = None  # where they write their chunks' files (a new tree), if anywhere


class Sink(Protocol):
    """Where render_all puts files as they are rendered (obsgen.write.Stage)."""

    def put(self, files: Mapping[str, str]) -> None: ...

    def copy(self, path: str, source: str) -> None: ...

    def read(self, path: str, limit: int | None = None) -> str: ...

    def sha(self, path: str) -> str: ...

    def put_read(self, path: str, text: str, sha: str) -> None:
        """Put `text`, read from the output, whose sha256 is `sha`."""

    def forked_writes(self) -> bool:
        """Whether a forked process may `write_forked` into this sink, for this one to `adopt`."""

    def write_forked(self, files: Mapping[str, str]) -> dict[str, str]:
        """In a forked process: write `files`; their sha256s by path."""

    def adopt(self, shas: Mapping[str, str]) -> None:
        """Take the files a forked process wrote, by their sha256s."""

    def reserve(self, path: str) -> str:
        """The file a forked process is to write `path` at (`write_reserved`)."""

    def write_reserved(self, place: str, data: bytes) -> None:
        """In the forked process: `data` at the reserved `place`."""

    def adopt_reserved(self, path: str, sha: str) -> None:
        """Take the file written at `path`'s reserved place, by its sha256."""

    def holds(self, path: str, sha: str) -> bool:
        """Whether the output holds `path` with the bytes whose sha256 is `sha` (staging them changes nothing)."""

    def read_held(self, path: str, sha: str) -> str | None:
        """The output's text of `path` if its sha256 is `sha` (the earlier text a Record's parts are cut from)."""

    def unreserve(self, path: str) -> None:
        """Give up `path`'s reserved place."""


class Staged(Mapping[str, str]):
    """The files put into a sink, by path, each text read back from it when asked for."""

    def __init__(self, sink: Sink, paths: dict[str, None], settle: Callable[[str], None] = lambda _: None) -> None:
        self.sink = sink
        self.paths = paths
        self.settle = settle  # called with a path before it is read: a file still being joined is staged first

    def __getitem__(self, path: str) -> str:
        if path not in self.paths:
            raise KeyError(path)
        self.settle(path)
        return self.sink.read(path)

    def __contains__(self, path: object) -> bool:
        return path in self.paths

    def sha(self, path: str) -> str:
        """The sha256 of the text at `path`, known to the sink without reading it."""
        self.settle(path)
        return self.sink.sha(path)

    def head(self, path: str, size: int) -> str:
        """The first `size` characters of the text at `path` (the whole text if shorter)."""
        if path not in self.paths:
            raise KeyError(path)
        self.settle(path)
        return self.sink.read(path, size)

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


_TAKEN: Future[Any] = Future()  # in the list of futures, one whose files were added


def own_files(svc: ServiceModel) -> list[str]:
    """The files that are a service's alone (a function of its digest, `obsgen.digest`), which the KEEPING
    families leave out for a kept service."""
    paths = [f"grafana/dashboards/{svc.name}.json", f"prometheus/rules/{svc.name}.yml",
             f"prometheus/tests/{svc.name}.test.yml"]
    if svc.log_alerts:
        paths.append(f"loki/rules/{TENANT}/{svc.name}.yml")
    return paths


def _processes(services: int) -> int:
    # Linux only: forking is what makes the model free to share, and elsewhere it is unsafe (macOS) or absent.
    n = jobs()  # a wrong OBSGEN_JOBS is said whatever the spec's size
    return 1 if services < FORK_FROM_SERVICES or sys.platform != "linux" else n


class _Left:
    """The services no process has taken yet (`services[lo:hi]`), handed out in chunks (see SHARE)."""

    def __init__(self, services: int, processes: int) -> None:
        self.lo, self.hi, self.processes = 0, services, processes

    def take(self, front: bool) -> slice | None:
        left = self.hi - self.lo
        if left <= 0:
            return None
        size = min(left, max(MIN_CHUNK, min(MAX_CHUNK, -(-left // (SHARE * self.processes)))))
        if front:
            self.lo += size
            return slice(self.lo - size, self.lo)
        self.hi -= size
        return slice(self.hi, self.hi + size)


def _service_files(model: Model, services: list[ServiceModel]) -> dict[str, str]:
    files: dict[str, str] = {}
    for svc in services:
        for module in _SERVICE_FAMILIES:
            files.update(import_module(module).service_files(model, svc))
    return files


def _service_work(model: Model, services: list[ServiceModel]) -> Work:
    """The services' files, then their parts of the JOINED files (which read what rendering the files
    memoized: the coverage, the alerting rules), and the sizes kubernetes/ packs the files at."""
    files = _service_files(model, services)
    parts: Parts = {}
    for module in _JOINED_FAMILIES:
        mod = import_module(module)
        parts[mod.PATH] = {svc.name: mod.service_parts(model, svc) for svc in services}
    for svc in services:  # what the parts read of the files is read; held on, it grows with the services
        for key in SERVICE_MEMOS:
            model.memo.pop((key, svc.name), None)
    return files, parts, measured(model, files), False


def _render_chunk(chunk: slice) -> Work:
    """A forked process's chunk: its files and parts. What the renderers memoized on the way stays there:
    only the parts read it, and they are made here."""
    assert _forked_model is not None
    files, parts, sizes, _ = _service_work(_forked_model, _forked_services[chunk])
    if _forked_sink is None:
        return files, parts, sizes, False
    # written here, not sent through the pipe to be written there: only their sha256s cross it
    return _forked_sink.write_forked(files), parts, sizes, True


def _widen(pool: ProcessPoolExecutor) -> None:
    """The pipe the chunks' files come back through, PIPE_SIZE wide: read in pipefuls by the executor's
    thread, each read waiting for this thread to give up the interpreter lock (64 KB: the processes waited
    for it between chunks, a tenth of the time at 1,000 services). Where it cannot be, it stays as it is."""
    try:
        import fcntl

        fcntl.fcntl(pool._result_queue._reader.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass


def _collect(model: Model, services: list[ServiceModel], left: _Left, futures: list[Future[Work]],
             got: Callable[[Work], None], lock: threading.RLock, failed: list[BaseException]) -> None:
    """`got` every chunk's files and parts: this process makes chunks from the back of those `left` until
    none is (or a process failed), then takes the processes' as they are done (unless the executor's thread
    has: see `arrived`)."""
    while not failed:
        with lock:
            chunk = left.take(front=False)
        if chunk is None:
            break
        got(_service_work(model, services[chunk]))
    with lock:  # none is given to a process from here on: none is left
        given = list(futures)
    for i, future in enumerate(given):
        if future is not _TAKEN:
            future.result()  # waits; raises a process's error
            _take(futures, i, future, got, lock)


def _take(futures: list[Future[Work]], i: int, future: Future[Work], got: Callable[[Work], None],
          lock: threading.RLock) -> None:
    """`got` the files and parts of the done chunk `i`, unless they were (by the executor's thread, or this
    one)."""
    with lock:
        if futures[i] is not future:
            return
        work = future.result()
        futures[i] = _TAKEN
        got(work)


def _add_parts(made: Parts, parts: Parts) -> None:
    """Add a chunk's `parts` to those `made` so far; a service's twice is an error, not a choice."""
    for path, services in parts.items():
        into = made.setdefault(path, {})
        for name, own in services.items():
            if name in into:
                raise RuntimeError(f"{path}: the parts of service {name!r} were made twice")
            into[name] = own


def _joined(module: str, model: Model, record: Record | None, made: Parts, todo: list[ServiceModel],
            sink: Sink | None = None) -> dict[str, str]:
    """A JOINED family's file from the parts `made` with the services' files (those of `todo`, every one
    of them) and, for the others, the kept parts of `record` (else made here; those it keeps for later are
    cut from the earlier text the sink reads now); records where they stand."""
    mod = import_module(module)
    if record is not None and sink is not None:
        record.load(mod.PATH, sink.read_held)
    kept = record.kept.get(mod.PATH, {}) if record is not None else {}
    fresh = made.pop(mod.PATH, {})
    rendered = {svc.name for svc in todo}
    parts: dict[str, Part] = {}
    owner: dict[str, str] = {}
    for svc in model.services:
        own = fresh.pop(svc.name, None)
        if own is None:
            if svc.name in rendered:
                raise RuntimeError(f"{mod.PATH}: no parts of service {svc.name!r} came with its files")
            own = kept.get(svc.name)
        if own is None:
            own = mod.service_parts(model, svc)
        parts.update(own)
        owner.update(dict.fromkeys(own, svc.name))
    if fresh:
        raise RuntimeError(f"{mod.PATH}: parts of {', '.join(map(repr, fresh))}, a service not in the spec")
    joined = mod.join(model, parts)
    if record is not None:
        spans: dict[str, dict[str, list[object]]] = {}
        for key, (start, end) in joined.spans.items():
            if key in owner:
                spans.setdefault(owner[key], {})[key] = [start, end, joined.metas.get(key, parts[key].meta)]
        record.made[mod.PATH] = spans
    return {mod.PATH: joined.text}


def _join_beside(module: str, model: Model, record: Record | None, made: Parts, todo: list[ServiceModel],
                 sink: Sink, nice: int = 0) -> Forked | None:
    """A forked child joining `module`'s file (as `_joined`: the earlier text its kept parts are cut from is
    read there, not here) and writing it at the place the sink reserves for it, unless the output holds it
    already; it sends back the text's sha256 (`held`: unwritten), where the parts stand and what is read of it."""
    mod = import_module(module)
    path = mod.PATH
    place = sink.reserve(path)

    def joined() -> dict[str, Any]:
        text = _joined(module, model, record, made, todo, sink)[path]
        spans = record.made[path] if record is not None else None
        # what the packaging reads of the file (`_read_joined`), read here too
        read = list(mod.read(text)) if hasattr(mod, "READ_MEMO") else None
        earlier = record.earlier.get(path) if record is not None else None
        if earlier is not None and earlier[0] is text and sink.holds(path, earlier[1]):
            return {"held": earlier[1], "spans": spans, "read": read}
        data = text.encode("utf-8")
        sink.write_reserved(place, data)
        return {"sha": hashlib.sha256(data).hexdigest(), "spans": spans, "read": read}

    child = fork_json(joined, nice)
    if child is None:
        sink.unreserve(path)
    return child


def _joined_beside(child: Forked, module: str, model: Model, record: Record | None, sink: Sink) -> bool:
    """Stage the file a `_join_beside` child wrote, and record where its parts stand (and what is read of it);
    False (its place given up) if the child did not finish well, for this process to join the file itself."""
    mod = import_module(module)
    path = mod.PATH
    found = child.collect()
    value = found["value"] if found is not None else None
    if (not isinstance(value, dict) or (record is not None) != isinstance(value.get("spans"), dict)
            or hasattr(mod, "READ_MEMO") != (isinstance(value.get("read"), list) and len(value["read"]) == 2)):
        sink.unreserve(path)
        return False
    held = value.get("held")  # unwritten: the output holds it as it is
    sha = held if isinstance(held, str) and sink.holds(path, held) else value.get("sha")
    if not (isinstance(sha, str) and len(sha) == 64):
        sink.unreserve(path)
        return False
    sink.adopt_reserved(path, sha)
    if record is not None:
        record.made[path] = value["spans"]
    if hasattr(mod, "READ_MEMO"):  # as `_read_joined` notes it
        model.memo.setdefault(mod.READ_MEMO, {})[sink.sha(path)] = tuple(value["read"])
    return True


def _read_joined(mod: Any, model: Model, joined: dict[str, str], sink: Sink) -> None:
    """What a packaging family reads of a JOINED file (its module's `read`), read while the text is at hand
    and memoized by the sha256 the sink staged it under (`READ_MEMO`): not read back from the sink."""
    if hasattr(mod, "READ_MEMO"):
        model.memo.setdefault(mod.READ_MEMO, {})[sink.sha(mod.PATH)] = mod.read(joined[mod.PATH])


def render_all(model: Model, kept: dict[str, str] | None = None,
               step: Callable[[str], None] = lambda _: None, record: Record | None = None) -> dict[str, str]:
    """Every file of the output, by path in order. `kept`: texts an earlier render wrote (see `own_files`);
    a service all of whose own files are there is not rendered again by the KEEPING families. `step` is
    told each family as it starts (`STEPS` of them: a progress bar's). `record`: the JOINED families' parts,
    kept ones in and this render's out (obsgen.render.parts)."""
    files = _render(model, kept, step, record, None)
    assert isinstance(files, dict)
    return files


def render_into(sink: Sink, model: Model, kept: dict[str, str] | None = None,
                step: Callable[[str], None] = lambda _: None, record: Record | None = None) -> Staged:
    """render_all's files put into `sink` as they are rendered (`kept` is emptied into it, so its texts are
    not held twice); returns them, read back from the sink when asked for."""
    files = _render(model, kept, step, record, sink)
    assert isinstance(files, Staged)
    return files


def _render(model: Model, kept: dict[str, str] | None, step: Callable[[str], None], record: Record | None,
            sink: Sink | None) -> Mapping[str, str]:
    global _forked_model, _forked_services, _forked_sink
    files: dict[str, str] = {}
    paths: dict[str, None] = {}
    keep: frozenset[str] = frozenset()
    if kept:
        keep = frozenset(svc.name for svc in model.services if all(p in kept for p in own_files(svc)))

    def claim(family: str, path: str) -> None:
        if path in paths:
            raise RuntimeError(f"{family} renders {path}, which another family already rendered")
        paths[path] = None

    lock = threading.RLock()  # with a sink, the executor's thread adds the processes' chunks as they arrive
    failed: list[BaseException] = []

    def add(family: str, rendered: Mapping[str, str]) -> None:
        with lock:
            for path in rendered:
                claim(family, path)
            if sink is None:
                files.update(rendered)
            else:
                sink.put(rendered)

    made: Parts = {}  # the todo services' parts of the JOINED files, as their files are rendered

    def put_joined(module: str, joined: dict[str, str]) -> None:
        """A JOINED family's file (its path claimed): the earlier text itself by its sha256 (`put_read`)."""
        (path, text), = joined.items()
        earlier = record.earlier.get(path) if record is not None else None
        with lock:
            if sink is None:
                files.update(joined)
            elif earlier is not None and earlier[0] is text:  # the text read: not encoded nor hashed again
                sink.put_read(path, text, earlier[1])
            else:
                sink.put(joined)
        if sink is not None:
            _read_joined(import_module(module), model, joined, sink)

    def got(work: Work) -> None:
        texts, parts, sizes, written = work
        with lock:
            _add_parts(made, parts)
            if written:
                assert sink is not None
                for path in texts:
                    claim("services", path)
                sink.adopt(texts)
            else:
                add("services", texts)
            if sink is not None:  # by the shas just staged: kubernetes/ need not read these texts back
                known = model.memo.setdefault(SIZES, {})
                for path, size in sizes.items():
                    known[sink.sha(path)] = size

    def give() -> None:
        """Give a forked process the next chunk from the front, if one is left."""
        with lock:
            chunk = left.take(front=True)
            if chunk is not None:
                assert pool is not None
                future = pool.submit(_render_chunk, chunk)
                futures.append(future)
                future.add_done_callback(functools.partial(arrived, len(futures) - 1))

    def arrived(i: int, future: Future[Work]) -> None:
        # in the executor's thread: the process is given its next chunk, then this one's files are staged
        # at once, not held while this thread renders
        if future.cancelled():
            return
        try:
            error = future.exception()
            if error is not None:
                failed.append(error)  # raised by _collect; this process makes no more chunks
                return
            give()
            _take(futures, i, future, got, lock)
        except BaseException as e:  # noqa: BLE001 - re-raised in this thread by _collect's caller
            failed.append(e)

    if record is not None:  # sizes of texts measured before, by their sha (kubernetes.SIZES)
        model.memo[SIZES] = dict(record.sizes)
    if keep:
        assert kept is not None
        own = [p for svc in model.services if svc.name in keep for p in own_files(svc)]
        add("kept", {p: kept[p] for p in own})
        if sink is not None:
            kept.clear()
    todo = [svc for svc in model.services if svc.name not in keep]
    processes = _processes(len(todo))
    pool = None
    left = _Left(len(todo), processes)
    futures: list[Future[Work]] = []
    # A large spec's JOINED files are joined side by side, each by a forked child that writes it into the sink
    # (`_join_beside`) while this process renders on
    beside = (sink is not None and len(model.services) >= JOIN_BESIDE_FROM
              and _processes(len(model.services)) > 1)
    joining: dict[str, tuple[str, Forked]] = {}  # path -> its module and child, in the order of FAMILIES

    def settle(path: str | None = None) -> None:
        """Stage the files the join children write, in order, up to `path`'s (every one: None); a packaging
        family reads what it packs from the sink, so the children join on while it reads other files."""
        while joining and (path is None or path in joining):
            first = next(iter(joining))
            module, child = joining[first]  # left there until staged: an interrupt meanwhile ends the child
            assert sink is not None
            if not _joined_beside(child, module, model, record, sink):  # joined here after all
                put_joined(module, _joined(module, model, record, made, todo, sink))
            made.pop(first, None)
            del joining[first]
    # what the families render here leave out: every service's files are rendered with its parts (below)
    left_out = keep | {svc.name for svc in todo}
    switch = sys.getswitchinterval()
    try:
        try:
            if processes > 1:
                # The executor's thread here reads each chunk's files from a pipe, a pipeful at a time, taking
                # the interpreter lock from this thread for each; at the default 5 ms a turn, the processes
                # waited for their pipes to drain longer than they rendered (measured at 1,000 services).
                sys.setswitchinterval(PIPE_SWITCH_INTERVAL)
                _forked_model, _forked_services = model, todo
                _forked_sink = sink if sink is not None and sink.forked_writes() else None
                pool = ProcessPoolExecutor(processes - 1, mp_context=get_context("fork"),
                                           initializer=die_with_parent, initargs=(os.getpid(),))
                _widen(pool)
                for _ in range(QUEUED * (processes - 1)):
                    give()
            last_keeping = max(i for i, (family, _) in enumerate(FAMILIES) if family in KEEPING)
            for i, (family, module) in enumerate(FAMILIES):
                step(f"{family} ({len(todo):,} of {len(model.services):,} services)" if family in KEEPING else family)
                if family in JOINED:
                    mod = import_module(module)
                    with lock:
                        claim(family, mod.PATH)
                    if beside:
                        assert sink is not None
                        child = _join_beside(module, model, record, made, todo, sink, JOIN_NICE * len(joining))
                        if child is not None:
                            joining[mod.PATH] = (module, child)
                            continue
                    put_joined(module, _joined(module, model, record, made, todo, sink))
                else:
                    render = import_module(module).render
                    add(family, render(model, keep=left_out) if family in KEEPING else render(model))
                if i == last_keeping and futures:  # the families after it join every service's parts
                    _collect(model, todo, left, futures, got, lock, failed)
                    if failed:
                        raise failed[0]
                elif i == last_keeping:  # one service at a time: with a sink, its files are not held
                    for svc in todo:
                        got(_service_work(model, [svc]))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            sys.setswitchinterval(switch)
            _forked_model, _forked_services, _forked_sink = None, [], None
        for family, module in PACKAGING:
            step(family)
            mod = import_module(module)
            if sink is None:
                add(family, mod.render(model, dict(files)))
            elif hasattr(mod, "package"):  # its copies of other files are staged as copies, not read back
                own_texts, copies = mod.package(model, Staged(sink, dict(paths), settle))
                add(family, own_texts)
                for path, source in copies.items():
                    settle(source)
                    claim(family, path)
                    sink.copy(path, source)
            else:
                add(family, mod.render(model, Staged(sink, dict(paths), settle)))
        settle()
    finally:
        for _, child in joining.values():  # interrupted: they go too, by their own handles
            child.end()
    ordered = sorted(paths)
    if record is not None and sink is not None:  # for the next re-render: the sizes of this output's texts
        live = {sink.sha(p) for p in ordered}
        record.made_sizes = {sha: n for sha, n in model.memo.get(SIZES, {}).items() if sha in live}
    return {p: files[p] for p in ordered} if sink is None else Staged(sink, dict.fromkeys(ordered))
