"""The writer under kills, signals and concurrent runs: after any of them the output is the old tree or
the new one (an in-place update once the next run's recovery has finished it), and nothing temporary
survives the next run."""

from __future__ import annotations

import inspect
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, tree_digest

from obsgen import write as writer
from obsgen.write import JOURNAL, MANIFEST, plan, recover, write

sys.path.insert(0, str(ROOT / "bench"))
from bench import generated_spec  # noqa: E402

QUICKSTART = ROOT / "examples" / "quickstart.yaml"
SCRAMBLED = ROOT / "examples" / "scrambled-eggs.yaml"
USER = {"notes.txt": "the user's own notes\n"}


def tree(which: str, n: int = 600) -> dict[str, str]:
    """Two large file sets: 'new' keeps a quarter of 'old', changes a quarter, drops half, adds as many."""
    files = {}
    for i in range(n):
        if which == "old" or (i < n // 2 and i % 2):
            files[f"d{i % 40}/f{i}.yml"] = f"old {i}\n" * 20
        elif i < n // 2:
            files[f"d{i % 40}/f{i}.yml"] = f"new {i}\n" * 20
        else:
            files[f"e{i % 40}/g{i}.yml"] = f"added {i}\n" * 20
    return files


CHILD = inspect.getsource(tree) + """
import os, shutil, sys
from pathlib import Path
from obsgen import write as writer
if sys.argv[3] == "two-renames":
    writer._exchange = lambda a, b: False
if len(sys.argv) > 4:  # die (as by kill -9) at the N-th call of a function: 'rename:2'
    name, n = sys.argv[4].split(":")
    owner = {"rename": os, "replace": os, "rmtree": shutil}[name]
    real, calls = getattr(owner, name), []

    def hooked(*args, **kwargs):
        calls.append(1)
        if len(calls) == int(n):
            os._exit(137)
        return real(*args, **kwargs)

    setattr(owner, name, hooked)
files = tree(sys.argv[2])
os.write(1, b"r")  # about to write
if sys.argv[3] == "staged":  # as a render puts its files, a few at a time, into an obsgen output
    with writer.stage(Path(sys.argv[1])) as st:
        paths = sorted(files)
        for i in range(0, len(paths), 50):
            st.put({p: files[p] for p in paths[i:i + 50]})
        st.commit("spec.yaml", None)
else:
    writer.write(files, Path(sys.argv[1]), "spec.yaml")
os.write(1, b"d")
"""


def _child(out: Path, which: str, mode: str, *die_at: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(out), which, mode, *die_at],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def _generated(out: Path) -> dict[str, str]:
    """The output's files but the user's."""
    return {k: v for k, v in tree_digest(out).items() if k not in USER}


def _leftovers(out: Path) -> list[str]:
    beside = [p.name for p in out.parent.iterdir()
              if p.name not in (out.name, f".{out.name}.obsgen-lock", f".{out.name}.obsgen-cache")]
    inside = [p.relative_to(out).as_posix() for p in out.rglob("*")
              if p.name.endswith(".obsgen-tmp") or p.name == JOURNAL]
    return sorted(beside + inside)


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    base = tmp_path_factory.mktemp("refs")
    result = {}
    for which in ("old", "new"):
        write(tree(which), base / which, "spec.yaml")
        result[which] = tree_digest(base / which)
    return result


def _time_one_write(out: Path, which: str, mode: str) -> float:
    proc = _child(out, which, mode)
    try:
        assert proc.stdout is not None and proc.stdout.read(1) == b"r"
        start = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        return time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("mode", "kills"), [("swap", 20), ("two-renames", 6), ("in-place", 20), ("staged", 20)])
