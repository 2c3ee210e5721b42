"""SLOs per label (`by:`): every recording keeps the group labels, each group is judged on its own (one bad group
pages alone, with its label values; the groups beside it stay silent; the low-traffic guard reads each
group's traffic), the alerts name the group, the dashboard filters by it, and labels that cannot make groups
are refused at their place. promtool runs the generated proofs, and breaking what they prove fails them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from obsgen import slo
from obsgen.model import Model, resolve
from obsgen.render import grafana, prometheus
from obsgen.render.common import dump_yaml
from obsgen.slo_proofs import counters, group_values, in_group, proof_gap, proofs
from obsgen.spec import SpecError, load_spec_text
from obsgen.spec.expressions import nodes, parse_promql

SPEC = """\
version: 1
project: {name: shop}
defaults: {min_request_rate: 1}
services:
  - name: api
    team: core
    scrape: {static: ["api:8080"]}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}, by: [endpoint]}
      - {name: latency, objective: 99, sli: {type: latency, threshold: 250ms}, by: [endpoint, method]}
      - name: jobs
        objective: 99.5
        period: 7d
        by: [topic]
        sli:
          events:
            errors: 'sum by (topic) (rate(jobs_total{job="api", result="failed"}[{{window}}]))'
            total: 'sum by (topic) (rate(jobs_total{job="api", topic!="dead"}[{{window}}]))'
      - name: freshness
        objective: 99
        by: [queue]
        sli: {expr: 'avg by (queue) (avg_over_time(consumer_stale{job="api"}[{{window}}]))'}
      - {name: plain, objective: 99, sli: {type: availability}}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


