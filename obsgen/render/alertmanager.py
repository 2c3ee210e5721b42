"""Alertmanager: alertmanager.yml (receivers, routing tree, inhibition, quiet hours) and templates.

Every channel is one receiver of the same name. An alert that must reach several channels walks
sibling routes joined by `continue: true`, so `amtool config routes test` names each channel it reaches.
"""

from __future__ import annotations

from typing import Any

from .. import slo
from ..gotemplate import go_literal
from ..model import Model
from ..promql import quote
from ..spec.models import Route, Spec
from . import templates
from .common import dump_yaml

NULL_RECEIVER = "obsgen-null"  # receives Watchdog when no dead man's switch is configured
QUIET_HOURS = "business-hours"
SEVERITIES = ("critical", "warning", "info")


def render(model: Model) -> dict[str, str]:
    return {
        "alertmanager/alertmanager.yml": dump_yaml(config(model), model.source),
        "alertmanager/templates/obsgen.tmpl": templates.render("alertmanager.tmpl.j2", project=model.project),
    }


def config(model: Model) -> dict[str, Any]:
    spec = model.spec
    cfg: dict[str, Any] = {"global": _global(spec), "templates": ["templates/*.tmpl"], "route": route(spec)}
    if spec.routing.inhibit:
        cfg["inhibit_rules"] = inhibit_rules(model)
    cfg["receivers"] = receivers(spec)
    if spec.routing.quiet_hours:
        q = spec.routing.quiet_hours
        start, end = q.times.split("-")
        cfg["time_intervals"] = [{
            "name": QUIET_HOURS,
            "time_intervals": [{
                "weekdays": q.weekdays.split(","),
                "times": [{"start_time": start, "end_time": end}],
                "location": q.timezone,
            }],
        }]
    return cfg


def _global(spec: Spec) -> dict[str, Any]:
    out: dict[str, Any] = {"resolve_timeout": "5m"}
    if spec.email:
        e = spec.email
        out["smtp_smarthost"] = e.smarthost
        out["smtp_from"] = e.from_
        if e.auth_username:
            out["smtp_auth_username"] = e.auth_username
        if e.auth_password_file:
            out["smtp_auth_password_file"] = e.auth_password_file
        out["smtp_require_tls"] = e.require_tls
    return out


# --------------------------------------------------------------------------- routing


