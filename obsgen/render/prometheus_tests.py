"""Generated promtool unit tests: proof that each threshold alert fires warning, then critical, and stays
silent inside its target.

For every threshold the generator synthesizes input series whose value is known (counters whose rates
give a chosen error ratio, histograms whose quantile lands between two thresholds, or the recorded value
of a custom expression) and states which alerts must be firing. promtool compares annotations too, so
the expected descriptions are expanded here with Python ports of Prometheus' humanize functions.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .. import coverage, label_values, slo
from ..model import QUANTILES, THRESHOLD_RATE_WINDOW, Model, ServiceModel, ThresholdModel
from ..naming import batch_failed_alert, batch_stale_alert
from ..promql import quote
from ..spec.expressions import parse_promql, value_type
from ..spec.models import Alert
from ..units import duration_seconds, fmt, format_duration

STEP = 60  # seconds between synthesized samples
MAX_TESTED_FOR = 6 * 3600  # a threshold held longer gets no generated test (see threshold_gap)
REQUESTS_PER_STEP = Decimal(6000)  # 100 requests/s
TestGroup = dict[str, Any]


def service_tests(model: Model, svc: ServiceModel) -> dict[str, Any]:
    tests: list[TestGroup] = []
    tests.extend(_down_tests(svc))
    tests.extend(batch_tests(model, svc))
    for th in svc.thresholds:
        tests.extend(threshold_tests(svc, th))
    for a in svc.alerts:
        tests.extend(free_alert_tests(svc, a))
    tests.extend(slo.test_cases(model, svc))
    data: dict[str, Any] = {"rule_files": [f"../rules/{svc.name}.yml"], "evaluation_interval": model.evaluation_interval}
    if svc.recording_rules:
        data["group_eval_order"] = group_eval_order(model, svc)
    data["tests"] = tests
    return data


def group_eval_order(model: Model, svc: ServiceModel) -> list[str]:
    """Every group of the service's rule file, its free recordings first: promtool evaluates the groups of
    one step in a random order unless told (a group left out of the list shares the first one's place), and
    an alert reading a recording would then see this step's value or the last one's, firing a step apart
    from one run to the next. This is the order a remote ruler keeps too (recordings, then the alerts)."""
    from .prometheus import recordings_group, service_rule_groups  # here: prometheus.py imports this module

    first = recordings_group(svc)
    return [first] + [g["name"] for g in service_rule_groups(model, svc) if g["name"] != first]


COVERAGE_MEMO = "service-coverage"  # model.memo's (key, service name): what service_coverage counted


def service_coverage(model: Model, svc: ServiceModel, groups: list[dict[str, Any]] | None = None,
                     tests: dict[str, Any] | None = None) -> list[coverage.Proof]:
    """Which alerts of the service's rule file its generated tests prove (`obsgen.coverage`). Counted once
    per model: the Prometheus renderer passes the data it has just built, the proof renderer reads that."""
    key = (COVERAGE_MEMO, svc.name)
    if key not in model.memo:
        from .prometheus import service_rule_groups  # here: prometheus.py imports this module

        rules = coverage.alert_rules({f"prometheus/rules/{svc.name}.yml":
                                      groups if groups is not None else service_rule_groups(model, svc)})
        model.memo[key] = coverage.proofs(rules, {f"prometheus/tests/{svc.name}.test.yml":
                                                  tests if tests is not None else service_tests(model, svc)})
    found: list[coverage.Proof] = model.memo[key]
    return found


# --------------------------------------------------------------------------- Go template functions


def _go_g(v: float) -> str:
    """Go's `%.4g` (same as C's for finite numbers)."""
    return f"{v:.4g}"


def go_value(v: float) -> str:
    """How Go prints a float64 with `%v` (`{{ $value }}`): the shortest digits that read back exactly, in
    exponent form from 1e+06 up or below 1e-04 (strconv's 'g' with precision -1)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(digits) + exponent - 1  # of the first digit
    head = "-" if sign else ""
    if exp < -4 or exp >= 6:  # eprec 6 for the shortest precision
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{head}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{head}0.{'0' * (-exp - 1)}{text}"
    whole = text[:exp + 1].ljust(exp + 1, "0")
    frac = text[exp + 1:]
    return head + whole + ("." + frac if frac else "")


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


_FUNCS = {"": go_value, "humanize": humanize,
          "humanizePercentage": humanize_percentage, "humanizeDuration": humanize_duration}
_TEMPLATE_RE = re.compile(r"{{\s*(\$value|\$labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*(?:\|\s*(\w+)\s*)?}}"
                          r'|{{ "((?:[^"\\]|\\.)*)" }}')  # a string constant: how literal `{{` is written


def expand(template: str, value: float, labels: dict[str, str]) -> str | None:
    """Expand the template forms obsgen generates; None when the text uses anything else."""
    def sub(m: re.Match[str]) -> str:
        if m.group(4) is not None:
            return str(json.loads(f'"{m.group(4)}"'))
        if m.group(2):
            return labels.get(m.group(2), "")
        func = _FUNCS.get(m.group(3) or "")
        if func is None:
            raise KeyError(m.group(3))
        return func(value)

    out, end = [], 0
    try:
        for m in _TEMPLATE_RE.finditer(template):
            out += [template[end:m.start()], sub(m)]
            end = m.end()
    except KeyError:
        return None
    out.append(template[end:])
    # any other action between the ones expanded: not a form this knows
    return None if any("{{" in text for text in out[::2]) else "".join(out)


# --------------------------------------------------------------------------- synthesized input


def _series(metric: str, labels: dict[str, str], per_step: Decimal, steps: int) -> dict[str, str]:
    return {"series": _series_name(metric, tuple(labels.items())), "values": _counter_values(per_step, steps)}


# the phases of a threshold's tests feed the same series (and a fleet's thresholds the same counts)
@lru_cache(maxsize=4096)
def _series_name(metric: str, labels: tuple[tuple[str, str], ...]) -> str:
    sel = ",".join(f"{k}={quote(v)}" for k, v in labels)
    return f"{metric}{{{sel}}}"


@lru_cache(maxsize=4096)
def _counter_values(per_step: Decimal, steps: int) -> str:
    return f"0+{fmt(per_step)}x{steps}"


def _status_values(svc: ServiceModel) -> tuple[str, str] | None:
    """A status that counts as an error and one that does not, under the service's conventions
    (HTTP codes, gRPC codes, or whatever the `error_status` regex reads)."""
    try:
        bad = label_values.matching(svc.metrics.error_status)
        good = label_values.not_matching(svc.metrics.error_status)
        if svc.kind == "grpc" and not label_values.fullmatch(svc.metrics.error_status, "OK"):
            good = "OK"  # the code the interceptors count a success under
    except ValueError:
        return None
    return (bad, good) if bad and good is not None else None


def _good_status(svc: ServiceModel) -> str:
    """The status of the series a request-rate test feeds: a success."""
    if svc.kind == "grpc":
        statuses = _status_values(svc)
        return statuses[1] if statuses else "OK"
    return "200"


def _input(svc: ServiceModel, th: ThresholdModel, value: Decimal, steps: int) -> tuple[list[dict[str, str]], float] | None:
    """Input series that make the threshold's expression evaluate to about `value`, and the exact value."""
    labels = svc.request_labels()
    status = svc.metrics.status_label
    if th.indicator == "consumer_lag":
        assert svc.consumer is not None
        sel = ",".join(f"{k}={quote(v)}" for k, v in svc.scraped_labels().items())
        return [{"series": f"{svc.consumer.lag}{{{sel}}}", "values": f"{fmt(value)}x{steps}"}], float(value)
    if th.indicator == "throughput":
        assert svc.consumer is not None
        return ([_series(svc.consumer.processed_total, svc.scraped_labels(), value * STEP, steps)], float(value))
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
        return ([_series(svc.metrics.requests_total, {**labels, status: _good_status(svc)}, value * STEP, steps)],
                float(value))
    if th.indicator in QUANTILES:
        return _histogram_input(svc, th, value, steps)
    # custom expression: feed the recorded value; the raw metrics are absent so the rule records nothing
    sel = ",".join(f"{k}={quote(v)}" for k, v in {"service": svc.name}.items())
    return ([{"series": f"{th.record}{{{sel}}}", "values": f"{fmt(value)}x{steps}"}], float(value))


def _histogram_input(svc: ServiceModel, th: ThresholdModel, value: Decimal,
                     steps: int) -> tuple[list[dict[str, str]], float]:
    """All observations fall in one bucket (lo, hi] with lo <= value < hi, so the quantile is
    lo + (hi - lo) * q: inside the phase the test wants, and computable here exactly."""
    lo, hi, bounds, actual = _bucket(th, value)
    series = []
    metric, labels = svc.histogram("bucket").split("{")[0], svc.request_labels(histogram=True)
    for b in bounds + [None]:
        count = REQUESTS_PER_STEP if b is None or b >= hi else Decimal(0)
        le = "+Inf" if b is None else _le(b)
        series.append(_series(metric, {**labels, "le": le}, count, steps))
    return series, actual


def _bucket(th: ThresholdModel, value: Decimal) -> tuple[Decimal, Decimal, list[Decimal], float]:
    """`_histogram_input`'s bucket (lo, hi], the bounds it feeds, and the quantile they make."""
    q = Decimal(QUANTILES[th.indicator or ""])
    levels = sorted({v for v in (th.target, th.warning, th.critical) if v is not None})
    lo = max((lv for lv in levels if lv < value), default=Decimal(0))
    hi = min((lv for lv in levels if lv >= value), default=max(levels) * 2)
    bounds = sorted({b for b in (lo, hi, hi * 2) if b > 0})
    return lo, hi, bounds, float(lo) + (float(hi) - float(lo)) * float(q)


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

    if th.target is not None:
        ok = th.target
    elif th.kind == "ratio":  # halfway to 0% or to 100%: a level at 0% (100%) is silent at exactly 0% (100%)
        ok = first / 2 if above else (first + 1) / 2
    else:
        ok = (first / 2 if above else first * 2) if first else (first - 1 if above else first + 1)
    phases = {"ok": ok}
    if th.warning is not None:
        phases["warning"] = (th.warning + th.critical) / 2 if th.critical is not None else beyond(th.warning)
    if th.critical is not None:
        phases["critical"] = beyond(th.critical)
    else:
        phases["critical"] = beyond(last)  # only a warning level: "critical" phase just fires the warning
    return phases


def threshold_gap(svc: ServiceModel, th: ThresholdModel) -> str | None:
    """Why a threshold alert gets no generated tests (None when it gets them)."""
    if th.indicator in ("error_rate", "availability") and _status_values(svc) is None:
        m = svc.metrics
        try:
            label_values.matching(m.error_status)
        except ValueError as e:
            return f"obsgen cannot read `error_status: {m.error_status}` to make error series: {e}"
        return (f"no value of `{m.status_label}` both matches and fails `error_status: {m.error_status}`, so "
                "obsgen cannot make error and success series for it")
    longest = max((duration_seconds(th.for_of(sev)) for sev, _ in th.levels()), default=0)
    if longest > MAX_TESTED_FOR:
        return (f"its `for` of {format_duration(int(longest))} is longer than {format_duration(MAX_TESTED_FOR)}: "
                "promtool would evaluate every rule of the file at each step of that span, minutes of CI per "
                "test; prove it with a free-form alert's `tests:` over a shorter `for`, or accept it under "
                "`proof.accept_unproven`")
    if th.record and yields_without_series(th.expr or ""):
        return ("its expression has a value even when its series are absent (vector(), absent(), a date "
                "function of no argument, or no series at all), so the recording rule would clash with the recorded value the tests feed; "
                "write it as a free-form alert with `tests:`, or accept it under `proof.accept_unproven`")
    return None


# Functions whose result is a vector without any input series, whatever their argument.
_FROM_NOTHING_CALLS = {"vector", "absent", "absent_over_time"}


def yields_without_series(expr: str) -> bool:
    """Whether `expr` can have a value when none of its series exist: then a recording rule of it writes
    a sample of its own, which a test cannot feed beside. Errs on the side of yes.

    Read from the expression's tree: a number or any scalar has a value (recorded alone it is a sample);
    vector(), absent() and the date functions of no argument (they read vector(time())) yield one; an
    aggregation or function yields where its series argument does; `a or b` where either side does,
    `a unless b` where `a` does, `a and b` and arithmetic of two vectors where both sides do, a vector
    compared or combined with a number where the vector does.
    """
    parsed = parse_promql(expr)
    if parsed is None:  # validate refuses it; read it as text
        return _lexically_from_nothing(expr)
    pp, tree = parsed
    try:
        return _from_nothing(pp, tree)
    except RecursionError:  # deeper than validate lets through: yes
        return True


def _from_nothing(pp: Any, node: Any) -> bool:
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr, pp.AggregateExpr)):
        return _from_nothing(pp, node.expr)
    if isinstance(node, (pp.VectorSelector, pp.MatrixSelector, pp.StringLiteral)):
        return False
    if value_type(pp, node) == "scalar":
        return True
    if isinstance(node, pp.Call):
        if node.func.name in _FROM_NOTHING_CALLS or not node.args:
            return True
        series = [a for a in node.args if value_type(pp, a) in ("vector", "matrix")]
        return any(_from_nothing(pp, a) for a in series)
    if isinstance(node, pp.BinaryExpr):
        op = str(node.op).lower()
        lhs, rhs = _from_nothing(pp, node.lhs), _from_nothing(pp, node.rhs)
        if op == "or":
            return lhs or rhs
        if op == "unless":
            return lhs
        kinds = (value_type(pp, node.lhs), value_type(pp, node.rhs))
        if "scalar" in kinds:  # vector op scalar: the vector decides
            return lhs if kinds[0] != "scalar" else rhs
        return lhs and rhs
    return True  # a node this reading does not know: yes


