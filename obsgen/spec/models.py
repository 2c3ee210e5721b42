"""The spec as pydantic models: the shape of obsgen.yaml, field by field.

`extra="forbid"` everywhere so a typo is an error, not a silent default. Only checks that concern a
single field live here; checks across fields and references live in `validate.py`.

No `from __future__ import annotations` here: string annotations would make pydantic evaluate a
thousand forward references at import, a tenth of `obsgen validate`'s time.
"""

import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ..units import duration_seconds, parse_quantity

SLUG_RE = r"^[a-z][a-z0-9-]{0,62}$"
LABEL_NAME_RE = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
ALERT_NAME_RE = re.compile(r"^([A-Z]+[a-z0-9]+)+$")
Severity = Literal["critical", "warning", "info"]
LogOutput = Literal["loki", "elasticsearch"]
DeployTarget = Literal["compose", "kubernetes"]


# Prometheus and Alertmanager hold a duration as Go's int64 nanoseconds: about 292 years at most.
MAX_DURATION_SECONDS = Decimal(2**63 - 1) / 10**9
# A quantity becomes a float64 sample value in PromQL: no bigger than this, no smaller than its inverse.
MAX_QUANTITY = Decimal("1e300")


def _duration(value: str) -> str:
    if duration_seconds(value) > MAX_DURATION_SECONDS:  # raises ValueError with a helpful message
        raise ValueError(f"{value!r} is longer than Prometheus and Alertmanager can hold (about 292 years, "
                         "the largest duration in Go's int64 nanoseconds)")
    return value


def _label_value(value: str) -> str:
    # Legal in Prometheus, but they would have to be escaped differently in PromQL, LogQL,
    # fluent.conf and YAML; refusing them keeps every generated selector simple and safe.
    bad = sorted({c for c in value if c in '"\'{}\\`#$' or ord(c) < 32})
    if bad:
        raise ValueError(f"label value {value!r} contains {' '.join(repr(c) for c in bad)}; "
                         "quotes, braces, backslashes, #, $ and control characters are not allowed")
    return value


def _quantity(value: Any) -> Any:
    q = parse_quantity(value).value
    if q and not (1 / MAX_QUANTITY <= abs(q) <= MAX_QUANTITY):
        raise ValueError(f"{value!r} is too {'large' if abs(q) > 1 else 'small'} to compare a sample with; "
                         "use a number between 1e-300 and 1e300")
    return value


