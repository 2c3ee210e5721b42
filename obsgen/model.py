"""resolve(spec) -> Model: the one place where defaults, classes, conventions and names are decided.

Renderers read the Model and never re-derive any of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import logql, naming
from .probes import Probe, probes
from .promql import quote
from .slo_math import slo_alert_name
from .spec import ha
from .spec.models import (
    GRPC_METRICS,
    Alert,
    Consumer,
    LevelDurations,
    Logs,
    MetricConventions,
    Panel,
    RecordingRule,
    RemoteWrite,
    Scrape,
    Service,
    Sli,
    Slo,
    SloClassAlerting,
    Spec,
    Stack,
    Threshold,
)
from .spec.validate import INDICATOR_KIND
from .units import duration_seconds, fmt, parse_quantity

QUANTILES = {"latency_p50": "0.5", "latency_p90": "0.9", "latency_p95": "0.95", "latency_p99": "0.99"}

# The range of rate() in the built-in threshold indicators' expressions
THRESHOLD_RATE_WINDOW = "5m"


@dataclass(frozen=True)
class ThresholdModel:
    alert: str
    indicator: str | None  # None for a custom expression
    expr: str  # PromQL giving the compared value (for a custom threshold: the user's expression)
    record: str | None  # custom thresholds are recorded first so their alert logic is testable alone
    direction: str  # "above" | "below"
    target: Decimal | None
    warning: Decimal | None
    critical: Decimal | None
    kind: str  # "ratio" | "duration" | "number"
    unit: str  # Grafana unit
    for_: str  # the critical level's `for` (the only level's when there is one)
    summary: str
    description: str
    runbook_url: str | None
    for_levels: dict[str, str] = field(default_factory=dict)  # severity -> `for`, every level present

    def for_of(self, severity: str) -> str:
        """`for` of one level: warning and critical may wait for different times."""
        return self.for_levels.get(severity, self.for_)

    @property
    def op(self) -> str:
        return ">" if self.direction == "above" else "<"

    def levels(self) -> list[tuple[str, Decimal]]:
        return [(sev, v) for sev, v in (("warning", self.warning), ("critical", self.critical)) if v is not None]


@dataclass(frozen=True)
class TierShape:
    """How one tier's burn-rate alert looks: the SLO's `alerting.page_alert`/`ticket_alert` over its class's,
    over obsgen's defaults."""

    name: str  # the alert name
    severity: str
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)  # added to the service's, winning
    annotations: dict[str, str] = field(default_factory=dict, hash=False)  # added to obsgen's, winning


@dataclass(frozen=True)
class SloModel:
    service: str
    name: str
    id: str  # "<service>-<slo>", a label on every SLO series
    description: str
    sli_type: str
    objective: Decimal  # percent, as written: 99.9
    period: str  # "30d"
    period_days: int
    errors_query: str  # PromQL with {{window}} for the range
    total_query: str | None  # None for a ratio SLI
    ratio_query: str | None  # ratio SLIs: an error ratio with {{window}}
    page: bool
    ticket: bool
    min_request_rate: Decimal
    latency_threshold: Decimal | None = None  # seconds, latency SLIs
    by: tuple[str, ...] = ()  # labels the SLO is judged per (one SLO per group of series); () for one SLO
    page_alert: TierShape | None = None  # resolve() always sets both
    ticket_alert: TierShape | None = None
    sloth: bool = False  # also record Sloth's series (`defaults.sloth_compatible`, the SLO's own)
    # the SLI counts good events (events `good`, bool_gauge, latency_native): errors are total minus good, and the
    # recording reads `total - good` from the recorded total; errors_query is that difference written out
    good_query: str | None = None
    metric: str | None = None  # bool_gauge and latency_native: the selector of the gauge or native histogram

    def shape(self, tier: str) -> TierShape:
        """The page's or the ticket's alert shape."""
        found = self.page_alert if tier == "page" else self.ticket_alert
        assert found is not None
        return found

    @property
    def sum(self) -> str:
        """`sum` or `sum by (<by>)`: how the engine aggregates the SLI's series."""
        return aggregation("sum", self.by)

    @property
    def target(self) -> Decimal:
        return self.objective / 100

    @property
    def budget(self) -> Decimal:
        return 1 - self.objective / 100


