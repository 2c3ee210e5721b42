"""Alerts on the monitoring stack itself (prometheus/rules/_stack.yml) and the promtool tests that prove
them (prometheus/tests/_stack.test.yml), each alert's rule and its test cases side by side.

Every alert but the Watchdog gets a case where it fires, with its labels and expanded annotations
asserted, and one where it stays silent (healthy series, or a failure younger than its `for`). The input
series carry the label sets the real Prometheus and Alertmanager expose (`obsgen.real_series`, checked
against series captured from them) plus the job and instance prometheus.yml gives their scrape jobs, so an
expression that cannot match the real series fails its own generated test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from .. import real_series
from ..gotemplate import go_literal
from ..model import Model
from ..promql import quote, regex_literal
from ..units import duration_seconds, format_duration
from .prometheus_tests import expand

Rule = dict[str, Any]
Group = dict[str, Any]
TestGroup = dict[str, Any]

STEP = 60  # seconds between the samples of the input series
GROUP = "monitoring-stack"
# The file Prometheus is given the stack's rules as (compose and Kubernetes mount rules/ beside the config),
# so a failing group's rule_group label reads as it would there.
RULE_FILE = "/etc/prometheus/rules/_stack.yml"
STACK_JOBS = "STACK_JOBS"  # in an expression: the quoted regex of every scrape job of the stack


class StackAlert(NamedTuple):
    """One alert of the stack and the function building its test cases."""

    name: str  # as in the upstream mixins where they have one
    service: str  # the `service` label: the component it is about
    severity: str
    for_: str
    expr: str
    summary: str
    description: str
    cases: Callable[[Cases], list[TestGroup]]  # its generated test groups


class Cases:
    """What the test cases of one rendered stack are built from: its rules and its scrape jobs."""

    def __init__(self, model: Model, rules: Mapping[str, Rule], jobs: Mapping[str, str]):
        self.model, self.rules, self.jobs = model, rules, jobs
        # a margin past a `for` after which the alert fires whatever the evaluation interval
        self.settle = max(2 * STEP, 2 * int(duration_seconds(model.evaluation_interval)))

    def target(self, job: str) -> dict[str, str]:
        return {"job": job, "instance": self.jobs[job]}

    def series(self, metric: str, job: str, values: str, labels: Mapping[str, str] | None = None) -> dict[str, str]:
        body = {**self.target(job), **(labels or {})}
        return {"series": metric + "{" + ",".join(f"{k}={quote(v)}" for k, v in body.items()) + "}",
                "values": values}

    def expected(self, alert: str, labels: Mapping[str, str], value: float) -> dict[str, Any]:
        rule = self.rules[alert]
        annotations = {}
        for key, template in rule["annotations"].items():
            text = expand(template, value, dict(labels))
            assert text is not None, f"{alert}: cannot expand its {key}"
            annotations[key] = text
        return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}

    def fires_at(self, alert: str, true_from: int) -> int:
        """A time (seconds) at which the alert fires when its expression is true from `true_from` on."""
        return true_from + int(duration_seconds(self.rules[alert].get("for", "0s"))) + self.settle

    def pending_at(self, alert: str, true_from: int) -> int:
        """A time at which it is still pending: one step before its `for` has passed."""
        return true_from + int(duration_seconds(self.rules[alert]["for"])) - STEP

    @staticmethod
    def group(name: str, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> TestGroup:
        return {"name": name, "interval": format_duration(STEP), "input_series": series, "alert_rule_test": checks}

    @staticmethod
    def check(alert: str, at: int, exp_alerts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eval_time": format_duration(at), "alertname": alert, "exp_alerts": exp_alerts}

    def steps(self, alert: str, true_from: int) -> int:
        """How many samples after the first the input series need to reach fires_at."""
        return self.fires_at(alert, true_from) // STEP + 2


def _counter_failing(c: Cases, alert: str, metric: str, job: str, labels: dict[str, str], per_step: int,
                     silent_values: str, extra: list[dict[str, str]], value: float,
                     exp_labels: dict[str, str], what: str, healthy: str) -> list[TestGroup]:
    """The shape shared by the counter alerts: `metric` grows by per_step a step from the first sample
    (a rate is first seen one step in), next to `extra` series; and the same with `metric` flat."""
    n = c.steps(alert, STEP)
    rising = [c.series(metric, job, f"0+{per_step}x{n}", labels), *extra]
    flat = [c.series(metric, job, silent_values.format(n=n), labels), *extra]
    return [
        c.group(f"{alert}: fires once {what} for its `for`, silent before", rising, [
            c.check(alert, c.pending_at(alert, STEP), []),
            c.check(alert, c.fires_at(alert, STEP), [c.expected(alert, exp_labels, value)]),
        ]),
        c.group(f"{alert}: silent while {healthy}", flat, [c.check(alert, c.fires_at(alert, STEP), [])]),
    ]


def _gauge_zero(c: Cases, alert: str, metric: str, job: str, what: str) -> list[TestGroup]:
    """`max_over_time(metric[5m]) <op> ...` alerts on a 0/1 gauge: 1 for three samples, then 0. The
    5-minute window holds only zeros from five minutes after the last 1."""
    last_one = 2 * STEP
    true_from = last_one + 5 * 60
    n = c.steps(alert, true_from)
    labels = c.target(job)
    return [
        c.group(f"{alert}: fires when {what} stays 0 for its `for`, silent before",
                [c.series(metric, job, f"1x2 0x{n - 2}")], [
                    c.check(alert, c.pending_at(alert, true_from), []),
                    c.check(alert, c.fires_at(alert, true_from), [c.expected(alert, labels, 0.0)]),
                ]),
        c.group(f"{alert}: silent while {what} is 1", [c.series(metric, job, f"1x{n}")],
                [c.check(alert, c.fires_at(alert, true_from), [])]),
    ]


# --------------------------------------------------------------------------- the alerts and their cases


def _watchdog(c: Cases) -> list[TestGroup]:
    # No silent case: an expression that is always true has no input under which it is silent, and
    # firing always is its purpose (a dead man's switch notices it stopping).
    return [c.group("Watchdog always fires (it has no silent case: it exists to fire)", [],
                    [c.check("Watchdog", STEP, [c.expected("Watchdog", {}, 1.0)])])]


def _target_down(c: Cases) -> list[TestGroup]:
    alert = "MonitoringTargetDown"
    down_from = 3 * STEP
    n = c.steps(alert, down_from)
    jobs = sorted(c.jobs)
    down = [c.series("up", job, f"1x2 0x{n - 2}") for job in jobs]
    return [
        c.group(f"{alert}: fires for every scrape job of the stack that stops answering, silent before", down, [
            c.check(alert, c.pending_at(alert, down_from), []),
            c.check(alert, c.fires_at(alert, down_from), [c.expected(alert, c.target(job), 0.0) for job in jobs]),
        ]),
        c.group(f"{alert}: silent while every scrape job of the stack answers",
                [c.series("up", job, f"1x{n}") for job in jobs], [c.check(alert, c.fires_at(alert, down_from), [])]),
    ]


def _rule_failures(c: Cases) -> list[TestGroup]:
    alert = "PrometheusRuleFailures"
    labels = real_series.label_sets("prometheus_rule_evaluation_failures_total", rule_file=RULE_FILE, group=GROUP)[0]
    # one failure a minute: increase over 5m is 4 between the five samples in the window, extrapolated
    # by a step to the window's start (Prometheus' extrapolation of increase()): 5
    return _counter_failing(c, alert, "prometheus_rule_evaluation_failures_total", "prometheus", labels, 1,
                            "0x{n}", [], 5.0, {**c.target("prometheus"), **labels},
                            "a rule group fails every minute", "no rule evaluation fails")


def _config_reload(c: Cases) -> list[TestGroup]:
    return _gauge_zero(c, "PrometheusConfigReloadFailed", "prometheus_config_last_reload_successful", "prometheus",
                       "the last reload's success")


def _no_alertmanagers(c: Cases) -> list[TestGroup]:
    return _gauge_zero(c, "PrometheusNotConnectedToAlertmanagers", "prometheus_notifications_alertmanagers_discovered",
                       "prometheus", "the number of discovered Alertmanagers")


def _notifications_failing(c: Cases) -> list[TestGroup]:
    alert = "PrometheusNotificationsFailing"
    # both counters carry `alertmanager`: the URL Prometheus posts to
    labels = real_series.label_sets("prometheus_notifications_errors_total", alertmanager=c.jobs["alertmanager"])[0]
    sent = real_series.label_sets("prometheus_notifications_sent_total", alertmanager=c.jobs["alertmanager"])[0]
    n = c.steps(alert, STEP)
    return _counter_failing(c, alert, "prometheus_notifications_errors_total", "prometheus", labels, 1,
                            "0x{n}", [c.series("prometheus_notifications_sent_total", "prometheus", f"0+10x{n}", sent)],
                            0.1, {**c.target("prometheus"), **labels},
                            "one alert in ten fails to reach the Alertmanager", "every alert reaches it")


def _am_config_reload(c: Cases) -> list[TestGroup]:
    return _gauge_zero(c, "AlertmanagerConfigReloadFailed", "alertmanager_config_last_reload_successful",
                       "alertmanager", "the last reload's success")


def _am_notifications_failing(c: Cases) -> list[TestGroup]:
    alert = "AlertmanagerNotificationsFailing"
    failing, *others = real_series.label_sets("alertmanager_notifications_failed_total")
    total = real_series.label_sets("alertmanager_notifications_total")[0]
    n = c.steps(alert, STEP)
    # Alertmanager exposes a failure counter per reason from the start; only the failing one grows
    extra = [c.series("alertmanager_notifications_failed_total", "alertmanager", f"0x{n}", r) for r in others]
    extra.append(c.series("alertmanager_notifications_total", "alertmanager", f"0+10x{n}", total))
    return _counter_failing(c, alert, "alertmanager_notifications_failed_total", "alertmanager", failing, 5,
                            "0x{n}", extra, 0.5, {**c.target("alertmanager"), **failing},
                            "half the notifications of an integration fail", "every notification is delivered")


STACK_ALERTS: tuple[StackAlert, ...] = (
    StackAlert("Watchdog", "prometheus", "info", "0s", "vector(1)",
               "Always firing: proves the whole alerting pipeline works.",
               "This alert always fires. If it stops arriving, Prometheus or Alertmanager is broken.",
               _watchdog),
    # every scrape job obsgen renders for the stack, its components and exporters, named one by one from
    # the rendered scrape configs (`prometheus.stack_jobs`), so a new one cannot be left out
    StackAlert("MonitoringTargetDown", "prometheus", "warning", "5m",
               f"up{{job=~{STACK_JOBS}}} == 0",
               "A component of the monitoring stack is down.",
               "{{ $labels.job }} at {{ $labels.instance }} has not answered scrapes for 5 minutes.",
               _target_down),
    StackAlert("PrometheusRuleFailures", "prometheus", "critical", "15m",
               "increase(prometheus_rule_evaluation_failures_total[5m]) > 0",
               "Prometheus is failing to evaluate rules.",
               "{{ $value | humanize }} rule evaluations failed in rule group {{ $labels.rule_group }}.",
               _rule_failures),
    StackAlert("PrometheusConfigReloadFailed", "prometheus", "warning", "10m",
               "max_over_time(prometheus_config_last_reload_successful[5m]) == 0",
               "Prometheus could not reload its configuration.",
               "The last configuration reload of {{ $labels.instance }} failed.",
               _config_reload),
    StackAlert("PrometheusNotConnectedToAlertmanagers", "prometheus", "warning", "10m",
               "max_over_time(prometheus_notifications_alertmanagers_discovered[5m]) < 1",
               "Prometheus is not connected to any Alertmanager.",
               "{{ $labels.instance }} has discovered no Alertmanager to send alerts to.",
               _no_alertmanagers),
    # errors and sent both carry `alertmanager` (and nothing else): one-to-one matching is right
    StackAlert("PrometheusNotificationsFailing", "prometheus", "critical", "15m",
               "rate(prometheus_notifications_errors_total[5m]) / rate(prometheus_notifications_sent_total[5m]) > 0.01",
               "Prometheus fails to send alerts to Alertmanager.",
               "{{ $value | humanizePercentage }} of alerts sent by {{ $labels.instance }} to "
               "{{ $labels.alertmanager }} failed.",
               _notifications_failing),
    StackAlert("AlertmanagerConfigReloadFailed", "alertmanager", "critical", "10m",
               "max_over_time(alertmanager_config_last_reload_successful[5m]) == 0",
               "Alertmanager could not reload its configuration.",
               "The last configuration reload of {{ $labels.instance }} failed.",
               _am_config_reload),
    # the failures carry `reason`, the total does not: each reason is divided by its integration's total
    # (as the upstream alertmanager mixin does)
    StackAlert("AlertmanagerNotificationsFailing", "alertmanager", "critical", "5m",
               "rate(alertmanager_notifications_failed_total[5m]) / ignoring (reason) group_left "
               "rate(alertmanager_notifications_total[5m]) > 0.01",
               "Alertmanager fails to deliver notifications.",
               "{{ $value | humanizePercentage }} of notifications to {{ $labels.integration }} failed.",
               _am_notifications_failing),
)


def stack_rule_groups(model: Model, jobs: Iterable[str]) -> list[Group]:
    """The stack's rule group. `jobs`: the scrape jobs prometheus.yml renders for the stack's components and
    exporters (not the blackbox probes: their `up` is the exporter's), which MonitoringTargetDown watches."""
    stack_jobs = quote("|".join(regex_literal(j) for j in jobs))
    rules: list[Rule] = []
    for a in STACK_ALERTS:
        rule: Rule = {"alert": a.name, "expr": a.expr.replace(STACK_JOBS, stack_jobs)}
        if a.for_ != "0s":
            rule["for"] = a.for_
        rule["labels"] = {"severity": a.severity, "service": a.service}
        rule["annotations"] = {"summary": a.summary, "description": a.description}
        if model.spec.project.runbook_url:
            rule["annotations"]["runbook_url"] = go_literal(  # annotations are templates; the link is literal
                model.spec.project.runbook_url.replace("{service}", a.service).replace("{alert}", a.name))
        rules.append(rule)
    return [{"name": GROUP, "rules": rules}]


def stack_tests(model: Model, jobs: Mapping[str, str]) -> dict[str, Any]:
    """The promtool test file of the stack's rules. `jobs`: the scrape jobs prometheus.yml renders for the
    stack's components and exporters, each with the address of its (first) target; it must hold
    `prometheus` and `alertmanager`."""
    rules = {r["alert"]: r for g in stack_rule_groups(model, jobs) for r in g["rules"]}
    cases = Cases(model, rules, jobs)
    return {
        "rule_files": ["../rules/_stack.yml"],
        "evaluation_interval": model.evaluation_interval,
        "tests": [group for a in STACK_ALERTS for group in a.cases(cases)],
    }
