"""Checks across fields and references: what pydantic cannot see field by field.

Also the values that are well typed but hostile to what obsgen writes: credentials in URLs, targets,
headers and settings (secrets go by file), regexes RE2 refuses, broken Go templates in text Prometheus
or Alertmanager expand, durations that must be positive, services named like the stack's scrape jobs.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from .. import probes
from ..naming import (
    CAMEL_CASE_RE,
    MAX_ALERT_NAME,
    alert_name_problem,
    batch_failed_alert,
    batch_stale_alert,
    error_logs_alert,
    service_down_alert,
    threshold_alert_name,
    threshold_record,
)
from ..slo_math import ALERT_SUFFIXES, longest_window, seconds, slo_alert_name, tiers, window_problems
from ..stack_targets import EXPORTER_TARGETS, PROBE_JOBS, STACK_TARGETS
from ..units import duration_seconds, parse_quantity
from .errors import Path, place
from .expressions import checked as expression_problems
from .ha import problems as ha_problems
from .models import (
    DEFAULT_ALERTING,
    GRPC_METRICS,
    LABEL_NAME_RE,
    PROBE_KINDS,
    AlertTest,
    HealthCheck,
    LevelDurations,
    Logs,
    Service,
    Slo,
    Spec,
    Threshold,
)
from .models import METRIC_NAME_RE as METRIC_NAME_PATTERN
from .operator_checks import operator_mode
from .operator_checks import problems as operator_problems

# promtool's input series: a metric with equality labels, and values in its expanding notation
SERIES_RE = re.compile(r'^\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{\s*([a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"(?:[^"\\]|\\.)*"\s*,?\s*)*\})?\s*$')
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|Inf|inf|NaN)"
VALUES_TOKEN_RE = re.compile(rf"^(?:_|stale|{_NUMBER}|(?:{_NUMBER}|_)x\d+|{_NUMBER}[-+]{_NUMBER}x\d+)$")
MATCHER_RE = re.compile(r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$')
TARGET_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
ES_INDEX_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}$")
# Grafana settings whose name says they hold a secret (grafana.ini keys, any section)
_GRAFANA_SECRET = re.compile(r"password|passwd|pwd|secret|token|api_key|access_key|private_key|connstr"
                             r"|credentials|cert_key")
WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

Found = Iterator[tuple[Path, str]]

# What kind of value each built-in indicator compares, and which way is worse.
INDICATOR_KIND = {
    "error_rate": ("ratio", "above"),
    "availability": ("ratio", "below"),
    "request_rate": ("number", "below"),
    **{f"latency_p{q}": ("duration", "above") for q in (50, 90, 95, 99)},
    "consumer_lag": ("number", "above"),
    "throughput": ("number", "below"),
}
# Indicators over request metrics (kinds http and grpc), and over a consumer's (kind consumer).
REQUEST_INDICATORS = frozenset(k for k in INDICATOR_KIND if k not in ("consumer_lag", "throughput"))
CONSUMER_INDICATORS = frozenset(("consumer_lag", "throughput"))


def check_spec(spec: Spec, notes: list[str] | None = None) -> list[tuple[Path, str]]:
    """Every problem of the spec; what could not be checked is appended to `notes` (when given)."""
    return list(_check(spec, notes))


def _check(spec: Spec, notes: list[str] | None = None) -> Found:
    alerts: dict[str, Path] = {}
    duplicates = _duplicates(spec)  # once: four checks leave these services out
    yield from _check_services(spec, alerts, duplicates)
    yield from _check_proof(spec, alerts)
    yield from _check_channels(spec)
    yield from _check_routing(spec)
    yield from _check_stack(spec)
    yield from _check_hostile(spec, duplicates)
    yield from _check_unique(spec, duplicates)
    yield from _check_names(spec)
    yield from _check_recording_rules(spec, duplicates)
    yield from _check_owned_labels(spec)
    yield from _check_slo_by(spec)
    yield from _check_slo_tiers(spec)
    yield from _check_retention(spec)
    if spec.project.runbook_url:
        yield from _check_pattern(spec.project.runbook_url, ("project", "runbook_url"))
    yield from operator_problems(spec)  # what prometheus-operator mode cannot carry
    yield from ha_problems(spec)  # Prometheus in HA pairs
    yield from expression_problems(spec, notes)  # every PromQL and LogQL expression, parsed


def _duplicates(spec: Spec) -> frozenset[int]:
    """Indexes of services whose name an earlier service has (reported once, then left out of checks)."""
    seen: set[str] = set()
    dup = set()
    for i, svc in enumerate(spec.services):
        if svc.name in seen:
            dup.add(i)
        seen.add(svc.name)
    return frozenset(dup)


def _check_pattern(pattern: str, path: Path) -> Found:
    for name in re.findall(r"{([^{}]*)}", pattern):
        if name not in ("service", "alert"):
            yield path, f"unknown placeholder {{{name}}}; use {{service}} and {{alert}}"


def _objective(value: float, path: Path) -> Found:
    if not 0 < value < 100:
        yield path, f"must be above 0 and below 100 (a percentage of good events), got {value:g}"


def _period(value: str | None, path: Path) -> Found:
    if value is None:
        return
    seconds = duration_seconds(value)
    if seconds <= 0 or seconds % 86400:
        yield path, f"an SLO period is a whole number of days (7d, 28d, 30d), got {value!r}"


def _check_slo_by(spec: Spec) -> Found:
    from .slo_by import problems  # `by:` labels an SLO can be judged per

    yield from problems(spec)


def _check_slo_tiers(spec: Spec) -> Found:
    from .slo_tiers import problems  # the page's and ticket's labels, annotations and severities

    yield from problems(spec)


def _check_slo_windows(spec: Spec) -> Found:
    from .slo_windows import problems  # per period: burn rates of at least 1, windows within the period

    yield from problems(spec)
    for cname, cls in spec.slo_classes.items():
        enabled = (True, True)
        if cls.availability is not None:
            yield from _slo_fit(spec, cls.availability, cls.period, ("slo_classes", cname), enabled)
        if cls.latency is not None:
            yield from _slo_fit(spec, cls.latency.objective, cls.period, ("slo_classes", cname, "latency"), enabled)


def _slo_fit(spec: Spec, objective: float, period: str | None, path: Path, enabled: tuple[bool, bool],
             memo: dict[Any, list[tuple[Path, str]]] | None = None) -> Found:
    """The SLO's period holds its longest window, and each alerting tier can fire at all. `memo`: the
    problems found for each (objective, period, tiers enabled) of this spec, which its windows decide alike
    for every service (their paths after the SLO's)."""
    if memo is None:
        yield from _slo_fit_problems(spec, objective, period, path, enabled)
        return
    key = (objective, period, enabled)
    if key not in memo:
        memo[key] = list(_slo_fit_problems(spec, objective, period, (), enabled))
    for sub, message in memo[key]:
        yield path + sub, message


def _slo_fit_problems(spec: Spec, objective: float, period: str | None, path: Path,
                      enabled: tuple[bool, bool]) -> Found:
    windows = spec.defaults.slo_windows
    period = period or spec.defaults.slo_period
    if not 0 < objective < 100 or window_problems(windows) or seconds(period) <= 0 or seconds(period) % 86400:
        return  # reported elsewhere
    longest = longest_window(windows)
    if seconds(period) < seconds(longest):
        yield path + ("period",), (f"the SLO period {period} is shorter than the longest alerting window "
                                   f"{longest} (defaults.slo_windows)")
        return
    budget = 1 - Decimal(str(objective)) / 100
    silent = [t for t in tiers(windows, period) if enabled[t.tier == "ticket"] and t.factor * Fraction(budget) >= 1]
    if silent:  # one message for every tier that cannot fire
        needs = "; ".join(f"{t.key} needs an error ratio of {float(t.factor) * float(budget):.4g} (burn rate "
                          f"{float(t.factor):.4g} × budget {budget})" for t in silent)
        yield path + ("objective",), (
            f"with an objective of {objective:g}% the {' and '.join(t.key for t in silent)} "
            f"tier{'s' if len(silent) > 1 else ''} could never fire, as no error ratio is above 100%: {needs}; "
            "raise the objective or switch the tier off in `alerting`")


def _slo_key(slo: Slo) -> tuple[Any, ...]:
    """Everything _slo_problems reads of an SLO. A threshold by its repr: 1 and 1.0 are equal, but not written
    alike; the objective by its value, as _slo_fit's memo has it, but 0.0 and -0.0 apart (a message quotes it)."""
    sli, ev = slo.sli, slo.sli.events
    return (slo.objective or repr(slo.objective), slo.period, slo.alerting.page, slo.alerting.ticket, slo.min_request_rate is None,
            sli.type, repr(sli.threshold), sli.metric, sli.expr,
            None if ev is None else (ev.errors, ev.good, ev.total))


def _slo_problems(spec: Spec, slo: Slo, fits: dict[Any, list[tuple[Path, str]]]) -> Found:
    """An SLO's own problems, at paths after the SLO's: the same for every SLO of one _slo_key in a spec."""
    yield from _objective(slo.objective, ("objective",))
    yield from _period(slo.period, ("period",))
    yield from _slo_fit(spec, slo.objective, slo.period, (), (slo.alerting.page, slo.alerting.ticket), fits)
    yield from _sli_problems(slo, ())


def _slo_alert_names(spec: Spec, svc: Service, base: Path) -> list[tuple[str, Path, str | None]]:
    """The alert names the SLO engine will give this service's SLOs (class ones too), with their places, and
    the service a name must start with (None for a name obsgen derives). A list: one call per service."""
    out: list[tuple[str, Path, str | None]] = []
    own = {slo.name: j for j, slo in enumerate(svc.slos)}
    names: list[tuple[str, Path]] = []
    cls = spec.slo_classes.get(svc.class_) if svc.class_ else None
    if cls is not None:
        for name, present in (("availability", cls.availability is not None), ("latency", cls.latency is not None)):
            if present and name not in own:
                names.append((name, base + ("class",)))
    names += [(name, base + ("slos", j, "name")) for name, j in own.items()]
    for slo, path in names:
        written: list[tuple[str, Path]] = []  # the page's and the ticket's own names (a shared one once)
        both = False
        if slo in own and svc.slos[own[slo]].alerting is not DEFAULT_ALERTING:  # whose tiers name no alert
            tiers_ = [(t, getattr(svc.slos[own[slo]].alerting, f"{t}_alert").name) for t in ("page", "ticket")]
            both = all(name is not None for _, name in tiers_)
            for tier, name in tiers_:
                if name is not None and name not in [n for n, _ in written]:
                    written.append((name, base + ("slos", own[slo], "alerting", f"{tier}_alert", "name")))
        if not written:  # most SLOs: no tier names its alert, so every derived name is kept
            for kind in ALERT_SUFFIXES:
                out.append((slo_alert_name(svc.name, slo, kind), path, None))
            continue
        for kind in ALERT_SUFFIXES:  # first: a written name that repeats one of these is the one refused
            if kind == "burn" and both:
                continue  # neither tier keeps the derived name
            derived = slo_alert_name(svc.name, slo, kind)
            if kind != "burn" or derived not in [n for n, _ in written]:
                out.append((derived, path, None))
        out += [(name, wpath, svc.name) for name, wpath in written]
    return out


def stack_alert_names(spec: Spec) -> dict[str, str]:
    """The alerts rules/_stack.yml renders for this spec, each with what it watches."""
    from ..render import exporter_alerts, stack_alerts  # here: the renderers import this module's callers

    kinds = {e if isinstance(e, str) else e.type for e in spec.stack.exporters}
    names = {a.name: "the monitoring stack" for a in stack_alerts.STACK_ALERTS}
    names.update((a.name, f"the {a.kind} exporter") for a in exporter_alerts.ALERTS if a.kind in kinds)
    return names


def _check_services(spec: Spec, seen_alerts: dict[str, Path], duplicates: frozenset[int] | None = None) -> Found:
    """Also fills `seen_alerts`: every alert name the services will get, with its place. `duplicates`:
    _duplicates(spec), when the caller has it."""
    seen_services: dict[str, int] = {}
    stack_names = stack_alert_names(spec)
    fits: dict[Any, list[tuple[Path, str]]] = {}  # _slo_fit's
    # each threshold's problems (after its path) and direction, by _threshold_key: thousands of services share
    # their levels
    verdicts: dict[Any, tuple[list[tuple[Path, str]], str | None]] = {}
    slo_verdicts: dict[Any, list[tuple[Path, str]]] = {}  # each SLO's problems by _slo_key, after the SLO's path

    camel_case = CAMEL_CASE_RE.match

    def alerts(named: Iterable[tuple[str, Path, str | None]]) -> list[tuple[Path, str]]:
        """The problems of alert names, each with its place and the service it must start with (None for a
        name obsgen derives). A list, not a generator: called a few times per service, each time for all of
        a service's SLO or threshold alerts, and almost always empty."""
        found: list[tuple[Path, str]] = []
        for name, path, service in named:
            # a derived name that fits and is CamelCase is what alert_name_problem passes without asking it
            if service is not None or len(name) > MAX_ALERT_NAME or not camel_case(name):
                problem = alert_name_problem(name, service)
                if problem:
                    found.append((path, problem))
                    continue
            if name in stack_names:
                found.append((path, (f"alert name {name!r} is a built-in alert of rules/_stack.yml (for "
                                     f"{stack_names[name]}); drop this one if the built-in does the job, or name "
                                     "it otherwise")))
                continue
            first = seen_alerts.setdefault(name, path)
            if first is not path and first != path:
                found.append((path, f"alert name {name!r} is already used at {_fmt(first)}"))
        return found

    for cname, cls in spec.slo_classes.items():
        base: Path = ("slo_classes", cname)
        if cls.availability is not None:
            yield from _objective(cls.availability, base + ("availability",))
        if cls.latency is not None:
            yield from _objective(cls.latency.objective, base + ("latency", "objective"))
            yield from _latency_threshold(cls.latency.threshold, base + ("latency", "threshold"))
        yield from _period(cls.period, base + ("period",))
    yield from _period(spec.defaults.slo_period, ("defaults", "slo_period"))
    yield from _check_slo_windows(spec)

    for i, svc in enumerate(spec.services):
        base = ("services", i)
        if svc.name in seen_services:
            # one message: the copy's alerts, tags and jobs would only repeat it
            yield base + ("name",), (f"service {svc.name!r} is already defined at "
                                     f"{_fmt(('services', seen_services[svc.name], 'name'))}; service names are unique")
            continue
        seen_services[svc.name] = i
        if svc.class_ is not None and svc.class_ not in spec.slo_classes:
            known = ", ".join(sorted(spec.slo_classes)) or "none defined"
            yield base + ("class",), f"unknown SLO class {svc.class_!r} (slo_classes: {known})"
        if svc.runbook_url:
            yield from _check_pattern(svc.runbook_url, base + ("runbook_url",))
        if svc.scrape is not None:
            for j, target in enumerate(svc.scrape.static or []):
                if "@" in target:
                    yield base + ("scrape", "static", j), ("credentials in a target would be written into "
                                                           "prometheus.yml; a target is host:port")
                elif not TARGET_RE.match(target):
                    yield base + ("scrape", "static", j), f"{target!r} is not host:port"
            if svc.scrape.static is None and svc.scrape.kubernetes is None:
                yield base + ("scrape",), "name `static` targets or a `kubernetes` namespace to scrape"
        if svc.scrape is not None or svc.health is not None:
            yield from alerts(((service_down_alert(svc.name), base + ("name",), None),))
        if svc.health is not None:
            kinds = yield from _check_health(svc.health, base + ("health",))
            for kind, path in kinds.items():
                yield from alerts(((probes.alert_name(svc.name, kind), path, None),))

        slo_names: set[str] = set()
        for j, slo in enumerate(svc.slos):
            if slo.name in slo_names:
                yield base + ("slos", j, "name"), f"SLO {slo.name!r} is defined twice in this service"
            slo_names.add(slo.name)
            key = _slo_key(slo)
            found = slo_verdicts.get(key)
            if found is None:
                found = slo_verdicts[key] = list(_slo_problems(spec, slo, fits))
            for sub, message in found:
                yield base + ("slos", j) + sub, message

        yield from _grafana_units(svc, base)
        yield from _check_kind(spec, svc, base)
        if svc.kind == "batch" and svc.scrape is not None and svc.batch is not None:
            yield from alerts(((batch_stale_alert(svc.name), base + ("batch",), None),))
            yield from alerts(((batch_failed_alert(svc.name), base + ("batch",), None),))
        if svc.scrape is None:
            yield from _unscraped(spec, svc, base)
        yield from alerts(_slo_alert_names(spec, svc, base))

        named: list[tuple[str, Path, str | None]] = []  # the thresholds' alerts, checked after their problems
        for j, th in enumerate(svc.thresholds):
            key = _threshold_key(th)
            verdict = verdicts.get(key)  # (one look-up: a key's hash is worked out anew each time)
            if verdict is None:
                verdict = verdicts[key] = _threshold_verdict(th)
            found, direction = verdict
            if found:  # each threshold's problems come before its alert's
                yield from alerts(named)
                named = []
                for sub, message in found:
                    yield base + ("thresholds", j) + sub, message
            if direction is not None:
                if th.name:
                    named.append((th.name, base + ("thresholds", j, "name"), svc.name))
                else:
                    assert th.indicator is not None
                    named.append((threshold_alert_name(svc.name, th.indicator, direction),
                                  base + ("thresholds", j, "indicator"), None))
        yield from alerts(named)

        for j, al in enumerate(svc.alerts):
            yield from alerts(((al.name, base + ("alerts", j, "name"), svc.name),))
            if al.runbook_url:
                yield from _check_pattern(al.runbook_url, base + ("alerts", j, "runbook_url"))
            for n, test in enumerate(al.tests):
                yield from _check_alert_test(test, base + ("alerts", j, "tests", n))
        if svc.logs is not None:
            src = svc.logs.source
            if (src.tail is None) == (not src.forward):
                yield base + ("logs", "source"), "name either `tail: <glob>` or `forward: true`"
            yield from _check_logs(svc.logs, base + ("logs",))
            if svc.logs.error_lines_per_minute is not None and src.format == "json":
                yield from alerts(((error_logs_alert(svc.name), base + ("logs", "error_lines_per_minute"), None),))
            for j, la in enumerate(svc.logs.alerts):
                yield from alerts(((la.name, base + ("logs", "alerts", j, "name"), svc.name),))

    yield from _check_log_tags(spec, duplicates)
    teams = {s.team for s in spec.services if s.team} if spec.routing.teams else set()
    for team in spec.routing.teams:
        if team not in teams:
            yield ("routing", "teams", team), f"no service has team {team!r}"


def _grafana_units(svc: Service, base: Path) -> Found:
    """Units and titles Grafana shows: a blank one would be a panel without them."""
    for j, panel in enumerate(svc.panels):
        if not panel.title.strip():
            yield base + ("panels", j, "title"), "a panel needs a title (e.g. Tokens used)"
        if not panel.unit.strip():
            yield base + ("panels", j, "unit"), "name a Grafana unit (e.g. short, ops, s, bytes, percentunit)"
    for j, th in enumerate(svc.thresholds):
        if th.unit is not None and not th.unit.strip():
            yield base + ("thresholds", j, "unit"), ("name a Grafana unit (e.g. short, ops, s, bytes, "
                                                     "percentunit), or leave `unit` out")


def _check_kind(spec: Spec, svc: Service, base: Path) -> Found:
    """What a service's `kind` gives it and what it cannot have: a batch job and a consumer serve no
    requests, so no request SLIs, classes or indicators; each kind's own block only with that kind."""
    kind = svc.kind
    for block in ("batch", "consumer"):
        if getattr(svc, block) is not None and kind != block:
            yield base + (block,), f"applies to `kind: {block}` only, and this service is kind {kind}"
    if kind == "batch":
        if svc.batch is not None:
            yield from _positive(svc.batch.every, base + ("batch", "every"), "a schedule")
        if svc.batch is None:
            yield base + ("kind",), ("a batch service needs `batch: {every: <its schedule>}` (e.g. `every: 1h`), "
                                     "which its last-success alert is measured against")
        if svc.scrape is None:
            yield base + ("kind",), ("a batch job is scraped through the Pushgateway it pushes to: add "
                                     "`scrape: {static: [pushgateway:9091]}` (its address)")
        elif svc.scrape.honor_labels is False:
            yield base + ("scrape", "honor_labels"), (
                "a batch job's series come from a Pushgateway with the job they pushed; without honor_labels "
                "Prometheus would overwrite it with the scrape's: remove `honor_labels: false`")
    if kind == "consumer" and svc.consumer is None:
        yield base + ("kind",), ("a consumer service needs `consumer: {lag: <gauge>, processed_total: <counter>}`, "
                                 "the metrics its lag and throughput indicators read")
    if kind in ("batch", "consumer"):
        serves = ("a batch job serves no requests (its alerts are its last success and its failed runs)"
                  if kind == "batch" else "a consumer serves no requests (its indicators are consumer_lag and "
                                          "throughput)")
        if any(v is not None for v in svc.metrics.model_dump().values()):
            yield base + ("metrics",), f"request metric names do not apply: {serves}"
        cls = spec.slo_classes.get(svc.class_) if svc.class_ else None
        if cls is not None and (cls.availability is not None or cls.latency is not None):
            yield base + ("class",), (f"the class {svc.class_!r} gives availability and latency SLOs over request "
                                      f"metrics, and {serves}: drop `class`, or write an events SLO over the "
                                      "job's own counters")
        for j, slo in enumerate(svc.slos):
            if slo.sli.type in ("availability", "latency") or (slo.sli.type == "latency_native"
                                                                and slo.sli.metric is None):
                yield base + ("slos", j, "sli"), (f"a {slo.sli.type} SLI reads request metrics, and {serves}: "
                                                  "write it as an `events` SLI over the job's own counters")
    for j, th in enumerate(svc.thresholds):
        if th.indicator is None:
            continue
        if th.indicator in CONSUMER_INDICATORS and kind != "consumer":
            yield base + ("thresholds", j, "indicator"), (
                f"{th.indicator} reads a consumer's lag and processed-messages metrics: set `kind: consumer` "
                f"with `consumer: {{lag: ..., processed_total: ...}}`, or give a custom `expr`")
        if th.indicator in REQUEST_INDICATORS and kind in ("batch", "consumer"):
            own = "consumer_lag or throughput, or " if kind == "consumer" else ""
            yield base + ("thresholds", j, "indicator"), (
                f"{th.indicator} reads request metrics, and this service is kind {kind}, which has none: use "
                f"{own}a custom `expr`")


def _unscraped(spec: Spec, svc: Service, base: Path) -> Found:
    """SLIs and indicators that read the service's own request metrics, on a service nothing scrapes."""
    conventions = GRPC_METRICS if svc.kind == "grpc" else spec.defaults.metrics
    m = conventions.model_copy(update={k: v for k, v in svc.metrics.model_dump().items() if v is not None})
    reads = {"availability": m.requests_total, "latency": m.duration_histogram + "_bucket"}
    fix = ("add `scrape` (static targets or a kubernetes namespace), or write the SLI as `events` over "
           "metrics a scrape job provides")
    for j, slo in enumerate(svc.slos):
        if slo.sli.type in reads or (slo.sli.type == "latency_native" and slo.sli.metric is None):
            read = reads.get(slo.sli.type, m.duration_histogram)
            yield base + ("slos", j, "sli"), (
                f"{'an' if slo.sli.type == 'availability' else 'a'} {slo.sli.type} SLI reads {read}{{job=\"{svc.name}\"}}, and this service has no "
                f"`scrape`, so no series has that job and the SLI would be absent forever: {fix}")
    own = {slo.name for slo in svc.slos}
    cls = spec.slo_classes.get(svc.class_) if svc.class_ else None
    if cls is not None and ((cls.availability is not None and "availability" not in own)
                            or (cls.latency is not None and "latency" not in own)):
        yield base + ("class",), (
            f"the class {svc.class_!r} gives this service SLOs over {m.requests_total}{{job=\"{svc.name}\"}}, and "
            "the service has no `scrape`, so those SLIs would be absent forever: add `scrape`, or drop `class`")
    for j, th in enumerate(svc.thresholds):
        if th.indicator is not None:
            what = "consumer metrics" if th.indicator in CONSUMER_INDICATORS else "request metrics"
            yield base + ("thresholds", j, "indicator"), (
                f"{th.indicator} reads the service's {what} (job=\"{svc.name}\"), and the service has "
                "no `scrape`, so its alert could never fire: add `scrape`, or give a custom `expr` over metrics "
                "a scrape job provides")


def _check_proof(spec: Spec, alerts: dict[str, Path]) -> Found:
    if not spec.proof.accept_unproven:
        return
    stack_names = stack_alert_names(spec)
    for name, reason in spec.proof.accept_unproven.items():
        path: Path = ("proof", "accept_unproven", name)
        if name not in alerts and name not in stack_names:
            yield path, f"no alert is named {name!r}; name an alert this spec renders"
        elif not reason.strip():
            yield path, "say why this alert may stay unproven"


MAX_TEST_SPAN = 7 * 86400  # promtool evaluates every rule at each step up to eval_time: longer takes minutes


def _check_alert_test(test: AlertTest, path: Path) -> Found:
    for i, series in enumerate(test.input_series):
        for token in re.findall(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", series.values):
            if abs(float(token)) == float("inf"):
                yield path + ("input_series", i, "values"), (
                    f"{token} is beyond what a float64 sample holds (about 1.8e308); use a smaller number or Inf")
                break
    for i, check in enumerate(test.alert_rule_test):
        if duration_seconds(check.eval_time) > MAX_TEST_SPAN:
            yield path + ("alert_rule_test", i, "eval_time"), (
                f"{check.eval_time} is past 7d: promtool evaluates every rule of the file at each evaluation "
                "interval up to it, which would take minutes; test over a shorter span")
    for i, series in enumerate(test.input_series):
        if not SERIES_RE.match(series.series):
            yield path + ("input_series", i, "series"), (
                f'{series.series!r} is not a series like queue_depth{{job="orders"}} (a metric name and '
                'label="value" pairs in double quotes)')
        bad = next((t for t in series.values.split() if not VALUES_TOKEN_RE.match(t)), None)
        if bad is not None or not series.values.strip():
            yield path + ("input_series", i, "values"), (
                f"{bad or series.values!r} is not promtool's notation: numbers, `_` (no sample), `stale`, "
                "or `a+bxn` / `a-bxn` / `axn` (start a, step b, n more samples)")


_LABEL_NAME = re.compile(LABEL_NAME_RE)


def _check_logs(logs: Logs, path: Path) -> Found:
    if not _LABEL_NAME.match(logs.level_key):
        yield path + ("level_key",), (f"{logs.level_key!r} must be a plain JSON key (letters, digits, _) "
                                      "so LogQL can filter on it")
    for j, label in enumerate(logs.labels):
        if label.startswith("__"):
            yield path + ("labels", j), f"{label!r}: Loki reserves label names starting with __"
    if logs.error_lines_per_minute is not None and logs.source.format == "json" and not logs.error_levels:
        yield path + ("error_levels",), ("name the levels that count as errors, or set "
                                         "`error_lines_per_minute: null` to switch the default alert off")
    for j, la in enumerate(logs.alerts):
        if not la.summary.rstrip().endswith(".") or "{{" in la.summary:
            yield path + ("alerts", j, "summary"), ("a summary is a static sentence ending with a period; "
                                                    "put {{ $value }} and {{ $labels }} in `description`")


def _check_log_tags(spec: Spec, duplicates: frozenset[int] | None = None) -> Found:
    """Fluentd routes by tag: two services sharing one would swap logs, `fluent.*` is Fluentd's own.
    `duplicates`: _duplicates(spec), when the caller has it."""
    seen: dict[str, int] = {}
    if duplicates is None:
        duplicates = _duplicates(spec)  # once: per service it made loading 10,000 services take minutes
    for i, svc in enumerate(spec.services):
        if svc.logs is None or i in duplicates:
            continue
        tag = svc.logs.source.tag or f"logs.{svc.name}"
        if tag == "fluent" or tag.startswith("fluent."):
            yield ("services", i, "logs", "source", "tag"), (
                f"{tag!r}: tags starting with `fluent.` are Fluentd's own log events")
        elif tag in seen:
            yield ("services", i, "logs", "source", "tag"), (
                f"tag {tag!r} is already used by {_fmt(('services', seen[tag]))}")
        seen.setdefault(tag, i)


SLI_FIELDS = {"availability": (), "latency": ("threshold",), "latency_native": ("threshold", "metric"),
              "bool_gauge": ("metric",), "events": ("events",), "ratio": ("expr",)}  # the fields each SLI type reads


def _sli_problems(slo: Slo, sbase: Path) -> Found:
    sli = slo.sli
    if sli.type == "ratio" and slo.min_request_rate is not None:
        yield sbase + ("min_request_rate",), "a ratio SLI has no request rate to guard pages with"
    if sli.type == "bool_gauge" and slo.min_request_rate is not None:
        yield sbase + ("min_request_rate",), ("a bool_gauge SLI counts samples, which come at the scrape interval "
                                              "whatever the traffic: there is no request rate to guard pages with")
    if sli.type in ("latency", "latency_native"):
        if sli.threshold is None:
            example = "a bucket boundary, e.g. 100ms" if sli.type == "latency" else "a duration, e.g. 200ms"
            yield sbase + ("sli", "threshold"), f"a {sli.type} SLI needs `threshold` ({example})"
        else:
            yield from _latency_threshold(sli.threshold, sbase + ("sli", "threshold"))
    if sli.type == "bool_gauge" and sli.metric is None:
        yield sbase + ("sli", "metric"), ("a bool_gauge SLI needs `metric`, the selector of a gauge that is 0 or 1, "
                                          'e.g. probe_success{job="blackbox-http"}')
    if sli.type in ("bool_gauge", "latency_native") and sli.metric is not None:
        yield from _sli_metric(sli.metric, sli.type, sbase + ("sli", "metric"))
    if sli.type == "events":
        if sli.events is None:
            yield sbase + ("sli", "events"), "an events SLI needs `events: {errors: ..., total: ...}` (or `good:`)"
        else:
            ev = sli.events
            if ev.errors is not None and ev.good is not None:
                yield sbase + ("sli", "events", "good"), ("give `errors` or `good`, not both: obsgen counts the "
                                                          "errors as `total` minus `good`")
            elif ev.errors is None and ev.good is None:
                yield sbase + ("sli", "events"), ("an events SLI needs `errors` (the bad events) or `good` (the "
                                                  "good ones) beside `total`")
            for k in ("errors", "good", "total"):
                text = getattr(ev, k)
                if text is not None and "{{window}}" not in text:
                    yield sbase + ("sli", "events", k), "must contain {{window}} where the range goes, e.g. [{{window}}]"
    if sli.type == "ratio" and not sli.expr:
        yield sbase + ("sli", "expr"), "a ratio SLI needs `expr`, an expression that is an error ratio"
    if sli.type == "ratio" and sli.expr and "{{window}}" not in sli.expr:
        yield sbase + ("sli", "expr"), "must contain {{window}} where the range goes, e.g. [{{window}}]"
    for k in ("threshold", "metric", "events", "expr"):
        if k not in SLI_FIELDS[sli.type] and getattr(sli, k) is not None:
            yield sbase + ("sli", k), f"does not apply to a {sli.type} SLI"


def _sli_metric(metric: str, kind: str, path: Path) -> Found:
    """A bool_gauge's or latency_native's `metric`: one selector, to which obsgen adds the range itself."""
    what = "gauge" if kind == "bool_gauge" else "native histogram"
    reads = ("count_over_time and sum_over_time" if kind == "bool_gauge"
             else "histogram_count and histogram_fraction of its rate()")
    if not metric.strip():
        yield path, f"is empty: name the {what}'s series, e.g. " + (
            'probe_success{job="blackbox-http"}' if kind == "bool_gauge" else 'http_request_duration_seconds{job="api"}')
        return
    if "{{window}}" in metric:
        yield path, (f"is the {what}'s series without a range: obsgen adds `[5m]` itself and reads it with {reads}; "
                     "drop `[{{window}}]`")
        return
    from .expressions import parse_promql

    parsed = parse_promql(metric.strip())
    if parsed is None:  # the expression check says why it does not parse
        return
    pp, tree = parsed
    if not isinstance(tree, pp.VectorSelector):
        shape = "a range" if isinstance(tree, pp.MatrixSelector) else "an expression"
        example = 'probe_success{job="blackbox-http"}' if kind == "bool_gauge" else \
            'http_request_duration_seconds{job="api"}'
        yield path, (f"is {shape}, not the {what}'s series: write a selector such as {example} (no range, "
                     f"function or operator); obsgen reads it with {reads}")
    elif parse_promql(f"count_over_time({metric.strip()}[5m])") is None:
        yield path, ("does not parse where obsgen puts it, `count_over_time(<metric>[5m])` (a `#` starts a comment "
                     "that hides the rest of the line): write the selector alone")


def _latency_threshold(raw: object, path: Path) -> Found:
    try:
        q = parse_quantity(raw)
    except ValueError as e:
        yield path, str(e)
        return
    if q.kind not in ("duration", "number") or q.value <= 0:
        yield path, f"a latency threshold is a positive duration such as 100ms, got {raw!r}"


def _threshold_key(th: Threshold) -> tuple[Any, ...]:
    """Everything _threshold_problems reads of a threshold. The levels by their repr: 1 and 1.0 (and 0.0 and
    -0.0) are equal, but a message quotes them as written."""
    levels = th.for_ if isinstance(th.for_, LevelDurations) else None
    return (th.indicator, th.expr is None, bool(th.name), th.direction,
            None if levels is None else (levels.warning is not None, levels.critical is not None),
            repr(th.target), repr(th.warning), repr(th.critical))


def _threshold_verdict(th: Threshold) -> tuple[list[tuple[Path, str]], str | None]:
    """The problems of a threshold, at paths relative to it, and the direction its alert fires in (None: it
    gets no alert)."""
    found: list[tuple[Path, str]] = []
    problems = _threshold_problems(th)
    while True:
        try:
            found.append(next(problems))
        except StopIteration as end:
            return found, end.value


def _threshold_problems(th: Threshold, path: Path = ()) -> Generator[tuple[Path, str], None, str | None]:
    """Yields problems; returns the direction the alert fires in (None if the threshold gets no alert)."""
    if (th.indicator is None) == (th.expr is None):
        yield path, "give either a built-in `indicator` or a custom `expr` (with a `name`)"
        return None
    if th.expr is not None and not th.name:
        yield path + ("name",), "a custom `expr` needs a `name` for its alert"
        return None
    values = {k: getattr(th, k) for k in ("target", "warning", "critical") if getattr(th, k) is not None}
    if "warning" not in values and "critical" not in values:
        yield path, "give at least one of `warning` or `critical`"
        return None
    if isinstance(th.for_, LevelDurations):
        for level in ("warning", "critical"):
            if getattr(th.for_, level) is not None and level not in values:
                yield path + ("for", level), f"there is no `{level}` level to wait for"
    kind, direction = INDICATOR_KIND.get(th.indicator or "", ("number", th.direction or "above"))
    parsed: dict[str, Decimal] = {}
    for key, raw in values.items():
        q = parse_quantity(raw)
        if kind == "duration" and q.kind == "percent":
            yield path + (key,), f"{th.indicator} compares a duration (e.g. 200ms), got {raw!r}"
            continue
        if kind == "ratio" and q.kind == "duration":
            yield path + (key,), f"{th.indicator} compares a ratio (e.g. 0.5%), got {raw!r}"
            continue
        if kind == "ratio" and not 0 <= q.value <= 1:
            yield path + (key,), f"{th.indicator} is a ratio between 0% and 100%, got {raw!r}"
            continue
        parsed[key] = q.value
    if kind == "ratio" or (th.indicator is None and {parse_quantity(v).kind for v in values.values()} == {"percent"}):
        end = Decimal(1) if (th.direction or direction) == "above" else Decimal(0)
        for key in ("warning", "critical"):
            if parsed.get(key) == end:
                yield path + (key,), (f"no ratio is {'above 100%' if end else 'below 0%'}, so this level could never "
                                      "fire; choose a level between 0% and 100%")
    if th.indicator is not None and th.direction is not None and th.direction != direction:
        worse = "higher" if direction == "above" else "lower"
        yield path + ("direction",), (f"a {worse} {th.indicator} is worse, so its alert fires {direction} the levels; "
                                      f"remove `direction: {th.direction}`")
        return None
    if th.direction is not None:
        direction = th.direction
    order = [parsed[k] for k in ("target", "warning", "critical") if k in parsed]
    ok = all(a < b for a, b in zip(order, order[1:], strict=False)) if direction == "above" else all(
        a > b for a, b in zip(order, order[1:], strict=False))
    if len(order) == len(values) and not ok:
        # never guessed from the values: a swapped pair would silently turn the alert around
        got = ", ".join(f"{k} {values[k]}" for k in ("target", "warning", "critical") if k in values)
        if direction == "above":
            why = "a higher value is worse" + ("" if th.direction or th.indicator else " (the default direction)")
            fix = ("swap the values" if th.indicator or th.direction else
                   "if a lower value is worse here, add `direction: below`; otherwise swap the values")
            yield path, f"target, warning and critical must rise in that order, as {why}; got {got}: {fix}"
        else:
            yield path, (f"target, warning and critical must fall in that order, as a lower value is worse "
                         f"(direction below); got {got}: swap the values"
                         + ("" if th.indicator else ", or remove `direction: below` if a higher value is worse"))
    return direction


_DNS_NAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                          r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$")
_GRPC_SERVICE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _check_health(health: HealthCheck | list[HealthCheck], path: Path) -> Generator[tuple[Path, str], None, dict[str, Path]]:
    """Each check names one prober kind with its settings, a target that kind can probe, and no check twice;
    returns where each kind is first named (its alert's place)."""
    items = probes.checks(health)
    if isinstance(health, list) and not health:
        yield path, "name at least one check (e.g. `- tcp: postgres:5432`), or leave `health` out"
    kinds: dict[str, Path] = {}
    seen: dict[tuple[str, str, str], Path] = {}
    for i, check in enumerate(items):
        at = path + (i,) if isinstance(health, list) else path
        named = [k for k in PROBE_KINDS if getattr(check, k) is not None]
        if len(named) != 1:
            yield at, ("name exactly one of `http`, `tcp`, `icmp`, `dns` or `grpc`" if not named else
                       f"one check probes one way: {' and '.join(f'`{k}`' for k in named)} are "
                       f"{len(named)} checks; write each as an item of the list")
            continue
        kind = named[0]
        kinds.setdefault(kind, at + (kind,))
        for option, readers in probes.OPTIONS.items():
            if option in check.model_fields_set and kind not in readers:
                yield at + (option,), (f"`{option}` is a setting of {' and '.join(readers)} checks; this is "
                                       f"a{'n' if kind in ('http', 'icmp') else ''} {kind} check")
        target = getattr(check, kind)
        if kind == "http":
            yield from _url(target, at + ("http",),
                            "the blackbox exporter probes it from prometheus.yml; probe an endpoint that needs none")
            if "{{" in target and sum(c.http is not None for c in items) > 1:
                # several HTTP checks' rules are told apart by their target in the rule's labels, which
                # Prometheus expands as a template
                yield at + ("http",), f"{_short(target)} holds `{{{{`, which its alert's labels would expand as a template"
        elif kind == "icmp":
            # the exporter resolves the target as a name or a bare address: an IPv6 one without brackets
            if target.startswith("[") or not (_HOST_RE.match(target) or _ipv6(target)):
                yield at + ("icmp",), f"{_short(target)} is not a host name or IP address (and ICMP has no port)"
        elif not TARGET_RE.match(target) or not _HOST_RE.match(target.rsplit(":", 1)[0]) or not (
                0 < int(target.rsplit(":", 1)[1]) < 65536):
            example = {"tcp": "postgres:5432", "dns": "ns1.internal:53", "grpc": "checkout:9090"}[kind]
            yield at + (kind,), f"{_short(target)} is not host:port (e.g. `{example}`)"
        if kind == "dns":
            if check.query_name is None:
                yield at + ("dns",), "a dns check names the `query_name` to ask for"
            elif not _DNS_NAME_RE.match(check.query_name):
                yield at + ("query_name",), f"{_short(check.query_name)} is not a DNS name"
            if check.answer is not None:
                yield from _regex(check.answer, at + ("answer",))
        if kind == "grpc" and check.service is not None and not _GRPC_SERVICE_RE.match(check.service):
            yield at + ("service",), (f"{_short(check.service)} is not a gRPC service name (dotted identifiers, "
                                      "e.g. `checkout.v1.Checkout`)")
        key = (kind, target, probes.module_name(check, kind, probes.module_body(check, kind)))
        if key in seen:
            yield at, f"the same check as {_fmt(seen[key])}"
        seen.setdefault(key, at)
    return kinds


def _url(url: str, path: Path, hint: str = "use a *_file field") -> Found:
    yield from _url_problems(url, path, hint)


def _check_channels(spec: Spec) -> Found:
    for name, ch in spec.channels.items():
        base: Path = ("channels", name)
        if ch.type == "email" and spec.email is None:
            yield base, "email channels need the top-level `email` block (smarthost, from)"
        if ch.type == "pagerduty" and (ch.routing_key_file is None) == (ch.service_key_file is None):
            yield base, "name exactly one of `routing_key_file` (Events API v2) or `service_key_file`"
        if ch.type in ("webhook", "incidentio"):  # a URL written, or read from a file: one of them
            if (ch.url is None) == (ch.url_file is None):
                yield base, "name exactly one of `url` or `url_file`"
            elif ch.url is not None:
                token = {"webhook": ", or send a token from `bearer_token_file`",
                         "incidentio": "; the token belongs in `alert_source_token_file`"}[ch.type]
                yield from _url(ch.url, base + ("url",), f"put the whole URL in a file named by `url_file`{token}")
        if ch.type == "telegram" and ch.chat_id == 0:
            yield base + ("chat_id",), "0 is not a chat id: Alertmanager refuses it (a group's id is negative)"
        api_url = getattr(ch, "api_url", None)
        if ch.type in ("telegram", "webex", "victorops", "jira", "rocketchat") and api_url is not None:
            secret = {"telegram": "bot_token_file", "webex": "bot_token_file", "victorops": "api_key_file",
                      "jira": "password_file", "rocketchat": "token_file"}[ch.type]
            yield from _url(api_url, base + ("api_url",), f"the secret belongs in `{secret}`")


def _check_routing(spec: Spec) -> Found:
    r = spec.routing
    channels = spec.channels

    def ref(name: str, path: Path) -> Found:
        if name not in channels:
            yield path, f"unknown channel {name!r} (channels: {', '.join(sorted(channels))})"

    yield from ref(r.default, ("routing", "default"))
    if r.watchdog:
        yield from ref(r.watchdog, ("routing", "watchdog"))
    for sev, names in r.severity.items():
        for j, n in enumerate(names):
            yield from ref(n, ("routing", "severity", sev, j))
    for team, by_sev in r.teams.items():
        for sev, names in by_sev.items():
            for j, n in enumerate(names):
                yield from ref(n, ("routing", "teams", team, sev, j))
    for i, route in enumerate(r.routes):
        for j, m in enumerate(route.matchers):
            if not MATCHER_RE.match(m):
                yield ("routing", "routes", i, "matchers", j), f'{m!r} is not a matcher like alertname=~"Cpu.*"'
        for j, n in enumerate(route.receivers):
            yield from ref(n, ("routing", "routes", i, "receivers", j))
    groupings: list[tuple[Path, list[str]]] = [(("routing", "group_by"), r.group_by)]
    groupings += [(("routing", "routes", i, "group_by"), route.group_by) for i, route in enumerate(r.routes)
                  if route.group_by]
    for gpath, labels in groupings:
        for j, label in enumerate(labels):
            if label != "..." and not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", label):
                yield gpath + (j,), f"{label!r} is not a label name"
            elif label in labels[:j]:
                yield gpath + (j,), (f"{label!r} is already listed at {_fmt(gpath + (labels.index(label),))}; "
                                     "Alertmanager refuses a repeated label")
    q = r.quiet_hours
    if q is not None:
        qbase: Path = ("routing", "quiet_hours")
        known_zone = True
        try:
            ZoneInfo(q.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            known_zone = False
            yield qbase + ("timezone",), f"unknown time zone {q.timezone!r} (e.g. Europe/Berlin, UTC)"
        for part in q.weekdays.split(","):
            for day in part.split(":"):
                if day not in WEEKDAYS:
                    yield qbase + ("weekdays",), f"{day!r} is not a weekday (monday ... sunday)"
            first, _, last = part.partition(":")
            if last and first in WEEKDAYS and last in WEEKDAYS and WEEK.index(first) > WEEK.index(last):
                head = first if first == "saturday" else f"{first}:saturday"
                tail = last if last == "sunday" else f"sunday:{last}"
                yield qbase + ("weekdays",), (
                    f"{part!r} runs backwards: Alertmanager's week runs from sunday to saturday, so write "
                    f"{head},{tail}")
        operator = spec.stack.kubernetes.prometheus_operator and "kubernetes" in spec.stack.deploy
        if operator and known_zone and fixed_utc_offset(q.timezone) is None:
            offsets = " and ".join(_fmt_offset(o) for o in utc_offsets(q.timezone))
            yield qbase + ("timezone",), (
                f"{q.timezone} changes its UTC offset ({offsets}), and prometheus-operator's AlertmanagerConfig "
                "has no time zone: the release's Alertmanager reads its time intervals in UTC, so no fixed hours "
                f"match {q.timezone}'s all year. Write the hours in UTC (`timezone: UTC`) or name a zone with "
                "one offset all year (e.g. Etc/GMT-1 is UTC+01:00, Asia/Kolkata UTC+05:30); obsgen converts "
                "those to UTC")
        start, end = q.times.split("-")
        for t in (start, end):
            hh, mm = int(t[:2]), int(t[3:])
            if hh > 24 or mm > 59 or (hh == 24 and mm):
                yield qbase + ("times",), f"{t!r} is not a time of day"
        if start >= end:
            yield qbase + ("times",), "the start of business hours must come before their end"


WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Alertmanager's order
# Quiet hours in operator mode are converted to UTC at a zone's offset: it must be the same on every day of
# these years (sampled twice a day: daylight saving time and Ramadan changes last weeks).
OFFSET_YEARS = (2024, 2041)


@cache
def utc_offsets(zone: str) -> tuple[timedelta, ...]:
    """The distinct UTC offsets `zone` has over OFFSET_YEARS, in the order they first occur."""
    tz = ZoneInfo(zone)
    start = datetime(OFFSET_YEARS[0], 1, 1, tzinfo=UTC)
    seen: dict[timedelta, None] = {}
    for half_days in range((datetime(OFFSET_YEARS[1], 1, 1, tzinfo=UTC) - start).days * 2):
        offset = (start + timedelta(hours=12 * half_days)).astimezone(tz).utcoffset()
        if offset is not None:
            seen.setdefault(offset)
    return tuple(seen)


def fixed_utc_offset(zone: str) -> timedelta | None:
    """The one offset `zone` keeps all year, in whole minutes (Alertmanager's times are HH:MM); else None."""
    offsets = utc_offsets(zone)
    if len(offsets) == 1 and offsets[0] % timedelta(minutes=1) == timedelta(0):
        return offsets[0]
    return None


def _fmt_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _check_stack(spec: Spec) -> Found:
    for i, rw in enumerate(spec.stack.prometheus.remote_write):
        yield from _url(rw.url, ("stack", "prometheus", "remote_write", i, "url"),
                        "use `basic_auth: {username, password_file}` or `bearer_token_file`")
    if duration_seconds(spec.stack.loki.retention) < 86400:
        yield ("stack", "loki", "retention"), "Loki keeps logs at least 24h (its index period); use 24h or more"
    prefix = spec.stack.fluentd.elasticsearch.index_prefix
    if prefix is not None and not ES_INDEX_RE.match(prefix):
        yield ("stack", "fluentd", "elasticsearch", "index_prefix"), (
            f"{prefix!r} is not an Elasticsearch index prefix (lowercase letters, digits, ., _ and -)")
    if not spec.stack.deploy:
        yield ("stack", "deploy"), "name at least one deploy target: compose, kubernetes"
    for section, keys in spec.stack.grafana.settings.items():
        for key, value in keys.items():
            spath: Path = ("stack", "grafana", "settings", section, key)
            secret_name = _GRAFANA_SECRET.search(key) and not key.endswith("__file")
            if secret_name or (section == "database" and key in ("url", "connection_string")):
                yield spath, (f"{section}.{key} looks like a secret, which would be written into the output "
                              "(settings become the Grafana container's environment); use "
                              "stack.grafana.admin_password_file or a secret the deployment provides")
            elif isinstance(value, str) and re.search(r"://[^/?#\s]*@", value):
                yield spath, ("this URL holds credentials (user@ or user:password@), which would be written "
                              "into the output; use a secret the deployment provides")
            elif isinstance(value, str) and "://" in value and _secret_param(value):
                yield spath, ("this URL has a secret-looking query parameter, which would be written into the "
                              "output; use a secret the deployment provides")


# --------------------------------------------------------------------------- hostile and bad values

# A query parameter or header with one of these in its name carries a secret (case-insensitive).
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|api_?key|api-key|access_?key|private_?key|signature|credential"
                          r"|auth(?!or)|cookie|session|^key$|[_.-]key$|^sig$", re.I)
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$")


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:70] + "...")


