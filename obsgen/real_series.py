"""The label shapes of the real series obsgen's generated tests feed, as Prometheus 3.5, Alertmanager 0.33
and the exporters expose them.

A generated test whose input series carry invented labels can pass while its rule never matches a real
series (a one-to-one division of `alertmanager_notifications_failed_total`, which carries `reason`, by
`alertmanager_notifications_total`, which does not, matches nothing). So the generators take the labels
of such series from here. Every label set below was read from the fixtures captured from the real
software by scripts/capture-series.sh (tests/fixtures/metrics/), and tests/test_real_series.py fails
when one is not found there.

Labels are those of the series as exposed at /metrics: the `job` and `instance` that scraping adds are
not part of them. A value `{name}` (or one holding it) depends on the deployment and is filled in by
the caller: `{alertmanager}` is an Alertmanager's host:port as prometheus.yml names it, `{rule_file}`
and `{group}` a rule file's path as Prometheus was given it and a group's name.
"""

from __future__ import annotations

import re

LabelSet = dict[str, str]

SERIES: dict[str, tuple[LabelSet, ...]] = {
    # Prometheus: one series per rule group (`<file>;<group>`), from the moment the group is loaded
    "prometheus_rule_evaluation_failures_total": ({"rule_group": "{rule_file};{group}"},),
    "prometheus_config_last_reload_successful": ({},),
    "prometheus_notifications_alertmanagers_discovered": ({},),
    # one series per Alertmanager Prometheus sends to, named by the URL it posts to
    "prometheus_notifications_errors_total": ({"alertmanager": "http://{alertmanager}/api/v2/alerts"},),
    "prometheus_notifications_sent_total": ({"alertmanager": "http://{alertmanager}/api/v2/alerts"},),
    # Alertmanager: every integration from the start, the failures once per reason. A webhook whose
    # server answers 500 counts under reason="serverError" (first here: the failing one).
    "alertmanager_config_last_reload_successful": ({},),
    "alertmanager_notifications_total": ({"integration": "webhook"},),
    "alertmanager_notifications_failed_total": tuple(
        {"integration": "webhook", "reason": reason}
        for reason in ("serverError", "clientError", "contextCanceled", "contextDeadlineExceeded", "other")),
    # the blackbox exporter's /probe: no label of its own (the scrape job adds the target's)
    "probe_success": ({},),
    # each exporter's gauge of whether it reaches what it watches: no label of its own
    "pg_up": ({},),
    "redis_up": ({},),
    "nginx_up": ({},),
    "mysql_up": ({},),
    "pgbouncer_up": ({},),
    "mongodb_up": ({},),  # Debian's exporter, no server reachable: 0
    # mysqld exporter: global status and variables, unlabelled
    "mysql_global_status_threads_connected": ({},),
    "mysql_global_variables_max_connections": ({},),
    # pgbouncer exporter: one series per pool (database and user as pgbouncer.ini names them)
    "pgbouncer_pools_client_waiting_connections": ({"database": "app", "user": "postgres"},),
    # HAProxy's built-in exporter: a 0/1 series per state, the backend (`proxy`) and server as haproxy.cfg
    # names them; the first of each: the one a dead backend or server sets to 1 (or 0)
    "haproxy_backend_status": ({"proxy": "{proxy}", "state": "UP"}, {"proxy": "{proxy}", "state": "DOWN"}),
    "haproxy_server_status": tuple({"proxy": "{proxy}", "server": "{server}", "state": state}
                                   for state in ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")),
    # process exporter: one series per group; a group keeps reporting 0 once its processes are gone
    "namedprocess_namegroup_num_procs": ({"groupname": "{groupname}"},),
    # the Pushgateway: one series per pushed group, with the job and instance it was pushed as
    "push_time_seconds": ({"instance": "{instance}", "job": "{job}"},),
    "push_failure_time_seconds": ({"instance": "{instance}", "job": "{job}"},),
}

# Series of exporters whose backing server could not be run here (no Debian package of Elasticsearch,
# MongoDB or Kafka; no Debian package of kafka_exporter at all): their names and labels are those the
# exporters document, UNVERIFIED against a real server. tests/test_real_series.py checks that no fixture
# contradicts them, and the output README says which alerts read them.
UNVERIFIED: dict[str, tuple[LabelSet, ...]] = {
    # elasticsearch_exporter's cluster health collector: one series per color, 1 for the cluster's
    "elasticsearch_cluster_health_status": tuple({"cluster": "{cluster}", "color": color}
                                                 for color in ("red", "yellow", "green")),
    # kafka_exporter (danielqsj): one series per consumer group, topic and partition
    "kafka_consumergroup_lag": ({"consumergroup": "{consumergroup}", "partition": "0", "topic": "{topic}"},),
}

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def label_sets(metric: str, **values: str) -> list[LabelSet]:
    """The real label sets of `metric` (or its documented, unverified ones), placeholders filled from
    `values` (KeyError when one is missing)."""
    return [{k: _PLACEHOLDER.sub(lambda m: values[m.group(1)], v) for k, v in labels.items()}
            for labels in SERIES.get(metric) or UNVERIFIED[metric]]


def value_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the values a template stands for (each placeholder: one or more characters)."""
    parts = _PLACEHOLDER.split(template)
    # split() alternates literal text and placeholder names
    return re.compile("".join(re.escape(p) if i % 2 == 0 else ".+?" for i, p in enumerate(parts)))
