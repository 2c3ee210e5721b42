"""The spec as pydantic models: the shape of obsgen.yaml, field by field.

`extra="forbid"` everywhere so a typo is an error, not a silent default. Only checks that concern a
single field live here; checks across fields and references live in `validate.py`.

Every model has a docstring and every field a `description` (with `examples` where they help): they
become the JSON Schema's descriptions, which an editor shows on hover. A backquoted value right after
"e.g." in a description is a value of that field (or one item of a list field), and
tests/test_schema_docs.py holds it to the models like every `examples` entry.

No `from __future__ import annotations` here: string annotations would make pydantic evaluate a
thousand forward references at import, a tenth of `obsgen validate`'s time.
"""

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from ..units import duration_seconds, parse_quantity

SLUG_RE = r"^[a-z][a-z0-9-]{0,62}$"
LABEL_NAME_RE = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# Prometheus' classic metric name grammar: other UTF-8 names would have to be quoted in every selector
METRIC_NAME_RE = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
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


def _entries(*descriptions: str) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` of a mapping field: describes each entry (what an editor shows on a key of the
    mapping), then each entry's entries for a mapping of mappings."""

    def describe(schema: dict[str, Any]) -> None:
        level = [schema]
        for description in descriptions:
            entries = []
            for node in level:
                for branch in (node, *node.get("anyOf", ())):  # an optional mapping: {anyOf: [mapping, null]}
                    for entry in (*branch.get("patternProperties", {}).values(), branch.get("additionalProperties")):
                        if isinstance(entry, dict):
                            entry["description"] = description
                            entries.append(entry)
            level = entries

    return describe


class Base(BaseModel):
    # allow_inf_nan: no field means infinity or NaN, and the loader refuses them already
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- project & defaults


class Project(Base):
    """Who the stack is for: its name, its environment and the links written into every alert."""

    name: Slug = Field(
        description="Slug naming the stack: Grafana's folder, dashboard uids and tags, Kubernetes objects, the "
                    "Fluentd image and the default Elasticsearch index prefix.", examples=["shop"])
    environment: LabelValue = Field(
        "production", description="The `environment` external label of Prometheus (on its alerts and remote-written "
                                  "series) and the `environment` field Fluentd adds to every log record.")
    external_labels: Labels = Field(
        default_factory=dict, examples=[{"cluster": "eu-1"}],
        description="Labels Prometheus adds to its alerts and remote-written series, and Loki's ruler to its "
                    "alerts; an `environment` here replaces `project.environment`.",
        json_schema_extra=_entries("An external label: its name and value."))
    runbook_url: str | None = Field(
        None, examples=["https://runbooks.example.com/{service}/{alert}"],
        description="Pattern of every alert's `runbook_url` annotation, `{service}` and `{alert}` substituted; a "
                    "service, threshold or alert may set its own. No runbook links when unset.")
    grafana_url: str | None = Field(
        None, examples=["https://grafana.example.com"],
        description="Grafana's external URL: alerts get a `dashboard_url` annotation linking their service's "
                    "dashboard, and Grafana its root_url. No dashboard links when unset.")
    alertmanager_url: str | None = Field(
        None, examples=["https://alertmanager.example.com"],
        description="Alertmanager's external URL (`--web.external-url`), for the links in notifications and the "
                    "dashboards' Alertmanager link; unset, that link opens Grafana's alerting page.")


class MetricConventions(Base):
    """How the services are instrumented: the metric and label names the built-in indicators and SLIs read."""

    requests_total: str = Field(
        "http_requests_total", description="Counter of handled requests: request rate, error ratio and "
                                           "availability are computed from its rate.")
    status_label: LabelName = Field(
        "status", examples=["code"], description="Label of `requests_total` holding the response status.")
    error_status: str = Field(
        "5..", examples=["5..|429"],
        description="Regular expression (RE2, anchored) of the `status_label` values that count as errors.")
    duration_histogram: str = Field(
        "http_request_duration_seconds",
        description="Histogram of request durations in seconds, named without `_bucket`/`_count`; read by the "
                    "latency indicators and latency SLIs.")


# The server metrics of the gRPC ecosystem's interceptors (go-grpc-prometheus, py-grpc-prometheus):
# grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code} and the
# grpc_server_handling_seconds histogram {grpc_type,grpc_service,grpc_method} (no grpc_code).
# Errors are the codes the Thanos mixin's gRPC error-rate alerts count as the server failing, as each
# interceptor spells them: go-grpc-prometheus writes a code's Go name (`Unavailable`), py-grpc-prometheus its
# Python enum name (`UNAVAILABLE`, grpc.StatusCode.name), as the real one does in tests/test_exporters_live.py.
GRPC_METRICS = MetricConventions(
    requests_total="grpc_server_handled_total",
    status_label="grpc_code",
    error_status="Unknown|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded"
                 "|UNKNOWN|RESOURCE_EXHAUSTED|INTERNAL|UNAVAILABLE|DATA_LOSS|DEADLINE_EXCEEDED",
    duration_histogram="grpc_server_handling_seconds",
)


class MetricOverrides(Base):
    """A service's exceptions to `defaults.metrics`; what is unset is taken from there."""

    requests_total: str | None = Field(None, description="The service's request counter, instead of "
                                                         "`defaults.metrics.requests_total`.")
    status_label: LabelName | None = Field(None, examples=["code"], description="The service's status label, "
                                                                              "instead of `defaults.metrics.status_label`.")
    error_status: str | None = Field(None, description="The service's error statuses (RE2, anchored), instead of "
                                                       "`defaults.metrics.error_status`.")
    duration_histogram: str | None = Field(None, description="The service's duration histogram, instead of "
                                                             "`defaults.metrics.duration_histogram`.")


_NO_OVERRIDES = MetricOverrides()  # shared, as _TIER


class SloWindows(Base):
    """One set of alerting tiers (SRE Workbook, multiwindow multi-burn-rate): each is `[long window, short
    window, percent of the period's error budget]`, and fires when both windows burn the budget faster than
    that share per long window (burn rate = share × period / long window, at least 1). A tier left out
    keeps the default of the SLO's period (README, "SLO alerting windows")."""

    page_fast: tuple[Duration, Duration, float] | None = Field(
        None, examples=[["1h", "5m", 2]],
        description="Fast page (critical, tier=page). Default: 2% of the budget in 1h, checked over 1h and 5m "
                    "(14.4 times the budget rate) for 30d; 2% for 28d (13.44 times); 8% for 7d (13.44 times).")
    page_slow: tuple[Duration, Duration, float] | None = Field(
        None, examples=[["6h", "30m", 5]],
        description="Slow page (critical, tier=page). Default: 5% of the budget in 6h, checked over 6h and 30m "
                    "(6 times) for 30d; 5% for 28d (5.6 times); 12.5% for 7d (3.5 times).")
    ticket_fast: tuple[Duration, Duration, float] | None = Field(
        None, examples=[["1d", "2h", 10]],
        description="Fast ticket (warning, tier=ticket). Default: 10% of the budget in 1d, checked over 1d and "
                    "2h (3 times) for 30d; 10% for 28d (2.8 times); 20% for 7d (1.4 times).")
    ticket_slow: tuple[Duration, Duration, float] | None = Field(
        None, examples=[["3d", "6h", 10]],
        description="Slow ticket (warning, tier=ticket). Default: 10% of the budget in 3d, checked over 3d and "
                    "6h (the budget rate itself) for 30d; 11.25% for 28d and 45% for 7d (1.05 times).")


SLO_WINDOW_TIERS = ("page_fast", "page_slow", "ticket_fast", "ticket_slow")
SLO_PERIOD_KEY_RE = r"^[1-9][0-9]*d$"


def _slo_windows_form(value: Any) -> str:
    """`defaults.slo_windows` is a catalogue when every key looks like a duration (`7d`, `28d`), else one set."""
    if isinstance(value, dict) and value and all(
            isinstance(k, str) and re.fullmatch(r"[0-9]+[a-z]+", k) for k in value):
        return "dict"
    return "SloWindows"


def _slo_windows_schema(schema: dict[str, Any]) -> None:
    for branch in schema.get("oneOf", ()):
        if branch.get("type") == "object":  # the catalogue: keyed by period, never empty (`{}` is one set)
            branch.update(propertyNames={"pattern": SLO_PERIOD_KEY_RE}, minProperties=1,
                          description="A window set per SLO period, keyed by the period in days.")
            branch["additionalProperties"]["description"] = (
                "The window set of SLOs with this period; a tier left out keeps the period's default.")


SloWindowCatalogue = Annotated[
    Annotated[SloWindows, Tag("SloWindows")] | Annotated[dict[str, SloWindows], Tag("dict")],
    Discriminator(_slo_windows_form)]


class Defaults(Base):
    """What every service and SLO uses unless it sets its own."""

    scrape_interval: Duration = Field(
        "15s", examples=["30s"],
        description="How often Prometheus scrapes (global `scrape_interval`); a service's `scrape.interval` "
                    "overrides it.")
    scrape_timeout: Duration | None = Field(
        None, examples=["10s"],
        description="Prometheus' global `scrape_timeout`, at most `scrape_interval`; when unset, Prometheus' 10s "
                    "(or a job's interval, if shorter).")
    evaluation_interval: Duration = Field(
        "15s", description="How often Prometheus evaluates the rules (global `evaluation_interval`).")
    slo_period: Duration = Field(
        "30d", examples=["28d"],
        description="Rolling period of the SLOs and classes that set none: a whole number of days.")
    threshold_for: Duration = Field(
        "5m", examples=["10m"],
        description="`for` of the thresholds that set none, and of the default error-log alert.")
    metrics: MetricConventions = Field(
        default_factory=MetricConventions,
        description="How the services of kind http are instrumented (kind grpc has the interceptors' names); a "
                    "service's `metrics` overrides single names.")
    slo_windows: SloWindowCatalogue = Field(
        default_factory=SloWindows,
        examples=[{"7d": {"ticket_fast": ["1d", "2h", 25]}, "90d": {"page_fast": ["2h", "10m", 2]}},
                  {"page_fast": ["1h", "5m", 2], "ticket_slow": ["3d", "6h", 10]}],
        description="The alerting tiers of the SLOs, per period: a mapping from the period in days (`7d`, "
                    "`28d`, `30d`, ...) to its set, whose tiers left out keep that period's default. obsgen's "
                    "defaults hold for 7d, 28d and 30d, and any other period of 3d or more scales the 30d "
                    "windows with the period and keeps their burn rates. One set without periods (the form "
                    "before catalogues) is used for every period. Every tier's burn rate must be at least 1.",
        json_schema_extra=_slo_windows_schema)
    min_request_rate: float = Field(
        0.0, ge=0, examples=[0.5],
        description="Low-traffic guard: SLO pages stay silent while the SLI's 5m request rate is below this many per "
                    "second (per 5m for an events SLI counted with increase()); 0 turns it off.")
    sloth_compatible: bool = Field(
        False, description="Also record every SLO's series as Sloth names and labels them (`sloth_id`, "
                           "`sloth_service`, `sloth_slo`, `sloth_window`, and `sloth_slo_info`), derived from "
                           "obsgen's own recordings, so that Sloth's Grafana dashboards show obsgen's SLOs; an "
                           "SLO's `sloth_compatible` overrides it.")


# --------------------------------------------------------------------------- SLOs


class SloTier(Base):
    """How the burn-rate alert of one tier (page or ticket) of an SLO looks (Sloth's `page_alert` and
    `ticket_alert`); what is unset is the class's, else obsgen's default."""

    name: str | None = Field(
        None,
        description="Alert name: CamelCase, starting with the service's name; `<Service><Slo>BudgetBurn` (page and "
                    "ticket share it) when unset.")
    severity: Severity | None = Field(
        None, description="The `severity` label: critical for the page and warning for the ticket when unset.")
    for_: Duration | None = Field(
        None, alias="for",
        description="How long the burn rate must hold before the alert fires; at once when unset.")
    labels: Labels = Field(
        default_factory=dict, examples=[{"team": "payments-oncall"}],
        description="Labels of this tier's alert, added to the service's (and overriding them, `team` too), so "
                    "routes can send the page and the ticket apart; a class's and the SLO's are merged, the SLO's "
                    "winning.",
        json_schema_extra=_entries("A label of the alert: its name and value."))
    annotations: dict[LabelName, str] = Field(
        default_factory=dict,
        description="Annotations of this tier's alert, added to obsgen's (and overriding them): Go templates as "
                    "Prometheus expands them (`{{ $labels.endpoint }}`, `{{ $value }}`).",
        json_schema_extra=_entries("An annotation of the alert: its name and text (a template)."))


class SloClassAlerting(Base):
    """How the burn-rate alerts of a class's SLOs look, unless an SLO of the service says otherwise."""

    page_alert: SloTier = Field(default_factory=SloTier, description="The page tiers' alert.")
    ticket_alert: SloTier = Field(default_factory=SloTier, description="The ticket tiers' alert.")


class LatencyClass(Base):
    """The latency SLO a class gives its services (an SLO named `latency`)."""

    threshold: QuantityValue = Field(
        description="Bucket boundary (`le`) of `duration_histogram` a good request is faster than, e.g. `200ms`; "
                    "it must be one of the histogram's buckets, or the SLI has no data.")
    objective: float = Field(
        description="Percent of requests faster than `threshold`, strictly between 0 and 100, e.g. `99`.")


class SloClass(Base):
    """A request class (SRE Workbook, alerting at scale): the SLOs every service naming it in `class` gets."""

    availability: float | None = Field(
        None, description="Objective in percent of an SLO named `availability` (availability SLI), e.g. `99.9`; "
                          "no such SLO when unset.")
    latency: LatencyClass | None = Field(
        None, description="An SLO named `latency` (latency SLI); no such SLO when unset.")
    period: Duration | None = Field(
        None, examples=["28d"], description="Period of the class's SLOs; `defaults.slo_period` when unset.")
    by: list[LabelName] = Field(
        default_factory=list, examples=[["endpoint"]],
        description="Labels of the request series the class's SLOs are judged per: one SLO per value (e.g. per "
                    "route), each group paging on its own; one SLO over all requests when empty.")
    alerting: SloClassAlerting = Field(
        default_factory=SloClassAlerting,
        description="Name, severity, `for`, labels and annotations of the page and ticket alerts of the class's "
                    "SLOs (also of a service's own SLO that replaces one of them).")


class SliEvents(Base):
    """An events SLI: bad (or good) and all events as PromQL, `{{window}}` standing where the range goes."""

    errors: str | None = Field(
        None, examples=["sum(rate(token_validation_failures_total[{{window}}]))"],
        description="PromQL of the bad events over `[{{window}}]`, in the same unit as `total`; exactly one of "
                    "`errors` and `good`.")
    good: str | None = Field(
        None, examples=["sum(rate(token_validations_ok_total[{{window}}]))"],
        description="PromQL of the good events over `[{{window}}]`, in the same unit as `total`, instead of "
                    "`errors`: the errors are `total` minus `good`, and a `good` that returns nothing counts "
                    "as 0 good events (every event an error).")
    total: str = Field(
        examples=["sum(rate(token_validations_total[{{window}}]))"],
        description="PromQL of all events over `[{{window}}]`; the low-traffic guard compares it with "
                    "`min_request_rate`.")


class Sli(Base):
    """What counts as a good event for an SLO."""

    type: Literal["availability", "latency", "latency_native", "bool_gauge", "events", "ratio"] = Field(
        description="availability: requests without an error status (`defaults.metrics`); latency: requests faster "
                    "than `threshold` (a classic histogram's bucket); latency_native: requests faster than "
                    "`threshold` in a native histogram (`metric`); bool_gauge: samples of a gauge that is 0 "
                    "or 1 (`metric`, such as the blackbox exporter's probe_success) that are 1; events: `events`; ratio: `expr`. "
                    "Inferred from `events`, `expr` or `threshold` when omitted."
    )
    threshold: QuantityValue | None = Field(
        None, description="latency: the bucket boundary (`le`) of the duration histogram a good request is faster "
                          "than, e.g. `100ms`. latency_native: any duration, e.g. `200ms`; `histogram_fraction` "
                          "interpolates within the native bucket that holds it, so the share is exact only at a "
                          "bucket boundary (a power of 2 at schema 0, such as 0.25s).")
    metric: str | None = Field(
        None, examples=['probe_success{job="blackbox-http"}'],
        description="bool_gauge: the gauge's series as a PromQL selector without a range (e.g. "
                    "`probe_success{job=\"blackbox-http\"}` or `up{job=\"api\"}`); each sample at 0 is a bad "
                    "event, each at 1 a good one, so every window is the exact share of samples at 0. "
                    "latency_native: the native histogram's series, the service's `duration_histogram` of its "
                    "job when unset.")
    events: SliEvents | None = Field(None, description="events: PromQL of the bad (or good) and of all events.")
    expr: str | None = Field(
        None, examples=["sum(rate(jobs_failed_total[{{window}}])) / sum(rate(jobs_total[{{window}}]))"],
        description="ratio: PromQL that already is an error ratio (0 to 1), `{{window}}` where the range goes; "
                    "averaged over its series.")

    @model_validator(mode="before")
    @classmethod
    def _infer_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" not in data:
            for key, kind in (("events", "events"), ("expr", "ratio"), ("threshold", "latency")):
                if key in data:
                    return {**data, "type": kind}
        return data


# The defaults of fields every SLO and service has, made once and shared (frozen models, their dicts
# never changed): a default_factory of the class would build and validate one for each of 10,000 services.
_TIER = SloTier()


class SloAlerting(Base):
    """Which alerts an SLO gets; with both off it only records (no alerts, not even SliAbsent)."""

    page: bool = Field(True, description="The page tiers: <Service><Slo>BudgetBurn at critical, `tier=page`.")
    ticket: bool = Field(
        True, description="The ticket tiers (BudgetBurn at warning, `tier=ticket`) and <Service><Slo>BudgetExhausted.")
    page_alert: SloTier = Field(
        default_factory=lambda: _TIER, examples=[{"severity": "critical", "labels": {"team": "payments-oncall"}}],
        description="Name, severity, `for`, labels and annotations of the page tiers' alert.")
    ticket_alert: SloTier = Field(
        default_factory=lambda: _TIER, examples=[{"name": "CheckoutAvailabilityTicket", "for": "15m"}],
        description="Name, severity, `for`, labels and annotations of the ticket tiers' alert.")


_ALERTING = SloAlerting()
# An SLO without `alerting` has this very object (checks skip what it cannot get wrong: `is DEFAULT_ALERTING`)
DEFAULT_ALERTING = _ALERTING


class Slo(Base):
    """A service level objective: burn-rate alerts, error budget recordings and a dashboard row."""

    name: Slug = Field(
        examples=["availability"],
        description="Slug in its alert names (`<Service><Name>BudgetBurn`), the `slo` label and `slo_id` "
                    "(`<service>-<name>`); one named like an SLO of the service's class replaces that.")
    objective: float = Field(
        description="Percent of good events over the period, strictly between 0 and 100, e.g. `99.9`.")
    sli: Sli = Field(description="What counts as a good event.")
    period: Duration | None = Field(
        None, examples=["28d"],
        description="Rolling period, a whole number of days; `defaults.slo_period` when unset.")
    description: str | None = Field(
        None, description="Sentence on the dashboard; one made from the objective and SLI when unset.")
    alerting: SloAlerting = Field(default_factory=lambda: _ALERTING, description="Which alerts the SLO gets.")
    min_request_rate: float | None = Field(
        None, ge=0, description="This SLO's low-traffic guard, instead of `defaults.min_request_rate`; not for a "
                                "ratio SLI, which counts no requests.")
    by: list[LabelName] = Field(
        default_factory=list, examples=[["endpoint"]],
        description="Labels of the SLI's series the SLO is judged per (Sloth's and Pyrra's grouping): every "
                    "recording keeps them, each group (e.g. each route) gets its own error budget and burn-rate "
                    "alerts carrying its label values, the low-traffic guard applies per group, and the "
                    "dashboard gets a variable per label; one SLO over all series when empty.")
    sloth_compatible: bool | None = Field(
        None, description="Record this SLO's series under Sloth's labels too; `defaults.sloth_compatible` when unset.")


# --------------------------------------------------------------------------- services


K8sLabelKey = Annotated[str, Field(pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")]


class KubernetesScrape(Base):
    """Targets found by Kubernetes pod discovery (a PodMonitor in prometheus-operator mode)."""

    namespace: str = Field(examples=["shop"], description="Namespace whose pods are scraped.")
    pod_labels: dict[K8sLabelKey, LabelValue] = Field(
        default_factory=dict, examples=[{"app.kubernetes.io/name": "catalog"}],
        description="Labels a pod must carry, with exactly these values, to be scraped; every pod of the namespace "
                    "when empty.",
        json_schema_extra=_entries("A pod label (a Kubernetes label key) and the value it must have."))
    port: str | None = Field(None, examples=["metrics"],
                             description="Container port name to scrape; all ports when unset.")


class Scrape(Base):
    """How Prometheus scrapes the service: a job named after it, and the <Service>Down alert."""

    static: list[str] | None = Field(
        None, examples=[["checkout:8080"]], description="Fixed targets, each `host:port`.")
    kubernetes: KubernetesScrape | None = Field(None, description="Targets found as Kubernetes pods.")
    labels: Labels = Field(
        default_factory=dict, examples=[{"env": "production"}],
        description="Labels set on every target of the job, so on its every series (`service` and `team` are "
                    "always set).",
        json_schema_extra=_entries("A target label: its name and value."))
    path: str = Field("/metrics", description="HTTP path of the metrics (`metrics_path`).")
    scheme: Literal["http", "https"] = Field("http", description="Scheme of the scrapes.")
    interval: Duration | None = Field(
        None, examples=["30s"], description="Scrape interval of this job; `defaults.scrape_interval` when unset.")
    down_for: Duration = Field(
        "2m", description="`for` of <Service>Down (a target fails its scrapes) and of the alerts of the "
                          "service's health checks that set no `for`.")
    honor_labels: bool | None = Field(
        None, description="Keep the `job` and `instance` labels of the scraped series instead of the target's "
                          "(Prometheus' `honor_labels`), as a Pushgateway or a federation needs; a batch service's "
                          "scrape always does. Unset: false (true for kind batch).")


Indicator = Literal[
    "error_rate",
    "latency_p50",
    "latency_p90",
    "latency_p95",
    "latency_p99",
    "availability",
    "request_rate",
    "consumer_lag",
    "throughput",
]

Kind = Literal["http", "grpc", "batch", "consumer"]


class Batch(Base):
    """A batch job that pushes to a Pushgateway after each run, as the Prometheus docs ("Pushing metrics")
    instrument one: a gauge of its last success in unixtime, added only on success, pushed every run."""

    every: Duration = Field(examples=["1h", "1d"], description="How often the job is scheduled to run.")
    grace: Duration = Field(
        "15m", examples=["30m"],
        description="How much later than `every` a success may come (the run's own duration included) before "
                    "<Service>LastSuccessTooOld fires.")
    last_success: str | None = Field(
        None, examples=["nightly_report_last_success_unixtime"],
        description="Gauge the job pushes on success, holding that time in unixtime; "
                    "`<name>_last_success_unixtime` (the service's name in snake case) when unset.")


class Consumer(Base):
    """A message consumer: the metrics its lag and throughput thresholds read, from its own scrape job."""

    lag: str = Field(
        examples=["consumer_lag_messages"],
        description="Gauge of the messages waiting to be consumed (summed over its series: partitions, queues); "
                    "read by the consumer_lag indicator.")
    processed_total: str = Field(
        examples=["messages_processed_total"],
        description="Counter of the messages the consumer has processed; its rate is the throughput indicator.")


class LevelDurations(Base):
    """A `for` per level, when warning and critical must hold for different times."""

    warning: Duration | None = Field(
        None, examples=["15m"], description="`for` of the warning level; `defaults.threshold_for` when unset.")
    critical: Duration | None = Field(
        None, examples=["5m"], description="`for` of the critical level; `defaults.threshold_for` when unset.")


class Threshold(Base):
    """A threshold alert: a built-in indicator or a custom expression against warning and critical levels, which
    share one alert name; the dashboard draws the levels and the target."""

    indicator: Indicator | None = Field(
        None, description="Built-in indicator over 5m from the service's metrics: error_rate and availability "
                          "(ratios), latency_p50 to latency_p99 (durations), request_rate (requests/s) for kinds http "
                          "and grpc; consumer_lag (messages waiting) and throughput (messages/s) for kind consumer.")
    name: str | None = Field(
        None, description="Alert name, CamelCase and starting with the service's name; required with `expr`. Default: "
                          "`<Service><Indicator>High` (`Low` for direction below).")
    expr: str | None = Field(
        None, examples=["dead_letter_queue_size"],
        description="Custom PromQL whose value is compared (with a `name`); recorded as `service:<name>:value` "
                    "first.")
    unit: str | None = Field(
        None, examples=["ops", "s", "percentunit"],
        description="Grafana unit of a custom expression's panel; `short` when unset.")
    target: QuantityValue | None = Field(
        None, examples=["0.1%", "100ms"],
        description="Where the value should be: drawn on the dashboard, never alerted on.")
    warning: QuantityValue | None = Field(
        None, examples=["0.5%", "250ms", 40000, "50k"],
        description="Level of the warning alert: a number, a percentage, a duration or a count with k, M or G.")
    critical: QuantityValue | None = Field(
        None, examples=["1%", "500ms"], description="Level of the critical alert, written like `warning`.")
    direction: Literal["above", "below"] | None = Field(
        None, description="above: higher is worse; below: lower is worse. Default: the indicator's (below for "
                          "availability and request_rate); above for `expr`, never guessed from the levels.")
    for_: Duration | LevelDurations | None = Field(
        None, alias="for", examples=["10m", {"warning": "15m", "critical": "5m"}],
        description="How long a level must hold before it fires: one duration, or one per level; "
                    "`defaults.threshold_for` when unset.",
    )
    summary: str | None = Field(
        None, description="The `summary` annotation; default: a sentence saying the value is above (or below) its "
                          "threshold.")
    description: str | None = Field(
        None, description="The `description` annotation, a template (`{{ $value }}`, `{{ $labels.instance }}`); "
                          "default: the value and the levels.")
    runbook_url: str | None = Field(
        None, description="Runbook link pattern of this alert (`{service}`, `{alert}` substituted), instead of the "
                          "service's or the project's.")


class InputSeries(Base):
    """One input series of a promtool test."""

    series: str = Field(description='A series as promtool reads it, e.g. `queue_depth{job="orders"}`.')
    values: str = Field(description="Its samples, one per `interval`, in promtool's expanding notation, e.g. "
                                    "`0+10x30`, `1x5 0x10`, `_x3 1`.")


class ExpectedAlert(Base):
    """An alert promtool must find firing at the check's `eval_time`."""

    exp_labels: Labels = Field(
        default_factory=dict, examples=[{"instance": "pushgateway:9091"}],
        description="Labels the alert carries from its input series, such as `instance`; obsgen adds the rule's "
                    "own (severity, service, team, labels).",
        json_schema_extra=_entries("A label of the alert and its value."))
    exp_annotations: dict[str, str] | None = Field(
        None, description="Every annotation, expanded; when omitted, only the labels are asserted.",
        json_schema_extra=_entries("An annotation of the alert and its text, as expanded."))


class AlertCheck(Base):
    """What promtool checks at one moment of the test."""

    eval_time: Duration = Field(examples=["10m"], description="When to look, from the start of the input series.")
    exp_alerts: list[ExpectedAlert] = Field(
        default_factory=list, description="The alerts firing at `eval_time`; empty: the alert stays silent.")


class AlertTest(Base):
    """A promtool unit test of a free-form alert, in promtool's terms; obsgen copies it into the generated
    test file. An alert is proven when its tests hold a check where it fires and one where it is silent."""

    name: str | None = Field(
        None, description="Name of the test group in the generated file; `<Alert>: test <n> of the spec` when "
                          "unset.")
    interval: Duration = Field("1m", examples=["5m"], description="Time between two samples of the input series.")
    input_series: list[InputSeries] = Field(default_factory=list, description="The series the rules read.")
    alert_rule_test: list[AlertCheck] = Field(
        min_length=1, description="The checks, at least one: what fires, and what stays silent, when.")


class Alert(Base):
    """A free-form alerting rule, written as Prometheus reads it; only its `tests` can prove it."""

    name: str = Field(description="Alert name: CamelCase, at most 40 characters, starting with the service's name.")
    expr: str = Field(examples=["processing_lag_seconds > 600"], description="PromQL of the alert, as written.")
    for_: Duration | None = Field(
        None, alias="for", examples=["5m"],
        description="How long the expression must hold before the alert fires; at once when unset.")
    keep_firing_for: Duration | None = Field(
        None, examples=["15m"], description="How long the alert keeps firing after the expression clears.")
    severity: Severity = Field("warning", description="The `severity` label, which routing and inhibition follow.")
    summary: str = Field(description="The `summary` annotation: one static sentence.")
    description: str | None = Field(
        None, description="The `description` annotation, a template (`{{ $value }}`, `{{ $labels.instance }}`); "
                          "none when unset.")
    labels: Labels = Field(
        default_factory=dict, examples=[{"component": "settlement"}],
        description="Labels of this alert, added to the service's (and overriding them).",
        json_schema_extra=_entries("A label of the alert: its name and value."))
    runbook_url: str | None = Field(
        None, description="Runbook link pattern of this alert (`{service}`, `{alert}` substituted), instead of the "
                          "service's or the project's.")
    tests: list[AlertTest] = Field(
        default_factory=list,
        description="Input series and expected alerts that prove this alert; without them it is unproven.")


class RecordingRule(Base):
    """A free recording rule, written as Prometheus reads it: recorded in the group `<service>-recordings`
    of the service's rule file, with its own labels only (obsgen adds none), so it records the series it
    would record in a hand-written rule file. The service's alerts, thresholds and tests may read it."""

    record: str = Field(
        pattern=METRIC_NAME_RE, examples=["job:http_requests:rate5m"],
        description="Name of the recorded series: a Prometheus metric name (`level:metric:operations` by "
                    "convention), recorded by one service only; not an `slo:` name (obsgen's SLO recordings) "
                    "nor a custom threshold's `service:<name>:value`.")
    expr: str = Field(
        examples=['sum by (instance) (rate(http_requests_total{job="checkout"}[5m]))'],
        description="PromQL of the recording, as written (no placeholders): an instant vector or a number.")
    labels: Labels = Field(
        default_factory=dict, examples=[{"source": "postgres_exporter"}],
        description="Labels of the recorded series, added to those the expression returns (and overriding "
                    "them); two rules recording one name differ in them.",
        json_schema_extra=_entries("A label of the recorded series: its name and value."))


class LogSource(Base):
    """Where Fluentd reads the service's log lines: tailed files or the Docker logging driver."""

    tail: str | None = Field(
        None, examples=["/var/log/checkout/*.log"],
        description="Glob of log files Fluentd tails; their folder is mounted read-only at the same path. Give "
                    "it or `forward`.")
    forward: bool = Field(
        False, description="Receive the lines from the Docker fluentd logging driver (port 24224) instead.")
    format: Literal["json", "text"] = Field(
        "json", description="json: every line is parsed, its keys usable as labels and in LogQL; text: lines stay "
                            "as they are, with no default error-log alert.")
    time_key: str = Field("timestamp", description="JSON key holding the time of the event (json format).")
    time_format: str | None = Field(
        None, description="strptime format of `time_key` (e.g. `%Y-%m-%d %H:%M:%S`, read as UTC); ISO 8601 when unset."
    )
    tag: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$",
        description="Fluentd tag of the service's events, `logs.<service>` when unset. With `forward`, the "
                    "containers' Docker logging driver must send this tag (log-opt `tag`).",
    )


class LogAlert(Base):
    """A LogQL alert, evaluated by Loki's ruler and routed like every other alert."""

    name: str = Field(description="Alert name: CamelCase, at most 40 characters, starting with the service's name.")
    logql: str = Field(
        examples=['sum(count_over_time({service="checkout"} |= "timeout" [5m]))'],
        description="LogQL metric query; the alert fires while its value is above `above`.")
    above: float = Field(examples=[50], description="The threshold the query's value must exceed.")
    for_: Duration | None = Field(
        None, alias="for", examples=["5m"],
        description="How long the value must stay above before the alert fires; at once when unset.")
    severity: Severity = Field("warning", description="The `severity` label, which routing and inhibition follow.")
    summary: str = Field(description="The `summary` annotation: one static sentence ending with a period.")
    description: str | None = Field(
        None, description="The `description` annotation, a template (`{{ $value }}`); default: the value and "
                          "`above`.")


class Logs(Base):
    """The service's logs: shipped by Fluentd to Loki (and Elasticsearch), alerted on with LogQL."""

    source: LogSource = Field(description="Where the lines come from.")
    labels: list[LabelName] = Field(
        default_factory=lambda: ["level"], examples=[["level", "logger"]],
        description="Record keys promoted to Loki stream labels (few values only); `level` reads `level_key`. "
                    "`service` is always one.")
    level_key: str = Field("level", examples=["severity"], description="JSON key holding the line's level.")
    error_levels: list[str] = Field(
        default_factory=lambda: ["error", "ERROR", "critical", "CRITICAL"],
        description="Levels that count as errors, matched exactly (case matters).")
    error_lines_per_minute: float | None = Field(
        10, ge=0, description="<Service>ErrorLogsHigh fires above this many error-level lines per minute (over 5m, "
                              "json logs only); null switches it off."
    )
    alerts: list[LogAlert] = Field(default_factory=list, description="The service's own LogQL alerts.")


DnsQueryType = Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA"]
DnsRcode = Literal["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"]
PROBE_KINDS = ("http", "tcp", "icmp", "dns", "grpc")


class HealthCheck(Base):
    """One probe of the service by the blackbox exporter: exactly one of `http`, `tcp`, `icmp`, `dns` or
    `grpc`, with the settings of that kind. Failing for its `for`, it fires <Service>HealthCheckFailing (http)
    or <Service>TcpCheckFailing, <Service>IcmpCheckFailing, <Service>DnsCheckFailing, <Service>GrpcCheckFailing."""

    # for editors: exactly one kind (validation says which settings belong to it)
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [kind]} for kind in PROBE_KINDS]})

    http: str | None = Field(
        None, examples=["http://checkout:8080/healthz"],
        description="URL probed with module http_2xx (a 2xx answer is healthy).")
    tcp: str | None = Field(
        None, examples=["postgres:5432"],
        description="host:port that must accept a TCP connection (with `tls`, complete a TLS handshake too).")
    icmp: str | None = Field(
        None, examples=["db-1.internal"],
        description="Host (no port) that must answer an ICMP echo request (ping).")
    dns: str | None = Field(
        None, examples=["ns1.internal:53"],
        description="DNS server as host:port that must answer `query_name` over UDP with `rcode` (and, with "
                    "`answer`, a matching record).")
    grpc: str | None = Field(
        None, examples=["checkout:9090"],
        description="host:port of a gRPC server whose grpc.health.v1 Check must answer SERVING.")
    tls: bool | None = Field(
        None, description="tcp and grpc: speak TLS (certificates verified against the system's CAs); default "
                          "false.")
    service: str | None = Field(
        None, examples=["checkout.v1.Checkout"],
        description="grpc: the service name asked of grpc.health.v1 (default: the server as a whole).")
    query_name: str | None = Field(
        None, examples=["checkout.internal"], description="dns: the name asked for (required with `dns`).")
    query_type: DnsQueryType | None = Field(None, description="dns: the record type asked for; default A.")
    answer: str | None = Field(
        None, examples=[r"^checkout\.internal\.\s.*\sIN\sA\s10\."],
        description="dns: an RE2 regular expression one answer record must match, in the zone-file form the "
                    "exporter prints (`name. TTL IN A address`, fields separated by tabs).")
    rcode: DnsRcode | None = Field(None, description="dns: the response code that counts as healthy; default NOERROR.")
    for_: Duration | None = Field(
        None, alias="for", examples=["5m"],
        description="How long the probe must fail before its alert fires; default `scrape.down_for` (2m "
                    "without `scrape`).")


