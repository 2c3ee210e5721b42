"""Hostile and bad specs: refused at validate with exit 2, the value's place and no traceback.

Each case is one small change to a spec written for these tests: secrets in URLs, headers and
settings; malformed URLs; durations of zero or beyond Go's int64; regexes RE2 refuses; infinite and
huge numbers; YAML tags, merge keys, cyclic aliases, deep nesting, huge integers; special files;
control characters; broken Go templates; quiet hours Alertmanager refuses; services named like the
stack's own scrape jobs. The refusals of templates, regexes and time intervals are checked against
the real promtool and amtool, so obsgen refuses what they refuse and accepts what they accept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import obsgen, run
from typer.testing import CliRunner

from obsgen.cli import app
from obsgen.spec.validate import re2_problem, template_problem

BASE = """\
version: 1
project:
  name: depot
  environment: production
  runbook_url: "https://wiki.depot.test/runbooks/{service}/{alert}"
  grafana_url: "https://grafana.depot.test/"
  alertmanager_url: "https://alerts.depot.test/"
defaults:
  scrape_interval: 30s
  evaluation_interval: 30s
  metrics: {error_status: "5.."}
services:
  - name: ledger
    team: books
    runbook_url: "https://wiki.depot.test/ledger/{alert}"
    scrape: {static: ["ledger:9100"], interval: 30s, path: /metrics}
    health: {http: "http://ledger:9100/healthz"}
    metrics: {error_status: "5[0-9][0-9]"}
    thresholds:
      - indicator: error_rate
        warning: 1%
        critical: 5%
        summary: Ledger requests fail.
        description: "{{ $value | humanizePercentage }} of requests to {{ $labels.instance }} fail."
        runbook_url: "https://wiki.depot.test/ledger/errors"
    alerts:
      - name: LedgerBacklogHigh
        expr: ledger_backlog > 100
        for: 5m
        summary: The ledger backlog is high.
        description: "{{ $labels.instance }} holds {{ $value | humanize }} entries."
        runbook_url: "https://wiki.depot.test/ledger/backlog"
    logs:
      source: {tail: "/var/log/ledger/*.log"}
      error_lines_per_minute: 10
      alerts:
        - name: LedgerPanics
          logql: 'sum(count_over_time({service="ledger"} |= "panic" [5m]))'
          above: 0
          summary: The ledger panics.
          description: "{{ $value }} panics in 5 minutes."
  - name: vault
    scrape:
      kubernetes: {namespace: depot, pod_labels: {app: vault}, port: metrics}
channels:
  ops: {type: webhook, url: "https://hooks.depot.test/alerts", bearer_token_file: /run/secrets/hook-token}
  chat: {type: slack, channel: "#depot-alerts", api_url_file: /run/secrets/slack-url}
  genie: {type: opsgenie, api_key_file: /run/secrets/opsgenie-key, api_url: "https://api.eu.opsgenie.com/"}
  teams: {type: msteams, webhook_url_file: /run/secrets/teams-url}
  mail: {type: email, to: [oncall@depot.test]}
  pager: {type: pagerduty, routing_key_file: /run/secrets/pd-key}
email: {smarthost: "smtp.depot.test:587", from: alerts@depot.test, auth_username: alerts, auth_password_file: /run/secrets/smtp-password}
routing:
  default: ops
  group_interval: 5m
  repeat_interval: 4h
  severity: {critical: [pager, chat], warning: [chat]}
  teams: {books: {critical: [mail]}}
  routes:
    - {matchers: ['alertname=~"Ledger.*"'], receivers: [genie, teams]}
  quiet_hours: {applies_to: warning, weekdays: "monday:friday", times: "08:00-18:00", timezone: UTC}
stack:
  deploy: [compose, kubernetes]
  prometheus:
    retention: 15d
    remote_write:
      - name: central
        url: "https://mimir.depot.test/api/v1/push"
        kind: mimir
        tenant: depot
        headers: {X-Source: depot}
        basic_auth: {username: depot, password_file: /run/secrets/mimir-password}
  grafana:
    admin_password_file: /run/secrets/grafana-admin
    settings:
      security: {allow_embedding: true}
      database: {type: postgres, host: "db.depot.test:5432", user: grafana}
  fluentd:
    outputs: [loki, elasticsearch]
    elasticsearch: {host: es.depot.test, port: 9200, scheme: https, user: depot, password_file: /run/secrets/es-password}
  exporters:
    - node
    - {type: redis, target: "redis.depot.test:6379"}
    - {type: postgres, dsn_file: /run/secrets/pg-dsn}
    - {type: nginx, target: "http://web.depot.test:8080/stub_status"}
