"""The series obsgen's rules read and its generated tests feed have the label shapes of the real software.

tests/fixtures/metrics/ holds what the real exporters, Prometheus and Alertmanager expose at /metrics
(captured by scripts/capture-series.sh). Against them:
- the label sets of `obsgen.real_series` (what the generated tests feed) must each be a real one;
- every input series of the generated `_stack.test.yml` carries a real label set, each stack alert has a
  case where it fires and one where it stays silent, and promtool passes them;
- every selector of a fixture metric in every rule file rendered for the examples asks only for labels and
  values some real series has;
- the old `AlertmanagerNotificationsFailing` expression, which divided one to one, fails its generated test.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, write_tree

from obsgen import real_series
from obsgen.model import Model, resolve
from obsgen.render import exporter_alerts, prometheus, render_all
from obsgen.render.stack_alerts import STACK_ALERTS
from obsgen.spec import load_spec

FIXTURES = ROOT / "tests" / "fixtures" / "metrics"
INTEGRATIONS = ROOT / "tests" / "fixtures" / "specs" / "integrations.yaml"  # every exporter type beyond the first six
HONORED = {"push_time_seconds", "push_failure_time_seconds"}  # scraped from the Pushgateway, honor_labels
SCRAPED = {"job", "instance"}  # labels scraping adds: never in a fixture, ignored in selectors
# Which scrape job of prometheus.yml serves the series of each fixture.
FIXTURE_JOBS = {
    **{kind: job for kind, (job, _) in prometheus.EXPORTER_TARGETS.items()},
    "blackbox-probe-success": prometheus.BLACKBOX_JOB, "blackbox-probe-failure": prometheus.BLACKBOX_JOB,
    "prometheus": "prometheus", "alertmanager": "alertmanager",
}
OLD_AM_EXPR = "rate(alertmanager_notifications_failed_total[5m]) / rate(alertmanager_notifications_total[5m]) > 0.01"

Labels = dict[str, str]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+(?:\s+\S+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = re.compile(r"\\(.)")


def parse_labels(body: str, pattern: re.Pattern[str] = _LABEL) -> Labels:
    labels, pos = {}, 0
    while pos < len(body):
        m = pattern.match(body, pos)
        assert m, f"cannot read labels at {body[pos:]!r}"
        labels[m.group(1)] = _UNESCAPE.sub(lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), m.group(2))
        pos = m.end()
    return labels


@cache
def fixtures() -> dict[str, dict[str, list[Labels]]]:
    """fixture name -> metric -> the label sets of its series."""
    out: dict[str, dict[str, list[Labels]]] = {}
    for path in sorted(FIXTURES.glob("*.prom")):
        metrics: dict[str, list[Labels]] = {}
        for line in path.read_text("utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            assert m, f"{path.name}: not a sample line: {line!r}"
            metrics.setdefault(m.group(1), []).append(parse_labels(m.group(2) or ""))
        out[path.stem] = metrics
    return out


def real(metric: str) -> list[Labels]:
    return [labels for metrics in fixtures().values() for labels in metrics.get(metric, [])]


def is_real(metric: str, labels: Labels, templates: Labels | None = None) -> bool:
    """Some fixture series of `metric` has exactly these label names and values; a value whose template
    (from real_series) holds a placeholder is matched by that template's pattern instead."""
    templates = templates or {}
    for have in real(metric):
        if have.keys() != labels.keys():
            continue
        if all(_fits(templates[k], v) and _fits(templates[k], have[k]) if "{" in templates.get(k, "")
               else have[k] == v for k, v in labels.items()):
            return True
    return False


def _fits(template: str, value: str) -> bool:
    return real_series.value_pattern(template).fullmatch(value) is not None


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[Model, dict[str, str]]]:
    """Each example and the integrations spec rendered in-process: name -> (model, files)."""
    out = {}
    for path in [*EXAMPLES, INTEGRATIONS]:
        model = resolve(load_spec(path), path.name)
        out[path.stem] = model, render_all(model)
    return out


