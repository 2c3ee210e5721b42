"""Merging an import into an existing spec (`obsgen import ... -o existing.yaml`): every entry the merge adds
is written in at its place, and the file's own comments and formatting stay, whatever part the merge grows
(services, a service's SLOs, `defaults.slo_windows`, `proof.accept_unproven`); a name the file has already
is refused at its place in the file."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, obsgen, obsgen_in_process

from obsgen.importers import sloth
from obsgen.importers.spec_writer import write_spec
from obsgen.spec import load_spec

FIX = ROOT / "tests" / "fixtures" / "import"

# a spec written by a person: comments on top, between keys, after values, inside lists, at the end
EXISTING = """\
# The shop's monitoring: edited by hand, reviewed by the SRE team.
version: 1

project:
  name: shop   # the Grafana folder
  environment: production

# defaults every service inherits
defaults:
  scrape_interval: 30s     # our Prometheus scrapes every 30s
  evaluation_interval: 30s

services:
  # the storefront, owned by web
  - name: storefront
    team: web
    scrape: {static: ["storefront:8080"]}
    slos:
      - name: availability   # the SLO the business reviews
        objective: 99.5
        period: 30d
        sli: {type: availability}

  - name: search-frontend
    scrape: {static: ["search:9090"]}  # behind the ingress
    # no SLO of its own yet: Sloth's come in

channels:
  oncall:
    type: webhook
    url: http://alerts.shop.example.net/hook   # the pager bridge

routing:
  default: oncall
# end of the hand-written spec
"""


def _comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line and not line.lstrip().startswith("#")] + \
        [line.strip() for line in text.splitlines() if line.lstrip().startswith("#")]


def test_a_merge_that_grows_defaults_slos_and_proof_keeps_every_comment(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(EXISTING)
    # SLOs into the existing search-frontend, and AlertWindows: a 30d window set into `defaults`
    imported, _ = sloth.import_sloth([FIX / "sloth-search-crd.yaml", FIX / "sloth-windows-30d.yaml"])
    text, _model = write_spec(imported, spec, "p")
    assert spec.read_text() == text
    lines = text.splitlines()
    # every line of the file is still there, in its order, each comment with it
    it = iter(lines)
    assert all(any(line == n for n in it) for line in EXISTING.splitlines()), text
    assert "its comments are not" not in text
    for said in _comments(EXISTING):
        assert said in text, said
    # the additions, at their places: the windows in `defaults`, the SLOs under the service, proof at the end
    merged = load_spec(spec)
    assert [s.name for s in merged.services] == ["storefront", "search-frontend"]
    assert [s.name for s in merged.services[1].slos] == ["ingress-availability", "index-freshness"]
    assert merged.defaults.model_dump()["slo_windows"]["30d"]["page_fast"] == ("30m", "5m", 1.0)
    assert lines.index("  slo_windows:") < lines.index("services:")
    # the service's own trailing comment stays with it, above what was added to it
    assert lines.index("    # no SLO of its own yet: Sloth's come in") < lines.index("    slos:", lines.index("  - name: search-frontend"))
    assert "ticket_slow: Sloth's 5% of the budget in 3d" in text  # the importer's own comments come along
    # no service was added: the import's head comment leads the first entry it added
    windows = lines.index("  slo_windows:")
    assert any(line.startswith("  # Imported from Sloth by `obsgen import sloth`") for line in lines[windows - 6:windows])
    assert "SearchFrontendIndexStale" in merged.proof.accept_unproven and lines.index("proof:") > lines.index("routing:")
    assert obsgen_in_process("validate", str(spec)).returncode == 0


def test_a_name_the_file_has_already_is_refused_at_its_place(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(EXISTING.replace("      - name: availability   # the SLO the business reviews",
                                     "      - name: ingress-availability"))
    src = tmp_path / "storefront.yaml"
    src.write_text((FIX / "sloth-search-crd.yaml").read_text().replace("search-frontend", "storefront"))
    before = spec.read_bytes()
    proc = obsgen("import", "sloth", str(src), "-o", str(spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{spec}:19:15 services[0].slos[0].name: service 'storefront' already has an SLO named " \
           "'ingress-availability'" in proc.stderr, proc.stderr
    assert spec.read_bytes() == before


def test_a_merge_the_text_cannot_take_rewrites_the_file_and_says_so(tmp_path: Path) -> None:
    """A flow-style list cannot grow by inserted lines: the file is written again from its data (its content
    kept, its comments not), and its head comment says so."""
    spec = tmp_path / "obsgen.yaml"
    spec.write_text("""\
version: 1
project: {name: shop}   # one line each
services: [{name: cart, scrape: {static: ["cart:80"]}}]
channels: {oncall: {type: webhook, url: "http://alerts.shop.example.net/hook"}}
routing: {default: oncall}
""")
    imported, _ = sloth.import_sloth([FIX / "sloth-search-crd.yaml"])
    text, _model = write_spec(imported, spec, "p")
    assert "its comments are not (the file is written again from its data" in text
    merged = load_spec(spec)
    assert [s.name for s in merged.services] == ["cart", "search-frontend"]
    assert merged.channels["oncall"].url == "http://alerts.shop.example.net/hook"
