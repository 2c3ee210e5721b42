"""The spec's JSON Schema documents itself: every model, field and mapping entry is described, and every
example the schema shows is a value the models accept.

The schema is built from the code (`obsgen.schema.schema()`), not read from specs/obsgen.schema.json.
Examples are held twice: against their own property schema (jsonschema, what an editor checks), and in a
whole spec, `BASE` with the example put in the field's place, through the models and the spec checks
(`validate.py`), which know more than the schema (a duration's range, a channel a route names, a zone).
A description's "e.g. `...`" values count as examples too (for a list field, one item).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from obsgen.model import resolve
from obsgen.schema import schema
from obsgen.spec import models
from obsgen.spec.errors import format_path
from obsgen.spec.validate import check_spec

Path = tuple[str | int, ...]

# Places a subschema can sit in another (JSON Schema 2020-12 applicators).
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_MANY = ("prefixItems", "anyOf", "oneOf", "allOf")
_NAMED = ("properties", "patternProperties", "$defs")


def _pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def subschemas(node: Any, ptr: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in `node`, with its JSON pointer."""
    if not isinstance(node, dict):
        return
    yield ptr, node
    for key in _ONE:
        yield from subschemas(node.get(key), ptr + _pointer(key))
    for key in _MANY:
        for i, sub in enumerate(node.get(key, [])):
            yield from subschemas(sub, ptr + _pointer(key, i))
    for key in _NAMED:
        for name, sub in node.get(key, {}).items():
            yield from subschemas(sub, ptr + _pointer(key, name))


def _described(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("description"), str) and bool(node["description"].strip())


def undescribed(root: dict[str, Any]) -> list[str]:
    """Pointers of what lacks a description: `$defs` entries, properties of every object (in `$defs`, inline,
    mapping entries, union branches), and each mapping's entry schema (what an editor shows on its keys)."""
    missing = [_pointer("$defs", name) for name, d in root.get("$defs", {}).items() if not _described(d)]
    for ptr, node in subschemas(root):
        for name, prop in node.get("properties", {}).items():
            if not _described(prop):
                missing.append(ptr + _pointer("properties", name))
        entries = [("patternProperties", k, v) for k, v in node.get("patternProperties", {}).items()]
        if isinstance(node.get("additionalProperties"), dict):
            entries.append(("additionalProperties", None, node["additionalProperties"]))
        for key, name, entry in entries:
            if not _described(entry):
                missing.append(ptr + (_pointer(key, name) if name is not None else _pointer(key)))
    return missing


@cache
def built() -> dict[str, Any]:
    return schema()


def test_every_model_field_and_entry_is_described() -> None:
    missing = undescribed(built())
    assert not missing, "no description (a model docstring or a field's `description=`) at:\n  " + "\n  ".join(missing)


def test_the_walk_finds_what_lacks_a_description() -> None:
    # the check above passes only if it looks everywhere: inline objects in unions and mappings, entries
    fake = {"$defs": {"A": {"description": "a", "properties": {"x": {"description": "x"}}}, "B": {}},
            "properties": {
                "u": {"description": "u", "anyOf": [{"type": "object", "properties": {"deep": {"type": "string"}}},
                                                    {"type": "null"}]},
                "m": {"description": "m", "additionalProperties": {"type": "object", "description": "e",
                                                                   "properties": {"inner": {}}}},
                "p": {"description": "p", "patternProperties": {"^a/b$": {"type": "string"}}}}}
    assert undescribed(fake) == ["/$defs/B", "/properties/u/anyOf/0/properties/deep",
                                 "/properties/m/additionalProperties/properties/inner",
                                 "/properties/p/patternProperties/^a~1b$"]


# --------------------------------------------------------------------------- examples


def _validator(root: dict[str, Any], prop: dict[str, Any]) -> jsonschema.protocols.Validator:
    # the property's schema as a document of its own, with the definitions its $refs point at
    return jsonschema.Draft202012Validator({**prop, "$defs": root.get("$defs", {})})


_EG = re.compile(r"e\.g\.\s+(`[^`]+`(?:(?:,\s*|\s+or\s+|\s+and\s+)`[^`]+`)*)")


def description_examples(description: str) -> list[str]:
    """The backquoted values right after "e.g." in a description."""
    return [s for run in _EG.findall(description) for s in re.findall(r"`([^`]+)`", run)]


