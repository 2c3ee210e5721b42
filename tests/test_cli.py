"""The command line contract: commands, exit codes, help, version, schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import EXAMPLES, ROOT, obsgen

from obsgen import __version__
from obsgen.schema import schema_text


def test_version_and_help() -> None:
    assert obsgen("--version", check=True).stdout.strip() == f"obsgen {__version__}"
    for cmd in ("init", "validate", "render", "diff", "check", "schema"):
        proc = obsgen(cmd, "--help", check=True)
        assert "Usage" in proc.stdout and cmd in proc.stdout


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    obsgen("init", str(spec), check=True)
    assert obsgen("validate", str(spec)).returncode == 0
    again = obsgen("init", str(spec))
    assert again.returncode == 2 and "--force" in again.stderr


def test_defaults_spec_and_output_paths(tmp_path: Path) -> None:
    obsgen("init", cwd=tmp_path, check=True)
    obsgen("render", "--quiet", cwd=tmp_path, check=True)
    assert (tmp_path / "out" / "prometheus" / "prometheus.yml").exists()
    assert obsgen("render", "--check", cwd=tmp_path).returncode == 0


def test_render_prints_a_summary_and_quiet_prints_nothing(tmp_path: Path) -> None:
    proc = obsgen("render", str(EXAMPLES[0]), "-o", str(tmp_path / "o"), check=True)
    assert "prometheus" in proc.stdout and "alertmanager" in proc.stdout
    assert "\x1b[" not in proc.stdout  # no colour codes when not on a terminal
    assert obsgen("render", str(EXAMPLES[0]), "-o", str(tmp_path / "o"), "-q", check=True).stdout == ""


def test_published_schema_matches_the_models() -> None:
    published = (ROOT / "specs" / "obsgen.schema.json").read_text()
    assert published == schema_text(), "run `make schema` to refresh specs/obsgen.schema.json"
    assert obsgen("schema", check=True).stdout == published


@pytest.mark.parametrize("spec", EXAMPLES + [ROOT / "templates" / "starter.yaml"],
                         ids=[p.stem for p in EXAMPLES] + ["starter"])
def test_every_example_validates_against_the_published_schema(spec: Path) -> None:
    schema = json.loads((ROOT / "specs" / "obsgen.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(spec.read_text()), schema)


def test_schema_rejects_what_the_models_reject() -> None:
    schema = json.loads((ROOT / "specs" / "obsgen.schema.json").read_text())
    data = yaml.safe_load(EXAMPLES[0].read_text())
    data["services"][0]["teem"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def _buffered(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line with its standard streams buffered, as a user's are (PYTHONUNBUFFERED unset)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-m", "obsgen", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_exit_skips_teardown_but_keeps_codes_and_streams(tmp_path: Path) -> None:
    """obsgen leaves without tearing the interpreter down (cli._leave): every exit code and every line
    written to stdout and stderr still arrive."""
    assert _buffered("schema").stdout == (ROOT / "specs" / "obsgen.schema.json").read_text()
    valid = _buffered("validate", str(EXAMPLES[0]))  # a short line, still in the stream's buffer at the end
    assert valid.returncode == 0 and valid.stdout.startswith(f"{EXAMPLES[0]}: valid ("), valid.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLES[0].read_text().replace("version: 1", "version: 7", 1))
    proc = _buffered("validate", str(bad))
    assert proc.returncode == 2 and proc.stderr.rstrip().endswith(f"1 problem in {bad}"), proc.stderr
    out = tmp_path / "o"
    obsgen("render", str(EXAMPLES[0]), "-o", str(out), "--quiet", check=True)
    (out / "prometheus/prometheus.yml").write_text("changed\n")
    stale = _buffered("render", str(EXAMPLES[0]), "-o", str(out), "--check")
    assert stale.returncode == 1 and "prometheus/prometheus.yml" in stale.stdout + stale.stderr


def test_a_closed_pipe_on_stdout_ends_without_a_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", "obsgen", "schema"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # as `obsgen schema | head -c 10` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 1) and "Traceback" not in err, err
