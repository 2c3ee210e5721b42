"""Sentences for pydantic's structural errors: what the field expects, what it got, and how to fix it.

pydantic reports one error per union branch, names types and regexes, and puts branch tags into its
locations. Here every error is placed by walking its location through the model classes alongside the
user's data, so each one knows the type expected at its place, the model whose field it is (for
"did you mean" among that model's fields) and every union it passed. A union's branch errors become one
message: the branch the value's shape fits (a mapping for a model, a list for a list, ...) speaks for
the union, or, when no branch fits, one message names everything the union accepts.

What a pattern, a literal or a model means to a person is kept here, keyed by the pattern string, the
literal's values or the model's name, so the models stay free of message text.
"""

from __future__ import annotations

import difflib
import re
import types
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from . import models
from .errors import Path

__all__ = ["structural_problems", "did_you_mean", "PATTERNS"]


# --------------------------------------------------------------------------- quoting


def _q(value: Any) -> str:
    """A value or name as a message quotes it: in backticks, cut when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    if "`" in text or not text.isprintable():
        return repr(text)
    return f"`{text}`"


def _given(value: Any) -> str:
    """What the user wrote, by its shape: `a list`, `the number 15`, `the text `abc``."""
    if isinstance(value, dict):
        return "an empty mapping" if not value else "a mapping"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, bool):
        return _q(value)
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if value is None:
        return "an empty value"
    if isinstance(value, str):
        return "an empty text" if not value else f"the text {_q(value)}"
    return _q(value)


def _alternatives(values: list[str], last: str = "or") -> str:
    """`a`, `b` or `c`."""
    quoted = [_q(v) for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + f" {last} " + quoted[-1]


def _join(phrases: list[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def did_you_mean(word: Any, options: list[str]) -> str | None:
    """The closest of `options` to `word`, when one is close enough to be a likely typo."""
    if not isinstance(word, str) or not options:
        return None
    by_lower = {o.lower(): o for o in options}
    if word.lower() in by_lower and by_lower[word.lower()] != word:
        return by_lower[word.lower()]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = [by_lower[c] for c in difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)]
    return close[0] if close and close[0] != word else None


def _suggest(word: Any, options: list[str]) -> str:
    best = did_you_mean(word, options)
    return f"; did you mean {_q(best)}?" if best else ""


# --------------------------------------------------------------------------- patterns


def _slugify(text: str) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.strip().lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)
    return s[:63]


def _label_name(text: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9_]", "_", text)
    return "_" + s if s[:1].isdigit() else s


def _metric_name(text: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9_:]", "_", text)
    return "_" + s if s[:1].isdigit() else s


def _weekdays(text: str) -> str:
    s = text.strip().lower().replace(" to ", ":").replace("-", ":").replace(" ", "")
    return s


def _times(text: str) -> str:
    m = re.fullmatch(r"\s*(\d{1,2})(?::(\d\d))?\s*-\s*(\d{1,2})(?::(\d\d))?\s*", text)
    if not m:
        return text
    h1, m1, h2, m2 = m.groups()
    return f"{int(h1):02d}:{m1 or '00'}-{int(h2):02d}:{m2 or '00'}"


def _smarthost(text: str) -> str:
    return text.strip() + ":587" if ":" not in text else text.replace(" ", "")


@dataclass(frozen=True)
class Pattern:
    """What a pattern of models.py means: a noun for "expected ...", the rule, and a likely fix."""

    noun: str  # "a name like `checkout`"
    what: str  # "is not a valid name" (after the quoted value)
    rule: str  # how to write one, with an example
    fix: Any = None  # value -> a corrected value, offered when it matches the pattern


PATTERNS: dict[str, Pattern] = {
    models.SLUG_RE: Pattern(
        "a name like `checkout`", "is not a valid name",
        "use lower-case letters, digits and dashes, starting with a letter, at most 63 characters", _slugify),
    models.LABEL_NAME_RE: Pattern(
        "a label name like `team`", "is not a Prometheus label name",
        "use letters, digits and underscores, not starting with a digit", _label_name),
    models.METRIC_NAME_RE: Pattern(
        "a metric name like `job:http_requests:rate5m`", "is not a Prometheus metric name",
        "use letters, digits, underscores and colons, not starting with a digit", _metric_name),
    r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$": Pattern(
        "a Kubernetes label key like `app.kubernetes.io/name`", "is not a Kubernetes label key",
        "write an optional lower-case DNS prefix ending in `/`, then letters, digits, `-`, `_` and `.`, "
        "starting and ending with a letter or digit, e.g. `app.kubernetes.io/name` or `tier`"),
    r"^[^@\s]+@[^@\s]+$": Pattern(
        "an e-mail address like `ops@example.com`", "is not an e-mail address",
        "write one address with a single `@` and no spaces, e.g. `ops@example.com`"),
    r"^[^:\s]+:\d+$": Pattern(
        "an SMTP server as `host:port`, like `smtp.example.com:587`", "is not `host:port`",
        "give the SMTP server and its port, e.g. `smtp.example.com:587`", _smarthost),
    r"^/": Pattern(
        "an absolute file path like `/run/secrets/token`", "is not an absolute path",
        "a `*_file` field names the file that holds the secret by its absolute path, starting with `/`, "
        "e.g. `/run/secrets/slack-url`"),
    r"^[a-z]+(:[a-z]+)?(,[a-z]+(:[a-z]+)?)*$": Pattern(
        "weekdays like `monday:friday`", "is not a list of weekdays",
        "write lower-case day names, a range as `first:last`, several separated by commas, "
        "e.g. `monday:friday` or `monday:friday,sunday`", _weekdays),
    r"^\d\d:\d\d-\d\d:\d\d$": Pattern(
        "a time range like `09:00-18:00`", "is not a time range",
        "write the start and end as two-digit hours and minutes, `HH:MM-HH:MM`, e.g. `09:00-18:00`", _times),
    r"^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$": Pattern(
        "a Fluentd tag like `logs.checkout`", "is not a Fluentd tag",
        "join parts of letters, digits, `_` and `-` with single dots, e.g. `logs.checkout`",
        lambda t: re.sub(r"\.{2,}", ".", re.sub(r"[^a-zA-Z0-9_.-]+", "_", t)).strip(".")),
    r"^[A-Za-z0-9.-]+$": Pattern(
        "a host name like `mimir.internal`", "is not a host name",
        "write the name the certificate carries: letters, digits, `.` and `-`, e.g. `mimir.internal`"),
    r"^[A-Za-z0-9._+-]{1,15}$": Pattern(
        "a process name like `postgres`", "is not a process name",
        "give the name the kernel shows (comm): at most 15 letters, digits, `.`, `_`, `+` and `-`, e.g. "
        "`postgres`"),
    models.SNS_TOPIC_RE: Pattern(
        "an SNS topic ARN like `arn:aws:sns:eu-west-1:123456789012:alerts`", "is not an SNS topic ARN",
        "write `arn:aws:sns:<region>:<12-digit account>:<topic name>`, e.g. "
        "`arn:aws:sns:eu-west-1:123456789012:alerts`"),
    models.IAM_ROLE_RE: Pattern(
        "an IAM role ARN like `arn:aws:iam::123456789012:role/alertmanager`", "is not an IAM role ARN",
        "write `arn:aws:iam::<12-digit account>:role/<name>`, e.g. `arn:aws:iam::123456789012:role/alertmanager`"),
    r"^[a-z]{2}(-[a-z]+)+-\d$": Pattern(
        "an AWS region like `eu-west-1`", "is not an AWS region",
        "write the region's code, e.g. `eu-west-1` or `us-east-2`"),
    r"^[a-z][a-z0-9_.]*$": Pattern(
        "a grafana.ini name like `security` or `allow_embedding`", "is not a grafana.ini section or key name",
        "use lower-case letters, digits, `_` and `.`, starting with a letter, e.g. `security` or "
        "`auth.anonymous`", lambda t: re.sub(r"[^a-z0-9_.]", "_", t.strip().lower())),
}


def _pattern_message(pattern: str, value: Any, key: bool) -> str:
    p = PATTERNS.get(pattern)
    subject = f"the key {_q(value)}" if key else _q(value)
    if p is None:  # a pattern without a sentence: say so without showing the regex
        return f"{subject} is not in the form this field takes (`obsgen schema` describes it)"
    text = f"{subject} {p.what}: {p.rule}"
    if p.fix is not None and isinstance(value, str):
        fixed = p.fix(value)
        if fixed and fixed != value and re.search(pattern, fixed):
            text += f"; did you mean {_q(fixed)}?"
    return text


# --------------------------------------------------------------------------- what a type means

# Literals by their values: what one of them is called.
_LITERAL_NOUNS: dict[frozenset[Any], str] = {
    frozenset(get_args(models.Severity)): "a severity",
    frozenset(get_args(models.LogOutput)): "a log output",
    frozenset(get_args(models.DeployTarget)): "a deploy target",
    frozenset(get_args(models.Indicator)): "an indicator",
    frozenset(get_args(models.ExporterType)): "an exporter type",
    frozenset({"availability", "latency", "latency_native", "bool_gauge", "events", "ratio"}): "an SLI type",
    frozenset({"http", "https"}): "a scheme",
    frozenset({"above", "below"}): "a direction",
    frozenset({"json", "text"}): "a log format",
    frozenset({"mimir", "cortex", "thanos", "generic"}): "a remote-write kind",
    frozenset({"none", "jaeger", "tempo"}): "a tracing backend",
    frozenset({"OnNamespace", "OnNamespaceExceptForAlertmanagerNamespace", "None"}): "a matcher strategy",
}

# Models by name: an example of one, in YAML flow style.
_MODEL_EXAMPLES: dict[str, str] = {
    "Spec": "{version: 1, project: {name: shop}, ...}",
    "Project": "{name: shop}",
    "Defaults": "{scrape_interval: 15s}",
    "MetricConventions": "{status_label: code}",
    "MetricOverrides": "{status_label: code}",
    "SloWindows": "{page_fast: [1h, 5m, 2.0]}",
    "LatencyClass": "{threshold: 250ms, objective: 99}",
    "SloClass": "{availability: 99.9}",
    "SliEvents": "{errors: ..., total: ...}",
    "Sli": "{type: availability}",
    "SloAlerting": "{page: true, ticket: false}",
    "Slo": "{name: availability, objective: 99.9, sli: {type: availability}}",
    "KubernetesScrape": "{namespace: shop, pod_labels: {app: checkout}}",
    "Scrape": '{static: ["checkout:8080"]}',
    "LevelDurations": "{warning: 15m, critical: 5m}",
    "Threshold": "{indicator: error_rate, warning: 1%, critical: 5%}",
    "InputSeries": "{series: 'queue_depth{job=\"orders\"}', values: 0+10x30}",
    "ExpectedAlert": '{exp_labels: {instance: "app:8000"}}',
    "AlertCheck": "{eval_time: 10m, exp_alerts: []}",
    "AlertTest": "{input_series: [...], alert_rule_test: [{eval_time: 10m}]}",
    "Alert": "{name: CheckoutQueueBacklog, expr: queue_depth > 100, summary: ...}",
    "LogSource": "{tail: /var/log/checkout/app.log}",
    "LogAlert": "{name: CheckoutPanics, logql: ..., above: 0, summary: ...}",
    "Logs": "{source: {tail: /var/log/checkout/app.log}}",
    "HealthCheck": "{http: http://checkout:8080/healthz}",
    "Panel": "{title: Active users, expr: sum(active_users)}",
    "Service": "{name: checkout, scrape: {static: [\"checkout:8080\"]}}",
    "SlackChannel": "{type: slack, channel: '#ops', api_url_file: /run/secrets/slack-url}",
    "EmailChannel": "{type: email, to: [ops@example.com]}",
    "PagerDutyChannel": "{type: pagerduty, routing_key_file: /run/secrets/pagerduty-key}",
    "WebhookChannel": "{type: webhook, url: http://hook:9000/}",
    "OpsgenieChannel": "{type: opsgenie, api_key_file: /run/secrets/opsgenie-key}",
    "MsTeamsChannel": "{type: msteams, webhook_url_file: /run/secrets/teams-url}",
    "MsTeamsV2Channel": "{type: msteamsv2, webhook_url_file: /run/secrets/teams-workflow-url}",
    "DiscordChannel": "{type: discord, webhook_url_file: /run/secrets/discord-url}",
    "MattermostChannel": "{type: mattermost, webhook_url_file: /run/secrets/mattermost-url}",
    "TelegramChannel": "{type: telegram, bot_token_file: /run/secrets/telegram-token, chat_id: -1001234567890}",
    "WebexChannel": "{type: webex, room_id: Y2lzY29z..., bot_token_file: /run/secrets/webex-token}",
    "PushoverChannel": "{type: pushover, user_key_file: /run/secrets/pushover-user, token_file: /run/secrets/pushover-token}",
    "VictorOpsChannel": "{type: victorops, api_key_file: /run/secrets/victorops-key, routing_key: ops}",
    "JiraChannel": "{type: jira, api_url: https://example.atlassian.net, project: OPS, issue_type: Bug, "
                   "username: alerts@example.com, password_file: /run/secrets/jira-token}",
    "RocketChatChannel": "{type: rocketchat, api_url: https://chat.example.com, channel: '#ops', "
                         "token_file: /run/secrets/rc-token, token_id_file: /run/secrets/rc-token-id}",
    "IncidentIoChannel": "{type: incidentio, url_file: /run/secrets/incidentio-url, "
                         "alert_source_token_file: /run/secrets/incidentio-token}",
    "WeChatChannel": "{type: wechat, corp_id: ww123, agent_id: '1000002', api_secret_file: /run/secrets/wechat-secret}",
    "SnsChannel": "{type: sns, topic_arn: 'arn:aws:sns:eu-west-1:123456789012:payments-alerts'}",
    "Email": "{smarthost: smtp.example.com:587, from: alerts@example.com}",
    "QuietHours": '{applies_to: warning, times: "09:00-18:00"}',
    "Route": "{matchers: ['team=\"data\"'], receivers: [ops-email]}",
    "Routing": "{default: ops-email}",
    "BasicAuth": "{username: shop, password_file: /run/secrets/mimir-password}",
    "RemoteWrite": "{name: mimir, url: https://mimir.example.com/api/v1/push}",
    "PrometheusStack": "{retention: 15d}",
    "AlertmanagerStack": "{replicas: 3}",
    "GrafanaStack": "{admin_user: admin}",
    "LokiStack": "{retention: 30d}",
    "Elasticsearch": "{host: elasticsearch, port: 9200}",
    "FluentdStack": "{outputs: [loki]}",
    "Exporter": "{type: redis, target: redis:6379}",
    "KubernetesStack": "{namespace: monitoring}",
    "Stack": "{deploy: [compose]}",
    "Proof": "{accept_unproven: {CheckoutLogErrors: no offline test runner for LogQL}}",
}

# Fields by (model, field as written): an example value, for a missing field or a value of the wrong shape.
_FIELD_EXAMPLES: dict[tuple[str, str], str] = {
    ("Spec", "version"): "1",
    ("Spec", "project"): "{name: shop}",
    ("Spec", "services"): "[{name: checkout}]",
    ("Spec", "channels"): "{ops-email: {type: email, to: [ops@example.com]}}",
    ("Spec", "routing"): "{default: ops-email}",
    ("Spec", "slo_classes"): "{high: {availability: 99.9}}",
    ("Project", "name"): "shop",
    ("Project", "external_labels"): "{cluster: eu-1}",
    ("Service", "name"): "checkout",
    ("Service", "labels"): "{tier: frontend}",
    ("Scrape", "static"): '["checkout:8080"]',
    ("Scrape", "labels"): "{tier: frontend}",
    ("KubernetesScrape", "namespace"): "shop",
    ("KubernetesScrape", "pod_labels"): "{app.kubernetes.io/name: checkout}",
    ("Slo", "name"): "availability",
    ("Slo", "objective"): "99.9",
    ("Slo", "sli"): "{type: availability}",
    ("Sli", "type"): "availability",
    ("SliEvents", "errors"): 'sum(rate(http_requests_total{code="500"}[{{window}}]))',
    ("SliEvents", "total"): "sum(rate(http_requests_total[{{window}}]))",
    ("LatencyClass", "threshold"): "250ms",
    ("LatencyClass", "objective"): "99",
    ("Alert", "name"): "CheckoutQueueBacklog",
    ("Alert", "expr"): "queue_depth > 100",
    ("Alert", "summary"): "The checkout queue is backing up.",
    ("Alert", "labels"): "{tier: frontend}",
    ("AlertCheck", "eval_time"): "10m",
    ("AlertTest", "alert_rule_test"): "[{eval_time: 10m, exp_alerts: []}]",
    ("InputSeries", "series"): "'queue_depth{job=\"orders\"}'",
    ("InputSeries", "values"): "0+10x30",
    ("ExpectedAlert", "exp_labels"): '{instance: "app:8000"}',
    ("LogAlert", "name"): "CheckoutPanics",
    ("LogAlert", "logql"): 'sum(count_over_time({service="checkout"} |= "panic" [5m]))',
    ("LogAlert", "above"): "0",
    ("LogAlert", "summary"): "Checkout panics.",
    ("Logs", "source"): "{tail: /var/log/checkout/app.log}",
    ("Logs", "labels"): "[level]",
    ("HealthCheck", "http"): "http://checkout:8080/healthz",
    ("HealthCheck", "tcp"): "postgres:5432",
    ("HealthCheck", "dns"): "ns1.internal:53",
    ("HealthCheck", "query_name"): "checkout.internal",
    ("Panel", "title"): "Active users",
    ("Panel", "expr"): "sum(active_users)",
    ("SlackChannel", "channel"): "'#ops'",
    ("SlackChannel", "api_url_file"): "/run/secrets/slack-url",
    ("EmailChannel", "to"): "[ops@example.com]",
    ("PagerDutyChannel", "routing_key_file"): "/run/secrets/pagerduty-key",
    ("OpsgenieChannel", "api_key_file"): "/run/secrets/opsgenie-key",
    ("MsTeamsChannel", "webhook_url_file"): "/run/secrets/teams-url",
    ("MsTeamsV2Channel", "webhook_url_file"): "/run/secrets/teams-workflow-url",
    ("DiscordChannel", "webhook_url_file"): "/run/secrets/discord-url",
    ("MattermostChannel", "webhook_url_file"): "/run/secrets/mattermost-url",
    ("TelegramChannel", "bot_token_file"): "/run/secrets/telegram-token",
    ("TelegramChannel", "chat_id"): "-1001234567890",
    ("WebexChannel", "room_id"): "Y2lzY29z...",
    ("WebexChannel", "bot_token_file"): "/run/secrets/webex-token",
    ("PushoverChannel", "user_key_file"): "/run/secrets/pushover-user",
    ("PushoverChannel", "token_file"): "/run/secrets/pushover-token",
    ("VictorOpsChannel", "api_key_file"): "/run/secrets/victorops-key",
    ("VictorOpsChannel", "routing_key"): "ops",
    ("JiraChannel", "api_url"): "https://example.atlassian.net",
    ("JiraChannel", "project"): "OPS",
    ("JiraChannel", "issue_type"): "Bug",
    ("JiraChannel", "username"): "alerts@example.com",
    ("JiraChannel", "password_file"): "/run/secrets/jira-token",
    ("RocketChatChannel", "api_url"): "https://chat.example.com",
    ("RocketChatChannel", "channel"): "'#ops'",
    ("RocketChatChannel", "token_file"): "/run/secrets/rc-token",
    ("RocketChatChannel", "token_id_file"): "/run/secrets/rc-token-id",
    ("IncidentIoChannel", "alert_source_token_file"): "/run/secrets/incidentio-token",
    ("WeChatChannel", "corp_id"): "ww123",
    ("WeChatChannel", "agent_id"): "'1000002'",
    ("WeChatChannel", "api_secret_file"): "/run/secrets/wechat-secret",
    ("SnsChannel", "topic_arn"): "'arn:aws:sns:eu-west-1:123456789012:payments-alerts'",
    ("Email", "smarthost"): "smtp.example.com:587",
    ("Email", "from"): "alerts@example.com",
    ("Routing", "default"): "ops-email",
    ("Routing", "group_by"): "[alertname, service]",
    ("Routing", "severity"): "{critical: [oncall]}",
    ("Routing", "teams"): "{payments: {critical: [payments-slack]}}",
    ("Route", "matchers"): "['team=\"data\"']",
    ("Route", "receivers"): "[ops-email]",
    ("QuietHours", "applies_to"): "[warning, info]",
    ("BasicAuth", "username"): "shop",
    ("BasicAuth", "password_file"): "/run/secrets/mimir-password",
    ("RemoteWrite", "name"): "mimir",
    ("RemoteWrite", "url"): "https://mimir.example.com/api/v1/push",
    ("RemoteWrite", "headers"): "{X-Source: shop}",
    ("Exporter", "type"): "redis",
    ("Stack", "deploy"): "[compose, kubernetes]",
    ("Stack", "exporters"): "[node, {type: redis, target: redis:6379}]",
    ("SloWindows", "page_fast"): "[1h, 5m, 2.0]",
    ("SloWindows", "page_slow"): "[6h, 30m, 5.0]",
    ("SloWindows", "ticket_fast"): "[1d, 2h, 10.0]",
    ("SloWindows", "ticket_slow"): "[3d, 6h, 10.0]",
    ("FluentdStack", "outputs"): "[loki, elasticsearch]",
    ("GrafanaStack", "settings"): "{security: {allow_embedding: true}}",
    ("Proof", "accept_unproven"): "{CheckoutLogErrors: no offline test runner for LogQL}",
}

# What a required field is for, where its name alone does not say.
_FIELD_HINTS: dict[tuple[str, str], str] = {
    ("Routing", "default"): "the channel that gets every alert no other route takes",
    ("Sli", "type"): "one of `availability`, `latency`, `events` or `ratio` (inferred when the SLI has "
                     "`events`, `expr` or `threshold`)",
    ("Spec", "version"): "the spec format's version; only version 1 exists",
    ("Spec", "channels"): "where alerts are sent, by name",
    ("Slo", "objective"): "the percent of good events, strictly between 0 and 100",
    ("AlertTest", "alert_rule_test"): "the checks of the test: when to look and which alerts fire then",
}

# For a list or mapping that must not be empty: what to put into it.
_AT_LEAST_ONE: dict[str, str] = {
    "services": "service", "channels": "channel", "to": "e-mail address", "receivers": "receiver",
    "matchers": "matcher", "alert_rule_test": "check (`eval_time` with the `exp_alerts` expected then)",
}


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """`Annotated[X, a, b]` -> (X, [a, b, ...]), with the constraints of FieldInfo metadata flattened in."""
    meta: list[Any] = []
    while get_origin(tp) is Annotated:
        meta.extend(tp.__metadata__)
        tp = tp.__origin__
    flat: list[Any] = []
    for m in meta:
        flat.append(m)
        if isinstance(m, FieldInfo):
            flat.extend(m.metadata)
    return tp, flat


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _members(tp: Any) -> list[Any]:
    return [a for a in get_args(tp) if a is not type(None)]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _pattern_of(meta: list[Any]) -> str | None:
    for m in meta:
        p = getattr(m, "pattern", None)
        if isinstance(p, str):
            return p
    return None


def _validators(meta: list[Any]) -> set[Any]:
    return {getattr(m, "func", None) for m in meta}


def _discriminator(meta: list[Any]) -> str | None:
    for m in meta:
        d = getattr(m, "discriminator", None)
        if isinstance(d, str):
            return d
    return None


def _literal_phrase(values: tuple[Any, ...]) -> str:
    alts = _alternatives([str(v) for v in values])
    noun = _LITERAL_NOUNS.get(frozenset(values))
    if len(values) == 1:
        return alts
    return f"{noun} ({alts})" if noun else f"one of {alts}"


def _model_phrase(model: type[BaseModel], in_union: bool = False) -> str:
    example = _MODEL_EXAMPLES.get(model.__name__)
    if example:
        return f"`{example}`" if in_union else f"a mapping like `{example}`"
    names = ", ".join(f"`{n}`" for n in list(_fields(model))[:4])
    return f"a mapping with fields such as {names}"


def describe(tp: Any, in_union: bool = False) -> str:
    """What a value of type `tp` is, as a noun phrase: `a duration like `5m``."""
    if tp is None:
        return "a different value"
    base, meta = _unwrap(tp)
    funcs = _validators(meta)
    if models._quantity in funcs:
        return "a number, a percentage like `0.5%` or a quantity like `250ms`"
    if models._duration in funcs:
        return "a duration like `5m`"
    pattern = _pattern_of(meta)
    if pattern is not None and pattern in PATTERNS:
        return PATTERNS[pattern].noun
    if _is_union(base):
        members = _members(base)
        if len(members) == 1:
            return describe(members[0], in_union)
        if all(_is_model(m) and issubclass(m, models._Channel) for m in members):
            return "a channel like `{type: email, to: [ops@example.com]}`"
        lists = [m for m in members if get_origin(_unwrap(m)[0]) is list]
        if len(members) == 2 and len(lists) == 1:  # `X | list[X]`
            item = get_args(_unwrap(lists[0])[0])[0]
            other = next(m for m in members if m is not lists[0])
            if item == other:
                return f"{describe(other, True)} or a list of them"
        return _join([describe(m, True) for m in members])
    if _is_model(base):
        return _model_phrase(base, in_union)
    origin = get_origin(base)
    if origin is Literal:
        return _literal_phrase(get_args(base))
    if origin is list:
        return "a list"
    if origin is tuple:
        args = get_args(base)
        return f"a list of {len(args)} items" if Ellipsis not in args else "a list"
    if origin is dict:
        return "a mapping"
    if base is bool:
        return "a boolean (`true` or `false`)" if in_union else "`true` or `false`"
    return {str: "text", int: "a whole number", float: "a number"}.get(base, "a value")


def _fits(tp: Any, value: Any) -> bool:
    """Whether the value has the shape a type takes (a mapping for a model, text for a string, ...)."""
    base, _ = _unwrap(tp)
    if _is_union(base):
        return any(_fits(m, value) for m in get_args(base))
    if base is type(None):
        return value is None
    if _is_model(base) or get_origin(base) is dict:
        return isinstance(value, dict)
    if get_origin(base) in (list, tuple):
        return isinstance(value, list)
    if get_origin(base) is Literal:
        return any(type(a) is type(value) for a in get_args(base))
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is str:
        return isinstance(value, str)
    return False


# --------------------------------------------------------------------------- walking a location


@cache
def _fields(model: type[BaseModel]) -> dict[str, tuple[str, Any]]:
    """Fields by the name the spec writes (the alias where there is one): (python name, type)."""
    hints = get_type_hints(model, include_extras=True)
    out: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        tp = hints.get(name, info.annotation)
        if info.metadata:  # a field's own constraints (pattern, bounds) live on its FieldInfo
            tp = Annotated[(tp, *info.metadata)]
        out[info.alias or name] = (name, tp)
    return out


def _field(model: type[BaseModel], key: Any) -> tuple[str, Any] | None:
    fields = _fields(model)
    if key in fields:
        return key, fields[key][1]
    for written, (name, tp) in fields.items():
        if name == key:
            return written, tp
    return None


def _tag_kind(tag: str) -> str:
    """What kind of type a union branch tag names: `function-after[_duration(), str]` -> `str`."""
    if tag.startswith(("function-", "nullable[", "default[", "lax-or-strict[")):
        inner = tag[tag.index("[") + 1:-1]
        return _tag_kind(inner.rsplit(", ", 1)[-1])
    for prefix in ("literal", "list", "tuple", "dict", "set"):
        if tag.startswith(prefix + "["):
            return prefix
    if tag.startswith("constrained-"):
        return tag[len("constrained-"):]
    return tag


def _type_kind(tp: Any) -> str:
    base, _ = _unwrap(tp)
    if _is_model(base):
        return base.__name__
    origin = get_origin(base)
    if origin is Literal:
        return "literal"
    if origin in (list, tuple, dict, set):
        return origin.__name__
    return getattr(base, "__name__", str(base))


@dataclass
class _Union:
    index: int  # where the branch tag is in the location
    path: Path  # the union's place in the data
    tp: Any  # the union type (with its Annotated metadata)
    value: Any  # the value given there
    branch: int  # which member the error belongs to


@dataclass
class _Where:
    path: Path
    tp: Any = None  # the type expected where the error is; None when unknown
    model: type[BaseModel] | None = None  # the model the error's field belongs to
    parent: Path = ()  # the data path of that model
    key: bool = False  # the error is about a mapping key, not its value
    value: Any = None
    unions: list[_Union] = field(default_factory=list)


_MISSING = object()


def _walk(loc: tuple[Any, ...], data: Any) -> _Where:
    """Follow a pydantic location through the model types and the data side by side."""
    path: list[str | int] = []
    node: Any = data
    tp: Any = models.Spec
    model: type[BaseModel] | None = None
    parent: Path = ()
    key = False
    key_tp: Any = None  # the key type of the mapping last stepped into
    unions: list[_Union] = []
    i = 0
    while i < len(loc):
        elem = loc[i]
        if elem == "[key]":  # the error is about the key just passed, whatever its value's type
            tp, key = key_tp, True
            i += 1
            continue
        base, meta = _unwrap(tp) if tp is not None else (None, [])
        if base is not None and _is_union(base):
            members = _members(base)
            if len(members) == 1:  # `X | None`: pydantic puts no tag into the location
                tp = members[0]
                continue
            disc = _discriminator(meta)
            chosen = None
            if disc is not None:
                for m in members:
                    mb, _ = _unwrap(m)
                    if _is_model(mb) and elem in get_args(_fields(mb)[disc][1]):
                        chosen = m
            else:
                kind = _tag_kind(str(elem))
                for b, m in enumerate(members):
                    if _type_kind(m) == kind:
                        chosen = m
                        unions.append(_Union(i, tuple(path), tp, None if node is _MISSING else node, b))
                        break
            tp = chosen  # None: a tag not understood; the rest is placed by the data alone
            i += 1
            continue
        if base is not None and _is_model(base) and isinstance(elem, str):
            model, parent = base, tuple(path)
            found = _field(base, elem)
            tp = found[1] if found else None
            written = elem if not isinstance(node, dict) or elem in node or found is None else (
                found[0] if found[0] in node else elem)
            path.append(written)
            node = node.get(written, _MISSING) if isinstance(node, dict) else _MISSING
        elif base is not None and get_origin(base) in (list, tuple) and isinstance(elem, int):
            args = get_args(base)
            tp = args[0] if get_origin(base) is list or Ellipsis in args else (args[elem] if elem < len(args) else None)
            path.append(elem)
            node = node[elem] if isinstance(node, list) and 0 <= elem < len(node) else _MISSING
        elif base is not None and get_origin(base) is dict:
            key_tp, tp = get_args(base)
            path.append(elem)
            node = node.get(elem, _MISSING) if isinstance(node, dict) else _MISSING
        else:  # a place the types do not explain: follow the data
            tp = key_tp = None
            if isinstance(node, dict) and elem in node:
                path.append(elem)
                node = node[elem]
            elif isinstance(node, dict) and isinstance(elem, str) and elem.endswith("_") and elem[:-1] in node:
                path.append(elem[:-1])  # python names for `for`, `class`, `from`, `continue`
                node = node[elem[:-1]]
            elif isinstance(node, list) and isinstance(elem, int):
                path.append(elem)
                node = node[elem] if 0 <= elem < len(node) else _MISSING
        i += 1
    return _Where(tuple(path), tp, model, parent, key, None if node is _MISSING else node, unions)


# --------------------------------------------------------------------------- one error, one sentence


@dataclass
class _Msg:
    path: Path
    text: str
    missing: str | None = None  # the field a `missing` error names
    unknown: str | None = None  # the unknown field of an `extra_forbidden` error ...
    suggestion: str | None = None  # ... and the allowed field it is closest to
    parent: Path = ()


_TYPE_ERRORS = frozenset({
    "string_type", "int_type", "float_type", "bool_type", "list_type", "dict_type", "tuple_type", "set_type",
    "model_type", "model_attributes_type", "dataclass_type", "int_parsing", "float_parsing", "bool_parsing",
    "int_from_float", "string_sub_type", "bytes_type", "none_required", "is_instance_of", "iterable_type",
    "mapping_type", "decimal_type", "decimal_parsing", "number_type",
})


def _example(where: _Where, name: Any) -> str | None:
    if where.model is None:
        return None
    return _FIELD_EXAMPLES.get((where.model.__name__, str(name)))


def _first_channel(data: Any) -> str | None:
    channels = data.get("channels") if isinstance(data, dict) else None
    if isinstance(channels, dict) and channels:
        first = next(iter(channels))
        return first if isinstance(first, str) else None
    return None


def _plain(tp: Any) -> Any:
    """`X | None` -> X: what a value must be when one is given."""
    base, _ = _unwrap(tp)
    if _is_union(base) and len(_members(base)) == 1:
        return _members(base)[0]
    return tp


def _type_message(where: _Where, value: Any, kind: str) -> str:
    expected = describe(where.tp) if where.tp is not None else {
        "string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
        "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
        "bool_type": "`true` or `false`", "bool_parsing": "`true` or `false`", "list_type": "a list",
        "tuple_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
        "model_attributes_type": "a mapping"}.get(kind, "a different value")
    text = f"expected {expected}, got {_given(value)}"
    base, meta = _unwrap(_plain(where.tp)) if where.tp is not None else (None, [])
    scalar = isinstance(value, (str, int, float, bool)) and value != ""
    name = where.path[-1] if where.path else None
    if models._duration in _validators(meta) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return text + f"; a duration needs a unit, e.g. `{value}s` or `{value}m`"
    if get_origin(base) is list and scalar and _fits(get_args(base)[0], value):
        return text + f"; a list of one is written `[{value if not isinstance(value, bool) else _q(value)[1:-1]}]`"
    if base is str and isinstance(value, (int, float, bool)):
        shown = _q(value)[1:-1]
        pattern = _pattern_of(meta)
        # YAML read a number or boolean where text was meant: quoting keeps it text, if that would do
        if not _validators(meta) - {None, models._label_value} and (pattern is None or re.search(pattern, shown)):
            return text + f"; quote it to make it text: `\"{shown}\"`"
    example = _example(where, name)
    if example is not None and isinstance(name, str) and "`" not in expected:
        return text + f", e.g. `{name}: {example}`"
    return text


def _list_len(data: Any, path: Path) -> int | None:
    node = data
    for elem in path:
        try:
            node = node[elem]
        except (KeyError, IndexError, TypeError):
            return None
    return len(node) if isinstance(node, list) else None


def _tuple_of(where: _Where) -> Any:
    """The tuple type whose item is missing (the walk went on to the item's type)."""
    if where.model is None or len(where.path) < 2:
        return None
    found = _field(where.model, where.path[-2])
    return _plain(found[1]) if found else None


def _bound(where: _Where, err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    value = err.get("input")
    words = {"greater_than_equal": ("greater than or equal to", "ge"), "less_than_equal": ("less than or equal to", "le"),
             "greater_than": ("greater than", "gt"), "less_than": ("less than", "lt")}
    phrase, key = words[err["type"]]
    return f"must be {phrase} {ctx.get(key)}, not {value}"


def _message(err: dict[str, Any], where: _Where, data: Any) -> _Msg:
    kind: str = err["type"]
    msg: str = err.get("msg", "")
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    path = where.path
    name = path[-1] if path else None
    if kind == "extra_forbidden":
        allowed = list(_fields(where.model)) if where.model else []
        best = did_you_mean(name, allowed)
        if best:
            text = f"unknown field {_q(name)}; did you mean {_q(best)}?"
        elif allowed:
            text = f"unknown field {_q(name)}; the fields here are {', '.join(allowed)}"
        else:
            text = f"unknown field {_q(name)} (`obsgen schema` lists every field)"
        return _Msg(path, text, unknown=str(name), suggestion=best, parent=where.parent)
    if kind == "missing" and isinstance(name, int):  # a tuple too short: say so at the tuple
        owner = path[-2] if len(path) > 1 else None
        example = _example(where, owner)
        given = _list_len(data, path[:-1])
        return _Msg(path[:-1], f"expected {describe(_tuple_of(where))}"
                               + (f" like `{example}`" if example else "")
                               + (f", got {given} item{'s' if given != 1 else ''}" if given is not None else ""))
    if kind == "missing":
        hint = _FIELD_HINTS.get((where.model.__name__, str(name))) if where.model else None
        example = _example(where, name)
        if where.model is models.Routing and name == "default":
            example = _first_channel(data) or example
        text = f"missing required field {_q(name)}"
        if hint:
            text += f": {hint}"
        elif where.tp is not None and example is None:
            text += f": {describe(where.tp)}"
        if example is not None:
            text += f", e.g. `{name}: {example}`"
        return _Msg(path, text, missing=str(name), parent=where.parent)
    if kind == "union_tag_invalid":
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        disc = str(ctx.get("discriminator", "type")).strip("'")
        tag = value.get(disc, ctx.get("tag")) if isinstance(value, dict) else ctx.get("tag")
        noun = "channel type" if "slack" in tags else f"`{disc}`"
        if not isinstance(tag, str):  # `type: [slack]`, `type: true`
            return _Msg(path + (disc,), f"expected a {noun}, one of {', '.join(tags)}, got {_given(tag)}")
        return _Msg(path + (disc,), f"unknown {noun} {_q(tag)}{_suggest(tag, tags)} (one of {', '.join(tags)})")
    if kind == "union_tag_not_found":
        disc = str(ctx.get("discriminator", "type")).strip("'")
        base, _ = _unwrap(where.tp) if where.tp is not None else (None, [])
        names: list[str] = []
        for m in _members(base) if base is not None and _is_union(base) else []:
            mb, _ = _unwrap(m)
            if _is_model(mb) and disc in _fields(mb):
                names += [str(a) for a in get_args(_fields(mb)[disc][1])]
        if isinstance(value, dict):
            typo = next((k for k in value if did_you_mean(k, [disc]) == disc), None)
            if typo is not None:
                return _Msg(path + (typo,), f"unknown field {_q(typo)}; did you mean {_q(disc)}?")
        text = f"missing required field {_q(disc)}"
        if names:
            text += f": one of {', '.join(names)}, e.g. `{disc}: {names[0]}`"
        return _Msg(path + (disc,), text, missing=disc, parent=path)
    if kind == "literal_error":
        base, _ = _unwrap(where.tp) if where.tp is not None else (None, [])
        values = list(get_args(base)) if get_origin(base) is Literal else re.findall(r"'([^']*)'", str(ctx.get("expected")))
        options = [str(v) for v in values]
        if where.model is models.Spec and name == "version" and not where.key:
            return _Msg(path, f"only version 1 exists, not {_given(value)}; write `version: 1`")
        if where.key:
            return _Msg(path, f"unknown key {_q(value)}{_suggest(value, options)} (the keys here are "
                              f"{', '.join(options)})", unknown=str(value))
        phrase = _literal_phrase(tuple(values)) if values else "one of the allowed values"
        if not isinstance(value, str):
            return _Msg(path, f"expected {phrase}, got {_given(value)}")
        return _Msg(path, f"{_q(value)} is not {phrase}{_suggest(value, options)}")
    if kind in _TYPE_ERRORS:
        return _Msg(path, _type_message(where, value, kind))
    if kind == "string_pattern_mismatch":
        return _Msg(path, _pattern_message(str(ctx.get("pattern")), value, where.key))
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        if ctx.get("field_type") == "Tuple":
            return _Msg(path, f"expected a list of exactly {len(get_args(_unwrap(where.tp)[0])) if where.tp else n} "
                              f"items, got {ctx.get('actual_length')}")
        if kind == "too_long":
            return _Msg(path, f"list at most {n} item{'s' if n != 1 else ''}, not {ctx.get('actual_length')}")
        noun = _AT_LEAST_ONE.get(str(name), "item")
        verb = "name" if ctx.get("field_type") == "Dictionary" else "list"
        if n == 1:
            return _Msg(path, f"{verb} at least one {noun}" + (
                f", e.g. `{name}: {_example(where, name)}`" if _example(where, name) else ""))
        return _Msg(path, f"{verb} at least {n} {noun}s, not {ctx.get('actual_length')}")
    if kind == "string_too_short":
        rest = f": expected {describe(where.tp)}" if where.tp is not None and describe(where.tp) != "text" else ""
        return _Msg(path, "must not be empty" + rest)
    if kind == "string_too_long":
        return _Msg(path, f"must be at most {ctx.get('max_length')} characters long")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _Msg(path, _bound(where, err))
    if kind == "finite_number":
        return _Msg(path, f"expected a finite number, got {_given(value)}")
    if kind == "multiple_of":
        return _Msg(path, f"must be a multiple of {ctx.get('multiple_of')}, not {value}")
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return _Msg(path, msg[len(prefix):])
    # an error type not met before: pydantic's words, without its "Input should"
    return _Msg(path, re.sub(r"^(Input|String|Value) should (be|have)", "expected", msg) or kind)


# --------------------------------------------------------------------------- every error, once


@dataclass
class _Item:
    err: dict[str, Any]
    where: _Where


def _union_message(u: _Union) -> _Msg:
    return _Msg(u.path, f"expected {describe(u.tp)}, not {_given(u.value)}")


def _collapse(items: list[_Item], data: Any, level: int = 0) -> list[_Msg]:
    """One message per union: the branch the value's shape fits speaks for it, or one naming them all."""
    groups: dict[Any, list[_Item]] = {}
    for n, item in enumerate(items):
        unions = item.where.unions
        key = ("union", tuple(item.err["loc"][: unions[level].index])) if len(unions) > level else ("one", n)
        groups.setdefault(key, []).append(item)
    out: list[_Msg] = []
    for key, group in groups.items():
        if key[0] == "one":
            out.append(_message(group[0].err, group[0].where, data))
            continue
        u = group[0].where.unions[level]
        members = _members(_unwrap(u.tp)[0])
        branches: dict[int, list[_Item]] = {}
        for item in group:
            branches.setdefault(item.where.unions[level].branch, []).append(item)
        fitting = [b for b in branches if _fits(members[b], u.value)]
        if len(fitting) == 1:
            chosen = branches[fitting[0]]
            # a bare type error of the one branch says less than the union's own description
            at_point = all(len(i.err["loc"]) == u.index + 1 and i.err["type"] in _TYPE_ERRORS for i in chosen)
            if not at_point:
                out += _collapse(chosen, data, level + 1)
                continue
        out.append(_union_message(u))
    return out


def structural_problems(errors: list[Any], data: Any) -> list[tuple[Path, str]]:
    """pydantic's errors -> (data path, sentence), one per problem and at most one per path."""
    items = [_Item(err, _walk(tuple(err["loc"]), data)) for err in errors]
    msgs = _collapse(items, data)
    # A misspelt required field is one problem: the unknown field says which it was meant to be.
    missing = {(m.parent, m.missing) for m in msgs if m.missing}
    folded = {(m.parent, m.suggestion) for m in msgs if m.unknown and (m.parent, m.suggestion) in missing}
    # under a key that should not be there, what its value lacks is beside the point
    unknown_at = {m.path for m in msgs if m.unknown}
    by_path: dict[Path, list[str]] = {}
    for m in msgs:
        if m.path in unknown_at and not m.unknown:
            continue
        if m.missing and (m.parent, m.missing) in folded:
            continue
        text = m.text
        if m.unknown and (m.parent, m.suggestion) in folded:
            text += f" (`{m.suggestion}` is required)"
        texts = by_path.setdefault(m.path, [])
        if text not in texts:
            texts.append(text)
    return [(path, _and(texts)) for path, texts in by_path.items()]


def _and(texts: list[str]) -> str:
    """Two problems at one place, as one message."""
    out = texts[0]
    for text in texts[1:]:
        out += (" Also, " if out.endswith(("?", ".")) else "; also, ") + text
    return out
