"""The seed examples: committed output is exactly what each spec renders, and each keeps its guide's facts.

`examples/<name>/out/` is rendered by `make examples` (scripts/render-examples.py) and committed; a spec
or renderer change that is not re-rendered fails here. The facts below are read from the five monitoring
guides in the seeds (thresholds of the warning/critical tables and P0/P1 lists, how long each must hold,
channels, routing, exporters, log pipeline, tracing, deploy target) and checked in the rendered files, so
an example cannot drift away from the guide it follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, obsgen, require_tool, run

Labels = dict[str, str]


@dataclass(frozen=True)
class Seed:
    """What a seed's guide asks for, as it must appear in the rendered output."""

    thresholds: list[tuple[str, str, str]]  # (alert, severity, the end of its expr: "> 0.01")
    durations: list[tuple[str, str, str]] = field(default_factory=list)  # (alert, severity, `for`)
    receivers: set[str] = field(default_factory=set)
    routes: list[tuple[Labels, set[str]]] = field(default_factory=list)  # alert labels -> receivers reached
    jobs: set[str] = field(default_factory=set)  # scrape jobs in prometheus.yml
    datasources: set[str] = field(default_factory=set)  # Grafana datasource types
    files: list[str] = field(default_factory=list)  # deploy target outputs
    contains: list[tuple[str, str]] = field(default_factory=list)  # (file, text it must hold)
    objectives: dict[str, str] = field(default_factory=dict)  # slo_id -> slo:objective:ratio


