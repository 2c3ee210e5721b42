"""`obsgen check` on a spec unlike the examples (tests/fixtures/specs/ledger.yaml): it passes `--strict` with
every alert proven or accepted, and fails — it never says passed — when a proof is broken, a validator is
missing, or a file went unchecked."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, require_tool

from obsgen.check import UNPROVEN, exit_code, run_checks, unchecked_files
from obsgen.check_result import Result

LEDGER = ROOT / "tests/fixtures/specs/ledger.yaml"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ledger") / "out"
    obsgen("render", str(LEDGER), "-o", str(out), "--quiet", check=True)
    return out


def _copy(out: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "out"
    shutil.copytree(out, dest)
    return dest


def test_ledger_passes_strict_with_every_alert_proven_or_accepted(ledger: Path) -> None:
    proc = obsgen("check", "--strict", str(ledger))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((ledger / "proof/alerts.json").read_text())
    unproven = [a for a in report["alerts"] if not a["proven"]]
    assert {a["alert"] for a in unproven} == {"OrdersConsumerErrorLogsHigh", "OrdersConsumerPoisonMessages"}
    assert all(a.get("accepted") for a in unproven)
    assert report["summary"]["proven"] == report["summary"]["alerts"] - 2
    assert "not checked by anything" not in proc.stdout


def test_a_removed_firing_case_fails_strict(ledger: Path, tmp_path: Path) -> None:
    out = _copy(ledger, tmp_path)
    path = out / "prometheus/tests/nightly-settlement.test.yml"
    data = yaml.safe_load(path.read_text())
    data["tests"] = [g for g in data["tests"] if "NightlySettlementMissed" not in str(g)]
    path.write_text(yaml.safe_dump(data))
    # unproven is reported, and fails only under --strict: one run of the checks serves both exit codes,
    # which is all that --strict changes (the CLI's own --strict exit codes are tested above and below)
    results = run_checks(out)
    unchecked = unchecked_files(out, results)
    assert [r.status for r in results if "NightlySettlementMissed" in r.output] == [UNPROVEN]
    assert exit_code(results, unchecked, strict=False, allow_missing=False) == 0
    assert exit_code(results, unchecked, strict=True, allow_missing=False) == 1


def test_a_removed_route_fails(ledger: Path, tmp_path: Path) -> None:
    out = _copy(ledger, tmp_path)
    path = out / "alertmanager/alertmanager.yml"
    config = yaml.safe_load(path.read_text())
    config["route"]["routes"] = [r for r in config["route"]["routes"] if 'team="payments"' not in r.get("matchers", [])]
    path.write_text(yaml.safe_dump(config))
    proc = obsgen("check", str(out))
    assert proc.returncode == 1 and "payments-chat" in proc.stdout, proc.stdout


def test_a_team_label_changed_on_an_alert_fails(ledger: Path, tmp_path: Path) -> None:
    out = _copy(ledger, tmp_path)
    path = out / "prometheus/rules/payments-api.yml"
    path.write_text(path.read_text().replace("team: payments", "team: ledger", 1))
    proc = obsgen("check", str(out))
    assert proc.returncode == 1, proc.stdout
    assert "team" in proc.stdout and "ledger" in proc.stdout


def test_missing_validators_fail_unless_allowed(ledger: Path) -> None:
    bare = {"PATH": str(Path(sys.executable).parent)}  # the venv only: no promtool, amtool, kubectl, node
    env = {**os.environ, **bare}
    proc = obsgen("check", str(ledger), env=env)
    assert proc.returncode == 1 and "not found" in proc.stdout and "install" in proc.stdout, proc.stdout
    allowed = obsgen("check", "--allow-missing", str(ledger), env=env)
    assert allowed.returncode == 0, allowed.stdout
    assert "passed" not in [line.split()[-1] for line in allowed.stdout.splitlines() if "promtool" in line]
    strict = obsgen("check", "--strict", "--allow-missing", str(ledger), env=env)
    assert strict.returncode == 1


def test_unchecked_and_skipped_fail_only_strict(tmp_path: Path) -> None:
    contents = {"a/checked.yml": "same", "a/copy.yml": "same", "a/lonely.yml": "other", "README.md": "doc"}
    for rel, text in contents.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    results = [Result("tool", "a/", "passed", files=("a/checked.yml",))]
    assert unchecked_files(tmp_path, results) == ["a/lonely.yml"]  # a copy of a checked file counts as checked
    assert exit_code(results, ["a/lonely.yml"], strict=False, allow_missing=False) == 0
    assert exit_code(results, ["a/lonely.yml"], strict=True, allow_missing=False) == 1
    skipped = [*results, Result("other", "b/", "skipped", "nothing to run")]
    assert exit_code(skipped, [], strict=False, allow_missing=False) == 0
    assert exit_code(skipped, [], strict=True, allow_missing=False) == 1
    # a result that was not found names no files: what it would have read stays unchecked
    missing = [Result("promtool", "a/", "not found", files=())]
    assert unchecked_files(tmp_path, missing) == ["a/checked.yml", "a/copy.yml", "a/lonely.yml"]


def test_live_check_runs_the_real_alertmanager(ledger: Path) -> None:
    require_tool("alertmanager")
    proc = obsgen("check", "--live", str(ledger))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "alertmanager (live)" in line]
    assert len(rows) == 3 and all("passed" in row for row in rows), proc.stdout
