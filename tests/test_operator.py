"""prometheus-operator mode proven: routing on the configuration the operator builds, quiet hours in UTC,
and the custom resources against the CRDs obsgen vendors.

The route proof (`obsgen.operator_routing`) runs the real `amtool config routes test` on the
alertmanager.yml prometheus-operator makes of the rendered AlertmanagerConfig, with the labels the alerts
carry in the cluster; each breaking test below takes away one thing the proof depends on and watches it
fail.
"""

from __future__ import annotations

import copy
import gzip
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import ROOT, obsgen, require_tool, write_tree

from obsgen import crds
from obsgen.model import resolve
from obsgen.operator_routing import (
    BASE_CONFIG,
    STRATEGY_ANNOTATION,
    base_receivers,
    operator_alertmanager_config,
    verify_operator_routes,
)
from obsgen.render import kubernetes_operator, render_all
from obsgen.render.kubernetes_operator import WEEK, utc_intervals, weekday_set
from obsgen.spec import load_spec_text
from obsgen.spec.validate import fixed_utc_offset

CRD_SOURCES = ROOT.parent / "shared/schemas/prometheus-operator"
NS = "obs"


def spec_data(timezone: str = "UTC", strategy: str | None = None) -> dict[str, Any]:
    """Three teams, custom routes (one continuing, one on an external label, one on an alert's own label),
    a Kubernetes-scraped service (its `up` series carries a namespace of its own), Loki alerts, quiet
    hours, a dead man's switch on a channel, and a release that is not called kube-prometheus-stack."""
    kube: dict[str, Any] = {"namespace": NS, "prometheus_operator": True, "release": "monitoring"}
    if strategy:
        kube["alertmanager_config_matcher_strategy"] = strategy
    return {
        "version": 1,
        "project": {"name": "ledger", "environment": "staging", "external_labels": {"cluster": "eu-2"}},
        "services": [
            {"name": "payments", "team": "money",
             "scrape": {"kubernetes": {"namespace": "pay", "pod_labels": {"app": "payments"}, "port": "metrics"}},
             "thresholds": [{"indicator": "error_rate", "warning": "1%", "critical": "5%"}],
             "slos": [{"name": "availability", "objective": 99.9, "sli": {"type": "availability"}}],
             "alerts": [
                 {"name": "PaymentsLedgerLag", "expr": "ledger_lag_seconds > 300", "severity": "critical",
                  "summary": "The ledger lags behind.", "labels": {"tier": "backend"}},
                 {"name": "PaymentsRetryStorm", "expr": "rate(payment_retries_total[5m]) > 3", "severity": "info",
                  "summary": "Payments are retried often."}]},
            {"name": "search", "team": "discovery", "scrape": {"static": ["search:9200"]},
             "health": {"http": "http://search:9200/health"},
             "logs": {"source": {"tail": "/var/log/search/*.log"}},
             "thresholds": [{"indicator": "latency_p99", "warning": "500ms", "critical": "2s"}]},
            {"name": "web", "team": "frontend", "scrape": {"static": ["web:8080"]},
             "alerts": [{"name": "WebAssetsMissing", "expr": "web_missing_assets > 0", "severity": "warning",
                         "summary": "Static assets are missing."}]},
        ],
        "channels": {
            "pager": {"type": "pagerduty", "routing_key_file": "/etc/am/pd-key"},
            "money-slack": {"type": "slack", "channel": "#money", "api_url_file": "/etc/am/slack-url"},
            "disco-mail": {"type": "email", "to": ["discovery@example.com"]},
            "ledger-hook": {"type": "webhook", "url": "https://hooks.example.com/ledger",
                            "bearer_token_file": "/etc/am/hook-token"},
            "deadman": {"type": "webhook", "url": "https://deadman.example.com/ping"},
            "ops-teams": {"type": "msteams", "webhook_url_file": "/etc/am/teams-url"},
            "genie": {"type": "opsgenie", "api_key_file": "/etc/am/genie-key"},
        },
        "email": {"smarthost": "smtp.example.com:587", "from": "am@example.com"},
        "routing": {
            "default": "ops-teams",
            "severity": {"critical": ["pager"], "warning": ["ops-teams"]},
            "teams": {"money": {"critical": ["pager", "money-slack"], "warning": ["money-slack"]},
                      "discovery": {"warning": ["disco-mail"]}},
            "routes": [
                {"matchers": ['alertname=~"Search.*"', 'severity="critical"'], "receivers": ["genie"],
                 "continue": True},
                {"matchers": ['tier="backend"'], "receivers": ["ledger-hook"]},
                {"matchers": ['environment="staging"', 'severity="info"'], "receivers": ["ops-teams"]},
            ],
            "quiet_hours": {"applies_to": ["warning", "info"], "weekdays": "monday:thursday,friday",
                            "times": "08:30-17:45", "timezone": timezone},
            "watchdog": "deadman",
        },
        "stack": {"deploy": ["kubernetes"], "kubernetes": kube},
    }


