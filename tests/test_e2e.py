"""End to end on the real servers: the quickstart's rendered Prometheus and Alertmanager configs, run by the
`prometheus` and `alertmanager` binaries against a small instrumented app. A failure must fire the generated
alerts, reach exactly the receivers the spec routes them to, keep the inhibited warnings silent, and send
the resolved notifications after recovery. Two more Alertmanagers run alongside, one with a route broken on
purpose and one without inhibition, to show that the same assertions then fail.

The test changes its copy of the rendered configs only as follows; everything else is used as rendered:
- addresses: scrape targets -> the test's apps (a Kubernetes-discovered service -> one static "pod" carrying
  the labels discovery would give it, so the rendered relabelling runs), or a closed local port for
  components the test does not run; Alertmanager targets -> the test's Alertmanagers; remote_write -> a
  closed local port; each receiver -> one webhook to a local receiver named after the channel (Alertmanager
  cannot reach Slack or PagerDuty from here), keeping its send_resolved;
- time, to finish in well under two minutes: scrape and evaluation interval 1s, every `for` at most 3s,
  group_wait at most 1s and group_interval at most 2s, and quiet hours held open so the outcome does not
  depend on the hour the test runs at.
"""

from __future__ import annotations

import copy
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool, write_tree
from e2e_support import (
    Delivery,
    LocalServer,
    MetricsApp,
    Server,
    Traffic,
    WebhookSink,
    _QuietHandler,
    free_port,
    get_json,
    runnable_alertmanager,
    wait_until,
)
from test_routing import expected_receivers

from obsgen.model import Model, ServiceModel, resolve
from obsgen.render import alertmanager, prometheus
from obsgen.spec import load_spec
from obsgen.units import duration_seconds

SPEC = ROOT / "examples" / "quickstart.yaml"
INTERVAL, MAX_FOR, MAX_GROUP_WAIT, MAX_GROUP_INTERVAL = "1s", "3s", "1s", "2s"
SETTLE = 4.0  # seconds after the expected notifications within which a wrong one would have arrived too

# Traffic of each service per phase. The failure is abrupt, so an alert's warning and critical cross together
# (else the warning could be notified before the critical that inhibits it exists). The rules look at 5-minute
# windows, which two things about the test's young series must allow for: a rate over a window holding only
# a few seconds of samples is their increase divided by five minutes, so traffic is heavy enough to clear
# CheckoutRequestRateLow from the first scrapes; and instead of waiting for the failed requests to age out,
# recovery starts with a surge of healthy requests that outweighs them at once (under 0.1% errors, p99 back
# in the fast buckets), so warning and critical resolve together too.
HEALTHY = {"checkout": Traffic(rps=1e4, latency=0.03), "catalog": Traffic(rps=1e4, latency=0.015)}
FAILING = {"checkout": Traffic(rps=1e4, error_ratio=0.5, latency=2.0),  # 5xx and slow: every check critical
           "catalog": Traffic(rps=1e5, latency=0.07)}  # p50 between its warning 50ms and critical 100ms
RECOVERY_SURGE = 1e10
# The failure starts with a surge too: however long the healthy phase ran (a slow machine scrapes more of
# it), the first scrape after the switch already puts every ratio past both thresholds. It stays small
# against the recovery surge (errors then under 0.05%).
FAILURE_SURGE = 1e7
# What the failure must fire in Prometheus: (alertname, severity).
DRIVEN = {(alert, severity) for alert in ("CheckoutErrorRateHigh", "CheckoutAvailabilityLow",
                                          "CheckoutLatencyP95High", "CheckoutLatencyP99High")
          for severity in ("warning", "critical")} | {("CatalogLatencyP50High", "warning")}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

Key = tuple[str, str, str]  # alertname, service, severity


def key(labels: dict[str, str]) -> Key:
    return labels["alertname"], labels.get("service", ""), labels["severity"]


# --------------------------------------------------------------------------- the test's copy of the configs


def shorter(value: str, limit: str) -> str:
    return value if duration_seconds(value) <= duration_seconds(limit) else limit


