"""prometheus-operator mode of kubernetes/: the whole monitoring stack as the operator's custom resources.

obsgen renders its own `Prometheus` and `Alertmanager` resources (`operator_stack`, carrying every setting
of the spec that belongs to them: remote_write, retention, external labels, intervals, replicas, the
Alertmanager's global settings and templates) and the objects they select: PrometheusRule,
PodMonitor/ServiceMonitor/Probe/ScrapeConfig and the AlertmanagerConfig, built from the very data the raw
configs are dumped from (the same rule groups, scrape jobs and routing tree). Every object carries
`operator_stack.stack_labels` (which the two resources select, in this namespace), and not the `release`
label of the kube-prometheus-stack release whose operator and node-exporter it runs beside, so that the
release's own Prometheus and Alertmanager, if they run, do not load these objects too. `prometheus` and
`alertmanager` Services in front of the two resources' pods keep the addresses Grafana, Loki and the
stack's own configs use.

Under `alertmanagerConfigMatcherStrategy` OnNamespace (the operator's default) the operator adds
`namespace="<this namespace>"` to the route of a selected AlertmanagerConfig, so every alert must carry that
label: the PrometheusRules set it on each alert and Loki's ruler adds it as an external label. It replaces the
`namespace` of the alert's series (a PodMonitor target's), as the operator's own `enforcedNamespaceLabel`
would; annotations still read the series' value through `$labels`. AlertmanagerConfig time intervals have no
`location`, so quiet hours in a zone with one UTC offset all year are converted to UTC (validation refuses
the others in this mode).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..probes import Probe
from ..spec.models import Spec
from ..spec.validate import WEEK, fixed_utc_offset
from . import alertmanager, loki, operator_stack, prometheus, thanos_ruler
from .common import dump_yaml
from .compose import exporter_specs, uses_logs

if TYPE_CHECKING:
    from .kubernetes import Kustomization

Obj = dict[str, Any]
MONITORING = "monitoring.coreos.com"
MATCHER_RE = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
# Our Services carry the metrics port under these names (kubernetes.py).
STACK_PORTS = {"prometheus": operator_stack.WEB, "alertmanager": operator_stack.WEB, "grafana": "http", "loki": "http",
               "fluentd": "metrics"}
# Says which strategy the routing was built and proven for; the operator ignores it.
STRATEGY_ANNOTATION = "obsgen/alertmanager-config-matcher-strategy"


def add(k: Kustomization) -> None:
    if namespace_matched(k):
        # Loki's ruler sends to this stack's Alertmanager too (the `alertmanager` Service)
        cfg = loki.config(k.model)
        cfg["ruler"]["external_labels"] = {**cfg["ruler"].get("external_labels", {}), "namespace": k.ns}
        k.rendered["loki/loki.yml"] = dump_yaml(cfg, k.model.source)
    k.add("prometheus-rules", prometheus_rules(k))
    k.add("monitors", monitors(k))
    config = alertmanager_config(k)
    k.add("alertmanager-config", [config])
    templates = k.rendered_under("alertmanager/templates")
    k.config_map("alertmanager-templates", templates, stable_name=True)
    k.add("prometheus", operator_stack.prometheus_objects(k))
    if thanos_ruler.active(k.model):
        k.add("thanos-ruler", thanos_ruler.objects(k))
    keys = sorted(path.rsplit("/", 1)[1] for path in templates)
    k.add("alertmanager", operator_stack.alertmanager_objects(k, config["metadata"]["name"], keys))


def cr(kind: str, name: str, k: Kustomization, spec: Obj, version: str = "v1") -> Obj:
    return operator_stack.cr(kind, name, k, spec, version)


def release_fullname(release: str) -> str:
    """kube-prometheus-stack's `fullname` template: the Services are `<fullname>-prometheus` and so on."""
    name = "kube-prometheus-stack"
    full = release if name in release else f"{release}-{name}"
    return full[:26].rstrip("-")


# --------------------------------------------------------------------------- rules


def namespace_matched(k: Kustomization) -> bool:
    """Whether the operator will route only alerts labelled `namespace=<k.ns>` to the AlertmanagerConfig
    (in the Alertmanager's own namespace, OnNamespaceExceptForAlertmanagerNamespace adds no matcher)."""
    return k.model.stack.kubernetes.alertmanager_config_matcher_strategy == "OnNamespace"


