"""Grafana: datasource and dashboard provisioning, and the dashboards themselves.

A dashboard per service (golden signals with the spec's thresholds drawn as the lines that page, a row
per SLO, saturation, logs), an overview of every service, and the monitoring stack's own health. Built
with grafanalib, then made modern JSON by `grafana_normalize.normalize`, the one place that does so
(the panels come as that JSON already, from templates it made of grafanalib's: `grafana_panels`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from grafanalib import core as g

from .. import logql, naming, probes
from .. import slo as slo_engine
from ..model import QUANTILES, Model, ServiceModel, SloModel, ThresholdModel, show
from ..promql import quote as pql
from ..promql import regex_literal
from ..slo_math import exact, norm, seconds
from ..spec.models import Panel
from ..units import fmt
from . import prometheus, scrape_jobs
from .common import dump_json, dump_yaml
from .grafana_normalize import normalize
from .grafana_panels import (
    DARK_RED,
    GREEN,
    LOKI,
    ORANGE,
    PROM,
    RED,
    YELLOW,
    BuiltPanel,
    Grid,
    Query,
    link,
    logs,
    stat,
    steps,
    table,
    threshold_steps,
    threshold_text,
    timeseries,
    unvalidated,
)

# Where the compose and Kubernetes manifests mount grafana/dashboards/ inside the Grafana container.
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
DATASOURCE_URLS = {
    "prometheus": "http://prometheus:9090",
    "loki": "http://loki:3100",
    "alertmanager": "http://alertmanager:9093",
    "tempo": "http://tempo:3200",
    "jaeger": "http://jaeger:16686",
}

RATE = "$__rate_interval"
INDICATORS = {  # indicator -> (panel title, unit)
    "request_rate": ("Request rate", "reqps"),
    "error_rate": ("Error ratio", "percentunit"),
    "availability": ("Availability", "percentunit"),
    **{k: (f"P{k[len('latency_p'):]} latency", "s") for k in QUANTILES},
    "consumer_lag": ("Consumer lag", "short"),
    "throughput": ("Throughput", "ops"),
}


def render(model: Model, keep: frozenset[str] = frozenset()) -> dict[str, str]:
    """Everything, but the dashboards of the services in `keep` (the caller has them from an earlier
    render, or renders them in another process: `service_files`)."""
    files: dict[str, str] = {}
    files["grafana/provisioning/datasources/datasources.yml"] = \
        dump_yaml(escape_provisioning(datasources(model)), spec=model.source)
    files["grafana/provisioning/dashboards/dashboards.yml"] = \
        dump_yaml(escape_provisioning(dashboard_providers(model)), spec=model.source)
    for stem, dashboard in dashboards(model, keep):
        files[f"grafana/dashboards/{stem}.json"] = dump_json(dashboard)
    return files


def service_files(model: Model, svc: ServiceModel) -> dict[str, str]:
    """The service's own dashboard."""
    return {f"grafana/dashboards/{svc.name}.json": dump_json(service_dashboard(model, svc))}


# --------------------------------------------------------------------------- provisioning