@dataclass(frozen=True)
class LogAlertModel:
    """A LogQL alert for the Loki ruler: the spec's log alerts and the default error-lines alert."""

    alert: str
    expr: str  # LogQL including the comparison with the threshold
    for_: str | None
    severity: str
    summary: str
    description: str
    runbook_url: str | None


@dataclass(frozen=True)
class BatchModel:
    every: str
    grace: str
    last_success: str  # the gauge of the last success, in unixtime

    @property
    def allowed_seconds(self) -> int:
        """How old the last success may be: one schedule period and its grace."""
        return int(duration_seconds(self.every) + duration_seconds(self.grace))


@dataclass(frozen=True)
class ServiceModel:
    name: str
    camel: str
    title: str
    description: str
    team: str | None
    job: str
    selector: str  # `job="<name>"`, the label matcher of every query about this service
    metrics: MetricConventions
    scrape: Scrape | None
    probes: list[Probe]  # its health checks, as the blackbox exporter probes them
    labels: dict[str, str]  # on every alert: service, team, and the spec's extra labels
    runbook_pattern: str | None
    dashboard_uid: str
    dashboard_url: str | None
    thresholds: list[ThresholdModel]
    alerts: list[Alert]
    slos: list[SloModel]
    recording_rules: list[RecordingRule]
    logs: Logs | None
    down_for: str = "2m"  # how long a target or health probe may fail before <Service>Down fires
    log_tag: str | None = None  # Fluentd tag of the service's log events
    log_alerts: list[LogAlertModel] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)  # the spec's extra dashboard panels
    kind: str = "http"  # http | grpc | batch | consumer
    batch: BatchModel | None = None
    consumer: Consumer | None = None

    def probe_for(self, probe: Probe) -> str:
        """How long a health check may fail before its alert fires."""
        return probe.for_ or self.down_for

    @property
    def has_requests(self) -> bool:
        """Whether the service has request metrics (http and grpc): golden-signal panels and classes."""
        return self.kind in ("http", "grpc")

    @property
    def honor_labels(self) -> bool:
        return bool(self.scrape and (self.scrape.honor_labels if self.scrape.honor_labels is not None
                                     else self.kind == "batch"))

    def target_labels(self) -> dict[str, str]:
        """The labels of the service's scrape targets (what `up` carries): job and instance, and those
        prometheus.yml's scrape job attaches (its static labels, or the pod's namespace and name from
        Kubernetes discovery)."""
        scrape = self.scrape
        instance = scrape.static[0] if scrape and scrape.static else f"{self.name}:8080"
        labels = {"job": self.job, "instance": instance}
        if scrape and scrape.kubernetes is not None and not scrape.static:
            labels.update(namespace=scrape.kubernetes.namespace, pod=f"{self.name}-0")
        labels.update({"service": self.name, **({"team": self.team} if self.team else {}),
                       **(scrape.labels if scrape else {})})
        return labels

    def scraped_labels(self) -> dict[str, str]:
        """The labels of a series scraped from the targets. A batch job's come from the Pushgateway with the
        job it pushed (its grouping key, the service's name) and no instance: the Pushgateway exports
        `instance=""` when the grouping key has none, which keeps Prometheus from attaching the target's."""
        labels = self.target_labels()
        if self.kind == "batch":
            labels.pop("instance")
        return labels

    def request_labels(self, histogram: bool = False) -> dict[str, str]:
        """`scraped_labels` and the labels the instrumentation puts on a request series (a gRPC method)."""
        labels = self.scraped_labels()
        if self.kind == "grpc" and not _renamed(self, histogram):
            labels.update(grpc_type="unary", grpc_service=f"{self.name.replace('-', '_')}.v1.{self.camel}",
                          grpc_method="Get")
        return labels

    def runbook_url(self, alert: str, override: str | None = None) -> str | None:
        pattern = override or self.runbook_pattern
        if not pattern:
            return None
        return pattern.replace("{service}", self.name).replace("{alert}", alert)

    # PromQL building blocks from the service's metric conventions
    def requests(self, extra: str = "") -> str:
        sel = self.selector + (f",{extra}" if extra else "")
        return f"{self.metrics.requests_total}{{{sel}}}"

    def error_requests(self) -> str:
        m = self.metrics
        return self.requests(f"{m.status_label}=~{quote(m.error_status)}")

    def histogram(self, suffix: str, extra: str = "") -> str:
        sel = self.selector + (f",{extra}" if extra else "")
        return f"{self.metrics.duration_histogram}_{suffix}{{{sel}}}"