def _namespaced(groups: list[Obj], ns: str) -> list[Obj]:
    return [{**g, "rules": [{**r, "labels": {**r.get("labels", {}), "namespace": ns}} if "alert" in r else r
                            for r in g["rules"]]} for g in groups]


def prometheus_rules(k: Kustomization) -> list[Obj]:
    model = k.model
    # a Mimir or Cortex ruler evaluating the services' rules (render/ruler.py) leaves the stack's own here;
    # a ThanosRuler loads the services' by their label
    thanos = thanos_ruler.active(model)
    services = model.services if model.ruler is None or thanos else []
    out = [cr("PrometheusRule", f"{model.project}-{svc.name}", k,
              {"groups": prometheus.service_rule_groups(model, svc)}) for svc in services]
    if thanos:
        for r in out:
            r["metadata"]["labels"] = {**r["metadata"]["labels"], **thanos_ruler.rule_labels()}
    out.append(cr("PrometheusRule", f"{model.project}-stack", k,
                  {"groups": prometheus.stack_rule_groups(model)}))
    if namespace_matched(k):
        for r in out:
            r["spec"]["groups"] = _namespaced(r["spec"]["groups"], k.ns)
    return [r for r in out if r["spec"]["groups"]]


# --------------------------------------------------------------------------- scrape targets


def monitors(k: Kustomization) -> list[Obj]:
    """One object per scrape job of prometheus.yml: the stack's components and exporters (each Service's
    name is its job), the release's node-exporter, and every service's target or health probe."""
    model = k.model
    jobs = {j["job_name"]: j for j in prometheus.scrape_configs(model)}
    out: list[Obj] = []
    stack = ["prometheus", "alertmanager", "grafana", "loki", *(["fluentd"] if uses_logs(model) else [])]
    stack += [prometheus.EXPORTER_TARGETS[kind][0] for kind in exporter_specs(model) if kind != "node"]
    honor = {prometheus.EXPORTER_TARGETS["pushgateway"][0]}  # the pushed job and instance are the series' own
    for name in stack:
        # obsgen's own Service of that name (kustomize labels it part of this project), not a release's
        selector = {"matchLabels": {"app.kubernetes.io/name": name, **operator_stack.stack_labels(model)}}
        endpoint: Obj = {"port": STACK_PORTS.get(name, "metrics")}
        if name in honor:
            endpoint["honorLabels"] = True
            endpoint.update(_metric_relabelings(jobs[name]))  # the batch services' groups are theirs
        out.append(cr("ServiceMonitor", name, k, {"selector": selector, "endpoints": [endpoint]}))
    if "node" in exporter_specs(model):
        out.append(release_node_exporter(k))
    for svc in model.services:
        out.extend(probe(svc, p, k) for p in svc.probes)
        if svc.scrape:
            out.append(service_monitor(svc, jobs[svc.job], k))
    return out


def release_node_exporter(k: Kustomization) -> Obj:
    """kube-prometheus-stack runs node-exporter (obsgen does not, in this mode): its Service, labelled as the
    prometheus-node-exporter chart labels it, scraped as job `node-exporter` (the Service's `jobLabel`)."""
    release = k.model.stack.kubernetes.release
    job = prometheus.EXPORTER_TARGETS["node"][0]
    return cr("ServiceMonitor", job, k, {
        "jobLabel": "jobLabel",
        "selector": {"matchLabels": {"app.kubernetes.io/name": "prometheus-node-exporter",
                                     "app.kubernetes.io/instance": release}},
        "endpoints": [{"port": "http-metrics", "relabelings": [
            {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}]}]})


def probe(svc: Any, p: Probe, k: Kustomization) -> Obj:
    """A Probe per health check, its job the prober kind's (the operator relabels its target into
    `instance` as prometheus.yml does); the other kinds' checks carry their module as a label too."""
    labels = {"service": svc.name, **({"module": p.module} if p.kind != "http" else {})}
    return cr("Probe", probe_name(svc, p), k, {
        "jobName": p.job,
        "prober": {"url": prometheus.EXPORTER_TARGETS["blackbox"][1]},
        "module": p.module,
        "targets": {"staticConfig": {"static": [p.target], "labels": labels}},
    })


