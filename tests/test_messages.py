"""Structural errors read as sentences: one per problem, at its place, naming what the field expects.

A table of one-field mutations (of the quickstart and of a spec unlike the examples) pins the exact place
and sentence; a seeded sweep of random structural mutations over every example holds every message to
the rules: no pydantic wording, no regex, `file:line:col` first, one message per place.
"""

from __future__ import annotations

import copy
import random
import re
import typing
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from conftest import EXAMPLES, ROOT, obsgen
from pydantic import BaseModel

from obsgen.spec import SpecError, load_spec_text, models
from obsgen.spec.messages import PATTERNS

QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()

# A spec unlike the examples: a batch ledger on Kubernetes, per-level `for`, log tags, grafana.ini settings,
# quiet hours for two severities, a bearer-token webhook and an exporter given as a mapping.
OWN = """\
version: 1
project: {name: ledger, environment: staging, external_labels: {region: us-east}}
defaults:
  slo_windows: {page_fast: [1h, 5m, 2.0], ticket_slow: [3d, 6h, 10.0]}
services:
  - name: settlement
    team: finance
    scrape:
      kubernetes: {namespace: ledger, pod_labels: {app.kubernetes.io/name: settlement}}
    thresholds:
      - {name: SettlementBacklog, expr: settlement_queue_depth, warning: 100, critical: 1k, for: {warning: 15m, critical: 5m}}
    logs:
      source: {tail: /var/log/settlement/*.log, format: text, tag: ledger.settlement}
      labels: [level]
    alerts:
      - name: SettlementRunFailed
        expr: max(settlement_last_run_failed) == 1
        severity: critical
        summary: The last settlement run failed.
        tests:
          - input_series:
              - {series: 'settlement_last_run_failed{instance="batch:9100"}', values: "0x5 1x10"}
            alert_rule_test:
              - {eval_time: 3m, exp_alerts: []}
              - {eval_time: 10m, exp_alerts: [{exp_labels: {}}]}
channels:
  finance-mail: {type: email, to: [finance@example.com, audit@example.com]}
  finance-teams: {type: msteams, webhook_url_file: /run/secrets/teams-url}
  audit-hook: {type: webhook, url: "http://audit:9000/alerts", bearer_token_file: /run/secrets/audit-token, max_alerts: 20}
email: {smarthost: "mail.example.com:25", from: ledger@example.com, require_tls: false}
routing:
  default: finance-mail
  severity: {critical: [finance-teams, audit-hook]}
  quiet_hours: {applies_to: [warning, info], weekdays: "monday:friday,saturday", times: "07:30-19:00", timezone: America/New_York}
stack:
  deploy: [kubernetes]
  alertmanager: {replicas: 3}
  grafana: {settings: {security: {allow_embedding: true}, auth.anonymous: {enabled: false}}}
  fluentd: {outputs: [loki, elasticsearch], elasticsearch: {host: es.internal, port: 9200}}
  exporters: [node, {type: postgres, dsn_file: /run/secrets/pg-dsn}]
  prometheus:
    remote_write:
      - {name: thanos, kind: thanos, url: "https://thanos.example.com/api/v1/receive", basic_auth: {username: ledger, password_file: /run/secrets/thanos-password}}
"""

SPECS = {"quickstart": QUICKSTART, "own": OWN}


CHANNEL_TYPES = ("slack, email, pagerduty, webhook, opsgenie, msteams, msteamsv2, discord, mattermost, telegram, "
                 "webex, pushover, victorops, jira, rocketchat, incidentio, wechat, sns")


class Case(NamedTuple):
    id: str
    spec: str  # "quickstart" or "own"
    old: str  # replaced, once
    new: str
    at: str  # where the message points: a text that occurs once in the new spec, `|` at the place
    path: str
    message: str  # the whole sentence


