"""A spec folder's files parsed side by side (obsgen.spec.prefill) give the loading exactly what parsing them
one by one would, and leave every file with a problem to the loading, which says where it is."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, obsgen_in_process, tree_digest
from test_spec_folder import split

from obsgen import digest
from obsgen.spec import SpecError, load_spec
from obsgen.spec import prefill as spec_prefill
from obsgen.spec.load import FileCache, load_folder
from obsgen.write import read_spec_cache

EXAMPLE = ROOT / "examples/platform-four-services.yaml"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(spec_prefill, "MIN_BYTES", 0)  # a small folder, parsed side by side all the same
    return split(EXAMPLE, tmp_path / "spec")


def _as_parse(fn: Callable[[str, list[str]], dict[str, str]]) -> Callable[[str, list[str]], dict[str, str]]:
    """`fn` under _parse's name: a forked worker is sent the function by name, and finds `fn` there."""
    fn.__module__, fn.__qualname__ = spec_prefill.__name__, "_parse"
    return fn


def _serial(folder: Path) -> FileCache:
    cache = FileCache(digest.code_digest())
    load_folder(folder, cache)
    return cache


def test_the_prefilled_cache_holds_what_loading_file_by_file_keeps(folder: Path) -> None:
    cache = FileCache(digest.code_digest())
    added = spec_prefill.prefill(cache, folder, 3)
    serial = _serial(folder)
    assert added == len(list(folder.rglob("*.y*ml"))) > 2
    assert cache.ahead == serial.new  # the same digests, and the same texts of the same data
    assert cache.old == {}  # what was loaded before: nothing
    assert load_folder(folder, cache).data == load_folder(folder).data
    assert cache.new == serial.new  # what the next run finds


def test_the_files_are_parsed_in_other_processes_too(folder: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "pids"
    seen.mkdir()
    parse = spec_prefill._parse

    def parse_and_say_who(salt: str, paths: list[str]) -> dict[str, str]:
        (seen / str(os.getpid())).touch()
        return parse(salt, paths)

    monkeypatch.setattr(spec_prefill, "_parse", _as_parse(parse_and_say_who))
    spec_prefill.prefill(FileCache(digest.code_digest()), folder, 2)
    assert len(list(seen.iterdir())) == 2


def test_one_process_or_a_cached_folder_parses_nothing_ahead(folder: Path) -> None:
    assert spec_prefill.prefill(FileCache(digest.code_digest()), folder, 1) == 0
    assert spec_prefill.prefill(FileCache(digest.code_digest(), _serial(folder).new), folder, 2) == 0


def test_a_worker_that_fails_leaves_its_files_to_the_loading(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse, parent = spec_prefill._parse, os.getpid()

    def fail_in_a_worker(salt: str, paths: list[str]) -> dict[str, str]:
        if os.getpid() != parent:
            raise RuntimeError("a worker's failure")
        return parse(salt, paths)

    monkeypatch.setattr(spec_prefill, "_parse", _as_parse(fail_in_a_worker))
    cache = FileCache(digest.code_digest())
    added = spec_prefill.prefill(cache, folder, 2)
    serial = _serial(folder)
    assert 0 < added < len(serial.new)
    assert load_folder(folder, cache).data == load_folder(folder).data
    assert cache.new == serial.new


@pytest.mark.parametrize("broken", ["name: [", 'name: "\\u0007" #'])  # YAML syntax; a value the loader refuses
def test_a_file_with_a_problem_is_loaded_again_and_located(folder: Path, broken: str) -> None:
    bad = sorted(folder.rglob("*.yml"))[1]
    bad.write_text(bad.read_text().replace("name:", broken, 1))
    cache = FileCache(digest.code_digest())
    spec_prefill.prefill(cache, folder, 2)
    assert FileCache(cache.salt).key(bad.read_bytes()) not in cache.ahead
    with pytest.raises(SpecError) as e:
        load_spec(folder, cache=cache)
    with pytest.raises(SpecError) as alone:
        load_spec(folder)
    assert e.value.lines() == alone.value.lines()
    assert re.match(rf"{re.escape(str(bad))}:\d+:\d+" + (": YAML syntax error" if "[" in broken else
                    r" \S+: the value contains U\+0007"), e.value.lines()[0])


def test_render_with_side_by_side_parsing_writes_the_same_output(folder: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    prefill = spec_prefill.prefill

    def counted(cache: FileCache, where: Path, processes: int) -> int:
        calls.append(prefill(cache, where, processes))
        return calls[-1]

    monkeypatch.setattr(spec_prefill, "prefill", counted)
    outs = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("OBSGEN_JOBS", jobs)
        outs.append(tmp_path / f"out-{jobs}")
        obsgen_in_process("render", str(folder), "-o", str(outs[-1]), "--quiet", check=True)
    assert calls[0] == 0 and calls[1] > 2  # one process parsed alone; two side by side
    assert tree_digest(outs[0]) == tree_digest(outs[1])
    # what was parsed ahead is kept for the next run, as what was parsed one by one is
    assert read_spec_cache(outs[1]) == read_spec_cache(outs[0]) == _serial(folder).new