def render(base: Path, **kwargs: Any) -> Path:
    text = yaml.safe_dump(spec_data(**kwargs), sort_keys=False)
    return write_tree(base, render_all(resolve(load_spec_text(text, "obsgen.yaml"), "obsgen.yaml")))


def built(out: Path) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    proc = subprocess.run([kubectl, "kustomize", str(out / "kubernetes")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.load_all(proc.stdout, Loader=crds.Loader) if d]


def amc_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "AlertmanagerConfig")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("operator"), timezone="Asia/Kathmandu")


# --------------------------------------------------------------------------- the route proof


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kathmandu", "Pacific/Kiritimati"])
def test_every_alert_reaches_its_receivers_on_the_operators_configuration(
        timezone: str, tree: Path, tmp_path: Path, amtool: str) -> None:
    out = tree if timezone == "Asia/Kathmandu" else render(tmp_path, timezone=timezone)
    results = verify_operator_routes(out)
    assert [r.status for r in results] == ["passed"], "\n".join(r.output for r in results)
    routes = yaml.safe_load((out / "proof/routes.json").read_text())
    assert f": {len(routes['alerts'])} alerts," in results[0].output  # every alert, Loki's included
    assert any(a["file"].startswith("loki/") for a in routes["alerts"])
    assert {"proof/routes.json", "kubernetes/alertmanager-config.yaml"} <= set(results[0].files)


