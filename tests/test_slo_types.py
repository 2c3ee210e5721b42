"""The SLI types beside availability, latency and ratio: events written as good and total events, boolean gauges
(the share of samples at 0: the blackbox exporter's probe_success, Prometheus' up) and native-histogram latency
(histogram_fraction). The fixture `tests/fixtures/specs/slo-types.yaml` uses all three, one of them per label:
`obsgen check --strict` reads its proof coverage as full, and every SLO alert has a firing and a silent case.
Hand-written promtool tests pin what each type's recordings mean (a missing good series is 0 good events, a
gauge's share counts samples, an idle native histogram adds nothing), and breaking what a proof proves fails it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import obsgen

from obsgen import coverage, slo
from obsgen.model import Model, resolve
from obsgen.render import grafana
from obsgen.render.common import dump_yaml
from obsgen.slo_proofs import _buckets, counters, gauge_every, group_values, proof_gap, proofs
from obsgen.spec import SpecError, load_spec_text

FIXTURE = Path(__file__).parent / "fixtures" / "specs" / "slo-types.yaml"


ROUTING = 'channels: {ops: {type: webhook, url: "http://ops.example.com/hook"}}\nrouting: {default: ops}\n'


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text if "routing:" in text else text + ROUTING, "spec.yaml"), "spec.yaml")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _slo(m: Model, service: str, name: str) -> Any:
    return next(s for s in m.service(service).slos if s.name == name)


def _groups(m: Model, service: str, name: str) -> list[dict[str, Any]]:
    return [g for g in slo.rule_groups(m, m.service(service)) if g["name"].startswith(f"{service}-slo-{name}-")]


def _promtool(promtool: str, folder: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]],
              evaluation_interval: str = "1m") -> subprocess.CompletedProcess[str]:
    (folder / "rules.yml").write_text(dump_yaml({"groups": groups}))
    (folder / "test.yml").write_text(dump_yaml({"rule_files": ["rules.yml"],
                                                "evaluation_interval": evaluation_interval, "tests": tests}))
    return run(promtool, "test", "rules", str(folder / "test.yml"))


# --------------------------------------------------------------------------- the fixture, end to end


def test_check_strict_reads_full_coverage_and_every_slo_alert_fires_and_stays_silent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    obsgen("render", str(FIXTURE), "-o", str(out), check=True)
    proc = obsgen("check", "--strict", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"obsgen proof coverage\s*│\s*every alert rule\s*│\s*passed", proc.stdout), proc.stdout
    m = model_of(FIXTURE.read_text())
    rules = {f"prometheus/rules/{svc.name}.yml": yaml.safe_load(
        (out / "prometheus" / "rules" / f"{svc.name}.yml").read_text())["groups"] for svc in m.services}
    tests = {f"prometheus/tests/{svc.name}.test.yml": yaml.safe_load(
        (out / "prometheus" / "tests" / f"{svc.name}.test.yml").read_text()) for svc in m.services}
    found = coverage.proofs(coverage.alert_rules(rules), tests)
    slo_alerts = {name for svc in m.services for s in svc.slos for name in slo.alert_names(svc, s).values()}
    proven = [p for p in found if p.rule.alert in slo_alerts]
    assert len(proven) == 16 and all(p.proven and p.fires and p.silent for p in proven), [
        (p.rule.alert, p.why()) for p in proven if not p.proven]
    assert all(proof_gap(svc, s, m) is None for svc in m.services for s in svc.slos)
    # the SLO rows of the dashboard draw every SLO from its recordings
    board = json.loads((out / "grafana" / "dashboards" / "gateway.json").read_text())
    titles = [p["title"] for p in board["panels"]]
    assert "SLO latency: 99% over 28d" in titles and "SLO probes: 99.5% over 30d" in titles, titles


def test_the_proofs_read_the_types_own_series() -> None:
    m = model_of(FIXTURE.read_text())
    gateway, accounts = m.service("gateway"), m.service("accounts")
    (hist,) = counters(gateway, _slo(m, "gateway", "latency")) or []
    assert (hist.counts, hist.threshold, hist.labels) == ("histogram", _slo(m, "gateway", "latency").latency_threshold, {
        "__name__": "http_server_request_duration_seconds", "job": "gateway"})
    (probe,) = counters(gateway, _slo(m, "gateway", "probes")) or []
    assert (probe.counts, probe.labels) == ("gauge", {"__name__": "probe_success", "job": "blackbox-http",
                                                      "service": "gateway"})
    good, bad = counters(accounts, _slo(m, "accounts", "requests")) or []
    assert (good.counts, good.labels["outcome"], bad.counts) == ("good", "SUCCESS", "errors")
    assert bad.labels["outcome"] not in ("SUCCESS", "CLIENT_ERROR")  # read by total, not by good
    assert group_values(accounts, _slo(m, "accounts", "up"), 2) == [{"instance": "g0"}, {"instance": "g1"}]
    # 300ms lies in the native bucket (0.25, 0.5]: the good requests go below it, the bad ones above it
    assert _buckets(_slo(m, "gateway", "latency").latency_threshold) == -1


def test_the_gauge_proofs_sample_finely_enough_for_whole_zeros() -> None:
    from fractions import Fraction

    # 99.5%: 2x the budget is one zero in 100 samples per 5m, half of it one in 400: 3s and 750ms
    assert gauge_every(60, (Fraction(0), Fraction(1, 100))) == 3
    assert gauge_every(60, (Fraction(1, 400),)) == Fraction(3, 4)
    assert gauge_every(45, (Fraction(0), Fraction(1))) == 15  # a whole number of samples per step and per 5m
    with pytest.raises(ValueError, match="more than 5000 samples"):
        gauge_every(60, (Fraction(1, 40000),))
    m = model_of(FIXTURE.read_text().replace("objective: 99.5", "objective: 99.99"))
    gap = proof_gap(m.service("gateway"), _slo(m, "gateway", "probes"), m)
    assert gap is not None and "gauge's proof input" in gap, gap
    assert proofs(m, m.service("gateway"), _slo(m, "gateway", "probes")) == []


# --------------------------------------------------------------------------- what the recordings mean

GOOD_TOTAL = """\
version: 1
project: {name: t}
defaults: {scrape_interval: 1m, evaluation_interval: 1m}
services:
  - name: accounts
    scrape: {static: ["accounts:8080"]}
    slos:
      - name: requests
        objective: 99
        BY
        sli:
          events:
            good: 'sum by (uri) (rate(http_server_requests_seconds_count{job="accounts", outcome="SUCCESS"}[{{window}}]))'
            total: 'sum by (uri) (rate(http_server_requests_seconds_count{job="accounts"}[{{window}}]))'
