"""Every example renders and its output passes the real validators, through `obsgen check`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, obsgen, require_tool, run

from obsgen.check import run_checks


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_output_passes_every_validator(spec: Path, rendered_examples: dict[str, Path]) -> None:
    out = rendered_examples[spec.stem]
    results = run_checks(out)
    ran = {r.tool for r in results}
    assert {"promtool", "amtool"} <= ran | {r.tool for r in results if r.status == "not found"}
    for r in results:
        if r.status == "not found":
            require_tool(r.tool)
        assert r.status == "passed", f"{r.tool} {r.target}:\n{r.output}"
    names = [(r.tool, r.target) for r in results]
    assert ("promtool", "prometheus/tests/") in names and ("amtool", "alertmanager/alertmanager.yml") in names


def test_check_command_fails_on_a_broken_output(rendered_examples: dict[str, Path], tmp_path: Path,
                                                promtool: str) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(rendered_examples["quickstart"], out)
    rules = out / "prometheus/rules/checkout.yml"
    # a threshold that can never be crossed: the generated tests must notice
    rules.write_text(rules.read_text().replace("> 0.005", "> 0.9"))
    proc = obsgen("check", str(out))
    assert proc.returncode == 1, proc.stdout
    assert "failed" in proc.stdout


def test_generated_tests_fail_when_an_alert_is_wrong(rendered_examples: dict[str, Path], tmp_path: Path,
                                                     promtool: str) -> None:
    """The proofs can fail: move a threshold in the rules and the tests written for the spec catch it."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(rendered_examples["quickstart"], out)
    path = out / "prometheus/rules/checkout.yml"
    groups = yaml.safe_load(path.read_text())
    for group in groups["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "CheckoutLatencyP95High" and rule["labels"]["severity"] == "critical":
                rule["expr"] = rule["expr"].replace("> 0.5", "> 5")
    path.write_text(yaml.safe_dump(groups))
    proc = run([promtool, "test", "rules", "prometheus/tests/checkout.test.yml"], cwd=out)
    assert proc.returncode != 0
    assert "CheckoutLatencyP95High" in proc.stdout + proc.stderr


def test_every_threshold_alert_has_a_generated_proof(rendered_examples: dict[str, Path]) -> None:
    for name, out in rendered_examples.items():
        for rules_file in (out / "prometheus/rules").glob("*.yml"):
            if rules_file.name.startswith("_"):
                continue
            groups = yaml.safe_load(rules_file.read_text())["groups"]
            thresholds = {r["alert"] for g in groups if g["name"].endswith("-thresholds") for r in g["rules"]
                          if "alert" in r}
            tests = yaml.safe_load((out / f"prometheus/tests/{rules_file.stem}.test.yml").read_text())["tests"]
            proven = {c["alertname"] for t in tests for c in t.get("alert_rule_test", []) if c["exp_alerts"]}
            assert thresholds <= proven, f"{name}/{rules_file.name}: no firing proof for {thresholds - proven}"
