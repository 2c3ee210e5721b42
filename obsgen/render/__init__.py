"""Renderers: one module per output family, each a pure `render(model) -> {relative path: text}`.

Packaging families come after them and are given what the others rendered as well
(`render(model, rendered)`): the Kubernetes manifests pack those files into ConfigMaps, the output README
lists them. They never render a config a second time.
"""

from __future__ import annotations

from importlib import import_module

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


def render_all(model: Model) -> dict[str, str]:
    files: dict[str, str] = {}

    def add(family: str, rendered: dict[str, str]) -> None:
        for path, text in rendered.items():
            if path in files:
                raise RuntimeError(f"{family} renders {path}, which another family already rendered")
            files[path] = text

    for family, module in FAMILIES:
        add(family, import_module(module).render(model))
    for family, module in PACKAGING:
        add(family, import_module(module).render(model, dict(files)))
    return dict(sorted(files.items()))