"""


def _ratio(metric: str, slo_id: str, at: str, value: float | str, extra: str = "") -> dict[str, Any]:
    labels = f'service="{slo_id.split("-")[0]}", slo="{slo_id.split("-", 1)[1]}", slo_id="{slo_id}"{extra}'
    return {"expr": f'{metric}{{slo_id="{slo_id}"}}', "eval_time": at,
            "exp_samples": [{"labels": f"{metric}{{{labels}}}", "value": value}]}


def test_a_missing_good_series_counts_as_no_good_events(promtool: str, tmp_path: Path) -> None:
    """Per group: /login has only failed requests (no SUCCESS series yet), /me only good ones."""
    m = model_of(GOOD_TOTAL.replace("BY", "by: [uri]"))
    groups = _groups(m, "accounts", "requests")
    job = 'job="accounts", instance="accounts:8080"'
    tests = [{"interval": "1m", "input_series": [
        {"series": f'http_server_requests_seconds_count{{{job}, uri="/login", outcome="SERVER_ERROR"}}',
         "values": "0+60x20"},
        {"series": f'http_server_requests_seconds_count{{{job}, uri="/me", outcome="SUCCESS"}}', "values": "0+60x20"},
    ], "promql_expr_test": [
        _ratio("slo:sli_error:ratio_rate5m", "accounts-requests", "10m", 1, ', uri="/login"'),
        _ratio("slo:sli_error:ratio_rate1h", "accounts-requests", "10m", 1, ', uri="/login"'),
        {**_ratio("slo:sli_error:ratio_rate5m", "accounts-requests", "10m", 0, ', uri="/me"'),
         "expr": 'slo:sli_error:ratio_rate5m{slo_id="accounts-requests", uri="/me"}'},
    ]}]
    tests[0]["promql_expr_test"][0]["expr"] = 'slo:sli_error:ratio_rate5m{slo_id="accounts-requests", uri="/login"}'
    tests[0]["promql_expr_test"][1]["expr"] = 'slo:sli_error:ratio_rate1h{slo_id="accounts-requests", uri="/login"}'
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    errors = groups[0]["rules"][1]
    assert errors["record"] == slo.ERRORS and " or on (uri) 0 * " in errors["expr"], errors
    errors["expr"] = errors["expr"].split(" or on (uri)")[0] + ")"  # a missing good series stays missing
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 1 and 'uri=\\"/login\\"' in proc.stderr, proc.stdout + proc.stderr


GAUGES = """\
version: 1
project: {name: t}
defaults: {scrape_interval: 1m, evaluation_interval: 1m}
services:
  - name: edge
    scrape: {static: ["edge:9100"]}
    slos:
      - {name: probes, objective: 99, sli: {type: bool_gauge, metric: 'probe_success{job="blackbox-http"}'}}
