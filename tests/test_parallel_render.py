"""A large spec's per-service files are rendered in chunks by forked processes: the same bytes whatever the
number of processes, the same errors, and one process for small specs or OBSGEN_JOBS=1."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

import obsgen.render as render
from obsgen import write
from obsgen.model import Model, ServiceModel, resolve
from obsgen.render import grafana, grafana_overview, kubernetes, prometheus, proof, routes
from obsgen.spec import load_spec_text

SERVICES = render.FORK_FROM_SERVICES + 10


def many_services(n: int, deploy: tuple[str, ...] = ()) -> Model:
    spec = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    spec["stack"]["deploy"] += deploy
    template = {k: v for k, v in spec["services"][0].items() if k != "alerts"}  # alert names start with the service's
    spec["services"] += [{**template, "name": f"svc-{i:03d}"} for i in range(n - len(spec["services"]))]
    return resolve(load_spec_text(yaml.safe_dump(spec), "many.yaml"), "many.yaml")


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that forks: two CPUs whatever this one has (forking works on one, slower)."""
    monkeypatch.setattr(render.os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.delenv("OBSGEN_JOBS", raising=False)


def test_the_bytes_never_depend_on_the_number_of_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service_work = render._service_work
    parent = os.getpid()

    def marked(model: Model, services: list[ServiceModel]) -> render.Work:
        if os.getpid() != parent:  # which forked process made the chunk
            with (tmp_path / f"made-{jobs}").open("a") as f:
                f.write(f"{os.getpid()} {len(services)}\n")
        return service_work(model, services)

    monkeypatch.setattr(render, "_service_work", marked)  # the forks inherit the patched module
    renders, forked = {}, {}
    for jobs in ("1", "2", "4"):
        monkeypatch.setenv("OBSGEN_JOBS", jobs)
        model = many_services(SERVICES)  # a fresh model each time: none reuses another's memoized coverage
        renders[jobs] = render.render_all(model)
        made = [line.split() for line in (tmp_path / f"made-{jobs}").read_text().splitlines()] if jobs != "1" else []
        forked[jobs] = {pid for pid, _ in made}
    assert forked["1"] == set()
    assert len(forked["2"]) == 1 and str(os.getpid()) not in forked["2"]
    assert 2 <= len(forked["4"]) <= 3
    assert renders["2"] == renders["1"]
    assert renders["4"] == renders["1"]
    own = {p for svc in many_services(SERVICES).services for p in render.own_files(svc)}
    assert own <= set(renders["1"]) and sum(p.startswith("grafana/dashboards/") for p in renders["1"]) == SERVICES + 2
    # the files joined from the parts the chunks made are the files their families render whole
    model = many_services(SERVICES)
    for module in (grafana_overview, proof, routes):
        assert renders["4"][module.PATH] == module.render(model)[module.PATH]


def test_this_process_makes_chunks_from_the_back_while_the_others_work(two_cpus: None, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a slow forked process, this one makes most chunks: from the back, each service once."""
    service_work = render._service_work
    parent = os.getpid()

    def slow(model: Model, services: list[ServiceModel]) -> render.Work:
        if os.getpid() != parent:
            time.sleep(0.5)
        with (tmp_path / "made").open("a") as f:
            f.write(f"{os.getpid() == parent} {model.services.index(services[0])} {len(services)}\n")
        return service_work(model, services)

    monkeypatch.setattr(render, "_service_work", slow)
    render.render_all(many_services(SERVICES))
    made = [(mine == "True", int(first), int(n)) for mine, first, n in
            (line.split() for line in (tmp_path / "made").read_text().splitlines())]
    assert sorted(i for _, first, n in made for i in range(first, first + n)) == list(range(SERVICES))
    here = [(first, n) for mine, first, n in made if mine]
    there = [(first, n) for mine, first, n in made if not mine]
    assert there and sum(n for _, n in here) > SERVICES // 2
    assert [first for first, _ in here] == sorted((first for first, _ in here), reverse=True)
    assert here[0][0] + here[0][1] == SERVICES and there[0][0] == 0


def _spoiled(monkeypatch: pytest.MonkeyPatch, spoil: Callable[[render.Parts, Model], None]) -> None:
    """Forked processes send back their chunks' parts spoiled by `spoil`."""
    service_work = render._service_work
    parent = os.getpid()

    def spoiled(model: Model, services: list[ServiceModel]) -> render.Work:
        files, parts, sizes, written = service_work(model, services)
        if os.getpid() != parent:
            spoil(parts, model)
        return files, parts, sizes, written

    monkeypatch.setattr(render, "_service_work", spoiled)


def test_a_part_missing_from_a_forked_chunk_is_an_error(two_cpus: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _spoiled(monkeypatch, lambda parts, _model: parts[proof.PATH].popitem())
    with pytest.raises(RuntimeError, match=r"proof/alerts\.json: no parts of service '[^']+' came with its files"):
        render.render_all(many_services(SERVICES))


def test_a_part_made_twice_is_an_error(two_cpus: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def twice(parts: render.Parts, model: Model) -> None:  # every chunk holds the first service's too
        first = model.services[0]
        parts[routes.PATH][first.name] = routes.service_parts(model, first)

    _spoiled(monkeypatch, twice)
    with pytest.raises(RuntimeError, match=r"proof/routes\.json: the parts of service '[^']+' were made twice"):
        render.render_all(many_services(SERVICES))


def test_parts_of_no_service_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    service_work = render._service_work

    def more(model: Model, services: list[ServiceModel]) -> render.Work:
        files, parts, sizes, written = service_work(model, services)
        if services[-1] is model.services[-1]:
            parts[grafana_overview.PATH]["ghost"] = {}
        return files, parts, sizes, written

    monkeypatch.setattr(render, "_service_work", more)
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    with pytest.raises(RuntimeError, match="_overview.json: parts of 'ghost', a service not in the spec"):
        render.render_all(many_services(3))


def test_every_service_is_in_one_chunk_and_the_last_are_small() -> None:
    rng = random.Random(18)
    for services in (render.FORK_FROM_SERVICES, 61, 1000, 10_000):
        for processes in (2, 3, 4, 8):
            left = render._Left(services, processes)
            chunks: list[tuple[bool, slice]] = []
            while (chunk := left.take(front=(front := rng.random() < 0.6))) is not None:
                chunks.append((front, chunk))
            assert sorted(i for _, c in chunks for i in range(services)[c]) == list(range(services))
            assert all(render.MIN_CHUNK <= c.stop - c.start <= render.MAX_CHUNK for _, c in chunks[:-1])
            # from the front in order, from the back in reverse order, and they meet
            fronts = [c for front, c in chunks if front]
            backs = [c for front, c in chunks if not front]
            assert [c.start for c in fronts] == sorted(c.start for c in fronts)
            assert [c.start for c in backs] == sorted((c.start for c in backs), reverse=True)
            assert fronts[0].start == 0 and backs[0].stop == services
            # a share of what is left: the last few are the smallest
            assert max(c.stop - c.start for _, c in chunks[-processes:]) <= max(render.MIN_CHUNK, services // 100)
            assert len(chunks) >= min(processes * render.SHARE, services // render.MIN_CHUNK)


def test_an_error_in_a_forked_process_reaches_the_caller(two_cpus: None, monkeypatch: pytest.MonkeyPatch) -> None:
    files = grafana.service_files

    def broken(model: Model, svc: object) -> dict[str, str]:
        if os.getpid() != parent:
            raise ValueError("dashboard bug")
        return files(model, svc)  # type: ignore[arg-type]

    parent = os.getpid()
    monkeypatch.setattr(grafana, "service_files", broken)
    with pytest.raises(ValueError, match="dashboard bug"):
        render.render_all(many_services(SERVICES))
    assert render._forked_model is None


def test_small_specs_one_cpu_and_obsgen_jobs_1_render_in_one_process(two_cpus: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert render._processes(render.FORK_FROM_SERVICES) == 2
    assert render._processes(render.FORK_FROM_SERVICES - 1) == 1
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    assert render._processes(10_000) == 1
    monkeypatch.delenv("OBSGEN_JOBS")
    monkeypatch.setattr(render.os, "sched_getaffinity", lambda _pid: {0})
    assert render._processes(10_000) == 1
    assert render.render_all(many_services(3))["grafana/dashboards/svc-000.json"].startswith("{")


@pytest.mark.parametrize("value", ["0", "two", "-1", "65"])
def test_a_wrong_obsgen_jobs_is_said(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_JOBS", value)
    with pytest.raises(render.JobsError, match=f"OBSGEN_JOBS must be a number of processes from 1 to 64, got '{value}'"):
        render.render_all(many_services(3))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_files_staged_as_they_are_rendered_are_render_alls(tmp_path: Path, jobs: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """What the CLI writes (each file staged as it is rendered, a ConfigMap's copy linked to the file it
    copies) is render_all's files, byte for byte, and its manifest."""
    monkeypatch.setenv("OBSGEN_JOBS", jobs)
    full = render.render_all(many_services(SERVICES, ("kubernetes",)))
    out = tmp_path / "out"
    with write.stage(out) as sink:
        staged = render.render_into(sink, many_services(SERVICES, ("kubernetes",)))
        assert list(staged) == list(full)
        sink.commit("many.yaml", None)
    on_disk = {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in out.rglob("*") if p.is_file()}
    assert on_disk.pop(write.MANIFEST) == write.manifest_text(full, "many.yaml")
    assert on_disk == full
    copy = out / "kubernetes/config/grafana/dashboards/svc-000.json"
    assert copy.stat().st_ino == (out / "grafana/dashboards/svc-000.json").stat().st_ino
    assert staged["grafana/dashboards/svc-000.json"] == full["grafana/dashboards/svc-000.json"]  # read back


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_configmaps_read_back_no_service_file_measured_where_it_was_rendered(
        tmp_path: Path, jobs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_JOBS", jobs)
    model = many_services(SERVICES, ("kubernetes",))
    read: list[str] = []
    with write.stage(tmp_path / "out") as sink:
        real = sink.read
        monkeypatch.setattr(sink, "read", lambda path, *a: read.append(path) or real(path, *a))
        staged = render.render_into(sink, model)
        packed = {p for p in staged if p.startswith(kubernetes.PACKED)}
        own = {p for svc in model.services for p in render.own_files(svc) if p in packed}
        assert len(own) == 2 * SERVICES  # every service's dashboard and rules
        assert set(read) & packed == packed - own  # read back: only what no service owns (the overview, ...)
        sizes = model.memo[kubernetes.SIZES]
        assert all(sizes[sink.sha(p)] == kubernetes.apply_size(real(p)) for p in own)


def test_the_scrape_jobs_are_built_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dozen families read prometheus.yml's scrape jobs (one per service): built once, each caller
    given a list of its own."""
    built = []
    scrape_configs = prometheus._scrape_configs
    monkeypatch.setattr(prometheus, "_scrape_configs", lambda model: built.append(1) or scrape_configs(model))
    monkeypatch.setenv("OBSGEN_JOBS", "1")
    model = many_services(3, ("kubernetes",))
    files = render.render_all(model)
    assert len(built) == 1
    jobs = prometheus.scrape_configs(model)
    assert jobs == scrape_configs(model)
    jobs.clear()
    assert prometheus.scrape_configs(model) == scrape_configs(model)
    assert files == render.render_all(many_services(3, ("kubernetes",)))


def test_forked_processes_write_their_files_into_a_new_tree_and_send_only_shas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Into a new folder, a forked process writes its chunks' files itself and this one adopts their sha256s
    (the texts do not cross the pipe); over an output (in place, where every staged file must be known here
    to be removed) they send the texts. Either way the files are render_all's."""
    monkeypatch.setenv("OBSGEN_JOBS", "2")
    parent = os.getpid()
    writers = tmp_path / "writers"
    real_write, real_adopt = write.Stage.write_forked, write.Stage.adopt
    adopted: list[str] = []

    def noted(self: write.Stage, files: dict[str, str]) -> dict[str, str]:
        with writers.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return real_write(self, files)

    monkeypatch.setattr(write.Stage, "write_forked", noted)
    monkeypatch.setattr(write.Stage, "adopt", lambda self, shas: (adopted.extend(shas), real_adopt(self, shas))[1])
    full = render.render_all(many_services(SERVICES))
    out = tmp_path / "out"
    for fresh in (True, False):
        adopted.clear()
        with write.stage(out) as sink:
            assert sink.forked_writes() is fresh
            render.render_into(sink, many_services(SERVICES))
            sink.commit("many.yaml", None)
        on_disk = {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in out.rglob("*") if p.is_file()}
        assert on_disk.pop(write.MANIFEST) == write.manifest_text(full, "many.yaml")
        assert on_disk == full
        if fresh:
            pids = set(writers.read_text().split())
            assert pids and str(parent) not in pids
            assert adopted and set(adopted) <= {p for svc in many_services(SERVICES).services
                                                for p in render.own_files(svc)}
            writers.unlink()
        else:
            assert adopted == [] and not writers.exists()


def test_a_forked_process_failing_after_it_wrote_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_JOBS", "2")
    real_write = write.Stage.write_forked

    def broken(self: write.Stage, files: dict[str, str]) -> dict[str, str]:
        real_write(self, files)  # its files are in the new tree
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write.Stage, "write_forked", broken)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"), write.stage(out) as sink:
        render.render_into(sink, many_services(SERVICES))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.obsgen-lock"]  # no tree, no output