class Panel(Base):
    """An extra dashboard panel for a metric the thresholds and SLOs do not draw (tokens, active users)."""

    title: str = Field(min_length=1, description="Title of the panel.")
    expr: str = Field(
        min_length=1, examples=["sum by (model) (rate(llm_tokens_total[$__rate_interval]))"],
        description="PromQL; use `$__rate_interval` as the range of rate(). Its selectors get the service's job "
                    "and the dashboard's `$instance`.")
    unit: str = Field("short", examples=["ops", "bytes"], description="Grafana unit of the values.")
    description: str | None = Field(None, description="Description of the panel; a generic one when unset.")


class Service(Base):
    """One service to monitor: how it is scraped, its thresholds, SLOs, alerts, logs and dashboard."""

    name: Slug = Field(
        examples=["checkout"],
        description="Slug: the scrape job, the `service` label, the prefix of its alert names (CamelCase) and its "
                    "dashboard.")
    description: str | None = Field(
        None, description="Sentence on its dashboard; `The <name> service.` when unset.")
    kind: Kind = Field(
        "http", examples=["grpc"],
        description="What the service is: http (request metrics of `defaults.metrics`), grpc (the "
                    "go-grpc-prometheus and py-grpc-prometheus interceptors' grpc_server_* metrics), batch (a job "
                    "pushing to a Pushgateway, with `batch`) or consumer (a message consumer, with `consumer`). "
                    "SLO classes, indicators and dashboards follow it.")
    batch: Batch | None = Field(None, description="kind batch: its schedule and the gauge of its last success.")
    consumer: Consumer | None = Field(None, description="kind consumer: its lag and processed-messages metrics.")
    team: LabelValue | None = Field(
        None, examples=["payments"],
        description="The `team` label on its alerts and targets, which `routing.teams` routes by.")
    class_: str | None = Field(
        None, alias="class", examples=["critical"],
        description="An entry of `slo_classes`: the service gets its SLOs (an own SLO of the same name replaces "
                    "one).")
    scrape: Scrape | None = Field(
        None, description="How Prometheus scrapes it; when unset nothing is, and there is no <Service>Down.")
    metrics: MetricOverrides = Field(
        default_factory=lambda: _NO_OVERRIDES, examples=[{"status_label": "code"}],
        description="Metric names where this service differs from `defaults.metrics`.")
    slos: list[Slo] = Field(default_factory=list, description="Its SLOs, besides those of its class.")
    thresholds: list[Threshold] = Field(default_factory=list, description="Its threshold alerts.")
    alerts: list[Alert] = Field(default_factory=list, description="Its free-form alerting rules.")
    recording_rules: list[RecordingRule] = Field(
        default_factory=list, description="Its free recording rules, which its alerts and thresholds may read.")
    logs: Logs | None = Field(None, description="Ship its logs and alert on them; no log pipeline when unset.")
    health: HealthCheck | list[HealthCheck] | None = Field(
        None, examples=[{"tcp": "postgres:5432"}],
        description="Its health checks, probed by the blackbox exporter: one check, or a list of them.")
    panels: list[Panel] = Field(default_factory=list, description="Extra panels on the service's dashboard.")
    labels: Labels = Field(
        default_factory=dict, examples=[{"component": "web"}],
        description="Extra labels on every alert of the service.",
        json_schema_extra=_entries("An alert label: its name and value."))
    runbook_url: str | None = Field(
        None, examples=["https://wiki.example.com/checkout/{alert}"],
        description="Runbook link pattern of its alerts (`{service}`, `{alert}` substituted), instead of "
                    "`project.runbook_url`.")


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
    send_resolved: bool = Field(True, description="Also notify when the alert resolves.")
    literal_secrets: ClassVar[dict[str, str]] = {}  # field a user might write -> the *_file to use

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        return _refuse_literal(data, cls.literal_secrets)