"""

RUNNER = CliRunner()


class Case(NamedTuple):
    id: str
    old: str  # replaced, once, in BASE
    new: str
    path: str  # the spec path the message names ("" for the file as a whole)
    at: str | tuple[int, int] | None  # where it points: a unique text of the new spec, (line, col), or no place
    fragment: str  # part of the message


def mutate(case: Case, text: str = BASE) -> str:
    assert text.count(case.old) == 1, case.old
    return text.replace(case.old, case.new)


def place(text: str, at: str | tuple[int, int]) -> tuple[int, int]:
    """Line and column of `at`: a text that occurs once, or once with a `|` where the place is."""
    if isinstance(at, tuple):
        return at
    needle = at.replace("|", "", 1)
    assert text.count(needle) == 1, at
    i = text.index(needle) + max(at.find("|"), 0)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def prefix(spec: Path, text: str, case: Case) -> str:
    """The start of the message line: `file:line:col path: `."""
    if case.at is None:
        where = str(spec)
    else:
        line, col = place(text, case.at)
        where = f"{spec}:{line}:{col}"
    return f"{where} {case.path}: " if case.path else f"{where}: "


def render_in_process(spec: Path, out: Path) -> tuple[int, str]:
    """`obsgen render` in this interpreter; a crash would be an exception other than SystemExit."""
    result = RUNNER.invoke(app, ["render", str(spec), "-o", str(out)])
    assert isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def assert_refused(case: Case, tmp_path: Path, text: str | bytes | None = None, problems: int = 1) -> str:
    text = mutate(case) if text is None else text
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    code, err = render_in_process(spec, out)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    line = next((ln for ln in err.splitlines() if ln.startswith(prefix(spec, shown, case))), None)
    assert line is not None, f"no line starts with {prefix(spec, shown, case)!r}:\n{err}"
    assert case.fragment in line, err
    assert err.rstrip().endswith(f"{problems} problem{'s' if problems != 1 else ''} in {spec}"), err
    assert not out.exists()
    return err


# --------------------------------------------------------------------------- secrets only by reference

# A secret-looking value in every field that holds a URL, a target, a header or a setting. Each is
# refused with one message at its place; all of them at once give one message each.
SECRETS = [
    Case("grafana-url-userinfo", '"https://grafana.depot.test/"', '"https://admin:hunter2@grafana.depot.test/"',
         "project.grafana_url", '"https://admin:hunter2@grafana', "credentials in a URL"),
    Case("alertmanager-url-token", '"https://alerts.depot.test/"', '"https://alerts.depot.test/?token=s3"',
         "project.alertmanager_url", '"https://alerts.depot.test/?token', "'token' looks like a secret"),
    Case("project-runbook-token", '"https://wiki.depot.test/runbooks/{service}/{alert}"',
         '"https://wiki.depot.test/runbooks/{service}/{alert}?access_token=s3"', "project.runbook_url",
         '"https://wiki.depot.test/runbooks/', "'access_token'"),
    Case("service-runbook-user", '"https://wiki.depot.test/ledger/{alert}"', '"https://bot@wiki.depot.test/ledger/{alert}"',
         "services[0].runbook_url", '"https://bot@', "credentials in a URL"),
    Case("threshold-runbook-sig", '"https://wiki.depot.test/ledger/errors"', '"https://wiki.depot.test/ledger/errors?sig=ab"',
         "services[0].thresholds[0].runbook_url", '"https://wiki.depot.test/ledger/errors', "'sig'"),
    Case("alert-runbook-apikey", '"https://wiki.depot.test/ledger/backlog"',
         '"https://wiki.depot.test/ledger/backlog?ApiKey=ab"', "services[0].alerts[0].runbook_url",
         '"https://wiki.depot.test/ledger/backlog', "'ApiKey'"),
    Case("health-password", '"http://ledger:9100/healthz"', '"http://ledger:9100/healthz?password=ab"',
         "services[0].health.http", '"http://ledger:9100/healthz', "'password'"),
    Case("scrape-path-token", "path: /metrics}", "path: /metrics?auth_token=ab}",
         "services[0].scrape.path", "/metrics?auth_token", "'auth_token'"),
    Case("static-target-userinfo", '["ledger:9100"]', '["scraper:pw@ledger:9100"]',
         "services[0].scrape.static[0]", '"scraper:pw@ledger:9100"', "credentials in a target"),
    Case("webhook-url-key", '"https://hooks.depot.test/alerts"', '"https://hooks.depot.test/alerts?api_key=ab"',
         "channels.ops.url", '"https://hooks.depot.test/alerts', "url_file"),
    Case("opsgenie-api-url-userinfo", '"https://api.eu.opsgenie.com/"', '"https://user:pw@api.eu.opsgenie.com/"',
         "channels.genie.api_url", '"https://user:pw@api', "api_key_file"),
    Case("smarthost-userinfo", '"smtp.depot.test:587"', '"alerts@smtp.depot.test:587"',
         "email.smarthost", '"alerts@smtp', "auth_password_file"),
    Case("remote-write-url-secret", '"https://mimir.depot.test/api/v1/push"',
         '"https://mimir.depot.test/api/v1/push?client_secret=ab"', "stack.prometheus.remote_write[0].url",
         '"https://mimir.depot.test/api/v1/push?', "password_file"),
    Case("remote-write-header-authorization", "{X-Source: depot}", '{X-Source: depot, Authorization: "Bearer ab"}',
         "stack.prometheus.remote_write[0].headers.Authorization", '"Bearer ab"', "bearer_token_file"),
    Case("remote-write-two-auths", "basic_auth: {username: depot, password_file: /run/secrets/mimir-password}",
         "basic_auth: {username: depot, password_file: /run/secrets/mimir-password}\n"
         "        bearer_token_file: /run/secrets/mimir-token",
         "stack.prometheus.remote_write[0].bearer_token_file", "/run/secrets/mimir-token", "keep one of them"),
    Case("remote-write-header-api-key", "{X-Source: depot", "{X-Source: depot, X-API-Key: ab12",
         "stack.prometheus.remote_write[0].headers.X-API-Key", "ab12", "no file-backed form for other headers"),
    Case("redis-target-password", '"redis.depot.test:6379"', '"redis://:hunter2@redis.depot.test:6379"',
         "stack.exporters[1].target", '"redis://:hunter2', "no file-backed credentials"),
    Case("nginx-target-token", '"http://web.depot.test:8080/stub_status"',
         '"http://web.depot.test:8080/stub_status?token=ab"', "stack.exporters[3].target",
         '"http://web.depot.test:8080/stub_status?', "'token'"),
    Case("elasticsearch-host-userinfo", "host: es.depot.test,", 'host: "depot:pw@es.depot.test",',
         "stack.fluentd.elasticsearch.host", '"depot:pw@es', "password_file"),
    Case("grafana-database-url", "user: grafana}", 'user: grafana, url: "postgres://db.depot.test/grafana"}',
         "stack.grafana.settings.database.url", '"postgres://db.depot.test/grafana"', "database.url looks like a secret"),
    Case("grafana-client-secret", "    settings:\n", "    settings:\n      auth.generic_oauth: {client_secret: ab}\n",
         'stack.grafana.settings["auth.generic_oauth"].client_secret', "client_secret: |ab}", "looks like a secret"),
    Case("grafana-value-url-userinfo", "security: {allow_embedding: true",
         'security: {allow_embedding: true, content_security_policy_template: "https://u:p@cdn.depot.test"',
         "stack.grafana.settings.security.content_security_policy_template", '"https://u:p@cdn', "holds credentials"),
    Case("grafana-secret-key", "{type: postgres, host", "{type: postgres, secret_key: s3, host",
         "stack.grafana.settings.database.secret_key", "s3,", "looks like a secret"),
]


@pytest.mark.parametrize("case", SECRETS, ids=[c.id for c in SECRETS])
def test_secret_refused(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path)


def test_every_secret_at_once_one_message_each(tmp_path: Path) -> None:
    text = BASE
    for case in SECRETS:
        text = mutate(case, text)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    code, err = render_in_process(spec, tmp_path / "out")
    assert code == 2, err
    lines = err.splitlines()
    assert lines[-1] == f"{len(SECRETS)} problems in {spec}", err
    for case in SECRETS:
        start = prefix(spec, text, case)
        found = [ln for ln in lines if ln.startswith(start)]
        assert len(found) == 1 and case.fragment in found[0], (case.id, start, err)
    assert not (tmp_path / "out").exists()


SECRET_FILES = ("hook-token", "slack-url", "opsgenie-key", "teams-url", "pd-key", "smtp-password", "mimir-password",
                "grafana-admin", "es-password", "pg-dsn")


def test_secrets_by_file_render_only_their_paths(tmp_path: Path) -> None:
    """Every secret of the spec is a *_file: the output names each file and holds none of their contents."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    values = {}
    for name in SECRET_FILES:
        values[name] = f"obsgen-test-secret-{name}-5f0c2a"
        (secrets / name).write_text(values[name] + "\n")
    text = BASE.replace("/run/secrets/", f"{secrets}/")
    assert text.count(str(secrets)) == len(SECRET_FILES)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["render", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, (result.exception, result.stderr)
    files = {p: p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()}
    assert len(files) > 20
    everything = "\n".join(files.values())
    for name, value in values.items():
        leaking = [str(p.relative_to(out)) for p, body in files.items() if value in body]
        assert not leaking, f"the contents of {name} are in {leaking}"
        assert f"{secrets}/{name}" in everything, f"no output file references {name}"


# --------------------------------------------------------------------------- bad values, exit 2 at their place

BAD = [
    # URLs
    Case("url-no-host", '"https://hooks.depot.test/alerts"', '"http://"', "channels.ops.url", '"http://"',
         "is not an http(s) URL"),
    Case("url-broken-ipv6", '"https://hooks.depot.test/alerts"', '"http://[::1"', "channels.ops.url", '"http://[::1"',
         "Invalid IPv6 URL"),
    Case("url-bad-scheme", '"https://hooks.depot.test/alerts"', '"ht!tp://x"', "channels.ops.url", '"ht!tp://x"',
         "is not an http(s) URL"),
    Case("url-space", '"https://hooks.depot.test/alerts"', '"https://hooks.depot.test/al erts"', "channels.ops.url",
         '"https://hooks.depot.test/al erts"', "whitespace"),
    Case("url-port-out-of-range", '"https://hooks.depot.test/alerts"', '"https://hooks.depot.test:99999/"',
         "channels.ops.url", '"https://hooks.depot.test:99999/"', "Port out of range"),
    Case("url-bad-host", '"https://grafana.depot.test/"', '"https://graf*ana/"', "project.grafana_url",
         '"https://graf*ana/"', "is not a host[:port]"),
    Case("runbook-not-a-url", '"https://wiki.depot.test/ledger/{alert}"', '"wiki/{alert}"', "services[0].runbook_url",
         '"wiki/{alert}"', "is not an http(s) URL"),
    Case("runbook-template", '"https://wiki.depot.test/ledger/{alert}"', '"https://wiki.depot.test/{{{alert}}}"',
         "services[0].runbook_url", '"https://wiki.depot.test/{{{', "not a template"),
    Case("exporter-target-not-host-port", '"redis.depot.test:6379"', '"redis.depot.test"', "stack.exporters[1].target",
         '"redis.depot.test"', "is not host:port or a URL"),
    Case("elasticsearch-host-url", "host: es.depot.test,", 'host: "https://es.depot.test:9200",',
         "stack.fluentd.elasticsearch.host", '"https://es.depot', "`scheme`"),
    Case("elasticsearch-port", "port: 9200,", "port: 92000,", "stack.fluentd.elasticsearch.port", "92000",
         "less than or equal to 65535"),
    # durations: positive where one is needed, within Go's int64 nanoseconds everywhere
    Case("scrape-interval-0s", "scrape_interval: 30s", "scrape_interval: 0s", "defaults.scrape_interval",
         "scrape_interval: |0s", "must be longer than 0"),
    Case("scrape-interval-0", "scrape_interval: 30s", 'scrape_interval: "0"', "defaults.scrape_interval", '"0"',
         "must be longer than 0"),
    Case("evaluation-interval-0", "evaluation_interval: 30s", "evaluation_interval: 0ms",
         "defaults.evaluation_interval", "0ms", "must be longer than 0"),
    Case("evaluation-interval-1ms", "evaluation_interval: 30s", "evaluation_interval: 1ms",
         "defaults.evaluation_interval", "1ms", "shorter than 1s"),
    Case("evaluation-interval-10m", "evaluation_interval: 30s", "evaluation_interval: 10m",
         "defaults.evaluation_interval", "10m", "stale to every query"),
    Case("scrape-timeout-over-interval", "evaluation_interval: 30s", "evaluation_interval: 30s\n  scrape_timeout: 1m",
         "defaults.scrape_timeout", "1m\n", "longer than scrape_interval"),
    Case("service-scrape-interval-0", "interval: 30s, path", "interval: 0s, path", "services[0].scrape.interval",
         "0s, path", "must be longer than 0"),
    Case("group-interval-0", "group_interval: 5m", 'group_interval: "0"', "routing.group_interval", '"0"',
         "must be longer than 0"),
    Case("repeat-interval-0", "repeat_interval: 4h", "repeat_interval: 0s", "routing.repeat_interval", "repeat_interval: |0s",
         "must be longer than 0"),
    Case("retention-0", "retention: 15d", "retention: 0d", "stack.prometheus.retention", "0d", "must be longer than 0"),
    Case("alert-test-interval-0", "        runbook_url: \"https://wiki.depot.test/ledger/backlog\"",
         "        runbook_url: \"https://wiki.depot.test/ledger/backlog\"\n        tests: [{interval: 0s, input_series: "
         "[{series: 'ledger_backlog{job=\"ledger\"}', values: 200x10}], alert_rule_test: [{eval_time: 5m}]}]",
         "services[0].alerts[0].tests[0].interval", "interval: |0s,", "must be longer than 0"),
    Case("for-overflows-int64", "for: 5m", "for: 300000000y", "services[0].alerts[0].for", "300000000y", "292 years"),
    Case("group-interval-293y", "group_interval: 5m", "group_interval: 293y", "routing.group_interval", "293y",
         "292 years"),
    # regular expressions RE2 refuses
    Case("error-status-lookahead", 'error_status: "5.."', 'error_status: "(?=5)5.."', "defaults.metrics.error_status",
         '"(?=5)5.."', "lookaround"),
    Case("error-status-backreference", '"5[0-9][0-9]"', '"(5)\\\\1"', "services[0].metrics.error_status",
         '"(5)\\\\1"', "backreference"),
    Case("error-status-possessive", '"5[0-9][0-9]"', '"5[0-9]++"', "services[0].metrics.error_status", '"5[0-9]++"',
         "possessive"),
    Case("error-status-unbalanced", '"5[0-9][0-9]"', '"5(.."', "services[0].metrics.error_status", '"5(.."',
         "not a valid regular expression"),
    Case("matcher-lookbehind", '\'alertname=~"Ledger.*"\'', '\'alertname=~"(?<!x)Ledger"\'',
         "routing.routes[0].matchers[0]", '\'alertname=~"(?<!x)', "lookaround"),
    Case("pod-label-lookahead", "{app: vault}", '{app: "(?=v)vault"}', "services[1].scrape.kubernetes.pod_labels.app",
         '"(?=v)vault"', "lookaround"),
    Case("pod-port-atomic", "port: metrics}", 'port: "(?>metrics)"}', "services[1].scrape.kubernetes.port",
         '"(?>metrics)"', "atomic group"),
    # numbers: infinite, NaN, beyond float64 or int64, thousands of digits
    Case("threshold-inf", "warning: 1%", "warning: .inf", "services[0].thresholds[0].warning", ".inf", "infinite"),
    Case("threshold-nan", "critical: 5%", "critical: .nan", "services[0].thresholds[0].critical", ".nan", ".nan"),
    Case("threshold-float-overflow", "warning: 1%", "warning: 1.0e+400", "services[0].thresholds[0].warning",
         "1.0e+400", "infinite"),
    Case("threshold-huge-text", "warning: 1%", "warning: 1e400%", "services[0].thresholds[0].warning", "1e400%",
         "too large"),
    Case("threshold-tiny-text", "warning: 1%", "warning: 1e-400%", "services[0].thresholds[0].warning", "1e-400%",
         "too small"),
    Case("threshold-5000-digits", "warning: 1%", "warning: 1" + "0" * 5000, "services[0].thresholds[0].warning",
         "1" + "0" * 5000, "thousands of digits"),
    Case("log-above-huge-float", "above: 0", "above: " + "9" * 5000 + ".5", "services[0].logs.alerts[0].above",
         "9" * 5000 + ".5", "infinite"),
    Case("error-lines-inf", "error_lines_per_minute: 10", "error_lines_per_minute: .inf",
         "services[0].logs.error_lines_per_minute", ".inf", "infinite"),
    Case("objective-nan", "  - name: vault\n", "  - name: vault\n    slos: [{name: up, objective: .nan, sli: {type: availability}}]\n",
         "services[1].slos[0].objective", ".nan", ".nan"),
    Case("int-beyond-int64", "port: 9200,", "port: 0x1ffffffffffffffff,", "stack.fluentd.elasticsearch.port",
         "0x1ffffffffffffffff", "too large"),
    # YAML that is not plain data
    Case("tag-python-object", "version: 1", "version: !!python/object:os.system 1", "version", "!!python",
         "YAML tag !!python/object:os.system is not supported"),
    Case("tag-local", "  name: depot\n", "  name: !foo depot\n", "project.name", "!foo", "YAML tag !foo is not supported"),
    Case("tag-binary", "  name: depot\n", "  name: !!binary ZGVwb3Q=\n", "project.name", "!!binary", "!!binary is not supported"),
    Case("tag-set", "{app: vault}", "!!set {app: vault}", "services[1].scrape.kubernetes.pod_labels", "!!set",
         "!!set is not supported"),
    Case("tag-bad-int", "port: 9200,", "port: !!int nine,", "stack.fluentd.elasticsearch.port", "!!int", "is not a !!int"),
    Case("merge-key", "project:\n  name: depot\n", "project:\n  <<: {name: depot}\n", "project", "<<",
         "merge keys (`<<`) are not supported"),
    Case("alias-contains-itself", "  - name: vault\n", "  - &v {name: vault, x: [*v]}\n  - name: vaults\n",
         "services[1].x[0]", "&v", "refers to a value that contains it"),
    Case("nesting-500-deep", "version: 1\n", "version: 1\nx: " + "[" * 500 + "]" * 500 + "\n",
         "x" + "[0]" * 32, (2, 36), "nests deeper than 32 levels"),
    # quiet hours Alertmanager refuses
    Case("weekdays-reversed", '"monday:friday"', '"friday:monday"', "routing.quiet_hours.weekdays",
         '"friday:monday"', "runs backwards"),
    Case("times-reversed", '"08:00-18:00"', '"18:00-08:00"', "routing.quiet_hours.times", '"18:00-08:00"',
         "must come before their end"),
    Case("times-empty", '"08:00-18:00"', '"08:00-08:00"', "routing.quiet_hours.times", '"08:00-08:00"',
         "must come before their end"),
    Case("times-out-of-range", '"08:00-18:00"', '"08:00-25:00"', "routing.quiet_hours.times", '"08:00-25:00"',
         "is not a time of day"),
    # services named like the stack's own scrape jobs
    *[Case(f"service-named-{job}", "  - name: vault\n", f"  - name: {job}\n", "services[1].name", job + "\n",
           "scrape job of") for job in ("prometheus", "alertmanager", "fluentd", "node-exporter", "blackbox-http")],
    # Go templates Prometheus and Alertmanager would refuse
    Case("summary-unclosed-action", "summary: The ledger backlog is high.", "summary: The ledger {{ .Foo is high.",
         "services[0].alerts[0].summary", "The ledger {{", "not closed with }}"),
    Case("description-empty-action", 'description: "{{ $labels.instance }} holds', 'description: "{{ }} holds',
         "services[0].alerts[0].description", '"{{ }} holds', "empty action"),
    Case("threshold-unclosed-quote",
         'description: "{{ $value | humanizePercentage }} of requests to {{ $labels.instance }} fail."',
         "description: '{{ \"abc }} of requests fail.'", "services[0].thresholds[0].description", "'{{ \"abc",
         "quoted string"),
    Case("log-description-no-end", 'description: "{{ $value }} panics', 'description: "{{ if $value }} panics',
         "services[0].logs.alerts[0].description", '"{{ if $value }} panics', "has no {{ end }}"),
    Case("description-undefined-variable", 'description: "{{ $labels.instance }} holds',
         'description: "{{ $label.instance }} holds', "services[0].alerts[0].description", '"{{ $label.',
         "$label is not defined"),
    Case("slack-channel-template", 'channel: "#depot-alerts"', 'channel: "#{{ .CommonLabels.team"',
         "channels.chat.channel", '"#{{ .Common', "not closed with }}"),
]

# Control characters: one message at the value, whatever else the value breaks.
CONTROL = [
    Case("newline-in-name", "  - name: vault\n", '  - name: "va\\nult"\n', "services[1].name", '"va\\nult"',
         "U+000A (newline)"),
    Case("tab-in-channel-name", "  teams: {type: msteams", '  "te\\tams": {type: msteams', 'channels["te\\tams"]',
         '"te\\tams"', "the key contains U+0009 (tab)"),
    Case("nel-in-label-key", "{app: vault}", '{"a\\Npp": vault}', 'services[1].scrape.kubernetes.pod_labels["a\\u0085pp"]',
         '"a\\Npp"', "U+0085 (NEL)"),
    Case("newline-in-file-path", "api_url_file: /run/secrets/slack-url", 'api_url_file: "/run/secrets/slack\\nurl"',
         "channels.chat.api_url_file", '"/run/secrets/slack\\nurl"', "one line"),
    Case("tab-in-tail", 'tail: "/var/log/ledger/*.log"', 'tail: "/var/log/ledger/\\t*.log"',
         "services[0].logs.source.tail", '"/var/log/ledger/\\t', "U+0009 (tab)"),
    Case("newline-in-url", '"https://hooks.depot.test/alerts"', '"https://hooks.depot.test/alerts\\n"',
         "channels.ops.url", '"https://hooks.depot.test/alerts\\n"', "U+000A"),
    Case("c1-in-label-value", "environment: production", 'environment: "produc\\x9bion"', "project.environment",
         '"produc', "U+009B"),
    Case("nul-in-summary", "summary: The ledger backlog is high.", 'summary: "The ledger\\0 backlog is high."',
         "services[0].alerts[0].summary", '"The ledger\\0', "U+0000 (NUL)"),
    Case("newline-in-summary", "summary: The ledger backlog is high.", 'summary: "The ledger\\nbacklog is high."',
         "services[0].alerts[0].summary", '"The ledger\\nbacklog', "a summary or title is one line"),
    Case("esc-in-description", 'description: "{{ $labels.instance }} holds', 'description: "\\e{{ $labels.instance }} holds',
         "services[0].alerts[0].description", '"\\e{{', "U+001B (ESC)"),
    Case("del-in-expr", "expr: ledger_backlog > 100", 'expr: "ledger_backlog\\x7f > 100"', "services[0].alerts[0].expr",
         '"ledger_backlog\\x7f', "U+007F (DEL)"),
    Case("line-separator-in-channel", 'channel: "#depot-alerts"', 'channel: "#depot\\Lalerts"', "channels.chat.channel",
         '"#depot\\L', "U+2028 (line separator)"),
    Case("carriage-return-in-path", "path: /metrics}", 'path: "/metrics\\r"}', "services[0].scrape.path",
         '"/metrics\\r"', "U+000D (carriage return)"),
    Case("tab-in-setting-key", "security: {allow_embedding: true}", 'security: {"allow\\tembedding": true}',
         'stack.grafana.settings.security["allow\\tembedding"]', '"allow\\tembedding"', "the key contains U+0009"),
    Case("raw-control-byte", "  name: depot\n", "  name: dep\x01ot\n", "", "\x01", "U+0001"),
    Case("raw-nel", "  name: depot\n", "  name: dep\x85ot\n", "", "\x85", "U+0085 (NEL)"),
    Case("raw-paragraph-separator", "  name: depot\n", "  name: dep\u2029ot\n", "", "\u2029", "U+2029"),
]


@pytest.mark.parametrize("case", BAD + CONTROL, ids=[c.id for c in BAD + CONTROL])
def test_bad_value_refused(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path)


@pytest.mark.parametrize("name,text,at,fragment", [
    ("not-utf8", BASE.replace("name: depot", "name: d\xe9pot").encode("latin-1"), (3, 10), "not UTF-8 (byte 0xe9)"),
    ("utf16", BASE.encode("utf-16"), (1, 1), "not UTF-8"),
    ("empty", b"", None, "the spec is empty"),
    ("only-a-comment", b"# nothing\n", None, "the spec is empty"),
    ("top-level-list", b"- version: 1\n", (1, 1), "must be a mapping"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_bad_file_refused(name: str, text: bytes, at: tuple[int, int] | None, fragment: str, tmp_path: Path) -> None:
    assert_refused(Case(name, "", "", "", at, fragment), tmp_path, text)


def test_bom_is_read_and_places_stay_right(tmp_path: Path) -> None:
    text = BASE.replace("for: 5m", "for: 5 minutes")
    case = Case("bom", "", "", "services[0].alerts[0].for", "for: |5 minutes", "not a Prometheus duration")
    assert_refused(case, tmp_path, "\ufeff".encode() + text.encode(), problems=1)
    spec = tmp_path / "ok.yaml"
    spec.write_bytes("\ufeff".encode() + BASE.encode())
    assert RUNNER.invoke(app, ["validate", str(spec)]).exit_code == 0


ACCEPTED = [
    ("for-0s", "for: 5m", "for: 0s"),
    ("for-292y", "for: 5m", "for: 292y"),
    ("group-wait-0s", "group_interval: 5m", "group_interval: 5m\n  group_wait: 0s"),
    ("description-multi-line", 'description: "{{ $labels.instance }} holds', 'description: "{{ $labels.instance }}\\n\\tholds'),
    ("summary-tab", "summary: The ledger backlog is high.", 'summary: "The ledger\\tbacklog is high."'),
    ("expr-multi-line", "expr: ledger_backlog > 100", "expr: |\n          ledger_backlog\n            > 100"),
    ("template-literal-braces", 'description: "{{ $labels.instance }} holds', 'description: "{{ \\"{{\\" }} holds'),
    ("slack-channel-template", 'channel: "#depot-alerts"', 'channel: "#{{ .CommonLabels.team }}"'),
    ("closing-braces-alone", "summary: The ledger backlog is high.", "summary: The ledger }} backlog is high."),
    ("error-status-re2-forms", '"5[0-9][0-9]"', '"(?i)5\\\\d{2}|\\\\pN[[:digit:]]\\\\z"'),
    ("grafana-file-setting", "user: grafana}", "user: grafana, password__file: /run/secrets/grafana-db}"),
    ("url-ipv6-port", '"https://hooks.depot.test/alerts"', '"http://[::1]:9000/alerts?team=books"'),
    ("service-named-node", "  - name: vault\n", "  - name: node\n"),
]


@pytest.mark.parametrize("name,old,new", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_valid_forms_accepted(name: str, old: str, new: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(mutate(Case(name, old, new, "", None, "")))
    result = RUNNER.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0, result.stderr


def test_base_spec_renders(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE)
    result = RUNNER.invoke(app, ["render", str(spec), "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out/prometheus/prometheus.yml").is_file()


# --------------------------------------------------------------------------- through the real command line

def test_special_files_never_block_or_crash(tmp_path: Path) -> None:
    """A FIFO without a writer, a folder and /dev/zero: refused at once (exit 2), nothing written."""
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    # a folder is read as a spec folder: this one holds no spec file
    targets = [(fifo, "is a named pipe (FIFO)"), (tmp_path, "the folder holds no spec file"),
               (Path("/dev/zero"), "is a device")]
    for path, fragment in targets:
        for cmd in (["validate", str(path)], ["render", str(path), "-o", str(tmp_path / "out")]):
            proc = subprocess.run([sys.executable, "-m", "obsgen", *cmd], capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
            assert proc.returncode == 2, (cmd, proc.stderr)
            assert proc.stderr.startswith(f"{path}: {fragment}"), proc.stderr
            assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", [c for c in BAD if c.id in (
    "url-broken-ipv6", "tag-python-object", "alias-contains-itself", "nesting-500-deep", "threshold-5000-digits")],
    ids=lambda c: c.id)
def test_once_crashed_now_exit_2_from_the_cli(case: Case, tmp_path: Path) -> None:
    """Specs that made obsgen exit 3 (an internal error) or overflow the stack, run as a user would."""
    text = mutate(case)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    for cmd in (["validate", str(spec)], ["render", str(spec), "-o", str(tmp_path / "out")]):
        proc = obsgen(*cmd)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
        assert proc.stderr.startswith(prefix(spec, text, case)), proc.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- agreement with the real tools

TEMPLATES = [  # (text, whether Go's text/template as Prometheus uses it accepts it)
    ("{{ $labels.instance }}", True),
    ("{{ $value | humanize }}", True),
    ('{{ "{{" }}', True),
    ("a }} b", True),
    ("{{/* note */}}{{- $value -}}", True),
    ("{{ if gt $value 1.0 }}high{{ else if $labels }}x{{ else }}low{{ end }}", True),
    ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}", True),
    ('{{ printf "%.2f" $value }} {{ `raw {{` }} {{ \'x\' }}', True),
    ("{{ .Foo", False),
    ("{{ }}", False),
    ('{{ "abc }}', False),
    ("{{ `abc }}", False),
    ("{{ if $value }}x", False),
    ("x{{ end }}", False),
    ("{{ else }}", False),
    ("{{ $foo }}", False),
    ("{{ (len $labels }}", False),
    ("{{ len $labels) }}", False),
    ("{{/* c }}", False),
    ("{{ 'ab' }}", False),
    ("{{{ $value }}}", False),
    ("{{ break }}", False),
]

REGEXES = [  # (regex, whether RE2 accepts it)
    ("5..", True),
    ("(?i)5\\d{2}", True),
    ("\\pL+[[:digit:]]\\z", True),
    ("(?P<code>5)..|4(?:0[0-9])", True),
    ("a(?i)b", True),
    ("\\Q.*\\E", True),
    ("(?=5)5..", False),
    ("(?<!x)y", False),
    ("(5)\\1", False),
    ("5++", False),
    ("(?>ab)", False),
    ("5..\\Z", False),
    ("a{1001}", False),
    ("5(..", False),
    ("[z-a]", False),
]


def test_template_check_agrees_with_promtool(promtool: str, tmp_path: Path) -> None:
    files = []
    for i, (text, ok) in enumerate(TEMPLATES):
        assert (template_problem(text) is None) == ok, (text, template_problem(text))
        rule = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "vector(1)", "annotations": {"summary": text}}]}]}
        files.append(tmp_path / f"t{i}.yml")
        files[-1].write_text(json.dumps(rule))
    verdicts = _promtool_verdicts(promtool, files)
    assert verdicts == [ok for _, ok in TEMPLATES], list(zip(TEMPLATES, verdicts, strict=True))