def test_alerts_carry_the_namespace_the_operator_matches(tree: Path) -> None:
    objects = built(tree)
    assert amc_of(objects)["metadata"]["annotations"] == {STRATEGY_ANNOTATION: "OnNamespace"}
    rules = [r for o in objects if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"] for r in g["rules"]]
    assert all(r["labels"]["namespace"] == NS for r in rules if "alert" in r)
    assert all("namespace" not in r.get("labels", {}) for r in rules if "record" in r)
    loki = next(yaml.safe_load(o["data"]["loki.yml"]) for o in objects if "loki.yml" in o.get("data", {}))
    assert loki["ruler"]["external_labels"]["namespace"] == NS
    # the rule files of prometheus/ and loki/ (compose, promtool tests) stay as they were
    assert "namespace:" not in (tree / "prometheus/rules/payments.yml").read_text()
    assert "namespace" not in yaml.safe_load((tree / "loki/loki.yml").read_text())["ruler"].get("external_labels", {})


@pytest.mark.parametrize("strategy", ["None", "OnNamespaceExceptForAlertmanagerNamespace"])
def test_other_strategies_need_no_namespace_label(strategy: str, tmp_path: Path, amtool: str) -> None:
    out = render(tmp_path, strategy=strategy)
    objects = built(out)
    assert not any("namespace" in r.get("labels", {}) for o in objects if o["kind"] == "PrometheusRule"
                   for g in o["spec"]["groups"] for r in g["rules"])
    results = verify_operator_routes(out, objects=objects)
    assert [r.status for r in results] == ["passed"], results[0].output
    assert f"strategy {strategy}," in results[0].output
    # ...and the release running OnNamespace after all is caught: the alerts lack the label
    failed = verify_operator_routes(out, strategy="OnNamespace", objects=objects)
    assert failed[0].status == "failed"
    assert "PaymentsLedgerLag (prometheus/rules/payments.yml)" in failed[0].output
    assert "intended: obs/ledger/ledger-hook\n  operator: null" in failed[0].output


def test_reverting_the_namespace_label_fails_the_proof(tmp_path: Path, amtool: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubernetes_operator, "namespace_matched", lambda k: False)
    out = render(tmp_path)
    results = verify_operator_routes(out)
    assert results[0].status == "failed"
    assert "strategy OnNamespace" in results[0].output
    # every alert falls through to the release's default receiver, Watchdog only to its own "null"
    assert "Watchdog (prometheus/rules/_stack.yml)" in results[0].output
    assert "intended: obs/ledger/deadman,null\n  operator: null" in results[0].output
    assert "SearchErrorLogsHigh (loki/rules/fake/search.yml)" in results[0].output


def test_a_route_removed_from_the_alertmanager_config_fails_the_proof(tree: Path, tmp_path: Path,
                                                                       amtool: str) -> None:
    out = tmp_path / "out"
    subprocess.run(["cp", "-a", str(tree), str(out)], check=True)
    path = out / "kubernetes/alertmanager-config.yaml"
    header, body = path.read_text().split("\n", 1)
    amc = yaml.load(body, Loader=crds.Loader)
    routes = amc["spec"]["route"]["routes"]
    backend = [r for r in routes if r.get("matchers") == [{"name": "tier", "matchType": "=", "value": "backend"}]]
    assert len(backend) == 1
    routes.remove(backend[0])
    path.write_text(header + "\n" + yaml.safe_dump(amc, sort_keys=False))
    results = verify_operator_routes(out)
    assert results[0].status == "failed"
    assert "PaymentsLedgerLag (prometheus/rules/payments.yml)" in results[0].output
    assert "intended: obs/ledger/ledger-hook\n  operator: obs/ledger/pager,obs/ledger/money-slack" in results[0].output


def test_the_transformation_follows_the_operator() -> None:
    amc = {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
           "metadata": {"name": "cfg", "namespace": "team-a"},
           "spec": {"route": {"receiver": "a", "groupBy": ["job"],
                              "routes": [{"receiver": "b", "matchers": [{"name": "x", "value": 'say "hi"'}],
                                          "activeTimeIntervals": ["work"]}]},
                    "receivers": [{"name": "a"}, {"name": "b"}],
                    "inhibitRules": [{"sourceMatch": [{"name": "severity", "value": "critical", "matchType": "="}],
                                      "targetMatch": [{"name": "severity", "value": "warn.*", "regex": True}],
                                      "equal": ["alertname"]}],
                    "muteTimeIntervals": [{"name": "work", "timeIntervals": [
                        {"weekdays": ["monday:friday"], "times": [{"startTime": "09:00", "endTime": "17:00"}]}]}]}}
    cfg = operator_alertmanager_config(amc, alertmanager_namespace="monitoring")
    top = cfg["route"]["routes"][0]
    assert top["receiver"] == "team-a/cfg/a" and top["continue"] is True and top["group_by"] == ["job"]
    assert top["matchers"] == ['namespace="team-a"']
    assert top["routes"][0] == {"receiver": "team-a/cfg/b", "matchers": ['x="say \\"hi\\""'],
                                "active_time_intervals": ["team-a/cfg/work"]}
    assert cfg["route"]["routes"][1:] == BASE_CONFIG["route"]["routes"]  # the base's routes come after
    assert [r["name"] for r in cfg["receivers"]] == ["null", "team-a/cfg/a", "team-a/cfg/b"]
    assert cfg["inhibit_rules"][-1] == {"target_matchers": ['severity=~"warn.*"', 'namespace="team-a"'],
                                        "source_matchers": ['severity="critical"', 'namespace="team-a"'],
                                        "equal": ["alertname"]}
    assert cfg["mute_time_intervals"][0]["name"] == "team-a/cfg/work"
    for strategy, namespace, enforced in [("None", "monitoring", False),
                                          ("OnNamespaceExceptForAlertmanagerNamespace", "team-a", False),
                                          ("OnNamespaceExceptForAlertmanagerNamespace", "monitoring", True)]:
        cfg = operator_alertmanager_config(amc, strategy=strategy, alertmanager_namespace=namespace)
        assert ('namespace="team-a"' in cfg["route"]["routes"][0].get("matchers", [])) is enforced, strategy
    # kube-prometheus-stack's base adds its Watchdog route after the object's, and nothing else
    assert base_receivers(BASE_CONFIG, {"alertname": "Watchdog"}) == ["null"]
    assert base_receivers(BASE_CONFIG, {"alertname": "Other"}) == []
    with pytest.raises(ValueError, match="not among the object's receivers"):
        operator_alertmanager_config({**amc, "spec": {**amc["spec"], "receivers": [{"name": "a"}]}},
                                     alertmanager_namespace="monitoring")


# --------------------------------------------------------------------------- quiet hours


def _week(intervals: list[dict[str, Any]]) -> bytearray:
    """Alertmanager's time interval semantics over a week of minutes (sunday 00:00 first): inclusive weekday
    ranges, each time range from its start (included) to its end (excluded)."""
    week = bytearray(7 * 24 * 60)
    for i in intervals:
        for day in weekday_set(i["weekdays"]):
            for t in i["times"]:
                start = int(t["start_time"][:2]) * 60 + int(t["start_time"][3:])
                end = int(t["end_time"][:2]) * 60 + int(t["end_time"][3:])
                week[day * 1440 + start:day * 1440 + end] = b"\x01" * (end - start)
    return week


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Kiritimati", "Etc/GMT+10",
                                  "America/Sao_Paulo"])
