"""Generated promtool unit tests: proof that each threshold alert fires warning, then critical, and stays
silent inside its target.

For every threshold the generator synthesizes input series whose value is known (counters whose rates
give a chosen error ratio, histograms whose quantile lands between two thresholds, or the recorded value
of a custom expression) and states which alerts must be firing. promtool compares annotations too, so
the expected descriptions are expanded here with Python ports of Prometheus' humanize functions.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from .. import slo
from ..model import QUANTILES, Model, ServiceModel, ThresholdModel
from ..naming import health_alert, service_down_alert
from ..units import duration_seconds, fmt, format_duration

STEP = 60  # seconds between synthesized samples
REQUESTS_PER_STEP = Decimal(6000)  # 100 requests/s
TestGroup = dict[str, Any]


def service_tests(model: Model, svc: ServiceModel) -> dict[str, Any]:
    tests: list[TestGroup] = []
    tests.extend(_down_tests(svc))
    for th in svc.thresholds:
        tests.extend(threshold_tests(svc, th))
    tests.extend(slo.test_cases(model, svc))
    return {
        "rule_files": [f"../rules/{svc.name}.yml"],
        "evaluation_interval": model.evaluation_interval,
        "tests": tests,
    }


# --------------------------------------------------------------------------- Go template functions


def _go_g(v: float) -> str:
    """Go's `%.4g` (same as C's for finite numbers)."""
    return f"{v:.4g}"


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _go_g(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _go_g(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _go_g(v) + prefix


def humanize_percentage(v: float) -> str:
    return _go_g(v * 100) + "%"


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _go_g(v)
    if v == 0:
        return _go_g(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _go_g(v) + prefix + "s"


_FUNCS = {"": lambda v: repr(v) if v != int(v) else str(int(v)), "humanize": humanize,
          "humanizePercentage": humanize_percentage, "humanizeDuration": humanize_duration}
_TEMPLATE_RE = re.compile(r"{{\s*(\$value|\$labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*(?:\|\s*(\w+)\s*)?}}")


def expand(template: str, value: float, labels: dict[str, str]) -> str | None:
    """Expand the template forms obsgen generates; None when the text uses anything else."""
    def sub(m: re.Match[str]) -> str:
        if m.group(2):
            return labels.get(m.group(2), "")
        func = _FUNCS.get(m.group(3) or "")
        if func is None:
            raise KeyError(m.group(3))
        return func(value)

    try:
        out = _TEMPLATE_RE.sub(sub, template)
    except KeyError:
        return None
    return None if "{{" in out else out


# --------------------------------------------------------------------------- synthesized input


def _series(metric: str, labels: dict[str, str], per_step: Decimal, steps: int) -> dict[str, str]:
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{sel}}}", "values": f"0+{fmt(per_step)}x{steps}"}


def _status_values(svc: ServiceModel) -> tuple[str, str] | None:
    """A status that counts as an error and one that does not, under the service's conventions."""
    pattern = re.compile(svc.metrics.error_status)
    bad = next((s for s in ("500", "503", "5xx", "error", "ERROR", "failure", "false") if pattern.fullmatch(s)), None)
    good = next((s for s in ("200", "204", "2xx", "ok", "success", "true") if not pattern.fullmatch(s)), None)
    return (bad, good) if bad and good else None


def _job_labels(svc: ServiceModel) -> dict[str, str]:
    return {"job": svc.job, "instance": f"{svc.name}:8080"}


def _input(svc: ServiceModel, th: ThresholdModel, value: Decimal, steps: int) -> tuple[list[dict[str, str]], float] | None:
    """Input series that make the threshold's expression evaluate to about `value`, and the exact value."""
    labels = _job_labels(svc)
    status = svc.metrics.status_label
    if th.indicator in ("error_rate", "availability"):
        statuses = _status_values(svc)
        if statuses is None:
            return None
        bad, good = statuses
        error_ratio = value if th.indicator == "error_rate" else 1 - value
        errors = REQUESTS_PER_STEP * error_ratio
        return ([_series(svc.metrics.requests_total, {**labels, status: bad}, errors, steps),
                 _series(svc.metrics.requests_total, {**labels, status: good}, REQUESTS_PER_STEP - errors, steps)],
                float(value))
    if th.indicator == "request_rate":
        return ([_series(svc.metrics.requests_total, {**labels, status: "200"}, value * STEP, steps)], float(value))
    if th.indicator in QUANTILES:
        return _histogram_input(svc, th, value, steps)
    # custom expression: feed the recorded value; the raw metrics are absent so the rule records nothing
    sel = ",".join(f'{k}="{v}"' for k, v in {"service": svc.name}.items())
    return ([{"series": f"{th.record}{{{sel}}}", "values": f"{fmt(value)}x{steps}"}], float(value))


