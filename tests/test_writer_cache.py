"""The cache beside an output: the stat of every generated file, in the manifest's order, believed for
the manifest it names only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from obsgen import write as writer
from obsgen.write import cache_path, recorded, write

# written in an order that is not the manifest's (sorted) one
FILES = {"z.yml": "z\n", "a/b.yml": "ab\n", "m.yml": "a longer text\n", "a/a.yml": "aa\n"}


def _written(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write(FILES, out, "spec.yaml", inputs={"source": "s"})
    st = os.stat(cache_path(out))  # as if a second later: no file is racy
    os.utime(cache_path(out), ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    return out


def test_every_file_is_believed_by_its_own_recorded_stat_without_being_read(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = _written(tmp_path)
    read = []
    real = writer._read
    monkeypatch.setattr(writer, "_read", lambda guard, rel: read.append(rel) or real(guard, rel))
    before = recorded(out)
    assert before is not None and sorted(before.changes.unchanged) == sorted(FILES)
    assert read == [".obsgen-manifest.json"]  # the manifest only: each file's stat is its own
    for rel in FILES:
        st = os.lstat(out / rel)
        assert before.cache.stats[rel] == (st.st_size, st.st_mtime_ns, st.st_ino)


def test_a_changed_file_is_found_by_its_stat(tmp_path: Path) -> None:
    out = _written(tmp_path)
    (out / "m.yml").write_text("edited by hand\n")
    before = recorded(out)
    assert before is not None and before.changes.changed == ["m.yml"]
    assert sorted(before.changes.unchanged) == sorted(set(FILES) - {"m.yml"})


@pytest.mark.parametrize("stats", [lambda flat: flat[:-3], lambda flat: [*flat, 1, 2, 3],
                                   lambda flat: {"a/a.yml": flat[:3]}, lambda flat: [*flat[:-1], "1"]],
                         ids=["short", "long", "mapping", "not-a-number"])
def test_a_cache_whose_stats_do_not_fit_the_manifest_is_not_believed(tmp_path: Path,
                                                                     stats: Callable[[list[int]], object]) -> None:
    out = _written(tmp_path)
    data = json.loads(cache_path(out).read_text())
    data["stat"] = stats(data["stat"])
    st = os.stat(cache_path(out))
    cache_path(out).write_text(json.dumps(data))
    os.utime(cache_path(out), ns=(st.st_atime_ns, st.st_mtime_ns))
    assert recorded(out) is None


def test_a_cache_of_the_earlier_format_is_not_believed(tmp_path: Path) -> None:
    out = _written(tmp_path)
    data = json.loads(cache_path(out).read_text())
    flat = data["stat"]
    data.update(format=1, stat={p: flat[3 * i:3 * i + 3] for i, p in enumerate(sorted(FILES))})
    cache_path(out).write_text(json.dumps(data))
    assert recorded(out) is None
