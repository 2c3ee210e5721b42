"""The real exporters, with the real servers behind them, scraped by the real Prometheus running a rendered
prometheus.yml and its rules.

SPEC below enables every exporter obsgen knows that has a Debian package (node, postgres, redis, nginx,
blackbox, mysqld, pgbouncer, process, the Pushgateway) and HAProxy's built-in one (Debian builds HAProxy
with USE_PROMEX); cAdvisor, mongodb and elasticsearch are left out (no package, or no server to stand
behind the exporter). It has a service watched only through each exporter with a server behind it, with the
alerts and panels the examples give such services (agentic-startup-studio's), a service with an HTTP health
check (the blackbox probe), a gRPC service with an SLO class and thresholds, and a batch job (`kind: batch`)
pushing to the Pushgateway. `make tools` (scripts/install-tools.sh) installs the exporters into .tools/ and
PostgreSQL, Redis, nginx, MariaDB, pgbouncer and HAProxy system-wide; each is started here on 127.0.0.1 on a
free port, in a temp dir, side by side, by the captures of scripts/capture_series.py (the code that records
tests/fixtures/metrics/), each process stopped by its own handle: MariaDB behind the mysqld exporter,
pgbouncer (pooling a PostgreSQL of its own) behind the pgbouncer exporter, HAProxy with a backend `app` whose
server answers and a backend `broken` whose server never does, the process exporter watching HAProxy's and
MariaDB's processes. The gRPC service is a real grpcio server instrumented by py-grpc-prometheus' server
interceptor; the batch job's runs push with prometheus_client's push_to_gateway.

What Prometheus runs differs from the rendered prometheus/ folder in two ways only (`local_config`): every
scrape target (and the blackbox job's `__address__` replacement, and the Alertmanager target) is rewritten
to the local address of what stands for it, or to a closed local port where nothing does (Grafana, Loki,
Alertmanager); remote_write is removed (SPEC has none). The rules are the rendered files, unchanged, and the
3s scrape and 1s evaluation intervals are SPEC's own
(3s, not 1s: once PostgreSQL is gone, the postgres exporter takes 1 to 1.8 s to answer a scrape, so a 1s
scrape timeout would fail the scrape and `pg_up 0` would never be stored; the 15s/10s defaults are far from
that).

It asserts that:
- every rule group is healthy: every rule evaluated, health ok, no lastError;
- every selector of every exporter-related rule and dashboard expression returns series: every selector of
  the `exporters` rule group and of SPEC's services' rules and dashboards (so a misspelt metric name is
  caught), and elsewhere a selector of a metric of an exporter's fixture (other than Prometheus' or
  Alertmanager's own) or with a `job` matcher naming an exporter's job (dashboards read as Prometheus gets
  them from Grafana, variables substituted, by promql-parser);
- the process exporter's groups have running processes; the batch job's pushed series keep the job they
  were pushed with (honor_labels, no `exported_job`) and are ingested once, by the batch service's job;
- the gRPC service's label names are the interceptor's, and its error-rate alerts go active on its failing
  calls (so the error codes obsgen selects are spelled as the interceptor writes them);
- HAProxy's backend `broken` has HAProxyBackendDown and HAProxyServerDown pending from the start; a run of
  the batch job that pushes no success fires its RunFailed alert, and a push the Pushgateway refuses (a
  clashing metric type) fires PushgatewayPushFailed;
- stopping each server behind an exporter (MariaDB also empties the process exporter's `mariadbd` group) makes
  the spec's alert on the exporter's own gauge (pg_up == 0, mysql_up == 0, ...) fire, the `exporters` group's
  alert on it (PostgreSQLDown, MySQLDown, PgbouncerDown, HAProxyBackendDown for `app`, ProcessNotRunning, ...)
  and the health check's alert go pending; stopping each exporter makes MonitoringTargetDown go pending for
  its job and instance, and the gRPC and batch services' Down alerts fire. Before anything is stopped none of
  these is active for those jobs.

MonitoringTargetDown's, the exporters' and the health check's `for` are minutes (5m, 1m, 2m). Waiting for
them is not needed to prove the expression: an alert rule is *pending* exactly when its expression, as
Prometheus loaded it from the rendered file, returns a series with those labels; *firing* then follows
after `for` by Prometheus' own timer, which the generated promtool tests already prove
(tests/test_real_series.py). So the test asserts the real rule's state pending with the exporter's labels,
and also queries MonitoringTargetDown's expression as /api/v1/rules reports it. The alerts whose `for` is 1s
or none are asserted firing.

The whole test is bounded: each wait by STEP seconds, the test by about a minute of wall time. Where the
exporters or servers cannot be installed, OBSGEN_LIVE=0 skips it (the static checks of the committed
fixtures, tests/test_real_series.py, still run); otherwise a missing binary fails it.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from e2e_support import HOST, Server, free_port, get_json, wait_until
from test_dashboard_jobs import expressions as dashboard_expressions
from test_real_series import fixtures

from obsgen.model import Model, resolve
from obsgen.naming import batch_failed_alert, batch_stale_alert, service_down_alert
from obsgen.render import render_all
from obsgen.render.exporter_alerts import GROUP as EXPORTERS_GROUP
from obsgen.render.prometheus import BLACKBOX_JOB, EXPORTER_TARGETS, STACK_TARGETS, exporter_entry
from obsgen.spec import load_spec_text
from obsgen.spec.expressions import nodes, parse_promql

sys.path.insert(0, str(ROOT / "scripts"))
import capture_series  # noqa: E402 - the captures start the exporters; found through the path set just above

TOOLS = ROOT / ".tools"
STEP = 30.0  # seconds any one wait may take


@dataclass(frozen=True)
class Live:
    """How one exporter type of the spec runs here."""

    capture: str  # the method of capture_series.Capture that starts its server and itself
    binary: str | None  # its binary in .tools/bin (None: the server serves its own metrics)
    backend: str | None = None  # what stands behind it, as that capture names it (a server or a stand-in)
    down_alert: str | None = None  # SPEC's alert on the exporter's own gauge, firing once `backend` stops
    # the `exporters` group's alert (rules/_stack.yml) on `backend`, with its labels: pending once it stops
    stack_alert: tuple[str, dict[str, str]] | None = None
    serves: str | None = None  # the process serving its /metrics, as the capture names it (`<capture>-exporter`)
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the capture

    @property
    def exporter(self) -> str:
        return self.serves or f"{self.capture}-exporter"


# the process exporter watches processes of servers the test runs (no other test runs these)
PROCESSES = ("haproxy", "mariadbd")
# exporter type -> how it runs; a new exporter with a capture is one entry here and its service in SPEC
EXPORTERS: dict[str, Live] = {
    "node": Live("node", "prometheus-node-exporter"),
    "postgres": Live("postgres", "prometheus-postgres-exporter", "postgresql", "DatabaseDown", ("PostgreSQLDown", {})),
    "redis": Live("redis", "prometheus-redis-exporter", "redis-server", "CacheDown", ("RedisDown", {})),
    "nginx": Live("nginx", "prometheus-nginx-exporter", "nginx", "ProxyDown", ("NginxDown", {})),
    "blackbox": Live("blackbox", "prometheus-blackbox-exporter"),
    "mysqld": Live("mysqld", "prometheus-mysqld-exporter", "mariadb", "AccountsDbUnreachable", ("MySQLDown", {})),
    "pgbouncer": Live("pgbouncer", "prometheus-pgbouncer-exporter", "pgbouncer", "DbPoolUnreachable",
                      ("PgbouncerDown", {})),
    # HAProxy is its own exporter; behind it, backend `app` has one server (and backend `broken` none up)
    "haproxy": Live("haproxy", None, "haproxy-app", "EdgeHasNoServer", ("HAProxyBackendDown", {"proxy": "app"}),
                    serves="haproxy"),
    # MariaDB's going (mysqld's backend) empties the mariadbd group
    "process": Live("process", "prometheus-process-exporter", None, None,
                    ("ProcessNotRunning", {"groupname": "mariadbd"}), options={"names": PROCESSES}),
    "pushgateway": Live("pushgateway", "prometheus-pushgateway", options={"push": False}),
}
SERVERS = ("redis-server", "nginx", "mariadbd", "mariadb-install-db", "mariadb", "pgbouncer", "haproxy")
GRPC = "quotes-rpc"
GRPC_SERVICE = "quotes.v1.Quotes"
HEALTH = "web"  # the service with a health check: its URL is served by an HTTP server answering 200
BATCH = "invoice-export"  # a batch job pushing to the Pushgateway as prometheus_client's push_to_gateway does
LAST_SUCCESS = "invoice_export_last_success_unixtime"

SPEC = f"""
version: 1
project: {{name: live}}
defaults: {{scrape_interval: 3s, evaluation_interval: 1s, threshold_for: 1s}}
slo_classes:
  critical:
    availability: 99.9
    latency: {{threshold: 250ms, objective: 99}}
    period: 7d