def _snippet(text: str) -> list[Any]:
    """A description's example as the spec would hold it: read as YAML, else (`%Y-%m-%d`) as the text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return [text]
    return [value] if value == text else [value, text]


def _classes() -> dict[str, type[BaseModel]]:
    names = ["Spec", *built().get("$defs", {})]
    return {name: getattr(models, name) for name in names}


def _properties(name: str) -> dict[str, Any]:
    root = built()
    return root["properties"] if name == "Spec" else root["$defs"][name]["properties"]


def examples() -> Iterator[tuple[str, str, str, list[Any]]]:
    """(model, field alias, where, candidate values): each `examples` entry and each description example."""
    for name in _classes():
        for alias, prop in _properties(name).items():
            for i, value in enumerate(prop.get("examples", [])):
                yield name, alias, f"examples[{i}]", [value]
            for text in description_examples(prop.get("description", "")):
                yield name, alias, f"description `{text}`", _snippet(text)


def _forms(prop: dict[str, Any], value: Any) -> list[Any]:
    """The value, and for a list field one item given as an example, the list holding it."""
    kinds = {prop.get("type"), *(b.get("type") for b in prop.get("anyOf", []))}
    return [value, [value]] if "array" in kinds and not isinstance(value, list) else [value]


def test_examples_and_description_examples_exist() -> None:
    # the checks below must have something to hold: every kind of example is found
    found = {(m, a, w.split("[")[0].split(" ")[0]) for m, a, w, _ in examples()}
    assert ("Threshold", "for", "examples") in found
    assert ("InputSeries", "values", "description") in found
    assert description_examples("a `x`, e.g. `15m`, `1h30m` or `2d`; not `y`") == ["15m", "1h30m", "2d"]


EXAMPLES = list(examples())
EXAMPLE_IDS = [f"{model}.{alias} {where}" for model, alias, where, _ in EXAMPLES]


@pytest.mark.parametrize(("model", "alias", "where", "values"), EXAMPLES, ids=EXAMPLE_IDS)
def test_example_matches_its_property_schema(model: str, alias: str, where: str, values: list[Any]) -> None:
    prop = _properties(model)[alias]
    validator = _validator(built(), prop)
    tried = [v for value in values for v in _forms(prop, value)]
    errors = [e.message for v in tried for e in validator.iter_errors(v)]
    assert any(validator.is_valid(v) for v in tried), (
        f"{_pointer('$defs', model, 'properties', alias)} {where}: not valid against its own schema: {errors}")


@pytest.mark.parametrize("sli", [{"events": {"errors": "e[{{window}}]", "total": "t[{{window}}]"}},
                                 {"expr": "r[{{window}}]"}, {"threshold": "100ms"}])
def test_schema_takes_an_sli_without_type_as_the_models_do(sli: dict[str, Any]) -> None:
    assert models.Sli.model_validate(sli).type in ("events", "ratio", "latency")
    _validator(built(), {"$ref": "#/$defs/Sli"}).validate(sli)


# --------------------------------------------------------------------------- examples in a whole spec

# A spec with every model of the schema in it, valid as it stands; each example replaces a value in it.
BASE = """
version: 1
project:
  name: shop
  environment: production
  external_labels: {cluster: eu-1}
  runbook_url: https://runbooks.example.com/{service}/{alert}
  grafana_url: https://grafana.example.com
  alertmanager_url: https://alertmanager.example.com
defaults:
  scrape_interval: 15s
  scrape_timeout: 10s
  evaluation_interval: 15s
  slo_period: 30d
  threshold_for: 5m
  metrics: {requests_total: http_requests_total, status_label: status, error_status: "5..",
            duration_histogram: http_request_duration_seconds}
  slo_windows: {30d: {page_fast: [1h, 5m, 2], page_slow: [6h, 30m, 5], ticket_fast: [1d, 2h, 10], ticket_slow: [3d, 6h, 10]}}
  min_request_rate: 0
slo_classes:
  critical: {availability: 99.9, latency: {threshold: 200ms, objective: 99}, period: 30d,
             alerting: {}}