CASES = [
    # a union's branches collapse into one message naming what is accepted
    Case("quantity-list", "quickstart", "warning: 0.5%", "warning: [1]", "|warning: [1]",
         "services[0].thresholds[0].warning",
         "expected a number, a percentage like `0.5%` or a quantity like `250ms`, not a list"),
    Case("quantity-mapping", "own", "critical: 1k,", "critical: {at: 1k},", "|critical: {at",
         "services[0].thresholds[0].critical",
         "expected a number, a percentage like `0.5%` or a quantity like `250ms`, not a mapping"),
    Case("for-list", "quickstart", "critical: 500ms, for: 10m}", "critical: 500ms, for: [10m]}", "|for: [10m]",
         "services[0].thresholds[1].for",
         "expected a duration like `5m` or `{warning: 15m, critical: 5m}`, not a list"),
    Case("for-bad-duration", "quickstart", "critical: 500ms, for: 10m}", "critical: 500ms, for: 10 minutes}",
         "for: |10 minutes", "services[0].thresholds[1].for",
         "'10 minutes' is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 7d)"),
    Case("for-levels-typo", "own", "for: {warning: 15m,", "for: {warnig: 15m,", "{warnig: |15m",
         "services[0].thresholds[0].for.warnig", "unknown field `warnig`; did you mean `warning`?"),
    Case("exporter-name-typo", "quickstart", "exporters: [node]", "exporters: [nod]", "exporters: [|nod]",
         "stack.exporters[0]", "`nod` is not an exporter type (`node`, `cadvisor`, `postgres`, `redis`, `nginx`, "
         "`blackbox`, `mysqld`, `pgbouncer`, `haproxy`, `process`, `pushgateway`, `mongodb`, `elasticsearch` or "
         "`kafka`); did you mean `node`?"),
    Case("exporter-type-typo", "own", "{type: postgres,", "{type: postgre,", "{type: |postgre,",
         "stack.exporters[1].type", "`postgre` is not an exporter type (`node`, `cadvisor`, `postgres`, `redis`, "
         "`nginx`, `blackbox`, `mysqld`, `pgbouncer`, `haproxy`, `process`, `pushgateway`, `mongodb`, "
         "`elasticsearch` or `kafka`); did you mean `postgres`?"),
    Case("exporter-field-typo", "own", "dsn_file: /run/secrets/pg-dsn}", "dsn_fil: /run/secrets/pg-dsn}",
         "dsn_fil: |/run", "stack.exporters[1].dsn_fil", "unknown field `dsn_fil`; did you mean `dsn_file`?"),
    Case("exporter-number", "quickstart", "exporters: [node]", "exporters: [9100]", "exporters: [|9100]",
         "stack.exporters[0]", "expected an exporter type (`node`, `cadvisor`, `postgres`, `redis`, `nginx`, "
         "`blackbox`, `mysqld`, `pgbouncer`, `haproxy`, `process`, `pushgateway`, `mongodb`, `elasticsearch` or "
         "`kafka`) or `{type: redis, target: redis:6379}`, not the number 9100"),
    Case("applies-to-typo", "quickstart", "applies_to: warning", "applies_to: warnin", "applies_to: |warnin",
         "routing.quiet_hours.applies_to",
         "`warnin` is not a severity (`critical`, `warning` or `info`); did you mean `warning`?"),
    Case("applies-to-list-typo", "own", "applies_to: [warning, info]", "applies_to: [warning, inof]",
         "warning, |inof]", "routing.quiet_hours.applies_to[1]",
         "`inof` is not a severity (`critical`, `warning` or `info`); did you mean `info`?"),
    Case("applies-to-mapping", "own", "applies_to: [warning, info]", "applies_to: {warning: true}",
         "{|applies_to: {warning", "routing.quiet_hours.applies_to",
         "expected a severity (`critical`, `warning` or `info`) or a list of them, not a mapping"),
    Case("grafana-setting-list", "own", "allow_embedding: true}", "allow_embedding: [true]}", "|allow_embedding: [true]",
         "stack.grafana.settings.security.allow_embedding",
         "expected text, a whole number or a boolean (`true` or `false`), not a list"),
    # did you mean: fields, enum values, channel types, fixed keys
    Case("field-typo", "quickstart", "    team: payments\n", "    teem: payments\n", "teem: |payments",
         "services[0].teem", "unknown field `teem`; did you mean `team`?"),
    Case("required-field-typo", "quickstart", "  - name: catalog\n", "  - nme: catalog\n", "nme: |catalog",
         "services[1].nme", "unknown field `nme`; did you mean `name`? (`name` is required)"),
    # (`owner` is close enough to `consumer` for a suggestion since services have it)
    Case("unknown-field-no-match", "own", "    team: finance\n", "    steward: finance\n", "steward: |finance",
         "services[0].steward", "unknown field `steward`; the fields here are name, description, kind, batch, "
         "consumer, team, class, scrape, metrics, slos, thresholds, alerts, recording_rules, logs, health, panels, labels, runbook_url"),
    Case("top-level-typo", "own", "routing:\n", "routng:\n", "|routng:", "routng",
         "unknown field `routng`; did you mean `routing`? (`routing` is required)"),
    Case("severity-typo", "quickstart", "severity: critical\n", "severity: crit\n", "severity: |crit",
         "services[0].alerts[0].severity",
         "`crit` is not a severity (`critical`, `warning` or `info`); did you mean `critical`?"),
    Case("deploy-typo", "own", "deploy: [kubernetes]", "deploy: [kubernetis]", "deploy: [|kubernetis]",
         "stack.deploy[0]", "`kubernetis` is not a deploy target (`compose` or `kubernetes`); did you mean `kubernetes`?"),
    Case("log-format-typo", "own", "format: text,", "format: txt,", "format: |txt,",
         "services[0].logs.source.format", "`txt` is not a log format (`json` or `text`); did you mean `text`?"),
    Case("channel-type-typo", "quickstart", "{type: slack,", "{type: slak,", "{type: |slak,",
         "channels.payments-slack.type", "unknown channel type `slak`; did you mean `slack`? "
         f"(one of {CHANNEL_TYPES})"),
    Case("channel-type-missing", "own", "{type: msteams, webhook_url_file", "{webhook_url_file", "|finance-teams:",
         "channels.finance-teams.type", f"missing required field `type`: one of {CHANNEL_TYPES}, e.g. `type: slack`"),
    Case("channel-type-key-typo", "own", "{type: msteams,", "{tpye: msteams,", "{tpye: |msteams",
         "channels.finance-teams.tpye", "unknown field `tpye`; did you mean `type`?"),
    Case("channel-not-a-mapping", "own", "{type: msteams, webhook_url_file: /run/secrets/teams-url}", "msteams",
         "finance-teams: |msteams", "channels.finance-teams",
         "expected a channel like `{type: email, to: [ops@example.com]}`, got the text `msteams`"),
    Case("severity-key-typo", "own", "severity: {critical: [finance-teams", "severity: {critcal: [finance-teams",
         "{|critcal", "routing.severity.critcal",
         "unknown key `critcal`; did you mean `critical`? (the keys here are critical, warning, info)"),
    # patterns, as sentences
    Case("slug", "quickstart", "name: shop ", "name: Shop ", "name: |Shop", "project.name",
         "`Shop` is not a valid name: use lower-case letters, digits and dashes, starting with a letter, at most "
         "63 characters; did you mean `shop`?"),
    Case("slug-key", "own", "  audit-hook: {", "  Audit_Hook: {", "|Audit_Hook: {", 'channels.Audit_Hook',
         "the key `Audit_Hook` is not a valid name: use lower-case letters, digits and dashes, starting with a "
         "letter, at most 63 characters; did you mean `audit-hook`?"),
    Case("label-name-key", "own", "external_labels: {region: us-east}", "external_labels: {aws-region: us-east}",
         "aws-region: |us-east", 'project.external_labels.aws-region',
         "the key `aws-region` is not a Prometheus label name: use letters, digits and underscores, not starting "
         "with a digit; did you mean `aws_region`?"),
    Case("k8s-label-key", "own", "pod_labels: {app.kubernetes.io/name: settlement}",
         "pod_labels: {app.kubernetes.io/name-: settlement}", "name-: |settlement",
         "services[0].scrape.kubernetes.pod_labels[\"app.kubernetes.io/name-\"]",
         "the key `app.kubernetes.io/name-` is not a Kubernetes label key: write an optional lower-case DNS prefix "
         "ending in `/`, then letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, e.g. "
         "`app.kubernetes.io/name` or `tier`"),
    Case("email-address", "own", "audit@example.com]", "audit.example.com]", "|audit.example.com]",
         "channels.finance-mail.to[1]", "`audit.example.com` is not an e-mail address: write one address with a "
         "single `@` and no spaces, e.g. `ops@example.com`"),
    Case("smarthost", "quickstart", "smarthost: smtp.example.com:587", "smarthost: smtp.example.com",
         "smarthost: |smtp", "email.smarthost", "`smtp.example.com` is not `host:port`: give the SMTP server and "
         "its port, e.g. `smtp.example.com:587`; did you mean `smtp.example.com:587`?"),
    Case("file-path", "own", "bearer_token_file: /run/secrets/audit-token", "bearer_token_file: secrets/audit-token",
         "bearer_token_file: |secrets", "channels.audit-hook.bearer_token_file",
         "`secrets/audit-token` is not an absolute path: a `*_file` field names the file that holds the secret by "
         "its absolute path, starting with `/`, e.g. `/run/secrets/slack-url`"),
    Case("weekdays", "quickstart", "weekdays: monday:friday", "weekdays: Monday-Friday", "weekdays: |Monday",
         "routing.quiet_hours.weekdays", "`Monday-Friday` is not a list of weekdays: write lower-case day names, a "
         "range as `first:last`, several separated by commas, e.g. `monday:friday` or `monday:friday,sunday`; did "
         "you mean `monday:friday`?"),
    Case("times", "own", 'times: "07:30-19:00"', 'times: "7:30-19"', 'times: |"7:30', "routing.quiet_hours.times",
         "`7:30-19` is not a time range: write the start and end as two-digit hours and minutes, `HH:MM-HH:MM`, "
         "e.g. `09:00-18:00`; did you mean `07:30-19:00`?"),
    Case("fluentd-tag", "own", "tag: ledger.settlement}", "tag: ledger..settlement}", "tag: |ledger..",
         "services[0].logs.source.tag", "`ledger..settlement` is not a Fluentd tag: join parts of letters, digits, "
         "`_` and `-` with single dots, e.g. `logs.checkout`; did you mean `ledger.settlement`?"),
    Case("grafana-ini-name", "own", "auth.anonymous: {enabled", "Auth.Anonymous: {enabled", "|Auth.Anonymous: {",
         "stack.grafana.settings[\"Auth.Anonymous\"]", "the key `Auth.Anonymous` is not a grafana.ini section or "
         "key name: use lower-case letters, digits, `_` and `.`, starting with a letter, e.g. `security` or "
         "`auth.anonymous`; did you mean `auth.anonymous`?"),
    # types: what was expected, what was given, how to fix it
    Case("text-got-list", "quickstart", "description: Takes orders and payments.", "description: [orders, payments]",
         "|description: [orders", "services[0].description", "expected text, got a list"),
    Case("text-got-number", "own", "{username: ledger,", "{username: 1001,", "username: |1001",
         "stack.prometheus.remote_write[0].basic_auth.username",
         'expected text, got the number 1001; quote it to make it text: `"1001"`'),
    Case("bool-got-text", "quickstart", "inhibit: true", "inhibit: maybe", "inhibit: |maybe", "routing.inhibit",
         "expected `true` or `false`, got the text `maybe`"),
    Case("duration-got-number", "own", "page_fast: [1h, 5m, 2.0]", "page_fast: [1h, 5, 2.0]", "[1h, |5, 2.0]",
         "defaults.slo_windows.page_fast[1]", "expected a duration like `5m`, got the number 5; a duration needs a "
         "unit, e.g. `5s` or `5m`"),
    Case("tuple-short", "own", "page_fast: [1h, 5m, 2.0]", "page_fast: [1h, 5m]", "|page_fast",
         "defaults.slo_windows.page_fast", "expected a list of 3 items like `[1h, 5m, 2.0]`, got 2 items"),
    Case("list-got-text", "quickstart", "critical: [oncall-pagerduty, ops-opsgenie]", "critical: oncall-pagerduty",
         "critical: |oncall-pagerduty\n", "routing.severity.critical",
         "expected a list, got the text `oncall-pagerduty`; a list of one is written `[oncall-pagerduty]`"),
    Case("mapping-got-text", "quickstart", 'scrape: {static: ["checkout:8080"]}', "scrape: yes please",
         "scrape: |yes", "services[0].scrape",
         'expected a mapping like `{static: ["checkout:8080"]}`, got the text `yes please`'),
    Case("check-or-list-got-text", "quickstart", "health: {http: http://checkout:8080/healthz}", "health: yes please",
         "health: |yes", "services[0].health",
         "expected `{http: http://checkout:8080/healthz}` or a list of them, not the text `yes please`"),
    Case("number-got-text", "own", "max_alerts: 20}", "max_alerts: twenty}", "max_alerts: |twenty",
         "channels.audit-hook.max_alerts", "expected a whole number, got the text `twenty`"),
    # missing fields, version, bounds, lists that must not be empty
    Case("missing-default", "quickstart", "  default: ops-email\n", "", "|routing:\n", "routing.default",
         "missing required field `default`: the channel that gets every alert no other route takes, e.g. "
         "`default: oncall-pagerduty`"),
    Case("missing-summary", "own", "        summary: The last settlement run failed.\n", "",
         "  - |name: SettlementRunFailed", "services[0].alerts[0].summary",
         "missing required field `summary`, e.g. `summary: The checkout queue is backing up.`"),
    Case("version", "own", "version: 1", "version: 2", "version: |2", "version",
         "only version 1 exists, not the number 2; write `version: 1`"),
    Case("min-length-to", "own", "to: [finance@example.com, audit@example.com]", "to: []", "|to: []",
         "channels.finance-mail.to", "list at least one e-mail address, e.g. `to: [ops@example.com]`"),
    Case("min-length-checks", "own", "alert_rule_test:\n              - {eval_time: 3m, exp_alerts: []}\n"
         "              - {eval_time: 10m, exp_alerts: [{exp_labels: {}}]}\n", "alert_rule_test: []\n",
         "|alert_rule_test: []",
         "services[0].alerts[0].tests[0].alert_rule_test",
         "list at least one check (`eval_time` with the `exp_alerts` expected then), e.g. "
         "`alert_rule_test: [{eval_time: 10m, exp_alerts: []}]`"),
    Case("le-bound", "own", "replicas: 3}", "replicas: 9}", "replicas: |9", "stack.alertmanager.replicas",
         "must be less than or equal to 7, not 9"),
    Case("ge-bound", "own", "max_alerts: 20}", "max_alerts: -1}", "max_alerts: |-1", "channels.audit-hook.max_alerts",
         "must be greater than or equal to 0, not -1"),
]