# What promtool runs: one SLO per service (promtool evaluates every rule of a test's rule files at every step)
# and minutely evaluation, so the proofs take seconds.
PROVEN = """\
version: 1
project: {name: shop}
defaults: {min_request_rate: 1, scrape_interval: 1m, evaluation_interval: 1m}
services:
  - name: web
    scrape: {static: ["web:8080"]}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}, by: [endpoint]}
  - name: search
    scrape: {static: ["search:8080"]}
    slos:
      - {name: latency, objective: 99, sli: {type: latency, threshold: 250ms}, by: [endpoint, method]}
  - name: worker
    scrape: {static: ["worker:8080"]}
    slos:
      - name: jobs
        objective: 99.5
        period: 7d
        by: [topic]
        sli:
          events:
            errors: 'sum by (topic) (increase(jobs_total{job="worker", result="failed"}[{{window}}]))'
            total: 'sum by (topic) (increase(jobs_total{job="worker", topic!="dead"}[{{window}}]))'
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text, "spec.yaml"), "spec.yaml")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _groups(m: Model, slo_name: str) -> list[dict[str, Any]]:
    svc = m.service("api")
    return [g for g in slo.rule_groups(m, svc) if g["name"].startswith(f"api-slo-{slo_name}-")]


def _slo(m: Model, name: str) -> Any:
    return next(s for s in m.service("api").slos if s.name == name)


# --------------------------------------------------------------------------- the rules


def test_every_aggregation_of_the_raw_series_keeps_the_group_labels() -> None:
    m = model_of(SPEC)
    for name, by in (("availability", ["endpoint"]), ("latency", ["endpoint", "method"]), ("jobs", ["topic"]),
                     ("freshness", ["queue"])):
        rules = _groups(m, name)[0]["rules"]
        raw = [r for r in rules if "[5m]" in r["expr"]]  # the rules that read the raw series
        assert raw, name
        for rule in raw:
            parsed = parse_promql(rule["expr"])
            assert parsed is not None, rule["expr"]
            pp, tree = parsed
            aggs = [n for n in nodes(pp, tree) if isinstance(n, pp.AggregateExpr)]
            assert aggs, rule["expr"]
            for agg in aggs:  # the engine's and the user's: each keeps every `by` label
                assert agg.modifier is not None and set(by) <= set(agg.modifier.labels), (name, rule["expr"])
        # every series the SLO records past the static ones is one per group: labels as without `by`
        for rule in rules:
            assert rule["labels"] == {"service": "api", "slo": name, "slo_id": f"api-{name}"}


def test_a_group_without_errors_records_zero_errors_from_its_traffic() -> None:
    rules = _groups(model_of(SPEC), "availability")[0]["rules"]
    assert [r["record"] for r in rules[:3]] == [slo.TOTAL, slo.ERRORS, slo.record_name("5m")]
    assert rules[1]["expr"].endswith(' or on (endpoint) 0 * slo:sli_total:rate5m{slo_id="api-availability"}')


def test_slos_without_by_render_as_before() -> None:
    plain = SPEC.replace(", by: [endpoint]}", "}").replace(", by: [endpoint, method]}", "}")
    m, e = model_of(plain), model_of(plain.replace("sli: {type: availability}}", "sli: {type: availability}, by: []}"))
    assert prometheus.render(m) == prometheus.render(e)
    rules = _groups(m, "availability")[0]["rules"]
    assert rules[0] == {"record": slo.ERRORS, "labels": rules[0]["labels"],
                        "expr": 'sum(rate(http_requests_total{job="api",status=~"5.."}[5m])) or vector(0)'}
    assert " by (" not in json.dumps(_groups(m, "plain"))


def test_alerts_name_their_group_and_a_page_inhibits_its_own_groups_tickets() -> None:
    m = model_of(SPEC)
    svc = m.service("api")
    for name, by in (("availability", ["endpoint"]), ("latency", ["endpoint", "method"])):
        rules = {(r["alert"], r["labels"]["tier"]): r for r in slo.alert_rules(m, svc, _slo(m, name))}
        for (alert, _tier), rule in rules.items():
            shown = " for " + ", ".join(f"{label} {{{{ $labels.{label} }}}}" for label in by)
            if alert.endswith("SliAbsent"):  # absent() returns no group: the whole SLI has no data
                assert "$labels" not in rule["annotations"]["description"]
            else:
                assert shown in rule["annotations"]["description"], rule
            assert "{{" not in rule["annotations"]["summary"]
        assert "requests/s per " + ", ".join(by) in rules[(slo.alert_names(svc, _slo(m, name))["burn"], "page")][
            "annotations"]["description"]
    (inhibit,) = slo.inhibit_rules(m)
    assert inhibit["equal"] == ["service", "slo", "slo_id", "endpoint", "method", "queue", "topic"]


def test_the_dashboard_has_a_variable_per_group_label_and_filters_the_slo_panels_by_it() -> None:
    m = model_of(SPEC)
    board = grafana.service_dashboard(m, m.service("api"))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for label in ("endpoint", "method", "topic", "queue"):
        v = variables[label]
        assert v["query"] == f'label_values(slo:sli_error:ratio_rate5m{{service="api"}}, {label})'
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"
    exprs = [(t["expr"], t.get("legendFormat", "")) for p in board["panels"] for t in p.get("targets", [])]
    latency = [(e, lf) for e, lf in exprs if 'slo_id="api-latency"' in e and "objective" not in e]
    assert latency and all('endpoint=~"$endpoint",method=~"$method"' in e for e, _ in latency)
    assert all("{{endpoint}}" in lf and "{{method}}" in lf for e, lf in latency if "error_budget:ratio" not in e
               or "group_left" in e)
    burn = [e for e, _ in latency if "/ on (slo_id)" in e]
    assert burn and all("/ on (slo_id) group_left slo:error_budget:ratio" in e for e in burn)
    plain = [e for e, _ in exprs if 'slo_id="api-plain"' in e]
    assert plain and not any("=~\"$" in e or "group_left" in e for e in plain)


def test_the_variable_of_a_label_named_like_a_dashboard_variable_is_prefixed() -> None:
    m = model_of(SPEC.replace("by: [queue]", "by: [instance]").replace("avg by (queue)", "avg by (instance)"))
    board = grafana.service_dashboard(m, m.service("api"))
    names = [v["name"] for v in board["templating"]["list"]]
    assert names.count("instance") == 1 and "slo_instance" in names
    assert any('instance=~"$slo_instance"' in t["expr"] for p in board["panels"] for t in p.get("targets", []))


# --------------------------------------------------------------------------- the proofs, through promtool


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    m = model_of(PROVEN)
    root = tmp_path_factory.mktemp("out")
    for path, text in prometheus.render(m).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return m, root


def test_generated_proofs_of_every_by_slo_pass(promtool: str, rendered: tuple[Model, Path]) -> None:
    """Every generated proof of three SLOs with `by` (availability, latency over two labels, an events SLI
    counted with increase() over 7d), one promtool call."""
    m, root = rendered
    for svc, by in (("web", "endpoint"), ("search", "endpoint, method"), ("worker", "topic")):
        (s,) = m.service(svc).slos
        names = [g["name"] for g in proofs(m, m.service(svc), s)]
        mine = [n for n in names if f" per {by}: " in n]
        assert any("alone pages it" in n for n in mine) and any("low-traffic guard" in n for n in mine), names
    tests = sorted((root / "prometheus" / "tests").glob("*.test.yml"))
    assert {t.name for t in tests} >= {"web.test.yml", "search.test.yml", "worker.test.yml"}
    proc = run(promtool, "test", "rules", *map(str, tests))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_slo_without_by_gets_no_group_proofs_and_a_ratio_sli_none() -> None:
    m = model_of(SPEC)
    svc = m.service("api")
    assert proofs(m, svc, _slo(m, "plain")) and not any(" per " in g["name"] for g in proofs(m, svc, _slo(m, "plain")))
    assert proof_gap(svc, _slo(m, "freshness")) is not None  # a ratio SLI gets none, with or without `by`


def test_the_bad_group_pages_with_its_labels_and_the_good_ones_are_silent_with_a_zero_sli() -> None:
    m = model_of(SPEC)
    svc = m.service("api")
    s = _slo(m, "availability")
    (group,) = [g for g in proofs(m, svc, s) if "alone pages it" in g["name"]]
    fires = [c for c in group["promql_expr_test"] if c["exp_samples"] and c["expr"].startswith("ALERTS")]
    assert len(fires) == 1 and len(fires[0]["exp_samples"]) == 1  # exactly one alert series: the bad group's
    assert 'endpoint="g0"' in fires[0]["exp_samples"][0]["labels"]
    assert 'tier="page"' in fires[0]["exp_samples"][0]["labels"]
    for good in ("g1", "g2"):
        assert any(c["expr"].startswith("max_over_time(ALERTS{") and f'endpoint="{good}"' in c["expr"]
                   and not c["exp_samples"] for c in group["promql_expr_test"])
        assert any(c["expr"] == f'slo:sli_error:ratio_rate5m{{slo_id="api-availability", endpoint="{good}"}}'
                   and c["exp_samples"][0]["value"] == 0 for c in group["promql_expr_test"])
    series = {i["series"] for i in group["input_series"]}
    assert {re.search(r'endpoint="(\w+)"', x).group(1) for x in series} == {"g0", "g1", "g2"}  # type: ignore[union-attr]


def test_group_values_pass_the_sli_matchers() -> None:
    m = model_of(SPEC.replace('topic!="dead"', 'topic=~"orders|payments|refunds"'))
    svc = m.service("api")
    s = _slo(m, "jobs")
    values = group_values(svc, s, 3)
    assert len({v["topic"] for v in values}) == 3
    assert all(v["topic"] in ("orders", "payments", "refunds") for v in values)
    # a regex of one value passes validation (it is no `=`), but leaves no second group to prove
    pinned = model_of(SPEC.replace('topic!="dead"', 'topic=~"orders"').replace('result="failed"',
                                                                                'result="failed", topic=~"orders"'))
    assert "one value of topic" in (proof_gap(pinned.service("api"), _slo(pinned, "jobs")) or "")
    cs = counters(svc, s)
    assert cs is not None and all(c.labels["topic"] == values[1]["topic"] for c in in_group(cs, values[1]))


ANNOTATED = """\
version: 1
project: {name: shop}
defaults: {min_request_rate: 1}
services:
  - name: api
    scrape: {static: ["api:8080"]}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}, by: [endpoint], alerting: {ticket: false}}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def _annotation_test(m: Model) -> dict[str, Any]:
    """A total outage of /checkout from the start beside a good /search: at 10m only /checkout pages, and
    its description, as Prometheus expands it, names the group."""
    svc = m.service("api")
    s = svc.slos[0]
    (page,) = [r for r in slo.alert_rules(m, svc, s) if r["labels"]["tier"] == "page"]
    description = (page["annotations"]["description"].replace("{{ $value | humanizePercentage }}", "100%")
                   .replace("{{ $labels.endpoint }}", "/checkout"))
    series = []
    for endpoint, bad in (("/checkout", True), ("/search", False)):
        series += [{"series": f'http_requests_total{{job="api", status="500", endpoint="{endpoint}"}}',
                    "values": f"0+{150 if bad else 0}x40"},
                   {"series": f'http_requests_total{{job="api", status="200", endpoint="{endpoint}"}}',
                    "values": f"0+{0 if bad else 150}x40"}]
    return {"interval": "15s", "input_series": series, "alert_rule_test": [{
        "eval_time": "10m", "alertname": page["alert"],
        "exp_alerts": [{"exp_labels": {**page["labels"], "endpoint": "/checkout"},
                        "exp_annotations": {**page["annotations"], "description": description}}]}]}


