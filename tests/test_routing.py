"""Routing proven by amtool: every severity and team of every example reaches exactly the channels its
spec names, and a broken route is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES

from obsgen.route_proof import amtool_routes
from obsgen.routing_intent import intended_receivers
from obsgen.spec import load_spec
from obsgen.spec.models import Spec

SEVERITIES = ("critical", "warning", "info")


def expected_receivers(spec: Spec, labels: dict[str, str]) -> list[str]:
    """What the spec says, read from its routing section alone (`obsgen.routing_intent`)."""
    return intended_receivers(spec.routing, labels)


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
