"""`obsgen check`'s checks of Grafana, Loki and Fluentd files (obsgen/file_checks.py).

On every rendered example each check passes and the checks together name every file of grafana/, loki/ and
fluentd/. Then each check is given one broken file and must fail, alone, with a message naming that file;
a check whose tool is missing says how to install it and names no file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool

from obsgen import file_checks
from obsgen.check_result import Result
from obsgen.file_checks import check_files

COVERED = ("grafana/", "loki/", "fluentd/")
BROKEN_EXAMPLE = "ai-chat"  # has every kind of file: LogQL panels and rules, Elasticsearch, tracing
DASHBOARD = "grafana/dashboards/aichat-backend.json"
RULES = "loki/rules/fake/aichat-backend.yml"
DATASOURCES = "grafana/provisioning/datasources/datasources.yml"
CONF = "fluentd/fluent.conf"
DOCKERFILE = "fluentd/Dockerfile"
DASHBOARD_RULES = ("obsgen dashboard rules", "grafana/dashboards/")
DASHBOARD_PROMQL = ("promtool", "grafana/dashboards/ (PromQL)")
DASHBOARD_LOGQL = ("lezer-logql", "grafana/dashboards/ (LogQL)")
PROVISIONING = ("obsgen provisioning schema", "grafana/provisioning/")
LOKI_CONFIG = ("obsgen loki.yml schema", "loki/loki.yml")
RULES_SHAPE = ("promtool", "loki/rules/ (rule files, LogQL swapped for vector(1))")
RULES_LOGQL = ("lezer-logql", "loki/rules/ (LogQL)")
FLUENT_CONF = ("obsgen fluent.conf parser", CONF)
FLUENT_DOCKERFILE = ("obsgen Dockerfile rules", DOCKERFILE)


@pytest.fixture(scope="module")
def tools() -> None:
    require_tool("promtool")
    require_tool("node")
    if file_checks.logql_node_modules() is None:
        message = "@grafana/lezer-logql not installed: run `make tools`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def by_check(results: list[Result]) -> dict[tuple[str, str], Result]:
    keyed = {(r.tool, r.target): r for r in results}
    assert len(keyed) == len(results), "two results share a tool and target"
    return keyed


def test_every_check_passes_on_every_example_and_names_what_it_covered(
        rendered_examples: dict[str, Path], tools: None) -> None:
    for name, out in rendered_examples.items():
        results = by_check(check_files(out))
        assert [r for r in results.values() if r.status != "passed"] == [], name
        files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
        covered = {f for f in files if f.startswith(COVERED)}
        assert {f for r in results.values() for f in r.files} == covered, name
        # each kind of file by the checks meant for it
        dashboards = {f for f in covered if f.startswith("grafana/dashboards/")}
        assert set(results[DASHBOARD_RULES].files) == set(results[DASHBOARD_PROMQL].files) == dashboards
        assert set(results[PROVISIONING].files) == {f for f in covered if f.startswith("grafana/provisioning/")}
        assert results[LOKI_CONFIG].files == ("loki/loki.yml",)
        rules = {f for f in covered if f.startswith("loki/rules/")}
        if rules:
            assert set(results[RULES_SHAPE].files) == set(results[RULES_LOGQL].files) == rules
        assert results[FLUENT_CONF].files == (CONF,) and results[FLUENT_DOCKERFILE].files == (DOCKERFILE,)
        assert "not a Docker build" in results[FLUENT_DOCKERFILE].output
        logql_dashboards = {f for f in dashboards if '"type": "loki"' in (out / f).read_text()}
        assert set(results.get(DASHBOARD_LOGQL, Result("", "", "")).files) == logql_dashboards


# --------------------------------------------------------------------------- one broken file at a time


@pytest.fixture
def tree(rendered_examples: dict[str, Path], tmp_path: Path, tools: None) -> Path:
    out = tmp_path / "out"
    shutil.copytree(rendered_examples[BROKEN_EXAMPLE], out)
    return out


def edit(out: Path, rel: str, change: Callable[[str], str]) -> None:
    path = out / rel
    before = path.read_text()
    after = change(before)
    assert after != before, f"the edit of {rel} changed nothing"
    path.write_text(after)


def edit_dashboard(out: Path, change: Callable[[dict[str, Any]], None]) -> None:
    d = json.loads((out / DASHBOARD).read_text())
    change(d)
    (out / DASHBOARD).write_text(json.dumps(d, indent=2))


def first_panel(d: dict[str, Any], datasource: str) -> dict[str, Any]:
    return next(p for p in d["panels"] if p.get("targets") and p["datasource"]["type"] == datasource)


def failures(out: Path) -> dict[tuple[str, str], Result]:
    return {k: r for k, r in by_check(check_files(out)).items() if r.status != "passed"}


def only_failure(out: Path, key: tuple[str, str], *says: str) -> str:
    failed = failures(out)
    assert set(failed) == {key}, {k: r.output for k, r in failed.items()}
    output = failed[key].output
    for text in says:
        assert text in output, output
    return output


def test_bad_promql_in_a_dashboard(tree: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        first_panel(d, "prometheus")["targets"][0]["expr"] = "sum(rate(http_requests_total[$__rate_interval])"

    edit_dashboard(tree, change)
    title = first_panel(json.loads((tree / DASHBOARD).read_text()), "prometheus")["title"]
    only_failure(tree, DASHBOARD_PROMQL, DASHBOARD, f"panel {title!r}",
                 "sum(rate(http_requests_total[$__rate_interval])", "unclosed left parenthesis")


def test_unknown_datasource_uid_in_a_dashboard(tree: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        panel = first_panel(d, "loki")
        panel["datasource"] = {"type": "loki", "uid": "loki-old"}
        for t in panel["targets"]:
            t["datasource"] = {"type": "loki", "uid": "loki-old"}

    edit_dashboard(tree, change)
    only_failure(tree, DASHBOARD_RULES, DASHBOARD, "'loki-old'", "grafana/provisioning/datasources/")


def test_a_dashboard_that_is_not_json_is_named_only_by_the_check_that_refused_it(tree: Path) -> None:
    edit(tree, DASHBOARD, lambda text: text[:len(text) // 2])
    results = by_check(check_files(tree))
    assert results[DASHBOARD_RULES].status == "failed" and f"{DASHBOARD}: not JSON" in results[DASHBOARD_RULES].output
    assert DASHBOARD in results[DASHBOARD_RULES].files
    assert results[DASHBOARD_PROMQL].status == "passed" and DASHBOARD not in results[DASHBOARD_PROMQL].files


def test_bad_logql_in_a_dashboard(tree: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        target = first_panel(d, "loki")["targets"][0]
        target["expr"] = target["expr"].replace("[$__auto]", "[$__auto")

    edit_dashboard(tree, change)
    only_failure(tree, DASHBOARD_LOGQL, DASHBOARD, "[$__auto)", "syntax error")


def test_a_second_default_datasource(tree: Path) -> None:
    edit(tree, DATASOURCES, lambda text: text.replace("isDefault: false", "isDefault: true", 1))
    only_failure(tree, PROVISIONING, DATASOURCES, "second default")


def test_a_wrong_field_type_in_provisioning(tree: Path) -> None:
    edit(tree, DATASOURCES, lambda text: text.replace("editable: false", "editable: nope", 1))
    only_failure(tree, PROVISIONING, f"{DATASOURCES}: datasources[0].editable: 'nope' is not of type 'boolean'")


def test_a_wrong_field_type_in_loki_yml(tree: Path) -> None:
    edit(tree, "loki/loki.yml", lambda text: text.replace("http_listen_port: 3100", "http_listen_port: '3100'"))
    only_failure(tree, LOKI_CONFIG, "loki/loki.yml: server.http_listen_port: '3100' is not of type 'integer'")


def test_a_rule_file_outside_the_tenant_folder(tree: Path) -> None:
    (tree / "loki/rules/other").mkdir()
    (tree / RULES).rename(tree / "loki/rules/other/aichat-backend.yml")
    only_failure(tree, LOKI_CONFIG, "loki/loki.yml", "loki/rules/other/aichat-backend.yml is never evaluated")


def test_bad_logql_in_a_loki_rule(tree: Path) -> None:
    edit(tree, RULES, lambda text: text.replace("* 60 > 10", "* 60 >"))
    only_failure(tree, RULES_LOGQL, RULES, "AichatBackendErrorLogsHigh", "syntax error")


def test_a_log_query_in_a_loki_rule(tree: Path) -> None:
    edit(tree, RULES, lambda text: re.sub(r"expr: .*", 'expr: \'{service="aichat-backend"} |= "error"\'', text))
    only_failure(tree, RULES_LOGQL, RULES, "metric queries only")


def test_a_bad_rule_shape_is_reported_on_the_rule_files_own_line(tree: Path) -> None:
    def change(text: str) -> str:
        # a three-line expression before the unknown field: the LogQL swap must not move the lines
        text = re.sub(r"expr: (.*)", lambda m: "expr: |-\n      " + m.group(1).replace(" * 60 ", "\n      * 60\n      "),
                      text, count=1)
        return text.replace("    for: 5m\n", "    for: 5m\n    keep_firing: 5m\n", 1)

    edit(tree, RULES, change)
    line = next(n for n, text in enumerate((tree / RULES).read_text().splitlines(), 1) if "keep_firing" in text)
    only_failure(tree, RULES_SHAPE, RULES, f"line {line}: field keep_firing not found")


@pytest.mark.parametrize("change, line", [
    (lambda text: text.replace("</match>\n", "\n", 1), "<match "),  # the next end tag is not its own
    (lambda text: text + "<match never.closed>\n  @type stdout\n", "<match never.closed> opened at line"),
], ids=["end-tag-missing", "at-end-of-file"])
def test_an_unclosed_match_in_fluent_conf(tree: Path, change: Callable[[str], str], line: str) -> None:
    edit(tree, CONF, change)
    only_failure(tree, FLUENT_CONF, f"{CONF}: line ", line, "not closed")


def test_a_plugin_obsgen_does_not_install(tree: Path) -> None:
    edit(tree, CONF, lambda text: text.replace("@type elasticsearch", "@type kafka2", 1))
    failed = failures(tree)
    assert set(failed) == {FLUENT_CONF, FLUENT_DOCKERFILE}
    assert f"{CONF}: line " in failed[FLUENT_CONF].output
    assert "@type kafka2 is not a Fluentd output plugin" in failed[FLUENT_CONF].output
    assert f"{DOCKERFILE}: {CONF} line" in failed[FLUENT_DOCKERFILE].output


def test_a_missing_gem_in_the_dockerfile(tree: Path) -> None:
    edit(tree, DOCKERFILE, lambda text: re.sub(r" && gem install fluent-plugin-grafana-loki .*\n", "", text))
    only_failure(tree, FLUENT_DOCKERFILE, "not a Docker build", f"{DOCKERFILE}: {CONF} line",
                 "@type loki needs gem fluent-plugin-grafana-loki")


# --------------------------------------------------------------------------- tools that are not there


def test_without_promtool_its_checks_say_how_to_install_it_and_name_no_file(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "promtool").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    results = by_check(check_files(tree))
    for key in (DASHBOARD_PROMQL, RULES_SHAPE):
        assert results[key].status == "not found" and results[key].files == ()
        assert "make tools" in results[key].output
    assert all(r.status == "passed" for k, r in results.items() if k not in (DASHBOARD_PROMQL, RULES_SHAPE))


def test_the_grammar_is_found_through_obsgen_node_modules(tree: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    found = file_checks.logql_node_modules()
    assert found is not None
    monkeypatch.setattr(file_checks, "CHECKOUT_NODE_MODULES", tmp_path / "none")
    monkeypatch.setenv("OBSGEN_NODE_MODULES", str(tmp_path / "empty"))
    results = by_check(check_files(tree))
    for key in (DASHBOARD_LOGQL, RULES_LOGQL):
        assert results[key].status == "not found" and results[key].files == ()
        assert "make tools" in results[key].output and "npm install" in results[key].output
    # elsewhere, beside no obsgen checkout: a node_modules of its own, named by the variable
    shutil.copytree(found, tmp_path / "elsewhere/node_modules")
    monkeypatch.setenv("OBSGEN_NODE_MODULES", str(tmp_path / "elsewhere/node_modules"))
    results = by_check(check_files(tree))
    assert results[DASHBOARD_LOGQL].status == results[RULES_LOGQL].status == "passed"
