"""The output's own README: what was generated, from which spec, how to run it.

Its tables of rows per service (services, health checks, unproven alerts) are written here rather than
by loops in the template: 10,000 rows took Jinja most of a second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .. import __version__, probes
from ..model import Model
from ..spec.ha import HA_TRACKER_KINDS
from . import exporter_alerts, prometheus, proof, templates
from .common import one_line
from .compose import secret_keys

PATH = "README.md"
NONE = "—"  # a table's empty cell
CELL_BAR = "\\|"  # a `|` within a cell


def render(model: Model, files: Mapping[str, str]) -> dict[str, str]:
    """Unlike the other families this one reads what they rendered, so it is called last."""
    folders = Counter(path.rsplit("/", 1)[0] + "/" if "/" in path else "./" for path in files)
    coverage, unproven = _report(model, files)
    text = templates.render(
        "output-README.md.j2",
        version=__version__,
        project=model.project,
        environment=model.environment,
        source=model.source,
        # in an HTML comment: one line, and no `--` to end it early
        source_comment=one_line(model.source).replace("--", "-\\-"),
        service_count=len(model.services),
        service_rows=_service_rows(model),
        files=files,
        folders=sorted(folders.items()),
        deploy=model.stack.deploy,
        operator=_operator(model),
        ruler=_ruler(model),
        ha=_ha(model),
        secrets=sorted(secret_keys(model)),
        integrations=_integrations(model),
        health_check_rows=_health_check_rows(model),
        coverage=coverage,
        unproven_count=len(unproven),
        unproven_rows=_unproven_rows(unproven),
    )
    return {PATH: text}


def _report(model: Model, files: Mapping[str, str]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """What the README says of proof/alerts.json: as read when it was staged (render_into notes it by the
    text's sha256, which the staged files know: `Staged.sha`), else read from its text."""
    sha = getattr(files, "sha", None)
    if sha is not None:
        staged = sha(proof.PATH)  # first: a file still being joined is staged, and what is read of it noted
        known: tuple[dict[str, int], list[dict[str, Any]]] | None = model.memo.get(proof.READ_MEMO, {}).get(staged)
        if known is not None:
            return known
    return proof.read(files[proof.PATH])  # a hundred MB at 10,000 services: decoded in part


# The rows of the tables, a line each

def _service_rows(model: Model) -> str:
    return "".join(
        f"| {s.name} | {s.team or NONE} | {len(s.thresholds)} | {', '.join(slo.name for slo in s.slos) or NONE} "
        f"| {'yes' if s.logs else NONE} |\n" for s in model.services)


def _health_check_rows(model: Model) -> str:
    return "".join(
        f"| {svc.name} | {p.kind} | `{p.target}` | `{p.module}` | `{p.job}` | {probes.alert_name(svc.name, p.kind)} "
        f"| {svc.probe_for(p)} |\n" for svc in model.services for p in svc.probes)


def _unproven_rows(unproven: list[dict[str, Any]]) -> str:
    return "".join(
        f"| {a['alert']} | {a['severity'] or NONE} | `{a['file']}` | {a['reason'].replace('|', CELL_BAR)} "
        f"| {a.get('accepted') or NONE} |\n" for a in unproven)


def _integrations(model: Model) -> dict[str, object] | None:
    """The exporters prometheus.yml scrapes, their alerts, and those that read unverified series."""
    kinds = prometheus.exporters(model)
    if not kinds:
        return None
    # each statically scraped job's first target (a service may list none: `scrape.static: []`)
    jobs = {j["job_name"]: targets[0] for j in prometheus.scrape_configs(model)
            if (targets := [t for c in j.get("static_configs", ()) for t in c.get("targets", ())])}
    rows = [{"kind": kind, "job": job, "target": jobs.get(job, target)}
            for kind, (job, target) in ((k, prometheus.EXPORTER_TARGETS[k]) for k in kinds)]
    return {"exporters": rows, "alerts": [a.name for a in exporter_alerts.alerts(jobs)],
            "unverified": exporter_alerts.unverified_alerts(jobs)}


def _ruler(model: Model) -> dict[str, str] | None:
    rw = model.ruler
    if rw is None:
        return None
    if rw.kind == "thanos":
        return {"kind": "thanos", "name": rw.name, "query": rw.query_url or "", "resource": model.project,
                "interval": model.evaluation_interval}
    base = rw.url.removesuffix("/api/v1/push") if rw.url.endswith("/api/v1/push") else "<the ruler's URL>"
    return {"kind": rw.kind, "name": rw.name, "folder": f"ruler/{rw.name}",
            # without a tenant: the one each uses when multi-tenancy is off (Mimir -auth.no-auth-tenant; Cortex's)
            "tenant": rw.tenant or ("anonymous" if rw.kind == "mimir" else "fake"),
            "tool": "mimirtool" if rw.kind == "mimir" else "cortextool", "address": base,
            "interval": model.evaluation_interval}


def _operator(model: Model) -> dict[str, str] | None:
    k = model.stack.kubernetes
    if "kubernetes" not in model.stack.deploy or not k.prometheus_operator:
        return None
    return {"release": k.release, "namespace": k.namespace, "strategy": k.alertmanager_config_matcher_strategy}


def _ha(model: Model) -> dict[str, object] | None:
    """Prometheus' HA replicas and what deduplicates them downstream (None for one replica)."""
    if not model.replica_label:
        return None
    kinds = {rw.kind for rw in model.stack.prometheus.remote_write}
    tracker = bool(kinds.intersection(HA_TRACKER_KINDS))
    return {"replicas": model.prometheus_replicas, "replica_label": model.replica_label,
            "cluster": model.cluster_label, "tracker": tracker, "remote_write": bool(kinds), "thanos": "thanos" in kinds or not tracker}