FIELD_TEMPLATES = [  # (text, its expansion for an alert on up{job="j"} = 1, or None: expanding it fails)
    ("{{ .Labels.job }}", "j"),
    ("{{ .Value }}", "1"),
    ("{{ .ExternalURL }}x", "x"),
    ("{{ with .Labels }}{{ .job }}{{ end }}", "j"),
    ("{{ range $k, $v := .Labels }}{{ $v }}{{ end }}", "upj"),  # the series keeps __name__ in `==`
    ("{{ .x }}", None),
    ("{{ .labels.job }}", None),
    ("{{ printf \"%s\" .Job }}", None),
]


def test_template_fields_agree_with_promtool(promtool: str, tmp_path: Path) -> None:
    """promtool check rules only parses a template; a field the alert's data lacks fails when expanded,
    which `promtool test rules` shows: each refusal here is a test promtool fails for that reason."""
    for i, (text, expansion) in enumerate(FIELD_TEMPLATES):
        assert (template_problem(text) is None) == (expansion is not None), (text, template_problem(text))
        rules = tmp_path / f"f{i}.yml"
        rules.write_text(json.dumps({"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": 'up{job="j"} == 1', "annotations": {"summary": text}}]}]}))
        test = tmp_path / f"f{i}_test.yml"
        test.write_text(json.dumps({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [{
            "interval": "1m", "input_series": [{"series": 'up{job="j"}', "values": "1x5"}],
            "alert_rule_test": [{"eval_time": "2m", "alertname": "A", "exp_alerts": [{
                "exp_labels": {"job": "j"}, "exp_annotations": {"summary": expansion or ""}}]}]}]}))
        run = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True, timeout=60,
                             cwd=tmp_path)
        assert (run.returncode == 0) == (expansion is not None), (text, run.stdout, run.stderr)
        if expansion is None:
            assert "error expanding template" in run.stdout + run.stderr, (text, run.stdout)


