"""Tiers users shape (`alerting.page_alert` / `ticket_alert`, per SLO and per class), SliAbsent per group of an
SLO with `by`, and the optional Sloth-compatible series. The fixture `tests/fixtures/specs/slo-tiers.yaml` is
rendered once: promtool runs its generated proofs, amtool its route proofs, the real Alertmanager its live
check, and breaking each thing they prove (a `for`, a label, a route, the group branch, a Sloth copy) fails
them."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import obsgen, require_tool
from test_live import alertmanager  # noqa: F401  (the fixture)

from obsgen import routing_intent, slo
from obsgen.live import live_check
from obsgen.model import Model, resolve
from obsgen.render import prometheus
from obsgen.route_proof import verify_routes
from obsgen.spec import SpecError, load_spec_text

FIXTURE = Path(__file__).parent / "fixtures" / "specs" / "slo-tiers.yaml"


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text, "spec.yaml"), "spec.yaml")


def problems(text: str) -> list[str]:
    try:
        load_spec_text(text, "s.yaml")
    except SpecError as e:
        return [line.removeprefix("s.yaml:") for line in e.lines()]
    return []


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def rules_of(m: Model, service: str) -> dict[str, dict[str, Any]]:
    svc = m.service(service)
    return {(r["alert"]): r for s in svc.slos for r in slo.alert_rules(m, svc, s)}


PLAIN = """\
version: 1
project: {name: shop}
services:
  - name: api
    team: core
    scrape: {static: ["api:8080"]}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}ALERTING}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def plain(alerting: str = "") -> str:
    return PLAIN.replace("ALERTING", f", alerting: {alerting}" if alerting else "")


# --------------------------------------------------------------------------- the rules


def test_the_defaults_written_out_render_as_before() -> None:
    before = prometheus.render(model_of(plain()))
    written = plain("{page_alert: {name: ApiAvailabilityBudgetBurn, severity: critical, labels: {}, annotations: {}},"
                    " ticket_alert: {severity: warning}}")
    assert prometheus.render(model_of(written)) == before


def test_the_shaped_tiers_reach_the_rules() -> None:
    m = model_of(FIXTURE.read_text())
    rules = rules_of(m, "payments")
    page, ticket = rules["PaymentsAvailabilityPage"], rules["PaymentsAvailabilityTicket"]
    assert page["for"] == "2m" and ticket["for"] == "10m"  # the SLO's own, and the class's
    assert page["labels"] == {"severity": "critical", "tier": "page", "service": "payments", "team": "payments-oncall",
                              "slo": "availability", "slo_id": "payments-availability"}
    assert ticket["labels"] == {"severity": "info", "tier": "ticket", "service": "payments", "team": "payments",
                                "queue": "slo-tickets", "slo": "availability", "slo_id": "payments-availability"}
    assert page["annotations"]["playbook"] == "https://wiki.example.com/payments/slo#{{ $labels.slo }}"
    assert "playbook" not in ticket["annotations"] and ticket["annotations"]["summary"].endswith("steadily.")
    # the budget and absent alerts keep obsgen's shape
    assert "for" in rules["PaymentsAvailabilityBudgetExhausted"] and "queue" not in rules[
        "PaymentsAvailabilitySliAbsent"]["labels"]
    svc = m.service("payments")
    assert slo.alert_names(svc, svc.slos[0]) == {
        "burn": "PaymentsAvailabilityPage", "ticket_burn": "PaymentsAvailabilityTicket",
        "absent": "PaymentsAvailabilitySliAbsent", "exhausted": "PaymentsAvailabilityBudgetExhausted"}


def test_the_tiers_an_slo_leaves_out_are_one_frozen_default_that_nothing_reaches() -> None:
    # every SLO without `alerting` shares one default (none is built per SLO): it must stay empty
    from pydantic import ValidationError

    text = plain("{page_alert: {labels: {queue: pages}}}").replace(
        "      - {name: availability", "      - {name: latency, objective: 99, sli: {type: latency, threshold: 100ms}}\n"
                                      "      - {name: availability")
    m = model_of(text)
    default, shaped = m.spec.services[0].slos
    assert default.alerting.page_alert is default.alerting.ticket_alert is shaped.alerting.ticket_alert
    assert (default.alerting.page_alert.labels, default.alerting.page_alert.annotations) == ({}, {})
    with pytest.raises(ValidationError):
        default.alerting.page_alert.labels = {"queue": "pages"}  # type: ignore[misc]
    svc = m.service("api")
    queues = {(s.name, r["labels"]["tier"]): r["labels"].get("queue") for s in svc.slos
              for r in slo.alert_rules(m, svc, s) if "tier" in r["labels"]}
    assert queues == {("latency", "page"): None, ("latency", "ticket"): None, ("availability", "page"): "pages",
                      ("availability", "ticket"): None}


