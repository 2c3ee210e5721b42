"""Re-renders that redo only what changed: the digests recorded beside an output decide which services' own
files are read back instead of rendered, and `render --check` compares files by their recorded stat. Whatever
was kept, the output is byte for byte that of a full render of the same spec into a new folder.
"""

from __future__ import annotations

import copy
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import tree_digest
from typer.testing import CliRunner

import obsgen.render
from obsgen.cli import app
from obsgen.render import grafana, grafana_overview, kubernetes, proof, routes
from obsgen.render.common import dump_json
from obsgen.render.grafana_panels import Grid
from obsgen.render.parts import Part, Record, json_document, json_items
from obsgen.spec import load as spec_load
from obsgen.write import cache_path, recorded

RUNNER = CliRunner()

# A shop on Spring Boot: Micrometer's request histogram, classes of request criticality, team routing.
SHOP: dict[str, Any] = {
    "version": 1,
    "project": {"name": "shop", "environment": "staging",
                "runbook_url": "https://runbooks.shop.test/{service}#{alert}"},
    "defaults": {
        "scrape_interval": "30s", "evaluation_interval": "30s", "slo_period": "28d",
        "metrics": {"requests_total": "http_server_requests_seconds_count", "status_label": "status",
                    "error_status": "5..", "duration_histogram": "http_server_requests_seconds"},
    },
    "slo_classes": {
        "tier1": {"availability": 99.95, "latency": {"threshold": "300ms", "objective": 99}},
        "tier2": {"availability": 99.5},
    },
    "services": [
        {"name": "checkout", "team": "payments", "class": "tier1", "scrape": {"static": ["checkout:8081"]},
         "thresholds": [{"indicator": "error_rate", "warning": "1%", "critical": "3%"}],
         "logs": {"source": {"tail": "/var/log/shop/checkout.log", "format": "json"}}},
        {"name": "cart", "team": "storefront", "class": "tier2", "scrape": {"static": ["cart:8080", "cart-2:8080"]},
         "thresholds": [{"indicator": "latency_p99", "warning": "800ms", "critical": "2s"}]},
        {"name": "catalog", "team": "storefront", "scrape": {"static": ["catalog:8080"]},
         "slos": [{"name": "availability", "objective": 99.9, "sli": {"type": "availability"}}]},
        {"name": "pricing", "team": "payments", "class": "tier1", "scrape": {"static": ["pricing:9000"]},
         "metrics": {"status_label": "outcome", "error_status": "SERVER_ERROR"}},
        {"name": "inventory", "team": "fulfilment", "scrape": {"static": ["inventory:8080"]},
         "thresholds": [{"indicator": "latency_p95", "target": "150ms", "warning": "400ms", "critical": "1s"}],
         "logs": {"source": {"tail": "/var/log/shop/inventory.log", "format": "json"}}},
    ],
    "channels": {
        "oncall": {"type": "pagerduty", "routing_key_file": "/run/secrets/pagerduty"},
        "ops": {"type": "slack", "channel": "#shop-ops", "api_url_file": "/run/secrets/slack"},
        "hooks": {"type": "webhook", "url": "https://hooks.shop.test/alertmanager"},
    },
    "routing": {"default": "ops", "severity": {"critical": ["oncall", "ops"], "warning": ["ops"]},
                "teams": {"payments": {"critical": ["oncall", "hooks"]}}},
    "stack": {"deploy": ["compose", "kubernetes"], "exporters": ["node"]},
}