def escape_provisioning(data: Any) -> Any:
    """Grafana expands `$VAR` in provisioning files; a literal `$` is written `$$`."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, dict):
        return {k: escape_provisioning(v) for k, v in data.items()}
    if isinstance(data, list):
        return [escape_provisioning(v) for v in data]
    return data


def datasources(model: Model) -> dict[str, Any]:
    tracing = model.stack.tracing
    loki_json: dict[str, Any] = {"maxLines": 1000}
    if tracing != "none":
        # A JSON log line's trace_id becomes a link that opens the trace in the tracing datasource.
        loki_json["derivedFields"] = [{
            "name": "TraceID",
            "matcherType": "regex",
            "matcherRegex": r'"trace_id"\s*:\s*"(\w+)"',
            "datasourceUid": tracing,
            "url": "${__value.raw}",
            "urlDisplayLabel": "View trace",
        }]
    sources = [
        _datasource("Prometheus", "prometheus", default=True, jsonData={
            "httpMethod": "POST", "prometheusType": "Prometheus", "timeInterval": model.scrape_interval}),
        _datasource("Loki", "loki", jsonData=loki_json),
        _datasource("Alertmanager", "alertmanager", jsonData={
            "implementation": "prometheus", "handleGrafanaManagedAlerts": False}),
    ]
    if tracing != "none":
        trace_json: dict[str, Any] = {
            "tracesToLogsV2": {"datasourceUid": "loki", "filterByTraceID": True,
                               "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m"},
            "nodeGraph": {"enabled": True},
        }
        if tracing == "tempo":
            trace_json["serviceMap"] = {"datasourceUid": "prometheus"}
        sources.append(_datasource(tracing.title(), tracing, jsonData=trace_json))
    return {"apiVersion": 1, "datasources": sources}


def _datasource(name: str, uid: str, default: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": uid, "uid": uid, "access": "proxy", "url": DATASOURCE_URLS[uid],
            "isDefault": default, "editable": False, **extra}


def dashboard_providers(model: Model) -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": model.project,
        "orgId": 1,
        "folder": model.project,
        "folderUid": naming.uid(model.project, "dashboards"),
        "type": "file",
        "disableDeletion": True,  # the spec owns these dashboards; the UI may not delete them
        "allowUiUpdates": False,
        "updateIntervalSeconds": 30,
        "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
    }]}


# --------------------------------------------------------------------------- dashboards


def overview_uid(model: Model) -> str:
    # `_` never occurs in a service slug, so these uids cannot collide with a service dashboard's.
    return naming.uid(f"{model.project}_overview")


def stack_uid(model: Model) -> str:
    return naming.uid(f"{model.project}_stack-health")


def dashboards(model: Model, keep: frozenset[str] = frozenset()) -> Iterator[tuple[str, dict[str, Any]]]:
    """One at a time: `render` serializes each before the next is built (a thousand at once is 2M nodes)."""
    for svc in model.services:
        if svc.name not in keep:
            yield svc.name, service_dashboard(model, svc)
    yield "_stack-health", stack_dashboard(model)


def _dashboard(model: Model, title: str, description: str, grid: Grid, uid: str, tags: list[str],
               links: list[g.DashboardLink], variables: list[g.Template]) -> dict[str, Any]:
    dashboard = g.Dashboard(
        title=title, description=description, panels=grid.panels, links=links,
        templating=g.Templating(list=variables), timezone="browser", refresh="1m",
        time=g.Time("now-6h", "now"),
    )
    return normalize(dashboard, uid=uid, project=model.project, tags=["obsgen", model.project, *tags])


def _common_links(model: Model) -> list[g.DashboardLink]:
    return [
        g.DashboardLink(title="Overview", type="link", uri=f"/d/{overview_uid(model)}", icon="dashboard",
                        keepTime=True),
        g.DashboardLink(title="Stack health", type="link", uri=f"/d/{stack_uid(model)}", icon="dashboard",
                        keepTime=True),
        g.DashboardLink(title=f"{model.project} dashboards", type="dashboards", tags=[model.project],
                        asDropdown=True, keepTime=True),
    ]


def _alertmanager_link(model: Model, matcher: str = "") -> g.DashboardLink:
    base = model.spec.project.alertmanager_url
    if base:
        url = f"{base.rstrip('/')}/#/alerts" + (f"?filter={quote('{' + matcher + '}')}" if matcher else "")
    else:  # Grafana's alerting UI showing the provisioned Alertmanager datasource
        url = "/alerting/groups?alertmanager=Alertmanager" + (f"&queryString={quote(matcher)}" if matcher else "")
    return g.DashboardLink(title="Alertmanager", type="link", uri=url, icon="bolt", targetBlank=True)


def _instance_variable(job_matcher: str) -> g.Template:
    return g.Template(name="instance", label="Instance", query=f"label_values(up{{{job_matcher}}}, instance)",
                      dataSource=PROM, type="query", multi=True, includeAll=True, allValue=".+",
                      refresh=2, sort=1)


# --------------------------------------------------------------------------- PromQL of the golden signals


def _sel(*matchers: str) -> str:
    return ",".join(m for m in matchers if m)


def indicator_query(svc: ServiceModel, indicator: str, extra: str = "") -> str:
    """The value an indicator's alert compares, over Grafana's rate interval (and optional extra matchers)."""
    if indicator in ("consumer_lag", "throughput"):
        assert svc.consumer is not None
        sel = _sel(svc.selector, extra)
        if indicator == "consumer_lag":
            return f"sum({svc.consumer.lag}{{{sel}}})"
        return f"sum(rate({svc.consumer.processed_total}{{{sel}}}[{RATE}]))"
    m = svc.metrics
    total = f"sum(rate({svc.requests(extra)}[{RATE}]))"
    errors = f"sum(rate({svc.requests(_sel(f'{m.status_label}=~{chr(34)}{m.error_status}{chr(34)}', extra))}[{RATE}]))"
    if indicator == "request_rate":
        return total
    if indicator == "error_rate":
        return f"{errors} / {total}"
    if indicator == "availability":
        return f"1 - ({errors} / {total})"
    return (f"histogram_quantile({QUANTILES[indicator]}, "
            f"sum by (le) (rate({svc.histogram('bucket', extra)}[{RATE}])))")


def _thresholds(svc: ServiceModel) -> dict[str, ThresholdModel]:
    return {th.indicator: th for th in svc.thresholds if th.indicator}


def _runbook_links(th: ThresholdModel | None) -> list[dict[str, object]]:
    return [link(f"Runbook: {th.alert}", th.runbook_url, new_tab=True)] if th and th.runbook_url else []


def _indicator_panel(svc: ServiceModel, indicator: str, th: ThresholdModel | None, extra: str) -> BuiltPanel:
    title, unit = INDICATORS[indicator]
    description = f"{title} of {svc.name}, all instances selected by $instance.{threshold_text(th)}"
    return timeseries(title, description, [Query(indicator_query(svc, indicator, extra), title)], unit,
                      thresholds=threshold_steps(th) if th else None, links=_runbook_links(th),
                      min_zero=indicator != "availability")


def _indicator_stat(svc: ServiceModel, indicator: str, th: ThresholdModel | None, extra: str,
                    links: list[dict[str, object]]) -> BuiltPanel:
    title, unit = INDICATORS[indicator]
    description = f"{title} of {svc.name} now, coloured by the alert's thresholds.{threshold_text(th)}"
    return stat(title, description, Query(indicator_query(svc, indicator, extra)), unit,
                thresholds=threshold_steps(th), links=links)


def _up_stat(svc: ServiceModel, extra: str, links: list[dict[str, object]]) -> BuiltPanel:
    up = f"up{{{_sel(svc.selector, extra)}}}"
    return stat("Targets up", f"Share of {svc.name}'s scrape targets that answer (100% = all up). "
                "No data means Prometheus has no target for it at all.",
                Query(f"sum({up}) / count({up})"), "percentunit", links=links, no_value="no targets",
                thresholds=steps(RED, (Decimal("0.5"), ORANGE), (Decimal(1), GREEN)))


def _alerts_table(title: str, matcher: str, by: str) -> BuiltPanel:
    return table(title, f"Alerts firing now ({matcher}), from Prometheus' ALERTS series.",
                 Query(f'sum by ({by}) (ALERTS{{alertstate="firing",{matcher}}})', instant=True),
                 transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}])


# --------------------------------------------------------------------------- service dashboard


@unvalidated
def service_dashboard(model: Model, svc: ServiceModel) -> dict[str, Any]:
    inst = 'instance=~"$instance"'
    ths = _thresholds(svc)
    exporters = service_exporters(model, svc)
    grid = Grid()
    grid.row("Now")
    alerts = _alerts_table("Firing alerts", f"service={pql(svc.name)}", "alertname, severity")
    if svc.scrape and svc.kind == "batch":
        _batch_rows(grid, svc, alerts)
    elif svc.scrape and svc.kind == "consumer":
        _consumer_rows(grid, svc, ths, inst, alerts)
    elif svc.scrape:
        _http_rows(grid, svc, ths, inst, alerts)
    else:  # watched through exporters and probes only: what they say, with their jobs
        grid.fill([*_exporters_up(svc, exporters, inst, []), *_health_stat(svc, []), alerts], h=6)
        for kind in exporters:
            _watch_row(grid, kind, f"{scrape_jobs.matcher([prometheus.EXPORTER_TARGETS[kind][0]])},{inst}")
    if svc.scrape and svc.probes and not _lone_http_check(svc):
        # a lone HTTP check of a scraped service shows in its firing alerts only, as it always did
        grid.row("Health checks")
        health = _health_stat(svc, [])
        for i in range(0, len(health), 4):
            grid.fill(health[i:i + 4], h=4)
    custom = [th for th in svc.thresholds if not th.indicator]
    if custom:
        grid.row("Custom indicators")
        for th in custom:
            grid.add(_custom_panel(svc, th), 12)
    if svc.panels:
        grid.row("More metrics")
        extra = [_spec_panel(model, svc, p) for p in svc.panels]
        for i in range(0, len(extra), 3):
            grid.fill(extra[i:i + 3])
    for slo in svc.slos:
        _slo_row(model, grid, svc, slo)
    if svc.scrape and svc.kind != "batch":  # a batch job's process metrics would be the Pushgateway's
        _saturation_row(grid, svc, inst)
    if svc.logs:
        _logs_row(grid, svc)
    links = _common_links(model) + [_alertmanager_link(model, f"service={pql(svc.name)}")]
    runbooks = svc.runbook_url("")  # the pattern with no alert: the service's runbook index
    if runbooks:
        links.append(g.DashboardLink(title="Runbooks", type="link", uri=runbooks.rstrip("/"), icon="doc",
                                     targetBlank=True))
    team = f" Team: {svc.team}." if svc.team else ""
    jobs = _service_jobs(svc, exporters)
    return _dashboard(
        model, svc.title, f"{svc.description}{team} Generated by obsgen from the spec: the thresholds drawn "
        "here are the ones that alert.", grid, svc.dashboard_uid,
        ["service", *([f"team:{svc.team}"] if svc.team else [])], links,
        [*([_instance_variable(scrape_jobs.matcher(jobs))] if jobs else []),
         *([_search_variable()] if svc.logs else []), *_group_variables(svc)],
    )


def _http_rows(grid: Grid, svc: ServiceModel, ths: dict[str, ThresholdModel], inst: str, alerts: BuiltPanel) -> None:
    """The golden signals of a service Prometheus scrapes: its own job's request metrics."""
    grid.fill([
        _up_stat(svc, inst, []),
        _indicator_stat(svc, "request_rate", ths.get("request_rate"), inst, []),
        _indicator_stat(svc, "error_rate", ths.get("error_rate"), inst, []),
        _indicator_stat(svc, "latency_p95", ths.get("latency_p95"), inst, []),
        alerts,
    ], h=6)
    grid.row("Traffic and errors")
    by_status = (f"sum by ({svc.metrics.status_label}) "
                 f"(rate({svc.requests(inst)}[{RATE}]))")
    traffic: list[BuiltPanel] = [timeseries(
        "Requests by status", f"Requests per second to {svc.name}, split by {svc.metrics.status_label}.",
        [Query(by_status, "{{" + svc.metrics.status_label + "}}")], "reqps")]
    traffic += [_indicator_panel(svc, i, ths.get(i), inst)
                for i in ("request_rate", "error_rate", "availability") if i in ths or i == "error_rate"]
    grid.fill(traffic)
    grid.row("Latency")
    quantiles = [q for q in QUANTILES if q in ths or q != "latency_p90"]
    grid.fill([_indicator_panel(svc, q, ths.get(q), inst) for q in quantiles])