# A secret file is named by its path inside the container that reads it: compose and Kubernetes mount the
# secret there (from $OBSGEN_SECRETS_DIR, or a Secret), so the same path goes into the generated config.
_IN_ALERTMANAGER = "a path inside Alertmanager's container, where the deployment mounts the secret"


class SlackChannel(_Channel):
    """A Slack channel, through an incoming webhook."""

    type: Literal["slack"] = Field(description="Channel kind: slack.")
    channel: str = Field(examples=["#payments-alerts"], description="Channel or user to post to, written as is.")
    api_url_file: FilePath = Field(
        examples=["/etc/alertmanager/secrets/slack-url"],
        description=f"File holding the webhook URL: {_IN_ALERTMANAGER}.")
    literal_secrets = {"api_url": "api_url_file"}


class EmailChannel(_Channel):
    """Email, sent through the SMTP server of the top-level `email` block."""

    type: Literal["email"] = Field(description="Channel kind: email.")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        min_length=1, examples=[["ops@example.com"]], description="Recipients, all addressed in one email.")
    send_resolved: bool = Field(False, description="Also send an email when the alert resolves.")
    literal_secrets = {"auth_password": "email.auth_password_file"}


class PagerDutyChannel(_Channel):
    """A PagerDuty service; name exactly one of the two key files."""

    type: Literal["pagerduty"] = Field(description="Channel kind: pagerduty.")
    routing_key_file: FilePath | None = Field(
        None, examples=["/etc/alertmanager/secrets/pagerduty-key"],
        description=f"File holding the integration key of an Events API v2 integration: {_IN_ALERTMANAGER}.")
    service_key_file: FilePath | None = Field(
        None, description=f"File holding the integration key of a Prometheus integration: {_IN_ALERTMANAGER}.")
    literal_secrets = {"routing_key": "routing_key_file", "service_key": "service_key_file"}


