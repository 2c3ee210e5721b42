"""The writer: all or nothing, a manifest of what obsgen owns, --check and diff."""

from __future__ import annotations

import json
import os
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
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.obsgen-lock", "out"]  # no temporary folder left


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
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.obsgen-lock", "out"]


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
    real_create = writer._create

    def failing_create(path: str) -> int:  # the second staged file finds the disk full
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_create(path)

    monkeypatch.setattr(writer, "_create", failing_create)
    with pytest.raises(OSError, match="No space left"):
        write({"a.yml": "new\n", "b.yml": "new\n"}, out, "spec.yaml")
    assert calls["n"] == 2
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
    differs = obsgen("diff", str(QUICKSTART), "-o", str(out))
    assert differs.returncode == 1, differs.stderr  # as `git diff --exit-code`
    d = differs.stdout
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


# --------------------------------------------------------------------------- only what it owns


def _tamper(out: Path, entry: str) -> None:
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"][entry] = "0" * 64
    (out / MANIFEST).write_text(json.dumps(manifest))


def _victims(tmp_path: Path) -> Path:
    victims = tmp_path / "victims"
    (victims / "rel").mkdir(parents=True)
    (victims / "rel" / "data.txt").write_text("not obsgen's\n")
    (victims / "rel.yml").write_text("not obsgen's either\n")
    return victims


@pytest.mark.parametrize("entry", ["../victims/rel.yml", "ABSOLUTE", "a/../../victims/rel.yml", "./a.yml", "a//b.yml",
                                   "a\\b.yml", "", "linked.yml", "through/rel.yml", ".obsgen-journal.json"])
def test_a_manifest_entry_outside_the_output_is_refused(tmp_path: Path, entry: str) -> None:
    """render, --check and diff refuse a manifest naming anything but a plain path inside the output."""
    victims = _victims(tmp_path)
    out = tmp_path / "out"
    old = {"a.yml": "1\n", "b/c.yml": "2\n"}
    write(old, out, "spec.yaml")
    (out / "notes.txt").write_text("the user's\n")  # in place: what the manifest names would be removed
    (out / "linked.yml").symlink_to(victims / "rel.yml")
    (out / "through").symlink_to(victims)
    entry = str(victims / "rel.yml") if entry == "ABSOLUTE" else entry
    _tamper(out, entry)
    before_out, before_victims = tree_digest(out), tree_digest(victims)
    new = {"b/c.yml": "3\n"}
    for attempt in (lambda: write(new, out, "spec.yaml"), lambda: plan(new, out), lambda: writer.diff(new, out)):
        with pytest.raises(WriteError) as e:
            attempt()
        assert repr(entry) in str(e.value) and MANIFEST in str(e.value)
        assert tree_digest(victims) == before_victims and tree_digest(out) == before_out
    assert (victims / "rel").is_dir() and (out / "linked.yml").is_symlink()


