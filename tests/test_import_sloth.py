"""`obsgen import sloth`: Sloth's prometheus/v1 specs, PrometheusServiceLevel resources and AlertWindows as an
obsgen spec that validates, renders and passes `obsgen check --strict`; refusals located, nothing written;
`--prove` runs Sloth's own rules beside obsgen's through promtool and holds obsgen to the bound."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, obsgen, obsgen_in_process, tree_digest

from obsgen import slo_proofs
from obsgen.importers import sloth, sloth_proof
from obsgen.importers.sloth_proof import prove_slo
from obsgen.model import Model, resolve
from obsgen.spec import load_spec, load_spec_text

FIX = ROOT / "tests" / "fixtures" / "import"
SLOTH = [FIX / "sloth-invoicing.yaml", FIX / "sloth-search-crd.yaml", FIX / "sloth-windows-30d.yaml"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sloth") / "obsgen.yaml"
    proc = obsgen_in_process("import", "sloth", *map(str, SLOTH), "-o", str(out), check=True)
    assert "comment lines say what did not map exactly" in proc.stdout
    return out


def test_every_field_maps_to_the_spec(imported: Path) -> None:
    spec = yaml.safe_load(imported.read_text())
    svc = {s["name"]: s for s in spec["services"]}
    inv, search = svc["invoicing-api"], svc["search-frontend"]
    # the document's labels: team to `team`, the rest to the service's alert labels
    assert inv["team"] == "billing" and inv["labels"] == {"tier_group": "backend"}
    assert search["labels"] == {"cluster": "eu-west-2"}
    # two documents of one file are one service; the CRD's camelCase keys read like the snake_case ones
    assert [s["name"] for s in inv["slos"]] == ["requests-availability", "pdf-latency", "refunds"]
    avail = inv["slos"][0]
    assert avail["objective"] == 99.95 and avail["description"] == "Invoices are served without a server error."
    assert avail["sli"]["events"]["total"] == \
        'sum(rate(http_server_requests_seconds_count{application="invoicing"}[{{window}}]))'
    page, ticket = avail["alerting"]["page_alert"], avail["alerting"]["ticket_alert"]
    assert page["name"] == ticket["name"] == "InvoicingApiHighErrorRate"
    assert (page["severity"], ticket["severity"]) == ("critical", "warning")
    # labels merged in Sloth's order (SLO < alerting < tier), Sloth's sloth_severity kept per tier
    assert page["labels"] == {"category": "availability", "owner": "billing-oncall", "pager": "yes",
                              "sloth_severity": "page"}
    assert ticket["annotations"] == {"runbook": "https://wiki.example.org/billing/invoicing-errors",
                                     "summary": "Invoicing is slowly burning its availability budget."}
    pdf = inv["slos"][1]
    assert pdf["alerting"]["page"] is False and pdf["alerting"]["ticket_alert"]["name"] == "InvoicingApiPdfRenderingSlow"
    assert inv["slos"][2]["alerting"]["ticket"] is False
    ratio = search["slos"][1]["sli"]
    assert ratio["type"] == "ratio" and "{{window}}" in ratio["expr"] and "{{.window}}" not in ratio["expr"]
    # AlertWindows: the tier that differs from obsgen's 30d default is written, the one obsgen refuses is not
    assert spec["defaults"]["slo_windows"] == {"30d": {"page_fast": ["30m", "5m", 1]}}
    # what obsgen's tests cannot prove is listed with the generators' reason
    accepted = spec["proof"]["accept_unproven"]
    assert "SearchFrontendIndexStale" in accepted and "ratio SLI" in accepted["SearchFrontendIndexStale"]
    assert "InvoicingApiPdfRenderingSlow" in accepted


def test_every_inexact_mapping_is_commented(imported: Path) -> None:
    text = imported.read_text()
    for said in ("Sloth's service 'Invoicing_API': obsgen's service names are slugs",
                 "Sloth named both tiers' alerts PdfRenderingSlow",  # renamed: obsgen's names start with the service
                 "sloth_severity is kept on each tier",
                 "Sloth's infoLabels", "Sloth's SLO labels category=availability",
                 "ticket_slow: Sloth's 5% of the budget in 3d", "a burn rate of 0.5, below 1",
                 "Sloth divides its queries series by series", "Sloth also put them on every recorded series"):
        assert said in text, said


def test_the_imported_spec_renders_and_passes_check_strict(imported: Path, tmp_path: Path) -> None:
    assert obsgen_in_process("validate", str(imported), "--strict").returncode == 0
    out = tmp_path / "out"
    obsgen_in_process("render", str(imported), "-o", str(out), "-q", check=True)
    proc = obsgen_in_process("check", str(out), "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_grouped_queries_become_by_and_others_are_said(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    obsgen_in_process("import", "sloth", str(FIX / "sloth-grouped.yaml"), "-o", str(out), "-q", check=True)
    spec = load_spec(out)
    grouped, plain = spec.services[0].slos
    assert grouped.by == ["grpc_method"] and plain.by == []
    assert "Sloth divides its queries series by series" in out.read_text()


BAD = """\
version: "prometheus/v1"
service: "queue-worker"
slos:
  - name: "jobs"
    objective: 100
    sli:
      plugin:
        id: "sloth-common/coredns/availability"
    alerting:
      name: QueueWorkerJobs
  - name: "other"
    objective: 99
    sli:
      events:
        error_query: sum(rate(jobs_failed_total[{{.window}}])) / {{.service}}
        total_query: sum(rate(jobs_total[5m]))
    alerting:
      nmae: QueueWorkerOther