def _renamed(svc: ServiceModel, histogram: bool) -> bool:
    """Whether the spec renamed the gRPC metric read (then its labels are not the interceptor's)."""
    name = svc.metrics.duration_histogram if histogram else svc.metrics.requests_total
    return name != (GRPC_METRICS.duration_histogram if histogram else GRPC_METRICS.requests_total)


DEFAULT_RETENTION = "15d"  # Prometheus' own default


@dataclass(frozen=True)
class Model:
    spec: Spec
    project: str
    environment: str
    services: list[ServiceModel]
    scrape_interval: str
    evaluation_interval: str
    source: str  # the spec's file name, for "generated from" headers
    teams: list[str] = field(default_factory=list)
    retention: str = DEFAULT_RETENTION  # how long Prometheus keeps samples: at least the longest SLO period
    # Prometheus in HA: its replicas' names (`prometheus` alone, or `prometheus-0`, `prometheus-1`, ...), the
    # external label naming each (None for one replica), and the label naming the group with its value
    prometheus_replicas: list[str] = field(default_factory=lambda: ["prometheus"])
    replica_label: str | None = None
    cluster_label: tuple[str, str] | None = None
    # results of pure functions of this model, kept by the renderer that computes them first for another
    # that needs them too (the proof coverage of a service's rules, counted where its tests are built)
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def stack(self) -> Stack:
        return self.spec.stack

    @property
    def ruler(self) -> RemoteWrite | None:
        """The remote_write whose Mimir or Cortex ruler evaluates the services' rules, if one does."""
        return next((rw for rw in self.spec.stack.prometheus.remote_write if rw.ruler), None)

    @property
    def native_histograms(self) -> bool:
        """Whether Prometheus must ingest native histograms: a latency_native SLO reads one."""
        return any(slo.sli_type == "latency_native" for svc in self.services for slo in svc.slos)

    def service(self, name: str) -> ServiceModel:
        return next(s for s in self.services if s.name == name)


# --------------------------------------------------------------------------- resolution


def resolve(spec: Spec, source: str = "obsgen.yaml") -> Model:
    memo = _Memo()
    services = [_service(spec, svc, memo) for svc in spec.services]
    teams = sorted({s.team for s in services if s.team})
    periods = [slo.period for s in services for slo in s.slos]
    retention = spec.stack.prometheus.retention or max(
        [DEFAULT_RETENTION, *periods], key=lambda d: (duration_seconds(d), d))
    return Model(
        spec=spec,
        project=spec.project.name,
        environment=spec.project.environment,
        services=services,
        scrape_interval=spec.defaults.scrape_interval,
        evaluation_interval=spec.defaults.evaluation_interval,
        source=source,
        teams=teams,
        retention=retention,
        **_high_availability(spec),
    )


def _high_availability(spec: Spec) -> dict[str, Any]:
    p = spec.stack.prometheus
    if p.replicas == 1:
        return {}
    cluster, replica = ha.labels(spec)
    labels = spec.project.external_labels
    out: dict[str, Any] = {"prometheus_replicas": [f"prometheus-{i}" for i in range(p.replicas)],
                           "replica_label": replica}
    if cluster:
        environment = labels.get("environment", spec.project.environment)
        out["cluster_label"] = (cluster, labels.get(cluster, f"{spec.project.name}/{environment}"))
    return out


def _metrics(spec: Spec, svc: Service) -> MetricConventions:
    """The kind's conventions (`defaults.metrics` for http), then the service's own names."""
    # its fields' values as model_dump has them (flat strings), without dumping for each service
    overrides = {k: v for k, v in svc.metrics.__dict__.items() if v is not None}
    base = GRPC_METRICS if svc.kind == "grpc" else spec.defaults.metrics
    # without overrides the conventions themselves (frozen), not a copy for each service
    return base.model_copy(update=overrides) if overrides else base