"""


def test_a_gauge_share_counts_samples_not_series(promtool: str, tmp_path: Path) -> None:
    """Two probes, one scraped twice as often as the other: the fast one always up, the slow one always down.
    A third of the samples are 0, so every window reads 1/3 (an average per series would read 1/2)."""
    m = model_of(GAUGES)
    groups = _groups(m, "edge", "probes")
    tests = [{"interval": "30s", "input_series": [
        {"series": 'probe_success{job="blackbox-http", instance="https://shop.example.com/"}', "values": "1x240"},
        {"series": 'probe_success{job="blackbox-http", instance="https://api.example.com/health"}',
         "values": " ".join(["0 _"] * 120) + " 0"},
    ], "promql_expr_test": [_ratio(f"slo:sli_error:ratio_rate{w}", "edge-probes", "2h", 1 / 3) for w in ("5m", "1h")]}]
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total, errors = groups[0]["rules"][:2]
    assert "count_over_time(" in total["expr"] and "sum_over_time(" in errors["expr"], (total, errors)
    # the share of each series averaged, as an average of a 0/1 gauge per series reads it
    metric = 'probe_success{job="blackbox-http"}'
    total["expr"] = f"count(count_over_time({metric}[5m]))"
    errors["expr"] = f"count(count_over_time({metric}[5m])) - sum(avg_over_time({metric}[5m]))"
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 1 and "5E-01" in proc.stderr, proc.stdout + proc.stderr


NATIVE = """\
version: 1
project: {name: t}
defaults: {scrape_interval: 1m, evaluation_interval: 1m}
services:
  - name: search
    scrape: {static: ["search:8080"]}
    slos:
      - {name: latency, objective: 99, sli: {type: latency_native, threshold: 200ms}}