@pytest.mark.parametrize(("weekdays", "times"), [
    (["monday:friday"], ("09:00", "18:00")),
    (["sunday", "wednesday:thursday", "saturday"], ("00:00", "24:00")),
    (["monday:thursday", "friday"], ("08:30", "17:45")),
    (["tuesday"], ("23:15", "23:45")),
])
def test_quiet_hours_in_utc_hold_at_the_same_instants(zone: str, weekdays: list[str],
                                                      times: tuple[str, str]) -> None:
    offset = fixed_utc_offset(zone)
    assert offset is not None
    converted = utc_intervals(weekdays, [times], offset)
    assert all(i["weekdays"] and all(":" not in w or WEEK.index(w.split(":")[0]) < WEEK.index(w.split(":")[1])
                                     for w in i["weekdays"]) for i in converted)
    local_week = _week([{"weekdays": weekdays, "times": [{"start_time": times[0], "end_time": times[1]}]}])
    utc_week = _week(converted)
    start = datetime(2026, 3, 1, tzinfo=UTC)  # a week of minutes, from a Sunday 00:00 UTC
    tz = ZoneInfo(zone)
    for m in range(7 * 24 * 60):
        local = (start + timedelta(minutes=m)).astimezone(tz)  # zoneinfo says where the instant falls there
        want = local_week[((local.weekday() + 1) % 7) * 1440 + local.hour * 60 + local.minute]
        assert utc_week[m] == want, f"{zone} {weekdays} {times}: {start + timedelta(minutes=m)} (local {local})"


def test_quiet_hours_reach_the_alertmanager_config_in_utc(tree: Path) -> None:
    amc = amc_of(built(tree))
    (interval,) = amc["spec"]["muteTimeIntervals"]
    # 08:30-17:45 in Kathmandu (UTC+05:45), Monday to Friday
    assert interval == {"name": "business-hours", "timeIntervals": [
        {"weekdays": ["monday:friday"], "times": [{"startTime": "02:45", "endTime": "12:00"}]}]}


