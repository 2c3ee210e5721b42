"""`obsgen check DIR`: run the real validators found on PATH over a rendered output tree."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    tool: str
    target: str
    status: str  # "passed" | "failed" | "not found" | "skipped"
    output: str = ""


def _run(tool: str, args: list[str], target: str, cwd: Path, stdin: str | None = None) -> Result:
    exe = shutil.which(tool)
    if exe is None:
        return Result(tool, target, "not found")
    try:
        proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=300, input=stdin)
    except subprocess.TimeoutExpired:
        return Result(tool, target, "failed", "timed out after 300 s")
    status = "passed" if proc.returncode == 0 else "failed"
    return Result(tool, target, status, (proc.stdout + proc.stderr).strip())


def _files(out: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.glob(pattern))


def run_checks(out: Path) -> list[Result]:
    results: list[Result] = []
    if (out / "prometheus/prometheus.yml").exists():
        results.append(_run("promtool", ["check", "config", "prometheus/prometheus.yml"],
                            "prometheus/prometheus.yml", out))
    rules = _files(out, "prometheus/rules/*.yml")
    if rules:
        results.append(_run("promtool", ["check", "rules", "--lint=all", "--lint-fatal", *rules],
                            "prometheus/rules/", out))
    tests = _files(out, "prometheus/tests/*.yml")
    if tests:
        results.append(_run("promtool", ["test", "rules", *tests], "prometheus/tests/", out))
    if (out / "alertmanager/alertmanager.yml").exists():
        results.append(_run("amtool", ["check-config", "alertmanager/alertmanager.yml"],
                            "alertmanager/alertmanager.yml", out))
    if (out / "docker-compose.yml").exists():
        results.append(_run("check-jsonschema", ["--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
                            "docker-compose.yml", out))
    if (out / "kubernetes/kustomization.yaml").exists():
        results.extend(_kubernetes(out))
    return results


def _kubernetes(out: Path) -> list[Result]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return [Result("kubectl kustomize", "kubernetes/", "not found")]
    proc = subprocess.run([kubectl, "kustomize", "kubernetes"], cwd=out, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        return [Result("kubectl kustomize", "kubernetes/", "failed", proc.stderr.strip()),
                Result("kubernetes-validate", "kubernetes/", "skipped", "kustomize did not build")]
    results = [Result("kubectl kustomize", "kubernetes/", "passed")]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifests.yaml"
        manifest.write_text(proc.stdout, "utf-8")
        results.append(_run("kubernetes-validate", ["--strict", str(manifest)], "kubernetes/ (built)", out))
    return results
