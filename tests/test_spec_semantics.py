"""What decides whether an alert works, checked at validate: unique lists and names, metric names, levels
in the order of their direction, retention that holds the SLO periods, SLIs a scrape can provide, and alert
names that stay whole words when they must be shortened."""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, obsgen, require_tool, run, write_tree

from obsgen.model import resolve
from obsgen.naming import MAX_ALERT_NAME, camel, derived_alert_name
from obsgen.render import render_all
from obsgen.spec import SpecError, load_spec_text
from obsgen.spec.models import ALERT_NAME_RE

QUICKSTART = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
PLATFORM = yaml.safe_load((ROOT / "examples" / "platform-four-services.yaml").read_text())


def _problems(data: dict[str, Any]) -> list[str]:
    """The located problems of a spec, with the file name cut off (`line:col path: message`)."""
    try:
        load_spec_text(yaml.safe_dump(data, sort_keys=False), "s.yaml")
    except SpecError as e:
        return [line.removeprefix("s.yaml:") for line in e.lines()]
    return []


def _quickstart(change: Any) -> list[str]:
    data = copy.deepcopy(QUICKSTART)
    change(data)
    return _problems(data)


def _one(problems: list[str], path: str) -> str:
    assert len(problems) == 1, problems
    where, _, message = problems[0].partition(": ")
    assert re.fullmatch(rf"\d+:\d+ {re.escape(path)}", where), problems[0]
    return message


# ------------------------------------------------------------------------------------------- duplicates


def test_a_duplicate_service_is_one_message_naming_both_places() -> None:
    data = copy.deepcopy(QUICKSTART)
    data["services"].append(copy.deepcopy(data["services"][0]))
    message = _one(_problems(data), "services[2].name")
    line = next(i for i, text in enumerate(yaml.safe_dump(data, sort_keys=False).splitlines(), 1)
                if text.strip() == "- name: checkout")
    assert f"already defined at services[0].name (line {line})" in message


def test_two_remote_write_entries_with_one_name() -> None:
    def change(d: dict[str, Any]) -> None:
        rws = d["stack"]["prometheus"]["remote_write"]
        rws.append({**copy.deepcopy(rws[0]), "url": "https://other.example.com/api/v1/push"})
    message = _one(_quickstart(change), "stack.prometheus.remote_write[1]")
    assert "remote_write name 'mimir' is already listed at stack.prometheus.remote_write[0] (line" in message


def test_a_repeated_group_by_label_names_the_first() -> None:
    message = _one(_quickstart(lambda d: d["routing"].update(group_by=["alertname", "service", "alertname"])),
                   "routing.group_by[2]")
    assert "already listed at routing.group_by[0] (line" in message and "Alertmanager refuses" in message


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["routing"]["severity"].update(critical=["oncall-pagerduty", "oncall-pagerduty"]),
     "routing.severity.critical[1]", "channel 'oncall-pagerduty' is already listed"),
    (lambda d: d["stack"].update(exporters=["node", {"type": "node"}]), "stack.exporters[1]",
     "exporter 'node' is already listed at stack.exporters[0]"),
    (lambda d: d["services"][0]["scrape"].update(static=["checkout:8080", "checkout:8080"]),
     "services[0].scrape.static[1]", "target 'checkout:8080' is already listed"),
])
def test_lists_whose_entries_must_be_unique(change: Any, path: str, words: str) -> None:
    assert words in _one(_quickstart(change), path)


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize("name", ["1e309", "http requests", "http-requests-total", "requests{job}"])
def test_metric_names_follow_prometheus_grammar(name: str) -> None:
    message = _one(_quickstart(lambda d: d["defaults"]["metrics"].update(duration_histogram=name)),
                   "defaults.metrics.duration_histogram")
    assert "is not a Prometheus metric name" in message
    message = _one(_quickstart(lambda d: d["services"][1]["metrics"].update(requests_total=name)),
                   "services[1].metrics.requests_total")
    assert "is not a Prometheus metric name" in message