services:
  - name: database
    alerts:
      - {{name: DatabaseDown, expr: pg_up == 0, for: 1s, severity: critical, summary: PostgreSQL cannot be reached.}}
    panels:
      - {{title: Connections, expr: 'sum by (datname) (pg_stat_database_numbackends)', unit: short}}
      - title: Transactions
        expr: sum(rate(pg_stat_database_xact_commit[$__rate_interval])) + sum(rate(pg_stat_database_xact_rollback[$__rate_interval]))
        unit: ops
  - name: cache
    alerts:
      - {{name: CacheDown, expr: redis_up == 0, for: 1s, severity: critical, summary: Redis cannot be reached.}}
    panels:
      - {{title: Memory used, expr: 'sum(redis_memory_used_bytes)', unit: bytes}}
      - title: Hit ratio
        expr: sum(rate(redis_keyspace_hits_total[$__rate_interval])) / (sum(rate(redis_keyspace_hits_total[$__rate_interval])) + sum(rate(redis_keyspace_misses_total[$__rate_interval])))
        unit: percentunit
  - name: proxy
    alerts:
      - {{name: ProxyDown, expr: nginx_up == 0, for: 1s, severity: critical, summary: NGINX cannot be reached.}}
    panels:
      - {{title: Requests, expr: 'sum(rate(nginx_http_requests_total[$__rate_interval]))', unit: reqps}}
      - {{title: Active connections, expr: 'sum(nginx_connections_active)', unit: short}}
  - name: host
    thresholds:
      - {{name: HostCpuUsage, unit: percent, warning: 80, summary: CPU usage is high.,
          expr: '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[5m])))'}}
      - {{name: HostMemoryUsage, unit: percent, warning: 80, critical: 95, summary: Memory is running out.,
          expr: '100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)'}}
      - name: HostDiskUsage
        expr: 100 * (1 - min by (instance, mountpoint) (node_filesystem_avail_bytes{{fstype!~"tmpfs|overlay"}} / node_filesystem_size_bytes{{fstype!~"tmpfs|overlay"}}))
        unit: percent
        warning: 80
        critical: 95
        summary: A disk is filling up.
  - name: {HEALTH}
    health: {{http: "http://{HEALTH}:8080/healthz"}}
  - name: accounts-db
    alerts:
      - {{name: AccountsDbUnreachable, expr: mysql_up == 0, for: 1s, severity: critical,
          summary: MariaDB cannot be reached.}}
    panels:
      - {{title: Threads connected, expr: 'sum(mysql_global_status_threads_connected)', unit: short}}
      - {{title: Slow queries, expr: 'sum(rate(mysql_global_status_slow_queries[$__rate_interval]))', unit: ops}}
  - name: db-pool
    alerts:
      - {{name: DbPoolUnreachable, expr: pgbouncer_up == 0, for: 1s, severity: critical,
          summary: pgbouncer's admin console cannot be reached.}}
    panels:
      - {{title: Server connections, expr: 'sum by (database) (pgbouncer_pools_server_active_connections)',
          unit: short}}
  - name: edge
    alerts:
      - {{name: EdgeHasNoServer, expr: 'haproxy_backend_active_servers{{proxy="app"}} == 0', for: 1s,
          severity: critical, summary: The app backend has no server up.}}
    panels:
      - title: Responses by code
        expr: sum by (code) (rate(haproxy_backend_http_responses_total{{proxy="app"}}[$__rate_interval]))
        unit: reqps
  - name: {BATCH}
    kind: batch
    scrape: {{static: ["pushgateway:9091"], down_for: 1s}}
    batch: {{every: 1h, grace: 15m}}
  - name: {GRPC}
    kind: grpc
    class: critical
    scrape: {{static: ["{GRPC}:9090"], down_for: 1s}}
    thresholds:
      - {{indicator: error_rate, warning: 1%, critical: 5%}}
      - {{indicator: latency_p99, warning: 250ms, critical: 1s}}
      - {{indicator: request_rate, warning: 5, critical: 1}}
channels:
  oncall: {{type: webhook, url: "http://incident-bot:9000/alerts"}}
routing: {{default: oncall}}
stack:
  deploy: [compose]
  exporters: [node, {{type: postgres, dsn_file: /run/secrets/dsn}}, {{type: redis, target: "redis:6379"}},
              {{type: nginx, target: "nginx:8080"}}, blackbox, {{type: mysqld, target: "accounts-db:3306"}},
              {{type: pgbouncer, target: "db-pool:6432"}}, {{type: haproxy, target: "edge-lb:8405"}},
              {{type: process, processes: [{", ".join(PROCESSES)}]}}, pushgateway]
"""


# --------------------------------------------------------------------------- what is needed


def _needed() -> list[str]:
    """What the test needs and this machine lacks."""
    missing = [f".tools/bin/{b}" for b in ("prometheus", *(live.binary for live in EXPORTERS.values()))
               if b and not (TOOLS / "bin" / b).exists()]
    if not (TOOLS / "etc" / "prometheus" / "blackbox.yml").exists():
        missing.append(".tools/etc/prometheus/blackbox.yml")
    if not list(capture_series.PG_BIN.glob("*/bin/postgres")):
        missing.append("postgresql")
    missing += [b for b in SERVERS if shutil.which(b, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]
    try:
        import grpc  # noqa: F401
        import py_grpc_prometheus  # noqa: F401
    except ImportError:
        missing.append("grpcio and py-grpc-prometheus (pip install -e '.[test]')")
    return missing


def _require() -> None:
    if os.environ.get("OBSGEN_LIVE") == "0":
        pytest.skip("OBSGEN_LIVE=0: the real exporters are not run (tests/test_real_series.py checks their "
                    "committed captures)")
    missing = _needed()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make tools` (as root, for the servers), or set "
                    "OBSGEN_LIVE=0 to skip the live exporter test")


# --------------------------------------------------------------------------- the gRPC service


class GrpcService:
    """A grpcio server with py-grpc-prometheus' server interceptor (handling-time histogram on), its
    /metrics served by prometheus_client from its own registry on another port."""

    def __init__(self) -> None:
        import grpc
        import prometheus_client
        from py_grpc_prometheus.prometheus_server_interceptor import PromServerInterceptor

        # its own registry with what prometheus_client's default one holds (process, platform, gc)
        self.registry = prometheus_client.CollectorRegistry()
        prometheus_client.ProcessCollector(registry=self.registry)
        prometheus_client.PlatformCollector(registry=self.registry)
        prometheus_client.GCCollector(registry=self.registry)
        interceptor = PromServerInterceptor(enable_handling_time_histogram=True, registry=self.registry)

        def get(request: bytes, context: Any) -> bytes:
            return b"ok"

        def slow(request: bytes, context: Any) -> bytes:
            time.sleep(0.3)
            return b"late"

        def unavailable(request: bytes, context: Any) -> bytes:
            context.abort(grpc.StatusCode.UNAVAILABLE, "backend down")  # raises

        def internal(request: bytes, context: Any) -> bytes:
            context.set_code(grpc.StatusCode.INTERNAL)
            return b""

        def not_found(request: bytes, context: Any) -> bytes:  # a client's error: not a server error
            context.set_code(grpc.StatusCode.NOT_FOUND)
            return b""

        handlers = {name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in
                    {"Get": get, "Slow": slow, "Fail": unavailable, "Break": internal, "Find": not_found}.items()}
        self._pool = ThreadPoolExecutor(max_workers=4)
        self._server = grpc.server(self._pool, interceptors=[interceptor])
        self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(GRPC_SERVICE, handlers)])
        self.port = self._server.add_insecure_port(f"{HOST}:0")
        self._server.start()
        self.metrics = f"{HOST}:{free_port()}"
        self._http, _ = prometheus_client.start_http_server(int(self.metrics.rsplit(":", 1)[1]), addr=HOST,
                                                            registry=self.registry)
        self._channel = grpc.insecure_channel(f"{HOST}:{self.port}")

    def call(self, method: str, times: int) -> None:
        import grpc

        stub = self._channel.unary_unary(f"/{GRPC_SERVICE}/{method}")
        for _ in range(times):
            try:
                stub(b"x", timeout=5)
            except grpc.RpcError:
                pass

    def traffic(self) -> None:
        """20 OK calls, 2 slow ones (300 ms), 3 Unavailable, 2 Internal, 2 NotFound."""
        for method, n in (("Get", 20), ("Slow", 2), ("Fail", 3), ("Break", 2), ("Find", 2)):
            self.call(method, n)

    def stop_metrics(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def close(self) -> None:
        self._channel.close()
        self._server.stop(grace=None).wait(5)
        self._pool.shutdown(wait=False)
        self.stop_metrics()


# --------------------------------------------------------------------------- the rendered config, local


def local_config(cfg: dict[str, Any], addresses: dict[str, str], closed: str) -> dict[str, Any]:
    """prometheus.yml with each scrape target (and the blackbox job's `__address__` replacement, and the
    Alertmanager targets) rewritten to its local stand-in in `addresses`, or to `closed` where there is
    none; remote_write removed. Nothing else changes."""
    cfg = json.loads(json.dumps(cfg))

    def local(targets: list[str]) -> list[str]:
        return [addresses.get(t, closed) for t in targets]

    for job in cfg["scrape_configs"]:
        for sc in job.get("static_configs", []):
            sc["targets"] = local(sc["targets"])
        for r in job.get("relabel_configs", []):
            if r.get("target_label") == "__address__" and "replacement" in r:
                r["replacement"] = addresses.get(r["replacement"], closed)
    for am in cfg.get("alerting", {}).get("alertmanagers", []):
        for sc in am.get("static_configs", []):
            sc["targets"] = local(sc["targets"])
    cfg.pop("remote_write", None)
    return cfg


def test_local_config_rewrites_only_the_targets() -> None:
    cfg = {"global": {"scrape_interval": "1s"}, "remote_write": [{"url": "https://x/api/v1/write"}],
           "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
           "scrape_configs": [
               {"job_name": "a", "static_configs": [{"targets": ["a:1", "b:2"], "labels": {"service": "a"}}]},
               {"job_name": "p", "metrics_path": "/probe", "static_configs": [{"targets": ["http://w/h"]}],
                "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                    {"target_label": "__address__", "replacement": "bb:9115"}]}]}
    out = local_config(cfg, {"a:1": "127.0.0.1:5", "http://w/h": "http://127.0.0.1:6/h", "bb:9115": "127.0.0.1:7"},
                       "127.0.0.1:9")
    assert "remote_write" not in out and out["global"] == cfg["global"]
    assert out["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9"]
    assert out["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:5", "127.0.0.1:9"],
                                                           "labels": {"service": "a"}}]
    assert out["scrape_configs"][1]["static_configs"][0]["targets"] == ["http://127.0.0.1:6/h"]
    assert out["scrape_configs"][1]["relabel_configs"] == [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"target_label": "__address__", "replacement": "127.0.0.1:7"}]
    assert cfg["scrape_configs"][0]["static_configs"][0]["targets"] == ["a:1", "b:2"]  # the input is left alone


# --------------------------------------------------------------------------- the selectors asked about


def _exporter_metrics() -> set[str]:
    """Metric names the exporters' fixtures hold that Prometheus' and Alertmanager's do not."""
    own = {"prometheus", "alertmanager"}
    found = fixtures()
    theirs = {m for name, metrics in found.items() if name not in own for m in metrics}
    return theirs - {m for name in own for m in found.get(name, {})}


EXPORTER_JOBS = {job for job, _ in EXPORTER_TARGETS.values()} | {BLACKBOX_JOB}
SERVICES = [svc["name"] for svc in yaml.safe_load(SPEC)["services"]]


def selectors(expr: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(selector as PromQL, its equality matchers) of each vector selector of `expr`."""
    parsed = parse_promql(expr)
    assert parsed is not None, f"does not parse: {expr}"
    pp, tree = parsed
    for node in nodes(pp, tree):
        if isinstance(node, pp.VectorSelector):
            equal = {m.name: m.value for m in node.matchers.matchers if str(m.op) == "MatchOp.Equal"}
            if node.name:
                equal["__name__"] = node.name
            yield str(node), equal


def asked(files: dict[str, str]) -> dict[str, list[str]]:
    """Each exporter-related selector of the rendered rules and dashboards -> where it is used: every one of
    the exporters' alerts and of SPEC's services' rules and dashboards (a misspelt metric name included), and
    elsewhere (the stack's dashboard) those of an exporter's metric or job."""
    exporter_metrics = _exporter_metrics()
    found: dict[str, list[str]] = collections.defaultdict(list)
    places: list[tuple[str, str]] = []
    for path, text in sorted(files.items()):
        if path.startswith("prometheus/rules/") and path.endswith(".yml"):
            for group in yaml.safe_load(text)["groups"]:
                places += [(f"{path};{group['name']} {r.get('alert') or r.get('record')}", str(r["expr"]))
                           for r in group["rules"]]
    places += [(f"{path} {place}", expr) for path, place, expr in dashboard_expressions(files)]
    own = [f"/{name}." for name in SERVICES] + [f"/_stack.yml;{EXPORTERS_GROUP} "]
    for place, expr in places:
        own_place = any(o in place for o in own)
        for text, equal in selectors(expr):
            if equal.get("__name__") in ("ALERTS", "ALERTS_FOR_STATE"):
                continue  # what is active, not what is scraped
            if own_place or equal.get("__name__") in exporter_metrics or equal.get("job") in EXPORTER_JOBS:
                found[text].append(place)
    return found


def empty_selectors(prom: str, files: dict[str, str]) -> list[str]:
    """The exporter-related selectors that return no series, each with where it is used."""
    return [f"{sel}  (in {', '.join(sorted(set(places))[:3])})" for sel, places in sorted(asked(files).items())
            if not query(prom, f"count({sel})")]


# --------------------------------------------------------------------------- talking to Prometheus


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    data = get_json(f"{prom}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert data["status"] == "success", data
    return list(data["data"]["result"])


def rules(prom: str) -> list[dict[str, Any]]:
    return [dict(r, group=g["name"], file=g["file"]) for g in get_json(f"{prom}/api/v1/rules")["data"]["groups"]
            for r in g["rules"]]


def alerts(prom: str) -> list[dict[str, Any]]:
    return list(get_json(f"{prom}/api/v1/alerts")["data"]["alerts"])


def active(prom: str, alertname: str, state: str | None = None, **labels: str) -> bool:
    return any(a["labels"].get("alertname") == alertname and (state is None or a["state"] == state)
               and all(a["labels"].get(k) == v for k, v in labels.items()) for a in alerts(prom))


def wait(what: str, condition: Callable[[], bool], prom: Server) -> None:
    if not wait_until(condition, STEP, 0.25):
        states = sorted(f"{a['labels'].get('alertname')} {a['state']} {a['labels'].get('job', '')}"
                        for a in alerts(prom.url))
        pytest.fail(f"timed out after {STEP:g}s waiting for {what}; active alerts: {states}; "
                    f"Prometheus log:\n{prom.log_tail(10)}")


# --------------------------------------------------------------------------- the test


@pytest.fixture
def work() -> Iterator[Path]:
    # PostgreSQL runs as its own user (when this runs as root) and must reach its data directory: a folder
    # of its own under the system temp dir, readable by all, not pytest's private tmp_path
    path = Path(tempfile.mkdtemp(prefix="obsgen-live."))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def exporter_target(model: Model, kind: str) -> str:
    """The address prometheus.yml scrapes an exporter type at."""
    entry = exporter_entry(model, kind)
    return str(entry.target) if kind == "haproxy" and entry is not None and entry.target else EXPORTER_TARGETS[kind][1]


def push_run(gateway: str, succeeded: bool, instance: str | None = None, summary: bool = False) -> None:
    """One run of the batch job pushing its metrics, as prometheus_client's docs have a batch job do: its
    duration always (a summary with `summary`), its last success only when it succeeded. Replaces the
    group (job, and instance when given)."""
    import prometheus_client as pc

    registry = pc.CollectorRegistry()
    if summary:
        pc.Summary("invoice_export_duration_seconds", "How long the run took.", registry=registry).observe(12.5)
    else:
        pc.Gauge("invoice_export_duration_seconds", "How long the run took.", registry=registry).set(12.5)
    if succeeded:
        pc.Gauge(LAST_SUCCESS, "When the run last succeeded.", registry=registry).set_to_current_time()
    pc.push_to_gateway(gateway, job=BATCH, registry=registry, grouping_key={"instance": instance} if instance else {},
                       timeout=10)


def test_the_rendered_config_on_the_real_exporters(work: Path) -> None:
    _require()
    started = time.monotonic()
    model = resolve(load_spec_text(SPEC, "live.yaml"), "live.yaml")
    assert {e if isinstance(e, str) else e.type for e in model.stack.exporters} == set(EXPORTERS)
    process_entry = exporter_entry(model, "process")
    assert process_entry is not None and tuple(process_entry.processes) == EXPORTERS["process"].options["names"]
    files = render_all(model)
    with ExitStack() as stack:
        (work / "captures").mkdir()
        capture = capture_series.Capture(TOOLS / "bin", TOOLS / "etc" / "prometheus", TOOLS / "bin",
                                         work / "captures", work, collections.defaultdict(lambda: "(live)"),
                                         stack)
        # the servers and exporters start side by side (initdb and mariadb-install-db take seconds each)
        with ThreadPoolExecutor(max_workers=len(EXPORTERS)) as pool:
            starting = [pool.submit(getattr(capture, live.capture), **live.options) for live in EXPORTERS.values()]
            health = capture_series.Answering(200)
            stack.callback(health.close)
            grpc_service = GrpcService()
            stack.callback(grpc_service.close)
            grpc_service.traffic()
            for future in starting:
                try:
                    future.result()
                except subprocess.CalledProcessError as e:  # initdb, mariadb-install-db, ...: say why
                    pytest.fail(f"{e}\n{(e.stderr or b'').decode(errors='replace')[-2000:]}")
        gateway = capture.servers[EXPORTERS["pushgateway"].exporter].address
        push_run(gateway, succeeded=True)

        prom_port = free_port()
        addresses = {exporter_target(model, kind): capture.servers[live.exporter].address
                     for kind, live in EXPORTERS.items()}
        addresses |= {STACK_TARGETS["prometheus"]: f"{HOST}:{prom_port}", f"{GRPC}:9090": grpc_service.metrics,
                      f"http://{HEALTH}:8080/healthz": f"http://{health.address}/healthz"}
        prom_dir = work / "prometheus"
        for path, text in files.items():
            if path.startswith("prometheus/rules/"):
                (prom_dir / path).parent.mkdir(parents=True, exist_ok=True)
                (prom_dir / path).write_text(text, "utf-8")
        cfg = local_config(yaml.safe_load(files["prometheus/prometheus.yml"]), addresses, f"{HOST}:{free_port()}")
        (prom_dir / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
        prom = Server([str(TOOLS / "bin" / "prometheus"), "--config.file=prometheus.yml",
                       f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address={HOST}:{prom_port}"],
                      prom_port, work / "prometheus.log", cwd=prom_dir / "prometheus")
        stack.callback(prom.stop)
        prom.wait_ready()
        url = prom.url

        # every local target answers; a second round of traffic after the first scrapes, so rates move
        live_jobs = sorted({EXPORTER_TARGETS[kind][0] for kind in EXPORTERS} | {BLACKBOX_JOB, "prometheus", GRPC,
                                                                                 BATCH})
        wait(f"up == 1 for {live_jobs}",
             lambda: {s["metric"]["job"] for s in query(url, "up == 1")} >= set(live_jobs), prom)
        grpc_service.traffic()
        wait("every rule evaluated", lambda: all(r["health"] != "unknown" for r in rules(url)), prom)
        wait("rates of the gRPC calls", lambda: bool(query(
            url, f'sum(rate(grpc_server_handled_total{{job="{GRPC}",grpc_code="OK"}}[5m])) > 0')), prom)

        # -- every rule group healthy
        bad = [f"{r['file']};{r['group']} {r.get('name')}: health {r['health']} {r.get('lastError', '')}"
               for r in rules(url) if r["health"] != "ok" or r.get("lastError")]
        assert not bad, "rules not healthy:\n" + "\n".join(bad)

        # -- every exporter-related selector returns series; a misspelt one is caught
        assert len(asked(files)) > 60, sorted(asked(files))
        wait_until(lambda: not empty_selectors(url, files), STEP, 1)  # recordings of recordings lag a little
        empty = empty_selectors(url, files)
        assert not empty, f"{len(empty)} selectors return no series:\n" + "\n".join(empty)
        broken = dict(files)
        path = "grafana/dashboards/database.json"
        broken[path] = files[path].replace("pg_stat_database_numbackends", "pg_stat_database_numbackend")
        assert broken[path] != files[path]
        assert [e.split()[0] for e in empty_selectors(url, broken)] == [
            'pg_stat_database_numbackend{job="postgres-exporter",instance=~".+"}'], empty_selectors(url, broken)

        # -- the process exporter's groups are processes that run: one each, at least
        running = {s["metric"]["groupname"] for s in query(url, 'namedprocess_namegroup_num_procs{job="process-exporter"} > 0')}
        assert running == set(PROCESSES), running

        # -- the Pushgateway: the pushed job label kept (honor_labels), the batch job's group ingested once, by
        # the batch service's job (with its target labels), the Pushgateway's own metrics by the pushgateway job
        pushed = query(url, f'{{__name__=~"{LAST_SUCCESS}|push_time_seconds"}}')
        assert sorted((s["metric"]["__name__"], s["metric"]["job"], s["metric"].get("service", "")) for s in pushed) == [
            (LAST_SUCCESS, BATCH, BATCH), ("push_time_seconds", BATCH, BATCH)], pushed
        assert not query(url, '{exported_job=~".+"}')
        assert query(url, 'pushgateway_build_info{job="pushgateway"}')

        # -- gRPC: the interceptor's label names, and the error codes obsgen selects as it spells them
        handled = query(url, f'grpc_server_handled_total{{job="{GRPC}"}}')
        assert {frozenset(s["metric"]) - {"job", "instance", "service"} for s in handled} == {
            frozenset({"__name__", "grpc_type", "grpc_service", "grpc_method", "grpc_code"})}, handled
        assert {s["metric"]["grpc_service"] for s in handled} == {GRPC_SERVICE}
        assert query(url, f'grpc_server_handling_seconds_bucket{{job="{GRPC}",le="0.25"}}')
        for alert in ("QuotesRpcErrorRateHigh", "QuotesRpcLatencyP99High", "QuotesRpcRequestRateLow"):
            wait(f"{alert} active", lambda alert=alert: active(url, alert), prom)
        # the SLO's recording is another group's, evaluated at its own times: it may lag the alerts a little
        slo_ratio = 'slo:sli_error:ratio_rate5m{slo_id="quotes-rpc-availability"}'
        wait("the SLO's error ratio above 0", lambda: bool(query(url, f"{slo_ratio} > 0")), prom)
        ratio = query(url, slo_ratio)
        assert ratio and 0 < float(ratio[0]["value"][1]) < 1, ratio  # the server errors, not the NotFound

        # -- Down alerts: nothing active for these jobs before anything stops, but HAProxy's backend `broken`
        downs = [live.down_alert for live in EXPORTERS.values() if live.down_alert]
        stack_downs = [live.stack_alert for live in EXPORTERS.values() if live.stack_alert]
        quiet = {*downs, *(name for name, _ in stack_downs), service_down_alert(GRPC), service_down_alert(BATCH),
                 batch_failed_alert(BATCH), batch_stale_alert(BATCH), "PushgatewayPushFailed",
                 "WebHealthCheckFailing"}
        for alert, labels in (("HAProxyBackendDown", {"proxy": "broken"}),
                              ("HAProxyServerDown", {"proxy": "broken", "server": "broken1"})):
            wait(f"{alert} pending for {labels}", lambda alert=alert, labels=labels: active(
                url, alert, "pending", job="haproxy", **labels), prom)

        def early() -> list[str]:
            return [f"{a['labels']['alertname']} {a['state']} {a['labels'].get('job', '')}" for a in alerts(url)
                    if a["labels"].get("proxy") != "broken" and (a["labels"]["alertname"] in quiet
                                                                 or a["labels"].get("job") in EXPORTER_JOBS)]

        # a wait, not a look: on a busy machine one scrape may time out and raise MonitoringTargetDown for it
        if not wait_until(lambda: not early(), STEP, 0.5):
            pytest.fail(f"active before anything stopped: {early()}")

        # -- the batch job: a run that fails pushes no success; a push of a clashing type is refused
        push_run(gateway, succeeded=False)
        wait(f"{batch_failed_alert(BATCH)} firing", lambda: active(url, batch_failed_alert(BATCH), "firing", job=BATCH),
             prom)
        with pytest.raises(OSError, match="400"):
            push_run(gateway, succeeded=True, instance="runner-2", summary=True)
        wait("PushgatewayPushFailed firing", lambda: active(
            url, "PushgatewayPushFailed", "firing", job=BATCH, instance="runner-2"), prom)

        # the servers behind the exporters (and the health check's), each by its handle
        for live in EXPORTERS.values():
            if live.backend in capture.servers:
                capture.servers[live.backend].stop()
            elif live.backend:
                capture.stand_ins[live.backend].close()
        health.close()
        for alert in downs:
            wait(f"{alert} firing", lambda alert=alert: active(url, alert, "firing"), prom)
        for alert, labels in stack_downs:
            wait(f"{alert} pending for {labels}", lambda alert=alert, labels=labels: active(url, alert, **labels), prom)
        wait("WebHealthCheckFailing pending", lambda: active(url, "WebHealthCheckFailing", service=HEALTH), prom)
        # then each exporter, and the gRPC service's metrics
        for live in EXPORTERS.values():
            capture.servers[live.exporter].stop()
        grpc_service.stop_metrics()
        target_down = next(r for r in rules(url) if r.get("name") == "MonitoringTargetDown")
        scraped = {EXPORTER_TARGETS[kind][0]: addresses[exporter_target(model, kind)] for kind in EXPORTERS}
        for job, instance in scraped.items():
            wait(f"MonitoringTargetDown pending for {job}", lambda job=job, instance=instance: active(
                url, "MonitoringTargetDown", job=job, instance=instance), prom)
        down = {(s["metric"]["job"], s["metric"]["instance"]) for s in query(url, target_down["query"])}
        assert set(scraped.items()) <= down, down
        for name in (GRPC, BATCH):
            alert = service_down_alert(name)
            wait(f"{alert} firing", lambda alert=alert, name=name: active(url, alert, "firing", job=name), prom)
    assert time.monotonic() - started < 120
