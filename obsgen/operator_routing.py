"""Routing in prometheus-operator mode, proven on the configuration the operator really builds.

In operator mode obsgen renders an AlertmanagerConfig object, not alertmanager.yml. The release's
Alertmanager runs what prometheus-operator makes of it: `operator_alertmanager_config` does the same
transformation as the operator (`pkg/alertmanager/amcfg.go`, `ConfigBuilder.AddAlertmanagerConfigs`,
v0.8x-v0.9x):

- receivers, mute/active time intervals and the route's receivers are renamed `<namespace>/<name>/<x>`;
- the object's route becomes the first child of the base configuration's top route, with
  `continue: true`, so an alert walks it and then the base's own routes (kube-prometheus-stack's
  Watchdog -> "null");
- the matcher strategy of the Alertmanager resource (`alertmanagerConfigMatcherStrategy`) adds
  `namespace="<the object's namespace>"` to that route and to both sides of its inhibit rules:
  `OnNamespace` (the default) always, `OnNamespaceExceptForAlertmanagerNamespace` unless the object lives in
  the Alertmanager's namespace, `None` never;
- matchers `{name, value, matchType}` become `name<op>"value"` (OpenMetrics escaping), as the operator
  writes them for Alertmanager >= 0.22.

Receivers keep their integrations; secrets (SecretKeySelectors, which the operator inlines) become
`*_file` placeholders `/etc/alertmanager/secrets/<secret>/<key>`, so the result holds no secret and
`amtool check-config` accepts it.

`verify_operator_routes` then asks the real `amtool config routes test` where each alert goes in that
configuration, with the labels the alert carries in the cluster: read from the PrometheusRule objects
(and the Loki ruler's rules) of the built manifests, plus the external labels the release's Prometheus
adds: the operator's `prometheus="<namespace>/<Prometheus>"` (its `prometheus_replica` is dropped before
alerts are sent) and those the kustomization header asks the user to set (prometheus.yml's). The intended
receivers come from `proof/routes.json` (the spec's routing, computed without the routing tree).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from .check_result import Result
from .coverage import alerting
from .crds import Loader
from .promql import quote
from .route_proof import AmtoolError, amtool_routes, read_routes
from .routing_intent import parse_matcher

Obj = dict[str, Any]
TOOL = "amtool config routes test (operator)"
STRATEGIES = ("OnNamespace", "OnNamespaceExceptForAlertmanagerNamespace", "None")
STRATEGY_ANNOTATION = "obsgen/alertmanager-config-matcher-strategy"  # what the release is said to run
SECRETS_DIR = "/etc/alertmanager/secrets"
TIMEOUT = 120

# kube-prometheus-stack's default `alertmanager.config` (charts/kube-prometheus-stack/values.yaml of
# prometheus-community/helm-charts at 001f3a6d7d24, the chart releases 70-7x with Alertmanager v0.28.1;
# unchanged in substance since chart 39): the base every AlertmanagerConfig is merged into.
BASE_CONFIG: Obj = {
    "global": {"resolve_timeout": "5m"},
    "inhibit_rules": [
        {"source_matchers": ["severity = critical"], "target_matchers": ["severity =~ warning|info"],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ["severity = warning"], "target_matchers": ["severity = info"],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ["alertname = InfoInhibitor"], "target_matchers": ["severity = info"],
         "equal": ["namespace"]},
        {"target_matchers": ["alertname = InfoInhibitor"]},
    ],
    "route": {
        "group_by": ["namespace"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "12h",
        "receiver": "null",
        "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
    },
    "receivers": [{"name": "null"}],
    "templates": ["/etc/alertmanager/config/*.tmpl"],
}


# --------------------------------------------------------------------------- the operator's transformation


def matcher_text(m: Mapping[str, Any]) -> str:
    """`{name, value, matchType}` as alertmanager.yml reads it; the deprecated `regex` flag without a
    matchType means `=~`, as the operator converts it for Alertmanager >= 0.22."""
    op = m.get("matchType") or ("=~" if m.get("regex") else "=")
    return f'{m["name"]}{op}{quote(str(m.get("value", "")))}'


def _namespaced(name: str, namespace: str, obj_name: str) -> str:
    return f"{namespace}/{obj_name}/{name}" if name else ""


_ROUTE_FIELDS = {"groupBy": "group_by", "groupWait": "group_wait", "groupInterval": "group_interval",
                 "repeatInterval": "repeat_interval"}


def _route(r: Obj, ns: str, name: str) -> Obj:
    unknown = set(r) - {"receiver", "matchers", "continue", "routes", "muteTimeIntervals", "activeTimeIntervals",
                        *_ROUTE_FIELDS}
    if unknown:  # the operator decodes child routes strictly and refuses the object
        raise ValueError(f"route has fields the operator does not know: {', '.join(sorted(unknown))}")
    out: Obj = {}
    if r.get("receiver"):
        out["receiver"] = _namespaced(r["receiver"], ns, name)
    out.update({snake: r[camel] for camel, snake in _ROUTE_FIELDS.items() if r.get(camel)})
    if r.get("matchers"):
        out["matchers"] = [matcher_text(m) for m in r["matchers"]]
    if r.get("continue"):
        out["continue"] = True
    if r.get("routes"):
        out["routes"] = [_route(child, ns, name) for child in r["routes"]]
    for camel, snake in (("muteTimeIntervals", "mute_time_intervals"), ("activeTimeIntervals", "active_time_intervals")):
        if r.get(camel):
            out[snake] = [_namespaced(t, ns, name) for t in r[camel]]
    return out


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


INTEGRATIONS = {"slackConfigs": "slack_configs", "emailConfigs": "email_configs",
                "pagerdutyConfigs": "pagerduty_configs", "webhookConfigs": "webhook_configs",
                "opsgenieConfigs": "opsgenie_configs", "msteamsConfigs": "msteams_configs",
                "msteamsv2Configs": "msteamsv2_configs", "discordConfigs": "discord_configs",
                "telegramConfigs": "telegram_configs", "webexConfigs": "webex_configs",
                "pushoverConfigs": "pushover_configs", "victoropsConfigs": "victorops_configs",
                "rocketchatConfigs": "rocketchat_configs", "wechatConfigs": "wechat_configs",
                "snsConfigs": "sns_configs"}
# A secret field whose file twin is not `<field>_file`, by integration (None: any): the operator writes
# discord's `apiURL` as `webhook_url`.
_SECRET_FIELDS = {(None, "urlSecret"): "url_file", ("discordConfigs", "apiURL"): "webhook_url_file"}
_KEY_VALUE_LISTS = {"headers", "details"}  # [{key, value}] in the CRD, a mapping in alertmanager.yml


def _integration(config: Obj, kind: str | None = None) -> Obj:
    """An integration (or its httpConfig) of the CRD's `kind` in alertmanager.yml's terms, secrets as file
    placeholders."""
    out: Obj = {}
    for field, value in config.items():
        if isinstance(value, dict) and "key" in value and set(value) <= {"name", "key", "optional"}:
            # a SecretKeySelector
            target = _SECRET_FIELDS.get((kind, field)) or _SECRET_FIELDS.get((None, field)) or f"{_snake(field)}_file"
            out[target] = f"{SECRETS_DIR}/{value.get('name', '')}/{value['key']}"
        elif field in _KEY_VALUE_LISTS:
            out[field] = {kv["key"]: kv["value"] for kv in value}
        elif isinstance(value, dict):
            out[_snake(field)] = _integration(value)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            raise ValueError(f"receiver field {field!r} is not simulated")
        else:
            out[_snake(field)] = value
    return out


def _receiver(r: Obj, ns: str, name: str) -> Obj:
    out: Obj = {"name": _namespaced(r["name"], ns, name)}
    for field, configs in r.items():
        if field == "name":
            continue
        if field not in INTEGRATIONS:
            raise ValueError(f"receiver {r['name']!r}: {field} is not simulated")
        out[INTEGRATIONS[field]] = [_integration(c, field) for c in configs]
    return out


def _time_interval(t: Obj) -> Obj:
    out: Obj = {}
    if t.get("times"):
        out["times"] = [{"start_time": x["startTime"], "end_time": x["endTime"]} for x in t["times"]]
    for field in ("weekdays", "months", "years"):
        if t.get(field):
            out[field] = list(t[field])
    if t.get("daysOfMonth"):
        out["days_of_month"] = [f"{d['start']}:{d['end']}" for d in t["daysOfMonth"]]
    return out


def _with_namespace(matchers: list[str], ns: str) -> list[str]:
    m = matcher_text({"name": "namespace", "value": ns, "matchType": "="})
    return matchers if any(x.replace(" ", "") == m for x in matchers) else [*matchers, m]


def operator_alertmanager_config(amc: Obj, *, strategy: str = "OnNamespace", alertmanager_namespace: str,
                                 base: Obj = BASE_CONFIG) -> Obj:
    """The alertmanager.yml prometheus-operator generates from `base` and one AlertmanagerConfig object
    (as kustomize builds it: `metadata.namespace` set). Raises ValueError where the operator would refuse
    the object or where this simulation does not follow it."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown alertmanagerConfigMatcherStrategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    meta = amc.get("metadata") or {}
    ns, name = meta.get("namespace"), meta.get("name")
    if not ns or not name:
        raise ValueError("the AlertmanagerConfig has no metadata.namespace and name (build it with kustomize)")
    spec = amc.get("spec") or {}
    enforce = strategy == "OnNamespace" or (
        strategy == "OnNamespaceExceptForAlertmanagerNamespace" and ns != alertmanager_namespace)
    cfg = copy.deepcopy(base)

    defined = {r["name"] for r in spec.get("receivers", [])}
    intervals = {t["name"] for t in spec.get("muteTimeIntervals", [])}

    def refs(route: Obj) -> None:  # the operator's checkAlertmanagerConfigResource
        if route.get("receiver") and route["receiver"] not in defined:
            raise ValueError(f"route receiver {route['receiver']!r} is not among the object's receivers")
        for key in ("muteTimeIntervals", "activeTimeIntervals"):
            for t in route.get(key, []):
                if t not in intervals:
                    raise ValueError(f"route names time interval {t!r}, which the object does not define")
        for child in route.get("routes", []):
            refs(child)

    for rule in spec.get("inhibitRules", []):
        converted: Obj = {}
        source = [matcher_text(m) for m in rule.get("sourceMatch", [])]
        target = [matcher_text(m) for m in rule.get("targetMatch", [])]
        if enforce:
            source, target = _with_namespace(source, ns), _with_namespace(target, ns)
        if target:
            converted["target_matchers"] = target
        if source:
            converted["source_matchers"] = source
        if rule.get("equal"):
            converted["equal"] = list(rule["equal"])
        cfg.setdefault("inhibit_rules", []).append(converted)
    if spec.get("route"):
        refs(spec["route"])
        route = _route(spec["route"], ns, name)
        if enforce:
            route["matchers"] = _with_namespace(route.get("matchers", []), ns)
        route["continue"] = True
        cfg["route"]["routes"] = [route, *cfg["route"].get("routes", [])]
        cfg.setdefault("receivers", []).extend(_receiver(r, ns, name) for r in spec.get("receivers", []))
        if spec.get("muteTimeIntervals"):
            cfg.setdefault("mute_time_intervals", []).extend(
                {"name": _namespaced(t["name"], ns, name),
                 "time_intervals": [_time_interval(i) for i in t.get("timeIntervals", [])]}
                for t in spec["muteTimeIntervals"])
    return cfg


