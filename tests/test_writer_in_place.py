"""A re-render over an obsgen output updates it in place: only the files that changed are staged and
renamed into place; the others are not touched, and not read unless asked for."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, tree_digest

from obsgen import render
from obsgen import write as writer
from obsgen.write import MANIFEST, ON_DISK, cache_path, recorded, write

sys.path.insert(0, str(ROOT / "bench"))
from bench import generated_spec  # noqa: E402


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _a_second_later(out: Path) -> None:
    # as if the next run came a second later: the files just written are not racy any more
    st = os.stat(cache_path(out))
    os.utime(cache_path(out), ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _stats(out: Path) -> dict[str, os.stat_result]:
    return {p.relative_to(out).as_posix(): p.lstat() for p in out.rglob("*") if p.is_file()}


def _beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != "spec.yaml")


def test_a_re_render_after_one_change_writes_only_the_changed_files(tmp_path: Path) -> None:
    data = generated_spec(6)
    spec, out = tmp_path / "work" / "spec.yaml", tmp_path / "work" / "out"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    obsgen("render", str(spec), "-o", str(out), "--quiet", check=True)
    _a_second_later(out)
    old_manifest = json.loads((out / MANIFEST).read_text())["files"]
    before, root = _stats(out), os.lstat(out)
    data["services"][2]["thresholds"][0]["target"] = "0.2%"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    obsgen("render", str(spec), "-o", str(out), "--quiet", check=True)
    new_manifest = json.loads((out / MANIFEST).read_text())["files"]
    changed = {p for p, sha in new_manifest.items() if old_manifest.get(p) != sha} | {MANIFEST}
    assert 1 < len(changed) < len(new_manifest) // 4
    after = _stats(out)
    for path, st in after.items():
        if path in changed:
            assert st.st_ino != before[path].st_ino, f"{path} changed but was not rewritten"
        else:  # not rewritten, not even linked again (that would change its ctime)
            old = before[path]
            assert (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) == (old.st_ino, old.st_mtime_ns, old.st_ctime_ns), path
    assert os.lstat(out).st_ino == root.st_ino  # updated in place, not swapped for a new tree
    assert _beside(out) == [".out.obsgen-cache", ".out.obsgen-lock", "out"]
    # the cache records every file's stat as it is now, so the next run believes them all
    cache = json.loads(cache_path(out).read_text())["stat"]  # in the manifest's order, three numbers a file
    assert cache == [n for p, st in sorted(after.items()) if p != MANIFEST for n in (st.st_size, st.st_mtime_ns, st.st_ino)]
    _a_second_later(out)
    now = recorded(out)
    assert now is not None and sorted(now.changes.unchanged) == sorted(new_manifest) and not now.changes.stale
    # byte for byte what a fresh render of the edited spec writes
    fresh = tmp_path / "fresh" / "spec.yaml"
    fresh.parent.mkdir()
    fresh.write_text(spec.read_text())
    obsgen("render", str(fresh), "-o", str(tmp_path / "fresh" / "out"), "--quiet", check=True)
    assert tree_digest(out) == tree_digest(tmp_path / "fresh" / "out")


def test_a_kept_file_is_read_from_the_output_only_when_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a.yml": "A\n", "d/b.yml": "B\n", "c.yml": "C\n"}, out, "s", inputs={})
    (out / "c.yml").write_text("edited by hand\n")
    ino = {p: os.lstat(out / p).st_ino for p in ("a.yml", "d/b.yml", MANIFEST)}
    with writer.stage(out) as st:
        # c.yml no longer holds what the manifest says: it is not kept, the render gives its text
        assert st.intact({"a.yml": _sha("A\n"), "d/b.yml": _sha("B\n"), "c.yml": _sha("C\n")}) == ["a.yml", "d/b.yml"]
        st.put({"a.yml": ON_DISK, "d/b.yml": ON_DISK, "c.yml": "C\n"})
        staged = render.Staged(st, dict.fromkeys(["a.yml", "d/b.yml", "c.yml"]))
        assert (staged["a.yml"], staged["d/b.yml"], staged["c.yml"]) == ("A\n", "B\n", "C\n")
        assert staged.sha("d/b.yml") == _sha("B\n")
        changes = st.commit("s", None)
        assert staged["d/b.yml"] == "B\n" and staged["c.yml"] == "C\n"  # read back once committed too
    assert sorted(changes.unchanged) == ["a.yml", "d/b.yml"] and changes.changed == ["c.yml"]
    assert (out / "c.yml").read_text() == "C\n"
    assert {p: os.lstat(out / p).st_ino for p in ino} == ino  # the manifest's text is the same: not rewritten


def test_a_stop_while_staging_in_place_leaves_the_output_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a.yml": "A\n", "gone.yml": "G\n"}, out, "s")
    before, stats = tree_digest(out), _stats(out)
    with pytest.raises(ValueError, match="bad input"), writer.stage(out) as st:
        st.put({"a.yml": "changed\n", "new/deep/c.yml": "C\n"})
        st.copy("new/copy.yml", "a.yml")
        assert (out / "new" / "deep").is_dir()  # staged beside their targets
        raise ValueError("bad input")
    assert tree_digest(out) == before and _stats(out) == stats
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == sorted(["a.yml", "gone.yml", MANIFEST])
    assert _beside(out) == [".out.obsgen-lock", "out"]


def test_a_copy_staged_in_place_is_a_link_to_its_source(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a.yml": "A\n", "b.yml": "B\n"}, out, "s")
    with writer.stage(out) as st:
        st.put({"a.yml": "A2\n", "b.yml": "B\n"})
        st.copy("k/a.yml", "a.yml")  # of a changed file: linked to its staged text
        st.copy("k/b.yml", "b.yml")  # of an unchanged one: linked to the output's file
        st.commit("s", None)
    assert (out / "k/a.yml").read_text() == "A2\n" and (out / "k/b.yml").read_text() == "B\n"
    assert os.lstat(out / "k/a.yml").st_ino == os.lstat(out / "a.yml").st_ino
    assert os.lstat(out / "k/b.yml").st_ino == os.lstat(out / "b.yml").st_ino
    assert json.loads((out / MANIFEST).read_text())["files"] == {
        "a.yml": _sha("A2\n"), "b.yml": _sha("B\n"), "k/a.yml": _sha("A2\n"), "k/b.yml": _sha("B\n")}


def test_the_stage_takes_over_what_recorded_found_only_while_the_manifest_is_the_same(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a.yml": "A\n", "b.yml": "B\n"}, out, "s", inputs={})
    before = recorded(out)
    assert before is not None and before.seen is not None
    with writer.stage(out, seen=before) as st:
        assert st.stats is before.seen.stats and st.known == {"a.yml", "b.yml"}  # not stat'ed again
    write({"a.yml": "A2\n", "c.yml": "C\n"}, out, "s", inputs={})  # another run's commit in between
    with writer.stage(out, seen=before) as st:
        assert st.owned == writer.read_manifest(out) and set(st.owned) == {"a.yml", "c.yml"}
        st.put({"a.yml": "A\n", "b.yml": "B\n"})  # this run's files, compared with what is there now
        changes = st.commit("s", None)
    assert changes.changed == ["a.yml"] and changes.added == ["b.yml"] and changes.removed == ["c.yml"]
    assert tree_digest(out) == tree_digest(_written(tmp_path, {"a.yml": "A\n", "b.yml": "B\n"}))


def _written(tmp_path: Path, files: dict[str, str]) -> Path:
    ref = tmp_path / "ref" / "out"
    write(files, ref, "s")
    return ref


@pytest.mark.parametrize("files", [{}, {"a.yml": "1\n"},
                                   {"b/é\"q\\.yml": "1", "a\u2028\x01": "2", "A": "3", "d/z": "4", "d/a": "5"}])
def test_the_manifest_is_what_json_writes(files: dict[str, str]) -> None:
    """Written out line by line (quicker than json's encoder with an indent), byte for byte json's."""
    shas = {p: _sha(t) for p, t in files.items()}
    data = {"generator": f"obsgen {writer.__version__}", "spec": "spé\"c", "files": {p: shas[p] for p in files}}
    assert writer.manifest_text(files, "spé\"c", shas) == json.dumps(data, indent=2, sort_keys=True) + "\n"


def test_recovery_removes_what_a_killed_run_staged_and_the_folders_it_made_for_it(tmp_path: Path) -> None:
    """A run killed while staging (so `abort` never ran) left staged files, in folders it made for them, and
    its staging mark; the next run's recovery leaves the output as it was, those folders gone too."""
    out = tmp_path / "out"
    write({"a.yml": "A\n", "keep/empty-before/b.yml": "B\n"}, out, "s")
    (out / "mine").mkdir()  # an empty folder that was there before: not the stopped run's
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    st = writer.Stage(out)
    st.begin()
    st.put({"a.yml": "changed\n", "new/deep/c.yml": "C\n", "keep/d.yml": "D\n"})
    assert (out / "new" / "deep").is_dir() and os.path.lexists(writer._staging_mark(out))
    del st  # killed: nothing cleaned up
    done = writer.recover(out)
    assert done == ["removed 3 temporary file(s) in " + str(out)]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / "a.yml").read_text() == "A\n" and not os.path.lexists(writer._staging_mark(out))
