"""Routing proven by amtool: every severity and team of every example reaches exactly the channels its
spec names, and a broken route is caught."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, run

from obsgen.spec import load_spec
from obsgen.spec.models import Spec

SEVERITIES = ("critical", "warning", "info")


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    m = re.match(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$', matcher)
    assert m, matcher
    name, op, value = m.groups()
    actual = labels.get(name, "")
    return {"=": actual == value, "!=": actual != value,
            "=~": re.fullmatch(value, actual) is not None, "!~": re.fullmatch(value, actual) is None}[op]


def expected_receivers(spec: Spec, labels: dict[str, str]) -> list[str]:
    """What the spec says, read directly from it: custom routes first (continuing if asked), then the
    team's channels for the severity, then the severity's, then the default."""
    r = spec.routing
    if labels.get("alertname") == "Watchdog":
        return [r.watchdog or "obsgen-null"]
    reached: list[str] = []
    for route in r.routes:
        if all(_matches(m, labels) for m in route.matchers):
            reached += route.receivers
            if not route.continue_:
                return reached
    team, severity = labels.get("team"), labels["severity"]
    if team in r.teams and severity in r.teams[team]:
        return reached + r.teams[team][severity]
    if severity in r.severity:
        return reached + r.severity[severity]
    return reached or [r.default]  # a matched custom route, even one that continues, stops the default


def label_sets(spec: Spec) -> list[dict[str, str]]:
    teams = sorted({s.team for s in spec.services if s.team}) + [None]
    out: list[dict[str, str]] = [{"alertname": "Watchdog", "severity": "info"}]
    for sev in SEVERITIES:
        for team in teams:
            out.append({"alertname": "SomeAlert", "severity": sev, **({"team": team} if team else {})})
    # an alert of every service, with its real team and a threshold-style name, also for custom routes
    for svc in spec.services:
        for sev in SEVERITIES:
            labels = {"alertname": f"{svc.name.title().replace('-', '')}CpuHigh", "severity": sev,
                      "service": svc.name}
            if svc.team:
                labels["team"] = svc.team
            out.append(labels)
    return out


def amtool_routes(amtool: str, config: Path, labels: dict[str, str]) -> list[str]:
    proc = run([amtool, "config", "routes", "test", f"--config.file={config}",
                *[f"{k}={v}" for k, v in labels.items()]])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(",")


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_severity_and_team_reaches_exactly_its_channels(
        spec_path: Path, amtool: str, rendered_examples: dict[str, Path]) -> None:
    spec = load_spec(spec_path)
    config = rendered_examples[spec_path.stem] / "alertmanager" / "alertmanager.yml"
    checked = 0
    for labels in label_sets(spec):
        want = expected_receivers(spec, labels)
        got = amtool_routes(amtool, config, labels)
        assert got == want, f"{labels}: spec routes to {want}, Alertmanager to {got}"
        checked += 1
    assert checked >= 4


def test_a_broken_route_is_caught(amtool: str, rendered_examples: dict[str, Path], tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES[0])
    config = yaml.safe_load((rendered_examples[EXAMPLES[0].stem] / "alertmanager/alertmanager.yml").read_text())
    # send every critical alert to the default receiver instead of the channels the spec names
    for route in config["route"]["routes"]:
        if 'severity="critical"' in route.get("matchers", []):
            route["receiver"] = config["route"]["receiver"]
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(yaml.safe_dump(config))
    (tmp_path / "templates").mkdir()
    mismatches = [labels for labels in label_sets(spec) if labels["severity"] == "critical"
                  and labels["alertname"] != "Watchdog"
                  and amtool_routes(amtool, broken, labels) != expected_receivers(spec, labels)]
    assert mismatches, "breaking the critical routes must change where critical alerts go"


def test_inhibition_silences_warning_while_critical_fires(rendered_examples: dict[str, Path]) -> None:
    for name, out in rendered_examples.items():
        config = yaml.safe_load((out / "alertmanager/alertmanager.yml").read_text())
        rules = config.get("inhibit_rules", [])
        assert any(r["source_matchers"] == ['severity="critical"'] and "warning" in r["target_matchers"][0]
                   and set(r["equal"]) >= {"alertname", "service"} for r in rules), name