class WebhookChannel(_Channel):
    """An HTTP endpoint receiving Alertmanager's webhook JSON; name exactly one of `url` and `url_file`."""

    type: Literal["webhook"] = Field(description="Channel kind: webhook.")
    url: str | None = Field(
        None, examples=["http://incident-bot:9000/alerts"],
        description="The endpoint, written into alertmanager.yml: no credentials in it.")
    url_file: FilePath | None = Field(
        None, description=f"File holding the endpoint URL, for a URL that carries a secret: {_IN_ALERTMANAGER}.")
    bearer_token_file: FilePath | None = Field(
        None, description="File holding the token sent as `Authorization: Bearer` (http_config.authorization)."
    )
    max_alerts: int = Field(0, ge=0, description="Most alerts in one message, the rest cut off; 0 sends all.")
    literal_secrets = {"bearer_token": "bearer_token_file"}


class OpsgenieChannel(_Channel):
    """An Opsgenie team, by API key: priority P1 for critical, P3 for warning, P5 for info."""

    type: Literal["opsgenie"] = Field(description="Channel kind: opsgenie.")
    api_key_file: FilePath = Field(description=f"File holding the API key: {_IN_ALERTMANAGER}.")
    api_url: str | None = Field(
        None, description="Opsgenie's API, e.g. `https://api.eu.opsgenie.com/` for its EU instance; Alertmanager's "
                          "default (api.opsgenie.com) when unset.")
    literal_secrets = {"api_key": "api_key_file"}