Duration = Annotated[str, AfterValidator(_duration), Field(json_schema_extra={"pattern": r"^(0|(\d+(y|w|d|h|m|s|ms))+)$"})]
Slug = Annotated[str, Field(pattern=SLUG_RE)]
LabelName = Annotated[str, Field(pattern=LABEL_NAME_RE)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
Labels = dict[LabelName, LabelValue]
QuantityValue = Annotated[float | int | str, AfterValidator(_quantity)]
FilePath = Annotated[str, Field(min_length=1, pattern=r"^/")]


class Base(BaseModel):
    # allow_inf_nan: no field means infinity or NaN, and the loader refuses them already
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- project & defaults


class Project(Base):
    name: Slug = Field(description="Slug used in file names, uids and labels.")
    environment: LabelValue = "production"
    external_labels: Labels = Field(default_factory=dict)
    runbook_url: str | None = Field(
        None, description="Pattern for runbook links; `{service}` and `{alert}` are substituted."
    )
    grafana_url: str | None = Field(None, description="Base URL of Grafana, for dashboard_url annotations.")
    alertmanager_url: str | None = Field(None, description="External URL of Alertmanager, for links.")


class MetricConventions(Base):
    requests_total: str = "http_requests_total"
    status_label: LabelName = "status"
    error_status: str = "5.."
    duration_histogram: str = "http_request_duration_seconds"


class MetricOverrides(Base):
    requests_total: str | None = None
    status_label: LabelName | None = None
    error_status: str | None = None
    duration_histogram: str | None = None


class SloWindows(Base):
    """Share of the period's error budget each tier may burn within its long window."""

    page_fast: tuple[Duration, Duration, float] = ("1h", "5m", 2.0)
    page_slow: tuple[Duration, Duration, float] = ("6h", "30m", 5.0)
    ticket_fast: tuple[Duration, Duration, float] = ("1d", "2h", 10.0)
    ticket_slow: tuple[Duration, Duration, float] = ("3d", "6h", 10.0)


class Defaults(Base):
    scrape_interval: Duration = "15s"
    scrape_timeout: Duration | None = None
    evaluation_interval: Duration = "15s"
    slo_period: Duration = "30d"
    threshold_for: Duration = Field("5m", description="`for` of threshold alerts that name none.")
    metrics: MetricConventions = Field(default_factory=MetricConventions)
    slo_windows: SloWindows = Field(default_factory=SloWindows)
    min_request_rate: float = Field(
        0.0, ge=0, description="Low-traffic guard: SLO pages stay silent below this many requests/s."
    )


# --------------------------------------------------------------------------- SLOs


class LatencyClass(Base):
    threshold: QuantityValue
    objective: float


class SloClass(Base):
    availability: float | None = None
    latency: LatencyClass | None = None
    period: Duration | None = None


class SliEvents(Base):
    errors: str
    total: str


class Sli(Base):
    type: Literal["availability", "latency", "events", "ratio"] = Field(
        description="Inferred when omitted: events -> events, expr -> ratio, threshold -> latency."
    )
    threshold: QuantityValue | None = Field(None, description="latency: the bucket boundary, e.g. 100ms.")
    events: SliEvents | None = None
    expr: str | None = Field(None, description="ratio: an expression that already is an error ratio.")

    @model_validator(mode="before")
    @classmethod
    def _infer_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" not in data:
            for key, kind in (("events", "events"), ("expr", "ratio"), ("threshold", "latency")):
                if key in data:
                    return {**data, "type": kind}
        return data


class SloAlerting(Base):
    page: bool = True
    ticket: bool = True


class Slo(Base):
    name: Slug
    objective: float = Field(description="Percent of good events, strictly between 0 and 100.")
    sli: Sli
    period: Duration | None = None
    description: str | None = None
    alerting: SloAlerting = Field(default_factory=SloAlerting)
    min_request_rate: float | None = Field(None, ge=0)


# --------------------------------------------------------------------------- services


K8sLabelKey = Annotated[str, Field(pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")]


class KubernetesScrape(Base):
    namespace: str
    pod_labels: dict[K8sLabelKey, LabelValue] = Field(default_factory=dict)
    port: str | None = Field(None, description="Container port name to scrape; all ports when unset.")


class Scrape(Base):
    static: list[str] | None = None
    kubernetes: KubernetesScrape | None = None
    labels: Labels = Field(default_factory=dict)
    path: str = "/metrics"
    scheme: Literal["http", "https"] = "http"
    interval: Duration | None = None
    down_for: Duration = Field("2m", description="`for` of the <Service>Down alert (failed scrapes).")


Indicator = Literal[
    "error_rate",
    "latency_p50",
    "latency_p90",
    "latency_p95",
    "latency_p99",
    "availability",
    "request_rate",
]


class LevelDurations(Base):
    """A `for` per level, when warning and critical must hold for different times."""

    warning: Duration | None = None
    critical: Duration | None = None


class Threshold(Base):
    indicator: Indicator | None = None
    name: str | None = Field(None, description="Alert name (required with expr).")
    expr: str | None = None
    unit: str | None = Field(None, description="Grafana unit of a custom expression (e.g. ops, s, percentunit).")
    target: QuantityValue | None = None
    warning: QuantityValue | None = None
    critical: QuantityValue | None = None
    direction: Literal["above", "below"] | None = None
    for_: Duration | LevelDurations | None = Field(
        None, alias="for",
        description="How long a level must hold before it fires: one duration, or `{warning: 15m, critical: 5m}`.",
    )
    summary: str | None = None
    description: str | None = None
    runbook_url: str | None = None


class InputSeries(Base):
    series: str = Field(description='A series as promtool reads it, e.g. `queue_depth{job="orders"}`.')
    values: str = Field(description="promtool's expanding notation, e.g. `0+10x30`, `1x5 0x10`, `_x3 1`.")


class ExpectedAlert(Base):
    exp_labels: Labels = Field(
        default_factory=dict,
        description="Labels the alert carries from its series (e.g. `instance`); obsgen adds the rule's own.")
    exp_annotations: dict[str, str] | None = Field(
        None, description="Every annotation, expanded; when omitted, only the labels are asserted.")


class AlertCheck(Base):
    eval_time: Duration = Field(description="When to look, from the start of the input series.")
    exp_alerts: list[ExpectedAlert] = Field(
        default_factory=list, description="The alerts firing at `eval_time`; empty: the alert stays silent.")


class AlertTest(Base):
    """A promtool unit test of a free-form alert, in promtool's terms; obsgen copies it into the generated
    test file. An alert is proven when its tests hold a check where it fires and one where it is silent."""

    name: str | None = None
    interval: Duration = "1m"
    input_series: list[InputSeries] = Field(default_factory=list)
    alert_rule_test: list[AlertCheck] = Field(min_length=1)


class Alert(Base):
    name: str
    expr: str
    for_: Duration | None = Field(None, alias="for")
    keep_firing_for: Duration | None = None
    severity: Severity = "warning"
    summary: str
    description: str | None = None
    labels: Labels = Field(default_factory=dict)
    runbook_url: str | None = None
    tests: list[AlertTest] = Field(
        default_factory=list,
        description="Input series and expected alerts that prove this alert; without them it is unproven.")


class LogSource(Base):
    tail: str | None = Field(None, description="Glob of log files to tail.")
    forward: bool = Field(False, description="Receive from the Docker fluentd logging driver.")
    format: Literal["json", "text"] = "json"
    time_key: str = "timestamp"
    time_format: str | None = Field(
        None, description="strptime format of `time_key` (e.g. `%Y-%m-%d %H:%M:%S`, read as UTC); ISO 8601 when unset."
    )
    tag: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$",
        description="Fluentd tag of the service's events, `logs.<service>` when unset. With `forward`, the "
                    "containers' Docker logging driver must send this tag (log-opt `tag`).",
    )


class LogAlert(Base):
    name: str
    logql: str
    above: float
    for_: Duration | None = Field(None, alias="for")
    severity: Severity = "warning"
    summary: str
    description: str | None = None


class Logs(Base):
    source: LogSource
    labels: list[LabelName] = Field(default_factory=lambda: ["level"])
    level_key: str = "level"
    error_levels: list[str] = Field(default_factory=lambda: ["error", "ERROR", "critical", "CRITICAL"])
    error_lines_per_minute: float | None = Field(
        10, ge=0, description="Default alert on error-level lines; null switches it off."
    )
    alerts: list[LogAlert] = Field(default_factory=list)


class Health(Base):
    http: str


class Panel(Base):
    """An extra dashboard panel for a metric the thresholds and SLOs do not draw (tokens, active users)."""

    title: str = Field(min_length=1)
    expr: str = Field(min_length=1, description="PromQL; use `$__rate_interval` as the range of rate().")
    unit: str = Field("short", description="Grafana unit, e.g. short, ops, s, bytes, percentunit.")
    description: str | None = None


class Service(Base):
    name: Slug
    description: str | None = None
    team: LabelValue | None = None
    class_: str | None = Field(None, alias="class")
    scrape: Scrape | None = None
    metrics: MetricOverrides = Field(default_factory=MetricOverrides)
    slos: list[Slo] = Field(default_factory=list)
    thresholds: list[Threshold] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    logs: Logs | None = None
    health: Health | None = None
    panels: list[Panel] = Field(default_factory=list, description="Extra panels on the service's dashboard.")
    labels: Labels = Field(default_factory=dict, description="Extra labels on every alert of the service.")
    runbook_url: str | None = None


# --------------------------------------------------------------------------- channels


def _refuse_literal(data: Any, fields: dict[str, str]) -> Any:
    if isinstance(data, dict):
        for literal, file_field in fields.items():
            if literal in data:
                raise ValueError(
                    f"`{literal}` would put a secret into the generated files; write it to a file "
                    f"and name that file with `{file_field}` instead"
                )
    return data


class _Channel(Base):
    send_resolved: bool = True
    literal_secrets: ClassVar[dict[str, str]] = {}  # field a user might write -> the *_file to use

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        return _refuse_literal(data, cls.literal_secrets)


class SlackChannel(_Channel):
    type: Literal["slack"]
    channel: str
    api_url_file: FilePath
    literal_secrets = {"api_url": "api_url_file"}


class EmailChannel(_Channel):
    type: Literal["email"]
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    send_resolved: bool = False
    literal_secrets = {"auth_password": "email.auth_password_file"}


class PagerDutyChannel(_Channel):
    type: Literal["pagerduty"]
    routing_key_file: FilePath | None = None
    service_key_file: FilePath | None = None
    literal_secrets = {"routing_key": "routing_key_file", "service_key": "service_key_file"}


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str | None = None
    url_file: FilePath | None = None
    bearer_token_file: FilePath | None = Field(
        None, description="File holding the token sent as `Authorization: Bearer` (http_config.authorization)."
    )
    max_alerts: int = Field(0, ge=0)
    literal_secrets = {"bearer_token": "bearer_token_file"}


class OpsgenieChannel(_Channel):
    type: Literal["opsgenie"]
    api_key_file: FilePath
    api_url: str | None = None
    literal_secrets = {"api_key": "api_key_file"}


class MsTeamsChannel(_Channel):
    type: Literal["msteams"]
    webhook_url_file: FilePath
    literal_secrets = {"webhook_url": "webhook_url_file"}


Channel = Annotated[
    SlackChannel | EmailChannel | PagerDutyChannel | WebhookChannel | OpsgenieChannel | MsTeamsChannel,
    Field(discriminator="type"),
]


class Email(Base):
    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$")
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    auth_username: str | None = None
    auth_password_file: FilePath | None = None
    require_tls: bool = True

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        return _refuse_literal(data, {"auth_password": "auth_password_file"})


# --------------------------------------------------------------------------- routing


class QuietHours(Base):
    applies_to: list[Severity] | Severity = "warning"
    weekdays: str = Field("monday:friday", pattern=r"^[a-z]+(:[a-z]+)?(,[a-z]+(:[a-z]+)?)*$")
    times: str = Field("09:00-18:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    timezone: str = "UTC"


ByServerity = dict[Severity, list[str]]


class Route(Base):
    """A route placed before the generated ones, for what severity and team do not express."""

    matchers: list[str] = Field(min_length=1, description='Alertmanager matchers, e.g. alertname=~"Cpu.*"')
    receivers: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None


class Routing(Base):
    default: str
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "service"])
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"
    severity: ByServerity = Field(default_factory=dict)
    teams: dict[str, ByServerity] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    inhibit: bool = True
    watchdog: str | None = Field(None, description="Channel that receives the always-firing Watchdog.")


# --------------------------------------------------------------------------- stack


class BasicAuth(Base):
    username: str
    password_file: FilePath


class RemoteWrite(Base):
    name: Slug
    url: str
    kind: Literal["mimir", "cortex", "thanos", "generic"] = "generic"
    tenant: str | None = Field(None, description="X-Scope-OrgID (Mimir, Cortex) or THANOS-TENANT header.")
    headers: dict[str, str] = Field(default_factory=dict)
    basic_auth: BasicAuth | None = None
    bearer_token_file: FilePath | None = None


class PrometheusStack(Base):
    retention: Duration = "15d"
    remote_write: list[RemoteWrite] = Field(default_factory=list)


class AlertmanagerStack(Base):
    replicas: int = Field(1, ge=1, le=7)


GrafanaIniName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$")]


class GrafanaStack(Base):
    admin_user: str = "admin"
    admin_password_file: FilePath | None = None
    settings: dict[GrafanaIniName, dict[GrafanaIniName, str | int | bool]] = Field(
        default_factory=dict,
        description="grafana.ini settings by section, e.g. `{security: {allow_embedding: true}}`; set as "
                    "GF_<SECTION>_<KEY> environment variables. Secrets do not belong here: use *_file fields.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        return _refuse_literal(data, {"admin_password": "admin_password_file"})


class LokiStack(Base):
    retention: Duration = "30d"


class Elasticsearch(Base):
    host: str = "elasticsearch"
    port: int = Field(9200, ge=1, le=65535)
    scheme: Literal["http", "https"] = "http"
    index_prefix: str | None = None
    user: str | None = None
    password_file: FilePath | None = None


class FluentdStack(Base):
    outputs: list[LogOutput] = Field(default_factory=lambda: list[LogOutput](["loki"]))
    elasticsearch: Elasticsearch = Field(default_factory=Elasticsearch)


ExporterType = Literal["node", "cadvisor", "postgres", "redis", "nginx", "blackbox"]


class Exporter(Base):
    type: ExporterType
    target: str | None = Field(None, description="What it watches: host:port of redis/nginx status, ...")
    dsn_file: FilePath | None = Field(None, description="postgres: file holding the connection string.")


class KubernetesStack(Base):
    namespace: Slug = "monitoring"
    prometheus_operator: bool = False
    release: str = "kube-prometheus-stack"
    alertmanager_config_matcher_strategy: Literal["OnNamespace", "OnNamespaceExceptForAlertmanagerNamespace", "None"] = Field(
        "OnNamespace",
        description="The `alertmanagerConfigMatcherStrategy` of the release's Alertmanager (operator mode). With "
                    "OnNamespace, its default, the operator routes only alerts labelled with the namespace of the "
                    "AlertmanagerConfig, so obsgen labels every alert with it; the route proof simulates this.")


class Stack(Base):
    deploy: list[DeployTarget] = Field(default_factory=lambda: list[DeployTarget](["compose"]))
    publish_address: str = "127.0.0.1"
    prometheus: PrometheusStack = Field(default_factory=PrometheusStack)
    alertmanager: AlertmanagerStack = Field(default_factory=AlertmanagerStack)
    grafana: GrafanaStack = Field(default_factory=GrafanaStack)
    loki: LokiStack = Field(default_factory=LokiStack)
    fluentd: FluentdStack = Field(default_factory=FluentdStack)
    exporters: list[ExporterType | Exporter] = Field(default_factory=list)
    tracing: Literal["none", "jaeger", "tempo"] = "none"
    kubernetes: KubernetesStack = Field(default_factory=KubernetesStack)


# --------------------------------------------------------------------------- the spec


class Proof(Base):
    accept_unproven: dict[str, str] = Field(
        default_factory=dict,
        description="Alerts obsgen cannot prove, by name, with the reason they are accepted unproven; "
                    "`obsgen check --strict` fails on any other unproven alert.")


class Spec(Base):
    version: Literal[1]
    project: Project
    defaults: Defaults = Field(default_factory=Defaults)
    slo_classes: dict[Slug, SloClass] = Field(default_factory=dict)
    services: list[Service] = Field(min_length=1)
    channels: dict[Slug, Channel] = Field(min_length=1)
    email: Email | None = None
    routing: Routing
    stack: Stack = Field(default_factory=Stack)
    proof: Proof = Field(default_factory=Proof)