def test_colons_are_part_of_metric_names() -> None:
    assert _quickstart(lambda d: d["defaults"]["metrics"].update(requests_total="job:http_requests:total")) == []


# ------------------------------------------------------------------------------------ levels and direction


def _lag(**levels: Any) -> dict[str, Any]:
    data = copy.deepcopy(PLATFORM)
    th = next(t for s in data["services"] for t in s.get("thresholds", []) if t.get("name") == "DataProcessorProcessingLag")
    for key in ("target", "warning", "critical", "direction"):
        th.pop(key, None)
    th.update(levels)
    return data


def test_swapped_levels_on_a_lag_are_refused_not_turned_around() -> None:
    problems = _problems(_lag(warning="10m", critical="5m"))
    message = _one(problems, f"services[{_lag_service()}].thresholds[{_lag_index()}]")
    assert "must rise in that order" in message and "add `direction: below`" in message
    problems = _problems(_lag(target="1m", warning="10m", critical="5m"))
    assert "swap the values" in _one(problems, f"services[{_lag_service()}].thresholds[{_lag_index()}]")
    # in the right order, or with the direction said, it validates
    assert _problems(_lag(target="1m", warning="5m", critical="10m")) == []
    assert _problems(_lag(warning="10m", critical="5m", direction="below")) == []


def test_a_direction_against_a_built_in_indicator() -> None:
    def change(d: dict[str, Any]) -> None:
        d["services"][0]["thresholds"][0]["direction"] = "below"  # error_rate: higher is worse
    message = _one(_quickstart(change), "services[0].thresholds[0].direction")
    assert "a higher error_rate is worse" in message and "remove `direction: below`" in message


def test_the_direction_renders_as_the_spec_says() -> None:
    """Levels that fall need `direction: below`; the rendered alert then fires below them, never above."""
    spec = load_spec_text(yaml.safe_dump(_lag(warning="10m", critical="5m", direction="below")), "s.yaml")
    files = render_all(resolve(spec))
    rules = yaml.safe_load(files["prometheus/rules/data-processor.yml"])
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"] if r.get("alert") == "DataProcessorProcessingLag"]
    assert exprs and all(" < " in e and " > " not in e for e in exprs), exprs


def _lag_service() -> int:
    return next(i for i, s in enumerate(PLATFORM["services"])
                if any(t.get("name") == "DataProcessorProcessingLag" for t in s.get("thresholds", [])))


def _lag_index() -> int:
    return next(j for j, t in enumerate(PLATFORM["services"][_lag_service()]["thresholds"])
                if t.get("name") == "DataProcessorProcessingLag")


# ------------------------------------------------------------------------------------------- retention


@pytest.mark.parametrize("operator", [False, True])
def test_retention_shorter_than_an_slo_period_is_refused(operator: bool) -> None:
    def change(d: dict[str, Any]) -> None:
        d["stack"]["prometheus"]["retention"] = "7d"
        d["services"][0]["slos"][0]["period"] = "28d"
        if operator:
            d["stack"]["deploy"] = ["kubernetes"]
            d["stack"]["kubernetes"] = {"prometheus_operator": True}
            d["routing"]["quiet_hours"]["timezone"] = "UTC"  # the operator's Alertmanager reads hours in UTC
    message = _one(_quickstart(change), "stack.prometheus.retention")
    assert "keeps 7d" in message and "services[0].slos[0].period (line" in message and "28d" in message