def _batch_age(svc: ServiceModel) -> str:
    assert svc.batch is not None
    return f"time() - max({svc.batch.last_success}{{{svc.selector}}})"


def _batch_stat(svc: ServiceModel, links: list[dict[str, object]]) -> BuiltPanel:
    b = svc.batch
    assert b is not None
    return stat("Last success", f"Time since {svc.name} last succeeded (its {b.last_success}); "
                f"{naming.batch_stale_alert(svc.name)} fires past {b.every} and {b.grace} of grace.",
                Query(_batch_age(svc)), "s", links=links, no_value="never succeeded",
                thresholds=steps(GREEN, (Decimal(b.allowed_seconds), RED)))


def _batch_rows(grid: Grid, svc: ServiceModel, alerts: BuiltPanel) -> None:
    """A batch job pushes to a Pushgateway: when it last succeeded, when it last pushed, how long runs take."""
    b = svc.batch
    assert b is not None
    pushed = f"push_time_seconds{{{svc.selector}}}"
    grid.fill([
        _up_stat(svc, "", []),
        _batch_stat(svc, []),
        stat("Last push", f"Time since {svc.name} last pushed to the Pushgateway, successful run or not "
             "(push_time_seconds, which the Pushgateway sets).", Query(f"time() - max({pushed})"), "s",
             no_value="never pushed"),
        alerts,
    ], h=6)
    grid.row("Runs")
    grid.fill([
        timeseries("Time since last success", f"Age of {svc.name}'s last success; the line is where "
                   f"{naming.batch_stale_alert(svc.name)} fires.", [Query(_batch_age(svc), "last success")], "s",
                   thresholds=steps(GREEN, (Decimal(b.allowed_seconds), RED))),
        timeseries("Push without success", f"Seconds between {svc.name}'s last push and its last success: above "
                   f"a minute, the last run failed ({naming.batch_failed_alert(svc.name)}).",
                   [Query(f"max({pushed}) - max({b.last_success}{{{svc.selector}}})", "push - success")], "s"),
    ])


def _consumer_rows(grid: Grid, svc: ServiceModel, ths: dict[str, ThresholdModel], inst: str,
                   alerts: BuiltPanel) -> None:
    """A message consumer: how far behind it is and how fast it works."""
    grid.fill([
        _up_stat(svc, inst, []),
        _indicator_stat(svc, "consumer_lag", ths.get("consumer_lag"), inst, []),
        _indicator_stat(svc, "throughput", ths.get("throughput"), inst, []),
        alerts,
    ], h=6)
    grid.row("Consumption")
    grid.fill([_indicator_panel(svc, i, ths.get(i), inst) for i in ("consumer_lag", "throughput")])


