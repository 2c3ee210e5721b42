"""A large spec's checks run in a forked process beside the resolving of its model (obsgen.spec.beside): the
same problems, notes and model as one process finds, a child that fails leaves the checks to this process,
and an interrupted load leaves no child behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import ROOT, obsgen_in_process, tree_digest
from fuzzing import fuzz_specs, mutants

from obsgen.model import resolve
from obsgen.spec import SpecError, beside, load_spec_and, parse
from obsgen.spec.errors import Path as SpecPath
from obsgen.spec.load import load_text
from obsgen.spec.models import Spec
from obsgen.spec.validate import check_spec

EXAMPLE = ROOT / "examples/platform-four-services.yaml"


@pytest.fixture(autouse=True)
def any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beside, "MIN_SERVICES", 0)  # small specs checked side by side all the same


def _spec(text: str) -> Spec:
    return Spec.model_validate(load_text(text, "spec.yaml", places=False).data)


def _outcome(path: Path, text: str, processes: int) -> tuple[str, list[str], list[str]]:
    """What loading `text` (written at `path`) gives: its model (repr) or its problems' lines, and its notes."""
    notes: list[str] = []
    path.write_text(text, "utf-8")
    try:
        _, model = load_spec_and(path, lambda s: resolve(s, path.name), notes, None, processes)
    except SpecError as e:
        return "problems", e.lines(), notes
    return repr(model), [], notes


def test_the_checks_run_in_another_process() -> None:
    pids: list[int] = []

    def check(spec: Spec, notes: list[str] | None) -> list[tuple[SpecPath, str]]:
        assert notes is not None
        notes.append(f"noted by {os.getpid()}")
        return [(("services", 0, "name"), f"checked by {os.getpid()}")]

    notes: list[str] = []
    problems, result = beside.checked_beside(_spec(EXAMPLE.read_text()), notes, check, lambda s: pids.append(os.getpid()), 2)
    result()
    (path, message), = problems
    assert path == ("services", 0, "name")  # a tuple again, as the checks give it
    assert message.startswith("checked by ") and int(message.split()[-1]) not in (os.getpid(), *pids)
    assert notes == [f"noted by {message.split()[-1]}"]
    assert pids == [os.getpid()]  # the work is this process's


def test_one_process_checks_here() -> None:
    seen: list[int] = []

    def check(spec: Spec, notes: list[str] | None) -> list[tuple[SpecPath, str]]:
        seen.append(os.getpid())
        return []

    problems, result = beside.checked_beside(_spec(EXAMPLE.read_text()), [], check, len, 1)
    assert (problems, seen) == ([], [os.getpid()])


def test_mutants_give_the_same_problems_notes_and_model_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    texts = [spec.read_text("utf-8") for spec in fuzz_specs()]
    texts += [m.text for spec in fuzz_specs()[:4] for m in mutants(spec, 12, "beside")]
    outcomes = {"problems": 0, "valid": 0}
    for text in texts:
        alone = _outcome(path, text, 1)
        assert _outcome(path, text, 2) == alone
        outcomes["problems" if alone[0] == "problems" else "valid"] += 1
    assert outcomes["problems"] >= 5 and outcomes["valid"] >= 5, outcomes  # both kinds were compared


def test_a_failing_child_leaves_the_checks_here(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()

    def check(spec: Spec, notes: list[str] | None) -> list[tuple[SpecPath, str]]:
        if os.getpid() != parent:
            os._exit(3)
        return [((), "checked here")]

    problems, _ = beside.checked_beside(_spec(EXAMPLE.read_text()), [], check, len, 2)
    assert problems == [((), "checked here")]


def test_the_work_raises_only_for_a_valid_spec(tmp_path: Path) -> None:
    spec = _spec(EXAMPLE.read_text())

    def work(_: Spec) -> None:
        raise RuntimeError("resolve failed")

    problems, result = beside.checked_beside(spec, [], check_spec, work, 2)
    assert problems == []
    with pytest.raises(RuntimeError, match="resolve failed"):
        result()
    # a spec with problems: they are what loading says, not what the work raised on it
    bad = EXAMPLE.read_text().replace("default: observability-email", "default: nowhere", 1)
    assert bad != EXAMPLE.read_text()
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(SpecError) as e:
        load_spec_and(tmp_path / "bad.yaml", work, [], None, 2)
    with pytest.raises(SpecError) as alone:
        parse(load_text(bad, str(tmp_path / "bad.yaml")))
    assert e.value.lines() == alone.value.lines()


def test_an_interrupted_load_leaves_no_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"

    def check(spec: Spec, notes: list[str] | None) -> list[tuple[SpecPath, str]]:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)
        return []

    def work(_: Spec) -> None:
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        beside.checked_beside(_spec(EXAMPLE.read_text()), [], check, work, 2)
    assert time.monotonic() - started < 10  # not waiting for the child's minute
    child = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, no zombie
        os.kill(child, 0)


def test_render_of_a_folder_is_the_same_with_one_and_two_processes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from test_spec_folder import split

    folder = split(EXAMPLE, tmp_path / "spec")
    outs = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("OBSGEN_JOBS", jobs)
        out = tmp_path / f"out-{jobs}"
        obsgen_in_process("render", str(folder), "-o", str(out), "--quiet", check=True)
        outs.append(tree_digest(out))
    assert outs[0] == outs[1]
