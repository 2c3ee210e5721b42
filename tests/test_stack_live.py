"""The rendered AlertmanagerNotificationsFailing fires on the real Alertmanager's real series.

The real Alertmanager runs with two receivers: one webhook whose server answers 500 (so its notifications
fail, and it counts them under `{integration, reason}`) and a sink recording what it gets. The real
Prometheus scrapes that Alertmanager every second, evaluates the rendered rules/_stack.yml and sends its
alerts there. A test alert posted to Alertmanager's API is routed to the failing webhook; the sink must then
receive AlertmanagerNotificationsFailing with the real `integration` label.

The test's copy of the rules differs from the rendered file in one place: that rule's `for` (5m) becomes
0s, so the test takes seconds. Its expression, which is what the real label shapes prove, is unchanged;
that it waits for its `for` is proven by the generated promtool test (tests/test_real_series.py).
Everything runs on 127.0.0.1 on free ports; the whole test is bounded to about a minute.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from conftest import ROOT, require_tool
from e2e_support import (
    Delivery,
    LocalServer,
    Server,
    WebhookSink,
    _QuietHandler,
    free_port,
    get_json,
    runnable_alertmanager,
    wait_until,
)

from obsgen.model import resolve
from obsgen.render import prometheus
from obsgen.spec import load_spec

SPEC = ROOT / "examples" / "quickstart.yaml"
ALERT = "AlertmanagerNotificationsFailing"
TEST_ALERT = "StackLiveTestAlert"  # posted to Alertmanager, routed to the failing webhook
OLD_EXPR = "rate(alertmanager_notifications_failed_total[5m]) / rate(alertmanager_notifications_total[5m])"


class Failing(LocalServer):
    """A webhook endpoint answering every notification with 500."""

    def __init__(self) -> None:
        self.calls = 0
        server = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.calls += 1
                self.reply(500, b"failing on purpose\n")

        super().__init__(Handler)


def stack_rules() -> str:
    """The rendered rules/_stack.yml, with only the `for` of AlertmanagerNotificationsFailing set to 0s."""
    model = resolve(load_spec(SPEC), SPEC.name)
    data = yaml.safe_load(prometheus.render(model)["prometheus/rules/_stack.yml"])
    rule = next(r for g in data["groups"] for r in g["rules"] if r.get("alert") == ALERT)
    rule["for"] = "0s"
    return yaml.safe_dump(data, sort_keys=False)


def alertmanager_config(sink: WebhookSink, failing: Failing) -> dict[str, Any]:
    return {
        "route": {"receiver": "sink", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h",
                  "routes": [{"matchers": [f'alertname="{TEST_ALERT}"'], "receiver": "failing"}]},
        "receivers": [
            {"name": "sink", "webhook_configs": [{"url": sink.url("sink"), "send_resolved": False}]},
            {"name": "failing", "webhook_configs": [{"url": f"http://{failing.address}/", "send_resolved": False}]},
        ],
    }


def prometheus_config(am: str) -> dict[str, Any]:
    # the job name prometheus.yml gives the Alertmanager, so the series carry the deployment's `job`
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules/_stack.yml"],
        "alerting": {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [am]}]}]},
        "scrape_configs": [{"job_name": "alertmanager", "static_configs": [{"targets": [am]}]}],
    }


def post_alert(am: Server) -> None:
    body = json.dumps([{"labels": {"alertname": TEST_ALERT, "severity": "critical"},
                        "annotations": {"summary": "routed to a webhook that fails"}}]).encode()
    request = urllib.request.Request(f"{am.url}/api/v2/alerts", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def query(prom: Server, expr: str) -> list[dict[str, Any]]:
    result = get_json(f"{prom.url}/api/v1/query?query={urllib.parse.quote(expr)}")["data"]["result"]
    return list(result)


def received(sink: WebhookSink) -> list[Delivery]:
    return [d for d in sink.deliveries() if d.labels.get("alertname") == ALERT and d.status == "firing"]


def test_alertmanager_notifications_failing_fires_on_the_real_alertmanager(tmp_path: Path) -> None:
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("alertmanager")
    with ExitStack() as stack:  # every server stops, also when one fails to start
        sink, failing = WebhookSink(), Failing()
        stack.callback(sink.close)
        stack.callback(failing.close)

        am_dir, prom_dir = tmp_path / "alertmanager", tmp_path / "prometheus"
        (prom_dir / "rules").mkdir(parents=True)
        am_dir.mkdir()
        (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(sink, failing)), "utf-8")
        am_port, prom_port = free_port(), free_port()
        am = Server([runnable_alertmanager(alertmanager_bin, am_dir), f"--config.file={am_dir}/alertmanager.yml",
                     f"--storage.path={am_dir}/data", f"--web.listen-address=127.0.0.1:{am_port}",
                     "--cluster.listen-address="], am_port, tmp_path / "alertmanager.log", cwd=am_dir)
        stack.callback(am.stop)
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(am.address)), "utf-8")
        (prom_dir / "rules" / "_stack.yml").write_text(stack_rules(), "utf-8")
        prom = Server([prometheus_bin, f"--config.file={prom_dir}/prometheus.yml",
                       f"--storage.tsdb.path={prom_dir}/tsdb", f"--web.listen-address=127.0.0.1:{prom_port}",
                       # the first alerts may be evaluated before the Alertmanager is discovered
                       "--rules.alert.resend-delay=1s"], prom_port, tmp_path / "prometheus.log")
        stack.callback(prom.stop)
        am.wait_ready()
        prom.wait_ready()

        post_alert(am)
        assert wait_until(lambda: failing.calls > 0, 15), f"the webhook was never called:\n{am.log_tail()}"
        arrived = wait_until(lambda: bool(received(sink)), 40, 0.5)
        alerts = get_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]
        assert arrived, (f"the sink never received {ALERT}; Prometheus' alerts: "
                         f"{[a['labels'] for a in alerts]}\n{prom.log_tail()}")

        labels = received(sink)[0].labels
        assert labels["integration"] == "webhook"  # the real label, from the real counter
        assert labels["reason"] == "serverError"  # how Alertmanager 0.33 counts a 500
        assert (labels["job"], labels["instance"], labels["severity"]) == ("alertmanager", am.address, "critical")
        # the same series, divided one to one as the rule once was: nothing matches
        assert query(prom, OLD_EXPR) == []
        assert query(prom, OLD_EXPR.replace(" / ", " / ignoring (reason) group_left "))