"""


def test_a_native_histogram_share_is_exact_between_buckets_and_idle_series_add_nothing(promtool: str,
                                                                                      tmp_path: Path) -> None:
    """Two instances: one idle (its histogram does not change: its fraction is NaN), one with 3 requests per
    minute at or below 0.125s and 60 in (0.25s, 0.5s]: a quarter of the requests are slower than 200ms."""
    m = model_of(NATIVE)
    groups = _groups(m, "search", "latency")
    hist = "schema:0 sum:{s} count:{c} offset:-3 buckets:[{a} 0 {b}]"
    busy = "{{" + hist.format(s=0, c=0, a=0, b=0) + "}}+{{" + hist.format(s=45, c=240, a=180, b=60) + "}}x30"
    idle = "{{" + hist.format(s=2, c=8, a=8, b=0) + "}}x30"
    tests = [{"interval": "1m", "input_series": [
        {"series": 'http_request_duration_seconds{job="search", instance="search-1:8080"}', "values": busy},
        {"series": 'http_request_duration_seconds{job="search", instance="search-2:8080"}', "values": idle},
    ], "promql_expr_test": [_ratio(f"slo:sli_error:ratio_rate{w}", "search-latency", "20m", 0.25)
                            for w in ("5m", "1h")]}]
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total, errors = groups[0]["rules"][:2]
    assert "histogram_fraction(0, 0.2, rate(" in errors["expr"] and " >= 0)" in errors["expr"], errors
    errors["expr"] = errors["expr"].replace(" >= 0)", ")")  # the idle series' NaN spoils the sum
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 1 and "NaN" in proc.stderr, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- breaking what the proofs prove


def _errors_are_good(groups: list[dict[str, Any]]) -> None:
    rule = groups[0]["rules"][1]  # errors = total - (good or 0 * total): errors = the good events
    rule["expr"] = rule["expr"].replace(" - on () (", " * 0 + on () (", 1)


def _gauge_counts_ones(groups: list[dict[str, Any]]) -> None:
    rule = groups[0]["rules"][1]  # the samples at 1 as the good events: every sample good
    rule["expr"] = rule["expr"].replace("sum(sum_over_time(", "sum(count_over_time(")


def _threshold_above_the_bad_bucket(groups: list[dict[str, Any]]) -> None:
    rule = groups[0]["rules"][1]
    rule["expr"] = rule["expr"].replace("histogram_fraction(0, 0.3,", "histogram_fraction(0, 1.5,")


@pytest.mark.parametrize(("service", "name", "change"), [
    ("accounts", "requests", _errors_are_good),
    ("gateway", "probes", _gauge_counts_ones),
    ("gateway", "latency", _threshold_above_the_bad_bucket),
], ids=["good-total-errors-are-good", "gauge-ones-counted", "native-threshold-moved"])
def test_breaking_a_type_s_recording_fails_its_outage_proof(promtool: str, tmp_path: Path, service: str, name: str,
                                                           change: Any) -> None:
    m = model_of(FIXTURE.read_text())
    svc = m.service(service)
    s = _slo(m, service, name)
    groups = _groups(m, service, name)
    tests = [g for g in proofs(m, svc, s) if "total outage" in g["name"]]
    assert tests
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before = dump_yaml({"groups": groups})
    change(groups)
    assert dump_yaml({"groups": groups}) != before
    proc = _promtool(promtool, tmp_path, groups, tests)
    alert = slo.alert_names(svc, s)["burn"]
    assert proc.returncode == 1 and f'ALERTS{{alertname=\\"{alert}\\"' in proc.stderr, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- rules, dashboards, the bench


def test_every_type_has_a_naive_form_and_a_dashboard_row() -> None:
    m = model_of(FIXTURE.read_text())
    for svc in m.services:
        for s in svc.slos:
            naive = [r for r in slo.recording_rules(m, s, naive=True) if r["record"].startswith("slo:sli_error:")]
            assert all("{{window}}" not in r["expr"] for r in naive)
            assert "slo:" not in naive[1]["expr"] and "[" in naive[1]["expr"], s.id  # the raw series, as Sloth reads
    rendered = grafana.render(m)
    board = json.loads(next(text for path, text in rendered.items() if path.endswith("accounts.json")))
    row = [p for p in board["panels"] if p["title"] == "SLI up"]
    assert row and any('slo:sli_error:ratio_rate5m{slo_id="accounts-up",instance=~"$slo_instance"}' in t["expr"]
                       for t in row[0]["targets"]), row


def test_a_bool_gauge_has_no_low_traffic_guard() -> None:
    m = model_of(FIXTURE.read_text())
    probes = _slo(m, "gateway", "probes")
    page = next(r for r in slo.alert_rules(m, m.service("gateway"), probes) if r["labels"]["tier"] == "page")
    assert slo.TOTAL not in page["expr"]  # defaults.min_request_rate is for requests, not for samples
    latency = _slo(m, "gateway", "latency")
    page = next(r for r in slo.alert_rules(m, m.service("gateway"), latency) if r["labels"]["tier"] == "page")
    assert page["expr"].endswith(">= 0.5")  # requests per second from the native histogram's count


# --------------------------------------------------------------------------- bad spec input, at its place

BASE = """\
version: 1
project: {name: t}
services:
  - name: api
    scrape: {static: ["api:8080"]}
    slos:
      - {name: s, objective: 99, SLI}
