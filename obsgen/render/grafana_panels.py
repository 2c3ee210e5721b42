"""Panel building blocks for the Grafana dashboards: panels, threshold steps, grid layout.

A builder returns its panel as the modern JSON `grafana_normalize` writes (a `Prepared` panel, from a
`Template` of grafanalib's panel made once per shape), or, inside `grafanalib_panels()`, as the grafanalib
object in grafanalib's own (old) vocabulary: datasources as the short names of DATASOURCE_TYPES (PROM, LOKI,
defined in grafana_normalize with the JSON they become), thresholds as `Threshold` lists, which
`grafana_normalize` turns into modern JSON in one place. The two write the same dashboards
(tests/test_grafana_panels.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ParamSpec, TypeAlias, TypeVar

import attr
from grafanalib import core as g

from ..model import ThresholdModel, show
from .grafana_normalize import LOKI, PROM, Prepared, Template, plain, rate_interval, target

GREEN, YELLOW, ORANGE, RED, DARK_RED = "green", "yellow", "orange", "red", "dark-red"
SEVERITY_COLOR = {"warning": ORANGE, "critical": RED}
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


P = ParamSpec("P")
R = TypeVar("R")


def unvalidated(build: Callable[P, R]) -> Callable[P, R]:
    """`build` with grafanalib's attrs validators off while it runs. They check only the types the builders
    pass, never a value of the spec (the spec is checked when loaded), and were a tenth of building a
    dashboard; the tests build every example's dashboards with them on too (tests/test_grafana_panels.py)."""
    @functools.wraps(build)
    def built(*args: P.args, **kwargs: P.kwargs) -> R:
        was = attr.validators.get_disabled()
        attr.validators.set_disabled(True)
        try:
            return build(*args, **kwargs)
        finally:
            attr.validators.set_disabled(was)
    return built


# --------------------------------------------------------------------------- thresholds


def steps(base: str, *levels: tuple[Decimal, str]) -> list[g.Threshold]:
    """Grafana threshold steps: `base` colour below the first level, each level's colour from it up."""
    try:
        return list(_steps(base, levels))
    except TypeError:  # a level that cannot be hashed (a signalling NaN): made afresh, to fail as it did
        return list(_steps.__wrapped__(base, levels))


@functools.lru_cache(maxsize=4096)
def _steps(base: str, levels: tuple[tuple[Decimal, str], ...]) -> tuple[g.Threshold, ...]:
    # Most panels draw the same few step lists; their Thresholds are shared, as nothing changes one once made.
    out = [g.Threshold(base, 0, 0.0)]
    out += [g.Threshold(color, i, float(value)) for i, (value, color) in enumerate(sorted(levels), start=1)]
    return tuple(out)


def threshold_steps(th: ThresholdModel | None) -> list[g.Threshold]:
    """The spec's warning/critical levels as steps: the same numbers that page, coloured by severity."""
    if th is None:
        return steps(GREEN)
    levels = sorted((value, sev) for sev, value in th.levels())
    if th.direction == "above":
        return steps(GREEN, *((v, SEVERITY_COLOR[sev]) for v, sev in levels))
    # below: the lowest level's colour is the base; each level hands over to the next-better colour
    colors = [SEVERITY_COLOR[sev] for _, sev in levels] + [GREEN]
    return steps(colors[0], *((v, colors[i + 1]) for i, (v, _) in enumerate(levels)))


def threshold_text(th: ThresholdModel | None) -> str:
    if th is None:
        return " The spec sets no threshold for it."
    word = "above" if th.direction == "above" else "below"
    parts = [f"{sev} {word} {show(th.kind, v)}" for sev, v in th.levels()]
    target = f"; target {show(th.kind, th.target)}" if th.target is not None else ""
    return f" Lines mark the alert {th.alert}: {', '.join(parts)}{target}."


# --------------------------------------------------------------------------- panels

BuiltPanel: TypeAlias = g.Panel | Prepared  # what a builder returns, for a Grid
_as_grafanalib = False


