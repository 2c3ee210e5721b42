"""The writer: all or nothing, a manifest of what obsgen owns, --check and diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, obsgen, tree_digest

from obsgen import write as writer
from obsgen.write import MANIFEST, WriteError, plan, write

QUICKSTART = ROOT / "examples" / "quickstart.yaml"


def test_render_writes_manifest_listing_every_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    obsgen("render", str(QUICKSTART), "-o", str(out), "--quiet", check=True)
    manifest = json.loads((out / MANIFEST).read_text())
    on_disk = set(tree_digest(out)) - {MANIFEST}
    assert set(manifest["files"]) == on_disk
    assert manifest["files"] == {k: v for k, v in tree_digest(out).items() if k != MANIFEST}


def test_stale_generated_files_are_removed_and_foreign_files_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a/one.yml": "1\n", "a/two.yml": "2\n"}, out, "spec.yaml")
    (out / "a" / "mine.txt").write_text("the user's own notes\n")
    changes = write({"a/one.yml": "1\n", "b/three.yml": "3\n"}, out, "spec.yaml")
    assert changes.removed == ["a/two.yml"] and changes.added == ["b/three.yml"]
    assert not (out / "a/two.yml").exists()
    assert (out / "a/mine.txt").read_text() == "the user's own notes\n"
    assert (out / "b/three.yml").read_text() == "3\n"


def test_never_overwrites_a_file_it_did_not_generate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "prometheus").mkdir(parents=True)
    (out / "prometheus" / "prometheus.yml").write_text("hand written\n")
    before = tree_digest(out)
    with pytest.raises(WriteError, match="did not generate"):
        write({"prometheus/prometheus.yml": "generated\n"}, out, "spec.yaml")
    assert tree_digest(out) == before
    proc = obsgen("render", str(QUICKSTART), "-o", str(out))
    assert proc.returncode == 2 and "did not generate" in proc.stderr and "Traceback" not in proc.stderr
    assert tree_digest(out) == before


def test_a_failure_while_writing_leaves_the_old_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write({"a.yml": "old\n", "b.yml": "old\n"}, out, "spec.yaml")
    before = tree_digest(out)
    real = writer._write_tree

    def half_then_fail(root: Path, files: dict[str, str], old: Path, unchanged: set[str]) -> None:
        real(root, dict(list(files.items())[:1]), old, unchanged)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_write_tree", half_then_fail)
    with pytest.raises(OSError):
        write({"a.yml": "new\n", "b.yml": "new\n"}, out, "spec.yaml")
    assert tree_digest(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


def test_unchanged_files_are_linked_not_rewritten(tmp_path: Path) -> None:
    """A re-render links files whose text is unchanged (same inode and mtime); the rest are new files."""
    out = tmp_path / "out"
    write({"same.yml": "same\n", "edited.yml": "gen\n", "changed.yml": "v1\n"}, out, "spec.yaml")
    (out / "edited.yml").write_text("edited by hand\n")
    before = {p.name: p.stat() for p in out.iterdir()}
    changes = write({"same.yml": "same\n", "edited.yml": "gen\n", "changed.yml": "v2\n"}, out, "spec.yaml")
    after = {p.name: p.stat() for p in out.iterdir()}
    assert changes.unchanged == ["same.yml"] and sorted(changes.changed) == ["changed.yml", "edited.yml"]
    assert after["same.yml"].st_ino == before["same.yml"].st_ino
    assert after["same.yml"].st_mtime_ns == before["same.yml"].st_mtime_ns
    for name in ("edited.yml", "changed.yml"):
        assert after[name].st_ino != before[name].st_ino
    assert (out / "edited.yml").read_text() == "gen\n" and (out / "changed.yml").read_text() == "v2\n"
    assert all(st.st_nlink == 1 for st in after.values())  # the old tree is gone, nothing shares the files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_text_rendered_twice_is_written_once(tmp_path: Path) -> None:
    """Kubernetes ConfigMap sources repeat other families' files: one inode, the same bytes at both paths."""
    rules = "groups: []\n" * 1000
    out = tmp_path / "out"
    write({"prometheus/rules/a.yml": rules, "kubernetes/config/prometheus/rules/a.yml": rules,
           "other.yml": "x: 1\n"}, out, "spec.yaml")
    a, b = out / "prometheus/rules/a.yml", out / "kubernetes/config/prometheus/rules/a.yml"
    assert a.read_text() == b.read_text() == rules
    assert a.stat().st_ino == b.stat().st_ino and a.stat().st_nlink == 2
    assert (out / "other.yml").stat().st_nlink == 1
    assert plan({"prometheus/rules/a.yml": rules, "kubernetes/config/prometheus/rules/a.yml": rules,
                 "other.yml": "x: 1\n"}, out).stale is False


