"""Shared test helpers: where the real validators are, and running obsgen as a user would."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
TOOLS_BIN = ROOT / ".tools" / "bin"
# validators installed by `make tools` come first, so every test uses the same versions
os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _sketch() -> Path:
    """The design sketch (../shared/design) as the tests use it.

    The sketch keeps 15d of samples for SLOs judged over 30d, which `obsgen validate` refuses (the period
    SLI would read half the period); the tests read it with `retention: 30d`, the rest as written.
    """
    source = ROOT.parent / "shared" / "design" / "obsgen-spec-sketch.yaml"
    if not source.exists():
        return source
    text = source.read_text("utf-8")
    assert text.count("    retention: 15d\n") == 1, "the sketch changed: revisit this adaptation"
    folder = tempfile.mkdtemp(prefix="obsgen-sketch-")
    atexit.register(shutil.rmtree, folder, True)  # one per test process (xdist runs several)
    copy = Path(folder) / "obsgen-spec-sketch.yaml"
    copy.write_text(text.replace("    retention: 15d\n", "    retention: 30d\n"), "utf-8")
    return copy


SKETCH = _sketch()


def require_tool(name: str) -> str:
    """Path of a validator; in CI a missing one is a failure, elsewhere the test is skipped."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed: run `make tools`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture
def amtool() -> str:
    return require_tool("amtool")


def obsgen(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
           check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-m", "obsgen", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"obsgen {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def obsgen_in_process(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`obsgen(...)` run by the same command line in this interpreter: no start-up of a fresh Python and its
    imports (half a CPU second a call), for the many calls of a test module whose subject is not the process
    boundary (exit codes and messages of bad input are tested through `obsgen()`)."""
    from typer.testing import CliRunner

    from obsgen.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    proc = subprocess.CompletedProcess(["obsgen", *args], result.exit_code, result.stdout, result.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"obsgen {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root with its hash, to prove a folder was left byte-for-byte unchanged."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return root


@pytest.fixture(scope="session")
def rendered_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example rendered once through the CLI: name -> output folder."""
    base = tmp_path_factory.mktemp("examples")
    outs = {}
    for spec in EXAMPLES:
        out = base / spec.stem
        obsgen("render", str(spec), "-o", str(out), "--quiet", check=True)
        outs[spec.stem] = out
    return outs


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what tests recorded as their "summary" property (the fuzz counts), also from xdist workers."""
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, value in getattr(report, "user_properties", ()):
            if name == "summary" and report.when == "call":
                terminalreporter.write_line(f"{report.nodeid}:\n{value}")