def pod_labels(svc: ServiceModel) -> dict[str, str]:
    """The meta labels Kubernetes pod discovery would attach to a pod the service's job keeps."""
    assert svc.scrape and svc.scrape.kubernetes
    k = svc.scrape.kubernetes
    labels = {"__meta_kubernetes_namespace": k.namespace, "__meta_kubernetes_pod_name": f"{svc.name}-0",
              "__meta_kubernetes_pod_phase": "Running"}
    if k.port:
        labels["__meta_kubernetes_pod_container_port_name"] = k.port
    for name, value in k.pod_labels.items():
        labels["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)] = value
    return labels


def prometheus_config(model: Model, cfg: dict[str, Any], targets: dict[str, list[str]],
                      alertmanagers: list[str], closed: str) -> dict[str, Any]:
    """`targets`: job -> addresses the test serves; any other job is pointed at a closed port."""
    cfg = copy.deepcopy(cfg)
    cfg["global"]["scrape_interval"] = cfg["global"]["evaluation_interval"] = INTERVAL
    for am in cfg["alerting"]["alertmanagers"]:
        am["static_configs"] = [{"targets": alertmanagers}]
    for rw in cfg.get("remote_write", []):
        rw["url"] = f"http://{closed}/api/v1/push"
    discovered = {svc.job: svc for svc in model.services if svc.scrape and svc.scrape.kubernetes}
    for job in cfg["scrape_configs"]:
        addresses = targets.get(job["job_name"], [closed])
        if job.pop("kubernetes_sd_configs", None) is not None:
            pod = pod_labels(discovered[job["job_name"]])
            job["static_configs"] = [{"targets": addresses, "labels": pod}]
        for static in job.get("static_configs", []):
            static["targets"] = addresses
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__":  # e.g. the blackbox exporter's address
                relabel["replacement"] = addresses[0]
    return cfg


def rules(text: str) -> str:
    data = yaml.safe_load(text)
    for group in data["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = shorter(rule["for"], MAX_FOR)
    return yaml.safe_dump(data, sort_keys=False)


def shorten_timers(route: dict[str, Any]) -> None:
    for field, limit in (("group_wait", MAX_GROUP_WAIT), ("group_interval", MAX_GROUP_INTERVAL)):
        if field in route:
            route[field] = shorter(route[field], limit)
    for child in route.get("routes", []):
        shorten_timers(child)


def alertmanager_config(cfg: dict[str, Any], sink: WebhookSink) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    shorten_timers(cfg["route"])
    for interval in cfg.get("time_intervals", []):
        interval["time_intervals"] = [{"weekdays": ["sunday:saturday"]}]
    cfg["receivers"] = [stand_in(r, sink) for r in cfg["receivers"]]
    return cfg


def stand_in(receiver: dict[str, Any], sink: WebhookSink) -> dict[str, Any]:
    """One local webhook in place of the receiver's integrations, resolving as they do."""
    if not integrations(receiver):  # a receiver that deliberately notifies no one stays so
        return receiver
    return {"name": receiver["name"], "webhook_configs": [
        {"url": sink.url(receiver["name"]), "send_resolved": resolves(receiver)}]}


def integrations(receiver: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for field, configs in receiver.items() if field.endswith("_configs") for c in configs]


def resolves(receiver: dict[str, Any]) -> bool:
    """Whether the receiver sends resolved notifications (obsgen always states send_resolved)."""
    return any(c["send_resolved"] for c in integrations(receiver))


# Routing broken on purpose, each in its own Alertmanager next to the one running the config as rendered.
def swap_receiver(cfg: dict[str, Any]) -> None:
    """The payments team's critical route sends to Opsgenie instead of the team's Slack channel."""
    route = next(r for r in cfg["route"]["routes"]
                 if r["receiver"] == "payments-slack" and 'severity="critical"' in r["matchers"])
    route["receiver"] = "ops-opsgenie"


def drop_inhibition(cfg: dict[str, Any]) -> None:
    assert cfg.pop("inhibit_rules")


VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "as-rendered": lambda cfg: None, "route-swapped": swap_receiver, "no-inhibition": drop_inhibition}


# --------------------------------------------------------------------------- what the spec expects


@dataclass(frozen=True)
class Expected:
    alert: Key
    receivers: frozenset[str]  # the firing notification reaches exactly these
    resolved_to: frozenset[str]  # the resolved one reaches exactly these (those sending resolved)


def reached(deliveries: list[Delivery], alert: Key, status: str, since: float = 0.0) -> set[str]:
    return {d.receiver for d in deliveries if key(d.labels) == alert and d.status == status and d.at >= since}


@dataclass
class Expectations:
    """Worked out from the alerts Prometheus fired and the spec, not from the rendered routing tree."""

    routed: list[Expected]
    inhibited: set[Key]  # a more severe variant of the same alert and service fires

    @classmethod
    def of(cls, model: Model, firing: list[dict[str, str]], resolving: set[str]) -> Expectations:
        worst: dict[tuple[str, str], int] = {}
        for name, service, severity in map(key, firing):
            worst[name, service] = max(worst.get((name, service), 0), SEVERITY_RANK[severity])
        out = cls([], set())
        for labels in firing:
            name, service, severity = key(labels)
            if model.spec.routing.inhibit and SEVERITY_RANK[severity] < worst[name, service]:
                out.inhibited.add(key(labels))
                continue
            receivers = frozenset(expected_receivers(model.spec, labels))
            resolved = frozenset() if name == "Watchdog" else receivers & resolving
            out.routed.append(Expected(key(labels), receivers, resolved))
        return out

    def arrived(self, deliveries: list[Delivery], status: str, since: float = 0.0) -> bool:
        """Every notification of that status expected has arrived (wrong ones may have, too)."""
        return all((e.receivers if status == "firing" else e.resolved_to)
                   <= reached(deliveries, e.alert, status, since) for e in self.routed)

    def check(self, deliveries: list[Delivery], recovered_at: float) -> None:
        problems = []
        for e in self.routed:
            if (got := reached(deliveries, e.alert, "firing")) != e.receivers:
                problems.append(f"{e.alert} firing reached {sorted(got)}; the spec routes it to "
                                f"{sorted(e.receivers)}")
            if (got := reached(deliveries, e.alert, "resolved", recovered_at)) != e.resolved_to:
                problems.append(f"{e.alert} resolved reached {sorted(got)} after recovery; "
                                f"expected {sorted(e.resolved_to)}")
        for alert in sorted(self.inhibited):
            if got := reached(deliveries, alert, "firing"):
                problems.append(f"{alert} is inhibited but reached {sorted(got)}")
        assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    active_while_healthy: list[dict[str, str]]  # alerts of the app services, pending or firing
    firing: list[dict[str, str]]
    active_after_recovery: list[dict[str, str]]
    expect: Expectations
    recovered_at: float
    deliveries: dict[str, list[Delivery]]  # by Alertmanager variant

    def assert_delivered_as_routed(self, variant: str) -> None:
        self.expect.check(self.deliveries[variant], self.recovered_at)


def start_apps(model: Model, stack: ExitStack) -> dict[str, MetricsApp]:
    apps = {}
    for svc in model.services:
        if svc.scrape:
            m = svc.metrics
            apps[svc.name] = app = MetricsApp(m.requests_total, m.duration_histogram, m.status_label,
                                              svc.scrape.path, HEALTHY[svc.name])
            stack.callback(app.close)
    return apps


def start_alertmanagers(files: dict[str, str], binary: str, tmp: Path,
                        stack: ExitStack) -> dict[str, tuple[Server, WebhookSink]]:
    binary = runnable_alertmanager(binary, tmp)
    rendered = yaml.safe_load(files["alertmanager/alertmanager.yml"])
    out = {}
    for variant, breaks in VARIANTS.items():
        sink = WebhookSink()
        stack.callback(sink.close)
        cfg = alertmanager_config(rendered, sink)
        breaks(cfg)
        root, port = tmp / variant, free_port()
        write_tree(root, {**files, "alertmanager/alertmanager.yml": yaml.safe_dump(cfg, sort_keys=False)})
        server = Server([binary, f"--config.file={root}/alertmanager/alertmanager.yml",
                         f"--storage.path={root}/data", f"--web.listen-address=127.0.0.1:{port}",
                         "--cluster.listen-address="], port, tmp / f"{variant}.log", cwd=tmp)
        stack.callback(server.stop)
        out[variant] = server, sink
    return out


def start_prometheus(model: Model, files: dict[str, str], binary: str, tmp: Path, apps: dict[str, MetricsApp],
                     alertmanagers: list[str], stack: ExitStack) -> Server:
    port = free_port()
    targets = {svc.job: [apps[svc.name].address] for svc in model.services if svc.name in apps}
    targets |= {"prometheus": [f"127.0.0.1:{port}"], "alertmanager": alertmanagers}
    cfg = prometheus_config(model, yaml.safe_load(files["prometheus/prometheus.yml"]), targets,
                            alertmanagers, closed=f"127.0.0.1:{free_port()}")
    write_tree(tmp, {"prometheus/prometheus.yml": yaml.safe_dump(cfg, sort_keys=False)}
               | {rel: rules(text) for rel, text in files.items() if rel.startswith("prometheus/rules/")})
    server = Server([binary, f"--config.file={tmp}/prometheus/prometheus.yml",
                     f"--storage.tsdb.path={tmp}/tsdb", f"--web.listen-address=127.0.0.1:{port}",
                     # alerts fired before the Alertmanagers are discovered (the Watchdog, at the first
                     # evaluation) are dropped, and resent only after this delay, a minute by default
                     "--rules.alert.resend-delay=2s",
                     # remote_write has nowhere to go: do not wait a minute for it on shutdown
                     "--storage.remote.flush-deadline=1s"], port, tmp / "prometheus.log")
    stack.callback(server.stop)
    return server


def prometheus_alerts(prom: Server, state: str | None = None) -> list[dict[str, str]]:
    alerts = get_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]
    return [a["labels"] for a in alerts if state is None or a["state"] == state]