def _service(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    svc: dict[str, Any] = rng.choice(data["services"])
    return svc


def _other(rng: random.Random, current: Any, choices: list[Any]) -> Any:
    """One of `choices` that is not `current`: every edit changes the spec."""
    return rng.choice([c for c in choices if c != current])


def _edits() -> list[Any]:
    def threshold(d: dict[str, Any], rng: random.Random) -> None:
        svc = _service(d, rng)
        svc["thresholds"] = [{"indicator": "error_rate", "warning": f"{rng.randint(1, 4)}%",
                              "critical": f"{rng.randint(5, 9)}%"}]

    def team(d: dict[str, Any], rng: random.Random) -> None:
        svc = _service(d, rng)
        svc["team"] = _other(rng, svc.get("team"), ["payments", "storefront", "fulfilment", "search"])

    def class_objective(d: dict[str, Any], rng: random.Random) -> None:
        cls = d["slo_classes"][rng.choice(["tier1", "tier2"])]
        cls["availability"] = _other(rng, cls["availability"], [99.0, 99.5, 99.9, 99.95])

    def class_of(d: dict[str, Any], rng: random.Random) -> None:
        svc = _service(d, rng)
        choice = _other(rng, svc.get("class"), ["tier1", "tier2", None])
        if choice is None:
            svc.pop("class", None)
        else:
            svc["class"] = choice

    def defaults(d: dict[str, Any], rng: random.Random) -> None:
        d["defaults"]["evaluation_interval"] = _other(rng, d["defaults"]["evaluation_interval"], ["15s", "30s", "1m"])
        d["defaults"]["scrape_interval"] = d["defaults"]["evaluation_interval"]

    def channel(d: dict[str, Any], rng: random.Random) -> None:
        d["channels"]["ops"]["channel"] = _other(rng, d["channels"]["ops"]["channel"], ["#shop-ops", "#shop-alerts", "#ops"])

    def routing(d: dict[str, Any], rng: random.Random) -> None:
        d["routing"]["teams"] = {rng.choice(["payments", "storefront"]): {"critical": ["oncall", "hooks"]}}

    def runbook(d: dict[str, Any], rng: random.Random) -> None:
        d["project"]["runbook_url"] = _other(rng, d["project"]["runbook_url"], [
            "https://runbooks.shop.test/{service}#{alert}", "https://wiki.shop.test/{alert}"])

    def logs(d: dict[str, Any], rng: random.Random) -> None:
        svc = _service(d, rng)
        if svc.pop("logs", None) is None:
            svc["logs"] = {"source": {"tail": f"/var/log/shop/{svc['name']}.log", "format": "json"}}

    def add_or_remove(d: dict[str, Any], rng: random.Random) -> None:
        names = {s["name"] for s in d["services"]}
        if len(names) > 3 and rng.random() < 0.5:
            d["services"].remove(_service(d, rng))
        else:
            name = rng.choice(sorted({"reviews", "shipping", "wishlist", "returns"} - names) or ["refunds"])
            if name not in names:
                d["services"].insert(rng.randrange(len(d["services"]) + 1), {
                    "name": name, "team": "storefront", "scrape": {"static": [f"{name}:8080"]},
                    "thresholds": [{"indicator": "error_rate", "warning": "2%", "critical": "5%"}]})

    def reorder(d: dict[str, Any], rng: random.Random) -> None:
        rng.shuffle(d["services"])

    return [threshold, team, class_objective, class_of, defaults, channel, routing, runbook, logs,
            add_or_remove, reorder]


def _write_folder(folder: Path, data: dict[str, Any]) -> None:
    """The spec as a folder (named like a file, so both name the spec alike): a project file and one
    file per two services."""
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "00-project.yaml").write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "services"}))
    services = data["services"]
    for i in range(0, len(services), 2):
        (folder / f"services-{i // 2:02d}.yaml").write_text(yaml.safe_dump({"services": services[i:i + 2]}))