def probe_name(svc: Any, p: Probe) -> str:
    """`<service>-health` for a service's one check; else `<service>-health-<kind>`, numbered from the
    second check of a kind on."""
    if len(svc.probes) == 1:
        return f"{svc.name}-health"
    same = [q for q in svc.probes if q.kind == p.kind]
    n = same.index(p)
    return f"{svc.name}-health-{p.kind}" + (f"-{n + 1}" if n else "")


def _labels(job: Obj) -> dict[str, str]:
    """The labels a service's scrape job attaches (static labels or relabel replacements)."""
    if "static_configs" in job:
        return dict(job["static_configs"][0].get("labels", {}))
    return {r["target_label"]: r["replacement"] for r in job["relabel_configs"]
            if "replacement" in r and "source_labels" not in r}


def _metric_relabelings(job: Obj) -> Obj:
    """A scrape job's metric_relabel_configs as an endpoint's metricRelabelings (none: nothing)."""
    rules = [{"sourceLabels": r["source_labels"], "regex": r["regex"], "action": r["action"]}
             for r in job.get("metric_relabel_configs", ())]
    return {"metricRelabelings": rules} if rules else {}


def service_monitor(svc: Any, job: Obj, k: Kustomization) -> Obj:
    scrape = svc.scrape
    endpoint: Obj = {"path": scrape.path}
    if scrape.interval:
        endpoint["interval"] = scrape.interval
    if scrape.scheme != "http":
        endpoint["scheme"] = scrape.scheme
    labels = {"job": svc.job, **_labels(job)}  # the rules select job="<service>"
    # a Pushgateway's series keep the job they pushed; a batch service keeps only its own groups
    honor: Obj = {"honorLabels": True} if job.get("honor_labels") else {}
    honor.update(_metric_relabelings(job))
    endpoint.update(honor)
    if scrape.kubernetes is not None:
        kube = scrape.kubernetes
        if kube.port:
            endpoint["port"] = kube.port
        endpoint["relabelings"] = [{"targetLabel": name, "replacement": value} for name, value in labels.items()]
        return cr("PodMonitor", svc.name, k, {
            "namespaceSelector": {"matchNames": [kube.namespace]},
            "selector": {"matchLabels": dict(sorted(kube.pod_labels.items()))},
            "podMetricsEndpoints": [endpoint]})
    # Static targets live outside Kubernetes' discovery: ScrapeConfig (monitoring.coreos.com/v1alpha1).
    spec: Obj = {"jobName": svc.job, "metricsPath": scrape.path,
                 "staticConfigs": [{"targets": list(scrape.static), "labels": _labels(job)}]}
    if scrape.interval:
        spec["scrapeInterval"] = scrape.interval
    if scrape.scheme != "http":
        spec["scheme"] = scrape.scheme.upper()
    spec.update(honor)
    return cr("ScrapeConfig", svc.name, k, spec, version="v1alpha1")


# --------------------------------------------------------------------------- routing


def matcher(text: str) -> Obj:
    m = MATCHER_RE.match(text)
    if not m:
        raise ValueError(f"cannot read matcher {text!r}")
    return {"name": m.group(1), "matchType": m.group(2), "value": m.group(3)}


def _route(r: Obj) -> Obj:
    out: Obj = {"receiver": r["receiver"]}
    names = {"group_by": "groupBy", "group_wait": "groupWait", "group_interval": "groupInterval",
             "repeat_interval": "repeatInterval", "continue": "continue",
             "active_time_intervals": "activeTimeIntervals"}
    out.update({camel: r[key] for key, camel in names.items() if key in r})
    if "matchers" in r:
        out["matchers"] = [matcher(m) for m in r["matchers"]]
    if "routes" in r:
        out["routes"] = [_route(child) for child in r["routes"]]
    return out