def test_in_place_update_failure_leaves_the_old_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write({"a.yml": "old\n", "b.yml": "old\n"}, out, "spec.yaml")
    (out / "notes.txt").write_text("mine\n")  # a foreign file forces the file-by-file path
    before = tree_digest(out)
    calls = {"n": 0}
    real_fdopen = writer.os.fdopen

    def failing_fdopen(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_fdopen(*args, **kwargs)

    monkeypatch.setattr(writer.os, "fdopen", failing_fdopen)
    with pytest.raises(OSError):
        write({"a.yml": "new\n", "b.yml": "new\n"}, out, "spec.yaml")
    assert tree_digest(out) == before
    assert not list(out.rglob("*.obsgen-tmp"))


def test_check_and_diff(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert obsgen("render", str(QUICKSTART), "-o", str(out), "--check").returncode == 1
    obsgen("render", str(QUICKSTART), "-o", str(out), "--quiet", check=True)
    ok = obsgen("render", str(QUICKSTART), "-o", str(out), "--check")
    assert ok.returncode == 0, ok.stderr
    assert obsgen("diff", str(QUICKSTART), "-o", str(out), check=True).stdout == ""

    rules = out / "prometheus" / "prometheus.yml"
    rules.write_text(rules.read_text().replace("scrape_interval: 15s", "scrape_interval: 1m", 1))
    before = tree_digest(out)
    stale = obsgen("render", str(QUICKSTART), "-o", str(out), "--check")
    assert stale.returncode == 1 and "differs: prometheus/prometheus.yml" in stale.stderr
    d = obsgen("diff", str(QUICKSTART), "-o", str(out), check=True).stdout
    assert "--- a/prometheus/prometheus.yml" in d and "-  scrape_interval: 1m" in d and "+  scrape_interval: 15s" in d
    assert tree_digest(out) == before  # neither --check nor diff writes


def test_plan_reports_files_no_longer_generated(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"x.yml": "1\n", "y.yml": "2\n"}, out, "s.yaml")
    assert plan({"x.yml": "1\n"}, out).removed == ["y.yml"]


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_output_is_identical_under_different_hash_seeds(spec: Path, tmp_path: Path) -> None:
    outs = []
    for seed in ("0", "12345"):
        out = tmp_path / f"out-{seed}"
        obsgen("render", str(spec), "-o", str(out), "--quiet", env={"PYTHONHASHSEED": seed}, check=True)
        outs.append(tree_digest(out))
    assert outs[0] == outs[1]


def test_output_readme_says_what_was_generated(tmp_path: Path) -> None:
    out = tmp_path / "out"
    obsgen("render", str(QUICKSTART), "-o", str(out), "--quiet", check=True)
    text = (out / "README.md").read_text()
    from obsgen.spec import load_spec

    spec = load_spec(QUICKSTART)
    assert "from `quickstart.yaml`" in text
    for svc in spec.services:
        assert f"| {svc.name} |" in text
    for ch in spec.channels.values():
        for field in ("api_url_file", "routing_key_file", "api_key_file", "webhook_url_file"):
            if getattr(ch, field, None):
                assert f"`{getattr(ch, field)}`" in text
    assert "docker compose up -d" in text