@contextmanager
def grafanalib_panels() -> Iterator[None]:
    """Inside, the builders make grafanalib panels, for `normalize` to convert: how every panel was made
    before templates, the oracle the templates are tested against."""
    global _as_grafanalib
    was, _as_grafanalib = _as_grafanalib, True
    try:
        yield
    finally:
        _as_grafanalib = was


_PANEL_SLOTS = {"title": ("title",), "description": ("description",), "targets": ("targets",)}
_FIELD_SLOTS = {"unit": ("fieldConfig", "defaults", "unit"),
                "steps": ("fieldConfig", "defaults", "thresholds", "steps"), "links": ("links",)}


def timeseries(title: str, description: str, queries: list[Query], unit: str, *,
               thresholds: list[g.Threshold] | None = None, links: list[dict[str, object]] | None = None,
               datasource: str = PROM, min_zero: bool = True) -> BuiltPanel:
    if not _as_grafanalib:
        made = _timeseries_template(datasource, bool(thresholds), min_zero).panel(
            title=title, description=description, targets=_targets_json(queries, datasource), unit=unit,
            steps=_steps_json(thresholds or steps(GREEN)), links=plain(links or []))
        if made is not None:
            return made
    return _timeseries(title, description, queries, unit, thresholds, links, datasource, min_zero)


def _timeseries(title: str, description: str, queries: list[Query], unit: str,
                thresholds: list[g.Threshold] | None, links: list[dict[str, object]] | None, datasource: str,
                min_zero: bool) -> g.TimeSeries:
    return g.TimeSeries(
        title=title, description=description, dataSource=datasource, targets=_targets(queries, datasource),
        unit=unit, thresholds=thresholds or steps(GREEN),
        thresholdsStyleMode="line" if thresholds else "off",
        legendDisplayMode="list", tooltipMode="multi", tooltipSort="desc", fillOpacity=10,
        links=links or [], valueMin=0 if min_zero else None,
    )


@functools.cache
def _timeseries_template(datasource: str, lines: bool, min_zero: bool) -> Template:
    # the shape: which datasource, whether thresholds are drawn as lines, whether the axis starts at zero
    sample = _timeseries("T", "D", [], "U", steps(GREEN, (Decimal(1), RED)) if lines else None, None,
                         datasource, min_zero)
    return Template(sample, {**_PANEL_SLOTS, **_FIELD_SLOTS})


def stat(title: str, description: str, query: Query, unit: str, *, thresholds: list[g.Threshold] | None = None,
         links: list[dict[str, object]] | None = None, no_value: str = "No data",
         mappings: list[dict[str, object]] | None = None) -> BuiltPanel:
    if not _as_grafanalib:
        made = _stat_template().panel(
            title=title, description=description, targets=_targets_json([query], PROM), unit=unit,
            steps=_steps_json(thresholds or steps(GREEN)), links=plain(links or []), no_value=no_value,
            mappings=plain(mappings or []))
        if made is not None:
            return made
    return _stat(title, description, query, unit, thresholds, links, no_value, mappings)


def _stat(title: str, description: str, query: Query, unit: str, thresholds: list[g.Threshold] | None,
          links: list[dict[str, object]] | None, no_value: str, mappings: list[dict[str, object]] | None) -> g.Stat:
    return g.Stat(
        title=title, description=description, dataSource=PROM, targets=_targets([query], PROM), format=unit,
        thresholds=thresholds or steps(GREEN), colorMode="background", graphMode="area", reduceCalc="lastNotNull",
        noValue=no_value, links=links or [], mappings=mappings or [],
    )


@functools.cache
def _stat_template() -> Template:
    return Template(_stat("T", "D", Query("E"), "U", None, None, "N", None), {
        **_PANEL_SLOTS, **_FIELD_SLOTS, "no_value": ("fieldConfig", "defaults", "noValue"),
        "mappings": ("fieldConfig", "defaults", "mappings")})


def table(title: str, description: str, query: Query,
          transformations: list[dict[str, object]] | None = None) -> BuiltPanel:
    if not _as_grafanalib:
        made = _table_template().panel(title=title, description=description, targets=_targets_json([query], PROM),
                                       transformations=plain(transformations or []))
        if made is not None:
            return made
    return _table(title, description, query, transformations)


