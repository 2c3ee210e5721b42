"""Rendering a large spec forks most Grafana dashboards into their own process: same bytes, same errors."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

import obsgen.render as render
from obsgen.model import Model, resolve
from obsgen.render import grafana
from obsgen.spec import load_spec_text


def many_services(n: int) -> Model:
    spec = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    template = {k: v for k, v in spec["services"][0].items() if k != "alerts"}  # alert names start with the service's
    spec["services"] += [{**template, "name": f"svc-{i:03d}"} for i in range(n - len(spec["services"]))]
    return resolve(load_spec_text(yaml.safe_dump(spec), "many.yaml"), "many.yaml")


@pytest.fixture(scope="module")
def model() -> Model:
    return many_services(render.FORK_FROM_SERVICES)


@pytest.fixture
def big(model: Model, monkeypatch: pytest.MonkeyPatch) -> Model:
    """The spec, on a machine that forks: two CPUs whatever this one has (forking works on one, slower)."""
    monkeypatch.setattr(render.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert render._fork_pays(model)
    return model


def test_forked_render_writes_the_same_bytes(big: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    forked = render.render_all(big)
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    assert not render._fork_pays(big)
    assert render.render_all(big) == forked
    assert sum(p.startswith("grafana/dashboards/") for p in forked) == len(big.services) + 2


def test_an_error_in_the_forked_family_reaches_the_caller(big: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: Model, services: slice = slice(None)) -> dict[str, str]:
        if not services.start:  # the forked share (this process renders the rest)
            raise ValueError("dashboard bug")
        return {}

    monkeypatch.setattr(grafana, "render", broken)  # the fork inherits the patched module
    with pytest.raises(ValueError, match="dashboard bug"):
        render.render_all(big)
    assert render._forked_model is None


def test_small_specs_and_one_cpu_render_in_one_process(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.os, "sched_getaffinity", lambda _pid: {0})
    assert not render._fork_pays(model)
    small = many_services(3)
    assert not render._fork_pays(small)
    assert render.render_all(small)["grafana/dashboards/svc-000.json"].startswith("{")
