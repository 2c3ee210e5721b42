"""Routing proven by amtool for every alert obsgen writes, from the labels the alert really carries: every
example and a spec built to stress the routing rules pass, and a removed route, a changed team label and
a swapped receiver each fail, naming the alert, its labels, the intended receivers and amtool's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, obsgen

from obsgen import routing_intent
from obsgen.model import resolve
from obsgen.render import routes
from obsgen.route_proof import amtool_routes, verify_routes
from obsgen.spec import load_spec

# Unlike the examples: three teams (one service has none), a custom route on a label only billing's alerts
# carry that continues, a regex route that stops, no channel for info, quiet hours in another time zone,
# a Loki alert (whose ruler adds the project's external labels but not `environment`), no Watchdog channel.
ROUTING_SPEC = """\
version: 1
project:
  name: routes
  environment: staging
  external_labels: {region: eu-west}
services:
  - name: api
    team: core
    scrape: {static: ["api:8080"]}
    thresholds:
      - {indicator: error_rate, warning: 1%, critical: 5%}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}}
    alerts:
      - name: ApiQueueBacklog
        expr: sum(queue_depth{job="api"}) > 100
        severity: info
        summary: The queue is backing up.
  - name: billing
    team: money
    labels: {component: database}
    scrape: {static: ["billing:8080"]}
    thresholds:
      - {indicator: latency_p99, warning: 500ms, critical: 1s}
    alerts:
      - name: BillingLedgerDrift
        expr: sum(ledger_drift{job="billing"}) > 0
        summary: The ledger does not balance.
        labels: {pci: "yes"}
    logs:
      source: {tail: /var/log/billing/*.log}
  - name: search
    scrape: {static: ["search:8080"]}
    thresholds:
      - {indicator: latency_p50, warning: 50ms, critical: 100ms}
    alerts:
      - name: SearchIndexStale
        expr: time() - max(search_index_updated_seconds) > 3600
        severity: info
        summary: The search index is stale.
  - name: ledger
    team: finance
    scrape: {static: ["ledger:8080"]}
    thresholds:
      - {indicator: error_rate, warning: 1%, critical: 5%}
channels:
  core-slack: {type: slack, channel: "#core", api_url_file: /etc/alertmanager/secrets/slack}
  money-slack: {type: slack, channel: "#money", api_url_file: /etc/alertmanager/secrets/slack}
  finance-teams: {type: msteams, webhook_url_file: /etc/alertmanager/secrets/teams}
  dba-pager: {type: pagerduty, routing_key_file: /etc/alertmanager/secrets/pd}
  pci-email: {type: email, to: [pci@example.com]}
  oncall-opsgenie: {type: opsgenie, api_key_file: /etc/alertmanager/secrets/opsgenie}
  ops-webhook: {type: webhook, url: http://ops.example.com/hook}
email: {smarthost: smtp.example.com:587, from: alerts@example.com}
routing:
  default: ops-webhook
  group_wait: 1s
  severity:
    critical: [oncall-opsgenie]
    warning: [ops-webhook]
  teams:
    core: {critical: [oncall-opsgenie, core-slack], warning: [core-slack]}
    money: {warning: [money-slack]}
    finance: {warning: [finance-teams, ops-webhook], critical: [finance-teams]}
  routes:
    - matchers: ['component="database"']
      receivers: [dba-pager]
      continue: true
    - matchers: ['alertname=~"Billing.*Drift|ApiQueue.*"', 'severity!="critical"']
      receivers: [pci-email]
  quiet_hours: {applies_to: [warning], weekdays: "monday:friday", times: "08:00-20:00",
                timezone: America/New_York}
  inhibit: true
"""


def render_spec(text: str, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.yaml").write_text(text, "utf-8")
    obsgen("render", str(root / "spec.yaml"), "-o", str(root / "out"), "--quiet", check=True)
    return root / "out"


@pytest.fixture(scope="session")
def routing_spec_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_spec(ROUTING_SPEC, tmp_path_factory.mktemp("routing-spec"))


@pytest.fixture(scope="session")
def outputs(rendered_examples: dict[str, Path], routing_spec_out: Path) -> dict[str, Path]:
    return {**rendered_examples, "routing-spec": routing_spec_out}


def copy_of(out: Path, tmp: Path) -> Path:
    shutil.copytree(out, tmp / "out")
    return tmp / "out"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def edit_yaml(path: Path, change: Any) -> None:
    data = load(path)
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")


def alerts_in_rule_files(out: Path) -> list[tuple[str, dict[str, str]]]:
    """(file, labels at Alertmanager) of every alerting rule, read from the rendered files on disk."""
    prom = (load(out / "prometheus/prometheus.yml")["global"].get("external_labels") or {})
    loki_cfg = load(out / "loki/loki.yml") if (out / "loki/loki.yml").exists() else {}
    ruler = (loki_cfg.get("ruler") or {}).get("external_labels") or {}
    found = []
    for path in sorted(out.glob("prometheus/rules/*.yml")) + sorted(out.glob("loki/rules/*/*.yml")):
        external = ruler if path.relative_to(out).parts[0] == "loki" else prom
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    labels = {**external, **rule.get("labels", {}), "alertname": rule["alert"]}
                    found.append((path.relative_to(out).as_posix(), labels))
    return found


# --------------------------------------------------------------------------- every spec passes


@pytest.mark.parametrize("name", [p.stem for p in EXAMPLES] + ["routing-spec"])
def test_every_alert_reaches_exactly_its_intended_receivers(name: str, outputs: dict[str, Path],
                                                           amtool: str) -> None:
    out = outputs[name]
    data = json.loads((out / "proof/routes.json").read_text("utf-8"))
    # routes.json holds every alerting rule of the rule files, with the labels those files give it
    on_disk = alerts_in_rule_files(out)
    assert sorted((a["file"], json.dumps(a["labels"], sort_keys=True)) for a in data["alerts"]) == sorted(
        (f, json.dumps(labels, sort_keys=True)) for f, labels in on_disk)
    [result] = verify_routes(out)
    assert (result.tool, result.target, result.status) == (
        "amtool config routes test", "alertmanager/alertmanager.yml", "passed"), result.output
    assert result.output.startswith(f"{len(on_disk)} alerts, ")
    assert set(result.files) >= {"proof/routes.json", "alertmanager/alertmanager.yml"}


def test_the_routing_spec_exercises_what_the_examples_do_not(routing_spec_out: Path) -> None:
    data = json.loads((routing_spec_out / "proof/routes.json").read_text("utf-8"))
    by = {(a["alert"], a["labels"]["severity"]): a for a in data["alerts"]}
    # a continuing route on a label only billing carries, then the team's warning channel, held back
    assert by["BillingLatencyP99High", "warning"]["receivers"] == ["dba-pager", "money-slack"]
    assert by["BillingLatencyP99High", "warning"]["quiet_hours_receivers"] == ["money-slack"]
    # the team has no critical channel: the severity's
    assert by["BillingLatencyP99High", "critical"]["receivers"] == ["dba-pager", "oncall-opsgenie"]
    # the continuing route, then the regex route, which stops the walk
    assert by["BillingLedgerDrift", "warning"]["receivers"] == ["dba-pager", "pci-email"]
    assert "quiet_hours_receivers" not in by["BillingLedgerDrift", "warning"]
    assert by["ApiQueueBacklog", "info"]["receivers"] == ["pci-email"]
    assert by["SearchIndexStale", "info"]["receivers"] == ["ops-webhook"]  # info has no channel: default
    assert by["Watchdog", "info"]["receivers"] == [routing_intent.NULL_RECEIVER]
    loki = next(a for a in data["alerts"] if a["file"].startswith("loki/"))
    assert loki["labels"]["region"] == "eu-west" and "environment" not in loki["labels"]
    assert by["ApiErrorRateHigh", "critical"]["labels"]["environment"] == "staging"
    assert data["routing_labels"] == ["alertname", "component", "severity", "team"]
    assert data["quiet_hours"] == {"applies_to": ["warning"], "interval": "business-hours",
                                   "times": ["08:00-20:00"], "timezone": "America/New_York",
                                   "weekdays": ["monday:friday"]}


def test_routes_json_is_deterministic_json_with_sorted_keys(routing_spec_out: Path) -> None:
    text = (routing_spec_out / "proof/routes.json").read_text("utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    spec = routing_spec_out.parent / "spec.yaml"
    model = resolve(load_spec(spec), spec.name)
    assert routes.render(model)["proof/routes.json"] == routes.render(model)["proof/routes.json"] == text


def test_amtool_routes_names_the_receivers_in_tree_order(routing_spec_out: Path, amtool: str) -> None:
    config = routing_spec_out / "alertmanager/alertmanager.yml"
    labels = {"alertname": "BillingLedgerDrift", "severity": "warning", "component": "database",
              "team": "money", "odd": 'a, b = "c"'}
    assert amtool_routes(amtool, config, labels) == ["dba-pager", "pci-email"]


# --------------------------------------------------------------------------- what must fail


def test_missing_routes_json_fails_and_says_to_re_render(routing_spec_out: Path, tmp_path: Path) -> None:
    out = copy_of(routing_spec_out, tmp_path)
    (out / "proof/routes.json").unlink()
    [result] = verify_routes(out)
    assert result.status == "failed"
    assert "not rendered by this version of obsgen" in result.output and "re-render" in result.output


def test_without_amtool_nothing_passes(routing_spec_out: Path, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    [result] = verify_routes(routing_spec_out)
    assert result.status == "not found"


def test_a_removed_route_is_caught(routing_spec_out: Path, tmp_path: Path, amtool: str) -> None:
    out = copy_of(routing_spec_out, tmp_path)

    def drop_regex_route(cfg: dict[str, Any]) -> None:
        cfg["route"]["routes"] = [r for r in cfg["route"]["routes"] if r["receiver"] != "pci-email"]

    edit_yaml(out / "alertmanager/alertmanager.yml", drop_regex_route)
    [result] = verify_routes(out)
    assert result.status == "failed"
    assert "BillingLedgerDrift (prometheus/rules/billing.yml)" in result.output
    assert 'pci="yes"' in result.output
    assert "intended: dba-pager,pci-email\n  amtool:   dba-pager,money-slack" in result.output


def test_a_changed_team_label_is_caught(routing_spec_out: Path, tmp_path: Path, amtool: str) -> None:
    """The alert's real labels change (in its rule file, and so in routes.json), where the spec meant it to
    go does not: the proof must follow the labels."""
    out = copy_of(routing_spec_out, tmp_path)

    def retag(groups: list[dict[str, Any]]) -> None:
        for group in groups:
            for rule in group["rules"]:
                if rule.get("alert") == "LedgerErrorRateHigh" and rule["labels"]["severity"] == "warning":
                    rule["labels"]["team"] = "core"

    edit_yaml(out / "prometheus/rules/ledger.yml", lambda data: retag(data["groups"]))
    path = out / "proof/routes.json"
    data = json.loads(path.read_text("utf-8"))
    changed = [a for a in data["alerts"] if a["alert"] == "LedgerErrorRateHigh"
               and a["labels"]["severity"] == "warning"]
    assert len(changed) == 1
    changed[0]["labels"]["team"] = "core"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    # the routes data agrees with the rule files again, as after a render of these rules
    assert sorted(json.dumps(a["labels"], sort_keys=True) for a in data["alerts"]) == sorted(
        json.dumps(labels, sort_keys=True) for _, labels in alerts_in_rule_files(out))

    [result] = verify_routes(out)
    assert result.status == "failed"
    assert 'LedgerErrorRateHigh (prometheus/rules/ledger.yml)' in result.output and 'team="core"' in result.output
    assert "intended: finance-teams,ops-webhook\n  amtool:   core-slack" in result.output
    assert result.output.count("intended:") == 1


def test_a_swapped_receiver_is_caught(routing_spec_out: Path, tmp_path: Path, amtool: str) -> None:
    out = copy_of(routing_spec_out, tmp_path)

    def swap(cfg: dict[str, Any]) -> None:
        route = next(r for r in cfg["route"]["routes"]
                     if r["receiver"] == "core-slack" and 'severity="critical"' in r["matchers"])
        route["receiver"] = "money-slack"

    edit_yaml(out / "alertmanager/alertmanager.yml", swap)
    [result] = verify_routes(out)
    assert result.status == "failed"
    assert "ApiErrorRateHigh (prometheus/rules/api.yml)" in result.output
    assert "intended: oncall-opsgenie,core-slack\n  amtool:   oncall-opsgenie,money-slack" in result.output
    assert "severity=\"warning\"" not in result.output  # only the critical alerts of team core are named