def _render(*args: str) -> int:
    result = RUNNER.invoke(app, ["render", *args, "--quiet"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code


def _a_second_later(out: Path) -> None:
    """As if the next run came a second later: the files just written are no longer within the racy window
    of the cache (else a fast machine trusts none of them, and keeps nothing)."""
    st = os.stat(cache_path(out))
    os.utime(cache_path(out), ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def kept_counts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many texts each render was given to keep (what the CLI passes to render_all or render_into)."""
    counts: list[int] = []
    real = obsgen.render._render

    def spy(model: Any, kept: Any, *rest: Any) -> Any:
        counts.append(len(kept or {}))
        return real(model, kept, *rest)

    monkeypatch.setattr(obsgen.render, "_render", spy)
    return counts


@pytest.fixture
def kept_parts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """Per render, how many services' parts of each aggregate file it reused (a render reads the earlier file
    where it joins it: in this process, for a spec this small)."""
    counts: list[dict[str, int]] = []
    real = obsgen.render._render

    def spy(model: Any, kept: Any, step: Any, record: Record | None, sink: Any) -> Any:
        try:
            return real(model, kept, step, record, sink)
        finally:
            counts.append({path: len(own) for path, own in (record.kept if record else {}).items()})

    monkeypatch.setattr(obsgen.render, "_render", spy)
    return counts


def test_random_edits_render_what_a_full_render_writes(tmp_path: Path, kept_counts: list[int],
                                                       kept_parts: list[dict[str, int]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random("obsgen-incremental")
    data = copy.deepcopy(SHOP)
    folder, single, out = tmp_path / "spec" / "shop.yaml", tmp_path / "single" / "shop.yaml", tmp_path / "out"
    single.parent.mkdir()
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    _a_second_later(out)
    edits = _edits()
    order = rng.sample(edits, len(edits))  # each kind of edit once alone, then two at a time at random
    partial = joined = 0
    for step in range(len(edits) + 4):
        for edit in [order[step]] if step < len(order) else rng.sample(edits, 2):
            edit(data, rng)
        _write_folder(folder, data)
        if step % 4 == 3:
            assert _render(str(folder), "-o", str(out), "--check") == 1  # stale before the render
        assert _render(str(folder), "-o", str(out)) == 0
        _a_second_later(out)
        kept = kept_counts[-1]
        partial += 0 < kept
        joined += 0 < min(kept_parts[-1].get(p, 0) for p in (proof.PATH, routes.PATH, grafana_overview.PATH))
        # the single-file, single-process, full render into a new folder
        single.write_text(yaml.safe_dump(data))
        fresh = tmp_path / f"fresh-{step}"
        monkeypatch.setenv("OBSGEN_JOBS", "1")
        assert _render(str(single), "-o", str(fresh)) == 0
        monkeypatch.delenv("OBSGEN_JOBS")
        assert kept_counts[-1] == 0
        assert tree_digest(out) == tree_digest(fresh), f"step {step}: the incremental output differs"
        assert _render(str(folder), "-o", str(out), "--check") == 0
    assert partial >= 5, "the edits never let a render keep a service's files"
    assert joined >= 5, "the edits never let a render reuse a service's parts of the aggregate files"


def test_nothing_changed_means_nothing_rendered(tmp_path: Path, kept_counts: list[int]) -> None:
    folder, out = tmp_path / "shop.yaml", tmp_path / "out"
    _write_folder(folder, SHOP)
    assert _render(str(folder), "-o", str(out)) == 0
    before = {p: os.lstat(p) for p in out.rglob("*")}
    assert _render(str(folder), "-o", str(out)) == 0
    assert _render(str(folder), "-o", str(out), "--check") == 0
    assert len(kept_counts) == 1  # neither loaded nor rendered again
    assert {p: (s.st_ino, s.st_mtime_ns) for p, s in before.items()} == \
        {p: (os.lstat(p).st_ino, os.lstat(p).st_mtime_ns) for p in out.rglob("*")}


@pytest.mark.parametrize("spec_changed", [False, True], ids=["same-spec", "other-service-changed"])
def test_check_finds_a_hand_edit_of_an_unchanged_services_file(tmp_path: Path, spec_changed: bool) -> None:
    data = copy.deepcopy(SHOP)
    folder, out = tmp_path / "shop.yaml", tmp_path / "out"
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    if spec_changed:  # checkout changes; cart's files are kept by a render, and must be compared
        data["services"][0]["thresholds"][0]["critical"] = "4%"
        _write_folder(folder, data)
    # same size, edited at once (within the racy window of the recorded stat) and again a second later
    edited = out / "prometheus/rules/cart.yml"
    text = edited.read_text()
    edited.write_text(text.replace("for: 2m", "for: 3m", 1))
    assert len(edited.read_text()) == len(text)
    result = RUNNER.invoke(app, ["render", str(folder), "-o", str(out), "--check"])
    assert result.exit_code == 1 and "differs: prometheus/rules/cart.yml" in result.output, result.output
    st = os.stat(cache_path(out))
    os.utime(cache_path(out), ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # the edit is no longer racy
    result = RUNNER.invoke(app, ["render", str(folder), "-o", str(out), "--check"])
    assert result.exit_code == 1 and "differs: prometheus/rules/cart.yml" in result.output, result.output
    assert _render(str(folder), "-o", str(out)) == 0  # the render puts it back
    assert edited.read_text() == text
    assert _render(str(folder), "-o", str(out), "--check") == 0


@pytest.mark.parametrize("joined", [proof.PATH, routes.PATH, grafana_overview.PATH])
def test_a_hand_edited_joined_file_is_joined_again_from_fresh_parts(tmp_path: Path, joined: str,
                                                                     kept_parts: list[dict[str, int]]) -> None:
    """A re-render cuts kept parts only from an earlier joined file that still holds what the manifest says;
    one edited since (a byte changed, its size the same) gives none, and the render writes the full render's."""
    data = copy.deepcopy(SHOP)
    folder, out, fresh = tmp_path / "shop.yaml", tmp_path / "out", tmp_path / "fresh"
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    _a_second_later(out)
    edited = out / joined
    text = edited.read_text()
    edited.write_text(text.replace('"', "'", 1))  # same size, the other bytes where they were
    data["services"][0]["thresholds"][0]["critical"] = "4%"  # checkout changes, cart is kept
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    assert joined not in kept_parts[-1]  # the edited file gave no parts
    assert kept_parts[-1]  # the others did
    assert _render(str(folder), "-o", str(fresh)) == 0
    assert tree_digest(out) == tree_digest(fresh)


def test_a_cache_for_another_manifest_is_not_believed(tmp_path: Path, kept_counts: list[int]) -> None:
    """A run stopped between swapping in its tree and recording its cache leaves the previous run's cache:
    it names the previous manifest, so it is ignored rather than taken for this output's."""
    folder, out = tmp_path / "shop.yaml", tmp_path / "out"
    _write_folder(folder, SHOP)
    assert _render(str(folder), "-o", str(out)) == 0
    previous = cache_path(out).read_bytes()
    data = copy.deepcopy(SHOP)
    data["services"][1]["team"] = "search"
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    cache_path(out).write_bytes(previous)  # says: rendered from SHOP, with its files' stats
    _write_folder(folder, SHOP)
    assert _render(str(folder), "-o", str(out), "--check") == 1  # out holds the other spec's files
    assert kept_counts[-1] == 0
    assert _render(str(folder), "-o", str(out)) == 0
    assert _render(str(folder), "-o", str(out), "--check") == 0


def test_an_edit_in_the_same_clock_tick_as_the_render_is_read(tmp_path: Path) -> None:
    """A file whose recorded mtime is within RACY_NS of the cache's may have been edited in the same tick
    of the file system's clock, leaving its stat as recorded: it is read, not believed (as git does)."""
    folder, out = tmp_path / "shop.yaml", tmp_path / "out"
    _write_folder(folder, SHOP)
    assert _render(str(folder), "-o", str(out)) == 0
    edited = out / "grafana/dashboards/catalog.json"
    st = os.stat(edited)
    text = edited.read_text()
    edited.write_text(text.replace('"refresh": "1m"', '"refresh": "5m"', 1))
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))  # the stat is the recorded one again
    cache = os.stat(cache_path(out))
    os.utime(cache_path(out), ns=(cache.st_atime_ns, st.st_mtime_ns + 1_000_000))  # written 1 ms later
    result = RUNNER.invoke(app, ["render", str(folder), "-o", str(out), "--check"])
    assert result.exit_code == 1 and "differs: grafana/dashboards/catalog.json" in result.output, result.output