def test_a_page_with_its_own_labels_and_name_still_inhibits_its_ticket() -> None:
    m = model_of(FIXTURE.read_text())
    rules = rules_of(m, "payments")
    page, ticket = rules["PaymentsAvailabilityPage"]["labels"], rules["PaymentsAvailabilityTicket"]["labels"]
    (intended,) = [r for r in routing_intent.intended_inhibitions(m.spec.routing) if "tier" in r["source"]]
    assert routing_intent.inhibits(intended, page, ticket)
    (rendered,) = slo.inhibit_rules(m)
    assert rendered["source_matchers"] == ['tier="page"'] and rendered["target_matchers"] == ['tier="ticket"']
    assert all(page.get(k) == ticket.get(k) for k in rendered["equal"])  # team differs, and is not compared


def test_sliabsent_of_an_slo_with_by_also_fires_per_group() -> None:
    m = model_of(FIXTURE.read_text())
    absent = rules_of(m, "catalog")["CatalogRoutesSliAbsent"]["expr"]
    r5m = 'slo:sli_error:ratio_rate5m{slo_id="catalog-routes"}'
    assert absent == (f"absent({r5m})\nor\n(\n  (last_over_time({r5m}[1h]) unless {r5m})\n  and on (slo_id) {r5m}\n)")
    plain_absent = rules_of(m, "payments")["PaymentsAvailabilitySliAbsent"]["expr"]
    assert plain_absent == 'absent(slo:sli_error:ratio_rate5m{slo_id="payments-availability"})'


def test_sloth_series_copy_obsgens_recordings_and_read_no_raw_series() -> None:
    m = model_of(FIXTURE.read_text())
    (catalog,) = m.service("catalog").slos
    rules = slo.recording_rules(m, catalog)
    sloth = [r for r in rules if any(k.startswith("sloth_") for k in r["labels"])]
    windows = slo.windows(m, catalog)
    assert [r["labels"].get("sloth_window") for r in sloth[:len(windows)]] == windows
    assert [r["record"] for r in sloth[len(windows):]] == [
        slo.OBJECTIVE, slo.ERROR_BUDGET, slo.TIME_PERIOD, slo.CURRENT_BURN_RATE, slo.PERIOD_BURN_RATE,
        slo.BUDGET_REMAINING, "sloth_slo_info"]
    for r in sloth:
        assert {k: v for k, v in r["labels"].items() if k in ("sloth_id", "sloth_service", "sloth_slo")} == {
            "sloth_id": "catalog-routes", "sloth_service": "catalog", "sloth_slo": "routes"}
        assert "http_requests_total" not in r["expr"] and "[" not in r["expr"]  # obsgen's recordings only
    assert sloth[-1]["labels"]["sloth_objective"] == "99"
    assert rules.index(sloth[0]) > max(i for i, r in enumerate(rules) if "slo_id" in r["labels"])
    (payments,) = m.service("payments").slos  # not asked for: none
    assert not any("sloth_id" in r["labels"] for r in slo.recording_rules(m, payments))
    on = model_of(plain().replace("project: {name: shop}", "project: {name: shop}\ndefaults: {sloth_compatible: true}"))
    (s,) = on.service("api").slos
    assert s.sloth and any(r["record"] == "sloth_slo_info" for r in slo.recording_rules(on, s))


# --------------------------------------------------------------------------- refused at their place