def test_retention_unset_follows_the_longest_slo_period() -> None:
    data = copy.deepcopy(QUICKSTART)
    del data["stack"]["prometheus"]["retention"]
    data["services"][0]["slos"][0]["period"] = "28d"
    data["services"][1]["slos"] = [{"name": "availability", "objective": 99.5, "period": "30d",
                                    "sli": {"type": "availability"}}]
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    assert "--storage.tsdb.retention.time=30d" in files["docker-compose.yml"]
    data["services"][1]["slos"] = []
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    assert "--storage.tsdb.retention.time=28d" in files["docker-compose.yml"]
    for svc in data["services"]:
        svc["slos"] = []
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    assert "--storage.tsdb.retention.time=15d" in files["docker-compose.yml"]  # Prometheus' own default


# ------------------------------------------------------------------------------- SLIs nothing can provide


def test_an_slo_on_a_service_nothing_scrapes() -> None:
    def change(d: dict[str, Any]) -> None:
        del d["services"][0]["scrape"]
        d["services"][0].pop("health")
        d["services"][0]["thresholds"] = []
    message = _one(_quickstart(change), "services[0].slos[0].sli")
    assert 'http_requests_total{job="checkout"}' in message and "absent forever" in message
    # an events SLI over metrics another job provides is the user's to write
    def events(d: dict[str, Any]) -> None:
        change(d)
        d["services"][0]["slos"][0]["sli"] = {"events": {
            "errors": 'sum(rate(payments_failed_total{job="payments"}[{{window}}]))',
            "total": 'sum(rate(payments_total{job="payments"}[{{window}}]))'}}
    assert _quickstart(events) == []


def test_an_slo_that_cannot_fire_is_said_at_every_service_that_has_it() -> None:
    """The same objective and period on several services is one finding of the windows, said at each place."""
    def change(d: dict[str, Any]) -> None:
        for svc in d["services"][:2]:
            svc["slos"] = [{"name": "low", "objective": 50, "sli": {"type": "availability"}},
                           {"name": "lower", "objective": 40, "sli": {"type": "availability"}}]
    problems = _quickstart(change)
    where = [p.partition(": ")[0].split(" ") for p in problems]
    assert [w[1] for w in where] == [f"services[{i}].slos[{j}].{k}" for i in (0, 1)
                                     for j, k in ((0, "objective"), (1, "objective"))], problems
    assert len({w[0] for w in where}) == 4, problems  # each at its own line and column
    assert all("objective of 50%" in p for p in problems[::2]) and all("objective of 40%" in p for p in problems[1::2])


def test_a_built_in_indicator_on_a_service_nothing_scrapes() -> None:
    def change(d: dict[str, Any]) -> None:
        del d["services"][0]["scrape"]
        d["services"][0].pop("health")
        d["services"][0]["slos"] = []
        d["services"][0]["thresholds"] = d["services"][0]["thresholds"][:1]
    assert "could never fire" in _one(_quickstart(change), "services[0].thresholds[0].indicator")


# ------------------------------------------------------------------------------------------- alert names

WORDS = ["card", "authorizer", "authorization", "gateway", "ledger", "reconciliation", "settlement",
         "payments", "x", "p99", "eu", "internationalization", "v2", "read", "write", "availability"]


def _slug(rng: random.Random, n: int) -> str:
    return "-".join(rng.choice(WORDS) for _ in range(n))[:63].rstrip("-")


def test_derived_names_are_shortened_by_whole_words_and_stay_unique() -> None:
    rng = random.Random(12)
    names: dict[str, str] = {}
    for _ in range(3000):
        service, middle = _slug(rng, rng.randint(1, 6)), _slug(rng, rng.randint(1, 5))
        suffix = rng.choice(["BudgetBurn", "SliAbsent", "BudgetExhausted", "Down", "HealthCheckFailing", "High"])
        name = derived_alert_name(service, middle, suffix)
        assert len(name) <= MAX_ALERT_NAME and ALERT_NAME_RE.match(name), name
        assert name.endswith(suffix)
        full = camel(service) + camel(middle) + suffix
        if len(full) <= MAX_ALERT_NAME:
            assert name == full
        else:
            head = name[:-len(suffix)]
            kept, digest = head[:-4], head[-4:]
            assert re.fullmatch(r"[0-9a-f]{4}", digest), name
            words = [camel(w) for w in service.split("-") + middle.split("-")]
            # whole words from the start, never a word cut short
            assert kept == "Alert" or any(kept == "".join(words[:k]) for k in range(1, len(words) + 1)), (name, full)
        assert names.setdefault(name, full) == full, (name, full, names[name])  # distinct names stay distinct