def place(text: str, at: str) -> tuple[int, int]:
    needle = at.replace("|", "", 1)
    assert text.count(needle) == 1, at
    i = text.index(needle) + max(at.find("|"), 0)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def problems_of(text: str, filename: str = "spec.yaml") -> list[str]:
    try:
        load_spec_text(text, filename)
    except SpecError as e:
        return e.lines()
    return []


@pytest.mark.parametrize("name", sorted(SPECS))
def test_specs_of_the_table_are_valid(name: str) -> None:
    assert problems_of(SPECS[name]) == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_message(case: Case) -> None:
    base = SPECS[case.spec]
    assert base.count(case.old) == 1, case.old
    text = base.replace(case.old, case.new)
    line, col = place(text, case.at)
    assert problems_of(text) == [f"spec.yaml:{line}:{col} {case.path}: {case.message}"]


def _patterns(tp: Any, seen: set[Any]) -> set[str]:
    """Every `pattern` constraint reachable from a type."""
    out: set[str] = set()
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return out
        seen.add(tp)
        for info in tp.model_fields.values():
            out |= {m.pattern for m in info.metadata if isinstance(getattr(m, "pattern", None), str)}
            out |= _patterns(info.annotation, seen)
        return out
    for m in getattr(tp, "__metadata__", ()):
        out |= {x.pattern for x in [m, *getattr(m, "metadata", [])] if isinstance(getattr(x, "pattern", None), str)}
    for arg in typing.get_args(tp):
        out |= _patterns(arg, seen)
    return out