def _fanout(matchers: list[str], channels: list[str], *, last_continues: bool = False,
            extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One route per channel; all but the last continue so the alert reaches every channel."""
    routes = []
    for i, ch in enumerate(channels):
        r: dict[str, Any] = {"receiver": ch, "matchers": list(matchers)}
        r.update(extra or {})
        if i < len(channels) - 1 or last_continues:
            r["continue"] = True
        routes.append(r)
    return routes


def _custom(route: Route) -> list[dict[str, Any]]:
    extra = {"group_by": route.group_by} if route.group_by else None
    return _fanout([m.strip() for m in route.matchers], route.receivers, last_continues=route.continue_,
                   extra=extra)


def route(spec: Spec) -> dict[str, Any]:
    r = spec.routing
    quiet = set()
    if r.quiet_hours:
        applies = r.quiet_hours.applies_to
        quiet = {applies} if isinstance(applies, str) else set(applies)

    def timed(severity: str) -> dict[str, Any] | None:
        return {"active_time_intervals": [QUIET_HOURS]} if severity in quiet else None

    routes: list[dict[str, Any]] = [{
        "receiver": r.watchdog or NULL_RECEIVER,
        "matchers": ['alertname="Watchdog"'],
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": "5m",
    }]
    for custom in r.routes:
        routes.extend(_custom(custom))
    for team, by_severity in sorted(r.teams.items()):
        for severity in SEVERITIES:
            if severity in by_severity:
                routes.extend(_fanout([f"team={quote(team)}", f'severity="{severity}"'], by_severity[severity],
                                      extra=timed(severity)))
    for severity in SEVERITIES:
        if severity in r.severity:
            routes.extend(_fanout([f'severity="{severity}"'], r.severity[severity], extra=timed(severity)))
    return {
        "receiver": r.default,
        "group_by": list(r.group_by),
        "group_wait": r.group_wait,
        "group_interval": r.group_interval,
        "repeat_interval": r.repeat_interval,
        "routes": routes,
    }


def inhibit_rules(model: Model) -> list[dict[str, Any]]:
    rules = [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'],
         "equal": ["alertname", "service"]},
        {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="info"'],
         "equal": ["alertname", "service"]},
    ]
    return rules + slo.inhibit_rules(model)


# --------------------------------------------------------------------------- receivers

_T = '{{{{ template "obsgen.{}" . }}}}'


def _receiver(name: str, ch: Any) -> dict[str, Any]:
    common = {"send_resolved": ch.send_resolved}
    if ch.type == "slack":
        # channel and to are expanded as templates by Alertmanager: the spec's values are meant literally
        cfg = {**common, "api_url_file": ch.api_url_file, "channel": go_literal(ch.channel),
               "title": _T.format("title"), "text": _T.format("text")}
        return {"name": name, "slack_configs": [cfg]}
    if ch.type == "email":
        cfg = {**common, "to": go_literal(", ".join(ch.to)), "headers": {"Subject": _T.format("title")},
               "text": _T.format("text")}
        return {"name": name, "email_configs": [cfg]}
    if ch.type == "pagerduty":
        key = {"routing_key_file": ch.routing_key_file} if ch.routing_key_file else {
            "service_key_file": ch.service_key_file}
        cfg = {**common, **key, "description": _T.format("title"),
               "severity": '{{ if .CommonLabels.severity }}{{ .CommonLabels.severity }}{{ else }}critical{{ end }}',
               "details": {"summary": _T.format("text")}}
        return {"name": name, "pagerduty_configs": [cfg]}
    if ch.type == "webhook":
        target = {"url": ch.url} if ch.url else {"url_file": ch.url_file}
        cfg = {**common, **target}
        if ch.bearer_token_file:
            cfg["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": ch.bearer_token_file}}
        if ch.max_alerts:
            cfg["max_alerts"] = ch.max_alerts
        return {"name": name, "webhook_configs": [cfg]}
    if ch.type == "opsgenie":
        cfg = {**common, "api_key_file": ch.api_key_file, "message": _T.format("title"),
               "description": _T.format("text"),
               "priority": '{{ if eq .CommonLabels.severity "critical" }}P1{{ else if eq .CommonLabels.severity '
                           '"warning" }}P3{{ else }}P5{{ end }}'}
        if ch.api_url:
            cfg["api_url"] = ch.api_url
        return {"name": name, "opsgenie_configs": [cfg]}
    if ch.type == "msteams":
        cfg = {**common, "webhook_url_file": ch.webhook_url_file, "title": _T.format("title"),
               "text": _T.format("text")}
        return {"name": name, "msteams_configs": [cfg]}
    if ch.type in ("msteamsv2", "discord", "mattermost"):
        # text is `message` for Discord; Mattermost titles its attachment itself
        title, text = _T.format("title"), _T.format("text")
        cfg = {**common, "webhook_url_file": ch.webhook_url_file}
        if ch.type == "msteamsv2":
            cfg.update(title=title, text=text)
        elif ch.type == "discord":
            cfg.update(title=title, message=text)
        else:
            cfg["text"] = text
            if ch.channel:
                cfg["channel"] = go_literal(ch.channel)
        return {"name": name, f"{ch.type}_configs": [cfg]}
    if ch.type == "telegram":
        # in HTML parse mode Alertmanager runs the message as html/template: the alert's values come out escaped
        cfg = {**common, "bot_token_file": ch.bot_token_file, "chat_id": ch.chat_id, "parse_mode": "HTML",
               "message": f"<b>{_T.format('title')}</b>\n\n{_T.format('text')}"}
        if ch.message_thread_id:
            cfg["message_thread_id"] = ch.message_thread_id
        if ch.api_url:
            cfg["api_url"] = ch.api_url
        return {"name": name, "telegram_configs": [cfg]}
    if ch.type == "webex":
        cfg = {**common, "room_id": ch.room_id, "message": f"**{_T.format('title')}**\n\n{_T.format('text')}",
               "http_config": {"authorization": {"type": "Bearer", "credentials_file": ch.bot_token_file}}}
        if ch.api_url:
            cfg["api_url"] = ch.api_url
        return {"name": name, "webex_configs": [cfg]}
    if ch.type == "pushover":
        cfg = {**common, "user_key_file": ch.user_key_file, "token_file": ch.token_file,
               "title": _T.format("title"), "message": _T.format("text"),
               # Alertmanager's default is 2 (emergency, repeated until acknowledged) for every firing alert
               "priority": '{{ if eq .CommonLabels.severity "critical" }}1{{ else if eq .CommonLabels.severity '
                           '"warning" }}0{{ else }}-1{{ end }}'}
        if ch.device:
            cfg["device"] = ch.device
        return {"name": name, "pushover_configs": [cfg]}
    if ch.type == "victorops":
        # a resolved group is sent as RECOVERY by Alertmanager whatever message_type says
        cfg = {**common, "api_key_file": ch.api_key_file, "routing_key": go_literal(ch.routing_key),
               "message_type": '{{ if eq .CommonLabels.severity "warning" }}WARNING{{ else if eq '
                               '.CommonLabels.severity "info" }}INFO{{ else }}CRITICAL{{ end }}',
               "entity_display_name": _T.format("title"), "state_message": _T.format("text")}
        if ch.api_url:
            cfg["api_url"] = ch.api_url
        return {"name": name, "victorops_configs": [cfg]}
    if ch.type == "jira":
        cfg = {**common, "api_url": ch.api_url, "project": go_literal(ch.project),
               "issue_type": go_literal(ch.issue_type),
               "summary": _T.format("title"), "description": _T.format("text"),
               "http_config": {"basic_auth": {"username": ch.username, "password_file": ch.password_file}}}
        for field in ("resolve_transition", "reopen_transition"):
            if getattr(ch, field):
                cfg[field] = getattr(ch, field)
        return {"name": name, "jira_configs": [cfg]}
    if ch.type == "rocketchat":
        cfg = {**common, "api_url": ch.api_url, "channel": go_literal(ch.channel), "token_file": ch.token_file,
               "token_id_file": ch.token_id_file, "title": _T.format("title"), "text": _T.format("text")}
        return {"name": name, "rocketchat_configs": [cfg]}
    if ch.type == "incidentio":
        target = {"url": ch.url} if ch.url else {"url_file": ch.url_file}
        cfg = {**common, **target, "alert_source_token_file": ch.alert_source_token_file}
        return {"name": name, "incidentio_configs": [cfg]}
    if ch.type == "wechat":
        cfg = {**common, "corp_id": ch.corp_id, "agent_id": ch.agent_id, "api_secret_file": ch.api_secret_file,
               "message": f"{_T.format('title')}\n{_T.format('text')}"}
        for field in ("to_user", "to_party", "to_tag"):
            if getattr(ch, field):
                cfg[field] = go_literal(getattr(ch, field))
        return {"name": name, "wechat_configs": [cfg]}
    if ch.type == "sns":
        # no keys: Alertmanager's AWS SDK takes the credentials from its environment (or `profile`)
        sigv4 = {"region": ch.region or ch.topic_arn.split(":")[3]}
        sigv4.update({k: getattr(ch, k) for k in ("profile", "role_arn") if getattr(ch, k)})
        cfg = {**common, "topic_arn": ch.topic_arn, "sigv4": sigv4,
               "subject": go_literal(ch.subject) if ch.subject else _T.format("title"), "message": _T.format("text")}
        if ch.api_url:
            cfg["api_url"] = ch.api_url
        return {"name": name, "sns_configs": [cfg]}
    raise AssertionError(f"unhandled channel type {ch.type}")


def receivers(spec: Spec) -> list[dict[str, Any]]:
    out = [_receiver(name, ch) for name, ch in sorted(spec.channels.items())]
    if not spec.routing.watchdog:
        out.append({"name": NULL_RECEIVER})
    return out
