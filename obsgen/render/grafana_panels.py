"""Panel building blocks for the Grafana dashboards: grafanalib panels, threshold steps, grid layout.

Everything here produces grafanalib objects in grafanalib's own (old) vocabulary: datasources as the
short names of `DATASOURCE_TYPES`, thresholds as `Threshold` lists. `grafana_normalize` turns the
serialized dashboard into modern JSON in one place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ParamSpec, TypeVar

import attr
from grafanalib import core as g

from ..model import ThresholdModel, show

# Datasource names the builders use -> (plugin type, uid). `${datasource}` is the dashboard's
# Prometheus variable; the others are the fixed uids of grafana/provisioning/datasources.
PROM = "${datasource}"
LOKI = "loki"
DATASOURCE_TYPES = {PROM: "prometheus", "prometheus": "prometheus", LOKI: "loki", "alertmanager": "alertmanager"}

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


def _targets(queries: list[Query], datasource: str) -> list[g.Target]:
    return [
        g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), instant=q.instant,
                 datasource=datasource, format="table" if q.instant else "time_series")
        for i, q in enumerate(queries)
    ]


def timeseries(title: str, description: str, queries: list[Query], unit: str, *,
               thresholds: list[g.Threshold] | None = None, links: list[dict[str, object]] | None = None,
               datasource: str = PROM, min_zero: bool = True) -> g.TimeSeries:
    return g.TimeSeries(
        title=title, description=description, dataSource=datasource, targets=_targets(queries, datasource),
        unit=unit, thresholds=thresholds or steps(GREEN),
        thresholdsStyleMode="line" if thresholds else "off",
        legendDisplayMode="list", tooltipMode="multi", tooltipSort="desc", fillOpacity=10,
        links=links or [], valueMin=0 if min_zero else None,
    )


def stat(title: str, description: str, query: Query, unit: str, *, thresholds: list[g.Threshold] | None = None,
         links: list[dict[str, object]] | None = None, no_value: str = "No data",
         mappings: list[dict[str, object]] | None = None) -> g.Stat:
    return g.Stat(
        title=title, description=description, dataSource=PROM, targets=_targets([query], PROM), format=unit,
        thresholds=thresholds or steps(GREEN), colorMode="background", graphMode="area", reduceCalc="lastNotNull",
        noValue=no_value, links=links or [], mappings=mappings or [],
    )


def table(title: str, description: str, query: Query) -> g.Table:
    return g.Table(title=title, description=description, dataSource=PROM, targets=_targets([query], PROM),
                   unit="none", thresholds=steps(GREEN))


def logs(title: str, description: str, expr: str) -> g.Logs:
    return g.Logs(title=title, description=description, dataSource=LOKI, targets=_targets([Query(expr)], LOKI),
                  showTime=True, wrapLogMessages=True, enableLogDetails=True, prettifyLogMessage=False,
                  sortOrder="Descending")


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
        self.panels.append(g.RowPanel(title=title, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=self._y)))
        self._y += 1

    def add(self, panel: g.Panel, w: int, h: int = 8) -> None:
        if not 0 < w <= GRID_WIDTH:
            raise ValueError(f"panel width {w} outside the {GRID_WIDTH}-column grid")
        if self._x + w > GRID_WIDTH:
            self._newline()
        panel.gridPos = g.GridPos(h=h, w=w, x=self._x, y=self._y)
        self.panels.append(panel)
        self._x += w
        self._line_h = max(self._line_h, h)

    def fill(self, panels: list[g.Panel], h: int = 8) -> None:
        """One line of panels sharing the full width (the first ones one column wider if it doesn't divide)."""
        n = len(panels)
        for i, panel in enumerate(panels):
            self.add(panel, GRID_WIDTH // n + (1 if i < GRID_WIDTH % n else 0), h)

    def _newline(self) -> None:
        self._y += self._line_h
        self._x, self._line_h = 0, 0