def _service_jobs(svc: ServiceModel, exporters: list[str]) -> list[str]:
    """The scrape jobs a service's dashboard reads: its own, or (not scraped) its exporters'."""
    if svc.scrape:
        return [svc.job]
    return [prometheus.EXPORTER_TARGETS[kind][0] for kind in exporters]


def service_exporters(model: Model, svc: ServiceModel) -> list[str]:
    """Exporter types (of those the stack runs) whose metrics a service Prometheus does not scrape is
    watched by: read from the metric names of its panels, alerts and custom thresholds. A scraped service
    has none: its metrics are its job's (a panel may still name an exporter's job itself)."""
    if svc.scrape:
        return []
    running = set(prometheus.exporters(model))
    found: set[str] = set()

    def seen(metric: str) -> dict[str, str]:
        kind = _exporter_of(metric, running)
        if kind:
            found.add(kind)
        return {}

    for expr in [p.expr for p in svc.panels] + [a.expr for a in svc.alerts] + \
            [th.expr for th in svc.thresholds if not th.indicator]:
        with_matchers(expr, seen)
    return [kind for kind in prometheus.EXPORTER_TARGETS if kind in found]


def _exporter_of(metric: str, running: set[str]) -> str | None:
    return next((k for prefix, k in _EXPORTER_NAMESPACES.items() if metric.startswith(prefix) and k in running),
                None)


def _exporters_up(svc: ServiceModel, exporters: list[str], extra: str,
                  links: list[dict[str, object]]) -> list[BuiltPanel]:
    if not exporters:
        return []
    jobs = [prometheus.EXPORTER_TARGETS[kind][0] for kind in exporters]
    up = f"up{{{_sel(scrape_jobs.matcher(jobs), extra)}}}"
    panels = [stat("Exporters up", f"Share of the targets of {', '.join(jobs)}, the exporters {svc.name} is "
                   "watched through, that answer (100% = all up).", Query(f"sum({up}) / count({up})"),
                   "percentunit", links=links, no_value="no targets",
                   thresholds=steps(RED, (Decimal("0.5"), ORANGE), (Decimal(1), GREEN)))]
    for kind in exporters:  # whether each exporter reaches what it watches (pg_up, redis_up, nginx_up)
        sel = _sel(scrape_jobs.matcher([prometheus.EXPORTER_TARGETS[kind][0]]), extra)
        panels += [stat(w.title, w.description, Query(w.expr.replace("SEL", sel)), "bool", links=links,
                        thresholds=steps(RED, (Decimal(1), GREEN)))
                   for w in _COMPONENT_WATCHES[kind] if w.unit == "bool"]
    return panels


def _health_stat(svc: ServiceModel, links: list[dict[str, object]]) -> list[BuiltPanel]:
    """A stat per health check: 1 while its probe succeeds."""
    if _lone_http_check(svc):
        probe = f"probe_success{{job={pql(prometheus.BLACKBOX_JOB)},service={pql(svc.name)}}}"
        return [stat("Health check", f"1 when the blackbox exporter's HTTP probe of {svc.name} succeeds.",
                     Query(f"min({probe})"), "bool", links=links, no_value="no probe",
                     thresholds=steps(RED, (Decimal(1), GREEN)))]
    return [stat(f"{probes.KIND_TEXT[p.kind]} {p.target}",
                 f"1 when the blackbox exporter's {probes.KIND_TEXT[p.kind]} probe of {p.target} (module "
                 f"{p.module}) succeeds; {probes.alert_name(svc.name, p.kind)} fires after {svc.probe_for(p)} of "
                 "failures.", Query(f"min(probe_success{{{prometheus.probe_selector(svc, p)}}})"), "bool",
                 links=links, no_value="no probe", thresholds=steps(RED, (Decimal(1), GREEN)))
            for p in svc.probes]


def _lone_http_check(svc: ServiceModel) -> bool:
    """A service's one HTTP check, the shape `health` always had (its panels are what they always were)."""
    return len(svc.probes) == 1 and svc.probes[0].kind == "http"


def _custom_panel(svc: ServiceModel, th: ThresholdModel) -> BuiltPanel:
    # The Prometheus rules record a custom expression (labelled with the service) before alerting on it;
    # the panel shows that recorded series, the very value the alert compares.
    title = naming.snake(th.alert).replace("_", " ").capitalize()
    expr = f"{th.record}{{service={pql(svc.name)}}}" if th.record else th.expr
    return timeseries(title, f"{th.summary}{threshold_text(th)}", [Query(expr, title)], th.unit,
                      thresholds=threshold_steps(th), links=_runbook_links(th))


# --------------------------------------------------------------------------- the spec's extra panels


# Metric namespaces of the exporters obsgen deploys. A service with no scrape job of its own (a database,
# the host) is watched through them, so its panels must select the exporter's job, not the service's.
_EXPORTER_NAMESPACES = {"node_": "node", "container_": "cadvisor", "machine_": "cadvisor", "pg_": "postgres",
                        "redis_": "redis", "nginx_": "nginx"}


def _spec_panel(model: Model, svc: ServiceModel, panel: Panel) -> BuiltPanel:
    """A panel the spec adds, its selectors scoped to the service's job and the $instance variable."""
    expr = with_matchers(panel.expr, _required_matchers(model, svc))
    by = re.search(r"\bby\s*\(([^)]*)\)", panel.expr)
    labels = [lb.strip() for lb in by.group(1).split(",") if lb.strip() not in ("", "le")] if by else []
    legend = " ".join("{{" + lb + "}}" for lb in labels) or panel.title
    description = panel.description or (f"{panel.title} of {svc.name}, a panel the spec adds; "
                                        "all instances selected by $instance.")
    # the spec's metric may go below zero: let the axis follow the data
    return timeseries(panel.title, description, [Query(expr, legend)], panel.unit, min_zero=False)


def _required_matchers(model: Model, svc: ServiceModel) -> Callable[[str], dict[str, str]]:
    exporters = set(prometheus.exporters(model))

    def required(metric: str) -> dict[str, str]:
        if svc.scrape is not None:
            return {"job": svc.selector, "instance": 'instance=~"$instance"'}
        kind = _exporter_of(metric, exporters)
        if kind is None:  # from no job obsgen knows: as the spec writes it
            return {}
        return {"job": f"job={pql(prometheus.EXPORTER_TARGETS[kind][0])}", "instance": 'instance=~"$instance"'}
    return required


