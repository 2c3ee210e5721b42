"""Renderers: one module per output family, each a pure `render(model) -> {relative path: text}`.

Packaging families come after them and are given what the others rendered as well
(`render(model, rendered)`): the Kubernetes manifests pack those files into ConfigMaps, the output README
lists them. They never render a config a second time.

A re-render may be given the texts of the files of services that did not change (`kept`, read from the
previous output: `own_files` says which they are): their families then leave those services out, and the
families about every service, and the packaging, get the kept texts as if rendered.

The aggregate files about every service's alerts (proof/alerts.json, proof/routes.json: the JOINED families)
are joined from per-service parts (`obsgen.render.parts`): given a `Record`, a re-render reuses the parts of
unchanged services, cut from the previous text at the spans recorded beside the output, and renders only
the others'; the join is the same either way, so are the bytes.

Because renderers are pure, most of a large spec's Grafana dashboards (the largest family) are
rendered in a forked process while this one renders the other families and then the remaining
dashboards: the same bytes, sooner wherever a second core is free.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from importlib import import_module
from multiprocessing import get_context

from ..model import Model, ServiceModel
from .parts import Part, Record

FAMILIES: list[tuple[str, str]] = [
    ("prometheus", "obsgen.render.prometheus"),
    ("alertmanager", "obsgen.render.alertmanager"),
    ("blackbox", "obsgen.render.blackbox"),
    ("loki", "obsgen.render.loki"),
    ("fluentd", "obsgen.render.fluentd"),
    ("grafana", "obsgen.render.grafana"),
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
# The forked process's share of the service dashboards: the other families and the remaining quarter
# then take this process about as long as its three quarters take that one (measured at 1,000 services:
# 2.5 s in all, against 2.9 s when the forked process rendered every dashboard).
FORKED_SHARE = 0.75

# Families that leave out the files of kept services: each takes `keep`, the names of those services.
KEEPING = frozenset({"prometheus", "loki", "grafana"})
# Families of one file joined from per-service parts (obsgen.render.parts): a re-render given a Record
# renders the parts of the services it holds none for.
JOINED = frozenset({"proof", "routes"})

_forked_model: Model | None = None  # what the forked process renders: inherited, never pickled
_forked_keep: frozenset[str] = frozenset()


def own_files(svc: ServiceModel) -> list[str]:
    """The files that are a service's alone (a function of its digest, `obsgen.digest`), which the KEEPING
    families leave out for a kept service."""
    from .loki import TENANT

    paths = [f"grafana/dashboards/{svc.name}.json", f"prometheus/rules/{svc.name}.yml",
             f"prometheus/tests/{svc.name}.test.yml"]
    if svc.log_alerts:
        paths.append(f"loki/rules/{TENANT}/{svc.name}.yml")
    return paths


def _render_forked(services: slice) -> dict[str, str]:
    from . import grafana

    assert _forked_model is not None
    return grafana.render(_forked_model, services, **_keeping(_forked_keep))


def _die_with_parent(parent: int) -> None:
    """The forked worker's start: it dies with this process, even one killed by SIGKILL, instead of
    rendering on for nobody; and a SIGTERM or SIGHUP simply ends it (the parent does the cleaning up)."""
    for name in ("SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    if sys.platform == "linux":
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)


def _keeping(keep: frozenset[str]) -> dict[str, frozenset[str]]:
    return {"keep": keep} if keep else {}  # a full render calls the renderers as it always did


def _fork_pays(model: Model, keep: frozenset[str] = frozenset()) -> bool:
    # Linux only: forking is what makes the model free to share, and elsewhere it is unsafe (macOS) or absent.
    return (len(model.services) - len(keep) >= FORK_FROM_SERVICES and sys.platform == "linux"
            and len(os.sched_getaffinity(0)) > 1 and os.environ.get("OBSGEN_JOBS") != "1")


def _joined(module: str, model: Model, record: Record) -> dict[str, str]:
    """A JOINED family's file from the kept parts of `record` and fresh ones; records where they stand."""
    mod = import_module(module)
    kept = record.kept.get(mod.PATH, {})
    parts: dict[str, Part] = {}
    owner: dict[str, str] = {}
    for svc in model.services:
        own = kept.get(svc.name)
        if own is None:
            own = mod.service_parts(model, svc)
        parts.update(own)
        owner.update(dict.fromkeys(own, svc.name))
    joined = mod.join(model, parts)
    made: dict[str, dict[str, list[object]]] = {}
    for key, (start, end) in joined.spans.items():
        if key in owner:
            made.setdefault(owner[key], {})[key] = [start, end, parts[key].meta]
    record.made[mod.PATH] = made
    return {mod.PATH: joined.text}


def render_all(model: Model, kept: Mapping[str, str] | None = None,
               step: Callable[[str], None] = lambda _: None, record: Record | None = None) -> dict[str, str]:
    """Every file of the output. `kept`: texts an earlier render wrote (see `own_files`); a service all of
    whose own files are there is not rendered again by the KEEPING families. `step` is told each family
    as it starts (`STEPS` of them: a progress bar's). `record`: the JOINED families' parts, kept ones in and
    this render's out (obsgen.render.parts)."""
    global _forked_model, _forked_keep
    files: dict[str, str] = {}
    keep: frozenset[str] = frozenset()
    if kept:
        keep = frozenset(svc.name for svc in model.services if all(p in kept for p in own_files(svc)))

    def add(family: str, rendered: dict[str, str]) -> None:
        for path, text in rendered.items():
            if path in files:
                raise RuntimeError(f"{family} renders {path}, which another family already rendered")
            files[path] = text

    pool = None
    future: Future[dict[str, str]] | None = None
    if _fork_pays(model, keep):
        cut = int(len(model.services) * FORKED_SHARE)
        _forked_model, _forked_keep = model, keep
        pool = ProcessPoolExecutor(1, mp_context=get_context("fork"), initializer=_die_with_parent,
                                   initargs=(os.getpid(),))
        future = pool.submit(_render_forked, slice(0, cut))
    try:
        todo = len(model.services) - len(keep)
        for family, module in FAMILIES:
            step(f"{family} ({todo:,} of {len(model.services):,} services)" if family in KEEPING else family)
            if record is not None and family in JOINED:
                add(family, _joined(module, model, record))
            elif future is None or family != "grafana":
                render = import_module(module).render
                add(family, render(model, **_keeping(keep)) if family in KEEPING else render(model))
        if future is not None:
            from . import grafana

            add("grafana", grafana.render(model, slice(cut, None), **_keeping(keep)))
            add("grafana", future.result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            _forked_model, _forked_keep = None, frozenset()
    if keep:
        assert kept is not None
        add("kept", {p: kept[p] for svc in model.services if svc.name in keep for p in own_files(svc)})
    for family, module in PACKAGING:
        step(family)
        add(family, import_module(module).render(model, dict(files)))
    return dict(sorted(files.items()))
