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
}

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def label_sets(metric: str, **values: str) -> list[LabelSet]:
    """The real label sets of `metric`, placeholders filled from `values` (KeyError when one is missing)."""
    return [{k: _PLACEHOLDER.sub(lambda m: values[m.group(1)], v) for k, v in labels.items()}
            for labels in SERIES[metric]]


def value_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the values a template stands for (each placeholder: one or more characters)."""
    parts = _PLACEHOLDER.split(template)
    # split() alternates literal text and placeholder names
    return re.compile("".join(re.escape(p) if i % 2 == 0 else ".+?" for i, p in enumerate(parts)))