def test_kill_9_at_random_instants_leaves_old_or_new(tmp_path: Path, refs: dict[str, dict[str, str]],
                                                     mode: str, kills: int) -> None:
    """A child writes one tree over the other and is killed at a random instant; the next child writes
    the other tree over whatever the kill left, so every run is also the run after a kill. In place:
    `write` into a folder holding the user's files, or a Stage over an obsgen output."""
    out = tmp_path / "out"
    in_place = mode in ("in-place", "staged")
    write(tree("old"), out, "spec.yaml")
    if mode == "in-place":
        (out / "notes.txt").write_text(USER["notes.txt"])
        (out / "empty").mkdir()
    # the longer of the two directions (a kill lands anywhere from the start to a little after the end)
    duration = max(_time_one_write(out, "new", mode), _time_one_write(out, "old", mode))
    current = "old"
    rng = random.Random(f"obsgen-{mode}")
    seen, stopped_mid_write = set(), 0
    for _ in range(kills):
        target = "old" if current == "new" else "new"
        proc = _child(out, target, mode)
        try:
            assert proc.stdout is not None and proc.stdout.read(1) == b"r"
            time.sleep(rng.uniform(0, duration * 1.3))  # the switch is near the end of a write
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            stdout, _stderr = proc.communicate()
        finished = b"d" in stdout
        stopped_mid_write += not finished
        # this machine's speed varies: aim the next kill by what this one hit (finished: too late)
        duration *= 0.8 if finished else 1.03
        if not in_place:
            if mode == "two-renames" and not out.exists():  # between the two renames: the next run repairs
                seen.add("gap")
                assert recover(out)[0].startswith(f"restored {out}")
            assert _generated(out) in (refs["old"], refs["new"])
        elif not (out / JOURNAL).exists():  # no journal: the renames have not begun, or are all made
            assert {k: v for k, v in _generated(out).items() if not k.endswith(".obsgen-tmp")} \
                in (refs["old"], refs["new"])
        else:
            seen.add("journal")
            assert plan(tree(target), out).interrupted  # --check calls an interrupted run stale
        recover(out)
        state = _generated(out)
        assert state in (refs["old"], refs["new"])
        assert _leftovers(out) == []
        if mode == "in-place":
            assert (out / "notes.txt").read_text() == USER["notes.txt"] and (out / "empty").is_dir()
        seen.add("before the switch" if state == refs[current] else "after it")
        current = "old" if state == refs["old"] else "new"
    assert stopped_mid_write >= kills // 4, (stopped_mid_write, seen)  # the kills hit writes under way


@pytest.mark.parametrize(("mode", "die_at"), [("two-renames", "rename:2"), ("swap", "rmtree:1"),
                                            ("in-place", "replace:5"), ("staged", "replace:5")])
def test_a_kill_at_the_worst_instant_is_repaired_by_the_next_run(tmp_path: Path, refs: dict[str, dict[str, str]],
                                                                  mode: str, die_at: str) -> None:
    """Killed between the two renames; after the exchange, before the old tree is removed; midway
    through an in-place update's renames."""
    out = tmp_path / "out"
    write(tree("old"), out, "spec.yaml")
    if mode == "in-place":
        (out / "notes.txt").write_text(USER["notes.txt"])
    proc = _child(out, "new", mode, die_at)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 137, stderr.decode()
    if mode == "two-renames":
        assert not out.exists() and any(".obsgen-old-" in p for p in _leftovers(out))
        assert plan(tree("new"), out).interrupted
        assert recover(out)[0].startswith(f"restored {out}")
        assert _generated(out) == refs["old"]
    elif mode == "swap":
        assert _generated(out) == refs["new"] and _leftovers(out)  # the previous tree, not yet removed
        assert recover(out) and _generated(out) == refs["new"]
    else:
        assert (out / JOURNAL).exists() and _generated(out) not in (refs["old"], refs["new"])
        assert plan(tree("new"), out).interrupted
        proc = obsgen("render", str(QUICKSTART), "-o", str(out), "--check")  # --check says so, changes nothing
        assert proc.returncode == 1 and "interrupted: an earlier render" in proc.stderr
        assert (out / JOURNAL).exists()
        assert recover(out)[0].startswith("finished the interrupted update")
        assert _generated(out) == refs["new"]
        assert mode == "staged" or (out / "notes.txt").read_text() == USER["notes.txt"]
    assert _leftovers(out) == []


