"""Bad specs: every one exits 2 with a message naming its place, no traceback, and an untouched output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import obsgen, tree_digest

BASE = """\
version: 1
project: {name: shop, runbook_url: "https://runbooks.example.com/{service}/{alert}"}
slo_classes:
  high: {availability: 99.9}
services:
  - name: api
    team: web
    class: high
    scrape: {static: ["api:8080"]}
    thresholds:
      - {indicator: error_rate, target: 0.1%, warning: 0.5%, critical: 1%}
      - {indicator: latency_p95, warning: 100ms, critical: 200ms}
    slos:
      - {name: latency, objective: 99, sli: {type: latency, threshold: 100ms}}
channels:
  mail: {type: email, to: [ops@example.com]}
  hook: {type: webhook, url: "http://hook:9000/"}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing:
  default: mail
  severity: {critical: [hook]}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# (id, spec text, a fragment the message must contain: usually the spec path)
CASES: list[tuple[str, str | bytes, str]] = [
    ("yaml-syntax", BASE + "  oops: [unclosed\n", "YAML syntax error"),
    ("yaml-tab-indent", edit("    team: web", "\tteam: web"), "YAML syntax error"),
    ("empty-file", "", "the spec is empty"),
    ("only-comment", "# nothing here\n", "the spec is empty"),
    ("not-a-mapping", "- just\n- a list\n", "must be a mapping"),
    ("non-utf8", BASE.encode() + b"# caf\xe9\n", "not UTF-8"),
    ("too-large", BASE + "# " + "x" * (5 * 1024 * 1024) + "\n", "MB"),
    ("alias-bomb", "version: 1\n" + "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)), "expands to more than"),
    ("duplicate-key", edit("    team: web", "    team: web\n    team: ops"), "duplicate key 'team'"),
    ("unknown-top-key", BASE + "servces: []\n", "servces: unknown field"),
    ("unknown-service-key", edit("    team: web", "    teem: web"), "services[0].teem: unknown field"),
    ("missing-project", BASE.replace('project: {name: shop, runbook_url: "https://runbooks.example.com/{service}/{alert}"}\n', ""),
     "project: missing required field `project`, e.g. `project: {name: shop}`"),
    ("missing-routing-default", edit("  default: mail\n", ""), "routing.default: missing required field `default`"),
    ("wrong-version", edit("version: 1", "version: 2"), "version"),
    ("wrong-type-services", edit("services:\n  - name: api", "services: api\nx:\n  - name: api"), "services"),
    ("wrong-type-objective", edit("objective: 99,", "objective: high,"), "services[0].slos[0].objective"),
    ("objective-100.5", edit("objective: 99,", "objective: 100.5,"), "services[0].slos[0].objective: must be above 0 and below 100"),
    ("objective-0", edit("objective: 99,", "objective: 0,"), "services[0].slos[0].objective: must be above 0"),
    ("class-objective-100", edit("availability: 99.9", "availability: 100"), "slo_classes.high.availability"),
    ("unknown-class", edit("class: high", "class: gold"), "services[0].class: unknown SLO class 'gold'"),
    ("unknown-channel-default", edit("  default: mail", "  default: pager"), "routing.default: unknown channel 'pager'"),
    ("unknown-channel-severity", edit("critical: [hook]", "critical: [hook, sms]"), "routing.severity.critical[1]: unknown channel 'sms'"),
    ("unknown-team", BASE + "  teams: {data: {critical: [hook]}}\n", "routing.teams.data: no service has team 'data'"),
    ("bad-duration", edit("class: high", "class: high\n    scrape: {static: ['api:8080'], interval: 5 minutes}").replace(
        "    scrape: {static: [\"api:8080\"]}\n", ""), "services[0].scrape.interval"),
    ("bad-duration-order", edit("version: 1", "version: 1\ndefaults: {scrape_interval: 30s1m}"), "defaults.scrape_interval"),
    ("label-value-quote", edit("    team: web", '    team: we"b'), "services[0].team"),
    ("label-value-braces", edit("version: 1", "version: 1\nproject_labels: x").replace("project_labels: x\n", "") .replace(
        'project: {name: shop,', 'project: {name: shop, external_labels: {cluster: "eu{1}"},'), "project.external_labels.cluster"),
    ("label-value-newline", edit("    team: web", '    team: "web\\nops"'), "services[0].team"),
    ("bad-label-name", edit('project: {name: shop,', 'project: {name: shop, external_labels: {1cluster: eu},'),
     "project.external_labels[\"1cluster\"]"),
    ("bad-service-name", edit("  - name: api", "  - name: ../etc/api"), "services[0].name"),
    ("duplicate-service", BASE.replace("channels:", "  - {name: api}\nchannels:"), "services[1].name: service 'api' is already defined"),
    ("threshold-order", edit("warning: 0.5%, critical: 1%", "warning: 2%, critical: 1%"), "services[0].thresholds[0]: target, warning and critical must rise"),
    ("threshold-latency-percent", edit("warning: 100ms", "warning: 10%"), "services[0].thresholds[1].warning"),
    ("threshold-not-a-number", edit("critical: 200ms", "critical: fast"), "services[0].thresholds[1].critical"),
    ("threshold-no-levels", edit("{indicator: latency_p95, warning: 100ms, critical: 200ms}", "{indicator: latency_p95}"),
     "services[0].thresholds[1]: give at least one of"),
    ("custom-threshold-no-name", edit("      - {indicator: latency_p95", "      - {expr: queue_size, warning: 1}\n      - {indicator: latency_p95"),
     "services[0].thresholds[1].name"),
    ("alert-name-not-camel", edit("    team: web", "    team: web\n    alerts: [{name: api_down, expr: up == 0, summary: Down.}]"),
     "services[0].alerts[0].name: alert name 'api_down' must be CamelCase"),
    ("alert-name-too-long", edit("    team: web", "    team: web\n    alerts: [{name: ApiSomethingVeryLongThatGoesOnAndOnForever, expr: up == 0, summary: Down.}]"),
     "at most 40"),
    ("alert-name-no-prefix", edit("    team: web", "    team: web\n    alerts: [{name: HighErrorRate, expr: up == 0, summary: Down.}]"),
     "must start with the service's name (Api)"),
    ("latency-sli-no-threshold", edit("sli: {type: latency, threshold: 100ms}", "sli: {type: latency}"), "services[0].slos[0].sli.threshold"),
    ("latency-sli-bad-threshold", edit("threshold: 100ms}", "threshold: soon}"), "services[0].slos[0].sli.threshold"),
    ("events-without-window", edit("sli: {type: latency, threshold: 100ms}",
                                   "sli: {events: {errors: 'sum(rate(e[5m]))', total: 'sum(rate(t[{{window}}]))'}}"),
     "services[0].slos[0].sli.events.errors: must contain {{window}}"),
    ("period-0d", edit("objective: 99,", "objective: 99, period: 0d,"), "services[0].slos[0].period"),
    ("literal-slack-secret", edit("  hook: {type: webhook, url: \"http://hook:9000/\"}",
                                  "  chat: {type: slack, channel: '#a', api_url: 'https://hooks.slack.com/services/T0/B0/XYZ'}\n"
                                  "  hook: {type: webhook, url: \"http://hook:9000/\"}"), "api_url_file"),
    ("literal-smtp-password", edit("from: alerts@example.com}", "from: alerts@example.com, auth_password: hunter2}"),
     "email: `auth_password` would put a secret"),
    ("unknown-channel-type", edit("{type: webhook,", "{type: carrier-pigeon,"), "channels.hook"),
    ("pagerduty-no-key", edit("  hook: {type: webhook, url: \"http://hook:9000/\"}", "  hook: {type: pagerduty}"),
     "channels.hook: name exactly one of"),
    ("webhook-credentials-in-url", edit("http://hook:9000/", "http://user:pw@hook:9000/"), "channels.hook.url: credentials"),
    ("bad-static-target", edit('static: ["api:8080"]', 'static: ["api"]'), "services[0].scrape.static[0]"),
    ("bad-timezone", BASE + "  quiet_hours: {timezone: Mars/Olympus}\n", "routing.quiet_hours.timezone"),
    ("bad-route-matcher", BASE + "  routes: [{matchers: ['alertname ~ Cpu'], receivers: [hook]}]\n",
     "routing.routes[0].matchers[0]"),
    ("repeated-group-by", BASE + "  group_by: [alertname, service, alertname]\n",
     "routing.group_by[2]: 'alertname' is already listed at routing.group_by[0] (line"),
    ("webhook-token-in-query", edit("http://hook:9000/", "http://hook:9000/?access_token=x"),
     "channels.hook.url: the query parameter 'access_token' looks like a secret"),
    ("yaml-python-tag", edit("version: 1", "version: !!python/object/apply:os.system [true]"),
     "version: YAML tag !!python/object/apply:os.system is not supported"),
    ("yaml-merge-key", edit("  high: {availability: 99.9}", "  high: {<<: {availability: 99.9}}"),
     "slo_classes.high: merge keys (`<<`) are not supported"),
    ("nul-in-team", edit("    team: web", '    team: "w\\0eb"'), "services[0].team: the value contains U+0000 (NUL)"),
    ("scrape-interval-zero", edit("version: 1", "version: 1\ndefaults: {scrape_interval: 0s}"),
     "defaults.scrape_interval: scrape_interval must be longer than 0"),
    ("service-named-like-stack-job", edit("  - name: api", "  - name: grafana"),
     "services[0].name: 'grafana' is the scrape job of the stack's Grafana"),
]


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def good_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    (root / "spec.yaml").write_text(BASE)
    obsgen("render", str(root / "spec.yaml"), "-o", str(root / "out"), "--quiet", check=True)
    return root / "out"


def test_base_spec_is_valid(good_output: Path) -> None:
    assert (good_output / "prometheus/prometheus.yml").exists()


@pytest.mark.parametrize("name,text,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_spec(name: str, text: str | bytes, fragment: str, good_output: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        spec.write_bytes(text)
    else:
        spec.write_text(text, "utf-8")
    before = tree_digest(good_output)
    proc = obsgen("render", str(spec), "-o", str(good_output))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Error:" not in proc.stderr.split("\n")[0]
    assert fragment in proc.stderr, proc.stderr
    first = proc.stderr.splitlines()[0]
    # every message starts with the file, and with line:col wherever the problem has a place in the text
    assert first.startswith(str(spec))
    if name not in ("empty-file", "only-comment", "too-large"):
        assert re.match(re.escape(str(spec)) + r":\d+:\d+[ :]", first), first
    assert tree_digest(good_output) == before
    assert proc.stdout == ""


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edit("objective: 99,", "objective: 100.5,").replace("class: high", "class: gold").replace(
        "default: mail", "default: pager")
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2
    for fragment in ("objective", "unknown SLO class", "unknown channel 'pager'"):
        assert fragment in proc.stderr
    assert "3 problems" in proc.stderr


def test_error_points_at_the_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(edit("objective: 99,", "objective: 100.5,"))
    proc = obsgen("validate", str(spec))
    line = next(i for i, text in enumerate(spec.read_text().splitlines(), 1) if "100.5" in text)
    col = spec.read_text().splitlines()[line - 1].index("100.5") + 1
    assert f"{spec}:{line}:{col} services[0].slos[0].objective:" in proc.stderr


def test_missing_spec_file(tmp_path: Path) -> None:
    proc = obsgen("validate", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_a_plain_and_a_quoted_scalar_of_one_text_keep_their_types() -> None:
    # the loader remembers each scalar's tag by its text and how it is written
    from obsgen.spec.load import load_text

    loaded = load_text("a: true\nb: 'true'\nc: 1\nd: \"1\"\ne: [null, 'null', ~]\nf: true\n")
    assert loaded.data == {"a": True, "b": "true", "c": 1, "d": "1", "e": [None, "null", None], "f": True}
    assert [type(loaded.data[k]) for k in "abcd"] == [bool, str, int, str]


def test_the_limits_hold_for_a_text_in_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    # a plain string under a key is built without a call of its own: it still counts, and still nests
    from obsgen.spec import SpecError
    from obsgen.spec import load as spec_load

    deep = "".join(f"{'  ' * i}k:\n" for i in range(32)) + "  " * 32 + "k: leaf\n"
    with pytest.raises(SpecError) as e:
        spec_load.load_text(deep)
    (problem,) = e.value.problems
    assert "nests deeper than 32 levels" in problem.message and len(problem.path) == 33
    assert problem.mark is not None and (problem.mark.line, problem.mark.col) == (33, 68)
    spec_load.load_text(deep.replace("  " * 32 + "k: leaf\n", ""))  # 32 levels: fine

    monkeypatch.setattr(spec_load, "MAX_NODES", 4)
    spec_load.load_text("a: x\nb: y\nc: z\n")  # the mapping and three texts
    with pytest.raises(SpecError, match="expands to more than 4 nodes") as e:
        spec_load.load_text("a: x\nb: y\nc: z\nd: w\n")
    assert e.value.problems[0].path == ("d",)


def test_thresholds_alike_are_judged_alike_and_each_told_as_written() -> None:
    # validation remembers a threshold's verdict by what it reads, levels by their text: 2 and 2.0 are equal,
    # but each message quotes its own; and each service's alert gets its own name
    from obsgen.spec import SpecError, load_spec_text

    extra = """\
  - name: web
    scrape: {static: ["web:8080"]}
    thresholds:
      - {indicator: error_rate, target: 0.1%, warning: 0.5%, critical: 1%}
      - {indicator: latency_p95, warning: 100ms, critical: 200ms}
      - {expr: queue_size, name: WebQueueHigh, warning: 2.0, critical: 1.0}
  - name: db
    scrape: {static: ["db:8080"]}
    thresholds:
      - {expr: queue_size, name: DbQueueHigh, warning: 2, critical: 1}
"""
    text = BASE.replace("channels:", extra + "channels:", 1)
    with pytest.raises(SpecError) as e:
        load_spec_text(text, "s.yaml")
    lines = [line for line in e.value.lines() if "must rise" in line]
    assert len(lines) == 2, e.value.lines()
    assert "services[1].thresholds[2]:" in lines[0] and "got warning 2.0, critical 1.0" in lines[0], lines
    assert "services[2].thresholds[0]:" in lines[1] and "got warning 2, critical 1:" in lines[1], lines
    assert len(e.value.problems) == 2, e.value.lines()  # api's and web's alike thresholds: no name clash