def test_the_cli_refuses_a_tampered_manifest_in_render_check_and_diff(tmp_path: Path) -> None:
    victims = _victims(tmp_path)
    out = tmp_path / "out"
    obsgen("render", str(QUICKSTART), "-o", str(out), "--quiet", check=True)
    (out / "notes.txt").write_text("the user's\n")
    for entry in ("../victims/rel", str(victims / "rel.yml")):
        _tamper(out, entry)
        before = tree_digest(out)
        for args in (["render"], ["render", "--check"], ["diff"]):
            proc = obsgen(*args, str(QUICKSTART), "-o", str(out))
            assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
            assert repr(entry) in proc.stderr and "Traceback" not in proc.stderr
            assert "not obsgen's" not in proc.stdout  # diff printed nothing of the victim
            assert tree_digest(victims) == {"rel/data.txt": writer._sha("not obsgen's\n"),
                                            "rel.yml": writer._sha("not obsgen's either\n")}
            assert tree_digest(out) == before
        manifest = json.loads((out / MANIFEST).read_text())
        del manifest["files"][entry]
        (out / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("user_file", [False, True], ids=["swap", "in-place"])
def test_a_folder_link_inside_the_output_is_never_written_through(tmp_path: Path, user_file: bool) -> None:
    """A generated folder replaced by a link to a folder outside: refused, naming the link; the outside
    folder's files keep their bytes and are not hard-linked into the output."""
    out, outside = tmp_path / "out", tmp_path / "outside"
    write({"g/same.yml": "same\n", "g/changed.yml": "v1\n", "top.yml": "t\n"}, out, "spec.yaml")
    if user_file:
        (out / "notes.txt").write_text("mine\n")
    (out / "g").rename(outside)
    (out / "g").symlink_to(outside)
    before = tree_digest(outside)
    with pytest.raises(WriteError, match=f"{out / 'g'} is a symbolic link"):
        write({"g/same.yml": "same\n", "g/changed.yml": "v2\n", "top.yml": "t\n"}, out, "spec.yaml")
    assert tree_digest(outside) == before
    assert all(p.stat().st_nlink == 1 for p in outside.iterdir())
    assert (out / "g").is_symlink()


def test_a_new_generated_path_through_a_users_link_is_refused(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yml").write_text("theirs\n")
    out.mkdir()
    (out / "g").symlink_to(outside)
    for attempt in (lambda: write({"g/x.yml": "ours\n"}, out, "s"), lambda: plan({"g/x.yml": "ours\n"}, out)):
        with pytest.raises(WriteError, match="symbolic link"):
            attempt()
    assert (outside / "x.yml").read_text() == "theirs\n" and sorted(p.name for p in outside.iterdir()) == ["x.yml"]


def test_output_given_as_a_link_is_written_into_its_target(tmp_path: Path) -> None:
    real, link = tmp_path / "data" / "real-out", tmp_path / "out"
    real.parent.mkdir()
    link.symlink_to(real, target_is_directory=True)
    write({"a.yml": "1\n"}, link, "s")
    write({"a.yml": "2\n", "b.yml": "3\n"}, link, "s")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert tree_digest(real) == tree_digest(link) and (real / "a.yml").read_text() == "2\n"
    assert sorted(p.name for p in real.parent.iterdir()) == [".real-out.obsgen-lock", "real-out"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]
    proc = obsgen("render", str(QUICKSTART), "-o", str(link), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and (real / "prometheus" / "prometheus.yml").is_file()


@pytest.mark.parametrize("kind", ["empty", "nested-empty", "linked", "unreadable", "unreadable-generated"])
def test_a_users_folder_survives_a_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Each alone is the user's entry that makes the update in place, and is left exactly as it was."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("kept\n")
    write({"a.yml": "1\n", "sub/b.yml": "2\n", "sub/c.yml": "3\n"}, out, "s")
    folder = {"empty": out / "empty", "nested-empty": out / "sub" / "empty-too", "linked": out / "linked",
              "unreadable": out / "private", "unreadable-generated": out / "sub"}[kind]
    if kind == "linked":
        folder.symlink_to(elsewhere, target_is_directory=True)
    elif kind != "unreadable-generated":  # that one is obsgen's folder, holding a file of the user's
        folder.mkdir()
    if kind.startswith("unreadable"):
        (folder / "secret.txt").write_text("mine\n")
        real_scandir = os.scandir

        def scandir(path: object = ".") -> object:  # root reads any folder: make this one unreadable to all
            if str(path).rstrip("/") == str(folder):
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "scandir", scandir)
    if kind == "unreadable":
        folder.chmod(0)
    try:
        write({"a.yml": "changed\n", "sub/c.yml": "3\n", "d.yml": "4\n"}, out, "s")
    finally:
        if kind == "unreadable":
            folder.chmod(0o755)
        monkeypatch.undo()
    assert os.path.lexists(folder) and folder.is_dir()
    if kind == "linked":
        assert folder.is_symlink() and (elsewhere / "keep.txt").read_text() == "kept\n"
    if kind.startswith("unreadable"):
        assert (folder / "secret.txt").read_text() == "mine\n"
    assert (out / "a.yml").read_text() == "changed\n" and not (out / "sub" / "b.yml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.obsgen-lock", "elsewhere", "out"]


def test_a_render_waits_for_the_lock_then_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl
    import time

    out = tmp_path / "out"
    write({"a.yml": "1\n"}, out, "s")
    monkeypatch.setattr(writer, "LOCK_TIMEOUT", 0.3)
    with open(writer.lock_path(out), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        start = time.monotonic()
        with pytest.raises(WriteError, match="being written by another obsgen run"):
            write({"a.yml": "2\n"}, out, "s")
        assert time.monotonic() - start >= 0.3
        with pytest.raises(WriteError, match="being written by another obsgen run"):
            plan({"a.yml": "2\n"}, out)  # a reader waits for a writer too
        fcntl.flock(held, fcntl.LOCK_SH)  # a reader's shared lock: another reader goes ahead
        assert plan({"a.yml": "2\n"}, out).changed == ["a.yml"]
    assert (out / "a.yml").read_text() == "1\n"
    write({"a.yml": "2\n"}, out, "s")
    assert (out / "a.yml").read_text() == "2\n"


@pytest.mark.parametrize("path", ["../x.yml", "/abs.yml", "a/./b.yml", "a\\b.yml", MANIFEST])
def test_a_generated_path_outside_the_normal_form_is_a_bug(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="generated path"):
        write({path: "x\n"}, tmp_path / "out", "s")
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.yml").exists()


@pytest.mark.parametrize("mode", ["swap", "in-place"])
def test_a_signal_just_after_a_temporary_is_made_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                mode: str) -> None:
    """A signal's exception can land as soon as the call making a temporary returns: it is cleaned up all
    the same, because its name was recorded before it was made."""
    out = tmp_path / "out"
    write({"a.yml": "1\n", "b/c.yml": "2\n"}, out, "s")
    if mode == "in-place":
        (out / "notes.txt").write_text("mine\n")
    before = tree_digest(out)
    real_mkdir, real_create = os.mkdir, writer._create

    def mkdir(path: str, mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        if ".obsgen-new-" in str(path):
            raise KeyboardInterrupt

    def create(path: str) -> int:
        os.close(real_create(path))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(writer, "_create", create)
    with pytest.raises(KeyboardInterrupt):
        write({"a.yml": "changed\n", "b/c.yml": "2\n"}, out, "s")
    monkeypatch.undo()
    assert tree_digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.obsgen-lock", "out"]