"""


def test_refusals_are_located_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "bad.yaml"
    src.write_text(BAD)
    existing = tmp_path / "obsgen.yaml"
    shutil.copy(ROOT / "tests" / "fixtures" / "specs" / "ledger.yaml", existing)
    before = tree_digest(tmp_path)
    proc = obsgen("import", "sloth", str(src), "-o", str(existing))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    for where, said in ((":5:16 slos[0].objective", "strictly between 0 and 100"),
                        (":7:7 slos[0].sli.plugin", "Sloth's SLI plugin 'sloth-common/coredns/availability'"),
                        (":15:22 slos[1].sli.events.error_query", "other than {{.window}}"),
                        (":16:22 slos[1].sli.events.total_query", "has no {{.window}}"),
                        (":18:13 slos[1].alerting.nmae", "unknown key 'nmae'")):
        assert any(line.startswith(f"{src}{where}") and said in line for line in lines), (where, proc.stderr)
    assert tree_digest(tmp_path) == before  # the existing spec untouched, no temporary file left


def test_merging_into_an_existing_spec_keeps_its_content_and_comments(tmp_path: Path) -> None:
    existing = tmp_path / "obsgen.yaml"
    shutil.copy(ROOT / "tests" / "fixtures" / "specs" / "ledger.yaml", existing)
    old, old_lines = load_spec(existing), existing.read_text().splitlines()
    obsgen_in_process("import", "sloth", str(FIX / "sloth-search-crd.yaml"), "-o", str(existing), "-q", check=True)
    merged = load_spec(existing)
    # only services (and accept_unproven entries) were added: spliced into the file's text, every line of it kept
    new_lines = iter(existing.read_text().splitlines())
    assert all(any(line == n for n in new_lines) for line in old_lines), "a line of the existing spec was lost"
    assert old_lines[0].startswith("# A system unlike the bundled examples")
    assert [s.name for s in merged.services] == [s.name for s in old.services] + ["search-frontend"]
    assert merged.services[:-1] == old.services and merged.channels == old.channels
    assert merged.routing == old.routing and merged.project == old.project
    # the same SLO imported again is refused, and the file stays as it is
    before = existing.read_bytes()
    again = obsgen("import", "sloth", str(FIX / "sloth-search-crd.yaml"), "-o", str(existing))
    assert again.returncode == 2 and "already has an SLO named 'ingress-availability'" in again.stderr
    assert existing.read_bytes() == before


# --------------------------------------------------------------------------- --prove


def test_prove_holds_the_bound_says_what_it_did_not_compare_and_says_it_the_same_every_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run twice (the command, then in-process): the same report to the byte, and the test file promtool is
    given orders every group of its rule files, recordings before alerts (an unlisted group is evaluated in a
    random order, which moved alerts by one evaluation from run to run)."""
    files = [FIX / "sloth-search-crd.yaml", FIX / "sloth-windows-30d.yaml"]
    proc = obsgen("import", "sloth", *map(str, files), "-o", str(tmp_path / "s.yaml"), "--prove", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run, orders = subprocess.run, []

    def spy(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        test = yaml.safe_load(Path(kw["cwd"], args[-1]).read_text())
        groups = [g for f in test["rule_files"] for g in yaml.safe_load(Path(kw["cwd"], f).read_text())["groups"]]
        orders.append((test.get("group_eval_order"), groups))
        return run(args, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    imported, records = sloth.import_sloth(files)
    report, ok = sloth_proof.prove_all(_model(imported), records)
    assert ok and report + "\n" == proc.stdout
    assert orders
    for order, groups in orders:
        rec = [g["name"] for g in groups if all("record" in r for r in g["rules"])]
        assert order == rec + [g["name"] for g in groups if g["name"] not in rec], order
        assert any(g["name"] not in rec for g in groups)  # alerts after recordings, on both sides
    assert "1 of 2 SLOs compared" in proc.stdout and "the bound held" in proc.stdout
    # the raw SLI is no quotient of sum(rate()) queries: the part obsgen could not read is named
    assert ("search-frontend/index-freshness" in proc.stdout and "not compared" in proc.stdout
            and "the ratio SLI's expression" in proc.stdout and "expected `rate(` or `increase(` at `max(" in proc.stdout)
    outage = next(line for line in proc.stdout.splitlines() if "a total outage" in line)
    assert "page: Sloth +" in outage and "obsgen +" in outage  # both paged, each at a measured time
    # the AlertWindows' slow ticket (0.5x, a burn rate obsgen refuses) opens Sloth's ticket before obsgen's
    burn = next(line for line in proc.stdout.splitlines() if "errors at 2x the budget rate" in line)
    assert "page: Sloth never, obsgen never" in burn and "(differs)" in burn.split("ticket:")[1]


def test_prove_with_nothing_compared_fails(tmp_path: Path) -> None:
    src = tmp_path / "raw.yaml"
    src.write_text('''version: "prometheus/v1"
service: "thumbnailer"
slos:
  - name: "renders"
    objective: 99
    sli: {raw: {error_ratio_query: "avg(rate(thumbnail_failures_total[{{.window}}]))"}}
    alerting: {name: ThumbnailerRenders}
''')
    proc = obsgen("import", "sloth", str(src), "-o", str(tmp_path / "s.yaml"), "--prove", "-q")
    assert proc.returncode == 1 and "0 of 1 SLOs compared" in proc.stdout and "not compared" in proc.stdout


def test_prove_strict_fails_on_an_slo_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    imported, records = sloth.import_sloth([FIX / "sloth-search-crd.yaml"])
    from obsgen.importers.spec_writer import emit, merge

    model = resolve(load_spec_text(emit(merge(imported, None, "p"), []), "s.yaml"), "s.yaml")
    verdicts = iter([sloth_proof.Compared("a", [], True, True), sloth_proof.Compared("b", ["  not compared"], True, False)] * 2)
    monkeypatch.setattr(sloth_proof, "prove_slo", lambda *a: next(verdicts))
    assert sloth_proof.prove_all(model, records)[1] is True
    report, ok = sloth_proof.prove_all(model, records, strict=True)
    assert ok is False and "which --strict does not accept" in report


def test_prove_fails_when_obsgen_pages_later_than_sloth(tmp_path: Path) -> None:
    """The same comparison with obsgen's page held back by a `for` of 2 minutes: Sloth pages, obsgen more
    than two evaluations later, and the bound fails."""
    imported, records = sloth.import_sloth([FIX / "sloth-search-crd.yaml"])
    from obsgen.importers.spec_writer import emit, merge

    spec = merge(imported, None, "prove")
    spec["services"][0]["slos"][0]["alerting"]["page_alert"]["for"] = "2m"
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    svc = model.service("search-frontend")
    rec = records[0]
    result = prove_slo(sloth_proof._promtool(), model, svc, svc.slos[0], rec, only=OUTAGE)
    assert result.compared and not result.ok
    assert any("FAILED" in line and "a total outage" in line for line in result.lines), result.lines


OUTAGE = ("a total outage",)  # a break shows there; the other scenarios would only cost CI time


def _model(imported: object, edit: Callable[[dict], None] = lambda spec: None) -> Model:
    from obsgen.importers.spec_writer import emit, merge

    spec = merge(imported, None, "prove")  # type: ignore[arg-type]
    edit(spec)
    return resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")


def test_the_test_file_orders_every_group_recordings_first() -> None:
    """promtool orders the groups `group_eval_order` lists, and ranks an unlisted one with the first listed
    (in a Go map's random order): every group is listed, recordings before alerts, on both sides."""
    files = {"a.yml": yaml.safe_dump({"groups": [{"name": "a-alerts", "rules": [{"alert": "A", "expr": "r > 1"}]},
                                                 {"name": "a-rec", "rules": [{"record": "r", "expr": "x"}]}]}),
             "b.yml": yaml.safe_dump({"groups": [{"name": "b", "rules": [{"record": "s", "expr": "y"},
                                                                         {"alert": "B", "expr": "s > 1"}]}]})}
    assert sloth_proof.eval_order(files) == ["a-rec", "a-alerts", "b"]
    # only what the measured alerts read is loaded: an alert and a recording no measured alert reads go
    groups = [{"name": "rec", "rules": [{"record": "w", "expr": "v"}, {"record": "v", "expr": "raw"},
                                        {"record": "other", "expr": "raw"}]},
              {"name": "alerts", "rules": [{"alert": "Page", "expr": "w > 1"}, {"alert": "Absent", "expr": "absent(other)"}]}]
    assert sloth_proof.measured(groups, {"Page"}) == [
        {"name": "rec", "rules": [{"record": "w", "expr": "v"}, {"record": "v", "expr": "raw"}]},
        {"name": "alerts", "rules": [{"alert": "Page", "expr": "w > 1"}]}]
    groups[1]["rules"][0]["expr"] = 'w > 1 unless on () ALERTS{alertname="Absent"}'
    assert [r.get("alert") or r["record"] for g in sloth_proof.measured(groups, {"Page"}) for r in g["rules"]] == [
        "w", "v", "other", "Page", "Absent"]


RATIO = """\
version: "prometheus/v1"
service: "thumbnailer"
slos:
  - name: "renders"
    objective: 99
    sli: {raw: {error_ratio_query: 'sum(rate(thumbnail_failures_total{job="thumbs"}[{{.window}}])) /
                                    sum(rate(thumbnail_renders_total{job="thumbs"}[{{.window}}]))'}}
    alerting: {name: ThumbnailerRenders, ticket_alert: {disable: true}}
"""


def test_a_ratio_sli_of_two_sums_is_compared_and_a_changed_objective_fails(tmp_path: Path) -> None:
    src = tmp_path / "ratio.yaml"
    src.write_text(RATIO)
    imported, records = sloth.import_sloth([src])
    model = _model(imported)
    svc = model.service("thumbnailer")
    cs = slo_proofs.proof_input(svc, svc.slos[0])
    assert not isinstance(cs, str), cs
    assert {(c.series(), c.counts) for c in cs} == {('thumbnail_failures_total{job="thumbs"}', "errors"),
                                                    ('thumbnail_renders_total{job="thumbs"}', "total")}
    result = prove_slo(sloth_proof._promtool(), model, svc, svc.slos[0], records[0], only=OUTAGE)
    assert result.compared and result.ok, result.lines
    assert "page: Sloth +" in result.lines[0] and "FAILED" not in result.lines[0]
    # obsgen's objective lowered to 98%: its thresholds double, it pages later than Sloth and the bound fails

    def lower(spec: dict) -> None:
        spec["services"][0]["slos"][0]["objective"] = 98

    model = _model(imported, lower)
    svc = model.service("thumbnailer")
    broken = prove_slo(sloth_proof._promtool(), model, svc, svc.slos[0], records[0], only=OUTAGE)
    assert broken.compared and not broken.ok and "FAILED" in broken.lines[0], broken.lines


def test_count_minus_bucket_is_fed_a_bucket_at_the_queries_le() -> None:
    """Sloth's commonest latency SLI, all requests minus those in the le="0.5" bucket: the count is the
    total, the bucket (with the le the query names, and every label its matchers demand) the good events."""
    imported, records = sloth.import_sloth([FIX / "sloth-invoicing.yaml"])
    svc = _model(imported).service("invoicing-api")
    slo = next(s for s in svc.slos if s.name == "pdf-latency")
    cs = slo_proofs.proof_input(svc, slo)
    assert not isinstance(cs, str), cs
    labels = {"application": "invoicing", "uri": "/invoices/{id}/pdf"}
    assert sorted(((c.labels, c.counts) for c in cs), key=lambda x: x[1]) == [
        ({"__name__": "http_server_requests_seconds_bucket", **labels, "le": "0.5"}, "good"),
        ({"__name__": "http_server_requests_seconds_count", **labels}, "total")]
    assert slo_proofs.proof_gap(svc, slo) is not None  # obsgen's own generated proofs do not take it yet


@pytest.mark.parametrize(("errors", "said"), [
    ('sum(rate(x_count{a="1"}[{{window}}])) - sum(rate(x_bucket{le="0.5"}[{{window}}]))',
     "the first query of `total - good` reads other series than the total query"),
    ('sum by (b) (rate(x_count[{{window}}])) - sum(rate(x_bucket{le="0.5"}[{{window}}]))',
     "keep different labels"),
    ('sum(rate(x_count[{{window}}])) - sum(rate(x_bucket{le=~"fast|slow"}[{{window}}]))', "is no bucket bound"),
    ('sum(rate(x_count[{{window}}])) / sum(rate(x_bucket{le="0.5"}[{{window}}]))', "not a quotient there"),
    ('rate(x_count[{{window}}]) - rate(x_bucket{le="0.5"}[{{window}}])', "neither query of `total - good` sums"),
])
def test_a_difference_obsgen_cannot_read_is_said(errors: str, said: str, tmp_path: Path) -> None:
    src = tmp_path / "d.yaml"
    src.write_text(yaml.safe_dump({"version": "prometheus/v1", "service": "x", "slos": [{
        "name": "l", "objective": 99, "alerting": {"name": "XLatency"},
        "sli": {"events": {"error_query": errors.replace("{{window}}", "{{.window}}"),
                           "total_query": "sum(rate(x_count[{{.window}}]))"}}}]}))
    imported, _ = sloth.import_sloth([src])
    svc = _model(imported).service("x")
    got = slo_proofs.proof_input(svc, svc.slos[0])
    assert isinstance(got, str) and said in got, got


def test_queries_sloth_divides_series_by_itself_are_said_and_the_proof_says_so(tmp_path: Path) -> None:
    """ledger-grpc/ungrouped: no sum, and every error series is a total series, so Sloth's error ratio is 1 on
    any error. The spec says it at the SLO; the proof measures it and reports that difference, not a failure
    of the bound (but --strict fails); without the import's word, the same measure fails."""
    out = tmp_path / "g.yaml"
    obsgen("import", "sloth", str(FIX / "sloth-grouped.yaml"), "-o", str(out), "-q", check=True)
    text = out.read_text()
    assert "so Sloth divides each by itself: its error ratio is 1 in every window with an error" in text
    imported, records = sloth.import_sloth([FIX / "sloth-grouped.yaml"])
    model = _model(imported)
    svc = model.service("ledger-grpc")
    rec = next(r for r in records if r.slo == "ungrouped")
    assert rec.differs and next(r for r in records if r.slo == "per-method").differs == ""
    slo = next(s for s in svc.slos if s.name == "ungrouped")
    said = prove_slo(sloth_proof._promtool(), model, svc, slo, rec, only=OUTAGE)
    assert said.compared and said.ok and said.known, said.lines
    assert "the difference the spec's comment says" in said.lines[1] and "FAILED" not in said.lines[1]
    report, ok = sloth_proof.report("Sloth", model, [said], strict=False)
    assert ok and "the bound did NOT hold" not in report and "1 differs from Sloth as the written spec's comment" in report
    assert sloth_proof.report("Sloth", model, [said], strict=True)[1] is False
    rec.differs = ""
    unsaid = prove_slo(sloth_proof._promtool(), model, svc, slo, rec, only=OUTAGE)
    assert not unsaid.ok and "FAILED" in unsaid.lines[0]
    assert "the bound did NOT hold" in sloth_proof.report("Sloth", model, [unsaid], strict=False)[0]


def test_labels_of_a_second_document_and_a_service_severity_go_to_the_tiers(tmp_path: Path) -> None:
    src = tmp_path / "two.yaml"
    src.write_text("""\
version: "prometheus/v1"
service: "mailer"
labels: {team: comms, severity: warning, provider: ses}
slos:
  - name: "sends"
    objective: 99.5
    sli: {events: {error_query: "sum(rate(mailer_send_failures_total[{{.window}}]))",
                   total_query: "sum(rate(mailer_sends_total[{{.window}}]))"}}
    alerting: {name: MailerSends}
---
version: "prometheus/v1"
service: "mailer"
labels: {team: comms-oncall, provider: ses, region: eu}
slos:
  - name: "bounces"
    objective: 99
    sli: {events: {error_query: "sum(rate(mailer_bounces_total[{{.window}}]))",
                   total_query: "sum(rate(mailer_sends_total[{{.window}}]))"}}
    alerting: {name: MailerBounces, page_alert: {labels: {severity: critical}}}
""")
    out = tmp_path / "s.yaml"
    obsgen_in_process("import", "sloth", str(src), "-o", str(out), "-q", check=True)
    svc = load_spec(out).services[0]
    assert svc.team == "comms" and svc.labels == {"provider": "ses"}
    sends, bounces = svc.slos
    assert sends.alerting.ticket_alert.severity == "warning" and sends.alerting.page_alert.severity == "warning"
    assert bounces.alerting.page_alert.severity == "critical"
    assert bounces.alerting.ticket_alert.labels == {"team": "comms-oncall", "region": "eu", "sloth_severity": "ticket"}


def test_the_same_input_writes_the_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for out in (a, b):
        obsgen_in_process("import", "sloth", *map(str, SLOTH), "-o", str(out), "-q", check=True)
    assert a.read_bytes() == b.read_bytes()
    assert obsgen_in_process("import", "--help", check=True).stdout.count("sloth") >= 1
