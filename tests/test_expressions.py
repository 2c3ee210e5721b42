"""`obsgen validate` parses every expression a spec's user writes (obsgen/spec/expressions.py).

Each broken field is reported once, at its place in the file, through the real command line (exit 2);
LogQL goes through Grafana's real grammar under node, started once and only when the spec has LogQL of its
own; without node the spec still validates, with a warning that `validate --strict` refuses.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, obsgen, require_tool

from obsgen import logql_parse
from obsgen.spec import SpecError, load_spec, load_spec_text
from obsgen.spec.expressions import DASHBOARD_VARIABLES, LOGS_VARIABLES, MAX_NESTING, expression_problems

QUICKSTART = ROOT / "examples" / "quickstart.yaml"

# A spec of its own, unlike the examples: an events SLI, a ratio SLI, custom thresholds and alerts that
# use raw strings, digit separators, subqueries and @; panels with every form of Grafana variable; log
# alerts of each LogQL shape the ruler evaluates.
OWN_SPEC = r"""
version: 1
project: {name: ledger}
services:
  - name: payouts
    scrape: {static: ["payouts:9000"]}
    slos:
      - name: settled
        objective: 99.5
        sli:
          events:
            errors: sum(increase(payouts_failed_total{job="payouts"}[{{window}}]))
            total: sum(increase(payouts_total{job="payouts"}[{{window}}]))
      - name: fresh
        objective: 99
        sli: {expr: 'sum(rate(payouts_late_total[{{window}}])) / sum(rate(payouts_total[{{window}}]))'}
    thresholds:
      - name: PayoutsQueueOld
        expr: time() - min(payouts_queue_oldest_timestamp_seconds{queue=~`q\d+`})
        warning: 10m
        critical: 1h
      - name: PayoutsBacklog
        expr: max_over_time(sum(payouts_queue_depth)[30m:1m]) / 1_000
        warning: 5
        critical: 50
    alerts:
      - name: PayoutsStuck
        expr: 'changes(payouts_settled_total[1h]) == 0 and on() (hour() >= 6 < 22)'
        summary: No payout settled for an hour in the day.
      - name: PayoutsRestarted
        expr: resets(process_start_time_seconds{job="payouts"}[10m] @ end()) > 0 # restarts
        summary: Payouts restarted.
    panels:
      - {title: Settled, expr: 'sum(rate(payouts_settled_total{instance=~"$instance"}[$__rate_interval]))'}
      - {title: Settled (range), expr: 'sum(increase(payouts_settled_total{instance=~"${instance}"}[$__range]))'}
      - {title: Settled per s, expr: 'sum(increase(payouts_settled_total[$__interval])) / $__interval_ms * 1000'}
      - {title: Old syntax, expr: 'sum(payouts_queue_depth{instance=~"[[instance]]"}) / $__range_s'}
    logs:
      source: {tail: /var/log/payouts/*.log}
      alerts:
        - name: PayoutsBankTimeouts
          logql: 'sum(count_over_time({service="payouts"} |= "bank timeout" [5m]))'
          above: 3
          summary: The bank times out.
        - name: PayoutsSlowBatches
          logql: 'max(quantile_over_time(0.9, {service="payouts"} | json | unwrap duration_ms [10m]))'
          above: 5000
          summary: Batches are slow.
channels:
  ops: {type: webhook, url: "http://hooks:8080/ops"}
routing: {default: ops}
"""


def grammar() -> None:
    """node and Grafana's LogQL grammar, as `make tools` installs them (a failure in CI, else a skip)."""
    require_tool("node")
    if logql_parse.find_node_modules(logql_parse.node_modules_candidates()) is None:
        message = "@grafana/lezer-logql not installed: run `make tools`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _write(tmp_path: Path, data: dict[str, Any], name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def _quickstart() -> dict[str, Any]:
    return yaml.safe_load(QUICKSTART.read_text("utf-8"))


def _own() -> dict[str, Any]:
    return yaml.safe_load(OWN_SPEC)


def _refused(spec: Path, path: str, message: str, key: str) -> None:
    """`obsgen validate spec` exits 2 and says `message` once, at `path` and the line of `key`."""
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if f" {path}: " in line]
    assert len(lines) == 1, proc.stderr
    m = re.match(rf"^{re.escape(str(spec))}:(\d+):(\d+) {re.escape(path)}: (.*)$", lines[0])
    assert m, lines[0]
    assert message in m.group(3), lines[0]
    text = spec.read_text("utf-8").splitlines()[int(m.group(1)) - 1]
    assert key in text, f"line {m.group(1)} is {text!r}"
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- the measured cases


@pytest.mark.parametrize(("expr", "message"), [
    (" ", "PromQL does not parse: the expression is empty"),
    ("x}y", "PromQL does not parse: unexpected right brace '}' (check brackets and quotes)"),
    ("catalog_index[5m]", "PromQL is a range vector"),
])
def test_a_custom_threshold(tmp_path: Path, expr: str, message: str) -> None:
    data = _quickstart()
    data["services"][1]["thresholds"][3]["expr"] = expr
    _refused(_write(tmp_path, data), "services[1].thresholds[3].expr", message, "expr:")


def test_a_free_form_alert(tmp_path: Path) -> None:
    data = _quickstart()
    data["services"][0]["alerts"][0]["expr"] = "sum(rate(x[5m]) > 1"
    _refused(_write(tmp_path, data), "services[0].alerts[0].expr",
             "PromQL does not parse: unclosed left parenthesis (check brackets and quotes)", "expr:")


@pytest.mark.parametrize(("key", "expr"), [
    ("errors", "sum(rate(checkout_errors_total[{{window}}])"),
    ("total", "sum(rate(checkout_total[{{window}}]) by (le)"),
])
def test_an_events_sli(tmp_path: Path, key: str, expr: str) -> None:
    data = _quickstart()
    events = {"errors": "sum(rate(checkout_errors_total[{{window}}]))", "total": "sum(rate(checkout_total[{{window}}]))"}
    data["services"][0]["slos"].append({"name": "orders", "objective": 99, "sli": {"events": {**events, key: expr}}})
    # one message, though the SLO engine renders the SLI for 5m and the naive shape for every window
    _refused(_write(tmp_path, data), f"services[0].slos[1].sli.events.{key}",
             "PromQL (read with {{window}} as 5m) does not parse", f"{key}:")


def test_a_ratio_sli(tmp_path: Path) -> None:
    data = _quickstart()
    data["services"][0]["slos"].append({"name": "ratio", "objective": 99,
                                        "sli": {"expr": "sum(rate(e[{{window}}])) / sum(rate(t[{{window}}])) /"}})
    _refused(_write(tmp_path, data), "services[0].slos[1].sli.expr",
             "PromQL (read with {{window}} as 5m) does not parse: an operator or an operand is missing", "expr:")


def test_an_sli_without_window_gets_one_message(tmp_path: Path) -> None:
    """validate.py refuses it already (no {{window}}); that it does not parse either is not said twice."""
    data = _quickstart()
    data["services"][0]["slos"].append({"name": "orders", "objective": 99, "sli": {"events": {
        "errors": "sum(rate(checkout_errors_total[5m])", "total": "sum(rate(checkout_total[{{window}}]))"}}})
    _refused(_write(tmp_path, data), "services[0].slos[1].sli.events.errors", "must contain {{window}}", "errors:")


def test_an_sli_that_only_breaks_inside_the_rule(tmp_path: Path) -> None:
    """A comment runs to the end of the line, over the `)` of the sum(...) the 5m recording wraps it in."""
    data = _quickstart()
    data["services"][0]["slos"].append({"name": "orders", "objective": 99, "sli": {"events": {
        "errors": "sum(rate(checkout_errors_total[{{window}}])) # failed orders",
        "total": "sum(rate(checkout_total[{{window}}]))"}}})
    _refused(_write(tmp_path, data), "services[0].slos[1].sli.events.errors",
             "does not parse inside sum(...), where obsgen puts it", "errors:")


@pytest.mark.parametrize(("expr", "message"), [
    ('sum by (code) (rate(http_requests_total{instance=~"$instance"}[$__rate_interval])) by',
     "PromQL (read with $__rate_interval as 5m, $instance as .+) does not parse"),
    ("sum(rate(x[$__rate_intervall]))", "$__rate_intervall is not a variable of the service dashboard"),
    ("x[$__range]", "PromQL (read with $__range as 1h) is a range vector"),
])
def test_an_extra_panel(tmp_path: Path, expr: str, message: str) -> None:
    data = _quickstart()
    data["services"][0]["panels"] = [{"title": "Good", "expr": "sum(rate(x[$__rate_interval]))"},
                                     {"title": "Bad", "expr": expr}]
    _refused(_write(tmp_path, data), "services[0].panels[1].expr", message, "expr:")


@pytest.mark.parametrize(("logql", "message"), [
    ('{service="payouts"} |= "bank timeout"',
     'is a log query (it returns log lines), and the Loki ruler alerts on numbers: wrap it in '
     'count_over_time(...[5m]), e.g. sum(count_over_time({service="payouts"} |= "bank timeout" [5m]))'),
    ('sum(count_over_time({service="payouts"} |= "bank timeout" [5m])', "LogQL does not parse: syntax error"),
    ('sum(rate({service="payouts"}[5m])) # per second', "LogQL does not parse where obsgen puts it"),
])
def test_a_log_alert(tmp_path: Path, logql: str, message: str) -> None:
    grammar()
    data = _own()
    data["services"][0]["logs"]["alerts"][1]["logql"] = logql
    _refused(_write(tmp_path, data), "services[0].logs.alerts[1].logql", message, "logql:")


# --------------------------------------------------------------------------- no false positives


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates_with_nothing_unchecked(spec: Path) -> None:
    notes: list[str] = []
    load_spec(spec, notes)
    assert notes == []


def test_a_spec_of_its_own_validates_and_every_expression_is_read(tmp_path: Path) -> None:
    grammar()
    spec = load_spec_text(OWN_SPEC)
    from obsgen.spec.expressions import collect

    kinds = sorted((e.language, e.role) for e in collect(spec))
    assert kinds == sorted([("promql", "sum")] * 2 + [("promql", "avg")] + [("promql", "record")] * 2
                           + [("promql", "alert")] * 2 + [("promql", "panel")] * 4 + [("logql", "log-alert")] * 2)
    assert expression_problems(spec) == ([], [])
    proc = obsgen("validate", "--strict", str(_write(tmp_path, _own())))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_the_panel_stand_ins_are_the_dashboards_variables() -> None:
    """DASHBOARD_VARIABLES holds what obsgen's service dashboard defines, read as `obsgen check` reads it."""
    from obsgen.file_checks import _sample_value
    from obsgen.model import resolve
    from obsgen.render.grafana import service_dashboard

    for model, logs in ((resolve(load_spec(QUICKSTART)), False), (resolve(load_spec_text(OWN_SPEC)), True)):
        assert (model.services[0].logs is not None) == logs
        variables = service_dashboard(model, model.services[0])["templating"]["list"]
        assert {v["name"]: _sample_value(v) for v in variables} == {**DASHBOARD_VARIABLES,
                                                                   **(LOGS_VARIABLES if logs else {})}


# --------------------------------------------------------------------------- the kind of value a field needs


@pytest.mark.parametrize(("field", "expr", "message"), [
    ("alert", '"payouts are stuck"', "is a string literal, not a value"),
    ("alert", "scalar(sum(payouts_queue_depth)) > bool 100", "is a number, not series"),
    ("alert", "sum(payouts_queue_depth) > bool 100", "compares with `bool`"),
    ("alert", "limitk(1, payouts_queue_depth) > 1", "uses limitk(), an experimental aggregation"),
    ("alert", "holt_winters(payouts_queue_depth[1h], 0.5, 0.5) > 1", "renamed double_exponential_smoothing"),
    ("alert", 'payouts_queue_depth{queue=~"(?=q)"} > 1', "which Prometheus (Go's RE2) refuses"),
    ("threshold", "payouts_queue_depth[5m]", "is a range vector"),
    ("threshold", "1e400 * payouts_queue_depth", "beyond the range of a float64"),
    ("threshold", "sort_by_label(payouts_queue_depth, \"queue\")", "an experimental function"),
])
def test_what_prometheus_would_refuse_later(field: str, expr: str, message: str) -> None:
    data = _own()
    if field == "alert":
        data["services"][0]["alerts"][0]["expr"] = expr
        where = ("services", 0, "alerts", 0, "expr")
    else:
        data["services"][0]["thresholds"][1]["expr"] = expr
        where = ("services", 0, "thresholds", 1, "expr")
    data["services"][0].pop("logs")
    with pytest.raises(SpecError) as e:
        load_spec_text(yaml.safe_dump(data))
    assert [(p.path, message in p.message) for p in e.value.problems] == [(where, True)], e.value.lines()


# --------------------------------------------------------------------------- LogQL: node, once, or a warning


def test_node_starts_once_and_only_for_logql(monkeypatch: pytest.MonkeyPatch) -> None:
    grammar()
    runs: list[list[str]] = []
    real = logql_parse.subprocess.run

    def counting(cmd: list[str], **kw: Any) -> Any:
        runs.append(cmd)
        return real(cmd, **kw)

    monkeypatch.setattr(logql_parse.subprocess, "run", counting)
    load_spec(QUICKSTART)
    assert runs == []
    data = _own()
    data["services"][0]["logs"]["alerts"] *= 3  # six expressions (names repeat: that is another problem)
    with pytest.raises(SpecError) as e:
        load_spec_text(yaml.safe_dump(data))
    assert all("logql" not in p.path for p in e.value.problems)
    assert len(runs) == 1


def test_without_node_a_warning_and_strict_fails(tmp_path: Path) -> None:
    spec = _write(tmp_path, _own())
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = obsgen("validate", str(spec), env={"PATH": str(empty)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "warning: LogQL of services[0].logs.alerts[0].logql, services[0].logs.alerts[1].logql not checked: node "
        "not found; " + logql_parse.NODE_HINT]
    strict = obsgen("validate", "--strict", str(spec), env={"PATH": str(empty)})
    assert strict.returncode == 2
    assert strict.stderr.splitlines()[-1] == f"1 warning in {spec}, which --strict does not accept"
    assert obsgen("validate", "--strict", str(QUICKSTART), env={"PATH": str(empty)}).returncode == 0


def test_without_the_grammar_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("node")
    monkeypatch.setattr(logql_parse, "CHECKOUT_NODE_MODULES", tmp_path / "none")
    monkeypatch.setenv("OBSGEN_NODE_MODULES", str(tmp_path / "empty"))
    notes: list[str] = []
    load_spec_text(OWN_SPEC, notes=notes)
    assert len(notes) == 1
    assert notes[0].startswith("LogQL of services[0].logs.alerts[0].logql, services[0].logs.alerts[1].logql not "
                               "checked: Grafana's LogQL grammar is not installed")
    assert "npm install" in notes[0] and str(tmp_path / "empty") in notes[0]


def test_too_deep_for_the_parser_is_a_note_not_a_crash() -> None:
    data = _quickstart()
    depth = MAX_NESTING + 1
    data["services"][0]["alerts"][0]["expr"] = "(" * depth + "up" + ")" * depth + " == 0"
    notes: list[str] = []
    load_spec_text(yaml.safe_dump(data), notes=notes)
    assert notes == [f"PromQL of services[0].alerts[0].expr not checked: its operators and brackets nest more "
                     f"than {MAX_NESTING} deep; split it into recording rules"]
    shallow = copy.deepcopy(data)
    shallow["services"][0]["alerts"][0]["expr"] = "(" * 300 + "up" + ")" * 300 + " == 0"
    notes = []
    load_spec_text(yaml.safe_dump(shallow), notes=notes)
    assert notes == []


# --------------------------------------------------------------------------- a value from no series


@pytest.mark.parametrize(("expr", "from_nothing"), [
    ("sum(orders_queue_depth) or vector(0)", True),
    ("vector(1) unless orders_queue_depth", True),
    ('label_replace(vector(1), "a", "b", "c", "(.*)")', True),
    ("max_over_time(vector(1)[1h:5m])", True),
    ("days_in_month()", True),
    ("hour() >= 22", True),
    ("scalar(orders_queue_depth)", True),  # a recorded scalar is a sample, NaN or not
    ("42", True),
    ("absent_over_time(up[5m])", True),
    ("orders_queue_depth{queue=~`q\\d+`} or vector(0)", True),  # a raw string the Rust parser misreads
    ("orders_queue_depth and vector(1)", False),  # `and` needs both sides: the vocabulary says vector(
    ("vector(1) and orders_queue_depth", False),
    ("orders_queue_depth unless vector(1)", False),
    ("orders_queue_depth + vector(1)", False),
    ("time() - max(orders_last_success_timestamp_seconds)", False),
    ("day_of_week(orders_last_success_timestamp_seconds)", False),
    ("histogram_quantile(0.9, sum by (le) (rate(orders_seconds_bucket[5m])))", False),
    ("count(orders_queue_depth > 1_000) > 0", False),
    ('sum(rate(x_bucket{path="vector(1)"}[5m]))', False),
])
def test_a_value_from_no_series_is_read_from_the_tree(expr: str, from_nothing: bool) -> None:
    from obsgen.render.prometheus_tests import yields_without_series

    assert yields_without_series(expr) is from_nothing