def _batch(svc: Service) -> BatchModel | None:
    if svc.kind != "batch" or svc.batch is None:
        return None
    b = svc.batch
    return BatchModel(every=b.every, grace=b.grace,
                      last_success=b.last_success or f"{naming.snake(svc.name)}_last_success_unixtime")


@dataclass
class _Memo:
    """What resolve() works out once for a spec and reuses for every service that asks alike."""

    levels: dict[tuple[Any, ...], _Levels] = field(default_factory=dict)  # _threshold's
    class_slos: dict[str, list[Slo]] = field(default_factory=dict)  # each SLO class's, _slos'


def _service(spec: Spec, svc: Service, memo: _Memo | None = None) -> ServiceModel:
    labels = {"service": svc.name}
    if svc.team:
        labels["team"] = svc.team
    labels.update(svc.labels)
    dash_uid = naming.uid(spec.project.name, svc.name)
    dash_url = None
    if spec.project.grafana_url:
        dash_url = f"{spec.project.grafana_url.rstrip('/')}/d/{dash_uid}"
    base = ServiceModel(
        name=svc.name,
        camel=naming.camel(svc.name),
        title=svc.name.replace("-", " ").title(),
        description=svc.description or f"The {svc.name} service.",
        team=svc.team,
        job=svc.name,
        selector=f'job="{svc.name}"',
        metrics=_metrics(spec, svc),
        scrape=svc.scrape,
        probes=probes(svc.health),
        labels=labels,
        runbook_pattern=svc.runbook_url or spec.project.runbook_url,
        dashboard_uid=dash_uid,
        dashboard_url=dash_url,
        thresholds=[],
        alerts=list(svc.alerts),
        slos=[],
        recording_rules=list(svc.recording_rules),
        logs=svc.logs,
        down_for=svc.scrape.down_for if svc.scrape else "2m",
        log_tag=(svc.logs.source.tag or f"logs.{svc.name}") if svc.logs else None,
        panels=list(svc.panels),
        kind=svc.kind,
        batch=_batch(svc),
        consumer=svc.consumer if svc.kind == "consumer" else None,
    )
    base.thresholds.extend(_threshold(spec, base, th, memo.levels if memo else None) for th in svc.thresholds)
    base.slos.extend(_slos(spec, svc, base, memo))
    base.log_alerts.extend(_log_alerts(spec, base))
    return base


def _log_alerts(spec: Spec, svc: ServiceModel) -> list[LogAlertModel]:
    """The default error-lines alert (JSON logs with a level), then the spec's own log alerts."""
    logs = svc.logs
    if logs is None:
        return []
    out = []
    if logs.error_lines_per_minute is not None and logs.source.format == "json":
        name = naming.error_logs_alert(svc.name)
        limit = fmt(Decimal(str(logs.error_lines_per_minute)))
        rate = logql.error_lines_per_minute({"service": svc.name}, logs.level_key, logs.error_levels,
                                            level_is_label="level" in logs.labels)
        out.append(LogAlertModel(
            alert=name,
            expr=f"{rate} > {limit}",
            for_=spec.defaults.threshold_for,
            severity="warning",
            summary=f"{svc.name} logs more error-level lines than usual.",
            description=(f"{svc.name} logs {{{{ $value | humanize }}}} error-level lines per minute "
                         f"(threshold {limit})."),
            runbook_url=svc.runbook_url(name),
        ))
    for la in logs.alerts:
        above = fmt(Decimal(str(la.above)))
        out.append(LogAlertModel(
            alert=la.name,
            expr=f"({la.logql.strip()}) > {above}",  # parentheses keep a user's `a or b` together
            for_=la.for_,
            severity=la.severity,
            summary=la.summary,
            description=la.description or f"{la.name} is {{{{ $value | humanize }}}} (threshold {above}).",
            runbook_url=svc.runbook_url(la.name),
        ))
    return out


@dataclass(frozen=True)
class _Levels:
    """What a threshold compares, read from its levels alone: thousands of services write the same ones."""

    values: dict[str, Decimal | None]  # target, warning, critical
    kind: str
    direction: str
    levels: str  # `warning 0.5%, critical 1%`, as the description shows them
    for_levels: dict[str, str]


