"""A large spec's joined files (the overview, proof/alerts.json, proof/routes.json) are joined by forked children
that write them into the stage, and read what the README reads of proof/alerts.json, while this process renders
on; the output is a one-process render's, a child that fails leaves the join to this process, and an
interrupted render leaves no child behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from test_incremental import _a_second_later
from test_parallel_render import SERVICES, many_services

import obsgen.render as render
from obsgen import write
from obsgen.render import grafana_overview, proof, routes
from obsgen.render.parts import Record


@pytest.fixture
def beside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_JOBS", "2")
    monkeypatch.setattr(render, "JOIN_BESIDE_FROM", 3)


def _render(out: Path, record: Record | None = None, deploy: tuple[str, ...] = ()) -> dict[str, str]:
    with write.stage(out) as sink:
        render.render_into(sink, many_services(SERVICES, deploy), record=record)
        sink.commit("many.yaml", None)
    return {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in out.rglob("*")
            if p.is_file() and p.name != write.MANIFEST}


def _writers(monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
    real = write.Stage.write_reserved

    def noted(self: write.Stage, place: str, data: bytes) -> None:
        with log.open("a") as f:
            f.write(f"{os.getpid()} {Path(place).name} {os.nice(0)}\n")
        real(self, place, data)

    monkeypatch.setattr(write.Stage, "write_reserved", noted)


def test_joined_beside_in_a_new_tree_and_in_place(beside: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log"
    _writers(monkeypatch, log)
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    full = render.render_all(many_services(SERVICES, ("kubernetes",)))
    monkeypatch.setenv("OBSGEN_JOBS", "2")
    parent, real_read = os.getpid(), proof.read

    def read_in_a_child(text: str) -> object:
        assert os.getpid() != parent, "the README's counts read here, not by the child that joined the file"
        return real_read(text)

    monkeypatch.setattr(proof, "read", read_in_a_child)
    assert _render(tmp_path / "out", deploy=("kubernetes",)) == full  # the ConfigMaps read the overview back
    written = [line.split() for line in log.read_text().splitlines()]
    assert sorted(name for _, name, _ in written) == ["_overview.json", "alerts.json", "routes.json"]
    assert str(os.getpid()) not in {pid for pid, _, _ in written}
    # the packaging reads the overview first: the later children ask for less CPU
    nice = {name: int(n) - os.nice(0) for _, name, n in written}
    assert nice == {"_overview.json": 0, "alerts.json": render.JOIN_NICE, "routes.json": 2 * render.JOIN_NICE}
    # in place, over the output: staged beside their targets, renamed at the commit
    log.unlink()
    record = Record()
    assert _render(tmp_path / "out", record, deploy=("kubernetes",)) == full
    assert {p for p in record.made} == {grafana_overview.PATH, proof.PATH, routes.PATH}
    assert len(record.made[grafana_overview.PATH]) == SERVICES
    assert not list((tmp_path / "out").rglob(f"*{write.TMP_SUFFIX}"))  # unchanged: the staged copies are gone
    assert len(log.read_text().splitlines()) == 3


def test_a_re_render_reads_the_earlier_joined_files_in_the_children_only(
        beside: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The earlier texts the kept parts are cut from (three of a hundred MB each at 10,000 services) are read by
    the children that join them, never by this process; a file in which nothing moved is not written again."""
    out = tmp_path / "out"
    record = Record()
    model = many_services(SERVICES, ("kubernetes",))
    with write.stage(out) as sink:
        render.render_into(sink, model, record=record)
        sink.commit("many.yaml", {})
    _a_second_later(out)  # its files trusted by their stat, as the next run's
    first = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    files = json.loads((out / write.MANIFEST).read_text())["files"]
    again = Record()  # as the CLI keeps them: every service unchanged, its parts read where they are joined
    for path, spans in record.made.items():
        again.keep_later(path, spans, {svc.name for svc in model.services}, files[path])
    log, reads = tmp_path / "log", tmp_path / "reads"
    _writers(monkeypatch, log)
    real = write.Stage.read_held

    def noted(self: write.Stage, path: str, sha: str) -> str | None:
        with reads.open("a") as f:
            f.write(f"{os.getpid()} {path}\n")
        return real(self, path, sha)

    monkeypatch.setattr(write.Stage, "read_held", noted)
    own = {p: files[p] for svc in model.services for p in render.own_files(svc) if p in files}
    with write.stage(out) as sink:
        kept = dict.fromkeys(sink.intact(own), write.ON_DISK)  # their files kept, as the CLI keeps them
        assert len(kept) == len(own)
        render.render_into(sink, many_services(SERVICES, ("kubernetes",)), kept, record=again)
        changes = sink.commit("many.yaml", {})
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    read = [line.split() for line in reads.read_text().splitlines()]
    assert sorted(path for _, path in read) == sorted(record.made)
    assert str(os.getpid()) not in {pid for pid, _ in read}
    assert not again.kept  # here: the parts were cut from the texts in the children
    assert again.made == record.made
    assert not log.exists()  # nothing moved: no child wrote its file, which the output holds
    assert not changes.added and not changes.changed


def test_a_child_that_fails_leaves_the_join_here(beside: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    full = render.render_all(many_services(SERVICES))
    monkeypatch.setenv("OBSGEN_JOBS", "2")
    parent = os.getpid()
    real = write.Stage.write_reserved

    def broken(self: write.Stage, place: str, data: bytes) -> None:
        real(self, place, data[: len(data) // 2])  # half written, then the child dies
        if os.getpid() != parent:
            os._exit(3)

    monkeypatch.setattr(write.Stage, "write_reserved", broken)
    assert _render(tmp_path / "out") == full
    _render(tmp_path / "out")  # in place: its staged half removed, the file staged again here
    assert _render(tmp_path / "out") == full
    assert not list((tmp_path / "out").rglob(f"*{write.TMP_SUFFIX}"))


@pytest.mark.parametrize("at", ["ruler", "readme"])  # a family this process renders, a packaging family
def test_an_interrupted_render_leaves_no_join_child(beside: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    at: str) -> None:
    children = tmp_path / "children"
    children.mkdir()
    parent = os.getpid()
    real_join = render._joined

    def slow(module: str, *args: object) -> dict[str, str]:
        if os.getpid() != parent:
            (children / str(os.getpid())).touch()
            time.sleep(60)
        return real_join(module, *args)  # type: ignore[arg-type]

    def step(family: str) -> None:  # while the children join
        if family == at:
            deadline = time.monotonic() + 10
            while len(list(children.iterdir())) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt

    monkeypatch.setattr(render, "_joined", slow)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), write.stage(tmp_path / "out") as sink:
        render.render_into(sink, many_services(SERVICES), step=step)
    assert time.monotonic() - started < 10  # not waiting for the children's minute
    pids = [int(p.name) for p in children.iterdir()]
    assert len(pids) == 3  # the overview's, proof/alerts.json's and proof/routes.json's
    for pid in pids:
        with pytest.raises(ProcessLookupError):  # killed and reaped, no zombie
            os.kill(pid, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.obsgen-lock", "children"]