services:
  - name: checkout
    description: Takes orders.
    team: payments
    class: critical
    scrape: {static: ["checkout:8080"], labels: {env: production}, path: /metrics, scheme: http, interval: 15s,
             down_for: 2m}
    metrics: {requests_total: http_requests_total, status_label: code, error_status: "5..",
              duration_histogram: http_request_duration_seconds}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}, period: 30d, description: Orders succeed.,
         alerting: {page: true, ticket: true, page_alert: {labels: {pager: "yes"}}}, min_request_rate: 1}
      - {name: fast, objective: 99, sli: {type: latency, threshold: 100ms}}
      - name: tokens
        objective: 99.9
        sli:                          # no type: the models infer it from `events`
          events: {errors: "sum(rate(token_failures_total[{{window}}]))", total: "sum(rate(tokens_total[{{window}}]))"}
      - {name: jobs, objective: 99, sli: {type: ratio, expr: "avg(rate(job_errors_ratio[{{window}}]))"}}
      - {name: probes, objective: 99, sli: {type: bool_gauge, metric: 'probe_success{job="blackbox-http"}'}}
      - {name: native, objective: 99, sli: {type: latency_native, threshold: 200ms}}
      - name: logins
        objective: 99.5
        sli:
          events: {good: "sum(rate(logins_ok_total[{{window}}]))", total: "sum(rate(logins_total[{{window}}]))"}
    thresholds:
      - {indicator: error_rate, target: 0.1%, warning: 0.5%, critical: 1%, for: 10m}
      - {indicator: latency_p95, target: 100ms, warning: 250ms, critical: 500ms, for: {warning: 15m, critical: 5m}}
      - {name: CheckoutQueueDepth, expr: checkout_queue_depth, unit: short, warning: 30000, critical: 100000,
         direction: above, summary: The queue is deep., description: "Depth {{ $value }}.",
         runbook_url: "https://runbooks.example.com/{alert}"}
    alerts:
      - name: CheckoutPaymentErrors
        expr: sum(rate(payment_errors_total[5m])) > 1
        for: 5m
        keep_firing_for: 10m
        severity: critical
        summary: Payments fail.
        description: "{{ $value }} errors per second."
        labels: {component: payments}
        runbook_url: https://runbooks.example.com/payments
        tests:
          - name: fires
            interval: 1m
            input_series:
              - {series: 'payment_errors_total{instance="app:8000"}', values: 0+120x17}
            alert_rule_test:
              - {eval_time: 1m, exp_alerts: []}
              - {eval_time: 11m, exp_alerts: [{exp_labels: {instance: "app:8000"}, exp_annotations: {summary: x}}]}
    recording_rules:
      - {record: job:payment_errors:rate5m, expr: "sum(rate(payment_errors_total[5m]))", labels: {source: app}}
    logs:
      source: {tail: /var/log/checkout/*.log, forward: false, format: json, time_key: ts,
               time_format: "%Y-%m-%dT%H:%M:%S", tag: logs.checkout}
      labels: [level]
      level_key: level
      error_levels: [error]
      error_lines_per_minute: 10
      alerts:
        - {name: CheckoutTimeoutLogs, logql: 'sum(count_over_time({service="checkout"} |= "timeout" [5m]))',
           above: 5, for: 5m, severity: warning, summary: Timeouts are logged., description: "{{ $value }}."}
    health: {http: "http://checkout:8080/healthz"}
    panels:
      - {title: Tokens, expr: "sum(rate(tokens_total[$__rate_interval]))", unit: short, description: Tokens.}
    labels: {component: web}
    runbook_url: https://wiki.example.com/{alert}
  - name: catalog
    team: storefront
    scrape:
      kubernetes: {namespace: shop, pod_labels: {app: catalog}, port: http}
    health:
      - {tcp: "catalog-db:5432", tls: true, for: 5m}
      - {icmp: catalog-db.internal}
      - {dns: "ns1.internal:53", query_name: catalog.internal, query_type: A, answer: "^catalog[.]internal[.]", rcode: NOERROR}
      - {grpc: "catalog:9090", service: catalog.v1.Catalog, tls: false}
  - name: nightly-report
    kind: batch
    scrape: {static: ["pushgateway:9091"], honor_labels: true}
    batch: {every: 1d, grace: 2h, last_success: nightly_report_last_success_unixtime}
  - name: orders-consumer
    kind: consumer
    scrape: {static: ["orders-consumer:8000"]}
    consumer: {lag: orders_consumer_lag_messages, processed_total: orders_consumer_messages_processed_total}
    thresholds:
      - {indicator: consumer_lag, warning: 5000, critical: 50000}
channels:
  oncall-pagerduty: {type: pagerduty, routing_key_file: /etc/alertmanager/secrets/pd, send_resolved: true}
  payments-slack: {type: slack, channel: "#payments", api_url_file: /etc/alertmanager/secrets/slack}
  ops-email: {type: email, to: [ops@example.com], send_resolved: false}
  hook: {type: webhook, url: "http://hook:9000/", bearer_token_file: /etc/alertmanager/secrets/hook, max_alerts: 0}
  ops-opsgenie: {type: opsgenie, api_key_file: /etc/alertmanager/secrets/og, api_url: "https://api.opsgenie.com/"}
  storefront-teams: {type: msteams, webhook_url_file: /etc/alertmanager/secrets/teams}
  teams-v2: {type: msteamsv2, webhook_url_file: /etc/alertmanager/secrets/teams-v2}
  disco: {type: discord, webhook_url_file: /etc/alertmanager/secrets/discord}
  mm: {type: mattermost, webhook_url_file: /etc/alertmanager/secrets/mm, channel: ops}
  tg: {type: telegram, bot_token_file: /etc/alertmanager/secrets/tg, chat_id: -100123, message_thread_id: 2,
       api_url: "https://api.telegram.org"}
  wx: {type: webex, room_id: room1, bot_token_file: /etc/alertmanager/secrets/wx, api_url: "https://webexapis.com/v1/messages"}
  po: {type: pushover, user_key_file: /etc/alertmanager/secrets/po-user, token_file: /etc/alertmanager/secrets/po-token,
       device: phone}
  vo: {type: victorops, api_key_file: /etc/alertmanager/secrets/vo, routing_key: ops,
       api_url: "https://alert.victorops.com/integrations/generic/20131114/alert/"}
  jira: {type: jira, api_url: "https://jira.example.com", project: OPS, issue_type: Task, username: am,
         password_file: /etc/alertmanager/secrets/jira, resolve_transition: Resolve, reopen_transition: Reopen}
  rc: {type: rocketchat, api_url: "https://chat.example.com", channel: "#ops", token_file: /etc/alertmanager/secrets/rc,
       token_id_file: /etc/alertmanager/secrets/rc-id}
  inc: {type: incidentio, url: "https://api.incident.io/v2/alert_events/alertmanager/x",
        alert_source_token_file: /etc/alertmanager/secrets/inc}
  inc-file: {type: incidentio, url_file: /etc/alertmanager/secrets/inc-url, alert_source_token_file: /etc/alertmanager/secrets/inc}
  wc: {type: wechat, corp_id: ww1, agent_id: "1000003", api_secret_file: /etc/alertmanager/secrets/wc, to_user: ops,
       to_party: "2", to_tag: "3"}
  sns: {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:alerts", region: eu-west-1,
        role_arn: "arn:aws:iam::123456789012:role/alertmanager", profile: alerts, api_url: "https://sns.eu-west-1.amazonaws.com",
        subject: Alerts}
email:
  smarthost: smtp.example.com:587
  from: alerts@example.com
  auth_username: alerts
  auth_password_file: /etc/alertmanager/secrets/smtp
  require_tls: true
routing:
  default: ops-email
  group_by: [alertname, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  severity: {critical: [oncall-pagerduty], warning: [ops-email]}
  teams:
    payments: {critical: [oncall-pagerduty, payments-slack], warning: [payments-slack]}
  routes:
    - {matchers: ['alertname=~"Disk.*"'], receivers: [ops-opsgenie], continue: true, group_by: [alertname]}
  quiet_hours: {applies_to: warning, weekdays: "monday:friday", times: "09:00-18:00", timezone: UTC}
  inhibit: true
  watchdog: hook
stack:
  deploy: [compose, kubernetes]
  publish_address: 127.0.0.1
  prometheus:
    remote_write:
      - {name: mimir, url: "https://mimir.example.com/api/v1/push", kind: mimir, tenant: shop,
         headers: {X-Source: obsgen}, basic_auth: {username: shop, password_file: /etc/prometheus/secrets/mimir}}
      - {name: thanos, url: "https://thanos.example.com/api/v1/receive", kind: thanos,
         bearer_token_file: /etc/prometheus/secrets/thanos,
         tls: {ca_file: /etc/prometheus/secrets/ca.pem, cert_file: /etc/prometheus/secrets/c.pem,
               key_file: /etc/prometheus/secrets/k.pem, server_name: thanos.internal, min_version: TLS13}}
    replicas: 2
    replica_label: __replica__    # Mimir's and Thanos' remote_write: say which label both deduplicate by
    cluster_label: cluster
  alertmanager: {replicas: 1}
  grafana: {admin_user: admin, admin_password_file: /run/secrets/grafana, settings: {users: {default_theme: light}}}
  loki: {retention: 30d}
  fluentd:
    outputs: [loki, elasticsearch]
    elasticsearch: {host: elasticsearch, port: 9200, scheme: http, index_prefix: shop, user: fluentd,
                    password_file: /run/secrets/es}
  exporters: [node, {type: redis, target: "redis:6379"}, {type: postgres, dsn_file: /run/secrets/pg-dsn}]
  tracing: tempo
  kubernetes: {namespace: monitoring, prometheus_operator: false, release: kube-prometheus-stack,
               alertmanager_config_matcher_strategy: OnNamespace}
proof:
  accept_unproven: {CheckoutTimeoutLogs: a Loki ruler alert has no offline test runner}
"""


def problems(data: dict[str, Any]) -> list[str]:
    """What the models and the spec checks say about `data` (empty: a valid spec obsgen can resolve)."""
    try:
        spec = models.Spec.model_validate(data)
    except ValidationError as e:
        return [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors(include_url=False)]
    found = [f"{format_path(path)}: {message}" for path, message in check_spec(spec)]
    if not found:
        resolve(spec)
    return found


@cache
def base() -> dict[str, Any]:
    data = yaml.safe_load(BASE)
    assert isinstance(data, dict)
    return data


def _places(obj: Any, path: Path = ()) -> Iterator[tuple[BaseModel, Path]]:
    """Every model instance in a validated spec, with its path through the spec's data (by alias)."""
    if isinstance(obj, BaseModel):
        yield obj, path
        for name, info in type(obj).model_fields.items():
            yield from _places(getattr(obj, name), path + (info.alias or name,))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _places(item, path + (i,))
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _places(item, path + (key,))


@cache
def places() -> dict[str, list[tuple[Path, frozenset[str]]]]:
    """Model name -> the places of its instances in BASE, with the aliases BASE sets there."""
    out: dict[str, list[tuple[Path, frozenset[str]]]] = {}
    for obj, path in _places(models.Spec.model_validate(base())):
        fields = type(obj).model_fields
        given = frozenset(fields[n].alias or n for n in obj.model_fields_set)
        out.setdefault(type(obj).__name__, []).append((path, given))
    return out


def _with(data: dict[str, Any], path: Path, alias: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for part in path:
        node = node[part]
    node[alias] = copy.deepcopy(value)
    return out


def test_base_is_a_valid_spec_with_every_model_in_it() -> None:
    assert problems(base()) == []
    jsonschema.Draft202012Validator(built()).validate(base())
    absent = sorted(set(_classes()) - set(places()))
    assert not absent, f"add these models to BASE so their examples can be tried in a spec: {absent}"


@pytest.mark.parametrize(("model", "alias", "where", "values"), EXAMPLES, ids=EXAMPLE_IDS)
def test_example_holds_in_a_whole_spec(model: str, alias: str, where: str, values: list[Any]) -> None:
    """The example, put into BASE where the field is (first where BASE sets it), is a spec obsgen accepts."""
    spots = sorted(places().get(model, []), key=lambda p: alias not in p[1])
    assert spots, f"{model} is not in BASE"
    prop = _properties(model)[alias]
    said: list[str] = []
    for path, _ in spots:
        for value in values:
            for form in _forms(prop, value):
                found = problems(_with(base(), path, alias, form))
                if not found:
                    return
                said.append(f"{format_path(path + (alias,))} = {form!r}: {'; '.join(found)}")
    pytest.fail(f"{model}.{alias} {where} is refused wherever BASE has a {model}:\n  " + "\n  ".join(said))
