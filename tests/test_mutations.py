"""Mutated examples: no mutation gets a traceback, and every mutated spec that validates renders output
that promtool and amtool accept (including the generated promtool tests)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from conftest import EXAMPLES, require_tool, run, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import SpecError, load_spec_text

SOURCES = {p.stem: yaml.safe_load(p.read_text()) for p in EXAMPLES}


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["0", "100", "100.5", "5m", "0d", "1%", "-1", "{{window}}", "a b",
                                           'x"y', "#{x}", "\n", "1e309", "api-gateway", "critical"]),
)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(SOURCES)))
    data = copy.deepcopy(SOURCES[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent, key = _get(data, path[:-1]), path[-1]
        action = draw(st.sampled_from(["delete", "scalar", "empty-list", "empty-map", "duplicate", "rename"]))
        if action == "delete":
            del parent[key]
        elif action == "scalar":
            parent[key] = draw(scalars)
        elif action == "empty-list":
            parent[key] = []
        elif action == "empty-map":
            parent[key] = {}
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["s", "_", "x"]))] = parent.pop(key)
        if len(path) > 3 and path[0] == "services" and path[2] == "alerts":
            _drop_alert_tests(data, path[1])
    return data


def _drop_alert_tests(data: dict[str, Any], service: Any) -> None:
    """A spec's own alert tests are the user's claims about the alert as written: a mutated alert may
    rightly falsify them, so they leave with the mutation (the generated tests stay)."""
    services = data.get("services")
    if isinstance(services, list) and isinstance(service, int) and service < len(services) \
            and isinstance(services[service], dict) and isinstance(services[service].get("alerts"), list):
        for alert in services[service]["alerts"]:
            if isinstance(alert, dict):
                alert.pop("tests", None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_never_crash_and_valid_ones_render_valid_output(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        spec = load_spec_text(text, "mutated.yaml")
    except SpecError as e:
        assert e.problems and all(line.startswith("mutated.yaml") for line in e.lines())
        return
    files = render_all(resolve(spec, "mutated.yaml"))
    promtool, amtool = require_tool("promtool"), require_tool("amtool")
    with tempfile.TemporaryDirectory() as tmp:
        out = write_tree(Path(tmp), files)
        rules = sorted(str(p.relative_to(out)) for p in out.glob("prometheus/rules/*.yml"))
        tests = sorted(str(p.relative_to(out)) for p in out.glob("prometheus/tests/*.yml"))
        for cmd in ([promtool, "check", "config", "prometheus/prometheus.yml"],
                    [promtool, "check", "rules", *rules],
                    [promtool, "test", "rules", *tests],
                    [amtool, "check-config", "alertmanager/alertmanager.yml"]):
            proc = run(cmd, cwd=out)
            assert proc.returncode == 0, f"{' '.join(cmd[1:3])} rejected a mutated spec's output:\n{text}\n{proc.stdout}{proc.stderr}"