class MsTeamsChannel(_Channel):
    """A Microsoft Teams channel, through an Office 365 connector's incoming webhook. Microsoft has retired
    these connectors: use `msteamsv2` (a Workflows / Power Automate webhook) for a new channel."""

    type: Literal["msteams"] = Field(description="Channel kind: msteams (the retired Office 365 connectors; "
                                                 "`msteamsv2` replaces it).")
    webhook_url_file: FilePath = Field(description=f"File holding the webhook URL: {_IN_ALERTMANAGER}.")
    literal_secrets = {"webhook_url": "webhook_url_file"}


class MsTeamsV2Channel(_Channel):
    """A Microsoft Teams channel, through a Workflows (Power Automate) webhook: what replaces the retired
    Office 365 connectors (Alertmanager's `msteamsv2_configs`)."""

    type: Literal["msteamsv2"] = Field(description="Channel kind: msteamsv2.")
    webhook_url_file: FilePath = Field(
        examples=["/etc/alertmanager/secrets/teams-workflow-url"],
        description=f"File holding the workflow's webhook URL: {_IN_ALERTMANAGER}.")
    literal_secrets = {"webhook_url": "webhook_url_file"}


class DiscordChannel(_Channel):
    """A Discord channel, through a webhook."""

    type: Literal["discord"] = Field(description="Channel kind: discord.")
    webhook_url_file: FilePath = Field(description=f"File holding the webhook URL: {_IN_ALERTMANAGER}.")
    literal_secrets = {"webhook_url": "webhook_url_file"}


class MattermostChannel(_Channel):
    """A Mattermost channel, through an incoming webhook (not in prometheus-operator mode: its
    AlertmanagerConfig has no Mattermost receiver)."""

    type: Literal["mattermost"] = Field(description="Channel kind: mattermost.")
    webhook_url_file: FilePath = Field(description=f"File holding the webhook URL: {_IN_ALERTMANAGER}.")
    channel: str | None = Field(
        None, examples=["town-square"], description="Channel to post to instead of the webhook's own, written as is.")
    literal_secrets = {"webhook_url": "webhook_url_file"}