def test_every_pattern_of_the_models_has_a_sentence() -> None:
    found = _patterns(models.Spec, set())
    assert len(found) >= 9, found  # slugs, label names and keys, e-mail, smarthost, paths, quiet hours, tags, ini
    assert found <= set(PATTERNS), found - set(PATTERNS)


# --------------------------------------------------------------------------- the sweep

SOURCES = {p.name: yaml.safe_load(p.read_text()) for p in EXAMPLES}
PER_EXAMPLE = 50
# pydantic's own words and regex syntax; neither belongs in a message
RAW = re.compile(r"Input should|Field required|Extra inputs|valid (string|number|integer|dictionary|list|boolean)"
                 r"|function-after|literal\[|union_tag|\^\(|\^\[|\)\$|\]\$|\\d|\\s|\[a-z|\[A-Z|\[\^|\(\?:")
PLACE = re.compile(r"(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+) (?P<path>\S+): (?P<message>.+)")
WRONG = [[1], {"a": 1}, 3, "text", True, None, 2.5, [], {}]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _typo(rng: random.Random, word: Any) -> str:
    w = str(word)
    if len(w) < 3:
        return w + "x"
    i = rng.randrange(len(w) - 1)
    return rng.choice([w[:i] + w[i + 1:], w[:i] + w[i + 1] + w[i] + w[i + 2:], w[:i] + rng.choice("aeiou") + w[i:]])