SEEDS: dict[str, Seed] = {
    # 000 Scrambled Eggs: P0 / P1 lists and its two Prometheus rules; Loki, Tempo; email, Slack, PagerDuty
    "scrambled-eggs": Seed(
        thresholds=[
            ("ScrambledEggsErrorRateHigh", "critical", "> 0.01"),
            ("ScrambledEggsLatencyP99High", "warning", "> 1"),
            ("ScrambledEggsLlmErrorRate", "critical", "> 0.05"),
            ("HostCpuUsage", "warning", "> 80"),
            ("HostMemoryUsage", "warning", "> 80"),
            ("HostDiskSpaceLow", "warning", "< 0.2"),
            ("ScrambledEggsDatabaseConnectionFailures", "critical", "> 0"),
            ("ScrambledEggsLlmRateLimitHits", "warning", "> 0"),
            ("ScrambledEggsDown", "critical", "== 0"),
        ],
        durations=[("ScrambledEggsErrorRateHigh", "critical", "5m"), ("ScrambledEggsLatencyP99High", "warning", "5m")],
        receivers={"pagerduty", "slack", "email"},
        routes=[
            ({"alertname": "ScrambledEggsDown", "severity": "critical", "service": "scrambled-eggs"},
             {"pagerduty", "slack"}),
            ({"alertname": "HostCpuUsage", "severity": "warning", "service": "host"}, {"slack", "email"}),
        ],
        jobs={"scrambled-eggs", "node-exporter"},
        datasources={"prometheus", "loki", "tempo"},
        contains=[("fluentd/fluent.conf", "@type loki")],
    ),
    # 001 LLM A/B testing: "Performance Thresholds" with their durations; email, Slack, webhook
    "llm-ab-testing": Seed(
        thresholds=[
            ("LlmAbTestingCpuUsage", "warning", "> 80"),
            ("LlmAbTestingCpuUsage", "critical", "> 90"),
            ("LlmAbTestingMemoryUsage", "warning", "> 85"),
            ("LlmAbTestingMemoryUsage", "critical", "> 95"),
            ("LlmAbTestingDiskUsage", "warning", "> 90"),
            ("LlmAbTestingDiskUsage", "critical", "> 95"),
            ("LlmAbTestingErrorRateHigh", "warning", "> 0.05"),
            ("LlmAbTestingErrorRateHigh", "critical", "> 0.1"),
            ("LlmAbTestingResponseTime", "warning", "> 5"),
            ("LlmAbTestingResponseTime", "critical", "> 10"),
            ("HealthDatabaseConnectionFailed", "critical", "== 0"),
        ],
        durations=[
            ("LlmAbTestingCpuUsage", "warning", "10m"), ("LlmAbTestingCpuUsage", "critical", "5m"),
            ("LlmAbTestingMemoryUsage", "warning", "5m"), ("LlmAbTestingMemoryUsage", "critical", "2m"),
            ("LlmAbTestingErrorRateHigh", "warning", "15m"), ("LlmAbTestingErrorRateHigh", "critical", "10m"),
            ("HealthDatabaseConnectionFailed", "critical", "1m"),
        ],
        receivers={"email", "slack", "webhook"},
        routes=[
            ({"alertname": "HealthDatabaseConnectionFailed", "severity": "critical", "service": "health"},
             {"email", "slack", "webhook"}),
            ({"alertname": "LlmAbTestingErrorRateHigh", "severity": "warning", "service": "llm-ab-testing"},
             {"email", "slack"}),
        ],
        jobs={"llm-ab-testing", "health"},
        datasources={"prometheus", "loki", "jaeger"},
        contains=[("prometheus/rules/llm-ab-testing.yml", 'status_code=~"5.."'),
                  ("alertmanager/alertmanager.yml", "credentials_file: /etc/alertmanager/secrets/monitoring-system-token")],
    ),
    # 002 four-service platform: the SLI tables, monthly SLOs, PagerDuty paging, Jaeger, Kubernetes
    "platform-four-services": Seed(
        thresholds=[
            ("ApiGatewayAvailabilityLow", "warning", "< 0.9995"),
            ("ApiGatewayAvailabilityLow", "critical", "< 0.999"),
            ("ApiGatewayLatencyP50High", "warning", "> 0.03"),
            ("ApiGatewayLatencyP50High", "critical", "> 0.05"),
            ("ApiGatewayLatencyP95High", "warning", "> 0.075"),
            ("ApiGatewayLatencyP95High", "critical", "> 0.1"),
            ("ApiGatewayLatencyP99High", "warning", "> 0.15"),
            ("ApiGatewayLatencyP99High", "critical", "> 0.2"),
            ("ApiGatewayErrorRateHigh", "warning", "> 0.005"),
            ("ApiGatewayErrorRateHigh", "critical", "> 0.01"),
            ("AuthServiceAvailabilityLow", "critical", "< 0.995"),
            ("AuthServiceLatencyP95High", "critical", "> 0.2"),
            ("AuthServiceErrorRateHigh", "critical", "> 0.02"),
            ("AuthServiceTokenValidationTime", "warning", "> 0.02"),
            ("AuthServiceTokenValidationTime", "critical", "> 0.03"),
            ("DataProcessorProcessingRate", "warning", "< 40000"),
            ("DataProcessorProcessingRate", "critical", "< 30000"),
            ("DataProcessorProcessingLag", "warning", "> 300"),
            ("DataProcessorProcessingLag", "critical", "> 600"),
            ("DataProcessorErrorRateHigh", "critical", "> 0.02"),
            ("DataProcessorDeadLetterQueue", "warning", "> 100"),
            ("DataProcessorDeadLetterQueue", "critical", "> 1000"),
            ("BusinessLogicAvailabilityLow", "critical", "< 0.99"),
            ("BusinessLogicLatencyP95High", "critical", "> 0.5"),
            ("BusinessLogicErrorRateHigh", "critical", "> 0.05"),
            ("BusinessLogicDbQueryTime", "warning", "> 0.05"),
            ("BusinessLogicDbQueryTime", "critical", "> 0.1"),
            ("BusinessLogicDbPoolUsage", "critical", "> 0.9"),
            ("BusinessLogicMemoryUsage", "warning", "> 1610612736"),
            ("InfrastructureDiskSpaceLow", "critical", "< 0.1"),
            ("ApiGatewayDown", "critical", "== 0"),
        ],
        durations=[
            ("ApiGatewayErrorRateHigh", "warning", "15m"), ("ApiGatewayErrorRateHigh", "critical", "5m"),
            ("ApiGatewayLatencyP95High", "critical", "10m"), ("ApiGatewayDown", "critical", "2m"),
            ("BusinessLogicDbQueryTime", "warning", "10m"), ("BusinessLogicMemoryUsage", "warning", "10m"),
        ],
        receivers={"pagerduty-oncall", "slack-incidents", "slack-monitoring", "observability-email"},
        routes=[
            ({"alertname": "ApiGatewayDown", "severity": "critical", "service": "api-gateway"},
             {"pagerduty-oncall", "slack-incidents"}),
            ({"alertname": "AuthServiceErrorRateHigh", "severity": "warning", "service": "auth-service"},
             {"slack-monitoring"}),
        ],
        jobs={"api-gateway", "auth-service", "data-processor", "business-logic", "node-exporter"},
        datasources={"prometheus", "loki", "jaeger"},
        files=["kubernetes/kustomization.yaml"],
        contains=[("prometheus/prometheus.yml", "__meta_kubernetes_pod_label_app"),
                  ("prometheus/prometheus.yml", "region: us-east-1")],
        objectives={"api-gateway-availability": "0.9999", "auth-service-availability": "0.9995",
                    "business-logic-availability": "0.999", "data-processor-availability": "0.999"},
    ),
    # 003 agentic startup studio: alert categories, its exporters, the SLA as SLOs; Slack, email, PagerDuty
    "agentic-startup-studio": Seed(
        thresholds=[
            ("AppErrorRateHigh", "warning", "> 0.01"),
            ("AppErrorRateHigh", "critical", "> 0.05"),
            ("AppLatencyP95High", "warning", "> 1"),
            ("AppModelInferenceFailures", "warning", "> 0.05"),
            ("AppHighFailedLogins", "warning", "> 0.5"),
            ("AppDown", "critical", "== 0"),
            ("PostgreSQLDown", "critical", "== 0"),  # the exporters' own, in rules/_stack.yml
            ("RedisDown", "critical", "== 0"),
            ("NginxDown", "critical", "== 0"),
            ("HostCpuUsage", "warning", "> 80"),
            ("HostMemoryUsage", "warning", "> 80"),
            ("HostDiskUsage", "warning", "> 80"),
        ],
        durations=[("AppDown", "critical", "1m"), ("AppLatencyP95High", "warning", "10m"),
                   ("AppModelInferenceFailures", "warning", "5m"), ("AppHighFailedLogins", "warning", "10m"),
                   ("PostgreSQLDown", "critical", "1m"), ("RedisDown", "critical", "1m"), ("NginxDown", "critical", "1m")],
        receivers={"slack", "email", "pagerduty"},
        routes=[
            ({"alertname": "AppDown", "severity": "critical", "service": "app"}, {"pagerduty", "slack"}),
            ({"alertname": "AppLatencyP95High", "severity": "warning", "service": "app"}, {"slack"}),
            ({"alertname": "AppTrafficNearCapacity", "severity": "info", "service": "app"}, {"email"}),
            ({"alertname": "PostgreSQLDown", "severity": "critical", "service": "postgres"}, {"pagerduty", "slack"}),
        ],
        jobs={"app", "postgres-exporter", "redis-exporter", "nginx-exporter", "node-exporter", "cadvisor"},
        datasources={"prometheus", "loki", "jaeger"},
        files=["docker-compose.yml"],
        contains=[("alertmanager/alertmanager.yml", "repeat_interval: 1h"),
                  ("prometheus/rules/app.yml", "category: security")],
        objectives={"app-availability": "0.999", "app-latency": "0.95"},
    ),
    # 004 AI chat: its alert rules, the urgent receiver with `continue`, the CPU route, Fluentd to ES
    "ai-chat": Seed(
        thresholds=[
            ("InfrastructureCpuUsage", "critical", "> 90"),
            ("InfrastructureMemoryUsage", "critical", "> 90"),
            ("InfrastructureDiskSpace", "critical", "< 10"),
            ("AichatBackendErrorRateHigh", "critical", "> 0.1"),
            ("AichatBackendLatencyP95High", "warning", "> 2"),
            ("AiServiceDown", "critical", "== 0"),
        ],
        durations=[("InfrastructureCpuUsage", "critical", "5m"), ("AichatBackendErrorRateHigh", "critical", "2m"),
                   ("AichatBackendLatencyP95High", "warning", "5m"), ("AiServiceDown", "critical", "1m")],
        receivers={"team-ai-chat-email", "team-ai-chat-slack", "team-ai-chat-urgent-email",
                   "team-ai-chat-urgent-pagerduty", "team-infrastructure"},
        routes=[
            ({"alertname": "InfrastructureCpuUsage", "severity": "critical", "service": "infrastructure"},
             {"team-ai-chat-urgent-email", "team-ai-chat-urgent-pagerduty", "team-infrastructure"}),
            ({"alertname": "AiServiceDown", "severity": "critical", "service": "ai-service"},
             {"team-ai-chat-urgent-email", "team-ai-chat-urgent-pagerduty"}),
            ({"alertname": "AichatBackendLatencyP95High", "severity": "warning", "service": "aichat-backend"},
             {"team-ai-chat-email", "team-ai-chat-slack"}),
        ],
        jobs={"aichat-backend", "ai-service", "node-exporter", "cadvisor", "postgres-exporter", "redis-exporter"},
        datasources={"prometheus", "loki", "jaeger"},
        files=["kubernetes/kustomization.yaml", "docker-compose.yml"],
        contains=[("fluentd/fluent.conf", "@type elasticsearch"), ("fluentd/fluent.conf", 'logstash_prefix "aichat"'),
                  ("fluentd/fluent.conf", "tag aichat.app"), ("prometheus/prometheus.yml", "scrape_interval: 10s"),
                  ("alertmanager/alertmanager.yml", "smtp_smarthost: smtp.company.com:587"),
                  ("docker-compose.yml", "GF_SECURITY_ALLOW_EMBEDDING"),
                  ("kubernetes/grafana.yaml", "GF_DATABASE_MAX_OPEN_CONN")],
    ),
}


