"""Logs: loki.yml, the Loki ruler's LogQL alerts, fluent.conf and the Fluentd Dockerfile.

Loki and Fluentd cannot be installed here, so their configs are read back by checks written from their
documentation: a JSON Schema of the loki.yml fields obsgen uses, and obsgen/fluentconf.py, which parses
fluent.conf the way Fluentd's own parser does. LogQL goes through Grafana's grammar (node), and the rule
files through promtool (with LogQL swapped for PromQL) since they share Prometheus' rule-file shape.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT, SKETCH, require_tool, run
from fluentconf import Element, parse, ruby_single_quoted_value, ruby_string_end, tag_matches

from obsgen import logql
from obsgen.file_checks import LOKI_SCHEMA
from obsgen.model import Model, resolve
from obsgen.naming import MAX_ALERT_NAME, camel
from obsgen.render import fluentd, loki
from obsgen.spec import SpecError, load_spec, load_spec_text
from obsgen.spec.models import ALERT_NAME_RE
from obsgen.units import duration_seconds

HOSTILE = ['a"b', "it's", "x #{`id`} y", "#{", "}", "back\\slash", "new\nline", "tab\tend", "${tag}",
           " lead and trail ", "a|b", "(x)*+?", "[z]", "{}", "`tick`", "é ü 日本", "\\\"#{x}\\"]
CHANNELS = {"ops": {"type": "webhook", "url": "http://hook:9000/"}}


def spec_text(services: list[dict[str, Any]], stack: dict[str, Any] | None = None, **project: Any) -> str:
    spec = {"version": 1, "project": {"name": "shop", **project}, "services": services,
            "channels": CHANNELS, "routing": {"default": "ops"}, "stack": stack or {}}
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def model_of(services: list[dict[str, Any]], stack: dict[str, Any] | None = None, **project: Any) -> Model:
    return resolve(load_spec_text(spec_text(services, stack, **project), "spec.yaml"), "spec.yaml")


# Seed 004 (AI chat): Fluentd tails JSON logs with a non-ISO time and ships them to Elasticsearch too;
# containers log through the Docker driver.
SEED_004 = dict(
    services=[
        {"name": "aichat-backend", "team": "chat", "logs": {
            "source": {"tail": "/var/log/aichat/*.log", "time_format": "%Y-%m-%d %H:%M:%S"},
            "labels": ["level", "logger"], "level_key": "levelname", "error_levels": ["ERROR", "CRITICAL"],
            "alerts": [{"name": "AichatBackendAiErrors", "logql":
                        'sum(count_over_time({service="aichat-backend"} |= "rate_limit" [5m]))',
                        "above": 5, "for": "10m", "severity": "critical",
                        "summary": "The AI provider is rate limiting the chat backend."}]}},
        {"name": "aichat-frontend", "logs": {"source": {"forward": True}, "labels": []}},
        {"name": "aichat-worker", "logs": {"source": {"forward": True, "format": "text", "tag": "docker.worker"},
                                           "error_lines_per_minute": None}},
    ],
    stack={"loki": {"retention": "14d"}, "fluentd": {
        "outputs": ["loki", "elasticsearch"],
        "elasticsearch": {"index_prefix": "aichat", "user": "elastic", "password_file": "/run/secrets/es"}}},
    environment="staging",
)
# what a spec may hold (line breaks and tabs in a level are refused at validate)
HOSTILE_LEVELS = [v for v in HOSTILE if "\n" not in v and "\t" not in v]
HOSTILE_GLOB = '/var/log/my app/"quoted" #{`rm -rf /`} \\ it\'s/*.log'
HOSTILE_SPEC = dict(
    services=[{"name": "edge", "logs": {
        "source": {"tail": HOSTILE_GLOB, "time_key": 'ts" #{1}', "time_format": "%d/%b #{x}"},
        "labels": [], "error_levels": HOSTILE_LEVELS}}],
    stack={"fluentd": {"outputs": ["loki", "elasticsearch"], "elasticsearch": {
        "host": "es-1.internal", "user": "u'#{\"x\"}", "password_file": "/run/it's \"#{secret}\"}'"}}},
)


@pytest.fixture(scope="module", params=["sketch", "seed004", "hostile"])
def model(request: pytest.FixtureRequest) -> Model:
    if request.param == "sketch":
        return resolve(load_spec(SKETCH), "spec.yaml")
    return model_of(**{"seed004": SEED_004, "hostile": HOSTILE_SPEC}[request.param])


def rendered(model: Model) -> dict[str, str]:
    return {**loki.render(model), **fluentd.render(model)}


def logql_verdicts(exprs: list[str]) -> list[dict[str, Any]]:
    node = require_tool("node")
    proc = subprocess.run([node, str(ROOT / "obsgen/logql_check.mjs")], input=json.dumps(exprs),
                          capture_output=True, text=True, timeout=120)
    if proc.returncode == 3:  # the grammar is not installed
        if os.environ.get("CI") == "true":
            pytest.fail(proc.stderr)
        pytest.skip("@grafana/lezer-logql not installed: run `make tools`")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def loki_rules(files: dict[str, str]) -> list[dict[str, Any]]:
    return [r for p, t in files.items() if p.startswith("loki/rules/")
            for g in yaml.safe_load(t)["groups"] for r in g["rules"]]


# --------------------------------------------------------------------------- loki.yml

# LOKI_SCHEMA (obsgen.file_checks): the loki.yml fields obsgen writes, as Loki 3.x types them.


def test_loki_config_matches_the_schema_and_works_on_loki_3(model: Model) -> None:
    files = rendered(model)
    cfg = yaml.safe_load(files["loki/loki.yml"])
    jsonschema.validate(cfg, LOKI_SCHEMA)
    for period in cfg["schema_config"]["configs"]:
        # structured metadata, which Loki 3 turns on by default, needs the tsdb store with schema v13
        assert (period["store"], period["schema"]) == ("tsdb", "v13")
    assert cfg["limits_config"]["retention_period"] == model.stack.loki.retention
    assert duration_seconds(cfg["limits_config"]["retention_period"]) >= 86400
    compactor = cfg["compactor"]
    assert compactor["retention_enabled"] is True
    # Loki 3 refuses to start with retention on and no store for delete requests
    assert compactor["delete_request_store"] == cfg["schema_config"]["configs"][-1]["object_store"]
    ruler = cfg["ruler"]
    assert ruler["alertmanager_url"] == "http://alertmanager:9093" and ruler["enable_alertmanager_v2"] is True
    assert cfg["auth_enabled"] is False and cfg["analytics"] == {"reporting_enabled": False}
    # rules are read from <directory>/<tenant>/; without auth the tenant is `fake`
    assert ruler["storage"]["local"]["directory"] == loki.RULES_DIR
    rule_files = [p for p in files if p.startswith("loki/rules/")]
    assert rule_files and all(re.fullmatch(r"loki/rules/fake/[a-z0-9-]+\.yml", p) for p in rule_files)
    assert ruler.get("external_labels", {}) == model.spec.project.external_labels


def test_loki_rule_files_follow_the_prometheus_conventions(model: Model, promtool: str,
                                                           tmp_path: Path) -> None:
    files = rendered(model)
    for path, text in files.items():
        if not path.startswith("loki/rules/"):
            continue
        svc = model.service(Path(path).stem)
        doc = yaml.safe_load(text)
        assert set(doc) == {"groups"}
        for group in doc["groups"]:
            assert set(group) == {"name", "rules"} and group["rules"]
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
                name = rule["alert"]
                assert ALERT_NAME_RE.match(name) and len(name) <= MAX_ALERT_NAME
                assert name.startswith(camel(svc.name))
                labels, notes = rule["labels"], rule["annotations"]
                assert labels["severity"] in ("critical", "warning", "info")
                assert labels["service"] == svc.name and labels.get("team") == svc.team
                assert notes["summary"].endswith(".") and "{{" not in notes["summary"]
                assert notes["description"]
                assert notes.get("runbook_url") == svc.runbook_url(name)
                assert notes.get("dashboard_url") == svc.dashboard_url
        # the real rule-file checker, with each LogQL expression swapped for a PromQL one: proves the
        # shape, durations, label names and annotation templates
        swapped = {"groups": [{**g, "rules": [{**r, "expr": "vector(1)"} for r in g["rules"]]}
                              for g in doc["groups"]]}
        (tmp_path / "rules.yml").write_text(yaml.safe_dump(swapped))
        proc = run([promtool, "check", "rules", str(tmp_path / "rules.yml")])
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_logql_expression_parses(model: Model) -> None:
    exprs = [r["expr"] for r in loki_rules(rendered(model))]
    assert exprs
    bad = [v for v in logql_verdicts(exprs) if not v["ok"]]
    assert not bad, bad


def test_default_alert_counts_exactly_the_error_levels() -> None:
    m = model_of(**SEED_004)
    backend = m.service("aichat-backend")
    default = next(a for a in backend.log_alerts if a.alert == "AichatBackendErrorLogsHigh")
    # level is a stream label (read by Fluentd from `levelname`): the selector filters on it
    assert default.expr == ('sum(rate({service="aichat-backend", level=~"ERROR|CRITICAL"} [5m])) * 60 > 10')
    frontend = m.service("aichat-frontend")  # level not promoted: parse the JSON line instead
    assert frontend.log_alerts[0].expr == (
        'sum(rate({service="aichat-frontend"} | json | __error__="" | level=~"error|ERROR|critical|CRITICAL"'
        ' [5m])) * 60 > 10')
    assert m.service("aichat-worker").log_alerts == []  # text logs have no level; switched off anyway
    user = backend.log_alerts[1]
    assert (user.expr, user.for_, user.severity) == (
        '(sum(count_over_time({service="aichat-backend"} |= "rate_limit" [5m]))) > 5', "10m", "critical")


# --------------------------------------------------------------------------- fluent.conf

def conf(model: Model) -> Element:
    return parse(fluentd.render(model)["fluentd/fluent.conf"])


def test_fluent_conf_sections_are_complete(model: Model) -> None:
    root = conf(model)
    typed = {"source", "match", "filter", "store", "buffer", "parse", "format"}
    ids = []
    for e in root.walk():
        if e.name in typed:
            assert e.attrs.get("@type"), f"<{e.name} {e.arg}> at line {e.line} has no @type"
        if "@id" in e.attrs:
            ids.append(e.attrs["@id"])
    assert len(ids) == len(set(ids)), "plugin @ids must be unique (they name buffers and metrics)"
    assert {e.name for e in root.elements} <= {"system", "source", "filter", "match", "label"}
    # nothing accepted is dropped: every buffer is on disk, blocks when full, retries forever
    buffers = [e for e in root.walk() if e.name == "buffer"]
    assert buffers
    for b in buffers:
        assert b.attrs["@type"] == "file" and b.attrs["flush_at_shutdown"] == "true"
        assert b.attrs["retry_forever"] == "true"
        assert b.attrs["path"].startswith(fluentd.STATE_DIR + "/")
    assert len({b.attrs["path"] for b in buffers}) == len(buffers), "buffers must not share a folder"
    for store in (e for e in root.walk() if e.name == "store"):
        assert store.all("buffer")[0].attrs["overflow_action"] == "block"
    tails = [s for s in root.all("source") if s.attrs["@type"] == "tail"]
    assert len({t.attrs["pos_file"] for t in tails}) == len(tails)
    assert all(t.attrs["emit_unmatched_lines"] == "true" for t in tails)  # non-JSON lines still shipped
    prom = next(s for s in root.all("source") if s.attrs["@type"] == "prometheus")
    assert (prom.attrs["port"], prom.attrs["metrics_path"]) == (str(fluentd.METRICS_PORT), "/metrics")
    fwd = next(s for s in root.all("source") if s.attrs["@type"] == "forward")
    assert fwd.attrs["port"] == str(fluentd.FORWARD_PORT)


def test_each_service_reaches_its_own_outputs(model: Model) -> None:
    root = conf(model)
    logged = [s for s in model.services if s.logs]
    forward_tags = {s.log_tag for s in logged if s.logs and s.logs.source.forward}
    emitted = {t.attrs["tag"] for t in root.all("source") if t.attrs["@type"] == "tail"} | forward_tags
    stray = "docker.3f2a9c1b"  # a container whose tag no service claims
    matches = [m for m in root.all("match")]
    reached: set[int] = set()
    for tag in sorted(emitted) + [stray]:
        first = next(i for i, m in enumerate(matches) if tag_matches(m.arg, tag))
        reached.add(first)
        svc = next((s for s in logged if s.log_tag == tag), None)
        want = f"out_{svc.name}" if svc else "out_unclaimed"
        assert matches[first].attrs["@id"] == want, f"{tag} is caught by <match {matches[first].arg}>"
        # the filters before that match add service, environment and host
        before = [f for f in root.elements[:root.elements.index(matches[first])]
                  if f.name == "filter" and tag_matches(f.arg, tag)]
        record = [f.all("record")[0].attrs for f in before if f.attrs["@type"] == "record_transformer"]
        assert len(record) == 1
        assert record[0]["service"] == (svc.name if svc else "unclaimed")
        assert record[0]["environment"] == model.environment and record[0]["host"] == "${hostname}"
    # every <match> is reached by a tag a source emits, so none is shadowed by an earlier broader one
    assert reached == set(range(len(matches)))
    assert matches[-1].arg == "**"
    fluent_log = next(e for e in root.all("label") if e.arg == "@FLUENT_LOG")
    assert tag_matches(fluent_log.all("match")[0].arg, "fluent.warn")


def test_outputs_are_what_the_spec_asks(model: Model) -> None:
    root = conf(model)
    for match in root.all("match"):
        stores = {s.attrs["@type"]: s for s in match.all("store")}
        assert set(stores) == set(model.stack.fluentd.outputs)
        lk = stores["loki"]
        assert lk.attrs["url"] == "http://loki:3100"  # base URL only: the plugin appends the push path
        assert lk.attrs["line_format"] == "json"
        labels = lk.all("label")[0].attrs
        assert "service" in labels
        svc = next((s for s in model.services if f"out_{s.name}" == match.attrs["@id"]), None)
        if svc is not None and svc.logs is not None:
            want = {"service": ""} | {n: ("" if n != "level" or svc.logs.level_key == "level"
                                          else svc.logs.level_key) for n in svc.logs.labels}
            assert labels == want
        if "elasticsearch" in stores:
            es = stores["elasticsearch"].attrs
            spec_es = model.stack.fluentd.elasticsearch
            assert es["logstash_format"] == "true"
            assert es["logstash_prefix"] == (spec_es.index_prefix or model.project)
            assert (es["host"], es["port"], es["scheme"]) == (spec_es.host, str(spec_es.port), spec_es.scheme)


def test_seed_004_pipeline() -> None:
    m = model_of(**SEED_004)
    root = conf(m)
    tail = next(s for s in root.all("source") if s.attrs["@type"] == "tail")
    parse_ = tail.all("parse")[0].attrs
    assert (tail.attrs["path"], tail.attrs["tag"]) == ("/var/log/aichat/*.log", "logs.aichat-backend")
    assert (parse_["@type"], parse_["time_key"], parse_["time_format"]) == ("json", "timestamp",
                                                                           "%Y-%m-%d %H:%M:%S")
    parsers = {f.arg: f for f in root.all("filter") if f.attrs["@type"] == "parser"}
    # JSON from the Docker driver is parsed out of `log`; the text service is shipped as is
    assert set(parsers) == {"logs.aichat-frontend"}
    assert parsers["logs.aichat-frontend"].attrs["key_name"] == "log"
    assert parsers["logs.aichat-frontend"].all("parse")[0].attrs["time_format"] == "%iso8601"
    es = next(s for s in root.walk() if s.name == "store" and s.attrs["@type"] == "elasticsearch")
    assert (es.attrs["logstash_prefix"], es.attrs["user"]) == ("aichat", "elastic")
    assert es.embedded["password"] == ["File.read('/run/secrets/es').chomp"]
    assert any(m_.arg == "docker.worker" for m_ in root.all("match"))


def test_dockerfile_installs_every_plugin_the_config_uses(model: Model) -> None:
    files = fluentd.render(model)
    docker = files["fluentd/Dockerfile"]
    assert re.search(r"^FROM fluent/fluentd:v1\.19\.\d+-debian-\d+\.\d+$", docker, re.M)
    gems = set(re.findall(r"gem install (\S+) -v '[^']+'", docker))
    core = {"tail", "forward", "copy", "record_transformer", "parser", "file", "stdout", "json", "none"}
    from_gem = {"loki": "fluent-plugin-grafana-loki", "elasticsearch": "fluent-plugin-elasticsearch",
                "prometheus": "fluent-plugin-prometheus", "prometheus_monitor": "fluent-plugin-prometheus",
                "prometheus_output_monitor": "fluent-plugin-prometheus",
                "prometheus_tail_monitor": "fluent-plugin-prometheus"}
    used = {e.attrs["@type"] for e in parse(files["fluentd/fluent.conf"]).walk() if "@type" in e.attrs}
    for t in used - core:
        assert from_gem[t] in gems, f"@type {t} needs {from_gem[t]}"
    assert ("fluent-plugin-elasticsearch" in gems) == ("elasticsearch" in model.stack.fluentd.outputs)
    assert f"VOLUME {fluentd.STATE_DIR}" in docker and "COPY fluent.conf /fluentd/etc/fluent.conf" in docker


def test_output_is_deterministic(model: Model) -> None:
    assert rendered(model) == rendered(model)


# --------------------------------------------------------------------------- hostile values

def test_hostile_strings_stay_inside_fluent_conf_values() -> None:
    for value in HOSTILE:
        text = f"<source>\n  @type tail\n  path {fluentd.fluent_string(value)}  # comment\n  tag t\n</source>\n"
        src = parse(text).all("source")[0]
        assert src.attrs == {"@type": "tail", "path": value, "tag": "t"} and not src.embedded, value
        literal = fluentd.ruby_string(value)
        assert ruby_string_end(literal, 0) == len(literal) and ruby_single_quoted_value(literal) == value


def test_hostile_strings_stay_inside_logql_strings() -> None:
    exprs = [logql.selector({"service": v}) for v in HOSTILE]
    exprs.append(logql.error_lines_per_minute({"service": "x"}, "level", HOSTILE, level_is_label=False))
    assert all(v["ok"] for v in logql_verdicts(exprs)), logql_verdicts(exprs)
    for value, expr in zip(HOSTILE, exprs, strict=False):
        assert json.loads(expr[len("{service="):-1]) == value  # the one string ends where the selector does
    levels = _matcher_value(exprs[-1], "level=~")
    assert all(re.fullmatch(levels, v) for v in HOSTILE)
    assert not any(re.fullmatch(levels, v) for v in ("a", "b", "x", "ab", "info", "(x)", "z"))


def _matcher_value(expr: str, prefix: str) -> str:
    """The decoded string after `prefix` in a LogQL expression, read up to its closing quote."""
    start = expr.index(prefix) + len(prefix)
    decoded, _end = json.JSONDecoder().raw_decode(expr, start)
    return str(decoded)


def test_hostile_spec_values_cannot_break_out() -> None:
    m = model_of(**HOSTILE_SPEC)
    root = conf(m)
    tail = next(s for s in root.all("source") if s.attrs["@type"] == "tail")
    assert tail.attrs["path"] == HOSTILE_GLOB
    assert tail.all("parse")[0].attrs["time_key"] == 'ts" #{1}'
    assert tail.all("parse")[0].attrs["time_format"] == "%d/%b #{x}"
    es = next(s for s in root.walk() if s.name == "store" and s.attrs["@type"] == "elasticsearch")
    spec_es = m.stack.fluentd.elasticsearch
    assert (es.attrs["host"], es.attrs["user"]) == (spec_es.host, spec_es.user)
    # the only Ruby in the file reads the password file, whose name stays one Ruby string literal
    embedded = [(e, k, c) for e in root.walk() for k, c in e.embedded.items()]
    assert {k for _e, k, _c in embedded} == {"password"}
    for _e, _k, code in embedded:
        [snippet] = code
        literal = snippet[len("File.read("):-len(").chomp")]
        assert snippet == f"File.read({literal}).chomp"
        assert ruby_string_end(literal, 0) == len(literal)
        assert ruby_single_quoted_value(literal) == spec_es.password_file
    [default] = m.service("edge").log_alerts
    assert logql_verdicts([default.expr])[0]["ok"]
    levels = _matcher_value(default.expr, "level=~")
    assert all(re.fullmatch(levels, v) for v in HOSTILE_LEVELS)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("services, stack, message", [
    ([{"name": "a", "logs": {"source": {"forward": True, "tag": "x"}}},
      {"name": "b", "logs": {"source": {"forward": True, "tag": "x"}}}], {}, "tag 'x' is already used"),
    ([{"name": "a", "logs": {"source": {"forward": True, "tag": "fluent.x"}}}], {}, "Fluentd's own"),
    ([{"name": "a", "logs": {"source": {"forward": True}, "level_key": "log.level"}}], {}, "plain JSON key"),
    ([{"name": "a", "logs": {"source": {"forward": True}, "labels": ["__x"]}}], {}, "reserves"),
    ([{"name": "a", "logs": {"source": {"forward": True}, "error_levels": []}}], {}, "error_lines_per_minute"),
    ([{"name": "a", "logs": {"source": {"forward": True}, "alerts": [
        {"name": "AErrors", "logql": "sum(rate({service=\"a\"}[5m]))", "above": 1,
         "summary": "Errors are {{ $value }}"}]}}], {}, "static sentence"),
    ([{"name": "a", "logs": {"source": {"forward": True}}}], {"loki": {"retention": "12h"}}, "24h"),
    ([{"name": "a", "logs": {"source": {"forward": True}}}],
     {"fluentd": {"elasticsearch": {"index_prefix": "Shop Logs"}}}, "index prefix"),
])
def test_log_specs_that_cannot_work_are_refused(services: list[dict[str, Any]], stack: dict[str, Any],
                                                 message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(spec_text(services, stack), "spec.yaml")
    assert message in str(err.value)
