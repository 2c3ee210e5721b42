"""Prometheus: prometheus.yml, rules/<service>.yml, rules/_stack.yml and the promtool tests.

The data builders (`config`, `service_rule_groups`, `stack_rule_groups`) are public so the Kubernetes
renderer can wrap the same rules and scrape targets into prometheus-operator objects. The stack's own
alerts and their tests live in `stack_alerts`.
"""

from __future__ import annotations

from typing import Any

from .. import probes, slo
from ..coverage import alerting
from ..gotemplate import go_literal
from ..model import Model, ServiceModel, ThresholdModel
from ..naming import batch_failed_alert, batch_stale_alert, service_down_alert
from ..probes import Probe
from ..promql import quote, regex_literal
from ..spec.models import RecordingRule
from ..stack_targets import (  # noqa: F401 - public here too
    BLACKBOX_JOB,
    BUILT_IN,
    EXPORTER_TARGETS,
    PROBE_JOBS,
    STACK_TARGETS,
)
from ..units import fmt
from . import exporter_alerts, prometheus_tests, stack_alerts
from .common import dump_yaml

Rule = dict[str, Any]
Group = dict[str, Any]

ALERTMANAGER_PORT = 9093


def render(model: Model, keep: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every file, but the rule and test files of the services in `keep` (the caller has them)."""
    files = {"prometheus/prometheus.yml": dump_yaml(config(model), model.source)}
    if model.replica_label:
        # what each HA replica runs: the shared prometheus.yml plus its own replica label (compose mounts
        # each as its replica's prometheus.yml; `rules/*.yml` stays relative to the same folder)
        for replica in model.prometheus_replicas:
            files[f"prometheus/{replica}.yml"] = dump_yaml(config(model, replica), model.source)
    for svc in model.services:
        if svc.name not in keep:
            files.update(service_files(model, svc))
    files["prometheus/rules/_stack.yml"] = dump_yaml({"groups": stack_rule_groups(model)}, model.source)
    files["prometheus/tests/_stack.test.yml"] = dump_yaml(stack_tests(model), model.source)
    return files


ALERTING_MEMO = "service-alerting"  # model.memo's (key, service name): the names and labels routes.json reads


def service_files(model: Model, svc: ServiceModel) -> dict[str, str]:
    """The rule and test files of one service (what `render_all` may render in another process)."""
    groups = service_rule_groups(model, svc)
    tests = prometheus_tests.service_tests(model, svc)
    prometheus_tests.service_coverage(model, svc, groups, tests)  # counted now, while the data is here
    # what routes.json reads of the alerting rules (their names and labels, not their expressions), so
    # that it need not build the groups a second time
    model.memo[(ALERTING_MEMO, svc.name)] = [{k: r[k] for k in ("alert", "labels") if k in r}
                                                  for r in alerting(groups)]
    return {f"prometheus/rules/{svc.name}.yml": dump_yaml({"groups": groups}, model.source),
            f"prometheus/tests/{svc.name}.test.yml": dump_yaml(tests, model.source)}


def service_alerting_rules(model: Model, svc: ServiceModel) -> list[Rule]:
    """The alerting rules of the service's rule file (`coverage.alerting`): their names and labels only once
    the file has been rendered (`service_files`), else the whole rules."""
    found: list[Rule] | None = model.memo.get((ALERTING_MEMO, svc.name))
    return found if found is not None else alerting(service_rule_groups(model, svc))


# --------------------------------------------------------------------------- prometheus.yml


def alertmanager_targets(model: Model) -> list[str]:
    """Every Alertmanager replica: Prometheus must send each alert to all of them."""
    n = model.stack.alertmanager.replicas
    if n == 1:
        return [f"alertmanager:{ALERTMANAGER_PORT}"]
    return [f"alertmanager-{i}.alertmanager:{ALERTMANAGER_PORT}" for i in range(n)]


def exporters(model: Model) -> list[str]:
    """Exporter types in use; blackbox joins when a service has a health check."""
    kinds = {e if isinstance(e, str) else e.type for e in model.stack.exporters}
    if any(s.probes for s in model.services):
        kinds.add("blackbox")
    return sorted(kinds)


def exporter_entry(model: Model, kind: str) -> Any:
    """The spec's entry of an exporter type with settings, or None when it is named bare (or not at all)."""
    return next((e for e in model.stack.exporters if not isinstance(e, str) and e.type == kind), None)


# Prometheus 3.5 ingests native histograms (what a latency_native SLO reads) only with this feature
NATIVE_HISTOGRAMS = "--enable-feature=native-histograms"


def config(model: Model, replica: str | None = None) -> dict[str, Any]:
    """prometheus.yml's data: what every replica shares, or with `replica` replica's own replica label."""
    spec = model.spec
    external = {"environment": model.environment, **spec.project.external_labels}
    if model.cluster_label:
        external[model.cluster_label[0]] = model.cluster_label[1]
    if replica is not None:
        assert model.replica_label
        external[model.replica_label] = replica
    glob: dict[str, Any] = {
        "scrape_interval": model.scrape_interval,
        "evaluation_interval": model.evaluation_interval,
    }
    if spec.defaults.scrape_timeout:
        glob["scrape_timeout"] = spec.defaults.scrape_timeout
    if model.native_histograms:
        # with native histograms on (NATIVE_HISTOGRAMS), a histogram exposed both ways is stored as native only:
        # the classic buckets the other rules and panels read are kept as well
        glob["always_scrape_classic_histograms"] = True
    glob["external_labels"] = dict(sorted(external.items()))
    alerting: dict[str, Any] = {}
    if model.replica_label:
        # every replica fires the same alerts: without its replica label they are one alert to Alertmanager
        # (prometheus-operator drops its `replicaExternalLabelName` the same way)
        alerting["alert_relabel_configs"] = [{"action": "labeldrop", "regex": model.replica_label}]
    alerting["alertmanagers"] = [{
        "api_version": "v2",
        "static_configs": [{"targets": alertmanager_targets(model)}],
    }]
    cfg: dict[str, Any] = {
        "global": glob,
        # with a Mimir or Cortex ruler evaluating the services' rules (render/ruler.py), only the stack's own
        "rule_files": ["rules/*.yml"] if model.ruler is None else ["rules/_stack.yml"],
        "alerting": alerting,
        "scrape_configs": scrape_configs(model),
    }
    if spec.stack.prometheus.remote_write:
        cfg["remote_write"] = [_remote_write(rw) for rw in spec.stack.prometheus.remote_write]
    return cfg


def scrape_configs(model: Model) -> list[dict[str, Any]]:
    """prometheus.yml's scrape jobs. Built once per model (a dozen families read them, and the services'
    jobs are one per service): the list is each caller's own, the jobs are shared and never changed."""
    if "scrape-configs" not in model.memo:
        model.memo["scrape-configs"] = _scrape_configs(model)
    return list(model.memo["scrape-configs"])


def _scrape_configs(model: Model) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    stack_jobs = dict(STACK_TARGETS)
    if not any(s.logs for s in model.services):
        stack_jobs.pop("fluentd")
    for job, target in stack_jobs.items():
        targets = [target]
        if job == "prometheus" and model.replica_label:
            # every HA replica scrapes every replica: one that is down is seen (and alerted on) by the others
            port = target.rsplit(":", 1)[1]
            targets = [f"{replica}:{port}" for replica in model.prometheus_replicas]
        jobs.append({"job_name": job, "static_configs": [{"targets": targets}]})
    jobs.append({"job_name": "alertmanager", "static_configs": [{"targets": alertmanager_targets(model)}]})
    for kind in exporters(model):
        job, target = EXPORTER_TARGETS[kind]
        entry = exporter_entry(model, kind)
        if kind in BUILT_IN and entry is not None and entry.target:
            target = entry.target  # the software's own exporter, where it serves it
        exporter_job: dict[str, Any] = {"job_name": job}
        if kind == "pushgateway":
            exporter_job["honor_labels"] = True  # the pushed job and instance labels are the series' own
        exporter_job["static_configs"] = [{"targets": [target]}]
        if kind == "pushgateway" and (shared := _batch_jobs_on(model, target)):
            exporter_job["metric_relabel_configs"] = [
                {"source_labels": ["job"], "regex": "|".join(regex_literal(j) for j in shared), "action": "drop"}]
        jobs.append(exporter_job)
    for kind, job in PROBE_JOBS.items():
        probed = [(svc, p) for svc in model.services for p in svc.probes if p.kind == kind]
        if probed:
            jobs.append(_blackbox_job(job, probed))
    jobs.sort(key=lambda j: j["job_name"])
    jobs.extend(_service_job(model, svc) for svc in model.services if svc.scrape)
    return jobs


def _blackbox_job(job: str, probed: list[tuple[ServiceModel, Probe]]) -> dict[str, Any]:
    # The classic blackbox pattern: the probed address becomes ?target=, the exporter is scraped. Every
    # HTTP check uses http_2xx; the other kinds' checks name their module in a `module` target label,
    # passed on as ?module= (so one job probes with several modules, and their series differ).
    relabel: list[dict[str, Any]] = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
    ]
    if job == BLACKBOX_JOB:
        head: dict[str, Any] = {"params": {"module": ["http_2xx"]}}
        targets = [{"targets": [p.target], "labels": {"service": svc.name}} for svc, p in probed]
    else:
        head = {}
        targets = [{"targets": [p.target], "labels": {"service": svc.name, "module": p.module}} for svc, p in probed]
        relabel.append({"source_labels": ["module"], "target_label": "__param_module"})
    relabel.append({"target_label": "__address__", "replacement": EXPORTER_TARGETS["blackbox"][1]})
    return {"job_name": job, "metrics_path": "/probe", **head, "static_configs": targets,
            "relabel_configs": relabel}