class TelegramChannel(_Channel):
    """A Telegram chat, through a bot."""

    type: Literal["telegram"] = Field(description="Channel kind: telegram.")
    bot_token_file: FilePath = Field(description=f"File holding the bot's token: {_IN_ALERTMANAGER}.")
    chat_id: int = Field(examples=[-1001234567890],
                         description="The chat's id (a group's or channel's is negative); not 0.")
    message_thread_id: int | None = Field(None, ge=1, description="Topic of a forum group to post in.")
    api_url: str | None = Field(
        None, description="The Bot API, for a self-hosted one, e.g. `https://telegram-bot-api.example.com`; "
                          "Alertmanager's default (api.telegram.org) when unset.")
    literal_secrets = {"bot_token": "bot_token_file"}


class WebexChannel(_Channel):
    """A Webex room, through a bot."""

    type: Literal["webex"] = Field(description="Channel kind: webex.")
    room_id: str = Field(min_length=1, description="Id of the room to post to.")
    bot_token_file: FilePath = Field(
        description=f"File holding the bot's access token, sent as `Authorization: Bearer` "
                    f"(http_config.authorization.credentials_file): {_IN_ALERTMANAGER}.")
    api_url: str | None = Field(
        None, description="Webex's messages API, e.g. `https://webexapis.com/v1/messages`, Alertmanager's default.")
    literal_secrets = {"bot_token": "bot_token_file", "credentials": "bot_token_file"}


class PushoverChannel(_Channel):
    """Pushover notifications to a user or group: priority 1 (high) for critical, 0 for warning, -1 for info."""

    type: Literal["pushover"] = Field(description="Channel kind: pushover.")
    user_key_file: FilePath = Field(description=f"File holding the user or group key: {_IN_ALERTMANAGER}.")
    token_file: FilePath = Field(description=f"File holding the application's API token: {_IN_ALERTMANAGER}.")
    device: str | None = Field(None, description="Device to notify, instead of all of the user's.")
    literal_secrets = {"user_key": "user_key_file", "token": "token_file"}


class VictorOpsChannel(_Channel):
    """Splunk On-Call (VictorOps), through its REST endpoint: CRITICAL, WARNING or INFO by severity."""

    type: Literal["victorops"] = Field(description="Channel kind: victorops.")
    api_key_file: FilePath = Field(description=f"File holding the REST endpoint's API key: {_IN_ALERTMANAGER}.")
    routing_key: str = Field(min_length=1, examples=["payments"], description="Routing key of the team to page.")
    api_url: str | None = Field(
        None, description="The REST endpoint, e.g. `https://alert.victorops.com/integrations/generic/20131114/alert/`, "
                          "Alertmanager's default.")
    literal_secrets = {"api_key": "api_key_file"}


class JiraChannel(_Channel):
    """A Jira issue per alert group, updated while it fires (not in prometheus-operator mode: its
    AlertmanagerConfig has no Jira receiver)."""

    type: Literal["jira"] = Field(description="Channel kind: jira.")
    api_url: str = Field(examples=["https://example.atlassian.net"], description="The Jira site, no credentials in it.")
    project: str = Field(min_length=1, examples=["OPS"], description="Key of the project the issues go to.")
    issue_type: str = Field(min_length=1, examples=["Bug"], description="Type of the issues, as the project names it.")
    username: str = Field(min_length=1, examples=["alerts@example.com"],
                          description="User of HTTP basic authentication (Jira Cloud: the account's email).")
    password_file: FilePath = Field(
        description=f"File holding its password or API token (http_config.basic_auth.password_file): "
                    f"{_IN_ALERTMANAGER}.")
    resolve_transition: str | None = Field(
        None, examples=["Done"], description="Transition that closes the issue when the alerts resolve.")
    reopen_transition: str | None = Field(
        None, examples=["To Do"], description="Transition that reopens a closed issue when they fire again.")
    literal_secrets = {"password": "password_file", "api_token": "password_file"}


class RocketChatChannel(_Channel):
    """A Rocket.Chat channel, through its REST API with a personal access token."""

    type: Literal["rocketchat"] = Field(description="Channel kind: rocketchat.")
    api_url: str = Field(examples=["https://chat.example.com"], description="The Rocket.Chat server.")
    channel: str = Field(examples=["#payments-alerts"], description="Channel or user to post to, written as is.")
    token_file: FilePath = Field(description=f"File holding the personal access token: {_IN_ALERTMANAGER}.")
    token_id_file: FilePath = Field(description=f"File holding the token's user id: {_IN_ALERTMANAGER}.")
    literal_secrets = {"token": "token_file", "token_id": "token_id_file"}


class IncidentIoChannel(_Channel):
    """An incident.io HTTP alert source; name exactly one of `url` and `url_file` (not in prometheus-operator
    mode: its AlertmanagerConfig has no incident.io receiver)."""

    type: Literal["incidentio"] = Field(description="Channel kind: incidentio.")
    url: str | None = Field(
        None, examples=["https://api.incident.io/v2/alert_events/alertmanager/01HXYZ"],
        description="The alert source's URL, written into alertmanager.yml: no credentials in it.")
    url_file: FilePath | None = Field(None, description=f"File holding the alert source's URL: {_IN_ALERTMANAGER}.")
    alert_source_token_file: FilePath = Field(
        description=f"File holding the alert source's token: {_IN_ALERTMANAGER}.")
    literal_secrets = {"alert_source_token": "alert_source_token_file"}


class WeChatChannel(_Channel):
    """WeChat Work (WeCom) messages through an application of the corporation."""

    type: Literal["wechat"] = Field(description="Channel kind: wechat.")
    corp_id: str = Field(min_length=1, description="The corporation's id.")
    agent_id: str = Field(min_length=1, examples=["1000002"], description="The application's agent id.")
    api_secret_file: FilePath = Field(description=f"File holding the application's secret: {_IN_ALERTMANAGER}.")
    to_user: str | None = Field(None, examples=["@all"], description="Users to send to (`|`-separated).")
    to_party: str | None = Field(None, description="Departments to send to (`|`-separated).")
    to_tag: str | None = Field(None, description="Tags to send to (`|`-separated).")
    literal_secrets = {"api_secret": "api_secret_file"}


SNS_TOPIC_RE = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
IAM_ROLE_RE = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$"


class SnsChannel(_Channel):
    """An Amazon SNS topic. Alertmanager signs its requests with the AWS credentials of its own environment
    (the AWS_* variables, a shared credentials file's `profile`, an instance or pod role), optionally
    assuming `role_arn`: no key is ever written into the generated files."""

    type: Literal["sns"] = Field(description="Channel kind: sns.")
    topic_arn: str = Field(
        pattern=SNS_TOPIC_RE, examples=["arn:aws:sns:eu-west-1:123456789012:payments-alerts"],
        description="ARN of the topic to publish to.")
    region: str | None = Field(
        None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", examples=["eu-west-1"],
        description="Region of the SNS API; the topic's own (from its ARN) when unset.")
    role_arn: str | None = Field(
        None, pattern=IAM_ROLE_RE, examples=["arn:aws:iam::123456789012:role/alertmanager-sns"],
        description="A role to assume for publishing; the environment's credentials as they are when unset.")
    profile: str | None = Field(
        None, min_length=1, description="Profile of the shared credentials file to take the credentials from.")
    api_url: str | None = Field(
        None, examples=["https://sns.eu-west-1.amazonaws.com"],
        description="The SNS endpoint, e.g. a VPC endpoint's; the region's public endpoint when unset.")
    subject: str | None = Field(None, description="Subject of e-mail subscriptions; the alert group's title when unset.")

    @model_validator(mode="before")
    @classmethod
    def _no_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for literal in ("access_key", "secret_key", "sigv4"):
                if literal in data:
                    raise ValueError(
                        f"`{literal}` would put AWS credentials into the generated files; give Alertmanager "
                        "its credentials through its environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        "a shared credentials file with `profile`, or an instance or pod role, with `role_arn` "
                        "to assume another)")
        return data


Channel = Annotated[
    SlackChannel | EmailChannel | PagerDutyChannel | WebhookChannel | OpsgenieChannel | MsTeamsChannel
    | MsTeamsV2Channel | DiscordChannel | MattermostChannel | TelegramChannel | WebexChannel | PushoverChannel
    | VictorOpsChannel | JiraChannel | RocketChatChannel | IncidentIoChannel | WeChatChannel | SnsChannel,
    Field(discriminator="type"),
]
# Channel types prometheus-operator's AlertmanagerConfig has no receiver for (its CRD, obsgen/crds/).
NOT_IN_OPERATOR_MODE = ("mattermost", "jira", "incidentio")


class Email(Base):
    """The SMTP server every email channel sends through."""

    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$", examples=["smtp.example.com:587"],
                           description="SMTP server as `host:port`.")
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$", examples=["alerts@example.com"],
                       description="Sender address.")
    auth_username: str | None = Field(None, description="SMTP user name; no SMTP authentication when unset.")
    auth_password_file: FilePath | None = Field(
        None, description=f"File holding the SMTP password: {_IN_ALERTMANAGER}.")
    require_tls: bool = Field(True, description="Require STARTTLS (`smtp_require_tls`).")

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        return _refuse_literal(data, {"auth_password": "auth_password_file"})