def _secret_param(url: str) -> str | None:
    """The first query parameter of `url` whose name says it carries a secret."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    return next((name for name, _ in parse_qsl(query, keep_blank_values=True) if _SECRET_NAME.search(name)), None)


def _url_problems(url: str, path: Path, hint: str, schemes: tuple[str, ...] = ("http", "https")) -> Found:
    """A URL obsgen writes into the output: well formed, and without credentials in it."""
    what = "an http(s) URL" if schemes == ("http", "https") else f"a URL ({', '.join(schemes)})"
    if re.search(r"\s", url):
        yield path, f"{_short(url)} is not {what}: it contains whitespace"
        return
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number up to 65535
    except ValueError as e:
        yield path, f"{_short(url)} is not {what}: {e}"
        return
    if parts.scheme not in schemes or not parts.netloc:
        yield path, f"{_short(url)} is not {what}"
        return
    if "@" in parts.netloc:
        yield path, f"credentials in a URL (user@ or user:password@) would be written into the output; {hint}"
        return
    host = parts.netloc
    if ":" in host and not host.endswith("]"):  # host:port, [::1]:port
        host = host.rsplit(":", 1)[0]
    if port == 0 or not _HOST_RE.match(host):
        yield path, f"{_short(url)} is not {what}: {parts.netloc!r} is not a host[:port]"
        return
    name = _secret_param(url)
    if name:
        yield path, f"the query parameter {name!r} looks like a secret, which would be written into the output; {hint}"


def _pattern_url(pattern: str, path: Path) -> Found:
    """A runbook pattern: {service} and {alert} are substituted, the rest is a literal URL."""
    literal = pattern.replace("{service}", "service").replace("{alert}", "alert")
    yield from _url_problems(literal, path, "a runbook link needs none")
    if "{{" in literal or "}}" in literal:  # the link lands in an annotation, which Prometheus expands
        yield path, "a runbook link is a URL, not a template: {{ and }} would be expanded by Prometheus"


MAX_SCRAPE_INTERVAL = 120  # seconds: the 5m rates of obsgen's rules need two samples, whatever the jitter
MIN_EVALUATION_INTERVAL = 1  # second
K8S_NAMESPACE_RE = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a DNS-1123 label


def _scrape_interval(value: str, path: Path) -> Found:
    if duration_seconds(value) > MAX_SCRAPE_INTERVAL:
        yield path, (f"{value} is longer than 2m: obsgen's rules read rate() over 5m, which needs two samples in "
                     "it, and a series with no sample for 5m is stale to every query (Prometheus advises 2m at "
                     "most); scrape more often")


def _evaluation_interval(value: str, path: Path) -> Found:
    seconds = duration_seconds(value)
    if 0 < seconds < MIN_EVALUATION_INTERVAL:
        yield path, (f"{value} is shorter than 1s: Prometheus would evaluate every rule {value} apart, which it "
                     "cannot keep up with (and the generated tests would take as many steps); evaluate every "
                     "second or less often")
    elif seconds > MAX_SCRAPE_INTERVAL:
        yield path, (f"{value} is longer than 2m: obsgen's alerts read its recording rules over 5m windows, and a "
                     "recorded series with no sample for 5m is stale to every query, so alerts would flap or stay "
                     "silent; evaluate more often")


def _positive(value: str | None, path: Path, what: str) -> Found:
    if value is not None and duration_seconds(value) <= 0:
        yield path, f"{what} must be longer than 0, got {value!r}"


# --------------------------------------------------------------------------- Go templates

# What Prometheus (and Loki's ruler) define before expanding an alert's annotations.
PROMETHEUS_TEMPLATE_VARS = frozenset({"labels", "value", "externalLabels", "externalURL"})
# ... and the fields of the dot there (Prometheus' template.AlertTemplateData): `{{ .x }}` fails to expand
PROMETHEUS_TEMPLATE_FIELDS = frozenset({"Labels", "Value", "ExternalLabels", "ExternalURL"})
_DOT_FIELD = re.compile(r"(?:^|[\s(|,=])\.([A-Za-z_]\w*)")
_BLOCKS = frozenset({"if", "range", "with", "block", "define"})
_CHAR_CONST = re.compile(r"'(?:[^'\\\n]|\\(?:[abfnrtv\\'\"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}"
                         r"|[0-7]{3}))'")
_ACTION_CHARS = re.compile(r"[A-Za-z0-9_.$|(),=: \t\r\n+\-\"'`]")
_SPACE = " \t\r\n"


def _template_message(problem: str) -> str:
    return (f"broken Go template: {problem}; this text is expanded as a template (write a literal "
            '{{ as {{ "{{" }})')


def template_problem(text: str, variables: frozenset[str] = PROMETHEUS_TEMPLATE_VARS) -> str | None:
    """The first reason Go's text/template would refuse `text`, or None.

    Not a full parser: delimiters, comments, quoting, parentheses, block keywords and variables, which is
    where hand-written annotations go wrong. Function names are not checked.
    """
    declared = set(variables)
    stack: list[str] = []
    n = len(text)
    i = text.find("{{")
    while i >= 0:
        j = i + 2
        if text.startswith("-", j) and j + 1 < n and text[j + 1] in _SPACE:
            j += 2  # a trim marker
        if text.startswith("/*", j):
            end = text.find("*/", j + 2)
            if end < 0:
                return "a {{/* comment */}} is not closed"
            k = end + 2
            if not (text.startswith("}}", k) or text.startswith(" -}}", k)):
                return "a comment must end right before }}"
            i = text.find("{{", k)
            continue
        k, depth, words = j, 0, []
        while True:
            if k >= n:
                return "an action {{ ... is not closed with }}"
            if text.startswith("}}", k) or (text[k] in _SPACE and text.startswith("-}}", k + 1)):
                break
            c = text[k]
            if c == '"':
                m = re.compile(r'"(?:[^"\\\n]|\\.)*"').match(text, k)
                if not m:
                    return "a quoted string inside {{ }} is not closed"
                k = m.end()
                words.append('""')
                continue
            if c == "`":
                end = text.find("`", k + 1)
                if end < 0:
                    return "a `raw string` inside {{ }} is not closed"
                k = end + 1
                words.append('""')
                continue
            if c == "'":
                m = _CHAR_CONST.match(text, k)
                if not m:
                    return "a malformed 'character constant' inside {{ }}"
                k = m.end()
                words.append("''")
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    return "a ) inside {{ }} has no ("
            elif c == "$":
                m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?").match(text, k)
                assert m is not None
                name = m.group(1)
                if name and re.compile(r"\s*(:=|,)").match(text, m.end()):
                    declared.add(name)
                elif name and name not in declared:
                    return f"the variable ${name} is not defined (Prometheus defines $labels, $value, " \
                           "$externalLabels and $externalURL)" if variables else f"the variable ${name} is not defined"
                words.append(m.group())
                k = m.end()
                continue
            elif not _ACTION_CHARS.match(c):
                return f"{c!r} cannot appear inside {{{{ }}}} (outside a quoted string)"
            words.append(c)
            k += 1
        if depth:
            return "a ( inside {{ }} is not closed"
        content = "".join(words).strip()
        first = re.match(r"[A-Za-z_]\w*", content)
        keyword = first.group() if first else ""
        if not content:
            return "an empty action {{ }}"
        if variables is PROMETHEUS_TEMPLATE_VARS and not set(stack) & {"range", "with", "define", "block"}:
            for field in _DOT_FIELD.findall(content):
                if field not in PROMETHEUS_TEMPLATE_FIELDS:
                    return (f".{field} is not a field of the alert's template data (it has .Labels, .Value, "
                            ".ExternalLabels and .ExternalURL; a label is $labels.name)")
        if keyword in _BLOCKS:
            stack.append(keyword)
        elif keyword == "else":
            if not stack or stack[-1] not in ("if", "range", "with"):
                return "{{ else }} outside an {{ if }}, {{ range }} or {{ with }}"
        elif keyword == "end":
            if not stack:
                return "{{ end }} without an {{ if }}, {{ range }}, {{ with }} or {{ define }} to end"
            stack.pop()
        elif keyword in ("break", "continue") and "range" not in stack:
            return f"{{{{ {keyword} }}}} outside a {{{{ range }}}}"
        i = text.find("{{", k + 2)
    if stack:
        return f"{{{{ {stack[-1]} }}}} has no {{{{ end }}}}"
    return None


# --------------------------------------------------------------------------- RE2 regular expressions

_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_FLAGS = re.compile(r"([imsU]*)(?:-([imsU]+))?([:)])")


def re2_problem(pattern: str) -> str | None:
    """Why RE2 (the regexp engine of Prometheus, Alertmanager and Loki) would refuse `pattern`, or None.

    Python's `re` is not RE2: lookarounds, backreferences, possessive quantifiers and atomic groups
    compile here and fail there. Those are refused by name; what remains is translated to Python's
    dialect (RE2-only forms such as \\pL, \\z, [[:alpha:]], \\Q...\\E) and compiled for its syntax.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    unsupported = "RE2 (Prometheus, Alertmanager) does not support it"
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return "it ends with a lone backslash"
            d = pattern[i + 1]
            if d in "123456789" or d == "k":
                return f"\\{d} is a backreference; {unsupported}"
            if d in "ZuUN":
                return f"\\{d} is not RE2 syntax" + (r" (use \z for the end of the text)" if d == "Z" else "")
            if d == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if d in "pP" or (d == "x" and pattern.startswith("{", i + 2)):
                m = re.compile(r"\{[^}]*\}|[A-Za-z]").match(pattern, i + 2)
                if not m:
                    return f"\\{d} needs a name, e.g. \\pL or \\p{{Greek}}"
                out.append("a")
                i = m.end()
                continue
            out.append({"z": r"\Z", "C": "."}.get(d, pattern[i:i + 2]))
            i += 2
            continue
        if c == "[":
            j = i + 1
            cls = ["["]
            if pattern.startswith("^", j):
                cls.append("^")
                j += 1
            if pattern.startswith("]", j):
                cls.append(r"\]")
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    if pattern[j + 1] in "pP":
                        m = re.compile(r"\{[^}]*\}|[A-Za-z]").match(pattern, j + 2)
                        cls.append("a")
                        j = m.end() if m else j + 2
                        continue
                    cls.append(pattern[j:j + 2])
                    j += 2
                    continue
                m = re.compile(r"\[:\^?[a-z]+:\]").match(pattern, j)
                if m:
                    cls.append("a")
                    j = m.end()
                    continue
                cls.append(re.escape(pattern[j]) if pattern[j] == "[" else pattern[j])
                j += 1
            if j >= n:
                return "a [ character class is not closed"
            out.append("".join(cls) + "]")
            i = j + 1
            continue
        if c == "(" and pattern.startswith("(?", i):
            rest = pattern[i + 2:]
            if rest[:1] in ("=", "!") or rest[:2] in ("<=", "<!"):
                return f"{pattern[i:i + 4]!r} is a lookaround; {unsupported}"
            if rest[:1] == ">":
                return f"(?> is an atomic group; {unsupported}"
            if rest[:1] == "(":
                return f"(?( is a conditional; {unsupported}"
            if rest[:2] in ("P=", "P>"):
                return f"(?{rest[:2]} is a backreference; {unsupported}"
            if rest[:1] == "#":
                return f"(?# is a comment; {unsupported}"
            if rest[:1] == ":":
                out.append("(?:")
                i += 3
                continue
            if rest[:2] == "P<" or rest[:1] == "<":
                out.append("(?P<")
                i += 4 if rest[:1] == "P" else 3
                continue
            m = _FLAGS.match(rest)
            if not m or not (m.group(1) or m.group(2)):
                return f"{pattern[i:i + 4]!r} is not a group RE2 knows"
            out.append("(?:)" if m.group(3) == ")" else "(?:")  # flags do not change the syntax
            i += 2 + m.end()
            continue
        if c in "*+?":
            if pattern.startswith("+", i + 1):
                return f"{c}+ is a possessive quantifier; {unsupported}"
            out.append(c)
            i += 1
            continue
        if c == "{":
            m = _REPEAT.match(pattern, i)
            if m:
                if any(g and int(g) > 1000 for g in m.groups()):
                    return f"{m.group()} repeats more than 1000 times, RE2's limit"
                if pattern.startswith("+", m.end()):
                    return f"{m.group()}+ is a possessive quantifier; {unsupported}"
                out.append(m.group())
                i = m.end()
                continue
            out.append(r"\{")
            i += 1
            continue
        out.append(c)
        i += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile("".join(out))
        except re.error as e:
            return f"it is not a valid regular expression ({e.msg})"
        except (RecursionError, OverflowError):
            return "it is too deeply nested"
    return None