class _Receivers:
    """alertmanager.receivers() in AlertmanagerConfig's schema; *_file paths become SecretKeySelectors."""

    def __init__(self, k: Kustomization, spec: Spec) -> None:
        self.keys = k.keys
        self.users = k.secret_users
        self.spec = spec

    def secret(self, path: str) -> Obj:
        self.users.add("alertmanager")
        return {"name": "alertmanager-secrets", "key": self.keys[path]}

    def convert(self, receiver: Obj) -> Obj:
        out: Obj = {"name": receiver["name"]}
        for field, configs in receiver.items():
            if field != "name":
                camel = {"msteams_configs": "msteamsConfigs"}.get(field, _camel(field))
                out[camel] = [getattr(self, field)(c) for c in configs]
        return out

    def _common(self, c: Obj, *names: str) -> Obj:
        out = {"sendResolved": c["send_resolved"]}
        out.update({_camel(n): c[n] for n in names if n in c})
        return out

    def slack_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "channel", "title", "text"), "apiURL": self.secret(c["api_url_file"])}

    def email_configs(self, c: Obj) -> Obj:
        out = self._common(c, "to", "text")
        out["headers"] = [{"key": k, "value": v} for k, v in c["headers"].items()]
        e = self.spec.email
        if e:
            out.update(smarthost=e.smarthost, **{"from": e.from_}, requireTLS=e.require_tls)
            if e.auth_username:
                out["authUsername"] = e.auth_username
            if e.auth_password_file:
                out["authPassword"] = self.secret(e.auth_password_file)
        return out

    def pagerduty_configs(self, c: Obj) -> Obj:
        out = self._common(c, "description", "severity")
        out["details"] = [{"key": k, "value": v} for k, v in c["details"].items()]
        if "routing_key_file" in c:
            out["routingKey"] = self.secret(c["routing_key_file"])
        else:
            out["serviceKey"] = self.secret(c["service_key_file"])
        return out

    def webhook_configs(self, c: Obj) -> Obj:
        out = self._common(c, "url", "max_alerts")
        if "url_file" in c:
            out["urlSecret"] = self.secret(c["url_file"])
        auth = c.get("http_config", {}).get("authorization")
        if auth:  # the bearer token, by Secret like every other credential
            out["httpConfig"] = {"authorization": {"type": auth["type"],
                                                   "credentials": self.secret(auth["credentials_file"])}}
        return out

    def opsgenie_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "message", "description", "priority", "api_url"),
                "apiKey": self.secret(c["api_key_file"])}

    def msteams_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "title", "text"), "webhookUrl": self.secret(c["webhook_url_file"])}

    # The CRD's names where they are not `_camel` of alertmanager.yml's (its `*ID`, victorops' `apiUrl`).

    def msteamsv2_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "title", "text"), "webhookURL": self.secret(c["webhook_url_file"])}

    def discord_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "title", "message"), "apiURL": self.secret(c["webhook_url_file"])}

    def telegram_configs(self, c: Obj) -> Obj:
        out = {**self._common(c, "parse_mode", "message", "api_url"), "chatID": c["chat_id"],
               "botToken": self.secret(c["bot_token_file"])}
        if "message_thread_id" in c:
            out["messageThreadID"] = c["message_thread_id"]
        return out

    def webex_configs(self, c: Obj) -> Obj:
        auth = c["http_config"]["authorization"]
        return {**self._common(c, "message", "api_url"), "roomID": c["room_id"],
                "httpConfig": {"authorization": {"type": auth["type"],
                                                 "credentials": self.secret(auth["credentials_file"])}}}

    def pushover_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "title", "message", "priority", "device"),
                "userKey": self.secret(c["user_key_file"]), "token": self.secret(c["token_file"])}

    def victorops_configs(self, c: Obj) -> Obj:
        out = {**self._common(c, "routing_key", "message_type", "entity_display_name", "state_message"),
               "apiKey": self.secret(c["api_key_file"])}
        if "api_url" in c:
            out["apiUrl"] = c["api_url"]
        return out

    def rocketchat_configs(self, c: Obj) -> Obj:
        return {**self._common(c, "api_url", "channel", "title", "text"), "token": self.secret(c["token_file"]),
                "tokenID": self.secret(c["token_id_file"])}

    def sns_configs(self, c: Obj) -> Obj:
        names = {"region": "region", "profile": "profile", "role_arn": "roleArn"}
        return {**self._common(c, "subject", "message", "api_url"), "topicARN": c["topic_arn"],
                "sigv4": {names[k]: v for k, v in c["sigv4"].items()}}

    def wechat_configs(self, c: Obj) -> Obj:
        out = {**self._common(c, "message", "to_user", "to_party", "to_tag"), "corpID": c["corp_id"],
               "agentID": c["agent_id"], "apiSecret": self.secret(c["api_secret_file"])}
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    special = {"url": "URL", "tls": "TLS"}
    return head + "".join(special.get(w, w.capitalize()) for w in rest)