# --------------------------------------------------------------------------- routing


class QuietHours(Base):
    """Business hours: the `severity` and `teams` routes of `applies_to` notify only within them (Alertmanager's
    `active_time_intervals`), so an alert still firing when they begin is sent then."""

    applies_to: list[Severity] | Severity = Field(
        "warning", examples=[["warning", "info"]], description="The severities that wait for business hours.")
    weekdays: str = Field(
        "monday:friday", pattern=r"^[a-z]+(:[a-z]+)?(,[a-z]+(:[a-z]+)?)*$",
        description="Days as Alertmanager writes them, ranges and lists in a week from sunday to saturday, e.g. "
                    "`monday:friday`, `monday:thursday,saturday`.")
    times: str = Field(
        "09:00-18:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$",
        description="Hours of those days, `HH:MM-HH:MM`, the start before the end (24:00 may end), e.g. "
                    "`08:30-17:00`.")
    timezone: str = Field(
        "UTC", description="IANA time zone of `times`, e.g. `Europe/Berlin`; in prometheus-operator mode, a zone "
                           "with one UTC offset all year.")


ByServerity = dict[Severity, list[str]]


class Route(Base):
    """A route placed before the generated ones, for what severity and team do not express."""

    matchers: list[str] = Field(
        min_length=1,
        description='Alertmanager matchers the alert must all match, `label="value"` with =, !=, =~ or !~, e.g. '
                    '`alertname=~"Cpu.*"`.')
    receivers: list[str] = Field(
        min_length=1, examples=[["ops-email"]], description="Channels that receive the matching alerts.")
    continue_: bool = Field(
        False, alias="continue",
        description="Go on to the routes after this one (the generated ones too); false stops here.")
    group_by: list[str] | None = Field(
        None, examples=[["alertname", "instance"]],
        description="Labels this route groups by; `routing.group_by` when unset.")


class Routing(Base):
    """Who hears what: Alertmanager's routing tree, by severity and team, with inhibition and quiet hours."""

    default: str = Field(description="Channel for the alerts no route takes (the tree's root receiver).")
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname", "service"],
        description="Labels whose values make alerts one notification; `...` groups by every label.")
    group_wait: Duration = Field(
        "30s", description="How long a new group waits for more alerts before its first notification.")
    group_interval: Duration = Field(
        "5m", description="How long a group waits before notifying about alerts that joined it since.")
    repeat_interval: Duration = Field(
        "4h", examples=["12h"], description="How long before a notification of a still-firing group is repeated.")
    severity: ByServerity = Field(
        default_factory=dict, examples=[{"critical": ["oncall-pagerduty"], "warning": ["ops-email"]}],
        description="Channels by severity, for the alerts no team route takes.",
        json_schema_extra=_entries("Channels that receive the alerts of this severity."))
    teams: dict[str, ByServerity] = Field(
        default_factory=dict,
        description="Channels by severity per team (the `team` label), before `severity` for the severities listed.",
        json_schema_extra=_entries("A team, as in its services' `team`: channels by severity.",
                                   "Channels that receive the team's alerts of this severity."))
    routes: list[Route] = Field(default_factory=list, description="Routes before the generated ones.")
    quiet_hours: QuietHours | None = Field(
        None, description="Business hours for some severities; no alert waits for them when unset.")
    inhibit: bool = Field(
        True, description="Critical silences warning and info of the same alertname and service, warning silences "
                          "info, and an SLO's page silences its tickets.")
    watchdog: str | None = Field(
        None, description="Channel that receives the always-firing Watchdog every 5m, a dead man's switch; "
                          "Watchdog is dropped when unset.")


# --------------------------------------------------------------------------- stack


class BasicAuth(Base):
    """HTTP basic authentication of a remote-write endpoint."""

    username: str = Field(description="User name.")
    password_file: FilePath = Field(
        examples=["/etc/prometheus/secrets/mimir-password"],
        description="File holding the password: a path inside Prometheus' container, where the deployment "
                    "mounts the secret.")


class RemoteWriteTls(Base):
    """TLS of a remote-write endpoint beyond the system's trust store: its CA, a client certificate, the name
    to verify. Files are paths inside Prometheus' container, where the deployment mounts them (in
    prometheus-operator mode, keys of the `prometheus-secrets` Secret)."""

    ca_file: FilePath | None = Field(None, examples=["/etc/prometheus/secrets/mimir-ca.pem"],
                                     description="CA certificate the endpoint's certificate is verified against.")
    cert_file: FilePath | None = Field(None, examples=["/etc/prometheus/secrets/client.pem"],
                                       description="Client certificate (mutual TLS), with `key_file`.")
    key_file: FilePath | None = Field(None, examples=["/etc/prometheus/secrets/client-key.pem"],
                                      description="Key of the client certificate, with `cert_file`.")
    server_name: str | None = Field(None, examples=["mimir.internal"], pattern=r"^[A-Za-z0-9.-]+$",
                                    description="Name the endpoint's certificate must carry, when not the URL's host.")
    min_version: Literal["TLS12", "TLS13"] | None = Field(
        None, description="Oldest TLS version accepted; Prometheus' default (TLS 1.2) when unset.")


class RemoteWrite(Base):
    """An endpoint Prometheus also sends every sample to (Mimir, Cortex, Thanos receive, ...)."""

    name: Slug = Field(examples=["mimir"], description="Slug naming this queue in Prometheus' metrics and logs.")
    url: str = Field(examples=["https://mimir.example.com/api/v1/push"],
                     description="Push URL, with no credentials in it.")
    kind: Literal["mimir", "cortex", "thanos", "generic"] = Field(
        "generic", description="What receives the samples; it decides the header `tenant` is sent in.")
    tenant: str | None = Field(
        None, examples=["shop"],
        description="Tenant ID, sent as THANOS-TENANT for kind thanos and as X-Scope-OrgID for the others.")
    headers: dict[str, str] = Field(
        default_factory=dict, examples=[{"X-Source": "obsgen"}],
        description="Extra HTTP headers; secret-looking ones are refused (use `basic_auth` or `bearer_token_file`).",
        json_schema_extra=_entries("An HTTP header: its name and value."))
    basic_auth: BasicAuth | None = Field(None, description="HTTP basic authentication.")
    bearer_token_file: FilePath | None = Field(
        None, description="File holding a token sent as `Authorization: Bearer`: a path inside Prometheus' "
                          "container.")
    tls: RemoteWriteTls | None = Field(None, description="TLS settings of an https URL (`tls_config`).")
    ruler: bool = Field(
        False, description="That backend's ruler evaluates the services' rules instead of this Prometheus, which "
                           "keeps only the stack's own. Kind mimir or cortex: obsgen writes them as "
                           "`ruler/<name>/<service>.yml` (one namespace per service, each SLO's recordings in its "
                           "alerts' group) for `mimirtool rules sync`. Kind thanos, in prometheus-operator mode: a "
                           "ThanosRuler resource that loads their PrometheusRules and queries `query_url`. One "
                           "queue at most.")
    query_url: str | None = Field(
        None, description="Kind thanos with `ruler`, in prometheus-operator mode: the Thanos Query the ThanosRuler "
                          "evaluates the rules against (its `queryEndpoints`), e.g. http://thanos-query.monitoring:9090.")


class PrometheusStack(Base):
    """The Prometheus server of the stack."""

    retention: Duration | None = Field(
        None, description="How long Prometheus keeps samples (`--storage.tsdb.retention.time`). When unset, the "
                          "longest SLO period, and at least 15d; an SLO's period must fit in it.")
    remote_write: list[RemoteWrite] = Field(
        default_factory=list, description="Endpoints Prometheus also sends its samples to; written into "
                                          "prometheus.yml (in prometheus-operator mode, into the Prometheus resource).")
    replicas: int = Field(
        1, ge=1, le=5, examples=[2],
        description="Prometheus servers running the same rules and scrapes (an HA pair at 2), told apart only by "
                    "the `replica_label` external label; each sends its alerts to every Alertmanager replica, "
                    "which deduplicate them (the replica label is dropped from alerts), and its samples to every "
                    "remote_write, where Mimir's or Cortex's HA tracker, or Thanos' querier and compactor, "
                    "deduplicate them.")
    replica_label: LabelName | None = Field(
        None, examples=["__replica__"],
        description="External label naming each replica (`prometheus-0`, `prometheus-1`, ...), with replicas of 2 "
                    "or more. When unset, `__replica__` if a remote_write is of kind mimir or cortex (their HA "
                    "tracker's default, -distributor.ha-tracker.replica), else `replica` (Thanos' "
                    "--query.replica-label convention).")
    cluster_label: LabelName | None = Field(
        None, examples=["cluster"],
        description="External label naming the HA group, the same on every replica, with replicas of 2 or more: "
                    "its value is `project.external_labels`' when set there, else `<project>/<environment>`. "
                    "When unset, `cluster` if a remote_write is of kind mimir or cortex (their HA tracker's "
                    "default, -distributor.ha-tracker.cluster), else none.")


class AlertmanagerStack(Base):
    """The Alertmanager of the stack (in prometheus-operator mode, an Alertmanager resource)."""

    replicas: int = Field(
        1, ge=1, le=7, examples=[3],
        description="Replicas, gossiping as one cluster when more than one; Prometheus sends every alert to each.")