"""


def _problems(sli: str) -> list[str]:
    try:
        load_spec_text(BASE.replace("SLI", sli) + ROUTING, "s.yaml")
    except SpecError as e:
        return [line.removeprefix("s.yaml:") for line in e.lines()]
    return []


W = "[{{window}}]"


@pytest.mark.parametrize(("sli", "where", "message"), [
    ("sli: {type: latency_native}", "sli.threshold", "a latency_native SLI needs `threshold` (a duration"),
    ("sli: {type: latency_native, threshold: 0s}", "sli.threshold", "a latency threshold is a positive duration"),
    ("sli: {type: bool_gauge}", "sli.metric", "a bool_gauge SLI needs `metric`"),
    (f"sli: {{type: bool_gauge, metric: 'up{W}'}}", "sli.metric", "without a range: obsgen adds `[5m]` itself"),
    ("sli: {type: bool_gauge, metric: 'up[5m]'}", "sli.metric", "is a range, not the gauge's series"),
    ("sli: {type: bool_gauge, metric: 'avg(up)'}", "sli.metric", "is an expression, not the gauge's series"),
    ("sli: {type: latency_native, threshold: 1s, metric: 'rate(h[5m])'}", "sli.metric",
     "is an expression, not the native histogram's series"),
    ("sli: {type: bool_gauge, metric: 'up{job=}'}", "sli.metric", "PromQL"),
    ("sli: {type: bool_gauge, metric: ''}", "sli.metric", "is empty: name the gauge's series"),
    ("sli: {type: bool_gauge, metric: 'probe_succ#ess{job=\"x\"}'}", "sli.metric", "does not parse where obsgen puts it"),
    ("sli: {type: latency_native, threshold: 1s, metric: ' '}", "sli.metric", "is empty: name the native histogram"),
    ("sli: {type: bool_gauge, metric: up, threshold: 1s}", "sli.threshold", "does not apply to a bool_gauge SLI"),
    ("sli: {type: availability, metric: up}", "sli.metric", "does not apply to a availability SLI"),
    ("sli: {type: bool_gauge, metric: up}, min_request_rate: 1", "min_request_rate",
     "a bool_gauge SLI counts samples, which come at the scrape interval whatever the traffic"),
    (f"sli: {{events: {{errors: 'sum(rate(a{W}))', good: 'sum(rate(b{W}))', total: 'sum(rate(c{W}))'}}}}",
     "sli.events.good", "give `errors` or `good`, not both"),
    (f"sli: {{events: {{total: 'sum(rate(c{W}))'}}}}", "sli.events", "needs `errors` (the bad events) or `good`"),
    (f"sli: {{events: {{good: 'sum(rate(b[5m]))', total: 'sum(rate(c{W}))'}}}}", "sli.events.good",
     "must contain {{window}}"),
    (f"sli: {{events: {{good: 'sum(rate(b{W})', total: 'sum(rate(c{W}))'}}}}", "sli.events.good", "PromQL"),
    ("sli: {type: bool_gauge, metric: 'up{job=\"api\"}'}, by: [job]", "by[0]",
     "is fixed to one value by the SLI's `metric`"),
])
def test_bad_sli_input_is_refused_at_its_place(sli: str, where: str, message: str) -> None:
    found = _problems(sli)
    assert len(found) == 1, found
    assert re.match(rf"\d+:\d+ services\[0\]\.slos\[0\]\.{re.escape(where)}: ", found[0]), found
    assert message in found[0], found


def test_good_input_is_accepted() -> None:
    for sli in ("sli: {type: latency_native, threshold: 250ms}",
                "sli: {type: latency_native, threshold: 0.1, metric: 'grpc_server_handling_seconds{job=\"api\"}'}",
                "sli: {type: bool_gauge, metric: 'up{job=\"api\"}'}, by: [instance]",
                f"sli: {{events: {{good: 'sum(rate(b{W}))', total: 'sum(rate(c{W}))'}}}}"):
        assert _problems(sli) == [], sli


def test_the_cli_refuses_bad_sli_input_with_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(BASE.replace("SLI", "sli: {type: bool_gauge, metric: 'up[5m]'}") + ROUTING)
    proc = obsgen("render", str(spec), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "s.yaml:7:" in proc.stdout + proc.stderr and "services[0].slos[0].sli.metric" in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


def test_sloth_series_of_every_type_carry_obsgen_s_values(promtool: str, tmp_path: Path) -> None:
    """Errors counted as total minus good are the ratio up to float rounding: the Sloth proof compares each copy
    with obsgen's own recording; a copy that differs fails it."""
    m = model_of(FIXTURE.read_text().replace("defaults: {", "defaults: {sloth_compatible: true, "))
    for svc in m.services:
        for s in svc.slos:
            groups = _groups(m, svc.name, s.name)
            tests = [g for g in proofs(m, svc, s) if "Sloth's series" in g["name"]]
            assert len(tests) == 1, s.id
            proc = _promtool(promtool, tmp_path, groups, tests)
            assert proc.returncode == 0, proc.stdout + proc.stderr
    copy = next(r for r in groups[0]["rules"] if r.get("labels", {}).get("sloth_window") == "1h")
    copy["expr"] = f"2 * {copy['expr']}"
    proc = _promtool(promtool, tmp_path, groups, tests)
    assert proc.returncode == 1 and "ratio_rate1h{sloth_id" in proc.stderr, proc.stdout + proc.stderr