def _levels_key(th: Threshold) -> tuple[Any, ...]:
    """Everything _levels reads of a threshold. The levels by their repr: 1 and 1.0 (and 0.0 and -0.0) are
    equal, but parse and show apart."""
    return (th.indicator, th.direction, repr(th.target), repr(th.warning), repr(th.critical), repr(th.for_))


def _levels(th: Threshold, default_for: str) -> _Levels:
    written = {"target": th.target, "warning": th.warning, "critical": th.critical}
    values = {k: parse_quantity(raw).value if raw is not None else None for k, raw in written.items()}
    if th.indicator:
        kind, direction = INDICATOR_KIND[th.indicator]
        direction = th.direction or direction
    else:
        # a custom expression compares what its values say: durations, percentages or plain numbers
        kinds = {parse_quantity(raw).kind for raw in written.values() if raw is not None}
        kind = "duration" if "duration" in kinds else "ratio" if kinds == {"percent"} else "number"
        direction = th.direction or "above"  # higher is worse unless the spec says otherwise (validate.py)
    levels = ", ".join(f"{k} {show(kind, v)}" for k, v in values.items() if v is not None)
    for_levels = _for_levels(th, default_for, [k for k in ("warning", "critical") if values[k] is not None])
    return _Levels(values, kind, direction, levels, for_levels)


def _threshold(spec: Spec, svc: ServiceModel, th: Threshold,
               memo: dict[tuple[Any, ...], _Levels] | None = None) -> ThresholdModel:
    """`memo`: the _Levels of each _levels_key, for the spec's `defaults.threshold_for`."""
    if memo is None:
        found = _levels(th, spec.defaults.threshold_for)
    else:
        key = _levels_key(th)
        if key not in memo:
            memo[key] = _levels(th, spec.defaults.threshold_for)
        found = memo[key]
    values, kind, direction = found.values, found.kind, found.direction
    name = th.name or naming.threshold_alert_name(svc.name, th.indicator or "", direction)
    window = THRESHOLD_RATE_WINDOW
    if th.indicator == "error_rate":
        expr = (f"sum(rate({svc.error_requests()}[{window}])) / sum(rate({svc.requests()}[{window}]))")
        unit, what = "percentunit", "Error ratio"
    elif th.indicator == "availability":
        expr = (f"1 - (sum(rate({svc.error_requests()}[{window}])) / sum(rate({svc.requests()}[{window}])))")
        unit, what = "percentunit", "Availability"
    elif th.indicator == "request_rate":
        expr = f"sum(rate({svc.requests()}[{window}]))"
        unit, what = "reqps", "Request rate"
    elif th.indicator == "consumer_lag":
        assert svc.consumer is not None  # validate.py requires it
        expr = f"sum({svc.consumer.lag}{{{svc.selector}}})"
        unit, what = "short", "Consumer lag"
    elif th.indicator == "throughput":
        assert svc.consumer is not None
        expr = f"sum(rate({svc.consumer.processed_total}{{{svc.selector}}}[{window}]))"
        unit, what = "ops", "Throughput"
    elif th.indicator in QUANTILES:
        q = QUANTILES[th.indicator]
        expr = f"histogram_quantile({q}, sum by (le) (rate({svc.histogram('bucket')}[{window}])))"
        unit, what = "s", f"P{th.indicator[len('latency_p'):]} latency"
    else:
        assert th.expr is not None
        expr = th.expr.strip()
        unit, what = th.unit or "short", naming.snake(name).replace("_", " ")
    if kind == "ratio":
        shown = "{{ $value | humanizePercentage }}"
    elif kind == "duration":
        shown = "{{ $value | humanizeDuration }}"
    else:
        shown = "{{ $value | humanize }}"
    word = "above" if direction == "above" else "below"
    summary = th.summary or (
        f"{what} of {svc.name} is {word} its threshold." if th.indicator
        else f"{name} is {word} its threshold."
    )
    description = th.description or f"{what} of {svc.name} is {shown} ({found.levels})."
    for_levels = dict(found.for_levels)  # each threshold its own dict, as before
    return ThresholdModel(
        alert=name,
        indicator=th.indicator,
        expr=expr,
        record=None if th.indicator else naming.threshold_record(name),
        direction=direction,
        target=values["target"],
        warning=values["warning"],
        critical=values["critical"],
        kind=kind,
        unit=unit,
        for_=for_levels["critical" if "critical" in for_levels else "warning"],
        for_levels=for_levels,
        summary=summary,
        description=description,
        runbook_url=svc.runbook_url(name, th.runbook_url),
    )