def driven_active(prom: Server, state: str | None = None) -> set[tuple[str, str]]:
    return {(a["alertname"], a["severity"]) for a in prometheus_alerts(prom, state)} & DRIVEN


def has_rate(prom: Server, selector: str) -> bool:
    query = urllib.parse.quote(f"sum(rate({selector}[5m]))")
    return bool(get_json(f"{prom.url}/api/v1/query?query={query}")["data"]["result"])


def scenario(model: Model, apps: dict[str, MetricsApp], prom: Server, sinks: dict[str, WebhookSink],
             resolving: set[str]) -> Run:
    """Healthy, failing, recovered; each phase bounded in time. Waiting ends early when the Alertmanager
    running the rendered config has sent what the spec expects; the others have the same timings."""
    def services_active() -> list[dict[str, str]]:
        return [a for a in prometheus_alerts(prom) if a.get("service") in apps]

    # every app scraped twice (its rates exist), then two rule evaluations on that data
    selectors = [f"{s.metrics.requests_total}{{{s.selector}}}" for s in model.services if s.name in apps]
    wait_until(lambda: all(has_rate(prom, selector) for selector in selectors), 20)
    time.sleep(2 * float(duration_seconds(INTERVAL)))
    active_while_healthy = services_active()

    for name, app in apps.items():
        app.drive(FAILING[name], surge=FAILURE_SURGE)
    wait_until(lambda: driven_active(prom, "firing") == DRIVEN, 40)
    firing = [a for a in prometheus_alerts(prom, "firing")
              if (a["alertname"], a["severity"]) in DRIVEN or a["alertname"] == "Watchdog"]
    expect = Expectations.of(model, firing, resolving)
    wait_until(lambda: expect.arrived(sinks["as-rendered"].deliveries(), "firing"), 20)
    time.sleep(SETTLE)

    recovered_at = time.monotonic()
    for name, app in apps.items():
        app.drive(HEALTHY[name], surge=RECOVERY_SURGE)
    wait_until(lambda: not driven_active(prom), 20)
    # SLO alerts are left out here: they judge windows of up to the SLO period, and an outage that burned
    # budget rightly keeps its burn and budget alerts open after the service has recovered.
    active_after_recovery = [a for a in services_active() if "slo" not in a]
    wait_until(lambda: expect.arrived(sinks["as-rendered"].deliveries(), "resolved", recovered_at), 20)
    time.sleep(SETTLE)
    return Run(active_while_healthy, firing, active_after_recovery, expect, recovered_at,
               {variant: sink.deliveries() for variant, sink in sinks.items()})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("alertmanager")
    model = resolve(load_spec(SPEC), SPEC.name)
    prom_files, am_files = prometheus.render(model), alertmanager.render(model)
    tmp = tmp_path_factory.mktemp("e2e")
    with ExitStack() as stack:  # stops every server and process, also when starting one fails
        apps = start_apps(model, stack)
        ams = start_alertmanagers(am_files, alertmanager_bin, tmp, stack)
        prom = start_prometheus(model, prom_files, prometheus_bin, tmp, apps,
                                [server.address for server, _ in ams.values()], stack)
        for server in (*(server for server, _ in ams.values()), prom):
            server.wait_ready()
        receivers = yaml.safe_load(am_files["alertmanager/alertmanager.yml"])["receivers"]
        resolving = {r["name"] for r in receivers if resolves(r)}
        yield scenario(model, apps, prom, {variant: sink for variant, (_, sink) in ams.items()}, resolving)