def test_kept_services_with_the_dashboards_forked(tmp_path: Path, kept_counts: list[int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough changed services that a second process renders most dashboards, the others kept."""
    data = copy.deepcopy(SHOP)
    template = data["services"][1]
    data["services"] = [dict(copy.deepcopy(template), name=f"cart-{i:03d}", scrape={"static": [f"cart-{i:03d}:8080"]})
                        for i in range(110)]
    data["services"][0]["team"] = "payments"  # the team the routing names
    folder, single, out = tmp_path / "spec" / "shop.yaml", tmp_path / "single" / "shop.yaml", tmp_path / "out"
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    _a_second_later(out)
    for svc in data["services"][::2]:  # every other service changes
        svc["thresholds"][0]["critical"] = "3s"
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    assert kept_counts[-1] == 55 * 3  # rules, tests, dashboard of each unchanged service
    single.parent.mkdir()
    single.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    assert _render(str(single), "-o", str(tmp_path / "fresh")) == 0
    assert tree_digest(out) == tree_digest(tmp_path / "fresh")


def _write_layout(folder: Path, data: dict[str, Any], layout: dict[str, list[str]]) -> None:
    """The spec as a folder whose files hold the services `layout` names (file name -> service names)."""
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "00-project.yaml").write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "services"}))
    by_name = {s["name"]: s for s in data["services"]}
    for name, services in layout.items():
        (folder / name).write_text(yaml.safe_dump({"services": [by_name[s] for s in services]}))


def test_files_moved_added_and_deleted_render_what_a_full_render_writes(
        tmp_path: Path, kept_parts: list[dict[str, int]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Spec-folder edits: a service moved to another file, a file split in two (the merged spec unchanged),
    a file deleted, one added, the project file changed, a service defined twice across files (the one
    clear error, nothing written), each compared with a fresh single-file full render."""
    data = copy.deepcopy(SHOP)
    folder, single, out = tmp_path / "spec" / "shop.yaml", tmp_path / "single" / "shop.yaml", tmp_path / "out"
    single.parent.mkdir()
    layout = {"a.yaml": ["checkout", "cart"], "b.yaml": ["catalog", "pricing"], "c.yaml": ["inventory"]}
    _write_layout(folder, data, layout)
    assert _render(str(folder), "-o", str(out)) == 0
    extra = {"name": "reviews", "team": "storefront", "scrape": {"static": ["reviews:8080"]},
             "thresholds": [{"indicator": "error_rate", "warning": "2%", "critical": "5%"}]}

    def moved() -> None:  # pricing to the last file: the merged order changes
        layout["b.yaml"].remove("pricing")
        layout["c.yaml"].append("pricing")

    def split() -> None:  # the same services in the same order, in one more file
        layout["a1.yaml"] = layout["a.yaml"][1:]
        layout["a.yaml"] = layout["a.yaml"][:1]

    def deleted() -> None:
        del layout["b.yaml"]

    def added() -> None:
        data["services"].append(extra)
        layout["d.yaml"] = ["reviews"]

    def project() -> None:
        data["project"]["runbook_url"] = "https://wiki.shop.test/{alert}"

    def threshold() -> None:
        svc = next(s for s in data["services"] if s["name"] == "cart")
        svc["thresholds"][0]["critical"] = "3s"

    def again() -> None:
        svc = next(s for s in data["services"] if s["name"] == "cart")
        svc["thresholds"][0]["critical"] = "4s"

    expected_kept = {"moved": 5, "split": 5, "deleted": 4, "added": 4, "project": 0, "threshold": 4, "again": 4}
    parsed: list[str] = []
    real_load_text = spec_load.load_text

    def load_text(text: Any, filename: str = "<spec>", *args: Any) -> Any:
        parsed.append(Path(filename).name)
        return real_load_text(text, filename, *args)

    monkeypatch.setattr(spec_load, "load_text", load_text)
    for edit in (moved, split, deleted, added, project, threshold, again):
        if edit is not again:  # at once: the aggregate files just written are racy, so they are read and
            _a_second_later(out)  # checked by their sha256 (else their parts would be given up)
        edit()
        _write_layout(folder, data, layout)
        parsed.clear()
        assert _render(str(folder), "-o", str(out)) == 0
        if edit in (threshold, again):  # the one file that changed is parsed; the others' data is the cache's
            assert parsed == ["a1.yaml"], parsed
        for path in (proof.PATH, grafana_overview.PATH):
            assert kept_parts[-1].get(path, 0) == expected_kept[edit.__name__], (edit.__name__, path)
        names = [s for services in (layout[k] for k in sorted(layout)) for s in services]
        by_name = {s["name"]: s for s in data["services"]}
        single.write_text(yaml.safe_dump({**data, "services": [by_name[n] for n in names]}))
        fresh = tmp_path / f"fresh-{edit.__name__}"
        monkeypatch.setenv("OBSGEN_JOBS", "1")
        assert _render(str(single), "-o", str(fresh)) == 0
        monkeypatch.delenv("OBSGEN_JOBS")
        assert tree_digest(out) == tree_digest(fresh), f"{edit.__name__}: the incremental output differs"
    before = tree_digest(out)
    layout["e.yaml"] = ["cart"]  # in a1.yaml already
    _write_layout(folder, data, layout)
    result = RUNNER.invoke(app, ["render", str(folder), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "e.yaml:" in result.output and "service 'cart' is already defined at" in result.output, result.output
    assert tree_digest(out) == before
    # the places are those of a load without the cache (cached files have no marks: loaded again)
    uncached = RUNNER.invoke(app, ["validate", str(folder)])
    assert uncached.exit_code == 2 and uncached.output == result.output


def test_kept_overview_rows_that_moved_are_shifted(tmp_path: Path, kept_parts: list[dict[str, int]],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A service added first, then one with fewer stats, then one with more: every kept row of the overview
    stands at other ids and places than in the earlier text, and is shifted there."""
    data = copy.deepcopy(SHOP)
    folder, single, out = tmp_path / "spec" / "shop.yaml", tmp_path / "single" / "shop.yaml", tmp_path / "out"
    single.parent.mkdir()
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    before = json.loads((out / grafana_overview.PATH).read_text())

    def first(d: dict[str, Any]) -> None:
        d["services"].insert(0, {"name": "reviews", "team": "storefront", "scrape": {"static": ["reviews:8080"]}})

    def fewer(d: dict[str, Any]) -> None:  # no scrape: only its health check's stat
        d["services"][0] = {"name": "reviews", "team": "storefront", "health": {"http": "http://reviews:8080/health"}}

    def more(d: dict[str, Any]) -> None:  # an SLO adds the error budget's stat
        d["services"][1]["slos"] = [{"name": "up", "objective": 99.9, "sli": {"type": "availability"}}]

    for step, edit in enumerate((first, fewer, more)):
        _a_second_later(out)
        edit(data)
        _write_folder(folder, data)
        assert _render(str(folder), "-o", str(out)) == 0
        assert kept_parts[-1].get(grafana_overview.PATH) == len(data["services"]) - 1, edit.__name__
        single.write_text(yaml.safe_dump(data))
        fresh = tmp_path / f"fresh-{step}"
        monkeypatch.setenv("OBSGEN_JOBS", "1")
        assert _render(str(single), "-o", str(fresh)) == 0
        monkeypatch.delenv("OBSGEN_JOBS")
        assert tree_digest(out) == tree_digest(fresh), f"{edit.__name__}: the incremental output differs"
    after = json.loads((out / grafana_overview.PATH).read_text())
    place = {p["title"]: (p["id"], p["gridPos"]["y"]) for p in before["panels"] if p["type"] == "row"}
    moved = {p["title"]: (p["id"], p["gridPos"]["y"]) for p in after["panels"] if p["type"] == "row"}
    assert all(moved[t] != place[t] for t in place if "Cart" not in t), (place, moved)  # (all but the 1st kept)


def test_the_sizes_of_kept_files_are_reused_and_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-render measures (kubectl's JSON size, which decides how files are packed into ConfigMaps) only
    the files it rendered; the sizes it records beside the output, reused next time, are those of the files."""
    measured: list[str] = []
    real = kubernetes.apply_size

    def spy(text: str) -> int:
        measured.append(text)
        return real(text)

    monkeypatch.setattr(kubernetes, "apply_size", spy)
    data = copy.deepcopy(SHOP)
    folder, out = tmp_path / "shop.yaml", tmp_path / "out"
    _write_folder(folder, data)
    assert _render(str(folder), "-o", str(out)) == 0
    full = len(measured)
    for critical in ("4500ms", "10s"):  # of other lengths: other sizes
        _a_second_later(out)
        data["services"][1]["thresholds"][0]["critical"] = critical  # cart's own files change
        _write_folder(folder, data)
        measured.clear()
        assert _render(str(folder), "-o", str(out)) == 0
        before = recorded(out)
        assert before is not None
        sizes = before.inputs["sizes"]
        kept = [p for svc in ("checkout", "catalog", "pricing", "inventory")
                for p in (f"prometheus/rules/{svc}.yml", f"grafana/dashboards/{svc}.json")]
        by_sha = {sha: path for path, sha in before.files.items()}  # the manifest's
        assert all(before.files[p] in sizes for p in kept)
        assert not {(out / p).read_text() for p in kept} & set(measured)  # kept: not measured again
        assert len(measured) <= full - len(kept)
        assert set(sizes) <= set(by_sha)  # only this output's texts
        for sha, size in sizes.items():
            assert size == real((out / by_sha[sha]).read_text()), by_sha[sha]


def _whole_overview(model: Any) -> dict[str, Any]:
    """The overview built in one piece: every service's row on one grid, the dashboard normalized whole."""
    grid = Grid()
    grid.add(grafana._alerts_table("Firing alerts", 'service!=""', "service, alertname, severity"), 24, 6)
    for svc in model.services:
        panels = grafana.overview_panels(model, svc)
        if panels:
            grafana.overview_row(grid, svc, panels)
    head = grafana.overview_head(model)
    return grafana._dashboard(model, "Overview", head["description"], grid, head["uid"], ["overview"],
                              grafana._common_links(model) + [grafana._alertmanager_link(model, 'service!=""')], [])


def test_the_joined_overview_is_the_whole_dashboard(tmp_path: Path) -> None:
    """The overview joined from parts placed as if first is the dashboard laid out and numbered whole."""
    from obsgen.model import resolve
    from obsgen.spec import load_spec

    specs = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(SHOP))
    for spec in [tmp_path / "shop.yaml", *specs]:
        model = resolve(load_spec(spec), spec.name)
        assert grafana_overview.render(model)[grafana_overview.PATH] == dump_json(_whole_overview(model)), spec.name


def test_a_joined_document_is_the_whole_documents_json() -> None:
    """json_document over parts (empty ones among them, or only empty ones) is dump_json of the document
    with every part's items in the list, whatever the items hold."""
    rng = random.Random("obsgen-parts")
    values: list[Any] = ["a", 'q"u\\o\nte', "ünï", 1, 2.5, None, True, [], {}, [1, {"k": []}], {"x": {"y": [None]}}]
    for _ in range(200):
        parts = [[{f"k{j}": rng.choice(values) for j in range(rng.randint(0, 3))} for _ in range(rng.randint(0, 3))]
                 for _ in range(rng.randint(0, 5))]
        head = {"before": rng.choice(values), "items": None, "after": rng.choice(values)}
        joined = json_document(head, "items", [(str(i), Part(json_items(p, 2))) for i, p in enumerate(parts)])
        assert joined.text == dump_json({**head, "items": [x for p in parts for x in p]})
        for i, p in enumerate(parts):
            start, end = joined.spans[str(i)]
            assert joined.text[start:end] == json_items(p, 2)


def test_the_joined_reports_are_the_reports(tmp_path: Path) -> None:
    """proof/alerts.json joined from parts is the report the proofs make, serialized whole."""
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    spec = tmp_path / "shop.yaml"
    spec.write_text(yaml.safe_dump(SHOP))
    model = resolve(load_spec_text(spec.read_text(), str(spec)), spec.name)
    assert proof.render(model)[proof.PATH] == dump_json(proof.report(model))


def test_the_readme_reads_the_unproven_entries_of_the_report() -> None:
    """proof.unproven_of and summary_of, which read the report in part, find what parsing it whole finds."""
    from obsgen.model import resolve
    from obsgen.spec import load_spec

    for spec in sorted((Path(__file__).parents[1] / "examples").glob("*.yaml")):
        text = proof.render(resolve(load_spec(spec), spec.name))[proof.PATH]
        whole = json.loads(text)
        assert proof.summary_of(text) == whole["summary"]
        assert proof.unproven_of(text) == [a for a in whole["alerts"] if not a["proven"]], spec.name