# The lexical reading of text that does not parse: functions whose result is a vector without any input
# series, and the words of PromQL that are not metric names.
_FROM_NOTHING = re.compile(r"\b(?:vector|absent|absent_over_time)\s*\(|"
                           r"\b(?:year|month|day_of_month|day_of_week|day_of_year|days_in_month|hour|minute)\s*\(\s*\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "atan2", "inf", "nan"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def _lexically_from_nothing(expr: str) -> bool:
    bare = _STRINGS.sub('""', expr)
    if _FROM_NOTHING.search(bare):
        return True
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)  # matchers, ranges
    names = [m.group(0) for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(?!\s*\()", bare)]
    return not [n for n in names if n.lower() not in _KEYWORDS and not re.fullmatch(r"[0-9]", n[0])]


def threshold_tests(svc: ServiceModel, th: ThresholdModel) -> list[TestGroup]:
    if threshold_gap(svc, th) is not None:
        return []
    steps, phases = _threshold_plan(*_plan_key(th))
    tests: list[TestGroup] = []
    for phase in phases:
        made = _input(svc, th, phase.value, steps)
        if made is None:
            return []
        series, actual = made
        expected: dict[str, dict[str, Any]] = {}
        # a hand-written description this generator cannot expand: assert the labels only (ALERTS)
        labels_only = False
        for severity in phase.crossed:
            labels = {"severity": severity, **svc.labels}
            if th.record:
                labels = {**labels, "service": svc.name}
            annotations = {"summary": th.summary}
            description = expand(th.description, actual, labels)
            labels_only = labels_only or description is None
            annotations["description"] = description or ""
            if th.runbook_url:
                annotations["runbook_url"] = th.runbook_url
            if svc.dashboard_url:
                annotations["dashboard_url"] = svc.dashboard_url
            expected[severity] = {"exp_labels": labels, "exp_annotations": annotations}
        checks: list[dict[str, Any]] = [{"eval_time": at, "alertname": th.alert, "exp_alerts": [expected[s] for s in firing]}
                  for at, firing in phase.checks]
        group: TestGroup = {
            "name": f"{th.alert}: {phase.name}",
            "interval": format_duration(STEP),
            "input_series": series,
        }
        if labels_only:
            group["promql_expr_test"] = [alerts_check(c["alertname"], c["eval_time"],
                                                      [e["exp_labels"] for e in c["exp_alerts"]]) for c in checks]
        else:
            group["alert_rule_test"] = checks
        tests.append(group)
    return tests


@dataclass(frozen=True)
class _Phase:
    """One phase of a threshold's tests, as far as the threshold's numbers decide it."""

    value: Decimal  # what the input makes the expression evaluate to, about
    crossed: tuple[str, ...]  # the severities whose level the exact value crosses
    checks: tuple[tuple[str, tuple[str, ...]], ...]  # (eval_time, the severities firing then)
    name: str  # the test group's name after the alert's


def _plan_key(th: ThresholdModel) -> tuple[Any, ...]:
    """Everything of a threshold `_threshold_plan` reads: its numbers, not its names or texts."""
    return (th.record is not None, th.indicator, th.direction, th.target, th.warning, th.critical, th.kind,
            th.for_, tuple(sorted(th.for_levels.items())))


# The timings and values of a threshold's tests depend on its levels, direction and `for`s alone: a fleet's
# thresholds share a few of them. The service's series, labels and descriptions are put in by the caller.
@lru_cache(maxsize=1024)
def _threshold_plan(recorded: bool, indicator: str | None, direction: str, target: Decimal | None,
                    warning: Decimal | None, critical: Decimal | None, kind: str, for_: str,
                    for_levels: tuple[tuple[str, str], ...]) -> tuple[int, tuple[_Phase, ...]]:
    th = ThresholdModel(alert="", indicator=indicator, expr="", record="" if recorded else None,
                        direction=direction, target=target, warning=warning, critical=critical, kind=kind,
                        unit="", for_=for_, summary="", description="", runbook_url=None,
                        for_levels=dict(for_levels))
    # rate() needs two samples, so a rate is first true one step in (a gauge, at once); then each level's
    # `for` must pass
    first_true = 0 if recorded or th.indicator == "consumer_lag" else STEP
    fors = {sev: int(duration_seconds(th.for_of(sev))) for sev, _ in th.levels()}
    fires_at = {sev: first_true + fors[sev] for sev in fors}
    # A ratio (errors over requests, a quantile of bucket rates) or a recorded value is the phase's from the
    # first instant; a request rate only once its window holds no instant before the counter began: until
    # then it reads lower. Below its levels (a request rate's direction), a level the phase crosses then
    # holds from the first instant all the same, and one it does not cross may hold early and clear once
    # the rate settles; above them, a crossed level holds for sure only from `settled`. A check at t expects
    # a level firing only if its `for` fits after the instant it surely holds from, and only once the value
    # its description shows has settled.
    settled = (int(duration_seconds(THRESHOLD_RATE_WINDOW)) if th.indicator in ("request_rate", "throughput")
               else first_true)
    holds_from = first_true if th.direction == "below" else settled
    eval_at = max(max(holds_from + f for f in fors.values()), settled) + 2 * STEP
    steps = eval_at // STEP + 5
    phases = []
    for phase, value in _phase_values(th).items():
        actual = _bucket(th, value)[3] if th.indicator in QUANTILES else float(value)  # as `_input` makes it
        crossed = tuple(severity for severity, level in th.levels()
                        if (actual > float(level) if th.direction == "above" else actual < float(level)))
        checks: list[tuple[str, tuple[str, ...]]] = []
        # not before its `for` has passed: one step earlier only the faster levels fire (one check per
        # instant: levels with the same `for` share it)
        for t in sorted({fires_at[sev] - STEP for sev in crossed if fires_at[sev] - first_true >= STEP}):
            firing = tuple(s for s in crossed if fires_at[s] <= t)
            unsettled = (firing and t < settled) or any(t - fors[s] < holds_from for s in firing) or any(
                fires_at[s] <= t < settled + STEP for s in fors if s not in crossed)  # an early one, not resolved
            if not unsettled:
                checks.append((format_duration(t), firing))
        checks.append((format_duration(eval_at), crossed))
        what = {"ok": "stays silent inside the target", "warning": "fires warning only",
                "critical": "fires critical (and warning)"}[phase]
        if phase == "critical" and th.critical is None:
            what = "fires warning well past its level"
        phases.append(_Phase(value, crossed, tuple(checks), f"{what} at {_shown(th, actual)}"))
    return steps, tuple(phases)


def alerts_check(alert: str, eval_time: str, firing: list[dict[str, str]]) -> dict[str, Any]:
    """A check of the `ALERTS` series: exactly these label sets of `alert` fire at `eval_time` (labels
    asserted, annotations not: for alerts whose annotations this generator cannot expand)."""
    def series(labels: dict[str, str]) -> str:
        body = {"alertname": alert, "alertstate": "firing", **labels}
        return "ALERTS{" + ", ".join(f"{k}={quote(v)}" for k, v in body.items()) + "}"

    return {"expr": f'ALERTS{{alertname={quote(alert)}, alertstate="firing"}}', "eval_time": eval_time,
            "exp_samples": [{"labels": series(labels), "value": 1} for labels in firing]}


# --------------------------------------------------------------------------- free-form alerts


def free_alert_labels(svc: ServiceModel, a: Alert) -> dict[str, str]:
    """The labels of a free-form alert's rule (what `prometheus.py` writes into its `labels:`)."""
    return {"severity": a.severity, **svc.labels, **a.labels}


def free_alert_tests(svc: ServiceModel, a: Alert) -> list[TestGroup]:
    """The spec's own tests of a free-form alert, in promtool's terms, with the rule's labels added to
    every expected alert (a series' label of the same name is overwritten by the rule's, as in Prometheus)."""
    rule_labels = free_alert_labels(svc, a)
    groups: list[TestGroup] = []
    for i, test in enumerate(a.tests):
        checks: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        for c in test.alert_rule_test:
            expected = [{**e.exp_labels, **rule_labels} for e in c.exp_alerts]
            if all(e.exp_annotations is not None for e in c.exp_alerts):
                checks.append({"eval_time": c.eval_time, "alertname": a.name, "exp_alerts": [
                    {"exp_labels": labels, "exp_annotations": dict(e.exp_annotations or {})}
                    for labels, e in zip(expected, c.exp_alerts, strict=True)]})
            else:  # annotations not given: assert the labels through ALERTS
                samples.append(alerts_check(a.name, c.eval_time, expected))
        group: TestGroup = {"name": test.name or f"{a.name}: test {i + 1} of the spec",
                            "interval": test.interval,
                            "input_series": [{"series": s.series, "values": s.values} for s in test.input_series]}
        if checks:
            group["alert_rule_test"] = checks
        if samples:
            group["promql_expr_test"] = samples
        groups.append(group)
    return groups


def free_alert_gap(a: Alert) -> str | None:
    """Why a free-form alert is unproven (None when its tests fire it and show it silent)."""
    if not a.tests:
        return ("a free-form expression: obsgen cannot synthesize its input; add `tests:` to the alert "
                "(input series and expected alerts, in promtool's terms)")
    checks = [c for t in a.tests for c in t.alert_rule_test]
    if not any(c.exp_alerts for c in checks):
        return "its tests have no check where it fires (`exp_alerts` with the alert)"
    if not any(not c.exp_alerts for c in checks):
        return "its tests have no check where it stays silent (`exp_alerts: []`)"
    return None


def proof_gaps(model: Model, svc: ServiceModel) -> dict[str, str]:
    """Alert name -> why the generated tests cannot prove it, for this service's rule file."""
    from ..slo import alert_names
    from ..slo_proofs import proof_gap

    gaps = {th.alert: gap for th in svc.thresholds if (gap := threshold_gap(svc, th))}
    gaps.update({a.name: gap for a in svc.alerts if (gap := free_alert_gap(a))})
    for slo_model in svc.slos:
        gap = proof_gap(svc, slo_model, model)
        if gap:
            gaps.update({name: gap for name in alert_names(svc, slo_model).values()})
    return gaps


def _shown(th: ThresholdModel, v: float) -> str:
    if th.kind == "ratio":
        return humanize_percentage(v)
    if th.kind == "duration":
        return humanize_duration(v)
    return humanize(v)


def _down_tests(svc: ServiceModel) -> list[TestGroup]:
    """<Service>Down and each health check's alert, fed the series the scrape job gives them: up for
    five samples, then failing past the alert's `for`."""
    from .prometheus import (  # here, not at the top: prometheus.py imports this module
        probe_rule,
        service_down_rules,
    )

    tests: list[TestGroup] = []
    cases: list[tuple[str, dict[str, str], dict[str, Any], str]] = []  # metric, labels, rule, what the name adds
    if svc.scrape:
        cases.append(("up", svc.target_labels(), service_down_rules(svc)[0], ""))
    for probe in svc.probes:
        # the only HTTP check of a service keeps the test name it always had
        alone = probe.kind == "http" and sum(p.kind == "http" for p in svc.probes) == 1
        cases.append(("probe_success", probe.series_labels(svc.name), probe_rule(svc, probe),
                      "" if alone else f" ({probe.target}, module {probe.module})"))
    for metric, labels, rule, which in cases:
        alert, down_for = rule["alert"], rule["for"]
        fails_at = 5 * STEP  # up for five samples, then down
        fires_at = fails_at + int(duration_seconds(down_for))
        sel = ",".join(f"{k}={quote(v)}" for k, v in labels.items())
        exp_labels = {**labels, **rule["labels"]}
        checks: list[dict[str, Any]] = [
            {"eval_time": format_duration(fails_at - STEP), "alertname": alert, "exp_alerts": []}]
        if fires_at - STEP > fails_at:
            checks.append({"eval_time": format_duration(fires_at - STEP), "alertname": alert, "exp_alerts": []})
        checks.append({"eval_time": format_duration(fires_at + STEP), "alertname": alert,
                       "exp_alerts": [{"exp_labels": exp_labels, "exp_annotations": _expanded(rule, labels)}]})
        what = "scrapes" if metric == "up" else "probes"
        tests.append({
            "name": f"{alert}{which}: fires after {down_for} of failed {what}, silent while up",
            "interval": format_duration(STEP),
            "input_series": [{"series": f"{metric}{{{sel}}}",
                              "values": f"1x4 0x{(fires_at - fails_at) // STEP + 3}"}],
            "alert_rule_test": checks,
        })
    return tests


def _expanded(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    out = {}
    for k, v in rule["annotations"].items():
        expanded = expand(v, 0.0, labels)
        assert expanded is not None
        out[k] = expanded
    return out


# --------------------------------------------------------------------------- batch jobs


def _batch_annotations(svc: ServiceModel, alert: str, value: float, labels: dict[str, str]) -> dict[str, str]:
    from .prometheus import batch_rules  # here, not at the top: prometheus.py imports this module

    rule = next(r for r in batch_rules(svc) if r["alert"] == alert)
    out = {}
    for k, v in rule["annotations"].items():
        expanded = expand(v, value, labels)
        assert expanded is not None
        out[k] = expanded
    return out


def batch_tests(model: Model, svc: ServiceModel) -> list[TestGroup]:
    """A batch job's alerts, fed what the Pushgateway exports for its group: the job's success gauge and
    `push_time_seconds`, with the job it pushed and the scrape's target labels, no instance. promtool's
    clock starts at 0, so a success before the test is a negative unixtime."""
    b = svc.batch
    if b is None:
        return []
    from .prometheus import BATCH_PUSH_SLACK  # here, not at the top: prometheus.py imports this module

    labels = svc.scraped_labels()
    sel = ",".join(f"{k}={quote(v)}" for k, v in labels.items())
    last, pushed = f"{b.last_success}{{{sel}}}", f"push_time_seconds{{{sel}}}"
    rule_labels = {**labels, "severity": "critical", **svc.labels}
    stale, failed = batch_stale_alert(svc.name), batch_failed_alert(svc.name)
    # the last success is `allowed - 2 steps` old at 0: silent one step in, firing three steps in
    success_at = 2 * STEP - b.allowed_seconds
    age = 3 * STEP - success_at
    stale_group: TestGroup = {
        "name": f"{stale}: silent while the last success is {b.every} and {b.grace} old at most, fires after",
        "interval": format_duration(STEP),
        "input_series": [{"series": last, "values": f"{success_at}x10"},
                         {"series": pushed, "values": f"{success_at}x10"}],
        "alert_rule_test": [
            {"eval_time": format_duration(STEP), "alertname": stale, "exp_alerts": []},
            {"eval_time": format_duration(3 * STEP), "alertname": stale, "exp_alerts": [
                {"exp_labels": rule_labels, "exp_annotations": _batch_annotations(svc, stale, age, labels)}]},
            {"eval_time": format_duration(3 * STEP), "alertname": failed, "exp_alerts": []},
        ],
    }
    warn_labels = {**labels, "severity": "warning", **svc.labels}
    fired = [{"exp_labels": warn_labels, "exp_annotations": _batch_annotations(svc, failed, 0.0, labels)}]
    late = BATCH_PUSH_SLACK + STEP  # a push this long after the success: a run that did not succeed
    failed_group: TestGroup = {
        "name": f"{failed}: silent while each push carries a success, fires on a push without one",
        "interval": format_duration(STEP),
        # success and push at 0; from 3m on a push `late` seconds after the last success
        "input_series": [{"series": last, "values": "0x10"},
                         {"series": pushed, "values": f"0x2 {late}x8"}],
        "alert_rule_test": [
            {"eval_time": format_duration(STEP), "alertname": failed, "exp_alerts": []},
            {"eval_time": format_duration(4 * STEP), "alertname": failed, "exp_alerts": fired},
        ],
    }
    never_group: TestGroup = {
        "name": f"{failed}: fires when the job has pushed but never succeeded",
        "interval": format_duration(STEP),
        "input_series": [{"series": pushed, "values": "0x10"}],
        "alert_rule_test": [{"eval_time": format_duration(2 * STEP), "alertname": failed, "exp_alerts": fired}],
    }
    return [stale_group, failed_group, never_group]