def _regex(pattern: str, path: Path) -> Found:
    problem = re2_problem(pattern)
    if problem:
        yield path, f"{_short(pattern)} is not a regular expression RE2 accepts: {problem}"


def _matcher_value(matcher: str) -> tuple[str, str] | None:
    """(operator, unquoted value) of a matcher like alertname=~"Cpu.*"."""
    m = re.match(r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$', matcher)
    if not m:
        return None
    value = re.sub(r'\\(["\\n])', lambda e: "\n" if e.group(1) == "n" else e.group(1), m.group(2))
    return m.group(1), value


def _stack_job_names() -> dict[str, str]:
    """Scrape jobs prometheus.yml names for the stack itself: job -> what it scrapes."""
    jobs = {job: f"the stack's {job.capitalize()}" for job in STACK_TARGETS}
    jobs["alertmanager"] = "the stack's Alertmanager"
    jobs.update({job: f"the {kind} exporter" for kind, (job, _) in EXPORTER_TARGETS.items()})
    jobs.update({job: f"the {probes.KIND_TEXT[kind]} health checks (blackbox probes)"
                 for kind, job in PROBE_JOBS.items()})
    return jobs


def _check_hostile(spec: Spec, duplicates: frozenset[int] | None = None) -> Found:
    """Values that are well typed but would break, leak a secret, or clash in what obsgen writes.
    `duplicates`: _duplicates(spec), when the caller has it."""
    d = spec.defaults
    for key in ("scrape_interval", "evaluation_interval", "scrape_timeout"):
        yield from _positive(getattr(d, key), ("defaults", key), key)
    yield from _scrape_interval(d.scrape_interval, ("defaults", "scrape_interval"))
    yield from _evaluation_interval(d.evaluation_interval, ("defaults", "evaluation_interval"))
    if d.scrape_timeout and duration_seconds(d.scrape_timeout) > duration_seconds(d.scrape_interval) > 0:
        yield ("defaults", "scrape_timeout"), (f"scrape_timeout {d.scrape_timeout} is longer than scrape_interval "
                                               f"{d.scrape_interval}; Prometheus refuses that")
    yield from _regex(d.metrics.error_status, ("defaults", "metrics", "error_status"))
    r = spec.routing
    for key in ("group_interval", "repeat_interval"):
        yield from _positive(getattr(r, key), ("routing", key), key)
    yield from _positive(spec.stack.prometheus.retention, ("stack", "prometheus", "retention"), "retention")
    for i, route in enumerate(r.routes):
        for j, matcher in enumerate(route.matchers):
            parsed = _matcher_value(matcher)
            if parsed and parsed[0] in ("=~", "!~"):
                yield from _regex(parsed[1], ("routing", "routes", i, "matchers", j))

    p = spec.project
    for key in ("grafana_url", "alertmanager_url"):
        if getattr(p, key):
            yield from _url_problems(getattr(p, key), ("project", key), "a link needs no credentials")
    if p.runbook_url:
        yield from _pattern_url(p.runbook_url, ("project", "runbook_url"))

    jobs = _stack_job_names()
    if duplicates is None:
        duplicates = _duplicates(spec)
    secret_params: dict[str, str | None] = {}
    for i, svc in enumerate(spec.services):
        base: Path = ("services", i)
        if i in duplicates:
            continue
        if svc.name in jobs:
            yield base + ("name",), (f"{svc.name!r} is the scrape job of {jobs[svc.name]} in prometheus.yml, "
                                     "and a service's job is its name; choose another name")
        if svc.runbook_url:
            yield from _pattern_url(svc.runbook_url, base + ("runbook_url",))
        if svc.metrics.error_status is not None:
            yield from _regex(svc.metrics.error_status, base + ("metrics", "error_status"))
        if svc.scrape is not None:
            if svc.scrape.interval is not None:
                yield from _positive(svc.scrape.interval, base + ("scrape", "interval"), "a scrape interval")
                yield from _scrape_interval(svc.scrape.interval, base + ("scrape", "interval"))
            if svc.scrape.path not in secret_params:  # most services share their path
                secret_params[svc.scrape.path] = _secret_param("http://x" + svc.scrape.path)
            name = secret_params[svc.scrape.path]
            if name:
                yield base + ("scrape", "path"), (f"the query parameter {name!r} looks like a secret, which would "
                                                  "be written into prometheus.yml")
            k = svc.scrape.kubernetes
            if k is not None:
                if not K8S_NAMESPACE_RE.match(k.namespace):
                    yield base + ("scrape", "kubernetes", "namespace"), (
                        f"{_short(k.namespace)} is not a Kubernetes namespace: lower-case letters, digits and "
                        "dashes, starting and ending with a letter or digit, at most 63 characters (e.g. shop)")
                # both are regular expressions in the relabelling that keeps the pods
                for name, value in k.pod_labels.items():
                    yield from _regex(value, base + ("scrape", "kubernetes", "pod_labels", name))
                if k.port:
                    yield from _regex(k.port, base + ("scrape", "kubernetes", "port"))
        texts: list[tuple[Path, str]] = []  # (place after the service's, text): those written, checked last
        for j, th in enumerate(svc.thresholds):
            if th.summary:
                texts.append((("thresholds", j, "summary"), th.summary))
            if th.description:
                texts.append((("thresholds", j, "description"), th.description))
            if th.runbook_url:
                yield from _pattern_url(th.runbook_url, base + ("thresholds", j, "runbook_url"))
        for j, al in enumerate(svc.alerts):
            texts += [(("alerts", j, k), text) for k in ("summary", "description") if (text := getattr(al, k))]
            if al.runbook_url:
                yield from _pattern_url(al.runbook_url, base + ("alerts", j, "runbook_url"))
            for n, test in enumerate(al.tests):
                yield from _positive(test.interval, base + ("alerts", j, "tests", n, "interval"), "interval")
        if svc.logs is not None:
            for j, la in enumerate(svc.logs.alerts):
                texts += [(("logs", "alerts", j, k), text) for k in ("summary", "description") if (text := getattr(la, k))]
        for tpath, text in texts:
            problem = template_problem(text)
            if problem:
                yield base + tpath, _template_message(problem)

    for name, ch in spec.channels.items():
        cbase: Path = ("channels", name)
        if ch.type == "opsgenie" and ch.api_url:
            yield from _url_problems(ch.api_url, cbase + ("api_url",), "the key belongs in `api_key_file`")
        if ch.type == "slack":  # Alertmanager expands the channel as a template
            problem = template_problem(ch.channel, frozenset())
            if problem:
                yield cbase + ("channel",), _template_message(problem)
        if ch.type == "email":
            for j, to in enumerate(ch.to):
                problem = template_problem(to, frozenset())
                if problem:
                    yield cbase + ("to", j), _template_message(problem)
    if spec.email is not None and "@" in spec.email.smarthost:
        yield ("email", "smarthost"), ("credentials in the smarthost would be written into alertmanager.yml; "
                                       "use `auth_username` and `auth_password_file`")

    stack = spec.stack
    for i, rw in enumerate(stack.prometheus.remote_write):
        rbase: Path = ("stack", "prometheus", "remote_write", i)
        if rw.basic_auth is not None and rw.bearer_token_file is not None:
            yield rbase + ("bearer_token_file",), (
                "a remote_write takes one way to authenticate, and this one has `basic_auth` too (Prometheus: "
                "\"at most one of basic_auth, oauth2 & authorization must be configured\"); keep one of them")
        if rw.tls is not None:
            tls = rw.tls
            if not rw.url.lower().startswith("https://"):
                yield rbase + ("tls",), "TLS settings take an https URL, and this queue's `url` is not one"
            elif all(getattr(tls, name) is None for name in type(tls).model_fields):
                yield rbase + ("tls",), "an empty `tls` block changes nothing; remove it or name a file"
            if (tls.cert_file is None) != (tls.key_file is None):
                missing = "key_file" if tls.key_file is None else "cert_file"
                yield rbase + ("tls", missing), (
                    "a client certificate takes both `cert_file` and `key_file` (Prometheus refuses one without "
                    "the other)")
        if rw.ruler and rw.kind == "generic":
            yield rbase + ("ruler",), (
                "`ruler` takes kind mimir or cortex (their rulers load namespace files) or thanos (a ThanosRuler), "
                "and this queue is kind generic; set `kind` to the backend it is, or leave the rules to this "
                "Prometheus")
        thanos_ruler = rw.ruler and rw.kind == "thanos"
        if thanos_ruler and not operator_mode(spec):
            yield rbase + ("ruler",), (
                "a Thanos ruler is rendered as a ThanosRuler resource, in prometheus-operator mode only "
                "(`stack.kubernetes.prometheus_operator: true` with the kubernetes deploy target); elsewhere leave "
                "the rules to this Prometheus")
        elif thanos_ruler and rw.query_url is None:
            yield rbase + ("ruler",), (
                "a ThanosRuler evaluates the rules against a Thanos Query: name it in `query_url` "
                "(e.g. http://thanos-query.monitoring:9090)")
        if rw.query_url is not None and not thanos_ruler:
            yield rbase + ("query_url",), (
                "`query_url` is the Thanos Query of a ThanosRuler, and this queue is not kind thanos with "
                "`ruler: true`; remove it")
        elif rw.query_url is not None:
            yield from _url_problems(rw.query_url, rbase + ("query_url",), "give the address without credentials",
                                     ("http", "https"))
        if rw.ruler and any(other.ruler for other in stack.prometheus.remote_write[:i]):
            first = next(j for j, other in enumerate(stack.prometheus.remote_write) if other.ruler)
            yield rbase + ("ruler",), (
                f"the ruler of {_fmt(('stack', 'prometheus', 'remote_write', first))} already evaluates the rules; "
                "two rulers would send every alert twice, so set `ruler` on one queue")
        for header, value in rw.headers.items():
            if _SECRET_NAME.search(header) or re.match(r"(?i)\s*(bearer|basic)\s", value):
                yield rbase + ("headers", header), (
                    f"header {header!r} would put a secret into prometheus.yml; use `bearer_token_file` (sent as "
                    "`Authorization: Bearer`, from authorization.credentials_file) or `basic_auth: {username, "
                    "password_file}`; obsgen has no file-backed form for other headers")
    for i, exp in enumerate(stack.exporters):
        kind = exp if isinstance(exp, str) else exp.type
        if kind == "process" and (isinstance(exp, str) or not exp.processes):
            yield ("stack", "exporters", i), (
                "the process exporter watches the processes it is told to; give their names, e.g. "
                "`{type: process, processes: [nginx, postgres]}`")
        if kind == "haproxy" and stack.kubernetes.prometheus_operator and "kubernetes" in stack.deploy:
            yield ("stack", "exporters", i), (
                "HAProxy's built-in exporter is scraped at HAProxy's own address, and prometheus-operator mode "
                "scrapes only through a Service obsgen writes; scrape HAProxy as a service (`scrape`) instead")
        if isinstance(exp, str) or exp.target is None:
            continue
        epath: Path = ("stack", "exporters", i, "target")
        hint = (f"obsgen has no file-backed credentials for the {exp.type} exporter's target; "
                + ("postgres reads its connection string from `dsn_file`" if exp.type == "postgres" else
                   "give a target that needs none"))
        if "://" in exp.target:
            yield from _url_problems(exp.target, epath, hint,
                                     ("redis", "rediss", "http", "https", "postgres", "postgresql", "unix",
                                      "mongodb"))
        elif "@" in exp.target:
            yield epath, f"credentials in a target would be written into the output; {hint}"
        elif not TARGET_RE.match(exp.target):
            yield epath, f"{_short(exp.target)} is not host:port or a URL"
    es = stack.fluentd.elasticsearch
    if "@" in es.host:
        yield ("stack", "fluentd", "elasticsearch", "host"), (
            "credentials in the host would be written into fluent.conf; use `user` and `password_file`")
    elif not _HOST_RE.match(es.host):
        yield ("stack", "fluentd", "elasticsearch", "host"), (
            f"{_short(es.host)} is not a host name or address" + ("; give the scheme and port in `scheme` and "
                                                                  "`port`" if ":" in es.host else ""))


def _fmt(path: Path) -> str:
    """Another place in the spec, named in a message with its line."""
    return place(path)


# --------------------------------------------------------------------------- names, lists, what alerts need

METRIC_NAME_RE = re.compile(METRIC_NAME_PATTERN)
HTTP_INDICATORS = frozenset(INDICATOR_KIND)


def _listed_twice(values: list[object], path: Path, what: str, why: str) -> Found:
    """One problem per repeated entry, naming the first place it is listed."""
    first: dict[object, int] = {}
    for j, value in enumerate(values):
        if value in first:
            yield path + (j,), f"{what} {value!r} is already listed at {_fmt(path + (first[value],))}; {why}"
        else:
            first[value] = j


def _check_unique(spec: Spec, duplicates: frozenset[int] | None = None) -> Found:
    rws = spec.stack.prometheus.remote_write
    yield from _listed_twice([rw.name for rw in rws], ("stack", "prometheus", "remote_write"), "remote_write name",
                             "promtool refuses two remote_write entries with one name")
    exporters = spec.stack.exporters
    yield from _listed_twice([e if isinstance(e, str) else e.type for e in exporters], ("stack", "exporters"),
                             "exporter", "obsgen runs one exporter of each kind; list it once")
    yield from _listed_twice(list(spec.stack.deploy), ("stack", "deploy"), "deploy target", "list it once")
    yield from _listed_twice(list(spec.stack.fluentd.outputs), ("stack", "fluentd", "outputs"), "output",
                             "list it once")
    r = spec.routing
    once = "each channel gets an alert once; list it once"
    for sev, names in r.severity.items():
        yield from _listed_twice(list(names), ("routing", "severity", sev), "channel", once)
    for team, by_sev in r.teams.items():
        for sev, names in by_sev.items():
            yield from _listed_twice(list(names), ("routing", "teams", team, sev), "channel", once)
    for i, route in enumerate(r.routes):
        yield from _listed_twice(list(route.receivers), ("routing", "routes", i, "receivers"), "channel", once)
        yield from _listed_twice(list(route.matchers), ("routing", "routes", i, "matchers"), "matcher", "list it once")
    if r.quiet_hours is not None and isinstance(r.quiet_hours.applies_to, list):
        yield from _listed_twice(list(r.quiet_hours.applies_to), ("routing", "quiet_hours", "applies_to"),
                                 "severity", "list it once")
    for name, ch in spec.channels.items():
        if ch.type == "email":
            yield from _listed_twice(list(ch.to), ("channels", name, "to"), "address", "it would get every mail twice")
    if duplicates is None:
        duplicates = _duplicates(spec)
    for i, svc in enumerate(spec.services):
        if i in duplicates:
            continue
        base: Path = ("services", i)
        # (a list of one entry lists none twice: most services' lists)
        if svc.scrape is not None and svc.scrape.static and len(svc.scrape.static) > 1:
            yield from _listed_twice(list(svc.scrape.static), base + ("scrape", "static"), "target",
                                     "Prometheus would scrape it twice")
        if svc.logs is not None:
            if len(svc.logs.labels) > 1:
                yield from _listed_twice(list(svc.logs.labels), base + ("logs", "labels"), "label", "list it once")
            if len(svc.logs.error_levels) > 1:
                yield from _listed_twice(list(svc.logs.error_levels), base + ("logs", "error_levels"), "level",
                                         "list it once")


def _check_names(spec: Spec) -> Found:
    """Metric names that land in selectors: Prometheus' grammar, so every query reads them unquoted."""
    conventions: list[tuple[Path, BaseModel]] = [(("defaults", "metrics"), spec.defaults.metrics)]
    blocks: list[tuple[Path, BaseModel]] = []  # after every service's metrics
    for i, svc in enumerate(spec.services):
        conventions.append((("services", i, "metrics"), svc.metrics))
        for block in ("batch", "consumer"):
            if (value := getattr(svc, block)) is not None:
                blocks.append((("services", i, block), value))
    # by the model's identity: the services without `metrics` share one (their problems: after its path)
    found: dict[int, list[tuple[str, str]]] = {}
    for path, metrics in conventions + blocks:
        if id(metrics) not in found:
            found[id(metrics)] = list(_metric_name_problems(metrics))
        for key, message in found[id(metrics)]:
            yield path + (key,), message


def _metric_name_problems(metrics: BaseModel) -> Iterator[tuple[str, str]]:
    fields = type(metrics).model_fields  # (asking a model for a field it lacks takes pydantic's slow path)
    for key in ("requests_total", "duration_histogram", "last_success", "lag", "processed_total"):
        name = getattr(metrics, key) if key in fields else None
        if name is not None and not METRIC_NAME_RE.match(name):
            yield key, (f"{_short(name)} is not a Prometheus metric name: letters, digits, _ and :, "
                        "not starting with a digit (e.g. http_requests_total)")


def _check_recording_rules(spec: Spec, duplicates: frozenset[int] | None = None) -> Found:
    """A recorded series is one service's: its name clashes with no other service's recording nor with a
    name obsgen records itself, and one service records a series (a name and its labels) once."""
    thresholds: dict[str, Path] | None = None  # what custom thresholds record: asked for at the first rule
    owner: dict[str, tuple[str, Path]] = {}  # record -> (service, its first place)
    if duplicates is None:
        duplicates = _duplicates(spec)
    for i, svc in enumerate(spec.services):
        if i in duplicates:
            continue
        series: dict[tuple[str, tuple[tuple[str, str], ...]], Path] = {}
        for j, rr in enumerate(svc.recording_rules):
            path: Path = ("services", i, "recording_rules", j)
            for name in rr.labels:
                if name.startswith("__"):
                    yield path + ("labels", name), (
                        f"`{name}`: label names starting with __ are Prometheus' own (`__name__` is the "
                        "record's name); choose another label name")
            if rr.record.startswith("slo:"):
                yield path + ("record",), (
                    f"{rr.record!r}: `slo:` names are obsgen's SLO recordings (slo:sli_error:ratio_rate5m, "
                    "slo:objective:ratio, ...), which its dashboards and burn-rate alerts read by name; name this "
                    "one otherwise (level:metric:operations, e.g. job:http_errors:ratio_rate5m)")
                continue
            if thresholds is None:
                thresholds = {threshold_record(th.name): ("services", n, "thresholds", k, "name")
                              for n, other in enumerate(spec.services) for k, th in enumerate(other.thresholds)
                              if th.expr is not None and th.indicator is None and th.name}
            if rr.record in thresholds:
                yield path + ("record",), (
                    f"{rr.record!r} is what the threshold at {_fmt(thresholds[rr.record])} records its "
                    "expression as; name this one otherwise")
                continue
            first = owner.setdefault(rr.record, (svc.name, path + ("record",)))
            if first[0] != svc.name:
                yield path + ("record",), (
                    f"{rr.record!r} is recorded by the service {first[0]!r} already, at {_fmt(first[1])}: a "
                    "recorded series belongs to one service: record it there only, or name this one otherwise")
                continue
            key = (rr.record, tuple(sorted(rr.labels.items())))
            if key in series:
                yield path + ("record",), (
                    f"{rr.record!r} with {'these labels' if rr.labels else 'no labels'} is recorded at "
                    f"{_fmt(series[key])} already: both rules would write the same series (promtool's lint "
                    "refuses them); give one other labels, or drop it")
            else:
                series[key] = path + ("record",)


# Labels obsgen sets on every alert of a service, which its routing, inhibitions and tests follow
OWNED_ALERT_LABELS = {
    "severity": "each alert's level sets it (a threshold's warning and critical, an SLO's page and ticket)",
    "tier": "an SLO alert's page or ticket sets it", "slo": "an SLO's name sets it", "slo_id": "obsgen sets it",
    "service": "the service's name sets it", "alertname": "Prometheus sets it to the alert's name",
}
OWNED_FREE_ALERT_LABELS = ("severity", "service", "alertname")  # ... of those, the ones a free-form alert has
# ... and on every target of its scrape job, which every rule and dashboard selects by
OWNED_TARGET_LABELS = {"service": "the service's name", "team": "the service's `team`",
                       "job": "the scrape job's name", "instance": "the target's address"}


def _check_owned_labels(spec: Spec) -> Found:
    """Labels a spec may not set: replacing one would merge a warning and a critical rule into one, send
    every alert of a service elsewhere, or point every selector at series that do not exist."""
    for i, svc in enumerate(spec.services):
        base: Path = ("services", i)
        owned = [(base + ("labels",), svc.labels)] + [
            (base + ("alerts", j, "labels"), a.labels) for j, a in enumerate(svc.alerts)
        ] if svc.labels or svc.alerts else []  # (most services set no labels of their own)
        for path, labels in owned:
            for name in labels:
                # a free-form alert is no SLO alert: its own `tier` or `slo` label is the user's
                if name in OWNED_ALERT_LABELS and ("alerts" not in path or name in OWNED_FREE_ALERT_LABELS):
                    fix = "set the alert's `severity:` instead" if name == "severity" and "alerts" in path else \
                        "choose another label name"
                    yield path + (name,), f"`{name}` is obsgen's: {OWNED_ALERT_LABELS[name]}; {fix}"
            if "team" in labels and svc.team is not None and "alerts" not in path:
                yield path + ("team",), "`team` is set by the service's `team:`; set it there only"
        if svc.scrape is not None:
            for name in svc.scrape.labels:
                if name in OWNED_TARGET_LABELS:
                    yield base + ("scrape", "labels", name), (
                        f"`{name}` is set on every target by obsgen ({OWNED_TARGET_LABELS[name]}); the rules and "
                        "dashboards select by it; choose another label name")


def _slo_periods(spec: Spec) -> Iterator[tuple[Path, str]]:
    """Every SLO the spec renders, with its period and the place that sets it."""
    for i, svc in enumerate(spec.services):
        own = {slo.name for slo in svc.slos}
        for j, slo in enumerate(svc.slos):
            if slo.period:
                yield ("services", i, "slos", j, "period"), slo.period
            else:
                yield ("services", i, "slos", j), spec.defaults.slo_period
        cls = spec.slo_classes.get(svc.class_) if svc.class_ else None
        if svc.class_ and cls is not None and ({"availability", "latency"} - own) and (cls.availability or cls.latency):
            where: Path = ("slo_classes", svc.class_, "period") if cls.period else ("services", i, "class")
            yield where, cls.period or spec.defaults.slo_period


def _check_retention(spec: Spec) -> Found:
    """Prometheus must keep what an SLO's period reads: the budget of a 28d SLO over 7 days of data is wrong."""
    retention = spec.stack.prometheus.retention
    if retention is None or (kept := duration_seconds(retention)) <= 0:
        return  # unset: it follows the longest SLO period
    longest = max(_slo_periods(spec), key=lambda p: duration_seconds(p[1]), default=None)
    if longest is not None and duration_seconds(longest[1]) > kept:
        yield ("stack", "prometheus", "retention"), (
            f"Prometheus keeps {retention} of samples, and the SLO at {_fmt(longest[0])} is judged over "
            f"{longest[1]}: its period SLI and error budget would read only {retention}. Keep at least "
            f"{longest[1]}, or leave `retention` unset (it then follows the longest SLO period)")

