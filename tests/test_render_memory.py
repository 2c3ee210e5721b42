"""What a render holds on to does not grow with the services it has rendered: a service's memoized coverage
and alerting rules, which its parts of the joined files read, are let go once those parts are made."""

from __future__ import annotations

import pytest
from test_parallel_render import many_services

import obsgen.render as render
from obsgen.model import Model, ServiceModel
from obsgen.render import grafana_overview, proof, routes


def test_a_services_memos_are_let_go_once_its_parts_are_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    model = many_services(render.FORK_FROM_SERVICES + 5)
    held: list[int] = []
    service_work = render._service_work

    def counted(model_: Model, services: list[ServiceModel]) -> render.Work:
        work = service_work(model, services)
        held.append(sum(isinstance(k, tuple) and k[0] in render.SERVICE_MEMOS for k in model.memo))
        return work

    monkeypatch.setattr(render, "_service_work", counted)
    files = render.render_all(model)
    assert len(held) == len(model.services) and set(held) == {0}
    # and what the joined files read of them was there when their parts were made: they are what their
    # families render whole, from a model that memoized nothing
    fresh = many_services(render.FORK_FROM_SERVICES + 5)
    for module in (proof, routes, grafana_overview):
        assert files[module.PATH] == module.render(fresh)[module.PATH]
