"""Renderers: one module per output family, each a pure `render(model) -> {relative path: text}`.

Packaging families come after them and are given what the others rendered as well
(`render(model, rendered)`): the Kubernetes manifests pack those files into ConfigMaps, the output README
lists them. They never render a config a second time.

Because renderers are pure, a large spec's Grafana dashboards (the largest family) are rendered in a
forked process while this one renders the other families: the same bytes, sooner wherever a second
core is free.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from importlib import import_module
from multiprocessing import get_all_start_methods, get_context

from ..model import Model

FAMILIES: list[tuple[str, str]] = [
    ("prometheus", "obsgen.render.prometheus"),
    ("alertmanager", "obsgen.render.alertmanager"),
    ("loki", "obsgen.render.loki"),
    ("fluentd", "obsgen.render.fluentd"),
    ("grafana", "obsgen.render.grafana"),
    ("compose", "obsgen.render.compose"),
]
PACKAGING: list[tuple[str, str]] = [
    ("kubernetes", "obsgen.render.kubernetes"),
    ("readme", "obsgen.render.readme"),
]
FORKED_FAMILY = "grafana"
FORK_FROM_SERVICES = 50  # below this, forking costs about what it saves

_forked_model: Model | None = None  # what the forked process renders: inherited, never pickled


def _render_forked(module: str) -> dict[str, str]:
    assert _forked_model is not None
    rendered: dict[str, str] = import_module(module).render(_forked_model)
    return rendered


def _fork_pays(model: Model) -> bool:
    return (len(model.services) >= FORK_FROM_SERVICES and "fork" in get_all_start_methods()
            and len(os.sched_getaffinity(0)) > 1 and os.environ.get("OBSGEN_JOBS") != "1")


def render_all(model: Model) -> dict[str, str]:
    global _forked_model
    files: dict[str, str] = {}

    def add(family: str, rendered: dict[str, str]) -> None:
        for path, text in rendered.items():
            if path in files:
                raise RuntimeError(f"{family} renders {path}, which another family already rendered")
            files[path] = text

    pool, forked = None, None
    future: Future[dict[str, str]] | None = None
    if _fork_pays(model):
        forked = dict(FAMILIES)[FORKED_FAMILY]
        _forked_model = model
        pool = ProcessPoolExecutor(1, mp_context=get_context("fork"))
        future = pool.submit(_render_forked, forked)
    try:
        for family, module in FAMILIES:
            if module != forked:
                add(family, import_module(module).render(model))
        if future is not None:
            add(FORKED_FAMILY, future.result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            _forked_model = None
    for family, module in PACKAGING:
        add(family, import_module(module).render(model, dict(files)))
    return dict(sorted(files.items()))