_STRING = r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`"
_PROMQL_TOKEN = re.compile(
    rf"(?P<str>{_STRING})|(?P<sel>\{{(?:{_STRING}|[^}}\"'`])*\}})|(?P<range>\[[^\]]*\])"
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<num>[0-9.][0-9A-Za-z_.]*)|(?P<ws>\s+)|(?P<other>.)", re.S)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_NOT_METRICS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio", "and", "or", "unless", "atan2", "bool", "offset",
                "inf", "nan"}
_MATCHED_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def with_matchers(expr: str, required: Callable[[str], dict[str, str]]) -> str:
    """`expr` with `required(metric)` (label -> matcher) added to each selector of a scraped metric, but
    not where the selector already matches that label.

    Recorded series (`a:b:c`) and ALERTS are left alone: their labels are whatever their rules kept.
    """
    tokens = [(m.lastgroup, m.group()) for m in _PROMQL_TOKEN.finditer(expr)]
    out: list[str] = []
    metric: str | None = None  # the metric whose `{...}` comes next
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        j = next((k for k in range(i + 1, len(tokens)) if tokens[k][0] != "ws"), len(tokens))
        after = tokens[j] if j < len(tokens) else ("", "")
        if kind == "name" and text.lower() in _GROUPING and after[1] == "(":  # a label list, not metrics
            end = next(k for k in range(j, len(tokens)) if tokens[k][1] == ")")
            out += [t for _, t in tokens[i:end + 1]]
            i = end + 1
            continue
        if kind == "name" and after[1] != "(" and text.lower() not in _NOT_METRICS:
            if after[0] == "sel":
                metric = text
            elif ":" not in text and text != "ALERTS" and (matchers := required(text)):
                text += _merge("", matchers)
        elif kind == "sel":
            name = metric or ""
            text = text if ":" in name or name == "ALERTS" else _merge(text[1:-1], required(name))
            metric = None
        out.append(text)
        i += 1
    return "".join(out)


def _merge(inner: str, required: dict[str, str]) -> str:
    present = set(_MATCHED_LABEL.findall(re.sub(_STRING, '""', inner)))
    missing = [m for label, m in required.items() if label not in present]
    return "{" + ",".join(p for p in (inner.strip().rstrip(","), *missing) if p) + "}"


# --------------------------------------------------------------------------- SLO rows


_TIER_COLOR = {"page_fast": DARK_RED, "page_slow": RED, "ticket_fast": ORANGE, "ticket_slow": YELLOW}


RESERVED_VARIABLES = ("instance", "datasource", "search")  # the service dashboard's own variables


def group_variable(label: str) -> str:
    """The dashboard variable of a `by` label: the label's name, unless the dashboard has that one already."""
    return f"slo_{label}" if label in RESERVED_VARIABLES else label


def _group_variables(svc: ServiceModel) -> list[g.Template]:
    """One variable per `by` label of the service's SLOs: the groups its SLO recordings have."""
    labels = dict.fromkeys(label for slo in svc.slos for label in slo.by)
    # `.*` for All: a group whose series lack the label records it empty, and is shown too
    return [g.Template(name=group_variable(label), label=group_variable(label).title(), dataSource=PROM, type="query", multi=True,
                       includeAll=True, allValue=".*", refresh=2, sort=1,
                       query=f"label_values({slo_engine.record_name('5m')}{{service={pql(svc.name)}}}, {label})")
            for label in labels]


def _slo_row(model: Model, grid: Grid, svc: ServiceModel, slo: SloModel) -> None:
    """SLI against objective, budget left, burn rates with the alert tiers: all from the SLO engine's rules.
    An SLO with `by` draws one line per group, filtered by the dashboard's variables of its labels."""
    chosen = "".join(f",{label}=~\"${group_variable(label)}\"" for label in slo.by)
    each = " ".join(f"{label}={{{{{label}}}}}" for label in slo.by)  # legend: endpoint={{endpoint}}

    def q(metric: str) -> str:
        if metric in (slo_engine.OBJECTIVE, slo_engine.ERROR_BUDGET):  # one series per SLO, not per group
            return slo_engine.sel(metric, slo)
        return slo_engine.sel(metric, slo)[:-1] + chosen + "}"

    def legend(text: str) -> str:
        return f"{text} {each}".strip()

    period = norm(slo.period)
    objective = f"{fmt(slo.objective)}%"
    grid.row(f"SLO {slo.name}: {objective} over {period}")
    sli_steps = steps(RED, (slo.target, GREEN))
    runbooks = [link(f"Runbook: {name}", url, new_tab=True) for name in slo_engine.alert_names(svc, slo).values()
                if (url := svc.runbook_url(name))]
    sli = timeseries(
        f"SLI {slo.name}", f"{slo.description} Share of good events over 5m and 1h against the objective "
        f"({objective}); below the line the error budget burns faster than it accrues.",
        [Query(f"1 - {q(slo_engine.record_name('5m'))}", legend("SLI 5m")),
         Query(f"1 - {q(slo_engine.record_name('1h'))}", legend("SLI 1h")),
         Query(q(slo_engine.OBJECTIVE), "objective")],
        "percentunit", thresholds=sli_steps, min_zero=False, links=runbooks)
    period_sli = stat(
        f"SLI over {period}", f"Share of good events over the SLO period ({period}); objective {objective}.",
        Query(f"1 - {q(slo_engine.record_name(period))}", legend("")), "percentunit",
        thresholds=sli_steps)
    budget = stat(
        "Error budget remaining", f"Share of the {period} error budget ({show('ratio', slo.budget)} "
        "of events) still unspent; below 0 the SLO is missed for this period.",
        Query(q(slo_engine.BUDGET_REMAINING), legend("")), "percentunit",
        thresholds=steps(RED, (Decimal(0), ORANGE), (Decimal("0.25"), GREEN)))
    tiers = slo_engine.enabled_tiers(model, slo)
    longs = sorted({t.long for t in tiers}, key=seconds)
    many = " group_left" if slo.by else ""  # several groups' series to the SLO's one budget
    burn_queries = [Query(q(slo_engine.CURRENT_BURN_RATE), legend("current"))] + [
        Query(f"{q(slo_engine.record_name(w))} / on (slo_id){many} {q(slo_engine.ERROR_BUDGET)}",
              legend(f"{w} window"))
        for w in longs
    ]
    marks = "; ".join(f"{t.tier} at {exact(t.factor)}x over {t.long} and {t.short}" for t in tiers) or "none"
    burn = timeseries(
        "Burn rate", f"How fast the error budget burns (1 = exactly used up at the end of {period}). "
        f"Alert tiers marked: {marks}.", burn_queries, "short",
        thresholds=steps(GREEN, *((Decimal(exact(t.factor)), _TIER_COLOR[t.key]) for t in tiers)))
    grid.add(sli, 8)
    grid.add(period_sli, 4)
    grid.add(budget, 4)
    grid.add(burn, 8)