def test_long_service_and_slo_names_render_whole_word_alerts(promtool: str, tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    svc = data["services"][0]
    svc["name"] = "card-authorizer-authorization-gateway"
    for al in svc["alerts"]:
        al["name"] = al["name"].replace("Checkout", "CardAuthorizerAuthorizationGateway")
        for t in al.get("tests", []):
            for s in t["input_series"]:
                s["series"] = s["series"].replace('job="checkout"', f'job="{svc["name"]}"')
        al["expr"] = al["expr"].replace('job="checkout"', f'job="{svc["name"]}"')
    svc["slos"] = [{"name": "authorization-latency-p99", "objective": 99.9, "sli": {"threshold": "250ms"}},
                   {"name": "authorization-latency-p95", "objective": 99.0, "sli": {"threshold": "100ms"}},
                   {"name": "availability", "objective": 99.9, "sli": {"type": "availability"}}]
    assert _problems(data) == []
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    rules = yaml.safe_load(files[f"prometheus/rules/{svc['name']}.yml"])
    alerts = sorted({r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r})
    assert len(alerts) >= 12
    for name in alerts:
        assert ALERT_NAME_RE.match(name) and len(name) <= len("CardAuthorizerAuthorizationGatewayPaymentProviderErrors")
    slo_names = [a for a in alerts if a.endswith(("BudgetBurn", "SliAbsent", "BudgetExhausted"))]
    assert len(slo_names) == 9 and len(set(slo_names)) == 9
    assert "CardAuthorizerAuthorizatiBudgetExhausted" not in alerts
    out = write_tree(tmp_path, files)  # (the SLO proofs' promtool tests run for every example elsewhere)
    proc = run([promtool, "check", "rules", "--lint-fatal", f"prometheus/rules/{svc['name']}.yml"], cwd=out)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_example_validates() -> None:
    for path in EXAMPLES:
        assert _problems(yaml.safe_load(path.read_text())) == [], path.name


# ------------------------------------------------------------------------------------------------- CLI


def test_validate_exits_2_with_the_place(tmp_path: Path) -> None:
    data = copy.deepcopy(QUICKSTART)
    data["stack"]["prometheus"]["retention"] = "7d"
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(rf"^{re.escape(str(spec))}:\d+:\d+ stack\.prometheus\.retention: ", proc.stderr, re.M)


# ------------------------------------------------------------------------------ what promtool can simulate


def test_an_alert_test_past_seven_days_is_refused() -> None:
    def change(d: dict[str, Any]) -> None:
        d["services"][0]["alerts"][0]["tests"][0]["alert_rule_test"][1]["eval_time"] = "8d"
    message = _one(_quickstart(change), "services[0].alerts[0].tests[0].alert_rule_test[1].eval_time")
    assert "past 7d" in message
    def week(d: dict[str, Any]) -> None:
        d["services"][0]["alerts"][0]["tests"][0]["alert_rule_test"][1]["eval_time"] = "7d"
    assert _quickstart(week) == []


def test_a_threshold_held_for_days_is_reported_unproven_not_simulated() -> None:
    import json

    data = copy.deepcopy(QUICKSTART)
    data["services"][0]["thresholds"][0]["for"] = "290y"
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    alerts = json.loads(files["proof/alerts.json"])["alerts"]
    entry = [a for a in alerts if a["alert"] == "CheckoutErrorRateHigh"]
    assert entry and all(not a["proven"] and "longer than 6h" in a["reason"] for a in entry), entry
    tests = yaml.safe_load(files["prometheus/tests/checkout.test.yml"])
    assert not [g for g in tests["tests"] if "CheckoutErrorRateHigh" in g.get("name", "")]
    data["services"][0]["thresholds"][0]["for"] = "6h"
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    tests = yaml.safe_load(files["prometheus/tests/checkout.test.yml"])
    assert [g for g in tests["tests"] if "CheckoutErrorRateHigh" in g.get("name", "")]


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["services"][1]["thresholds"][3].update(unit=""), "services[1].thresholds[3].unit", "Grafana unit"),
    (lambda d: d["services"][0]["alerts"][0]["tests"][0]["input_series"][0].update(values="0 1e309x2"),
     "services[0].alerts[0].tests[0].input_series[0].values", "beyond what a float64 sample holds"),
])
def test_values_grafana_or_promtool_cannot_take(change: Any, path: str, words: str) -> None:
    assert words in _one(_quickstart(change), path)


