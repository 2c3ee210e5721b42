"""`obsgen check` runs the generated tests in promtool calls of a few files each, side by side (check.rule_tests):
every file is tested, a failure in any call fails the check and names its file, and a call that outlasts its
bound fails naming its files; the generated tests of a large fleet no longer share one bound."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, require_tool

from obsgen import check

LEDGER = ROOT / "tests/fixtures/specs/ledger.yaml"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("promtool")
    out = tmp_path_factory.mktemp("batches") / "out"
    obsgen("render", str(LEDGER), "-o", str(out), "--quiet", check=True)
    return out


def _tests(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in (out / "prometheus/tests").glob("*.yml"))


def test_every_file_is_tested_in_calls_of_a_few_files(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tests = _tests(ledger)
    assert len(tests) >= 4
    monkeypatch.setattr(check, "TEST_BATCH", 2)
    calls: list[list[str]] = []
    running, most = [0], [0]
    lock = threading.Lock()
    run = check._run

    def counted(tool: str, args: list[str], *rest: object, **kw: object) -> check.Result:
        with lock:
            calls.append(args[2:])
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.2)  # long enough for the other thread's call to start meanwhile
            return run(tool, args, *rest, **kw)  # type: ignore[arg-type]
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(check, "_run", counted)
    result = check.rule_tests(ledger, tests, processes=2)
    assert result.status == "passed", result.output
    assert sorted(f for c in calls for f in c) == tests and all(len(c) <= 2 for c in calls)
    assert most[0] == 2  # two calls at a time
    assert result.files == tuple(tests)
    assert result.output.count("SUCCESS") == len(tests)  # promtool's line for each file, from the call that ran it


def test_a_failing_test_in_a_later_call_fails_the_check_and_is_named(ledger: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    shutil.copytree(ledger, out)
    tests = _tests(out)
    last = out / tests[-1]
    data = yaml.safe_load(last.read_text())
    group = next(g for g in data["tests"] if any(c.get("exp_alerts") for c in g.get("alert_rule_test", [])))
    case = next(c for c in group["alert_rule_test"] if c.get("exp_alerts"))
    case["exp_alerts"] = []  # the alert fires, the test now says it does not
    last.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setattr(check, "TEST_BATCH", 1)
    result = check.rule_tests(out, tests, processes=2)
    assert result.status == "failed"
    assert result.output.startswith(f"promtool test rules {tests[-1]}:\nFAILED:"), result.output
    assert tests[0] not in result.output  # the calls that passed are not in the failure's output
    results = check.run_checks(out, processes=2)
    coverage = next(r for r in results if r.tool == "obsgen proof coverage")
    assert coverage.status == "skipped"  # nothing the tests show counts when they did not pass


def test_a_call_that_outlasts_its_bound_fails_naming_its_files(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tests = _tests(ledger)
    monkeypatch.setattr(check, "TEST_BATCH", 3)
    monkeypatch.setattr(check, "TIMEOUT", 0.001)
    result = check.rule_tests(ledger, tests, processes=2)
    assert result.status == "failed"
    for i in range(0, len(tests), 3):
        assert f"promtool test rules {' '.join(tests[i:i + 3])}:\ntimed out after 0.001 s" in result.output


def test_check_through_the_command_line_takes_its_processes_from_obsgen_jobs(ledger: Path) -> None:
    proc = obsgen("check", str(ledger), env={"OBSGEN_JOBS": "2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = obsgen("check", str(ledger), env={"OBSGEN_JOBS": "none"})
    assert bad.returncode == 2 and "OBSGEN_JOBS must be a number" in bad.stderr, bad.stdout + bad.stderr