# --------------------------------------------------------------------------- saturation and logs


def _saturation_row(grid: Grid, svc: ServiceModel, inst: str) -> None:
    sel = f"{{{_sel(svc.selector, inst)}}}"
    note = " From the client library's process collector."
    grid.row("Saturation")
    grid.fill([
        timeseries("CPU", f"CPU cores used per instance of {svc.name}.{note}",
                   [Query(f"sum by (instance) (rate(process_cpu_seconds_total{sel}[{RATE}]))", "{{instance}}")],
                   "short"),
        timeseries("Memory", f"Resident memory per instance of {svc.name}.{note}",
                   [Query(f"sum by (instance) (process_resident_memory_bytes{sel})", "{{instance}}")], "bytes"),
        timeseries("File descriptors", f"Open file descriptors as a share of the limit.{note}",
                   [Query(f"max by (instance) (process_open_fds{sel} / process_max_fds{sel})", "{{instance}}")],
                   "percentunit", thresholds=steps(GREEN, (Decimal("0.8"), ORANGE), (Decimal("0.9"), RED))),
    ])


def _search_variable() -> g.Template:
    return g.Template(name="search", label="Search logs", query="", type="textbox", default="")


def error_lines_selector(svc: ServiceModel) -> str | None:
    """LogQL selecting the service's error-level lines, or None when the level cannot be told."""
    assert svc.logs is not None
    levels = logql.any_of(svc.logs.error_levels)
    if "level" in svc.logs.labels:
        return logql.selector({"service": svc.name}, logql.matcher("level", "=~", levels))
    if svc.logs.source.format == "json":
        return (f"{logql.selector({'service': svc.name})} | json | "
                f"{logql.matcher(naming.snake(svc.logs.level_key), '=~', levels)}")
    return None


def _logs_row(grid: Grid, svc: ServiceModel) -> None:
    assert svc.logs is not None
    stream = logql.selector({"service": svc.name})
    by_level = "level" in svc.logs.labels
    grid.row("Logs")
    volume = (f"sum by (level) (count_over_time({stream} [$__auto]))" if by_level
              else f"sum(count_over_time({stream} [$__auto]))")
    panels: list[BuiltPanel] = [timeseries(
        "Log lines", f"Log lines of {svc.name} in Loki{' by level' if by_level else ''}.",
        [Query(volume, "{{level}}" if by_level else "lines")], "short", datasource=LOKI)]
    errors = error_lines_selector(svc)
    if errors:
        limit = svc.logs.error_lines_per_minute
        limit_text = (f" The line marks the default log alert at {fmt(Decimal(str(limit)))} lines per minute."
                      if limit is not None else "")
        panels.append(timeseries(
            "Error lines per minute", f"Lines at an error level ({', '.join(svc.logs.error_levels)}).{limit_text}",
            [Query(f"sum(rate({errors} [$__auto])) * 60", "error lines")], "cpm", datasource=LOKI,
            thresholds=steps(GREEN, (Decimal(str(limit)), ORANGE)) if limit is not None else None))
    grid.fill(panels)
    grid.add(logs("Logs", f"Newest log lines of {svc.name}; filter with the search box. A trace_id opens "
                  "the trace when tracing is enabled.", f'{stream} |= "$search"'), 24, 12)


# --------------------------------------------------------------------------- overview
# The overview dashboard is a file of its own family, joined from per-service parts: obsgen.render.grafana_overview.


@unvalidated
def overview_panels(model: Model, svc: ServiceModel) -> list[BuiltPanel]:
    """The overview's stats of one service (none: it has no row, its alerts are in the table above)."""
    ths = _thresholds(svc)
    links = [link(f"Open {svc.title}", f"/d/{svc.dashboard_uid}?${{__url_time_range}}")]
    if svc.scrape and svc.kind == "batch":
        panels = [_up_stat(svc, "", links), _batch_stat(svc, links)]
    elif svc.scrape and svc.kind == "consumer":
        panels = [_up_stat(svc, "", links),
                  *(_indicator_stat(svc, i, ths.get(i), "", links) for i in ("consumer_lag", "throughput"))]
    elif svc.scrape:
        panels = [
            _up_stat(svc, "", links),
            _indicator_stat(svc, "request_rate", ths.get("request_rate"), "", links),
            _indicator_stat(svc, "error_rate", ths.get("error_rate"), "", links),
            _indicator_stat(svc, "latency_p95", ths.get("latency_p95"), "", links),
        ]
    else:  # only what its exporters and probes can say
        panels = [*_exporters_up(svc, service_exporters(model, svc), "", links), *_health_stat(svc, links)]
    if svc.slos:
        panels.append(stat(
            "Error budget left", f"The smallest error budget remaining among {svc.name}'s SLOs "
            f"({', '.join(s.name for s in svc.slos)}).",
            Query(f"min({slo_engine.BUDGET_REMAINING}{{service={pql(svc.name)}}})"), "percentunit", links=links,
            thresholds=steps(RED, (Decimal(0), ORANGE), (Decimal("0.25"), GREEN))))
    return panels


@unvalidated
def overview_row(grid: Grid, svc: ServiceModel, panels: list[BuiltPanel]) -> None:
    grid.row(f"{svc.title}" + (f" ({svc.team})" if svc.team else ""))
    grid.fill(panels, h=5)


