"""A re-render's joined files reuse the earlier text without copying it part by part: kept parts are spans of
it, joined as long runs (the earlier text itself when nothing moved), the overview's kept rows are not read
where their recorded place is still theirs, and the README takes what it says of proof/alerts.json from the
proof's join rather than reading a hundred MB back."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_parallel_render import many_services

from obsgen import write
from obsgen.render import grafana_overview, proof, readme, render_all, render_into
from obsgen.render.common import dump_json
from obsgen.render.parts import Part, json_document, json_items


def _cut(joined_text: str, spans: dict[str, tuple[int, int]], metas: dict[str, dict[str, Any]] | None = None
         ) -> list[tuple[str, Part]]:
    return [(name, Part.cut(joined_text, a, b, (metas or {}).get(name, {}))) for name, (a, b) in spans.items()]


def test_kept_parts_join_to_the_document_and_untouched_it_is_the_earlier_text() -> None:
    rng = random.Random("obsgen-runs")
    for _ in range(200):
        items = [[{"k": rng.choice(["a", "ünï", 1, None, [2]])} for _ in range(rng.randint(0, 3))]
                 for _ in range(rng.randint(1, 8))]
        head = {"summary": {"n": 1}, "items": None, "after": "x"}
        earlier = json_document(head, "items", [(str(i), Part(json_items(p, 2))) for i, p in enumerate(items)])
        cut = _cut(earlier.text, earlier.spans)
        same = json_document(head, "items", cut)
        assert same.text == earlier.text
        if any(items):  # every character where it was: the very string, no copy (an empty list: `[]`)
            assert same.text is earlier.text
        assert same.spans == earlier.spans
        # some parts rendered again (changed or not), the head changed: the document all the same
        changed = [rng.random() < 0.3 for _ in items]
        new = [[{"k": rng.choice(["b", 3])}] if c and rng.random() < 0.5 else p for p, c in zip(items, changed, strict=True)]
        parts = [(name, Part(json_items(p, 2)) if c else part)
                 for (name, part), p, c in zip(cut, new, changed, strict=True)]
        head2 = {**head, "summary": {"n": rng.randint(1, 3)}}
        joined = json_document(head2, "items", parts)
        assert joined.text == dump_json({**head2, "items": [x for p in new for x in p]})
        for i, p in enumerate(new):
            start, end = joined.spans[str(i)]
            assert joined.text[start:end] == json_items(p, 2)


def test_a_change_at_the_front_copies_the_earlier_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs after the change reach the earlier text's end: it is copied with its head replaced."""
    items = [[{"i": i, "pad": "x" * 50}] for i in range(50)]
    earlier = json_document({"items": None}, "items", [(str(i), Part(json_items(p, 2))) for i, p in enumerate(items)])
    replaced: list[int] = []

    class Spied(str):
        def replace(self, old: str, new: str, count: int = -1) -> str:
            replaced.append(len(old))
            return str(self).replace(old, new, count)

    parts = _cut(Spied(earlier.text), earlier.spans)
    parts[0] = ("0", Part(json_items([{"i": "new"}], 2)))
    joined = json_document({"items": None}, "items", parts)
    # its head replaced, up to the separator before the first kept part (which the earlier text holds): one copy
    assert replaced == [earlier.spans["1"][0] - len(",\n")]
    assert joined.text == dump_json({"items": [{"i": "new"}, *[x for p in items[1:] for x in p]]})
    assert joined.text[joined.spans["1"][0]:] == earlier.text[earlier.spans["1"][0]:]


def test_a_kept_row_at_its_recorded_place_is_not_read() -> None:
    model = many_services(3)
    rows = [p for svc in model.services for p in grafana_overview.service_parts(model, svc).values() if p.size]
    part = rows[0]
    assert part.meta["at"] == [0, 0]
    placed = grafana_overview._placed(part, 40, 1234)
    assert placed.meta == {**part.meta, "at": [40, 1234]}
    # cut from an earlier text that does not even hold panels: at its recorded place it is taken as it is
    garbage = Part.cut("not a panel at all", 0, 18, placed.meta)
    assert grafana_overview._placed(garbage, 40, 1234) is garbage
    with pytest.raises(RuntimeError, match="a part without a panel id or place"):
        grafana_overview._placed(garbage, 41, 1234)
    # an earlier record without places (or a wrong one): placed by the numbers its text holds
    unplaced = Part(placed.text, {k: v for k, v in placed.meta.items() if k != "at"})
    assert grafana_overview._placed(unplaced, 40, 1234) == placed
    assert grafana_overview._placed(Part(placed.text, {**placed.meta, "at": [1, 1]}), 0, 0) == part


