"""The alerts of the exporters the stack deploys (prometheus/rules/_stack.yml, group `exporters`) and their
promtool cases (prometheus/tests/_stack.test.yml): each exporter's "backend down" alert and the few
thresholds its upstream mixin has, named as there where there is one.

Each alert gets a case where it fires, with its labels and annotations asserted, and one where it stays
silent. The input series carry the label sets of the real exporters (`obsgen.real_series`, checked
against the captured fixtures) plus the job and instance prometheus.yml gives the exporter's scrape job;
those of Elasticsearch's cluster health and kafka_exporter's lag are the documented ones
(`real_series.UNVERIFIED`). A dead exporter itself is MonitoringTargetDown's (stack_alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from .. import real_series
from ..gotemplate import go_literal
from ..model import Model
from ..stack_targets import EXPORTER_TARGETS
from .stack_alerts import STEP, Cases, Group, Rule, TestGroup

GROUP = "exporters"
MAX_LAG = "MAX_LAG"  # in an expression: the kafka exporter's `max_lag`


class ExporterAlert(NamedTuple):
    kind: str  # the exporter type it belongs to
    name: str
    severity: str
    for_: str
    expr: str
    summary: str
    description: str
    cases: Callable[[Cases, str], list[TestGroup]]  # (cases, alert name) -> its test groups
    unverified: bool = False  # reads series no real server was captured for (real_series.UNVERIFIED)


class Feed(NamedTuple):
    """One input series of a case: its metric and real labels, its healthy and its failing value."""

    metric: str
    labels: dict[str, str]
    healthy: str
    failing: str


def _job(kind: str) -> str:
    return EXPORTER_TARGETS[kind][0]


def _flip(kind: str, feeds: list[Feed], exp_labels: list[dict[str, str]], value: float, what: str,
          healthy: str, honor: bool = False) -> Callable[[Cases, str], list[TestGroup]]:
    """Cases for an alert on gauges: the feeds healthy for two samples, then failing; and always healthy.
    The fired alert carries the exporter's job and instance with `exp_labels` (one alert each); `honor`:
    the feeds' own job and instance stand (a Pushgateway's pushed groups)."""

    def build(c: Cases, alert: str) -> list[TestGroup]:
        true_from = 2 * STEP
        n = c.steps(alert, true_from)
        job = _job(kind)

        def series(values: Callable[[Feed], str]) -> list[dict[str, str]]:
            out = []
            for f in feeds:
                if honor:
                    body = ",".join(f'{k}="{v}"' for k, v in f.labels.items())
                    out.append({"series": f"{f.metric}{{{body}}}", "values": values(f)})
                else:
                    out.append(c.series(f.metric, job, values(f), f.labels))
            return out

        failing = series(lambda f: f"{f.healthy}x1 {f.failing}x{n - 1}")
        ok = series(lambda f: f"{f.healthy}x{n}")
        target = {} if honor else c.target(job)
        expected = [c.expected(alert, {**target, **labels}, value) for labels in exp_labels]
        checks = [c.check(alert, c.fires_at(alert, true_from), expected)]
        if alert_for(c, alert):
            checks.insert(0, c.check(alert, c.pending_at(alert, true_from), []))
        return [
            c.group(f"{alert}: fires once {what}" + (" for its `for`, silent before" if alert_for(c, alert) else ""),
                    failing, checks),
            c.group(f"{alert}: silent while {healthy}", ok, [c.check(alert, c.fires_at(alert, true_from), [])]),
        ]

    return build


def alert_for(c: Cases, alert: str) -> bool:
    return "for" in c.rules[alert]


def _up(kind: str, metric: str, what: str) -> Callable[[Cases, str], list[TestGroup]]:
    return _flip(kind, [Feed(metric, real_series.label_sets(metric)[0], "1", "0")], [{}], 0.0,
                 f"the exporter stops reaching {what}", f"it reaches {what}")


def _mysql_connections(c: Cases, alert: str) -> list[TestGroup]:
    # 140 of 151 connections: 92.7 %
    feeds = [Feed("mysql_global_status_threads_connected", {}, "10", "140"),
             Feed("mysql_global_variables_max_connections", {}, "151", "151")]
    return _flip("mysqld", feeds, [{}], 140 / 151 * 100, "140 of 151 connections are in use",
                 "10 are")(c, alert)


def _pgbouncer_waiting(c: Cases, alert: str) -> list[TestGroup]:
    labels = real_series.label_sets("pgbouncer_pools_client_waiting_connections")[0]
    return _flip("pgbouncer", [Feed("pgbouncer_pools_client_waiting_connections", labels, "0", "3")], [labels],
                 3.0, "three clients wait for a server connection", "no client waits")(c, alert)


def _haproxy_backend(c: Cases, alert: str) -> list[TestGroup]:
    up, down = real_series.label_sets("haproxy_backend_status", proxy="app")
    feeds = [Feed("haproxy_backend_status", up, "1", "0"), Feed("haproxy_backend_status", down, "0", "1")]
    return _flip("haproxy", feeds, [{"proxy": "app", "state": "UP"}], 0.0, "backend app has no server up",
                 "it has one")(c, alert)


def _haproxy_server(c: Cases, alert: str) -> list[TestGroup]:
    states = real_series.label_sets("haproxy_server_status", proxy="app", server="app1")
    feeds = [Feed("haproxy_server_status", labels, "1" if labels["state"] == "UP" else "0",
                  "1" if labels["state"] == "DOWN" else "0") for labels in states]
    return _flip("haproxy", feeds, [{"proxy": "app", "server": "app1", "state": "DOWN"}], 1.0, "server app1 fails its checks",
                 "it passes them")(c, alert)


def _process(c: Cases, alert: str) -> list[TestGroup]:
    entry = _entry(c.model, "process")
    names = list(entry.processes) if entry is not None and entry.processes else ["app"]
    feeds = [Feed("namedprocess_namegroup_num_procs", real_series.label_sets(
        "namedprocess_namegroup_num_procs", groupname=name)[0], "1", "0" if i == 0 else "1")
        for i, name in enumerate(names)]
    return _flip("process", feeds, [{"groupname": names[0]}], 0.0,
                 f"the last {names[0]} process is gone", "one runs")(c, alert)


def _push_failed(c: Cases, alert: str) -> list[TestGroup]:
    group = {"instance": "runner-1", "job": "nightly-backup"}
    labels = real_series.label_sets("push_time_seconds", **group)[0]
    # the last push at 1000 s; a refused one at 1100 s (push_failure_time_seconds newer than push_time)
    feeds = [Feed("push_time_seconds", labels, "1000", "1000"),
             Feed("push_failure_time_seconds", real_series.label_sets("push_failure_time_seconds", **group)[0],
                  "0", "1100")]
    return _flip("pushgateway", feeds, [labels], 1100.0, "a push to group nightly-backup/runner-1 is refused",
                 "every push is accepted", honor=True)(c, alert)


def _es_red(c: Cases, alert: str) -> list[TestGroup]:
    red, yellow, green = real_series.label_sets("elasticsearch_cluster_health_status", cluster="search")
    feeds = [Feed("elasticsearch_cluster_health_status", red, "0", "1"),
             Feed("elasticsearch_cluster_health_status", yellow, "0", "0"),
             Feed("elasticsearch_cluster_health_status", green, "1", "0")]
    return _flip("elasticsearch", feeds, [red], 1.0, "the cluster's health turns red", "it is green")(c, alert)


def _kafka_lag(c: Cases, alert: str) -> list[TestGroup]:
    labels = real_series.label_sets("kafka_consumergroup_lag", consumergroup="billing", topic="orders")[0]
    entry = _entry(c.model, "kafka")
    lag = entry.max_lag if entry is not None else 1000
    feeds = [Feed("kafka_consumergroup_lag", labels, "0", str(lag + 1))]
    # summed by group and topic: the alert carries those two only
    build = _flip("kafka", feeds, [], float(lag + 1), f"consumer group billing lags {lag + 1} messages on orders",
                  "it lags none")
    groups = build(c, alert)
    expected = c.expected(alert, {"consumergroup": "billing", "topic": "orders"}, float(lag + 1))
    groups[0]["alert_rule_test"][-1]["exp_alerts"] = [expected]
    return groups


ALERTS: tuple[ExporterAlert, ...] = (
    ExporterAlert("postgres", "PostgreSQLDown", "critical", "1m", "pg_up == 0",
                  "The postgres exporter cannot reach PostgreSQL.",
                  "{{ $labels.instance }} has not reached its PostgreSQL server for a minute.",
                  _up("postgres", "pg_up", "PostgreSQL")),
    ExporterAlert("redis", "RedisDown", "critical", "1m", "redis_up == 0",
                  "The redis exporter cannot reach Redis.",
                  "{{ $labels.instance }} has not reached its Redis server for a minute.",
                  _up("redis", "redis_up", "Redis")),
    ExporterAlert("nginx", "NginxDown", "critical", "1m", "nginx_up == 0",
                  "The nginx exporter cannot read NGINX's status page.",
                  "{{ $labels.instance }} has not read NGINX's stub_status for a minute.",
                  _up("nginx", "nginx_up", "NGINX")),
    ExporterAlert("mysqld", "MySQLDown", "critical", "1m", "mysql_up == 0",
                  "The mysqld exporter cannot reach MySQL.",
                  "{{ $labels.instance }} has not reached its MySQL server for a minute.",
                  _up("mysqld", "mysql_up", "MySQL")),
    # one-to-one: both are unlabelled, from the same target
    ExporterAlert("mysqld", "MySQLTooManyConnections", "warning", "5m",
                  "max_over_time(mysql_global_status_threads_connected[1m]) / "
                  "mysql_global_variables_max_connections * 100 > 80",
                  "MySQL is near its connection limit.",
                  "{{ $value | humanize }}% of the connections {{ $labels.instance }} allows are in use.",
                  _mysql_connections),
    ExporterAlert("pgbouncer", "PgbouncerDown", "critical", "1m", "pgbouncer_up == 0",
                  "The pgbouncer exporter cannot reach pgbouncer.",
                  "{{ $labels.instance }} has not reached pgbouncer's admin console for a minute.",
                  _up("pgbouncer", "pgbouncer_up", "pgbouncer")),
    ExporterAlert("pgbouncer", "PgbouncerClientsWaiting", "warning", "5m",
                  "pgbouncer_pools_client_waiting_connections > 0",
                  "Clients of pgbouncer wait for a server connection.",
                  "{{ $value }} clients of pool {{ $labels.database }}/{{ $labels.user }} have waited for 5 minutes.",
                  _pgbouncer_waiting),
    ExporterAlert("haproxy", "HAProxyBackendDown", "critical", "1m", 'haproxy_backend_status{state="UP"} == 0',
                  "An HAProxy backend has no server up.",
                  "Backend {{ $labels.proxy }} of {{ $labels.instance }} has had no server up for a minute.",
                  _haproxy_backend),
    ExporterAlert("haproxy", "HAProxyServerDown", "warning", "5m", 'haproxy_server_status{state="DOWN"} == 1',
                  "An HAProxy server fails its health checks.",
                  "Server {{ $labels.server }} of backend {{ $labels.proxy }} has been down for 5 minutes.",
                  _haproxy_server),
    # a group keeps its series (at 0) after its processes are gone; a name that never ran has none
    ExporterAlert("process", "ProcessNotRunning", "critical", "1m", "namedprocess_namegroup_num_procs == 0",
                  "A watched process is not running.",
                  "No {{ $labels.groupname }} process has run on {{ $labels.instance }} for a minute.",
                  _process),
    # with honor_labels each pushed group keeps its job and instance: both sides match one to one
    ExporterAlert("pushgateway", "PushgatewayPushFailed", "warning", "0s",
                  "push_failure_time_seconds > push_time_seconds",
                  "The last push to the Pushgateway was refused.",
                  "The last push of group {{ $labels.job }}/{{ $labels.instance }} failed; its series are older.",
                  _push_failed),
    ExporterAlert("mongodb", "MongodbDown", "critical", "1m", "mongodb_up == 0",
                  "The mongodb exporter cannot reach MongoDB.",
                  "{{ $labels.instance }} has not reached its MongoDB server for a minute.",
                  _up("mongodb", "mongodb_up", "MongoDB")),
    ExporterAlert("elasticsearch", "ElasticsearchClusterStatusRed", "critical", "2m",
                  'elasticsearch_cluster_health_status{color="red"} == 1',
                  "The Elasticsearch cluster's health is red.",
                  "Cluster {{ $labels.cluster }} has had unassigned primary shards for 2 minutes.",
                  _es_red, unverified=True),
    ExporterAlert("kafka", "KafkaConsumerGroupLagHigh", "warning", "10m",
                  f"sum by (consumergroup, topic) (kafka_consumergroup_lag) > {MAX_LAG}",
                  "A Kafka consumer group lags behind its topic.",
                  "Consumer group {{ $labels.consumergroup }} is {{ $value }} messages behind on topic "
                  "{{ $labels.topic }}.",
                  _kafka_lag, unverified=True),
)


def _entry(model: Model, kind: str) -> Any:
    return next((e for e in model.stack.exporters if not isinstance(e, str) and e.type == kind), None)


def alerts(jobs: Iterable[str]) -> list[ExporterAlert]:
    """The alerts of the exporters whose scrape jobs prometheus.yml renders (`jobs`), in table order."""
    kinds = {kind for kind, (job, _) in EXPORTER_TARGETS.items() if job in set(jobs)}
    return [a for a in ALERTS if a.kind in kinds]


def expr(model: Model, a: ExporterAlert) -> str:
    entry = _entry(model, "kafka")
    return a.expr.replace(MAX_LAG, str(entry.max_lag if entry is not None else 1000))


def unverified_alerts(jobs: Iterable[str]) -> list[str]:
    """Names of the alerts in use that read series no real server was captured for."""
    return [a.name for a in alerts(jobs) if a.unverified]


def rule_groups(model: Model, jobs: Iterable[str]) -> list[Group]:
    """The exporters' rule group, or none when no exporter with alerts is scraped."""
    rules: list[Rule] = []
    for a in alerts(jobs):
        rule: Rule = {"alert": a.name, "expr": expr(model, a)}
        if a.for_ != "0s":
            rule["for"] = a.for_
        rule["labels"] = {"severity": a.severity, "service": a.kind}
        rule["annotations"] = {"summary": a.summary, "description": a.description}
        if model.spec.project.runbook_url:
            rule["annotations"]["runbook_url"] = go_literal(  # annotations are templates; the link is literal
                model.spec.project.runbook_url.replace("{service}", a.kind).replace("{alert}", a.name))
        rules.append(rule)
    return [{"name": GROUP, "rules": rules}] if rules else []


def tests(model: Model, jobs: Mapping[str, str]) -> list[TestGroup]:
    """The promtool test groups of the exporters' alerts. `jobs`: the stack's scrape jobs with the
    address of their first target, as stack_alerts.stack_tests takes them."""
    rules = {r["alert"]: r for g in rule_groups(model, jobs) for r in g["rules"]}
    cases = Cases(model, rules, jobs)
    return [group for a in alerts(jobs) for group in a.cases(cases, a.name)]