def alertmanager_config(k: Kustomization) -> Obj:
    model = k.model
    cfg = alertmanager.config(model)
    spec: Obj = {"route": _route(cfg["route"]),
                 "receivers": [_Receivers(k, model.spec).convert(r) for r in cfg["receivers"]]}
    if "inhibit_rules" in cfg:
        spec["inhibitRules"] = [
            {"sourceMatch": [matcher(m) for m in r["source_matchers"]],
             "targetMatch": [matcher(m) for m in r["target_matchers"]], "equal": r["equal"]}
            for r in cfg["inhibit_rules"]]
    if "time_intervals" in cfg:
        # AlertmanagerConfig has no `location`: the operator's Alertmanager reads these times in UTC.
        spec["muteTimeIntervals"] = [
            {"name": t["name"], "timeIntervals": [
                {"weekdays": u["weekdays"],
                 "times": [{"startTime": x["start_time"], "endTime": x["end_time"]} for x in u["times"]]}
                for i in t["time_intervals"] for u in in_utc(i)]}
            for t in cfg["time_intervals"]]
    obj = cr("AlertmanagerConfig", model.project, k, spec, version="v1alpha1")
    obj["metadata"]["annotations"] = {STRATEGY_ANNOTATION: model.stack.kubernetes.alertmanager_config_matcher_strategy}
    return obj


# --------------------------------------------------------------------------- quiet hours in UTC

DAY = 24 * 60  # minutes


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def weekday_set(ranges: list[str]) -> set[int]:
    """Alertmanager's weekday ranges (`monday:friday`, `sunday`) as day numbers, sunday = 0."""
    days: set[int] = set()
    for r in ranges:
        first, _, last = r.partition(":")
        days.update(range(WEEK.index(first), WEEK.index(last or first) + 1))
    return days


def weekday_ranges(days: set[int]) -> list[str]:
    """The shortest list of Alertmanager weekday ranges (never wrapping past saturday) covering `days`."""
    out, run = [], []
    for d in range(8):
        if d < 7 and d in days:
            run.append(d)
        elif run:
            out.append(WEEK[run[0]] if len(run) == 1 else f"{WEEK[run[0]]}:{WEEK[run[-1]]}")
            run = []
    return out


def utc_intervals(weekdays: list[str], times: list[tuple[str, str]], offset: timedelta) -> list[Obj]:
    """Time intervals at a fixed UTC `offset` as the same instants in UTC: times shift by the offset, and a
    range that crosses midnight splits into the part before it (on the previous days) and after it."""
    shift = int(offset.total_seconds() // 60)
    pieces: dict[tuple[int, int], set[int]] = {}
    for day in weekday_set(weekdays):
        for start, end in times:
            begin, stop = day * DAY + _minutes(start) - shift, day * DAY + _minutes(end) - shift
            while begin < stop:  # cut at UTC midnights; the week wraps around
                cut = min(stop, (begin // DAY + 1) * DAY)
                pieces.setdefault((begin % DAY, (cut - 1) % DAY + 1), set()).add(begin // DAY % 7)
                begin = cut
    by_days: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for (start_m, end_m), days in sorted(pieces.items()):
        by_days.setdefault(tuple(weekday_ranges(days)), []).append((start_m, end_m))
    return [{"weekdays": list(days), "times": [{"start_time": _hhmm(a), "end_time": _hhmm(b)} for a, b in spans]}
            for days, spans in sorted(by_days.items(), key=lambda item: item[1][0])]


def in_utc(interval: Obj) -> list[Obj]:
    """One time interval of alertmanager.yml (with `location`) as the intervals of the same instants in UTC."""
    zone = interval.get("location", "UTC")
    offset = fixed_utc_offset(zone)
    if offset is None:  # validation refuses such a zone in operator mode
        raise ValueError(f"{zone} has no fixed UTC offset")
    times = [(t["start_time"], t["end_time"]) for t in interval["times"]]
    return utc_intervals(interval["weekdays"], times, offset)