# --------------------------------------------------------------------------- Alertmanager's route walk


_parse = parse_matcher  # the chart's matchers are unquoted (`severity = critical`): it reads both


def _matches(matchers: list[str], labels: Mapping[str, str]) -> bool:
    for text in matchers:
        name, op, value = _parse(text)
        actual = labels.get(name, "")
        if op in ("=", "!="):
            if (actual == value) != (op == "="):
                return False
        elif (re.fullmatch(value, actual) is not None) != (op == "=~"):
            return False
    return True


def route_walk(route: Obj, labels: Mapping[str, str]) -> list[str]:
    """Receivers a route (sub)tree resolves for `labels`: Alertmanager's dispatch Route.Match."""
    if not _matches(route.get("matchers", []), labels):
        return []
    reached: list[str] = []
    for child in route.get("routes", []):
        found = route_walk(child, labels)
        reached += found
        if found and not child.get("continue"):
            break
    return reached or [route["receiver"]]


def base_receivers(base: Obj, labels: Mapping[str, str]) -> list[str]:
    """What the base configuration's own routes add after an AlertmanagerConfig's route (which continues):
    the receivers of its matching child routes, never its top route's fallback receiver."""
    reached: list[str] = []
    for child in base["route"].get("routes", []):
        found = route_walk(child, labels)
        reached += found
        if found and not child.get("continue"):
            break
    return reached