def _service_job(model: Model, svc: ServiceModel) -> dict[str, Any]:
    scrape = svc.scrape
    assert scrape is not None
    job: dict[str, Any] = {"job_name": svc.job}
    if scrape.interval:
        job["scrape_interval"] = scrape.interval
    if scrape.path != "/metrics":
        job["metrics_path"] = scrape.path
    if scrape.scheme != "http":
        job["scheme"] = scrape.scheme
    if svc.honor_labels:
        job["honor_labels"] = True
    labels = {"service": svc.name, **({"team": svc.team} if svc.team else {}), **scrape.labels}
    if scrape.static is not None:
        job["static_configs"] = [{"targets": list(scrape.static), "labels": labels}]
    if scrape.kubernetes is not None:
        k = scrape.kubernetes
        job["kubernetes_sd_configs"] = [{"role": "pod", "namespaces": {"names": [k.namespace]}}]
        relabel: list[dict[str, Any]] = [
            # relabel regexes are anchored RE2: the spec's values are meant literally
            {"source_labels": [f"__meta_kubernetes_pod_label_{_sanitize(name)}"], "regex": regex_literal(value),
             "action": "keep"}
            for name, value in sorted(k.pod_labels.items())
        ]
        if k.port:
            relabel.append({"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": regex_literal(k.port),
                            "action": "keep"})
        relabel += [
            {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed|Completed",
             "action": "drop"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ]
        # `$1` and `${name}` in a replacement are expanded; `$$` is a literal `$`
        relabel += [{"target_label": name, "replacement": value.replace("$", "$$")} for name, value in labels.items()]
        job["relabel_configs"] = relabel
    if svc.kind == "batch":
        job["metric_relabel_configs"] = batch_metric_relabel(svc)
    return job


def _batch_jobs_on(model: Model, target: str) -> list[str]:
    """The batch services scraping the Pushgateway at `target`: the groups they pushed are their own jobs'.
    Ingested by the Pushgateway's job too, each series would be there twice, differing only by the service's
    target labels, and every rule setting those labels (the batch alerts, PushgatewayPushFailed) would fail
    its evaluation on the duplicates."""
    return sorted(svc.job for svc in model.services
                  if svc.kind == "batch" and svc.scrape and target in (svc.scrape.static or ()))


def batch_metric_relabel(svc: ServiceModel) -> list[dict[str, Any]]:
    """A batch service's job scrapes the Pushgateway every batch job pushes to: it keeps only the groups
    pushed with the service's name as `job`, so two batch services on one Pushgateway never ingest each
    other's series (and the rules' `job="<service>"` reads what the job pushed)."""
    return [{"source_labels": ["job"], "regex": regex_literal(svc.job), "action": "keep"}]


def _sanitize(label: str) -> str:
    """Kubernetes label names as service discovery exposes them (`app.kubernetes.io/name` -> `app_kubernetes_io_name`)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def _remote_write(rw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rw.name, "url": rw.url}
    headers = dict(rw.headers)
    if rw.tenant:
        headers["THANOS-TENANT" if rw.kind == "thanos" else "X-Scope-OrgID"] = rw.tenant
    if headers:
        out["headers"] = dict(sorted(headers.items()))
    if rw.basic_auth:
        out["basic_auth"] = {"username": rw.basic_auth.username, "password_file": rw.basic_auth.password_file}
    if rw.bearer_token_file:
        out["authorization"] = {"type": "Bearer", "credentials_file": rw.bearer_token_file}
    if rw.tls is not None:
        tls = {key: getattr(rw.tls, key) for key in ("ca_file", "cert_file", "key_file", "server_name",
                                                     "min_version")}
        out["tls_config"] = {key: value for key, value in tls.items() if value is not None}
    return out


# --------------------------------------------------------------------------- rules


def _annotations(svc: ServiceModel, alert: str, summary: str, description: str | None,
                 runbook: str | None) -> dict[str, str]:
    out = {"summary": summary}
    if description:
        out["description"] = description
    # annotations are expanded as templates: the links are meant literally
    if runbook:
        out["runbook_url"] = go_literal(runbook)
    if svc.dashboard_url:
        out["dashboard_url"] = go_literal(svc.dashboard_url)
    return out


def threshold_rules(svc: ServiceModel, th: ThresholdModel) -> list[Rule]:
    """Warning and critical variants of one threshold, sharing the alert name."""
    rules: list[Rule] = []
    value = th.expr
    if th.record:
        rules.append({"record": th.record, "expr": th.expr, "labels": {"service": svc.name}})
        value = f"{th.record}{{service={quote(svc.name)}}}"
    elif any(op in th.expr for op in (" - ", " + ", " / ", " * ")) and not th.expr.startswith("("):
        value = f"({th.expr})"
    for severity, level in th.levels():
        rules.append({
            "alert": th.alert,
            "expr": f"{value} {th.op} {fmt(level)}",
            "for": th.for_of(severity),
            "labels": {"severity": severity, **svc.labels},
            "annotations": _annotations(svc, th.alert, th.summary, th.description, th.runbook_url),
        })
    return rules


def service_down_rules(svc: ServiceModel) -> list[Rule]:
    rules: list[Rule] = []
    down_for = svc.down_for
    if svc.scrape:
        name = service_down_alert(svc.name)
        rules.append({
            "alert": name,
            "expr": f"up{{{svc.selector}}} == 0",
            "for": down_for,
            "labels": {"severity": "critical", **svc.labels},
            "annotations": _annotations(
                svc, name, f"The Pushgateway of {svc.name} is down." if svc.kind == "batch" else
                f"A target of {svc.name} is down.",
                "{{ $labels.instance }}" + (f", the Pushgateway {svc.name} pushes to," if svc.kind == "batch" else
                                            f" of {svc.name}") + f" has not answered Prometheus' scrapes for {down_for}.",
                svc.runbook_url(name)),
        })
    rules.extend(probe_rule(svc, p) for p in svc.probes)
    return rules


def probe_labels(svc: ServiceModel, probe: Probe) -> dict[str, str]:
    """The labels selecting one health check's probe_success series: its job and service, and its target
    and module, but for a service's only HTTP check (selected as it always was)."""
    labels = probe.series_labels(svc.name)
    if probe.kind == "http" and sum(p.kind == "http" for p in svc.probes) == 1:
        return {"job": labels["job"], "service": labels["service"]}
    return labels


def probe_selector(svc: ServiceModel, probe: Probe) -> str:
    return ",".join(f"{k}={quote(v)}" for k, v in probe_labels(svc, probe).items())


def probe_rule(svc: ServiceModel, probe: Probe) -> Rule:
    name = probes.alert_name(svc.name, probe.kind)
    down_for = svc.probe_for(probe)
    what = f"{probes.KIND_TEXT[probe.kind]} health check" + (f" (module {probe.module})" if probe.kind != "http" else "")
    return {
        "alert": name,
        "expr": f"probe_success{{{probe_selector(svc, probe)}}} == 0",
        "for": down_for,
        # a service's checks of one kind share the alert's name: the labels their series carry anyway
        # (target, module) tell the rules apart, for promtool's duplicate-rule lint and for proof coverage
        "labels": {"severity": "critical", **svc.labels,
                   **{k: v for k, v in probe_labels(svc, probe).items() if k not in ("job", "service")}},
        "annotations": _annotations(
            svc, name, f"The {'' if probe.kind == 'http' else probes.KIND_TEXT[probe.kind] + ' '}health check of "
            f"{svc.name} is failing.",
            "{{ $labels.instance }} has failed its " + what + " for " + down_for + ".", svc.runbook_url(name)),
    }


# Seconds a batch job's push may come after its success gauge was set: the docs' job sets it right before
# pushing, so more than this means the run pushed without succeeding (or the clocks are a minute apart).
BATCH_PUSH_SLACK = 60


def batch_rules(svc: ServiceModel) -> list[Rule]:
    """A batch job (Prometheus docs, "Pushing metrics"): its last success older than its schedule allows,
    and a run that pushed without succeeding (the Pushgateway's `push_time_seconds` of the group newer than
    the success gauge, or no success gauge at all)."""
    b = svc.batch
    if b is None:
        return []
    last = f"{b.last_success}{{{svc.selector}}}"
    pushed = f"push_time_seconds{{{svc.selector}}}"
    stale, failed = batch_stale_alert(svc.name), batch_failed_alert(svc.name)
    return [
        {
            "alert": stale,
            "expr": f"time() - {last} > {b.allowed_seconds}",
            "labels": {"severity": "critical", **svc.labels},
            "annotations": _annotations(
                svc, stale, f"{svc.name} has not succeeded as often as it is scheduled.",
                f"The last success of {svc.name} was {{{{ $value | humanizeDuration }}}} ago; it runs every "
                f"{b.every}, with {b.grace} of grace.", svc.runbook_url(stale)),
        },
        {
            "alert": failed,
            "expr": f"({pushed} - {last} > {BATCH_PUSH_SLACK}) or ({pushed} unless {last})",
            "labels": {"severity": "warning", **svc.labels},
            "annotations": _annotations(
                svc, failed, f"The last run of {svc.name} failed.",
                f"{svc.name} pushed to the Pushgateway without a success: its last push is newer than its "
                f"{b.last_success}.", svc.runbook_url(failed)),
        },
    ]


def service_rule_groups(model: Model, svc: ServiceModel) -> list[Group]:
    groups: list[Group] = []
    rules = service_down_rules(svc) + batch_rules(svc)
    for th in svc.thresholds:
        rules.extend(threshold_rules(svc, th))
    if rules:
        groups.append({"name": f"{svc.name}-thresholds", "rules": rules})
    if svc.recording_rules:
        # right before the alerts: a remote ruler evaluates the two as one group, recordings first (ruler.py)
        groups.append({"name": recordings_group(svc), "rules": [_recording(r) for r in svc.recording_rules]})
    if svc.alerts:
        groups.append({"name": f"{svc.name}-alerts", "rules": [_free_alert(svc, a) for a in svc.alerts]})
    groups.extend(slo.rule_groups(model, svc))
    return groups


def recordings_group(svc: ServiceModel) -> str:
    """The group of the service's free recording rules (its SLOs' are `<service>-slo-<slo>-recordings`)."""
    return f"{svc.name}-recordings"


def _recording(r: RecordingRule) -> Rule:
    # as written: obsgen's labels (service, team) would change the series it records, and merge into one
    # label set the series of a rule that keeps services apart (`sum by (service)`), failing its evaluation
    rule: Rule = {"record": r.record, "expr": r.expr.strip()}
    if r.labels:
        rule["labels"] = dict(r.labels)
    return rule


def _free_alert(svc: ServiceModel, a: Any) -> Rule:
    rule: Rule = {"alert": a.name, "expr": a.expr.strip()}
    if a.for_:
        rule["for"] = a.for_
    if a.keep_firing_for:
        rule["keep_firing_for"] = a.keep_firing_for
    rule["labels"] = {"severity": a.severity, **svc.labels, **a.labels}
    rule["annotations"] = _annotations(svc, a.name, a.summary, a.description, svc.runbook_url(a.name, a.runbook_url))
    return rule


# --------------------------------------------------------------------------- the stack's own alerts


def stack_jobs(model: Model) -> dict[str, str]:
    """The scrape jobs of the stack's components and exporters in prometheus.yml: job -> its first target."""
    services = {svc.job for svc in model.services if svc.scrape}
    return {job["job_name"]: job["static_configs"][0]["targets"][0] for job in scrape_configs(model)
            if job["job_name"] not in services and job["job_name"] not in PROBE_JOBS.values()}


def stack_rule_groups(model: Model) -> list[dict[str, Any]]:
    """The stack's own rule group and its exporters' (the Kubernetes renderers wrap them too)."""
    jobs = stack_jobs(model)
    return stack_alerts.stack_rule_groups(model, jobs) + exporter_alerts.rule_groups(model, jobs)


def stack_tests(model: Model) -> dict[str, Any]:
    """The promtool tests of rules/_stack.yml, fed the targets prometheus.yml gives the stack's jobs."""
    jobs = stack_jobs(model)
    data = stack_alerts.stack_tests(model, jobs)
    data["tests"] += exporter_alerts.tests(model, jobs)
    return data