# --------------------------------------------------------------------------- the fixtures and the package data


def test_each_fixture_names_the_package_that_produced_it() -> None:
    expected = set(FIXTURE_JOBS) - {"cadvisor", "kafka"}  # no Debian package of cAdvisor or kafka_exporter
    assert set(fixtures()) == expected
    for path in FIXTURES.glob("*.prom"):
        first = path.read_text("utf-8").splitlines()[0]
        assert re.fullmatch(rf"# {re.escape(path.stem)}: (prometheus(-[a-z]+)*|haproxy) \S+ \(Debian [a-z]+.*\), "
                            r"captured by scripts/capture-series\.sh", first), first
        assert len(fixtures()[path.stem]) > 5, f"{path.name} holds almost nothing"


def test_the_label_sets_obsgen_feeds_are_real_ones() -> None:
    invented = [f"{metric}{labels}" for metric, sets in real_series.SERIES.items() for labels in sets
                if not is_real(metric, labels, labels)]
    assert not invented, "label sets no fixture has:\n" + "\n".join(invented)


def test_the_alertmanager_failure_counters_carry_reason_and_the_total_does_not() -> None:
    # the shapes that broke the old one-to-one division, as the real Alertmanager has them
    failed, total = real("alertmanager_notifications_failed_total"), real("alertmanager_notifications_total")
    assert failed and all(labels.keys() == {"integration", "reason"} for labels in failed)
    assert total and all(labels.keys() == {"integration"} for labels in total)
    assert {"integration": "webhook", "reason": "serverError"} in failed  # what a webhook answering 500 counts
    # Prometheus' errors and sent counters both carry only `alertmanager`: one-to-one is right there
    for metric in ("prometheus_notifications_errors_total", "prometheus_notifications_sent_total"):
        assert real(metric) and all(labels.keys() == {"alertmanager"} for labels in real(metric))


# --------------------------------------------------------------------------- the generated stack tests


def stack_files(files: dict[str, str]) -> dict[str, str]:
    return {k: files[k] for k in ("prometheus/rules/_stack.yml", "prometheus/tests/_stack.test.yml")}