def test_a_timezone_with_daylight_saving_time_is_refused_in_operator_mode(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(yaml.safe_dump(spec_data(timezone="Europe/Berlin"), sort_keys=False))
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    line = next(ln for ln in (proc.stdout + proc.stderr).splitlines() if "routing.quiet_hours.timezone" in ln)
    assert "Europe/Berlin changes its UTC offset (UTC+01:00 and UTC+02:00)" in line
    assert "timezone: UTC" in line and "Etc/GMT-1" in line
    # without the operator, Alertmanager reads the zone itself: fine
    data = spec_data(timezone="Europe/Berlin")
    data["stack"] = {"deploy": ["compose"]}
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    assert obsgen("validate", str(spec)).returncode == 0


def test_a_backwards_weekday_range_is_refused(tmp_path: Path) -> None:
    data = spec_data()
    data["routing"]["quiet_hours"]["weekdays"] = "saturday:monday"
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2
    assert "routing.quiet_hours.weekdays: 'saturday:monday' runs backwards" in proc.stdout + proc.stderr
    assert "write saturday,sunday:monday" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- custom resources and CRDs


def test_rendered_custom_resources_pass_the_crds(tree: Path) -> None:
    results = crds.check_custom_resources(built(tree))
    assert {r.target.split()[0] for r in results} == {
        "Alertmanager", "AlertmanagerConfig", "PodMonitor", "Probe", "Prometheus", "PrometheusRule", "ScrapeConfig",
        "ServiceMonitor"}
    assert all(r.status == "passed" for r in results), results


def _one(results: list[Any], kind: str) -> Any:
    (result,) = [r for r in results if r.target.startswith(kind + " ")]
    return result


def test_crd_validation_catches_unknown_fields_and_wrong_types(tree: Path) -> None:
    objects = built(tree)
    broken = copy.deepcopy(objects)
    monitor = next(o for o in broken if o["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"  # unknown field: the API server refuses it
    rule = next(o for o in broken if o["kind"] == "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["for"] = 300  # a number where a duration string belongs
    amc = amc_of(broken)
    amc["spec"]["route"]["routes"][0]["continue"] = "yes"  # child routes: the operator decodes them strictly
    amc["spec"]["route"]["routes"][1]["activeTimeInterval"] = ["business-hours"]
    results = crds.check_custom_resources(broken)
    sm = _one(results, "ServiceMonitor")
    assert sm.status == "failed" and "spec.endpoints.0" in sm.output and "'intervall' was unexpected" in sm.output
    pr = _one(results, "PrometheusRule")
    assert pr.status == "failed" and "spec.groups.0.rules.0.for: 300 is not of type 'string'" in pr.output
    am = _one(results, "AlertmanagerConfig")
    assert am.status == "failed"
    assert "spec.route.routes.0.continue: 'yes' is not of type 'boolean'" in am.output
    assert "spec.route.routes.1" in am.output and "'activeTimeInterval' was unexpected" in am.output
    assert _one(results, "Probe").status == "passed"


def test_a_custom_resource_without_a_schema_is_skipped_never_passed() -> None:
    obj = {"apiVersion": "monitoring.coreos.com/v1beta1", "kind": "Silence", "metadata": {"name": "x"}}
    (result,) = crds.check_custom_resources([obj])
    assert result.status == "skipped" and "no vendored CRD schema" in result.output
    # a CEL rule obsgen does not evaluate is said, not passed over
    probe = {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig", "metadata": {"name": "s"},
             "spec": {"basicAuth": {"username": {"name": "a", "key": "u"}},
                      "authorization": {"credentials": {"name": "a", "key": "t"}}}}
    (result,) = crds.check_custom_resources([probe])
    assert result.status == "failed" and "at most one of basicAuth, authorization, or oauth2" in result.output


def test_vendored_crds_are_regenerated_from_their_sources(tmp_path: Path) -> None:
    if not CRD_SOURCES.is_dir():
        pytest.skip(f"{CRD_SOURCES} absent: the CRD sources live beside the project only in CI and dev")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/vendor-crds.py"), "--src", str(CRD_SOURCES),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    vendored = ROOT / "obsgen/crds"
    names = sorted(p.name for p in tmp_path.glob("*.json.gz"))
    assert names == sorted(p.name for p in vendored.glob("*.json.gz")) and len(names) == 10
    for name in names:
        assert (tmp_path / name).read_bytes() == (vendored / name).read_bytes(), f"{name} is stale: run the script"
    assert gzip.decompress((vendored / names[0]).read_bytes())  # readable as shipped