@pytest.mark.parametrize(("alerting", "message"), [
    ("{page_alert: {labels: {tier: x}}}", "page_alert.labels.tier: `tier` is obsgen's"),
    ("{page_alert: {labels: {severity: x}}}", "page_alert.labels.severity: `severity` is obsgen's: the tier's "
                                              "`severity:` sets it"),
    ("{ticket_alert: {labels: {slo_id: x}}}", "ticket_alert.labels.slo_id: `slo_id` is obsgen's"),
    ("{ticket_alert: {labels: {alertname: x}}}", "ticket_alert.labels.alertname: `alertname` is obsgen's"),
    ("{page_alert: {labels: {service: x}}}", "page_alert.labels.service: `service` is obsgen's"),
    ("{page_alert: {labels: {__x: y}}}", "page_alert.labels.__x: `__x`: label names starting with `__`"),
    ("{page_alert: {annotations: {x: '{{ $labels.slo '}}}", "page_alert.annotations.x: broken Go template"),
    ("{page_alert: {name: CheckoutPage}}", "page_alert.name: alert name 'CheckoutPage' must start with the "
                                           "service's name (Api)"),
    ("{page_alert: {name: api-page}}", "page_alert.name: alert name 'api-page' must be CamelCase"),
    ("{page_alert: {name: ApiDown}}", "page_alert.name: alert name 'ApiDown' is already used at services[0].name"),
    ("{ticket_alert: {name: ApiAvailabilitySliAbsent}}", "ticket_alert.name: alert name 'ApiAvailabilitySliAbsent' "
                                                         "is already used"),
    ("{ticket_alert: {severity: critical}, page_alert: {severity: warning}}",
     "ticket_alert.severity: the ticket (critical) would be more severe than the page (warning)"),
    ("{page_alert: {severity: fatal}}", "page_alert.severity"),
    ("{page_alert: {for: 0x}}", "page_alert.for"),
])
def test_a_shape_obsgen_cannot_keep_is_refused_at_its_place(alerting: str, message: str) -> None:
    found = problems(plain(alerting))
    assert any(message in line for line in found), found


def test_what_is_allowed_passes() -> None:
    assert problems(plain("{page_alert: {name: ApiAvailabilityPage, labels: {team: oncall}}, "
                          "ticket_alert: {name: ApiAvailabilityPage, severity: warning}}")) == []
    # page and ticket under their own names may order their severities as they like
    assert problems(plain("{page_alert: {name: ApiPage, severity: warning}, "
                          "ticket_alert: {name: ApiTicket, severity: critical}}")) == []


def test_a_group_label_or_a_class_name_is_refused() -> None:
    by = PLAIN.replace("sli: {type: availability}ALERTING",
                       "sli: {type: availability}, by: [endpoint], alerting: {page_alert: {labels: {endpoint: x}}}")
    assert any("page_alert.labels.endpoint: `endpoint` is a `by` label of the SLO" in p for p in problems(by))
    cls = plain().replace("services:", "slo_classes:\n  gold: {availability: 99.9, alerting: {page_alert: {name: "
                                       "ApiGoldPage}}}\nservices:").replace("team: core", "team: core\n    class: gold")
    assert any("slo_classes.gold.alerting.page_alert.name: an alert name belongs to one service" in p
               for p in problems(cls))


# --------------------------------------------------------------------------- proofs, through the real tools


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiers") / "out"
    obsgen("render", str(FIXTURE), "-o", str(out), "--quiet", check=True)
    return out


def _copy(out: Path, tmp: Path, name: str) -> Path:
    dest = tmp / name
    shutil.copytree(out, dest, symlinks=True)
    return dest