@unvalidated
def overview_head(model: Model) -> dict[str, Any]:
    """The overview dashboard with the table of firing alerts as its one panel; the services' rows follow it."""
    grid = Grid()
    grid.add(_alerts_table("Firing alerts", 'service!=""', "service, alertname, severity"), 24, 6)
    return _dashboard(model, "Overview", "Every service at a glance, coloured by the spec's thresholds; "
                      "click a panel for the service's dashboard.", grid, overview_uid(model), ["overview"],
                      _common_links(model) + [_alertmanager_link(model, 'service!=""')], [])


# --------------------------------------------------------------------------- stack health


@dataclass(frozen=True)
class Watch:
    title: str
    description: str
    expr: str  # `SEL` is replaced by the component's matchers
    unit: str
    legend: str = ""
    bad_above: Decimal | None = None  # a red line where this becomes a problem


_COMPONENT_WATCHES: dict[str, list[Watch]] = {
    "prometheus": [
        Watch("Rule evaluation failures", "Failed rule evaluations per second; above zero, alerts may be missing.",
              "sum(rate(prometheus_rule_evaluation_failures_total{SEL}[$__rate_interval]))", "ops"),
        Watch("Notification errors", "Errors sending alerts to Alertmanager, per second.",
              "sum(rate(prometheus_notifications_errors_total{SEL}[$__rate_interval]))", "ops"),
        Watch("Config reload", "1 when the last configuration reload succeeded.",
              "min(prometheus_config_last_reload_successful{SEL})", "bool"),
        Watch("Head series", "Active series in the TSDB head.", "sum(prometheus_tsdb_head_series{SEL})", "short"),
    ],
    "alertmanager": [
        Watch("Notifications failed", "Failed notifications per second by integration.",
              "sum by (integration) (rate(alertmanager_notifications_failed_total{SEL}[$__rate_interval]))",
              "ops", "{{integration}}"),
        Watch("Notifications sent", "Notifications per second by integration.",
              "sum by (integration) (rate(alertmanager_notifications_total{SEL}[$__rate_interval]))", "ops",
              "{{integration}}"),
        Watch("Active alerts", "Alerts Alertmanager holds, by state.",
              "sum by (state) (alertmanager_alerts{SEL})", "short", "{{state}}"),
        Watch("Config reload", "1 when the last configuration reload succeeded.",
              "min(alertmanager_config_last_reload_successful{SEL})", "bool"),
    ],
    "loki": [
        Watch("Lines received", "Log lines per second received by the distributor.",
              "sum(rate(loki_distributor_lines_received_total{SEL}[$__rate_interval]))", "short"),
        Watch("Discarded samples", "Log lines Loki refused (rate limits, too old, ...), by reason.",
              "sum by (reason) (rate(loki_discarded_samples_total{SEL}[$__rate_interval]))", "short",
              "{{reason}}"),
        Watch("5xx responses", "Share of Loki's HTTP requests answered with a server error.",
              'sum(rate(loki_request_duration_seconds_count{SEL,status_code=~"5.."}[$__rate_interval])) / '
              "sum(rate(loki_request_duration_seconds_count{SEL}[$__rate_interval]))", "percentunit",
              bad_above=Decimal("0.01")),
    ],
    "fluentd": [
        Watch("Buffer queue length", "Chunks waiting in output buffers; growth means an output is stuck.",
              "max by (plugin_id) (fluentd_output_status_buffer_queue_length{SEL})", "short", "{{plugin_id}}"),
        Watch("Buffer bytes", "Bytes held in output buffers.",
              "sum by (plugin_id) (fluentd_output_status_buffer_total_bytes{SEL})", "bytes", "{{plugin_id}}"),
        Watch("Retries", "Retry count each output reports; a rising line means flushes keep failing.",
              "max by (plugin_id) (fluentd_output_status_retry_count{SEL})", "short", "{{plugin_id}}"),
    ],
    "grafana": [
        Watch("HTTP requests", "Requests per second served by Grafana, by status code.",
              "sum by (status_code) (rate(grafana_http_request_duration_seconds_count{SEL}[$__rate_interval]))",
              "reqps", "{{status_code}}"),
    ],
    "node": [
        Watch("CPU busy", "Share of CPU time not idle, per host.",
              '1 - avg by (instance) (rate(node_cpu_seconds_total{SEL,mode="idle"}[$__rate_interval]))',
              "percentunit", "{{instance}}", bad_above=Decimal("0.9")),
        Watch("Memory used", "Share of memory in use, per host.",
              "1 - node_memory_MemAvailable_bytes{SEL} / node_memory_MemTotal_bytes{SEL}", "percentunit",
              "{{instance}}", bad_above=Decimal("0.9")),
        Watch("Disk used", "Share of each filesystem in use.",
              '1 - node_filesystem_avail_bytes{SEL,fstype!~"tmpfs|overlay"} / '
              'node_filesystem_size_bytes{SEL,fstype!~"tmpfs|overlay"}', "percentunit",
              "{{instance}} {{mountpoint}}", bad_above=Decimal("0.85")),
    ],
    "cadvisor": [
        Watch("Container CPU", "CPU cores used by the busiest containers.",
              'topk(10, sum by (name) (rate(container_cpu_usage_seconds_total{SEL,name!=""}[$__rate_interval])))',
              "short", "{{name}}"),
        Watch("Container memory", "Working-set memory of the largest containers.",
              'topk(10, sum by (name) (container_memory_working_set_bytes{SEL,name!=""}))', "bytes", "{{name}}"),
    ],
    "postgres": [
        Watch("PostgreSQL up", "1 when the exporter reaches PostgreSQL.", "min(pg_up{SEL})", "bool"),
        Watch("Connections", "Backends connected, per database.",
              "sum by (datname) (pg_stat_database_numbackends{SEL})", "short", "{{datname}}"),
    ],
    "redis": [
        Watch("Redis up", "1 when the exporter reaches Redis.", "min(redis_up{SEL})", "bool"),
        Watch("Memory used", "Memory used by Redis.", "sum(redis_memory_used_bytes{SEL})", "bytes"),
        Watch("Connected clients", "Clients connected to Redis.", "sum(redis_connected_clients{SEL})", "short"),
    ],
    "nginx": [
        Watch("NGINX up", "1 when the exporter reaches NGINX's status page.", "min(nginx_up{SEL})", "bool"),
        Watch("Active connections", "Connections NGINX holds open.",
              "sum(nginx_connections_active{SEL})", "short"),
    ],
    "mysqld": [
        Watch("MySQL up", "1 when the exporter reaches MySQL.", "min(mysql_up{SEL})", "bool"),
        Watch("Connections in use", "Share of max_connections in use.",
              "max(mysql_global_status_threads_connected{SEL}) / max(mysql_global_variables_max_connections{SEL})",
              "percentunit", bad_above=Decimal("0.8")),
        Watch("Queries", "Statements run per second.",
              "sum(rate(mysql_global_status_queries{SEL}[$__rate_interval]))", "ops"),
    ],
    "pgbouncer": [
        Watch("pgbouncer up", "1 when the exporter reaches pgbouncer's admin console.", "min(pgbouncer_up{SEL})",
              "bool"),
        Watch("Clients waiting", "Clients waiting for a server connection, per pool.",
              "sum by (database, user) (pgbouncer_pools_client_waiting_connections{SEL})", "short",
              "{{database}}/{{user}}", bad_above=Decimal(0)),
        Watch("Clients active", "Clients linked to a server connection, per pool.",
              "sum by (database, user) (pgbouncer_pools_client_active_connections{SEL})", "short",
              "{{database}}/{{user}}"),
    ],
    "haproxy": [
        Watch("Servers up per backend", "Servers of each backend passing their checks.",
              "sum by (proxy) (haproxy_backend_active_servers{SEL})", "short", "{{proxy}}"),
        Watch("Frontend requests", "HTTP requests per second, per frontend.",
              "sum by (proxy) (rate(haproxy_frontend_http_requests_total{SEL}[$__rate_interval]))", "reqps",
              "{{proxy}}"),
    ],
    "process": [
        Watch("Processes", "Processes running in each watched group; 0 once a group's processes are gone.",
              "sum by (groupname) (namedprocess_namegroup_num_procs{SEL})", "short", "{{groupname}}"),
        Watch("Resident memory", "Resident memory of each watched group.",
              'sum by (groupname) (namedprocess_namegroup_memory_bytes{SEL,memtype="resident"})', "bytes",
              "{{groupname}}"),
    ],
    "pushgateway": [
        Watch("Pushes", "Pushes per second the Pushgateway answered, by status code.",
              'sum by (code) (rate(pushgateway_http_requests_total{SEL,handler="push"}[$__rate_interval]))',
              "ops", "{{code}}"),
    ],
    "mongodb": [
        Watch("MongoDB up", "1 when the exporter reaches MongoDB.", "min(mongodb_up{SEL})", "bool"),
    ],
    "elasticsearch": [
        Watch("Cluster red", "1 while a cluster's health is red (series documented, unverified here).",
              'max by (cluster) (elasticsearch_cluster_health_status{SEL,color="red"})', "short", "{{cluster}}",
              bad_above=Decimal(0)),
    ],
    "kafka": [
        Watch("Consumer lag", "Messages each consumer group is behind, per topic (series documented, "
              "unverified here).", "sum by (consumergroup, topic) (kafka_consumergroup_lag{SEL})", "short",
              "{{consumergroup}} {{topic}}"),
    ],
    "blackbox": [
        Watch("Probe duration", "Time the blackbox exporter's own scrape takes.",
              "max(scrape_duration_seconds{SEL})", "s"),
    ],
    prometheus.BLACKBOX_JOB: [
        Watch("Health checks", "1 when a service's HTTP health check succeeds.",
              "min by (service) (probe_success{SEL})", "bool", "{{service}}"),
    ],
    **{job: [Watch(f"{probes.KIND_TEXT[kind]} checks", f"1 when a service's {probes.KIND_TEXT[kind]} health check "
                   "succeeds, by target and module.", "min by (service, instance, module) (probe_success{SEL})",
                   "bool", "{{service}} {{instance}} {{module}}")]
       for kind, job in prometheus.PROBE_JOBS.items() if kind != "http"},
}