def _cli_render(spec: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "obsgen", "render", str(spec), "-o", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _staging(out: Path) -> bool:
    """A render is staging files: its new tree beside `out`, or (in place) a staged file inside it."""
    if any(name.startswith(f".{out.name}.obsgen-new-") for name in os.listdir(out.parent)):
        return True
    return any(name.endswith(".obsgen-tmp") for _root, _dirs, names in os.walk(out) for name in names)


def _wait_for_staging(proc: subprocess.Popen[str], out: Path, timeout: float = 30) -> bool:
    """Poll until the render is seen staging files, or it ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _staging(out):
            return True
        time.sleep(0.001)
    return False


def _old_or_new_after_a_kill(out: Path, refs: dict[str, dict[str, str]]) -> None:
    """Left by a kill: the old tree or the new one (but for staged files) until the journal is written;
    after it, the next run's recovery finishes the update. Either way recovery leaves one of the two."""
    if not (out / JOURNAL).exists():
        assert {k: v for k, v in tree_digest(out).items() if not k.endswith(".obsgen-tmp")} in refs.values()
    recover(out)
    assert tree_digest(out) in refs.values() and _leftovers(out) == []


def _specs(tmp_path: Path, services: int) -> tuple[Path, Path]:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    spec = generated_spec(services)
    a.write_text(yaml.safe_dump(spec, sort_keys=False))
    spec["project"]["name"] = "other"
    spec["services"] = spec["services"][: services - 5]
    b.write_text(yaml.safe_dump(spec, sort_keys=False))
    return a, b


def test_kill_9_of_the_real_cli_while_it_writes(tmp_path: Path) -> None:
    a, b = _specs(tmp_path, 20)
    obsgen("render", str(b), "-o", str(tmp_path / "ref-b"), "--quiet", check=True)
    out = tmp_path / "work" / "out"
    obsgen("render", str(a), "-o", str(out), "--quiet", check=True)
    ref = {"a": tree_digest(out), "b": tree_digest(tmp_path / "ref-b")}
    rng = random.Random("obsgen-cli-kill")
    for _ in range(3):
        proc = _cli_render(b, out)
        try:
            writing = _wait_for_staging(proc, out)
            time.sleep(rng.uniform(0, 0.05))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        assert writing, "the render ended before it was seen writing"
        _old_or_new_after_a_kill(out, ref)
        obsgen("render", str(a), "-o", str(out), "--quiet", check=True)  # the next run cleans up
        assert tree_digest(out) == ref["a"] and _leftovers(out) == []


def _staged(out: Path) -> int:
    """How many files the render has staged so far (in place, or in its new tree beside `out`)."""
    trees = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.obsgen-new-")]
    return (sum(len(files) for tree in trees for _root, _dirs, files in os.walk(tree))
            + sum(n.endswith(".obsgen-tmp") for _root, _dirs, names in os.walk(out) for n in names))


def test_kill_9_while_the_cli_stages_files_as_it_renders(tmp_path: Path) -> None:
    """The files are staged (in place, over the earlier output) while the services are still rendering (by
    forked processes too): a kill at any instant of it leaves the old output, whole, or the new one once
    the next run's recovery has finished what the journal says."""
    a, b = _specs(tmp_path, 55)  # enough services to fork (b has 50)
    env = {**os.environ, "OBSGEN_JOBS": "2"}
    start = time.monotonic()
    obsgen("render", str(b), "-o", str(tmp_path / "ref-b"), "--quiet", check=True, env=env)
    duration = time.monotonic() - start
    out = tmp_path / "work" / "out"
    obsgen("render", str(a), "-o", str(out), "--quiet", check=True, env=env)
    ref = {"a": tree_digest(out), "b": tree_digest(tmp_path / "ref-b")}
    rng = random.Random("obsgen-staging-kill")
    seen: list[int] = []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "obsgen", "render", str(b), "-o", str(out), "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        try:
            assert _wait_for_staging(proc, out), "the render ended before it was seen staging"
            time.sleep(rng.uniform(0.2, 0.8) * duration)
            seen.append(_staged(out))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        _old_or_new_after_a_kill(out, ref)
        obsgen("render", str(a), "-o", str(out), "--quiet", check=True, env=env)  # the next run cleans up
        assert tree_digest(out) == ref["a"] and _leftovers(out) == []
    assert max(seen) > 0, "no kill found files staged"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_while_writing_cleans_up_and_exits_128_plus_signum(tmp_path: Path, signum: int) -> None:
    a, b = _specs(tmp_path, 20)
    out = tmp_path / "work" / "out"
    obsgen("render", str(a), "-o", str(out), "--quiet", check=True)
    before = tree_digest(out)
    proc = _cli_render(b, out)
    try:
        writing = _wait_for_staging(proc, out)
        proc.send_signal(signum)
        _stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert writing, "the render ended before it was seen writing"
    assert proc.returncode == 128 + signum, stderr
    assert stderr == f"obsgen: stopped by {signal.Signals(signum).name}\n"
    assert _leftovers(out) == []  # no temporary tree, no stray file: without the next run's help
    if tree_digest(out) != before:  # the swap was made just before the signal: then it is b's output
        obsgen("render", str(b), "-o", str(out), "--check", check=True)


def test_concurrent_renders_serialize(tmp_path: Path) -> None:
    """20 pairs of real renders of two specs into one folder: each ends as exactly one of the two."""
    ref = {}
    for spec in (QUICKSTART, SCRAMBLED):
        obsgen("render", str(spec), "-o", str(tmp_path / spec.stem), "--quiet", check=True)
        ref[spec.stem] = tree_digest(tmp_path / spec.stem)
    out = tmp_path / "work" / "out"
    for pair in range(20):
        in_place = pair % 2 == 1
        if in_place and out.exists():
            (out / "notes.txt").write_text(USER["notes.txt"])
        procs = [_cli_render(spec, out) for spec in (QUICKSTART, SCRAMBLED)]
        try:
            results = [p.communicate(timeout=120) for p in procs]
        finally:
            for p in procs:
                p.kill()
                p.wait()
        for p, (_stdout, stderr) in zip(procs, results, strict=True):
            assert p.returncode == 0, stderr
        assert _generated(out) in (ref[QUICKSTART.stem], ref[SCRAMBLED.stem]), f"pair {pair}: a mixed tree"
        assert _leftovers(out) == []
        (out / "notes.txt").unlink(missing_ok=True)


def test_an_interrupted_in_place_update_is_finished_by_the_next_run(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "work" / "out"
    write({"a.yml": "1\n", "gone/b.yml": "2\n", "same.yml": "s\n"}, out, "spec.yaml")
    (out / "notes.txt").write_text(USER["notes.txt"])
    new = {"a.yml": "changed\n", "c/d.yml": "added\n", "same.yml": "s\n"}
    real_apply = writer._apply
    calls = []

    def apply_half(out: Path, renames: list[tuple[str, str]], removals: list[str]) -> None:
        calls.append(1)
        real_apply(out, renames[:1], [])
        raise SystemExit(137)  # stands for the process dying mid-way: even the retry dies

    monkeypatch.setattr(writer, "_apply", apply_half)
    with pytest.raises(SystemExit):
        write(new, out, "spec.yaml")
    monkeypatch.setattr(writer, "_apply", real_apply)
    assert len(calls) == 2 and (out / JOURNAL).exists()
    assert json.loads((out / MANIFEST).read_text())["files"].keys() == {"a.yml", "gone/b.yml", "same.yml"}
    changes = plan(new, out)
    assert changes.stale and changes.interrupted and "stopped mid-update" in changes.interrupted[0]
    done = recover(out)
    assert done[0].startswith("finished the interrupted update")
    assert _generated(out) == {k: v for k, v in tree_digest(_fresh(tmp_path, new)).items()}
    assert not (out / "gone").exists() and (out / "notes.txt").read_text() == USER["notes.txt"]
    assert _leftovers(out) == [] and plan(new, out).stale is False


def _fresh(tmp_path: Path, files: dict[str, str]) -> Path:
    ref = tmp_path / "ref" / "fresh"
    write(files, ref, "spec.yaml")
    return ref


def test_a_tampered_journal_is_refused(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    victim.write_text("keep\n")
    write({"a.yml": "1\n"}, out, "s")
    (out / JOURNAL).write_text(json.dumps({"renames": [], "removals": ["../victim.txt"]}))
    with pytest.raises(writer.WriteError, match="victim.txt"):
        write({"a.yml": "2\n"}, out, "s")
    assert victim.read_text() == "keep\n"


def _children(pid: int) -> list[int]:
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:  # the field after the state: the parent's pid
            found.append(int(stat_file.parent.name))
    return found


def test_the_forked_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: obsgen renders without a forked worker")
    spec = tmp_path / "big.yaml"
    spec.write_text(yaml.safe_dump(generated_spec(400), sort_keys=False))
    # no pipes: a worker that outlived the render would hold them open, and reading them would hang
    proc = subprocess.Popen([sys.executable, "-m", "obsgen", "render", str(spec), "-o", str(tmp_path / "out"), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            env={**os.environ, "OBSGEN_JOBS": "3"})
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.005)
        assert len(workers) == 2, f"the render forked {len(workers)} workers, not 2"
        time.sleep(0.1)  # the workers are past their start and rendering
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)

    def alive(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state not in ("Z", "X")

    deadline = time.monotonic() + 2
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert not any(alive(w) for w in workers), "a forked worker outlived its killed parent"
    finally:
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)


def test_the_swap_is_one_exchange_where_the_kernel_has_it(tmp_path: Path, refs: dict[str, dict[str, str]]) -> None:
    """Where renameat2(RENAME_EXCHANGE) works, the output is never renamed away: a child that would die
    at its first os.rename writes the new tree and exits normally."""
    out = tmp_path / "out"
    write(tree("old"), out, "spec.yaml")
    fn = writer._libc_renameat2()  # exchanging a path with itself is a harmless probe
    if fn is None or fn(-100, os.fsencode(out), -100, os.fsencode(out), 2) != 0:
        pytest.skip("this kernel or filesystem has no RENAME_EXCHANGE: the two renames are used")
    proc = _child(out, "new", "swap", "rename:1")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and stdout == b"rd", stderr.decode()
    assert _generated(out) == refs["new"] and _leftovers(out) == []