def test_re2_check_agrees_with_promtool(promtool: str, tmp_path: Path) -> None:
    files = []
    for i, (regex, ok) in enumerate(REGEXES):
        assert (re2_problem(regex) is None) == ok, (regex, re2_problem(regex))
        rule = {"groups": [{"name": "g", "rules": [{"record": "r", "expr": f"up{{job=~`{regex}`}}"}]}]}
        files.append(tmp_path / f"r{i}.yml")
        files[-1].write_text(json.dumps(rule))
    verdicts = _promtool_verdicts(promtool, files)
    assert verdicts == [ok for _, ok in REGEXES], list(zip(REGEXES, verdicts, strict=True))


def _promtool_verdicts(promtool: str, files: list[Path]) -> list[bool]:
    """One promtool run over many rule files: whether each passed."""
    # one stream, so that each file's errors stay in its section
    out = subprocess.run([promtool, "check", "rules", *map(str, files)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=120).stdout
    verdicts = []
    for f in files:
        section = out.split(f"Checking {f}\n", 1)[1].split("Checking ", 1)[0]
        assert "SUCCESS" in section or "FAILED" in section, out
        verdicts.append("SUCCESS" in section)
    return verdicts


def test_quiet_hours_refusals_agree_with_amtool(amtool: str, tmp_path: Path) -> None:
    """Each quiet hours obsgen refuses, Alertmanager refuses too; the base spec's it accepts."""
    cases = [("monday:friday", "08:00", "18:00", True)] + [
        (w, s, e, False) for w, s, e in (("friday:monday", "08:00", "18:00"), ("monday:friday", "18:00", "08:00"),
                                         ("monday:friday", "08:00", "08:00"), ("monday:friday", "08:00", "25:00"))]
    for weekdays, start, end, ok in cases:
        text = BASE.replace('"monday:friday"', f'"{weekdays}"').replace('"08:00-18:00"', f'"{start}-{end}"')
        spec = tmp_path / "spec.yaml"
        spec.write_text(text)
        assert (RUNNER.invoke(app, ["validate", str(spec)]).exit_code == 0) == ok, (weekdays, start, end)
        config = {"route": {"receiver": "r", "routes": [{"receiver": "r", "active_time_intervals": ["q"]}]},
                  "receivers": [{"name": "r"}],
                  "time_intervals": [{"name": "q", "time_intervals": [
                      {"weekdays": [weekdays], "times": [{"start_time": start, "end_time": end}]}]}]}
        am = tmp_path / "alertmanager.yml"
        am.write_text(json.dumps(config))
        proc = run([amtool, "check-config", str(am)])
        assert (proc.returncode == 0) == ok, (weekdays, start, end, proc.stdout, proc.stderr)