def test_the_overview_records_where_each_row_stands() -> None:
    model = many_services(4)
    parts = {k: p for svc in model.services for k, p in grafana_overview.service_parts(model, svc).items()}
    joined = grafana_overview.join(model, parts)
    metas = [joined.metas[grafana_overview.part_key(svc)] for svc in model.services]
    rows = [m for m in metas if m["ids"]]
    assert len({tuple(m["at"]) for m in rows}) == len(rows) > 1  # each its own place
    # a second join over the parts cut from the first at those places reads none of them: the same text
    again = {k: Part.cut(joined.text, *joined.spans[k], joined.metas[k]) for k in parts}
    assert grafana_overview.join(model, again).text is joined.text


def test_the_readme_does_not_read_the_proof_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = many_services(5)
    reads: list[tuple[str, int | None]] = []
    real = write.Stage.read

    def spy(self: write.Stage, path: str, limit: int | None = None) -> str:
        reads.append((path, limit))
        return real(self, path, limit)

    monkeypatch.setattr(write.Stage, "read", spy)
    with write.stage(tmp_path / "out") as sink:
        staged = render_into(sink, model)
        text = staged[readme.PATH]
        sink.commit("many.yaml", None)
    assert (proof.PATH, None) not in reads[:-1] and reads[-1] == (readme.PATH, None)
    assert text == render_all(many_services(5))[readme.PATH]


def test_the_readme_reads_the_proof_it_has_not_seen_staged() -> None:
    model = many_services(3)
    files = render_all(model)

    class Other(dict[str, str]):
        def sha(self, path: str) -> str:
            return "not a sha the proof's join noted"

    model.memo[proof.READ_MEMO] = {"some sha": ({"alerts": -1}, [])}
    others = Other({path: text for path, text in files.items() if path != readme.PATH})
    assert readme.render(model, others)[readme.PATH] == files[readme.PATH]


def test_a_joined_file_nothing_moved_in_is_staged_by_the_sha_it_was_read_with(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-service change that leaves proof/routes.json as it was: the join gives back the text read, which
    is staged by the sha256 read_kept checked (not hashed nor written again); the output is a full render's."""
    from typer.testing import CliRunner

    from obsgen.cli import app
    from obsgen.render import routes

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml").read_text())
    template = {k: v for k, v in spec["services"][0].items() if k != "alerts"}
    spec["services"] += [{**template, "name": f"svc-{i:03d}"} for i in range(6)]
    path, out = tmp_path / "spec.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(spec))
    runner = CliRunner()
    assert runner.invoke(app, ["render", str(path), "-o", str(out), "--quiet"]).exit_code == 0
    routes_inode = (out / routes.PATH).stat().st_ino
    spec["services"][-1]["thresholds"][0]["critical"] = "2%"  # its alert's proof, not where the alert goes
    path.write_text(yaml.safe_dump(spec))
    read, put = [], []
    put_read, put_files = write.Stage.put_read, write.Stage.put
    monkeypatch.setattr(write.Stage, "put_read", lambda self, p, text, sha: (read.append(p), put_read(self, p, text, sha))[1])
    monkeypatch.setattr(write.Stage, "put", lambda self, files: (put.extend(files), put_files(self, files))[1])
    assert runner.invoke(app, ["render", str(path), "-o", str(out), "--quiet"]).exit_code == 0
    monkeypatch.undo()
    assert read == [routes.PATH]  # the overview and proof/alerts.json did change: put
    assert routes.PATH not in put and {grafana_overview.PATH, proof.PATH} <= set(put)
    assert (out / routes.PATH).stat().st_ino == routes_inode
    assert runner.invoke(app, ["render", str(path), "-o", str(tmp_path / "fresh"), "--quiet"]).exit_code == 0
    for p in json.loads((out / write.MANIFEST).read_text())["files"]:
        assert (out / p).read_bytes() == (tmp_path / "fresh" / p).read_bytes(), p


def test_put_read_trusts_the_sha_only_where_the_output_holds_that_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write.write({"a.json": "old\n"}, out, "s.yaml")
    old_sha = write._sha("old\n")
    with write.stage(out) as sink:  # the sha said is the manifest's and the file is intact: nothing staged
        sink.put_read("a.json", "not hashed\n", old_sha)
        assert sink.sha("a.json") == old_sha and not sink.staged
        changes = sink.commit("s.yaml", None)
    assert changes.unchanged == ["a.json"] and (out / "a.json").read_text() == "old\n"
    (out / "a.json").write_text("edited by hand\n")
    with write.stage(out) as sink:  # not what the manifest says any more: staged as any text is
        sink.put_read("a.json", "old\n", old_sha)
        changes = sink.commit("s.yaml", None)
    assert changes.changed == ["a.json"] and (out / "a.json").read_text() == "old\n"
    fresh = tmp_path / "fresh"
    with write.stage(fresh) as sink:  # a new tree: written
        sink.put_read("a.json", "new\n", "whatever the caller says")
        assert sink.sha("a.json") == write._sha("new\n")
        sink.commit("s.yaml", None)
    assert (fresh / "a.json").read_text() == "new\n"