def _watch_row(grid: Grid, kind: str, sel: str) -> None:
    """A row of what a component or exporter of `kind` says, its selectors matching `sel`."""
    grid.row(prometheus.EXPORTER_TARGETS[kind][0].title() if kind in prometheus.EXPORTER_TARGETS else kind.title())
    grid.fill([timeseries(w.title, w.description, [Query(w.expr.replace("SEL", sel), w.legend)], w.unit,
                          thresholds=steps(GREEN, (w.bad_above, RED)) if w.bad_above is not None else None)
               for w in _COMPONENT_WATCHES[kind]])


@unvalidated
def stack_dashboard(model: Model) -> dict[str, Any]:
    """Every component and exporter of the stack, each selected by its scrape job (`scrape_jobs`)."""
    stack = scrape_jobs.stack_jobs(model)
    inst = 'instance=~"$instance"'
    grid = Grid()
    grid.row("Components up")
    grid.fill([stat(j.job.title(), f"Share of {j.job}'s scrape targets that answer (100% = all up).",
                    Query(f"sum(up{{job={pql(j.job)},{inst}}}) / count(up{{job={pql(j.job)},{inst}}})"),
                    "percentunit", no_value="no targets",
                    thresholds=steps(RED, (Decimal("0.5"), ORANGE), (Decimal(1), GREEN)))
               for j in stack], h=4)
    grid.add(timeseries("Scrape targets down", "Targets of every job that fail their scrape, by job.",
                        [Query(f'count by (job) (up{{job=~".+",{inst}}} == 0)', "{{job}}")], "short",
                        thresholds=steps(GREEN, (Decimal(1), RED))), 24, 6)
    for j in stack:
        _watch_row(grid, j.kind, f"job={pql(j.job)},{inst}")
    names = [j.job for j in stack]
    return _dashboard(model, "Stack health", "The monitoring stack watching itself: Prometheus, Alertmanager, "
                      "Loki, Fluentd and Grafana, and the exporters the spec enables.", grid, stack_uid(model),
                      ["stack"], _common_links(model) + [_alertmanager_link(model)],
                      [_instance_variable(f"job=~{pql('|'.join(regex_literal(n) for n in names))}")])