def _spec(name: str) -> Path:
    return ROOT / "examples" / f"{name}.yaml"


def test_every_seed_has_an_example() -> None:
    assert {p.stem for p in EXAMPLES} >= set(SEEDS)


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_committed_output_is_what_the_spec_renders(spec: Path) -> None:
    out = spec.parent / spec.stem / "out"
    proc = obsgen("render", str(spec), "-o", str(out), "--check")
    assert proc.returncode == 0, (f"{out.relative_to(ROOT)} is missing or stale; run `make examples` and commit "
                                  f"it:\n{proc.stdout}{proc.stderr}")


def _rules(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(alert, severity) -> rule, over every Prometheus rule file."""
    found = {}
    for path in sorted((out / "prometheus/rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[(rule["alert"], rule["labels"]["severity"])] = rule
    return found


@pytest.mark.parametrize("name", SEEDS)
def test_guide_thresholds_are_alert_thresholds(name: str, rendered_examples: dict[str, Path]) -> None:
    rules = _rules(rendered_examples[name])
    for alert, severity, comparison in SEEDS[name].thresholds:
        assert (alert, severity) in rules, f"{name}: no {severity} {alert} in the rules"
        expr = " ".join(rules[(alert, severity)]["expr"].split())
        assert expr.endswith(f" {comparison}"), f"{name}: {alert} ({severity}) is `{expr}`, want `... {comparison}`"


@pytest.mark.parametrize("name", SEEDS)
def test_guide_durations_are_alert_for(name: str, rendered_examples: dict[str, Path]) -> None:
    rules = _rules(rendered_examples[name])
    wrong = [f"{alert} ({severity}): for {rules[(alert, severity)].get('for')}, the guide says {for_}"
             for alert, severity, for_ in SEEDS[name].durations if rules[(alert, severity)].get("for") != for_]
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize("name", SEEDS)
def test_guide_channels_and_routing(name: str, rendered_examples: dict[str, Path]) -> None:
    seed = SEEDS[name]
    config = rendered_examples[name] / "alertmanager/alertmanager.yml"
    receivers = {r["name"] for r in yaml.safe_load(config.read_text())["receivers"]}
    assert seed.receivers <= receivers, f"{name}: channels missing as receivers: {seed.receivers - receivers}"
    amtool = require_tool("amtool")
    for labels, expected in seed.routes:
        proc = run([amtool, "config", "routes", "test", f"--config.file={config}",
                    *(f"{k}={v}" for k, v in labels.items())])
        assert proc.returncode == 0, proc.stderr
        reached = set(proc.stdout.strip().split(","))
        assert reached == expected, f"{name}: {labels} reaches {sorted(reached)}, the guide routes it to {sorted(expected)}"


@pytest.mark.parametrize("name", SEEDS)
def test_guide_stack(name: str, rendered_examples: dict[str, Path]) -> None:
    """Scrape jobs and exporters, datasources (logs, tracing), deploy target, log pipeline and SLOs."""
    seed, out = SEEDS[name], rendered_examples[name]
    prometheus = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert seed.jobs <= jobs, f"{name}: scrape jobs missing: {seed.jobs - jobs}"
    datasources = yaml.safe_load((out / "grafana/provisioning/datasources/datasources.yml").read_text())
    types = {d["type"] for d in datasources["datasources"]}
    assert seed.datasources <= types, f"{name}: datasources missing: {seed.datasources - types}"
    for rel in seed.files:
        assert (out / rel).is_file(), f"{name}: {rel} not rendered"
    for rel, text in seed.contains:
        assert text in (out / rel).read_text(), f"{name}: {rel} lacks {text!r}"
    objectives = {}
    for path in (out / "prometheus/rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("record") == "slo:objective:ratio":
                    objectives[rule["labels"]["slo_id"]] = rule["expr"]
    for slo_id, ratio in seed.objectives.items():
        assert objectives.get(slo_id) == f"vector({ratio})", f"{name}: SLO {slo_id} is {objectives.get(slo_id)}"


@pytest.mark.parametrize("name", SEEDS)
def test_secrets_are_files_only(name: str) -> None:
    """Every secret in a seed example is a *_file path; the example says which guide it follows."""
    text = _spec(name).read_text()
    assert text.startswith("# Seed "), f"{name}: the opening comment must name the guide it follows"
    spec = yaml.safe_load(text)
    for channel in spec["channels"].values():
        for key in channel:
            assert key.endswith("_file") or key not in {"api_url", "routing_key", "service_key", "bearer_token",
                                                        "webhook_url", "api_key", "auth_password"}


@pytest.mark.parametrize("name", SEEDS)
def test_extra_panels_are_drawn(name: str, rendered_examples: dict[str, Path]) -> None:
    """The dashboards the guides sketch (tokens, business counters, exporters) keep the spec's extra panels."""
    import json

    for service in yaml.safe_load(_spec(name).read_text())["services"]:
        if not service.get("panels"):
            continue
        dashboard = json.loads((rendered_examples[name] / f"grafana/dashboards/{service['name']}.json").read_text())
        titles = {p.get("title") for p in _panels(dashboard)}
        missing = [p["title"] for p in service["panels"] if p["title"] not in titles]
        assert not missing, f"{name}/{service['name']}: panels not drawn: {missing}"


def _panels(node: Any) -> list[dict[str, Any]]:
    """Every panel of a dashboard, inside rows too."""
    found = []
    for panel in node.get("panels", []):
        found.append(panel)
        found.extend(_panels(panel))
    return found


@pytest.mark.parametrize("edit, message", [
    ({"for": {"warning": "15m"}}, "there is no `warning` level to wait for"),
    ({"webhook": {"type": "webhook", "url": "https://hooks.example.com/a", "bearer_token": "s3cret"}},
     "bearer_token_file"),
    ({"grafana": {"settings": {"security": {"secret_key": "s3cret"}}}}, "looks like a secret"),
])
def test_fields_the_seeds_needed_reject_misuse(edit: dict[str, Any], message: str, tmp_path: Path) -> None:
    """Per-level `for`, webhook bearer tokens and Grafana settings: misuse is an error with its place."""
    spec = {"version": 1, "project": {"name": "p"}, "routing": {"default": "mail"},
            "email": {"smarthost": "smtp.example.com:587", "from": "a@example.com"},
            "channels": {"mail": {"type": "email", "to": ["a@example.com"]}},
            "services": [{"name": "api", "thresholds": [{"indicator": "error_rate", "critical": "1%"}]}]}
    if "for" in edit:
        spec["services"][0]["thresholds"][0]["for"] = edit["for"]
    if "webhook" in edit:
        spec["channels"]["hook"] = edit["webhook"]
    if "grafana" in edit:
        spec["stack"] = {"grafana": edit["grafana"]}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = obsgen("validate", str(path))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "s3cret" not in proc.stdout + proc.stderr