def test_a_blank_panel_unit() -> None:
    data = yaml.safe_load((ROOT / "examples" / "ai-chat.yaml").read_text())
    data["services"][1]["panels"][1]["unit"] = " "
    assert "Grafana unit" in _one(_problems(data), "services[1].panels[1].unit")


@pytest.mark.parametrize(("change", "path"), [
    (lambda d: d["defaults"].update(scrape_interval="7d"), "defaults.scrape_interval"),
    (lambda d: d["services"][0]["scrape"].update(interval="3m"), "services[0].scrape.interval"),
])
def test_scrapes_too_rare_for_a_5m_rate(change: Any, path: str) -> None:
    assert "longer than 2m" in _one(_quickstart(change), path)
    assert _quickstart(lambda d: d["services"][0]["scrape"].update(interval="2m")) == []


def test_a_level_no_ratio_can_pass() -> None:
    message = _one(_quickstart(lambda d: d["services"][0]["thresholds"][0].update(critical="100%")),
                   "services[0].thresholds[0].critical")
    assert "no ratio is above 100%" in message


def test_a_level_at_zero_is_proven_silent_at_zero(promtool: str, tmp_path: Path) -> None:
    """`error_rate > 0` stays silent only with no errors at all: the generated test says so, and holds."""
    data = copy.deepcopy(QUICKSTART)
    th = data["services"][0]["thresholds"][0]
    th.pop("target")
    th.update(warning="0%", critical="0.5%", description="{{ $value }} of requests fail.")
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    tests = yaml.safe_load(files["prometheus/tests/checkout.test.yml"])
    names = [g["name"] for g in tests["tests"] if g["name"].startswith("CheckoutErrorRateHigh")]
    assert "CheckoutErrorRateHigh: stays silent inside the target at 0%" in names
    tests["tests"] = [g for g in tests["tests"] if g["name"].startswith("CheckoutErrorRateHigh")]
    files["prometheus/tests/checkout.test.yml"] = yaml.safe_dump(tests)
    out = write_tree(tmp_path, files)
    proc = run([promtool, "test", "rules", "prometheus/tests/checkout.test.yml"], cwd=out)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_value_annotations_print_as_go_does(promtool: str, tmp_path: Path) -> None:
    """`{{ $value }}` of a large number is Go's %v (2.415919104e+09), which the generated tests expect."""
    from obsgen.render.prometheus_tests import go_value

    assert [go_value(v) for v in (2415919104.0, 1e6, 123456.0, 0.5, 1e-05, -2.5, 0.0001)] == \
        ["2.415919104e+09", "1e+06", "123456", "0.5", "1e-05", "-2.5", "0.0001"]
    data = copy.deepcopy(PLATFORM)
    i, j = _lag_service(), _lag_index()
    th = data["services"][i]["thresholds"][j]
    th.update(target="1000000", warning="2415919104", critical="5000000000", description="{{ $value }} now")
    th.pop("unit", None)
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "s.yaml")))
    name = data["services"][i]["name"]
    tests = yaml.safe_load(files[f"prometheus/tests/{name}.test.yml"])
    tests["tests"] = [g for g in tests["tests"] if g["name"].startswith("DataProcessorProcessingLag")]
    assert any("e+09 now" in json_text for json_text in [yaml.safe_dump(tests)])
    files[f"prometheus/tests/{name}.test.yml"] = yaml.safe_dump(tests)
    out = write_tree(tmp_path, files)
    proc = run([promtool, "test", "rules", f"prometheus/tests/{name}.test.yml"], cwd=out)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------- owned labels


