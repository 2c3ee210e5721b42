"""grafana/dashboards/_overview.json: every service at a glance, joined from per-service parts
(`obsgen.render.parts`) like the proof files, so a re-render renders the rows of the services that changed.

A service's row holds its place on the grid (`gridPos.y`) and its panels' ids, and both count every earlier
service's panels. A part is rendered as if its service came first (ids from 1, its row at y 0), with how
many ids and grid lines it takes as its meta; the join adds the running offsets to those numbers. A part cut
from an earlier output already holds the offsets it had there, which its meta records ("at", [0, 0] as
rendered): it is used as it stands, its text not even read, when they are still its offsets (every service
before it kept its panel count and height), else shifted by the difference its numbers show. Only
a part's panel ids and its panels' `gridPos.y` depend on its place, so shifted, it is the part rendered there.

The numbers to shift are found by their indentation in the serialized text, which is `dump_json`'s: a panel's
keys stand at 6 spaces, its gridPos's at 8, and a JSON string holds no raw newline, so a line starting so is
a key of that mapping. The shift checks that it found one id and one y per panel the meta counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..model import Model, ServiceModel
from .grafana import overview_head, overview_panels, overview_row
from .grafana_normalize import panels as normal_panels
from .grafana_panels import Grid
from .parts import Joined, Part, json_document, json_items

PATH = "grafana/dashboards/_overview.json"
HEAD = "_head"  # the key of the table of firing alerts above the services' rows
# the number of a panel's id line (its keys stand at 6 spaces) or of its gridPos's y line (at 8); a part's
# first line is a panel's "{", so each of these lines follows a newline
_NUMBER = re.compile(r'\n(?: {6}"(id)"| {8}"y"): (\d+)(?=,?(?:\n|$))')


def render(model: Model) -> dict[str, str]:
    parts = {key: part for svc in model.services for key, part in service_parts(model, svc).items()}
    return {PATH: join(model, parts).text}


def part_key(svc: ServiceModel) -> str:
    return f"grafana/dashboards/{svc.name}.json"  # the dashboard its panels open


def service_parts(model: Model, svc: ServiceModel) -> dict[str, Part]:
    """The service's row and stats, placed as if the service came first; meta: the ids and grid lines they
    take (none for a service without stats)."""
    panels = overview_panels(model, svc)
    if not panels:
        return {part_key(svc): Part("", {"ids": 0, "h": 0})}
    grid = Grid()
    overview_row(grid, svc, panels)
    height = max(p.gridPos.y + p.gridPos.h for p in grid.panels)  # type: ignore[attr-defined]
    items = normal_panels(grid.panels, first_id=1, dashboard=f"{model.project} / Overview")
    return {part_key(svc): Part(json_items(items, 2), {"ids": len(items), "h": height, "at": [0, 0]})}


def join(model: Model, parts: Mapping[str, Part]) -> Joined:
    """The dashboard: the table of firing alerts, then each service's row at the running offsets."""
    head = overview_head(model)
    table = head["panels"]
    ordered = [(HEAD, Part(json_items(table, 2)))]
    ids, y = len(table), max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in table)
    for svc in model.services:
        key = part_key(svc)
        part = parts[key]
        ordered.append((key, _placed(part, ids, y) if part.size else part))
        ids += part.meta["ids"]
        y += part.meta["h"]
    return json_document(head, "panels", ordered)


def _placed(part: Part, ids: int, y: int) -> Part:
    """The part with its first id `ids + 1` and its row at `y`, which its meta's "at" records (`[ids, y]`)."""
    place = [ids, y]
    if part.meta.get("at") == place:  # where it stands already: not read (the numbers are read where unknown)
        return part
    meta = {**part.meta, "at": place}
    found = list(_NUMBER.finditer(part.text))
    first_id = next((int(m[2]) for m in found if m[1]), None)
    first_y = next((int(m[2]) for m in found if not m[1]), None)
    if first_id is None or first_y is None:
        raise RuntimeError(f"{PATH}: a part without a panel id or place")
    d_id, d_y = ids + 1 - first_id, y - first_y
    if d_id == d_y == 0:
        return part.with_meta(meta)
    # the text between the numbers, and each number shifted (a regular expression's substitution with a
    # function for each took three times as long: a second at 10,000 services)
    pieces, at = [], 0
    for m in found:
        pieces += [part.text[at:m.start(2)], str(int(m[2]) + (d_id if m[1] else d_y))]
        at = m.end(2)
    pieces.append(part.text[at:])
    n_ids = sum(1 for m in found if m[1])
    n_ys = len(found) - n_ids
    if not n_ids == n_ys == part.meta["ids"]:
        raise RuntimeError(f"{PATH}: a part's {part.meta['ids']} panels hold {n_ids} ids and {n_ys} places")
    return Part("".join(pieces), meta)