def mutate(rng: random.Random, data: Any) -> str:
    """One structural mutation in place: a wrong type, an unknown or misspelt key, a bad value, a missing key."""
    kind = rng.choice(["wrong-type", "unknown-key", "rename-key", "bad-value", "missing"])
    if kind in ("unknown-key", "rename-key", "missing"):
        mapping = _get(data, rng.choice([p for p in _paths(data) if isinstance(_get(data, p), dict) and _get(data, p)]))
        key = rng.choice(list(mapping))
        if kind == "unknown-key":
            mapping[_typo(rng, key) if rng.random() < 0.7 else "extra_setting"] = "x"
        elif kind == "rename-key":
            mapping[_typo(rng, key)] = mapping.pop(key)
        else:
            del mapping[key]
        return kind
    places = [p for p in _paths(data) if p]
    if kind == "bad-value":
        path = rng.choice([p for p in places if isinstance(_get(data, p), str)])
        _get(data, path[:-1])[path[-1]] = _typo(rng, _get(data, path))
        return kind
    path = rng.choice(places)
    old = _get(data, path)
    _get(data, path[:-1])[path[-1]] = copy.deepcopy(rng.choice([w for w in WRONG if type(w) is not type(old)]))
    return kind


def sweep(seed: int = 20240611) -> tuple[Counter[str], list[str], list[tuple[str, str]]]:
    """Mutated examples -> counts, failures found in their messages, and a few spec texts for the CLI."""
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    samples: list[tuple[str, str]] = []
    for name, source in sorted(SOURCES.items()):
        for _ in range(PER_EXAMPLE):
            data = copy.deepcopy(source)
            kinds = [mutate(rng, data) for _ in range(rng.choice([1, 1, 2]))]
            counts.update(kinds)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
            lines = problems_of(text, name)
            counts["specs"] += 1
            counts["refused" if lines else "still valid"] += 1
            counts["messages"] += len(lines)
            if lines and len(samples) < 3 and kinds[0] == ["wrong-type", "rename-key", "bad-value"][len(samples)]:
                samples.append((name, text))
            parsed = [PLACE.fullmatch(line) for line in lines]
            for line, m in zip(lines, parsed, strict=True):
                if m is None or m["file"] != name:
                    failures.append(f"not `file:line:col path: message`: {line}")
                    continue
                if RAW.search(m["message"]):
                    failures.append(f"raw wording or a regex: {line}")
                if len(re.findall(r"\bexpected\b", m["message"])) > 1:
                    failures.append(f"two expectations in one message: {line}")
            paths = [m["path"] for m in parsed if m]
            for path, n in Counter(paths).items():
                if n > 1:
                    failures.append(f"{n} messages for {path}: {lines}")
            # a value of the wrong shape altogether has no problems inside it
            for m in parsed:
                if m and m["message"].startswith("expected "):
                    inner = [p for p in paths if p.startswith((m["path"] + ".", m["path"] + "["))]
                    if inner:
                        failures.append(f"messages under {m['path']}, whose value has the wrong shape: {lines}")
    return counts, failures, samples


@pytest.fixture(scope="module")
def swept() -> tuple[Counter[str], list[str], list[tuple[str, str]]]:
    return sweep()


def test_sweep_messages_are_sentences_one_per_place(swept: tuple[Counter[str], list[str], list[tuple[str, str]]]) -> None:
    counts, failures, _ = swept
    print(f"\nsweep: {dict(sorted(counts.items()))}")
    assert counts["specs"] == PER_EXAMPLE * len(SOURCES) >= 300
    assert counts["refused"] >= 200 and counts["messages"] >= counts["refused"]
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"


def test_sweep_specs_from_the_cli(swept: tuple[Counter[str], list[str], list[tuple[str, str]]], tmp_path: Path) -> None:
    _, _, samples = swept
    assert len(samples) == 3
    for n, (name, text) in enumerate(samples):
        spec = tmp_path / f"{n}-{name}"
        spec.write_text(text, "utf-8")
        proc = obsgen("validate", str(spec))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        *lines, summary = proc.stderr.splitlines()
        assert lines and summary.endswith(f"in {spec}"), proc.stderr
        assert all(re.match(re.escape(str(spec)) + r":\d+:\d+ ", line) for line in lines), proc.stderr