@pytest.mark.parametrize(("where", "name"), [("labels", "severity"), ("labels", "tier"), ("labels", "service"),
                                             ("labels", "slo"), ("alert", "severity"), ("alert", "alertname"),
                                             ("scrape", "job"), ("scrape", "service"), ("scrape", "instance")])
def test_a_label_obsgen_sets_is_refused_where_the_spec_sets_it(where: str, name: str) -> None:
    def change(data: dict[str, Any]) -> None:
        svc = data["services"][0]
        target = {"labels": svc.setdefault("labels", {}), "alert": svc["alerts"][0].setdefault("labels", {}),
                  "scrape": svc["scrape"].setdefault("labels", {})}[where]
        target[name] = "x"
    path = {"labels": "services[0].labels", "alert": "services[0].alerts[0].labels",
            "scrape": "services[0].scrape.labels"}[where]
    message = _one(_quickstart(change), f"{path}.{name}")
    assert f"`{name}` is" in message and ("instead" in message or "another label name" in message), message


def test_team_is_set_once() -> None:
    def change(data: dict[str, Any]) -> None:
        data["services"][0]["team"] = "payments"
        data["services"][0]["labels"] = {"team": "web"}
    assert "set it there only" in _one(_quickstart(change), "services[0].labels.team")
    # an alert of its own may go to another team, and label itself as it likes but for obsgen's own labels
    assert _quickstart(lambda d: d["services"][0]["alerts"][0].update(labels={"team": "payments"})) == []
    assert _quickstart(lambda d: d["services"][0]["alerts"][0].update(labels={"tier": "backend", "slo": "x"})) == []


def test_a_severity_label_on_a_service_would_merge_its_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why it is refused: with the check off, the warning and critical rules of a threshold become one rule
    twice, which promtool's linter refuses."""
    import obsgen.spec.validate as validate

    promtool = require_tool("promtool")
    monkeypatch.setattr(validate, "_check_owned_labels", lambda spec: iter(()))
    data = copy.deepcopy(QUICKSTART)
    data["services"][1]["labels"] = {"severity": "critical"}
    spec = load_spec_text(yaml.safe_dump(data, sort_keys=False), "s.yaml")
    out = write_tree(tmp_path, render_all(resolve(spec)))
    lint = run([promtool, "check", "rules", "--lint=all", "--lint-fatal", str(out / "prometheus/rules/catalog.yml")])
    assert lint.returncode != 0 and "duplicate" in lint.stdout + lint.stderr, lint.stdout


@pytest.mark.parametrize("namespace", ["", "Shop", "shop_1", "-shop", "shop-", "a" * 64])
def test_a_scrape_namespace_is_a_kubernetes_namespace(namespace: str) -> None:
    def change(data: dict[str, Any]) -> None:
        data["services"][1]["scrape"]["kubernetes"]["namespace"] = namespace
    assert "is not a Kubernetes namespace" in _one(_quickstart(change), "services[1].scrape.kubernetes.namespace")


@pytest.mark.parametrize("namespace", ["shop", "1shop", "a" * 63, "shop-eu-1"])
def test_a_kubernetes_namespace_validates(namespace: str) -> None:
    assert _quickstart(lambda d: d["services"][1]["scrape"]["kubernetes"].update(namespace=namespace)) == []