def _for_levels(th: Threshold, default: str, levels: list[str]) -> dict[str, str]:
    if isinstance(th.for_, LevelDurations):
        return {lv: getattr(th.for_, lv) or default for lv in levels}
    return {lv: th.for_ or default for lv in levels}


def show(kind: str, value: Decimal) -> str:
    """A threshold as a person reads it: 0.005 -> `0.5%`, 0.2 (seconds) -> `200ms`."""
    if kind == "ratio":
        return f"{fmt(value * 100)}%"
    if kind == "duration":
        return f"{fmt(value * 1000)}ms" if value < 1 else f"{fmt(value)}s"
    return fmt(value)


def _class_slos(spec: Spec, name: str) -> list[Slo]:
    """The SLOs an SLO class gives each of its services."""
    cls = spec.slo_classes[name]
    out: list[Slo] = []
    if cls.availability is not None:
        out.append(Slo(name="availability", objective=cls.availability, period=cls.period,
                       sli=Sli(type="availability"), by=cls.by))
    if cls.latency is not None:
        out.append(Slo(name="latency", objective=cls.latency.objective, period=cls.period,
                       sli=Sli(type="latency", threshold=cls.latency.threshold), by=cls.by))
    return out


def _slos(spec: Spec, svc: Service, model: ServiceModel, memo: _Memo | None = None) -> list[SloModel]:
    """The service's SLOs: its class's, then its own (an own SLO of the same name replaces the class's)."""
    own = {s.name: s for s in svc.slos}
    merged: list[Slo] = []
    if svc.class_:
        if memo is None:
            merged = _class_slos(spec, svc.class_)
        else:  # validated once for every service of the class, and shared (frozen)
            if svc.class_ not in memo.class_slos:
                memo.class_slos[svc.class_] = _class_slos(spec, svc.class_)
            merged = list(memo.class_slos[svc.class_])
    from_class = {s.name for s in merged}
    merged = [own.pop(s.name, s) for s in merged] + [s for s in svc.slos if s.name in own]
    cls_alerting = spec.slo_classes[svc.class_].alerting if svc.class_ else None
    out = []
    for slo in merged:
        shaped = cls_alerting if slo.name in from_class else None
        period = slo.period or spec.defaults.slo_period
        errors, total, ratio, le, good, metric = _sli_queries(model, slo)
        out.append(SloModel(
            service=svc.name,
            name=slo.name,
            id=f"{svc.name}-{slo.name}",
            description=slo.description or _slo_description(slo),
            sli_type=slo.sli.type,
            objective=Decimal(str(slo.objective)),
            period=period,
            period_days=int(duration_seconds(period) // 86400),
            errors_query=errors,
            total_query=total,
            ratio_query=ratio,
            page=slo.alerting.page,
            ticket=slo.alerting.ticket,
            # a gauge's samples come at the scrape interval whatever the traffic: no guard (validation refuses one)
            min_request_rate=Decimal(0) if slo.sli.type == "bool_gauge" else Decimal(str(
                slo.min_request_rate if slo.min_request_rate is not None else spec.defaults.min_request_rate)),
            latency_threshold=le,
            by=tuple(slo.by),
            page_alert=_tier_shape(svc.name, slo, "page", shaped),
            ticket_alert=_tier_shape(svc.name, slo, "ticket", shaped),
            sloth=slo.sloth_compatible if slo.sloth_compatible is not None else spec.defaults.sloth_compatible,
            good_query=good,
            metric=metric,
        ))
    return out


TIER_SEVERITY = {"page": "critical", "ticket": "warning"}


def _tier_shape(service: str, slo: Slo, tier: str, cls: SloClassAlerting | None) -> TierShape:
    """A field the SLO sets wins over its class's, which wins over obsgen's default; labels and annotations
    are merged key by key in that order."""
    own = getattr(slo.alerting, f"{tier}_alert")
    base = getattr(cls, f"{tier}_alert") if cls is not None else None
    if base is None:  # most SLOs: their own shape alone, read without merging
        return TierShape(name=own.name or slo_alert_name(service, slo.name, "burn"),
                         severity=own.severity or TIER_SEVERITY[tier], for_=own.for_,
                         labels=dict(own.labels), annotations=dict(own.annotations))
    layers = [base, own]

    def pick(attr: str) -> Any:
        return next((getattr(x, attr) for x in reversed(layers) if getattr(x, attr) is not None), None)

    return TierShape(
        name=pick("name") or slo_alert_name(service, slo.name, "burn"),
        severity=pick("severity") or TIER_SEVERITY[tier],
        for_=pick("for_"),
        labels={k: v for x in layers for k, v in x.labels.items()},
        annotations={k: v for x in layers for k, v in x.annotations.items()},
    )


def le_label(seconds: Decimal) -> str:
    """A bucket boundary as Prometheus 3 writes `le` (floats: `0.1`, `1.0`, `2.5`)."""
    text = fmt(seconds)
    return text if "." in text else text + ".0"


def _slo_description(slo: Slo) -> str:
    if slo.sli.type == "availability":
        return f"{slo.objective:g}% of requests succeed."
    if slo.sli.type in ("latency", "latency_native"):
        return f"{slo.objective:g}% of requests are faster than {slo.sli.threshold}."
    if slo.sli.type == "bool_gauge":
        return f"{slo.objective:g}% of the samples of {(slo.sli.metric or '').strip()} are 1."
    return f"{slo.objective:g}% of events are good."


def aggregation(op: str, by: tuple[str, ...] | list[str]) -> str:
    """`sum` (no grouping: the output of SLOs without `by` stays as it was) or `sum by (route, method) `."""
    return f"{op} by ({', '.join(by)}) " if by else op


def _sli_queries(svc: ServiceModel, slo: Slo) -> tuple[str, str | None, str | None, Decimal | None, str | None,
                                                        str | None]:
    """(errors, total, ratio, latency threshold, good, metric) of an SLI, `{{window}}` where the range goes."""
    w = "{{window}}"
    sli = slo.sli
    agg = aggregation("sum", slo.by)
    if sli.type == "availability":
        return (f"{agg}(rate({svc.error_requests()}[{w}]))", f"{agg}(rate({svc.requests()}[{w}]))", None, None,
                None, None)
    if sli.type == "latency":
        le = parse_quantity(sli.threshold).value
        total = f"{agg}(rate({svc.histogram('count')}[{w}]))"
        good = f"{agg}(rate({svc.histogram('bucket', f'le={chr(34)}{le_label(le)}{chr(34)}')}[{w}]))"
        return (f"{total} - {good}", total, None, le, None, None)
    if sli.type == "latency_native":
        le = parse_quantity(sli.threshold).value
        metric = (sli.metric or f"{svc.metrics.duration_histogram}{{{svc.selector}}}").strip()
        rate = f"rate({metric}[{w}])"
        total = f"{agg}(histogram_count({rate}))"
        # an idle series' fraction is NaN (0 of 0): `>= 0` drops it, so it adds no good events, as it has none
        good = f"{agg}(histogram_fraction(0, {fmt(le)}, {rate}) * histogram_count({rate}) >= 0)"
        return (f"{total} - {good}", total, None, le, good, metric)
    if sli.type == "bool_gauge":
        assert sli.metric is not None  # validate.py requires it
        metric = sli.metric.strip()
        # samples, not averages: every window is the share of samples at 0 even when sample counts differ
        total = f"{agg}(count_over_time({metric}[{w}]))"
        good = f"{agg}(sum_over_time({metric}[{w}]))"
        return (f"{total} - {good}", total, None, None, good, metric)
    if sli.type == "events":
        assert sli.events is not None  # validate.py requires it
        total = sli.events.total.strip()
        if sli.events.good is not None:
            good = sli.events.good.strip()
            return (f"({total}) - ({good})", total, None, None, good, None)
        assert sli.events.errors is not None  # validate.py requires one of them
        return (sli.events.errors.strip(), total, None, None, None, None)
    assert sli.expr is not None
    return ("", None, sli.expr.strip(), None, None, None)