def test_the_page_names_its_group_as_prometheus_expands_it(promtool: str, tmp_path: Path) -> None:
    m = model_of(ANNOTATED)
    test = _annotation_test(m)
    assert "for endpoint /checkout (99.9% over 30d)" in test["alert_rule_test"][0]["exp_alerts"][0][
        "exp_annotations"]["description"]
    groups = slo.rule_groups(m, m.service("api"))
    for broken in (False, True):
        if broken:  # the description without the group: promtool's expansion differs
            for g in groups:
                for r in g["rules"]:
                    if "annotations" in r:
                        r["annotations"]["description"] = r["annotations"]["description"].replace(
                            " for endpoint {{ $labels.endpoint }}", "")
        (tmp_path / "rules.yml").write_text(dump_yaml({"groups": groups}))
        (tmp_path / "test.yml").write_text(dump_yaml({"rule_files": ["rules.yml"], "evaluation_interval": "15s",
                                                      "tests": [test]}))
        proc = run(promtool, "test", "rules", str(tmp_path / "test.yml"))
        assert proc.returncode == (1 if broken else 0), proc.stdout + proc.stderr


# --------------------------------------------------------------------------- breaking what the proofs prove


def _rule(groups: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return next(r for g in groups for r in g["rules"] if r.get(key) == value)


def _total_without_by(groups: list[dict[str, Any]]) -> None:
    rule = _rule(groups, "record", slo.TOTAL)
    rule["expr"] = rule["expr"].replace("sum by (endpoint) ", "sum")


def _guard_of_the_service(groups: list[dict[str, Any]]) -> None:
    rule = next(r for g in groups for r in g["rules"] if r.get("labels", {}).get("tier") == "page")
    rule["expr"] = re.sub(r"\nand (slo:sli_total:rate5m\{[^}]*\}) >= ", r"\nand on () sum(\1) >= ", rule["expr"])


def _no_zero_errors(groups: list[dict[str, Any]]) -> None:
    rule = _rule(groups, "record", slo.ERRORS)
    rule["expr"] = rule["expr"].split(" or on ")[0]


def _alert_of_the_service(groups: list[dict[str, Any]]) -> None:
    rule = next(r for g in groups for r in g["rules"] if r.get("labels", {}).get("tier") == "page")
    rule["expr"] = f"max without (endpoint) ({rule['expr']})"


# (the change, which proof group it breaks, a check of it promtool names as failing)
BREAKS = [
    (_total_without_by, "alone pages it", 'ALERTS{alertname=\\"WebAvailabilityBudgetBurn\\"'),
    (_guard_of_the_service, "low-traffic guard", 'endpoint=\\"g1\\"}[30m])'),
    (_no_zero_errors, "alone pages it", 'slo:sli_error:ratio_rate5m{slo_id=\\"web-availability\\", endpoint=\\"g1\\"}'),
    (_alert_of_the_service, "alone pages it", 'ALERTS{alertname=\\"WebAvailabilityBudgetBurn\\"'),
]


def test_breaking_what_a_by_proof_proves_fails_it(promtool: str, tmp_path: Path) -> None:
    """Each change of BREAKS to the web service's rules, in one promtool call: the proof it breaks fails at
    the check named, and the unchanged rules pass it."""
    m = model_of(PROVEN)
    svc = m.service("web")
    (s,) = svc.slos
    files = []
    for k, (change, scenario, _) in enumerate([(None, "", ""), *BREAKS]):
        groups = slo.rule_groups(m, svc)
        if change is not None:
            before = json.dumps(groups)
            change(groups)
            assert json.dumps(groups) != before
        tests = [g for g in proofs(m, svc, s) if " per endpoint: " in g["name"] and scenario in g["name"]]
        assert tests
        (tmp_path / f"rules{k}.yml").write_text(dump_yaml({"groups": groups}))
        files.append(tmp_path / f"test{k}.yml")
        files[-1].write_text(dump_yaml({"rule_files": [f"rules{k}.yml"], "evaluation_interval": m.evaluation_interval,
                                        "tests": tests}))
    junit = tmp_path / "junit.xml"  # promtool's report per test file
    proc = run(promtool, "test", "rules", f"--junit={junit}", *map(str, files))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = {Path(suite.get("name", "")).name: "".join(f.text or "" for f in suite.iter("failure"))
              for suite in ElementTree.parse(junit).getroot().iter("testsuite")}
    assert set(result) == {f.name for f in files}, result
    assert result["test0.yml"] == "", result["test0.yml"]
    for k, (_, _, failing) in enumerate(BREAKS, start=1):
        assert failing in result[f"test{k}.yml"], (k, result[f"test{k}.yml"])


# --------------------------------------------------------------------------- refused at their place


def _problems(text: str) -> list[str]:
    try:
        load_spec_text(text, "s.yaml")
    except SpecError as e:
        return [line.removeprefix("s.yaml:") for line in e.lines()]
    return []


def _with_by(by: str, sli: str = "{type: availability}", extra: str = "") -> str:
    return SPEC.replace("{name: plain, objective: 99, sli: {type: availability}}",
                        f"{{name: plain, objective: 99, sli: {sli}, by: {by}}}").replace("    team: core\n",
                                                                                         f"    team: core\n{extra}")


@pytest.mark.parametrize(("by", "sli", "extra", "message"), [
    ("[endpoint, endpoint]", "{type: availability}", "", "by[1]: `endpoint` is already listed at by[0]"),
    ("[__name__]", "{type: availability}", "", "by[0]: `__name__`: label names starting with `__` are Prometheus'"),
    ("[slo_id]", "{type: availability}", "", "by[0]: `slo_id` is obsgen's: obsgen sets it on every SLO series"),
    ("[severity]", "{type: availability}", "", "by[0]: `severity` is obsgen's"),
    ("[team]", "{type: availability}", "", "by[0]: `team` is obsgen's: the service's `team` sets it"),
    ("[env]", "{type: availability}", "    labels: {env: prod}\n", "by[0]: `env` is one of the service's `labels:`"),
    ("[job]", "{type: availability}", "", "by[0]: `job` is the scrape job's, which the SLI's selectors fix"),
    ("[status]", "{type: availability}", "", "by[0]: `status` is the `status_label` the SLI tells errors by"),
    ("[le]", "{type: latency, threshold: 250ms}", "", "by[0]: `le` is the histogram's bucket boundary"),
    ("[9x]", "{type: availability}", "", "by[0]: `9x` is not a Prometheus label name"),
    ("[topic]", "{events: {errors: 'sum(rate(a[{{window}}]))', total: 'sum by (topic) (rate(b[{{window}}]))'}}", "",
     "by[0]: `topic` is aggregated away by sli.events.errors (`sum(...)` keeps no label)"),
    ("[result]", "{events: {errors: 'rate(a{result=\"x\"}[{{window}}])', total: 'rate(a[{{window}}])'}}", "",
     "by[0]: `result` is matched by sli.events.errors other than by sli.events.total"),
    ("[topic]", "{events: {errors: 'rate(a{topic=\"x\"}[{{window}}])', total: 'rate(b{topic=\"x\"}[{{window}}])'}}",
     "", "by[0]: `topic` is fixed to one value by every selector of the SLI"),
    ("[queue]", "{expr: 'sum by (q) (rate(a[{{window}}])) / on (q) sum by (q) (rate(b[{{window}}]))'}", "",
     "by[0]: `queue` is aggregated away by sli.expr (`/ on (q)` keeps only those)"),
    ("[queue]", "{expr: 'avg without (queue) (rate(a[{{window}}]))'}", "",
     "by[0]: `queue` is aggregated away by sli.expr (`avg without (queue)` drops it)"),
])
def test_labels_that_cannot_make_groups_are_refused_at_their_place(by: str, sli: str, extra: str,
                                                                   message: str) -> None:
    problems = _problems(_with_by(by, sli, extra))
    assert len(problems) == 1, problems
    assert re.match(r"\d+:\d+ services\[0\]\.slos\[4\]\.", problems[0]), problems
    assert message in problems[0], problems


def test_labels_that_make_groups_are_accepted() -> None:
    for by, sli in (("[endpoint, method]", "{type: availability}"), ("[instance]", "{type: latency, threshold: 1s}"),
                    ("[topic]", "{events: {errors: 'sum by (topic, x) (rate(a[{{window}}]))', "
                                "total: 'sum without (x) (rate(b[{{window}}]))'}}"),
                    ("[queue]", "{expr: 'label_replace(rate(a[{{window}}]), \"queue\", \"$1\", \"q\", \"(.*)\")'}"),
                    ("[queue]", "{expr: 'sum by (queue) (rate(a[{{window}}])) / on (queue) group_left "
                                "sum by (queue) (rate(b[{{window}}]))'}")):
        assert _problems(_with_by(by, sli)) == [], (by, sli)


CLASSED = """\
version: 1
project: {name: shop}
slo_classes:
  web: {availability: 99.9, latency: {objective: 99, threshold: 250ms}, by: [route]}
services:
  - name: api
    class: web
    scrape: {static: ["api:8080"]}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def test_a_class_by_applies_to_its_slos_and_is_checked_per_service() -> None:
    m = model_of(CLASSED)
    assert {s.name: s.by for s in m.service("api").slos} == {"availability": ("route",), "latency": ("route",)}
    bad = _problems(CLASSED.replace("by: [route]", "by: [status]"))
    assert len(bad) == 1 and "slo_classes.web.by[0]: `status` is the `status_label`" in bad[0], bad
    assert "(for service 'api', which has this class)" in bad[0]


def test_schema_describes_by() -> None:
    from obsgen.spec.models import Spec

    schema = Spec.model_json_schema()
    for model in ("Slo", "SloClass"):
        prop = schema["$defs"][model]["properties"]["by"]
        assert prop["items"]["pattern"] and prop["description"], prop