def _histogram_input(svc: ServiceModel, th: ThresholdModel, value: Decimal,
                     steps: int) -> tuple[list[dict[str, str]], float]:
    """All observations fall in one bucket (lo, hi] with lo <= value < hi, so the quantile is
    lo + (hi - lo) * q: inside the phase the test wants, and computable here exactly."""
    q = Decimal(QUANTILES[th.indicator or ""])
    levels = sorted({v for v in (th.target, th.warning, th.critical) if v is not None})
    lo = max((lv for lv in levels if lv < value), default=Decimal(0))
    hi = min((lv for lv in levels if lv >= value), default=max(levels) * 2)
    bounds = sorted({b for b in (lo, hi, hi * 2) if b > 0})
    series = []
    for b in bounds + [None]:
        count = REQUESTS_PER_STEP if b is None or b >= hi else Decimal(0)
        le = "+Inf" if b is None else _le(b)
        series.append(_series(svc.histogram("bucket").split("{")[0], {**_job_labels(svc), "le": le}, count, steps))
    return series, float(lo) + (float(hi) - float(lo)) * float(q)


def _le(v: Decimal) -> str:
    text = fmt(v)
    return text if "." in text else text + ".0"


def _phase_values(th: ThresholdModel) -> dict[str, Decimal]:
    """A value inside the target, one between warning and critical, one past critical."""
    above = th.direction == "above"
    levels = [v for _, v in th.levels()]
    first, last = levels[0], levels[-1]

    def beyond(v: Decimal) -> Decimal:
        if th.kind == "ratio":  # stays a ratio: never past 100% (or below 0%)
            return min(v * Decimal("1.5"), (v + 1) / 2) if above else v / 2
        if v == 0:
            return Decimal(1) if above else Decimal(-1)
        return v * Decimal("1.5") if above else v / 2

    ok = th.target if th.target is not None else (first / 2 if above else first * 2) if first else (
        first - 1 if above else first + 1)
    phases = {"ok": ok}
    if th.warning is not None:
        phases["warning"] = (th.warning + th.critical) / 2 if th.critical is not None else beyond(th.warning)
    if th.critical is not None:
        phases["critical"] = beyond(th.critical)
    else:
        phases["critical"] = beyond(last)  # only a warning level: "critical" phase just fires the warning
    return phases


def threshold_tests(svc: ServiceModel, th: ThresholdModel) -> list[TestGroup]:
    if th.indicator in QUANTILES and th.direction != "above":
        return []
    # rate() needs two samples, so a rate is first true one step in; then each level's `for` must pass
    first_true = 0 if th.record else STEP
    fires_at = {sev: first_true + int(duration_seconds(th.for_of(sev))) for sev, _ in th.levels()}
    eval_at = max(fires_at.values()) + 2 * STEP
    steps = eval_at // STEP + 5
    tests: list[TestGroup] = []
    for phase, value in _phase_values(th).items():
        made = _input(svc, th, value, steps)
        if made is None:
            return []
        series, actual = made
        expected: dict[str, dict[str, Any]] = {}
        for severity, level in th.levels():
            crossed = actual > float(level) if th.direction == "above" else actual < float(level)
            if not crossed:
                continue
            labels = {"severity": severity, **svc.labels}
            if th.record:
                labels = {**labels, "service": svc.name}
            annotations = {"summary": th.summary}
            description = expand(th.description, actual, labels)
            if description is None:
                return []  # a hand-written description this generator cannot expand
            annotations["description"] = description
            if th.runbook_url:
                annotations["runbook_url"] = th.runbook_url
            if svc.dashboard_url:
                annotations["dashboard_url"] = svc.dashboard_url
            expected[severity] = {"exp_labels": labels, "exp_annotations": annotations}
        checks = []
        for sev in sorted(expected, key=fires_at.__getitem__):
            if fires_at[sev] - first_true >= STEP:
                # not before its `for` has passed: one step earlier only the faster levels fire
                t = fires_at[sev] - STEP
                checks.append({"eval_time": format_duration(t), "alertname": th.alert,
                               "exp_alerts": [e for s, e in expected.items() if fires_at[s] <= t]})
        checks.append({"eval_time": format_duration(eval_at), "alertname": th.alert,
                       "exp_alerts": list(expected.values())})
        what = {"ok": "stays silent inside the target", "warning": "fires warning only",
                "critical": "fires critical (and warning)"}[phase]
        if phase == "critical" and th.critical is None:
            what = "fires warning well past its level"
        tests.append({
            "name": f"{th.alert}: {what} at {_shown(th, actual)}",
            "interval": format_duration(STEP),
            "input_series": series,
            "alert_rule_test": checks,
        })
    return tests


def _shown(th: ThresholdModel, v: float) -> str:
    if th.kind == "ratio":
        return humanize_percentage(v)
    if th.kind == "duration":
        return humanize_duration(v)
    return humanize(v)