GrafanaIniName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$")]


class GrafanaStack(Base):
    """The Grafana of the stack, with its datasources and dashboards provisioned."""

    admin_user: str = Field("admin", description="Name of the admin user (GF_SECURITY_ADMIN_USER).")
    admin_password_file: FilePath | None = Field(
        None, examples=["/run/secrets/grafana_admin"],
        description="File holding the admin password, a path inside Grafana's container; Grafana's own default "
                    "when unset.")
    settings: dict[GrafanaIniName, dict[GrafanaIniName, str | int | bool]] = Field(
        default_factory=dict,
        description="grafana.ini settings by section, e.g. `{security: {allow_embedding: true}}`; set as "
                    "GF_<SECTION>_<KEY> environment variables. Secrets do not belong here: use *_file fields.",
        json_schema_extra=_entries("A grafana.ini section: its keys and values.",
                                   "A key of the section and its value, set as GF_<SECTION>_<KEY>."),
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        return _refuse_literal(data, {"admin_password": "admin_password_file"})


class LokiStack(Base):
    """The Loki of the stack (single binary, filesystem storage) and its ruler."""

    retention: Duration = Field(
        "30d", examples=["14d"],
        description="How long Loki keeps log lines, and the oldest line it accepts; at least 24h.")


class Elasticsearch(Base):
    """The Elasticsearch (8.x) Fluentd writes to when `outputs` names it."""

    host: str = Field("elasticsearch", examples=["es.internal"], description="Host name or address.")
    port: int = Field(9200, ge=1, le=65535, description="Port of its HTTP API.")
    scheme: Literal["http", "https"] = Field("http", description="Scheme of its HTTP API.")
    index_prefix: str | None = Field(
        None, examples=["shop-logs"],
        description="Prefix of the daily indices (`<prefix>-YYYY.MM.DD`); the project's name when unset.")
    user: str | None = Field(None, description="User name for basic authentication; none when unset.")
    password_file: FilePath | None = Field(
        None, description="File holding the password, a path inside Fluentd's container.")


class FluentdStack(Base):
    """The Fluentd of the stack, shipping every service's logs."""

    outputs: list[LogOutput] = Field(
        default_factory=lambda: list[LogOutput](["loki"]), examples=[["loki", "elasticsearch"]],
        description="Where every log line goes: loki, elasticsearch, or both.")
    elasticsearch: Elasticsearch = Field(
        default_factory=Elasticsearch, description="The Elasticsearch output, used when `outputs` names it.")


ExporterType = Literal["node", "cadvisor", "postgres", "redis", "nginx", "blackbox", "mysqld", "pgbouncer",
                       "haproxy", "process", "pushgateway", "mongodb", "elasticsearch", "kafka"]


class Exporter(Base):
    """An exporter with settings; a bare type name in `exporters` needs none."""

    type: ExporterType = Field(description="Which exporter.")
    target: str | None = Field(
        None, examples=["redis:6379"],
        description="What the exporter reads, `host:port` (a URL where said): redis: the server (or a redis:// "
                    "URL); nginx: the host:port serving /stub_status, or its URL; mysqld: the MySQL or MariaDB "
                    "server (default mysql:3306); pgbouncer: pgbouncer's listener (default pgbouncer:6432); "
                    "haproxy: the address of HAProxy's built-in Prometheus exporter, scraped directly (default "
                    "haproxy:8405); mongodb: the server (default mongodb:27017); elasticsearch: the node's HTTP "
                    "address or URL (default elasticsearch:9200); kafka: a broker (default kafka:9092). Other "
                    "exporters ignore it.")
    processes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._+-]{1,15}$")]] = Field(
        default_factory=list, examples=[["nginx", "postgres"]],
        description="process: the process names (comm, at most 15 characters) the process exporter watches, "
                    "one group each; required for it. ProcessNotRunning fires when a group that ran has no "
                    "process left.")
    max_lag: int = Field(
        1000, ge=1, examples=[5000],
        description="kafka: KafkaConsumerGroupLagHigh fires when a consumer group lags more messages than this "
                    "on a topic for 10 minutes.")
    dsn_file: FilePath | None = Field(
        None, description="postgres: file holding the connection string (DATA_SOURCE_NAME), a path inside the "
                          "exporter's container.")


class KubernetesStack(Base):
    """The kubernetes/ deploy target: a kustomization of the whole stack, or of custom resources for
    prometheus-operator."""

    namespace: Slug = Field(
        "monitoring", description="Namespace of every object, created by the manifests; in prometheus-operator "
                                  "mode one the operator watches.")
    prometheus_operator: bool = Field(
        False, description="Render Prometheus and Alertmanager as prometheus-operator resources (Prometheus, "
                           "Alertmanager, PrometheusRule, monitors, AlertmanagerConfig) instead of Deployments.")
    release: str = Field(
        "kube-prometheus-stack", examples=["monitoring"],
        description="Helm release name of kube-prometheus-stack (operator mode): whose node-exporter is scraped "
                    "(by its Service's labels and name prefix).")
    alertmanager_config_matcher_strategy: Literal["OnNamespace", "OnNamespaceExceptForAlertmanagerNamespace", "None"] = Field(
        "OnNamespace",
        description="The `alertmanagerConfigMatcherStrategy` of the Alertmanager resource (operator mode). With "
                    "OnNamespace, its default, the operator routes only alerts labelled with the namespace of the "
                    "AlertmanagerConfig, so obsgen labels every alert with it; the route proof simulates this.")


class Stack(Base):
    """What runs the monitoring: the deploy targets, the components, the exporters and tracing."""

    deploy: list[DeployTarget] = Field(
        default_factory=lambda: list[DeployTarget](["compose"]), examples=[["compose", "kubernetes"]],
        description="What to write: compose (docker-compose.yml), kubernetes (kubernetes/, a kustomization), or "
                    "both.")
    publish_address: str = Field(
        "127.0.0.1", examples=["0.0.0.0"],
        description="Host address compose publishes the stack's ports on; empty publishes them on every "
                    "interface.")
    prometheus: PrometheusStack = Field(default_factory=PrometheusStack, description="Prometheus' settings.")
    alertmanager: AlertmanagerStack = Field(default_factory=AlertmanagerStack,
                                            description="Alertmanager's settings.")
    grafana: GrafanaStack = Field(default_factory=GrafanaStack, description="Grafana's settings.")
    loki: LokiStack = Field(default_factory=LokiStack, description="Loki's settings.")
    fluentd: FluentdStack = Field(default_factory=FluentdStack,
                                  description="Fluentd's settings (deployed when a service has `logs`).")
    exporters: list[ExporterType | Exporter] = Field(
        default_factory=list, examples=[["node", {"type": "redis", "target": "redis:6379"}]],
        description="Exporters to deploy and scrape, by type or with settings; blackbox joins by itself when a "
                    "service has `health`.")
    tracing: Literal["none", "jaeger", "tempo"] = Field(
        "none", description="A trace backend to deploy (OTLP on 4317 and 4318) with its Grafana datasource; a "
                            "trace_id in JSON log lines links to the trace.")
    kubernetes: KubernetesStack = Field(default_factory=KubernetesStack,
                                        description="Settings of the kubernetes deploy target.")


# --------------------------------------------------------------------------- the spec


class Proof(Base):
    """How `obsgen check --strict` treats alerts that no generated test proves."""

    accept_unproven: dict[str, str] = Field(
        default_factory=dict,
        examples=[{"CheckoutErrorLogsHigh": "a Loki ruler alert: no offline test runner for LogQL rules"}],
        description="Alerts obsgen cannot prove, by name, with the reason they are accepted unproven; "
                    "`obsgen check --strict` fails on any other unproven alert.",
        json_schema_extra=_entries("An alert name and why it may stay unproven."))


class Spec(Base):
    """An obsgen spec: the services, SLOs, log sources and notification channels one monitoring stack is
    generated from (`obsgen render`)."""

    version: Literal[1] = Field(description="Version of the spec format: 1.")
    project: Project = Field(description="The project: its name, environment and links.")
    defaults: Defaults = Field(default_factory=Defaults, description="What services and SLOs use unless they "
                                                                     "set their own.")
    slo_classes: dict[Slug, SloClass] = Field(
        default_factory=dict, examples=[{"critical": {"availability": 99.99,
                                                      "latency": {"threshold": "200ms", "objective": 99}}}],
        description="Request classes by name, which services pick with `class`.",
        json_schema_extra=_entries("A class, by name: the SLOs of every service with this `class`."))
    services: list[Service] = Field(min_length=1, description="The services to monitor, at least one.")
    channels: dict[Slug, Channel] = Field(
        min_length=1, description="Notification channels by name, which `routing` refers to; each is one "
                                  "Alertmanager receiver of that name.",
        json_schema_extra=_entries("A channel, by name; its `type` says which kind."))
    email: Email | None = Field(None, description="SMTP settings, required by channels of type email.")
    routing: Routing = Field(description="Who hears what.")
    stack: Stack = Field(default_factory=Stack, description="What runs the monitoring and where.")
    proof: Proof = Field(default_factory=Proof, description="Alerts accepted without a proof.")