def _table(title: str, description: str, query: Query, transformations: list[dict[str, object]] | None) -> g.Table:
    return g.Table(title=title, description=description, dataSource=PROM, targets=_targets([query], PROM),
                   unit="none", thresholds=steps(GREEN), transformations=transformations or [])


@functools.cache
def _table_template() -> Template:
    return Template(_table("T", "D", Query("E"), None), {**_PANEL_SLOTS, "transformations": ("transformations",)})


def logs(title: str, description: str, expr: str) -> BuiltPanel:
    if not _as_grafanalib:
        made = _logs_template().panel(title=title, description=description,
                                      targets=_targets_json([Query(expr)], LOKI))
        if made is not None:
            return made
    return _logs(title, description, expr)


def _logs(title: str, description: str, expr: str) -> g.Logs:
    return g.Logs(title=title, description=description, dataSource=LOKI, targets=_targets([Query(expr)], LOKI),
                  showTime=True, wrapLogMessages=True, enableLogDetails=True, prettifyLogMessage=False,
                  sortOrder="Descending")


@functools.cache
def _logs_template() -> Template:
    return Template(_logs("T", "D", "E"), _PANEL_SLOTS)


def row(title: str) -> BuiltPanel:
    if not _as_grafanalib:
        made = _row_template().panel(title=title)
        if made is not None:
            return made
    return g.RowPanel(title=title)


@functools.cache
def _row_template() -> Template:
    return Template(g.RowPanel(title="T"), {"title": ("title",)})


def _targets(queries: list[Query], datasource: str) -> list[g.Target]:
    return [
        g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), instant=q.instant,
                 datasource=datasource, format="table" if q.instant else "time_series")
        for i, q in enumerate(queries)
    ]


def _targets_json(queries: list[Query], datasource: str) -> list[dict[str, Any]]:
    """`_targets` as `normalize` writes them."""
    out = []
    for i, q in enumerate(queries):
        made = dict(_target_template(datasource, q.instant))
        made["expr"] = rate_interval(q.expr) if datasource == PROM else q.expr
        made["legendFormat"] = q.legend
        made["refId"] = chr(ord("A") + i)
        out.append(made)
    return out


@functools.cache
def _target_template(datasource: str, instant: bool) -> dict[str, Any]:
    made = target(_targets([Query("E", "L", instant)], datasource)[0])
    if not {"expr", "legendFormat", "refId"} <= made.keys():
        raise KeyError("a target's JSON without its expression, legend or id")
    return made


def _steps_json(thresholds: list[g.Threshold]) -> list[dict[str, object]]:
    """Threshold steps as `normalize` writes them: the base step's value null."""
    return [{"color": t.color, "value": None if t.index == 0 else t.value} for t in thresholds]


def link(title: str, url: str, new_tab: bool = False) -> dict[str, object]:
    return {"title": title, "url": url, "targetBlank": new_tab}


# --------------------------------------------------------------------------- layout


@dataclass
class Grid:
    """Places panels left to right on Grafana's 24-column grid, a new line when a panel does not fit."""

    panels: list[object] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _line_h: int = 0

    def row(self, title: str) -> None:
        self._newline()
        panel = row(title)
        panel.gridPos = g.GridPos(h=1, w=GRID_WIDTH, x=0, y=self._y)
        self.panels.append(panel)
        self._y += 1

    def add(self, panel: BuiltPanel, w: int, h: int = 8) -> None:
        if not 0 < w <= GRID_WIDTH:
            raise ValueError(f"panel width {w} outside the {GRID_WIDTH}-column grid")
        if self._x + w > GRID_WIDTH:
            self._newline()
        panel.gridPos = g.GridPos(h=h, w=w, x=self._x, y=self._y)
        self.panels.append(panel)
        self._x += w
        self._line_h = max(self._line_h, h)

    def fill(self, panels: list[BuiltPanel], h: int = 8) -> None:
        """One line of panels sharing the full width (the first ones one column wider if it doesn't divide)."""
        n = len(panels)
        for i, panel in enumerate(panels):
            self.add(panel, GRID_WIDTH // n + (1 if i < GRID_WIDTH % n else 0), h)

    def _newline(self) -> None:
        self._y += self._line_h
        self._x, self._line_h = 0, 0
