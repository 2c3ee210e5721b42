"""The families rendered over every service on every render (compose's runtime facts, the Kubernetes packaging,
fluent.conf, the output README): their shortcuts give what the plain way gives."""

from __future__ import annotations

from typing import Any

import pytest
from test_deploy import full_spec

from obsgen.model import Model, resolve
from obsgen.render import alertmanager, compose, prometheus
from obsgen.spec import load_spec_text


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