# --------------------------------------------------------------------------- the tests


def test_alerts_are_silent_while_healthy_fire_on_failure_and_clear_on_recovery(run: Run) -> None:
    assert run.active_while_healthy == []
    assert DRIVEN <= {(a["alertname"], a["severity"]) for a in run.firing}
    assert run.active_after_recovery == []


def test_alertmanager_delivers_to_exactly_the_routed_receivers(run: Run) -> None:
    # what the spec asks of these alerts: critical checkout alerts page on-call and the payments team's
    # channel, catalog's warning goes to its team, the Watchdog to the dead man's switch
    assert {alert for alert, _, _ in (e.alert for e in run.expect.routed)} >= {
        "Watchdog", "CheckoutErrorRateHigh", "CatalogLatencyP50High"}
    assert any(severity == "warning" for _, _, severity in run.expect.inhibited)
    run.assert_delivered_as_routed("as-rendered")


def test_a_broken_route_fails_the_same_assertions(run: Run) -> None:
    # payments-slack swapped for ops-opsgenie in the payments team's critical route
    with pytest.raises(AssertionError, match=r"RateHigh.*reached \['oncall-pagerduty', 'ops-opsgenie'\]"):
        run.assert_delivered_as_routed("route-swapped")


def test_missing_inhibition_fails_the_same_assertions(run: Run) -> None:
    with pytest.raises(AssertionError, match=r"'warning'\) is inhibited but reached \['payments-slack'\]"):
        run.assert_delivered_as_routed("no-inhibition")


# --------------------------------------------------------------------------- the harness's servers


def test_a_server_whose_port_another_process_answers_is_refused(tmp_path: Path) -> None:
    """Were a server's port taken before it binds it, /-/ready would be answered by someone else and the
    test would check the wrong server: the harness says so instead (and free_port never hands a port out
    twice)."""
    assert len({free_port() for _ in range(50)}) == 50

    class Ready(_QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            self.reply(200, b"ready")

    other = LocalServer(Ready)
    server = Server(["sleep", "30"], int(other.address.rsplit(":", 1)[1]), tmp_path / "sleeper.log")
    try:
        with pytest.raises(RuntimeError, match=r"is answered by pid .*, not by sleeper"):
            server.wait_ready(timeout=5)
    finally:
        server.stop()
        other.close()