def promtool_test(promtool: str, tmp: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    write_tree(tmp, files)
    return subprocess.run([promtool, "test", "rules", str(tmp / "prometheus/tests/_stack.test.yml")],
                          capture_output=True, text=True, timeout=60)


def test_the_generated_stack_tests_pass_promtool(promtool: str, tmp_path: Path,
                                                 rendered: dict[str, tuple[Model, dict[str, str]]]) -> None:
    # one promtool per example, side by side (each mostly waits on its test storage)
    procs = {}
    try:
        for name, (_, files) in rendered.items():
            write_tree(tmp_path / name, stack_files(files))
            procs[name] = subprocess.Popen(
                [promtool, "test", "rules", str(tmp_path / name / "prometheus/tests/_stack.test.yml")],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, f"{name}:\n{out}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def cases(test_file: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for group in test_file["tests"]:
        for item in group.get("alert_rule_test", []):
            yield item["alertname"], item, group


def test_every_stack_alert_fires_in_one_case_and_stays_silent_in_another(
        rendered: dict[str, tuple[Model, dict[str, str]]]) -> None:
    for name, (_, files) in rendered.items():
        data = yaml.safe_load(files["prometheus/tests/_stack.test.yml"])
        firing = {alert for alert, item, _ in cases(data) if item["exp_alerts"]}
        silent = {alert for alert, item, _ in cases(data) if item["exp_alerts"] == []}
        names = {a.name for a in STACK_ALERTS}
        # each exporter scraped brings its own alerts (obsgen/render/exporter_alerts.py), proven the same way
        names |= {a.name for a in exporter_alerts.alerts(prometheus.stack_jobs(rendered[name][0]))}
        assert len(STACK_ALERTS) == 8 and firing == names, name
        assert silent == names - {"Watchdog"}, name  # the Watchdog always fires: it has no silent case


def test_the_stack_tests_feed_real_label_sets_and_every_stack_job(
        rendered: dict[str, tuple[Model, dict[str, str]]]) -> None:
    seen_cadvisor = False
    for name, (model, files) in rendered.items():
        data = yaml.safe_load(files["prometheus/tests/_stack.test.yml"])
        for group in data["tests"]:
            for series in group["input_series"]:
                metric, _, body = series["series"].partition("{")
                labels = parse_labels(body.rstrip("}"))
                assert SCRAPED <= labels.keys(), series
                own = {k: v for k, v in labels.items() if k not in SCRAPED}
                if metric == "up":  # made by Prometheus for each target, not exposed by anything
                    assert not own
                    continue
                if metric in real_series.UNVERIFIED:  # documented shapes: no fixture may contradict them
                    assert any(t.keys() == own.keys() for t in real_series.UNVERIFIED[metric]), series
                    assert not real(metric), f"{metric} was captured: move it to real_series.SERIES"
                    continue
                if metric in HONORED:  # a pushed group's job and instance are the series' own (honor_labels)
                    own = labels
                templates = next((t for t in real_series.SERIES[metric] if t.keys() == own.keys()), {})
                assert is_real(metric, own, templates), f"{name}: {series['series']} has no real shape"
        # MonitoringTargetDown fires for every job prometheus.yml renders that is not a service's own
        cfg = yaml.safe_load(files["prometheus/prometheus.yml"])
        services = {s.job for s in model.services if s.scrape} | {prometheus.BLACKBOX_JOB}
        stack = {(j["job_name"], j["static_configs"][0]["targets"][0]) for j in cfg["scrape_configs"]
                 if j["job_name"] not in services}
        fired = next(item["exp_alerts"] for alert, item, _ in cases(data)
                     if alert == "MonitoringTargetDown" and item["exp_alerts"])
        assert {(a["exp_labels"]["job"], a["exp_labels"]["instance"]) for a in fired} == stack, name
        seen_cadvisor |= "cadvisor" in {job for job, _ in stack}
    assert seen_cadvisor, "no example renders the cadvisor job: MonitoringTargetDown's coverage of it is unproven"


def test_the_old_alertmanager_expression_fails_its_generated_test(promtool: str, tmp_path: Path,
                                                                  rendered: dict[str, tuple[Model, dict[str, str]]]
                                                                  ) -> None:
    """Divided one to one, failures that carry `reason` match no total: the alert never fires. The
    generated test, fed the real shapes, says so (the one it replaced fed series without `reason`)."""
    files = stack_files(rendered["quickstart"][1])
    rules = yaml.safe_load(files["prometheus/rules/_stack.yml"])
    rule = next(r for r in rules["groups"][0]["rules"] if r["alert"] == "AlertmanagerNotificationsFailing")
    assert "ignoring (reason) group_left" in rule["expr"]
    rule["expr"] = OLD_AM_EXPR
    old = promtool_test(promtool, tmp_path / "old", {**files, "prometheus/rules/_stack.yml": yaml.safe_dump(rules)})
    assert old.returncode != 0
    out = old.stdout + old.stderr
    # only that alert's firing case fails (its silent ones pass: it is always silent now), and it got nothing
    assert set(re.findall(r"alertname: (\w+), time:", out)) == {"AlertmanagerNotificationsFailing"}, out
    assert re.search(r"alertname: AlertmanagerNotificationsFailing, time: \w+,\s+exp:\[.*?\],\s+got:\[\]",
                     out, re.S), out


# --------------------------------------------------------------------------- rendered rules against real series

# A crude selector extraction, enough for the expressions obsgen and the examples write: `name{matchers}`
# (or `{__name__="name", ...}`) with double-quoted values. Its limits: bare selectors carry no matcher to
# check (they only need the metric to exist); a value holding `{` or `}` is not read; what aggregations,
# joins or label_replace() make of the labels afterwards is not followed; a selector on a recorded series
# is not traced back to the rule that records it; and Python's `re` stands in for RE2 (the same for the
# patterns used here).
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^{}]*)\}")