def _down_tests(svc: ServiceModel) -> list[TestGroup]:
    tests: list[TestGroup] = []
    cases = []
    if svc.scrape:
        labels = _job_labels(svc)
        cases.append((service_down_alert(svc.name), "up", labels))
    if svc.health:
        cases.append((health_alert(svc.name), "probe_success",
                      {"job": "blackbox-http", "service": svc.name, "instance": svc.health.http}))
    down_for = svc.down_for
    fails_at = 5 * STEP  # up for five samples, then down
    fires_at = fails_at + int(duration_seconds(down_for))
    for alert, metric, labels in cases:
        sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
        exp_labels = {**labels, "severity": "critical", **svc.labels}
        rules_annotations = _down_annotations(svc, alert, labels)
        checks: list[dict[str, Any]] = [
            {"eval_time": format_duration(fails_at - STEP), "alertname": alert, "exp_alerts": []}]
        if fires_at - STEP > fails_at:
            checks.append({"eval_time": format_duration(fires_at - STEP), "alertname": alert, "exp_alerts": []})
        checks.append({"eval_time": format_duration(fires_at + STEP), "alertname": alert,
                       "exp_alerts": [{"exp_labels": exp_labels, "exp_annotations": rules_annotations}]})
        what = "scrapes" if metric == "up" else "probes"
        tests.append({
            "name": f"{alert}: fires after {down_for} of failed {what}, silent while up",
            "interval": format_duration(STEP),
            "input_series": [{"series": f"{metric}{{{sel}}}",
                              "values": f"1x4 0x{(fires_at - fails_at) // STEP + 3}"}],
            "alert_rule_test": checks,
        })
    return tests


def _down_annotations(svc: ServiceModel, alert: str, labels: dict[str, str]) -> dict[str, str]:
    from .prometheus import service_down_rules  # here, not at the top: prometheus.py imports this module

    rule = next(r for r in service_down_rules(svc) if r["alert"] == alert)
    out = {}
    for k, v in rule["annotations"].items():
        expanded = expand(v, 0.0, labels)
        assert expanded is not None
        out[k] = expanded
    return out


def stack_tests(model: Model) -> dict[str, Any]:
    from .prometheus import stack_rule_groups  # here, not at the top: prometheus.py imports this module

    rules = {r["alert"]: r for g in stack_rule_groups(model) for r in g["rules"]}

    def expected(alert: str, labels: dict[str, str], value: float) -> dict[str, Any]:
        rule = rules[alert]
        annotations = {k: expand(v, value, labels) for k, v in rule["annotations"].items()}
        return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}

    prom = {"job": "prometheus", "instance": "localhost:9090"}
    am = {"job": "alertmanager", "instance": "alertmanager:9093"}
    return {
        "rule_files": ["../rules/_stack.yml"],
        "evaluation_interval": model.evaluation_interval,
        "tests": [
            {"name": "Watchdog always fires",
             "interval": "1m", "input_series": [],
             "alert_rule_test": [{"eval_time": "1m", "alertname": "Watchdog",
                                  "exp_alerts": [expected("Watchdog", {}, 1.0)]}]},
            {"name": "A stack component that stops answering scrapes fires after 5m",
             "interval": "1m",
             "input_series": [{"series": 'up{job="loki",instance="loki:3100"}', "values": "1x2 0x10"}],
             "alert_rule_test": [
                 {"eval_time": "5m", "alertname": "MonitoringTargetDown", "exp_alerts": []},
                 {"eval_time": "9m", "alertname": "MonitoringTargetDown",
                  "exp_alerts": [expected("MonitoringTargetDown", {"job": "loki", "instance": "loki:3100"}, 0.0)]},
             ]},
            {"name": "A failed Prometheus config reload fires after 10m",
             "interval": "1m",
             "input_series": [{"series": 'prometheus_config_last_reload_successful{job="prometheus",instance="localhost:9090"}',
                               "values": "0x20"}],
             "alert_rule_test": [
                 {"eval_time": "16m", "alertname": "PrometheusConfigReloadFailed",
                  "exp_alerts": [expected("PrometheusConfigReloadFailed", prom, 0.0)]},
             ]},
            {"name": "Alertmanager failing half its notifications fires after 5m",
             "interval": "1m",
             "input_series": [
                 {"series": 'alertmanager_notifications_failed_total{job="alertmanager",instance="alertmanager:9093",integration="slack"}',
                  "values": "0+5x15"},
                 {"series": 'alertmanager_notifications_total{job="alertmanager",instance="alertmanager:9093",integration="slack"}',
                  "values": "0+10x15"},
             ],
             "alert_rule_test": [
                 {"eval_time": "10m", "alertname": "AlertmanagerNotificationsFailing",
                  "exp_alerts": [expected("AlertmanagerNotificationsFailing", {**am, "integration": "slack"}, 0.5)]},
             ]},
        ],
    }
