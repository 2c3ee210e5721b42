"""The overview's parts are placed by shifting their panel ids and rows: exactly those numbers, checked."""

from __future__ import annotations

import json

import pytest
from test_parallel_render import many_services

from obsgen.render import grafana_overview
from obsgen.render.parts import Part


def test_a_placed_part_is_the_part_rendered_there() -> None:
    model = many_services(3)
    parts = [p for svc in model.services for p in grafana_overview.service_parts(model, svc).values() if p.text]
    part = parts[0]
    placed = grafana_overview._placed(part, 40, 1234)
    items = json.loads(f"[{placed.text}]")
    first = json.loads(f"[{part.text}]")
    assert [p["id"] for p in items] == [p["id"] + 40 for p in first]
    assert [p["gridPos"]["y"] for p in items] == [p["gridPos"]["y"] + 1234 for p in first]
    # nothing else changed: the numbers put back, it is the part as rendered
    for p in items:
        p["id"] -= 40
        p["gridPos"]["y"] -= 1234
    assert items == first
    assert grafana_overview._placed(placed, 0, 0) == part
    assert grafana_overview._placed(part, 0, 0) is part  # where it was rendered: as it stands


def test_a_part_that_does_not_hold_its_numbers_is_an_error() -> None:
    model = many_services(3)
    part = next(p for svc in model.services for p in grafana_overview.service_parts(model, svc).values() if p.text)
    with pytest.raises(RuntimeError, match="a part without a panel id or place"):
        grafana_overview._placed(Part(part.text.replace('"id"', '"ident"'), part.meta), 3, 3)
    one_less = Part(part.text, {**part.meta, "ids": part.meta["ids"] + 1})
    with pytest.raises(RuntimeError, match=r"panels hold \d+ ids and \d+ places"):
        grafana_overview._placed(one_less, 3, 3)
