"""The families rendered over every service on every render (compose's runtime facts, the Kubernetes packaging,
fluent.conf, the output README): their shortcuts give what the plain way gives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
from conftest import ROOT, SKETCH
from test_deploy import full_spec
from test_logs import HOSTILE_SPEC, SEED_004
from test_logs import model_of as model_of_logs

from obsgen import __version__, probes
from obsgen.model import Model, resolve
from obsgen.render import alertmanager, compose, fluentd, kubernetes, prometheus, proof, readme, render_all
from obsgen.render.common import header, one_line
from obsgen.spec import load_spec, load_spec_text


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text, "spec.yaml"), "spec.yaml")


def reference_file_paths(data: Any) -> set[str]:
    """The walk as first written: recursive, over every mapping and list."""
    if isinstance(data, dict):
        found = {v for k, v in data.items() if k.endswith("_file") and isinstance(v, str)}
        return found.union(*(reference_file_paths(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(reference_file_paths(v) for v in data))
    return set()


@pytest.mark.parametrize("data", [
    {},
    [],
    "a_file",
    {"a_file": "/x", "b": {"c_file": "/y", "d": [{"e_file": "/z"}, [[{"f_file": "/w"}]], "g_file"]}},
    {"n_file": 3, "m_file": None, "l_file": ["/not-a-path"], "k_file": {"j_file": "/deep"}, "file": "/no"},
    [{"a_file": "/same"}, {"a_file": "/same"}, {"x_files": "/no", "_file": "/yes", "": "/no"}],
    {"tls_config": {"ca_file": "/ca", "cert_file": "/cert", "key_file": "/key"}, "é_file": "/é", "a": []},
])
def test_file_paths_finds_what_the_recursive_walk_finds(data: Any) -> None:
    assert compose._file_paths(data) == reference_file_paths(data)


def test_file_paths_walks_deeper_than_recursion_could() -> None:
    data: Any = {"last_file": "/bottom"}
    for i in range(5000):
        data = [{"up": data, f"x{i}_file": f"/f{i}"}]
    assert compose._file_paths(data) == {"/bottom", *(f"/f{i}" for i in range(5000))}


def test_secret_files_walks_the_configs_once_and_hands_out_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_of(full_spec(operator=False))
    calls: list[str] = []
    for module in (prometheus, alertmanager):
        real = module.config

        def counted(*args: Any, _real: Any = real, _name: str = module.__name__, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, "config", counted)
    first = compose.secret_files(model)
    assert first["alertmanager"] and first["prometheus"] and first["postgres-exporter"]
    assert sorted(calls) == ["obsgen.render.alertmanager", "obsgen.render.prometheus"]
    expected = {component: list(paths) for component, paths in first.items()}
    first["alertmanager"].append("/changed")  # a caller's edit is its own
    first.pop("prometheus")
    assert compose.secret_files(model) == expected
    assert compose.secret_keys(model) == compose.secret_keys(model_of(full_spec(operator=False)))
    assert len(calls) == 2 + 2  # the fresh model's own walk; none more for the first


# --------------------------------------------------------------------------- fluent.conf and the README
# What the templates wrote while they looped over the services themselves (tests/fixtures/templates: the
# templates as they were), against which the rows and sections written in Python are compared.

REFERENCE = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "tests/fixtures/templates"),
                               undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def reference_fluent_conf(model: Model) -> str:
    fl = model.stack.fluentd
    es = None
    if "elasticsearch" in fl.outputs:
        es = {**fl.elasticsearch.model_dump(), "index_prefix": fl.elasticsearch.index_prefix or model.project}
    services = [fluentd._service(s) for s in model.services if s.logs is not None]
    return REFERENCE.get_template("fluent.conf.j2").render(
        header=header(model.source).rstrip("\n"), forward_port=fluentd.FORWARD_PORT,
        metrics_port=fluentd.METRICS_PORT, q=fluentd.fluent_string, ruby_str=fluentd.ruby_string,
        state_dir=fluentd.STATE_DIR, loki_url=fluentd.LOKI_URL, metrics_path=fluentd.METRICS_PATH,
        environment=model.environment, outputs=" and ".join(fl.outputs), es=es,
        tailing=any(s["tail"] for s in services), services=services)


def reference_readme(model: Model, files: dict[str, str]) -> str:
    folders = Counter(path.rsplit("/", 1)[0] + "/" if "/" in path else "./" for path in files)
    report = files[proof.PATH]
    return REFERENCE.get_template("output-README.md.j2").render(
        version=__version__, project=model.project, environment=model.environment, source=model.source,
        source_comment=one_line(model.source).replace("--", "-\\-"), services=model.services, files=files,
        folders=sorted(folders.items()), deploy=model.stack.deploy, operator=readme._operator(model),
        ruler=readme._ruler(model), ha=readme._ha(model), secrets=sorted(compose.secret_keys(model)),
        integrations=readme._integrations(model),
        health_checks=[{"service": svc.name, "kind": p.kind, "target": p.target, "module": p.module, "job": p.job,
                        "alert": probes.alert_name(svc.name, p.kind), "for": svc.probe_for(p)}
                       for svc in model.services for p in svc.probes],
        coverage=proof.summary_of(report), unproven=proof.unproven_of(report))


ODD_ENV = "prod eu-1 é 日本"  # what a label value may hold
LOG_SERVICES: list[dict[str, Any]] = [
    {"name": "tail-json", "team": "a", "logs": {
        "source": {"tail": "/var/log/a b/\"x\" #{y}/*.log", "time_key": "t\"s", "time_format": "%s #{z}"},
        "labels": ["level", "logger", "service", "region"], "level_key": "lvl"}},
    {"name": "tail-text", "logs": {"source": {"tail": "/var/log/é/[ab]*.log", "format": "text"}, "labels": []}},
    {"name": "fwd-json", "logs": {"source": {"forward": True}, "labels": ["level"]}},
    {"name": "fwd-text", "logs": {"source": {"forward": True, "format": "text", "tag": "docker.fwd"}}},
    {"name": "no-logs"},
]
STACKS: list[dict[str, Any]] = [
    {},
    {"fluentd": {"outputs": ["loki", "elasticsearch"]}},  # no user, no password file
    {"fluentd": {"outputs": ["loki", "elasticsearch"], "elasticsearch": {
        "host": "es-1.internal", "port": 9243, "scheme": "https", "user": "u'#{\"x\"}", "index_prefix": "logs-x",
        "password_file": "/run/it's \"#{secret}\"}'"}}},
]
LOG_MODELS: list[Callable[[], Model]] = [
    lambda: resolve(load_spec(SKETCH), "spec.yaml"), lambda: model_of_logs(**SEED_004),
    lambda: model_of_logs(**HOSTILE_SPEC), lambda: model_of_logs([{"name": "quiet"}]),
    *(lambda stack=stack: model_of_logs(LOG_SERVICES, stack, environment=ODD_ENV) for stack in STACKS),
]


@pytest.mark.parametrize("make", LOG_MODELS, ids=["sketch", "seed004", "hostile", "no-logs", "loki", "es", "es-all"])
def test_fluent_conf_sections_are_what_the_template_loop_wrote(make: Callable[[], Model]) -> None:
    model = make()
    assert fluentd.render(model)["fluentd/fluent.conf"] == reference_fluent_conf(model)


README_SPECS = [SKETCH, ROOT / "examples/quickstart.yaml", ROOT / "examples/ai-chat.yaml",
                ROOT / "examples/agentic-startup-studio.yaml"]
HOSTILE_UNPROVEN = [
    {"alert": "A", "severity": None, "file": "prometheus/rules/a.yml", "reason": "x | y || z", "accepted": "why|not"},
    {"alert": "B", "severity": "critical", "file": "loki/rules/fake/b.yml", "reason": "é \\ `q`"},
    {"alert": "C", "severity": "", "file": "c", "reason": "", "accepted": ""},
]


@pytest.mark.parametrize("spec", README_SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("unproven", [None, [], HOSTILE_UNPROVEN], ids=["rendered", "none", "hostile"])
def test_readme_rows_are_what_the_template_loops_wrote(spec: Path, unproven: list[dict[str, Any]] | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = resolve(load_spec(spec), spec.name)
    files = render_all(model)
    if unproven is not None:
        monkeypatch.setattr(proof, "unproven_of", lambda _text: [dict(a) for a in unproven])
    assert readme.render(model, files)[readme.PATH] == reference_readme(model, files)


def test_readme_rows_cover_teams_slos_logs_and_health_checks() -> None:
    """What the comparisons above must have seen for them to mean anything."""
    models = [resolve(load_spec(spec), spec.name) for spec in README_SPECS]
    rows = "".join(readme._service_rows(model) for model in models)
    assert "| — |" in rows and "| yes |" in rows and ", " in rows and "| payments |" in rows
    checks = sum(len(s.probes) for model in models for s in model.services)
    assert "".join(readme._health_check_rows(model) for model in models).count("\n") == checks > 0


# --------------------------------------------------------------------------- the Kubernetes packaging


def test_the_sizes_parts_come_with_are_their_measured_sizes() -> None:
    """The cut's own sizes stand in for measuring each part again: they must be each part's apply_size,
    whichever way the text was cut (by stretches of lines, escapes corrected line by line, line by line)."""
    import random

    rng = random.Random("sized-parts")
    words = ['"expr": ', '"a\\"b"', "<", "&", ">", "é", "\t", " " * 8, "{", "}", "0.99", "\U0001f600", "\\", "\x01"]
    seen_ways = set()
    for _ in range(1500):
        lines = ["".join(rng.choice(words) for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(0, 80))]
        text = "\n".join(lines) + rng.choice(["", "\n", "\u2028x", "\r\n"])
        budget = rng.randint(24, 600)
        sized = kubernetes.sized_parts(text, budget)
        assert [part for part, _ in sized] == kubernetes.parts(text, budget)
        assert "".join(part for part, _ in sized) == text
        for part, size in sized:
            assert size == kubernetes.apply_size(part), (text, budget, part)
            assert size <= budget
        seen_ways.add((len(sized) > 1, any(c in text for c in "\u2028\r")))
    assert seen_ways == {(True, True), (True, False), (False, True), (False, False)}


def reference_generators(name: str, entries: list[tuple[str, str, int]],
                         stable_name: bool) -> tuple[list[dict[str, Any]], set[str]]:
    """ConfigMap generators as the packaging grouped every file's entries before one whole file had a
    shortcut: (generators, the names of those holding parts)."""
    groups: list[list[tuple[str, str, int]]] = [[]]
    size = 0
    for entry in entries:
        n = entry[2] + len(entry[0]) + 4
        if groups[-1] and size + n > kubernetes.CONFIGMAP_DATA_BUDGET:
            groups.append([])
            size = 0
        groups[-1].append(entry)
        size += n
    gens, parted = [], set()
    for i, group in enumerate(groups):
        gen: dict[str, Any] = {"name": name if i == 0 else f"{name}.{i + 1}",
                               "files": [f"{key}={source}" for key, source, _ in group]}
        if stable_name:
            gen["options"] = {"disableNameSuffixHash": True}
        gens.append(gen)
        if any(kubernetes.PART in key for key, _, _ in group):
            parted.add(gen["name"])
    return gens, parted


BIG = kubernetes.CONFIGMAP_DATA_BUDGET
ENTRY_LISTS = [
    [("a.json", "config/grafana/dashboards/a.json", 10)],
    [("a.part-000.json", "config/x/a.part-000.json", 10)],  # a file whose own name holds the mark
    [(f"o.json{kubernetes.PART}000", "config/o.json.part-000", BIG - 20)],
    [(f"o.json{kubernetes.PART}{i:03d}", f"config/o.json.part-{i:03d}", BIG - 20) for i in range(3)],
    [("a.yml", "config/a.yml", BIG // 2), ("b.yml", "config/b.yml", BIG // 2), ("c.yml", "config/c.yml", 1)],
    [("é.yml", "config/é.yml", 0)],
]


@pytest.mark.parametrize("entries", ENTRY_LISTS)
@pytest.mark.parametrize("stable_name", [False, True])
def test_configmap_generators_are_those_the_grouping_made(entries: list[tuple[str, str, int]],
                                                         stable_name: bool) -> None:
    k = kubernetes.Kustomization(model_of(full_spec(operator=False)), {})
    names = k.generate("cm", entries, stable_name=stable_name)
    gens, parted = reference_generators("cm", entries, stable_name)
    assert (k.generators, k.parted, names) == (gens, parted, [g["name"] for g in gens])