def selectors(expr: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, [(label, op, value)]) for every braced selector of the expression."""
    for m in _SELECTOR.finditer(expr):
        matchers = [(label, op, _UNESCAPE.sub(r"\1", value)) for label, op, value in _MATCHER.findall(m.group(2))]
        name = m.group(1) or next((v for label, op, v in matchers if label == "__name__" and op == "="), None)
        if name:
            yield name, [x for x in matchers if x[0] != "__name__"]


def _matches(op: str, pattern: str, actual: str) -> bool:
    return {"=": lambda: actual == pattern, "!=": lambda: actual != pattern,
            "=~": lambda: re.fullmatch(pattern, actual) is not None,
            "!~": lambda: re.fullmatch(pattern, actual) is None}[op]()


def attached(cfg: dict[str, Any], job: str) -> set[str]:
    """Labels the scrape job attaches to every series it scrapes (its static labels, its relabelling's)."""
    out: set[str] = set()
    for j in cfg["scrape_configs"]:
        if j["job_name"] == job:
            out |= {k for sc in j.get("static_configs", []) for k in sc.get("labels", {})}
            out |= {r["target_label"] for r in j.get("relabel_configs", []) if "target_label" in r}
    return {k for k in out if not k.startswith("__")}


def unmatched(files: dict[str, str]) -> list[str]:
    cfg = yaml.safe_load(files["prometheus/prometheus.yml"])
    problems = []
    for path, text in sorted(files.items()):
        if not (path.startswith("prometheus/rules/") and path.endswith(".yml")):
            continue
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                for metric, matchers in selectors(str(rule["expr"])):
                    sources = {f: series[metric] for f, series in fixtures().items() if metric in series}
                    if not sources:
                        continue  # not a metric the fixtures know: a service's own, or a recorded one
                    ignored = SCRAPED | {k for f in sources for k in attached(cfg, FIXTURE_JOBS[f])}
                    wanted = [(k, op, v) for k, op, v in matchers if k not in ignored]
                    if not any(all(_matches(op, v, labels.get(k, "")) for k, op, v in wanted)
                               for series in sources.values() for labels in series):
                        shown = ",".join(f'{k}{op}"{v}"' for k, op, v in wanted)
                        problems.append(f"{path} {rule.get('alert') or rule.get('record')}: "
                                        f"{metric}{{{shown}}} matches no series of {sorted(sources)}")
    return problems


def test_the_selector_check_reads_and_judges_selectors() -> None:
    assert list(selectors('sum by (mode) (rate(node_cpu_seconds_total{mode="idle", cpu!~"1|2"}[5m])) > up')) == [
        ("node_cpu_seconds_total", [("mode", "=", "idle"), ("cpu", "!~", "1|2")])]
    good = 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay",job="node-exporter"} < 1'
    bad = 'rate(alertmanager_notifications_failed_total{integration="webhook",reason="invented"}[5m]) > 0'
    files = {"prometheus/prometheus.yml": yaml.safe_dump({"scrape_configs": []}),
             "prometheus/rules/x.yml": yaml.safe_dump({"groups": [{"name": "g", "rules": [
                 {"alert": "Good", "expr": good}, {"alert": "Bad", "expr": bad}]}]})}
    assert unmatched(files) == ['prometheus/rules/x.yml Bad: alertmanager_notifications_failed_total'
                                '{integration="webhook",reason="invented"} matches no series of [\'alertmanager\']']


def test_every_rendered_selector_of_a_real_metric_matches_a_real_series(
        rendered: dict[str, tuple[Model, dict[str, str]]]) -> None:
    problems = [f"{name}: {p}" for name, (_, files) in rendered.items() for p in unmatched(files)]
    assert not problems, "\n".join(problems)