def _edit_rules(out: Path, service: str, edit: Any) -> None:
    path = out / "prometheus" / "rules" / f"{service}.yml"
    data = yaml.safe_load(path.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            edit(rule)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _page_waits_longer(rule: dict[str, Any]) -> None:
    if rule.get("alert") == "PaymentsAvailabilityPage":
        rule["for"] = "10m"


def _page_without_its_team(rule: dict[str, Any]) -> None:
    if rule.get("alert") == "PaymentsAvailabilityPage":
        rule["labels"]["team"] = "payments"


def _absent_without_groups(rule: dict[str, Any]) -> None:
    if rule.get("alert") == "CatalogRoutesSliAbsent":
        rule["expr"] = rule["expr"].split("\nor\n")[0]


def _sloth_window_lost(rule: dict[str, Any]) -> None:
    if rule.get("record") == "slo:sli_error:ratio_rate1h" and "sloth_window" in rule.get("labels", {}):
        rule["expr"] = rule["expr"].replace("ratio_rate1h", "ratio_rate5m")
        rule["labels"].pop("sloth_window")


BREAKS = {  # what each break must fail: the check promtool reports
    "page-for": ("payments", _page_waits_longer, 'ALERTS{alertname=\\"PaymentsAvailabilityPage\\"'),
    "page-team": ("payments", _page_without_its_team, 'team="payments"'),
    "absent-per-group": ("catalog", _absent_without_groups, 'ALERTS{alertname=\\"CatalogRoutesSliAbsent\\"'),
    "sloth": ("catalog", _sloth_window_lost, 'slo:sli_error:ratio_rate1h{sloth_id='),
}


def test_the_generated_proofs_pass_and_each_break_fails_them(rendered: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    tests = rendered / "prometheus" / "tests"
    names = (tests / "payments.test.yml").read_text() + (tests / "catalog.test.yml").read_text()
    assert "+ its `for` of 2m" in names and "+ its `for` of 10m" in names  # page and ticket wait for their `for`
    assert "resolves by itself" in names and "Sloth''s series" in names

    def check(out: Path, service: str | None = None) -> subprocess.CompletedProcess[str]:
        files = [tests.name + f"/{s}.test.yml" for s in (("payments", "catalog") if service is None else (service,))]
        return subprocess.run([promtool, "test", "rules", *files], cwd=out / "prometheus", capture_output=True,
                              text=True, timeout=300)

    broken = {}
    for name, (service, edit, _) in BREAKS.items():
        out = _copy(rendered, tmp_path, name)
        _edit_rules(out, service, edit)
        broken[name] = (out, service)
    proc = check(rendered)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(check, out, service) for name, (out, service) in broken.items()}
        for name, future in runs.items():
            got = future.result()
            assert got.returncode != 0, name
            assert BREAKS[name][2] in got.stderr, (name, got.stderr[-3000:])


def test_obsgen_counts_every_alert_proven(rendered: Path) -> None:
    proc = obsgen("render", str(FIXTURE), "-o", str(rendered), check=True)
    assert "alerts: 18, proven 18" in proc.stdout, proc.stdout


def _drop_oncall_route(out: Path) -> None:
    path = out / "alertmanager" / "alertmanager.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg["route"]["routes"] = [r for r in cfg["route"]["routes"] if r.get("receiver") != "payments-oncall"]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_the_page_reaches_its_own_channel_by_its_label(rendered: Path, tmp_path: Path) -> None:
    require_tool("amtool")
    import json

    routes = json.loads((rendered / "proof" / "routes.json").read_text())
    by_alert = {a["alert"]: a for a in routes["alerts"]}
    assert by_alert["PaymentsAvailabilityPage"]["receivers"] == ["payments-oncall"]
    assert by_alert["PaymentsAvailabilityTicket"]["receivers"] == ["ops-webhook"]  # info: no severity route
    assert by_alert["PaymentsAvailabilityBudgetExhausted"]["receivers"] == ["team-slack"]
    results = verify_routes(rendered)
    assert [r.status for r in results] == ["passed"], results
    out = _copy(rendered, tmp_path, "no-route")
    _drop_oncall_route(out)
    results = verify_routes(out)
    assert [r.status for r in results] == ["failed"]
    assert "PaymentsAvailabilityPage" in results[0].output


def test_the_live_alertmanager_delivers_the_page_to_its_channel_and_inhibits_the_ticket(
        rendered: Path, tmp_path: Path, alertmanager: str) -> None:  # noqa: F811
    out = _copy(rendered, tmp_path, "live-no-route")
    _drop_oncall_route(out)
    with ThreadPoolExecutor(2) as pool:
        good, bad = pool.submit(live_check, rendered, alertmanager), pool.submit(live_check, out, alertmanager)
        results, broken = good.result(timeout=180), bad.result(timeout=180)
    got = {re.sub(r".*\((\w[\w ]*)\)$", r"\1", r.target): r for r in results}
    assert got["delivery"].status == "passed" and got["inhibition"].status == "passed", results
    (delivery,) = [r for r in broken if r.target.endswith("(delivery)")]
    assert delivery.status == "failed" and "PaymentsAvailabilityPage" in delivery.output, delivery.output


def test_sloth_series_proofs_hold_where_the_ratio_is_not_exact_in_floats(tmp_path: Path) -> None:
    """An events SLI at 99.9: its generated ratio of sums reads 4.999999999999969E-04 for 5E-04, and the Sloth
    copies' proof must still hold (it compared floats exactly, and failed on a valid spec)."""
    promtool = require_tool("promtool")
    spec = tmp_path / "tokens.yaml"
    spec.write_text("""
version: 1
project: {name: tokens}
channels: {ops: {type: webhook, url: "http://hooks.example:8080/alerts"}}
routing: {default: ops}
defaults: {sloth_compatible: true}
services:
  - name: tok
    scrape: {static: ["tok:8080"]}
    slos:
      - name: validation
        objective: 99.9
        sli: {events: {errors: 'sum(rate(token_validation_failures_total[{{window}}]))',
                       total: 'sum(rate(token_validations_total[{{window}}]))'}}
""")
    out = tmp_path / "out"
    obsgen("render", str(spec), "-o", str(out), "--quiet", check=True)
    proc = subprocess.run([promtool, "test", "rules", "tests/tok.test.yml"], cwd=out / "prometheus",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "abs(slo:sli_error:ratio_rate5m{sloth_id=" in (out / "prometheus/tests/tok.test.yml").read_text()
