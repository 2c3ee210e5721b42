"""Renderers: one module per output family, each a pure `render(model) -> {relative path: text}`."""

from __future__ import annotations

from importlib import import_module

from ..model import Model

# (family, module). Order only matters for the summary table; paths never collide (checked below).
FAMILIES: list[tuple[str, str]] = [
    ("prometheus", "obsgen.render.prometheus"),
    ("alertmanager", "obsgen.render.alertmanager"),
    ("loki", "obsgen.render.loki"),
    ("fluentd", "obsgen.render.fluentd"),
    ("grafana", "obsgen.render.grafana"),
    ("compose", "obsgen.render.compose"),
    ("kubernetes", "obsgen.render.kubernetes"),
]


def render_all(model: Model) -> dict[str, str]:
    files: dict[str, str] = {}
    for family, module in FAMILIES:
        for path, text in import_module(module).render(model).items():
            if path in files:
                raise RuntimeError(f"{family} renders {path}, which another family already rendered")
            files[path] = text
    return dict(sorted(files.items()))