def matcher_label_names(route: Obj) -> set[str]:
    """Every label a routing decision of this tree can depend on."""
    names = {_parse(m)[0] for m in route.get("matchers", [])}
    for child in route.get("routes", []):
        names |= matcher_label_names(child)
    return names


# --------------------------------------------------------------------------- the proof


def _build(out: Path) -> list[Obj] | Result:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return Result(TOOL, "kubernetes/", "skipped",
                      "kubectl not found: the manifests cannot be built, so the AlertmanagerConfig is not read")
    proc = subprocess.run([kubectl, "kustomize", "kubernetes"], cwd=out, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        return Result(TOOL, "kubernetes/", "skipped", f"kustomize did not build: {proc.stderr.strip()}")
    return [d for d in yaml.load_all(proc.stdout, Loader=Loader) if isinstance(d, dict)]


def _release_namespace(objects: list[Obj], fallback: str) -> str:
    """The release's namespace, from the ExternalName Service obsgen points at its Alertmanager."""
    for o in objects:
        spec = o.get("spec") or {}
        if o.get("kind") == "Service" and (o.get("metadata") or {}).get("name") == "alertmanager" \
                and spec.get("type") == "ExternalName":
            parts = str(spec.get("externalName", "")).split(".")
            if len(parts) >= 2:
                return parts[1]
    return fallback


def cluster_alerts(out: Path, objects: list[Obj], namespace: str) -> tuple[dict[str, list[Obj]], list[str]]:
    """Rule file of the output -> the alerting rules the cluster evaluates for it, each with the labels its
    alerts carry at Alertmanager (`labels`); and the problems pairing files with objects."""
    from .render.kubernetes_operator import release_fullname

    problems: list[str] = []
    external: dict[str, str] = {}
    prom_yml = out / "prometheus/prometheus.yml"
    if prom_yml.is_file():
        external.update(((yaml.safe_load(prom_yml.read_text("utf-8")) or {}).get("global") or {})
                        .get("external_labels") or {})
    sources: dict[str, list[Obj]] = {}
    rule_objects = [o for o in objects if o.get("kind") == "PrometheusRule"]
    by_groups = {tuple(g.get("name") for g in (o.get("spec") or {}).get("groups", [])): o for o in rule_objects}
    paired: set[int] = set()
    for path in sorted(out.glob("prometheus/rules/*.yml")):
        rel = path.relative_to(out).as_posix()
        groups = (yaml.safe_load(path.read_text("utf-8")) or {}).get("groups") or []
        obj = by_groups.get(tuple(g.get("name") for g in groups))
        if obj is None:
            if alerting(groups):
                problems.append(f"no PrometheusRule of the manifests holds the rule groups of {rel}")
            continue
        paired.add(id(obj))
        release = ((obj.get("metadata") or {}).get("labels") or {}).get("release", "")
        # the operator's external label; the release's `prometheus_replica` is dropped from alerts
        added = {**external, "prometheus": f"{namespace}/{release_fullname(release)}-prometheus"}
        sources[rel] = [{**r, "labels": {**added, **(r.get("labels") or {}), "alertname": r["alert"]}}
                        for r in alerting(obj["spec"]["groups"])]
    for obj in rule_objects:
        if id(obj) not in paired and alerting(obj["spec"].get("groups")):
            problems.append(f"PrometheusRule {obj['metadata']['name']} matches no rule file of the output")
    maps = [o for o in objects if o.get("kind") == "ConfigMap"]
    loki_cfg: Obj = {}
    for cm in maps:
        if "loki.yml" in (cm.get("data") or {}):
            loki_cfg = yaml.safe_load(cm["data"]["loki.yml"]) or {}
    loki_external = (loki_cfg.get("ruler") or {}).get("external_labels") or {}
    for path in sorted(out.glob("loki/rules/*/*.yml")):
        rel = path.relative_to(out).as_posix()
        text = next((cm["data"][path.name] for cm in maps if (cm.get("metadata") or {}).get("name", "")
                     .startswith("loki-rules-") and path.name in (cm.get("data") or {})), None)
        if text is None:
            problems.append(f"no loki-rules ConfigMap of the manifests holds {rel}")
            continue
        rules = alerting((yaml.safe_load(text) or {}).get("groups"))
        sources[rel] = [{**r, "labels": {**loki_external, **(r.get("labels") or {}), "alertname": r["alert"]}}
                        for r in rules]
    return sources, problems


def _describe(alert: str, file: str, labels: Mapping[str, str]) -> str:
    return f"{alert} ({file}) {{{', '.join(f'{k}={v!r}' for k, v in sorted(labels.items()))}}}"


def verify_operator_routes(out: Path, *, strategy: str | None = None,
                           objects: list[Obj] | None = None) -> list[Result]:
    """For an output whose kubernetes/ holds an AlertmanagerConfig: does every alert reach, in the
    configuration the operator builds, exactly the receivers the spec routes it to (prefixed as the
    operator names them), plus what the release's own routes add? `strategy` overrides the matcher strategy
    the object says the release runs (its annotation; `OnNamespace` when it says none)."""
    if not (out / "kubernetes/kustomization.yaml").is_file():
        return []
    if objects is None:
        built = _build(out)
        if isinstance(built, Result):
            return [built]
        objects = built
    amcs = [o for o in objects if o.get("kind") == "AlertmanagerConfig"]
    if not amcs:
        return []
    routes = read_routes(out)
    if isinstance(routes, str):
        return [Result(TOOL, "kubernetes/ AlertmanagerConfig", "failed", routes)]
    amtool = shutil.which("amtool")
    if amtool is None:
        return [Result(TOOL, "kubernetes/ AlertmanagerConfig", "not found", "install amtool (prometheus-alertmanager)")]
    return [_verify_one(out, amc, objects, routes, amtool, strategy) for amc in amcs]


def _files(out: Path) -> tuple[str, ...]:
    names = ["kubernetes/alertmanager-config.yaml", "kubernetes/prometheus-rules.yaml", "proof/routes.json"]
    names += [p.relative_to(out).as_posix() for p in sorted(out.glob("kubernetes/config/loki/**/*.yml"))]
    return tuple(n for n in names if (out / n).is_file())


def _verify_one(out: Path, amc: Obj, objects: list[Obj], routes: Obj, amtool: str,
                strategy: str | None) -> Result:
    meta = amc.get("metadata") or {}
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    target = f"AlertmanagerConfig {ns}/{name}"
    strategy = strategy or (meta.get("annotations") or {}).get(STRATEGY_ANNOTATION) or "OnNamespace"
    am_ns = _release_namespace(objects, ns)
    files = _files(out)
    try:
        config = operator_alertmanager_config(amc, strategy=strategy, alertmanager_namespace=am_ns)
    except (ValueError, KeyError, TypeError) as e:
        return Result(TOOL, target, "failed", f"the operator's configuration cannot be built: {e}", files)
    sources, problems = cluster_alerts(out, objects, am_ns)
    prefix = f"{ns}/{name}/"
    checks: list[tuple[str, str, dict[str, str], list[str]]] = []  # alert, file, labels in the cluster, want
    seen: dict[str, int] = {}
    for entry in routes["alerts"]:
        file = entry["file"]
        i = seen[file] = seen.get(file, -1) + 1
        rules = sources.get(file)
        if rules is None or i >= len(rules) or rules[i]["alert"] != entry["alert"]:
            problems.append(f"{entry['alert']} ({file}) of proof/routes.json is not alert #{i + 1} of "
                            f"{file} in the built manifests")
            continue
        labels = {k: str(v) for k, v in rules[i]["labels"].items()}
        want = [prefix + r for r in entry["receivers"]] + base_receivers(BASE_CONFIG, labels)
        checks.append((entry["alert"], file, labels, want))
    for file, rules in sources.items():
        extra = len(rules) - seen.get(file, -1) - 1
        if extra > 0:
            problems.append(f"{extra} alert(s) of {file} in the built manifests are not in proof/routes.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")
        proc = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=TIMEOUT)
        if proc.returncode != 0:
            return Result(TOOL, target, "failed", "amtool check-config refuses the configuration the operator "
                          f"would build:\n{(proc.stdout + proc.stderr).strip()}", files)
        names = sorted(matcher_label_names(config["route"]))
        projections: dict[tuple[str | None, ...], dict[str, str]] = {}
        for _, _, labels, _ in checks:
            projections.setdefault(tuple(labels.get(n) for n in names), labels)

        def resolve(labels: dict[str, str]) -> list[str] | str:
            try:
                return amtool_routes(amtool, path, labels)
            except AmtoolError as e:
                return f"amtool could not route {labels}: {e}"

        workers = min(8, os.cpu_count() or 1, max(1, len(projections)))
        with ThreadPoolExecutor(workers) as pool:
            resolved = dict(zip(projections, pool.map(resolve, projections.values()), strict=True))
    for alert, file, labels, want in checks:
        got = resolved[tuple(labels.get(n) for n in names)]
        if isinstance(got, str):
            problems.append(got)
        elif got != want:
            problems.append(f"{_describe(alert, file, labels)}\n  intended: {','.join(want)}\n"
                            f"  operator: {','.join(got)}")
    summary = (f"strategy {strategy}, Alertmanager namespace {am_ns}: {len(checks)} alerts, "
               f"{len(projections)} distinct on {', '.join(names)}")
    if problems:
        shown = problems[:30] + ([f"... and {len(problems) - 30} more"] if len(problems) > 30 else [])
        return Result(TOOL, target, "failed", summary + "\n" + "\n".join(shown), files)
    return Result(TOOL, target, "passed",
                  summary + ": each reaches exactly the receivers the spec routes it to, as the operator names "
                  "them, and what the release's own routes add", files)
