"""`obsgen check DIR`: the real validators over a rendered output tree, and obsgen's own proofs.

Every result names the files it read. A file that no check read, and that is not a byte-for-byte copy of
one that was (the Kubernetes ConfigMap sources), is reported as unchecked: a check never passes what it did
not check. What counts as failing is decided by `exit_code()`: a failure always; under `--strict` also an
unproven alert, a skipped check, a missing validator and an unchecked file; without `--allow-missing`, a
missing validator.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from . import coverage
from .check_result import Result, load_yaml

TIMEOUT = 300
# Files that are documentation or obsgen's own bookkeeping, not configuration a tool reads.
EXEMPT = {"README.md", ".obsgen-manifest.json"}
INSTALL = {
    "promtool": "Debian package `promtool` (or `make tools` in an obsgen checkout, which fetches it into .tools/bin)",
    "amtool": "Debian package `prometheus-alertmanager` (or `make tools` in an obsgen checkout)",
    "alertmanager": "Debian package `prometheus-alertmanager` (or `make tools` in an obsgen checkout)",
    "prometheus-blackbox-exporter": "Debian package `prometheus-blackbox-exporter` (or `make tools` in an obsgen "
                                    "checkout)",
    "check-jsonschema": "`pip install check-jsonschema`",
    "kubectl": "kubectl from your Kubernetes distribution (its `kubectl kustomize` builds kubernetes/)",
    "kubernetes-validate": "`pip install kubernetes-validate`",
}
UNPROVEN = "unproven"  # status of the coverage result while an alert has no proof and is not accepted


def _run(tool: str, args: list[str], target: str, cwd: Path, files: list[str],
         stdin: str | None = None) -> Result:
    exe = shutil.which(tool)
    if exe is None:
        return Result(tool, target, "not found", f"install {tool}: {INSTALL.get(tool, tool)}")
    try:
        proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, input=stdin)
    except subprocess.TimeoutExpired:
        return Result(tool, target, "failed", f"timed out after {TIMEOUT} s", tuple(files))
    status = "passed" if proc.returncode == 0 else "failed"
    return Result(tool, target, status, (proc.stdout + proc.stderr).strip(), tuple(files))


def _files(out: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.glob(pattern) if p.is_file())


def prometheus_configs(out: Path) -> Result:
    """promtool check config on prometheus.yml and, with HA replicas, each replica's own (prometheus-<i>.yml)."""
    configs = ["prometheus/prometheus.yml", *_files(out, "prometheus/prometheus-*.yml")]
    return _run("promtool", ["check", "config", *configs], "prometheus/prometheus.yml", out, configs)


# The blackbox exporter as Debian installs it, and as its release archives name it.
BLACKBOX_EXPORTERS = ("prometheus-blackbox-exporter", "blackbox_exporter")


def blackbox_config(out: Path) -> Result:
    """The blackbox exporter's own `--config.check`: loads blackbox.yml as the exporter would, and refuses
    a field its version does not know."""
    tool = next((t for t in BLACKBOX_EXPORTERS if shutil.which(t)), BLACKBOX_EXPORTERS[0])
    rel = "blackbox/blackbox.yml"
    return _run(tool, ["--config.check", f"--config.file={rel}"], rel, out, [rel])


# Generated test files per `promtool test rules` call. A service's tests take promtool from a fraction of a
# second to several (long SLO windows evaluated step by step), so one call over a fleet's hundreds of files
# would outlast any bound; calls of a few files, each bounded by TIMEOUT, run side by side instead.
TEST_BATCH = 8


def rule_tests(out: Path, tests: list[str], processes: int = 1) -> Result:
    """`promtool test rules` over `tests` in calls of TEST_BATCH files, `processes` at a time: passed when
    every call passed; else the output of each call that did not, under the files it tested (promtool's
    report of a failing test does not name its file)."""
    target = "prometheus/tests/"
    if shutil.which("promtool") is None:
        return _run("promtool", [], target, out, tests)
    batches = [tests[i:i + TEST_BATCH] for i in range(0, len(tests), TEST_BATCH)]

    def one(batch: list[str]) -> Result:
        return _run("promtool", ["test", "rules", *batch], target, out, batch)

    with ThreadPoolExecutor(max(1, min(processes, len(batches)))) as pool:  # each thread waits on its promtool
        done = list(pool.map(one, batches))
    if all(r.status == "passed" for r in done):
        return Result("promtool", target, "passed", "\n".join(r.output for r in done if r.output), tuple(tests))
    output = "\n\n".join(f"promtool test rules {' '.join(batch)}:\n{r.output}"
                         for batch, r in zip(batches, done, strict=True) if r.status != "passed")
    return Result("promtool", target, "failed", output, tuple(tests))


def run_checks(out: Path, live: bool = False, step: Callable[[str], None] = lambda _: None,
               processes: int = 1) -> list[Result]:
    """Every check of the tree, in order; `step` is told which one runs (a progress bar's); `processes`:
    how many tool calls may run side by side where a check makes many (the generated tests)."""
    results: list[Result] = []
    if (out / "prometheus/prometheus.yml").exists():
        step("promtool check config")
        results.append(prometheus_configs(out))
    rules = _files(out, "prometheus/rules/*.yml")
    if rules:
        step(f"promtool check rules ({len(rules)} files)")
        results.append(_run("promtool", ["check", "rules", "--lint=all", "--lint-fatal", *rules],
                            "prometheus/rules/", out, rules))
    tests = _files(out, "prometheus/tests/*.yml")
    if tests:
        step(f"promtool test rules ({len(tests)} files)")
        results.append(rule_tests(out, tests, processes))
    results.append(proof_coverage(out, tests_passed=bool(tests) and results[-1].status == "passed"))
    if (out / "alertmanager/alertmanager.yml").exists():
        step("amtool check-config")
        results.append(_run("amtool", ["check-config", "alertmanager/alertmanager.yml"],
                            "alertmanager/alertmanager.yml", out,
                            ["alertmanager/alertmanager.yml", *_files(out, "alertmanager/templates/*")]))
        step("amtool config routes test")
        results.extend(_guarded("amtool config routes test", "proof/routes.json", _routes, out))
        if live:
            step("the real Alertmanager")
            results.extend(_guarded("alertmanager (live)", "alertmanager/alertmanager.yml", _live, out))
    if (out / "blackbox/blackbox.yml").exists():
        step("the blackbox exporter's --config.check")
        results.append(blackbox_config(out))
    if (out / "docker-compose.yml").exists():
        step("the Compose schema")
        results.append(_run("check-jsonschema", ["--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
                            "docker-compose.yml", out, ["docker-compose.yml"]))
    if (out / "kubernetes/kustomization.yaml").exists():
        step("kustomize and kubernetes-validate")
        results.extend(_kubernetes(out))
    step("obsgen's file checks")
    results.extend(_guarded("obsgen file checks", "grafana/, loki/, fluentd/", _file_checks, out))
    return results


def _guarded(tool: str, target: str, check: Callable[[Path], list[Result]], out: Path) -> list[Result]:
    """A check of obsgen's own that breaks on a malformed tree fails with the reason; it never passes."""
    try:
        return check(out)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError, subprocess.SubprocessError) as e:
        return [Result(tool, target, "failed", f"{type(e).__name__}: {e}")]


def _routes(out: Path) -> list[Result]:
    from .route_proof import verify_routes

    return verify_routes(out)


def _live(out: Path) -> list[Result]:
    from .live import live_check

    exe = shutil.which("alertmanager")
    if exe is None:
        return [Result("alertmanager (live)", "alertmanager/alertmanager.yml", "not found",
                       f"install alertmanager: {INSTALL['alertmanager']}")]
    return live_check(out, exe)


def _file_checks(out: Path) -> list[Result]:
    from .file_checks import check_files

    return check_files(out)


# --------------------------------------------------------------------------- proof coverage


def proof_coverage(out: Path, tests_passed: bool) -> Result:
    """Count, from the rule and test files themselves, which alerts the tests fire and show silent."""
    target = "every alert rule"
    report_path = out / "proof/alerts.json"
    rule_files = {p: (load_yaml(out / p) or {}).get("groups") for p in _files(out, "prometheus/rules/*.yml")}
    loki_files = {p: (load_yaml(out / p) or {}).get("groups") for p in _files(out, "loki/rules/**/*.yml")}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the tests are read here only: not kept
    test_files = {p: yaml.load((out / p).read_text("utf-8"), Loader=loader) or {}
                  for p in _files(out, "prometheus/tests/*.yml")}
    read = tuple(["proof/alerts.json"] if report_path.exists() else [])
    items = coverage.proofs(coverage.alert_rules(rule_files) + coverage.alert_rules(loki_files, "loki"), test_files)
    if not report_path.exists():
        return Result("obsgen proof coverage", target, "failed",
                      "proof/alerts.json is missing: this output was not rendered by this obsgen; render it again")
    report = json.loads(report_path.read_text("utf-8"))
    claimed = {(a["file"], a["alert"], a.get("severity", "")): a for a in report.get("alerts", [])}
    for p in items:
        entry = claimed.get((p.rule.file, p.rule.alert, p.rule.severity), {})
        if not p.proven:
            p.reason = entry.get("reason")
            p.accepted = entry.get("accepted")
    counts = coverage.summary(items)
    lines = [coverage.line(counts)]
    lines += [f"  {p.rule.alert} ({p.rule.severity or 'no severity'}, {p.rule.file}): {p.why()}"
              + (f" — accepted: {p.accepted}" if p.accepted else "") for p in items if not p.proven]
    if not tests_passed:
        return Result("obsgen proof coverage", target, "skipped",
                      "\n".join(["the generated tests did not pass (or did not run), so nothing they show counts",
                                 *lines]), read)
    return Result("obsgen proof coverage", target, UNPROVEN if counts["unproven"] else "passed",
                  "\n".join(lines), read)


# --------------------------------------------------------------------------- kubernetes


def _kubernetes(out: Path) -> list[Result]:
    files = tuple(_files(out, "kubernetes/**/*"))
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return [Result("kubectl kustomize", "kubernetes/", "not found", f"install kubectl: {INSTALL['kubectl']}")]
    proc = subprocess.run([kubectl, "kustomize", "kubernetes"], cwd=out, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        return [Result("kubectl kustomize", "kubernetes/", "failed", proc.stderr.strip(), files),
                Result("kubernetes-validate", "kubernetes/", "skipped", "kustomize did not build")]
    results = [Result("kubectl kustomize", "kubernetes/", "passed", "", files)]
    from .crds import Loader  # kustomize writes a matcher's bare `=`, which YAML 1.1 tags `value`

    objects = [d for d in yaml.load_all(proc.stdout, Loader=Loader) if isinstance(d, dict)]
    builtin: list[dict[str, Any]] = []
    custom: list[dict[str, Any]] = []
    for o in objects:
        (custom if str(o.get("apiVersion", "")).startswith("monitoring.coreos.com/") else builtin).append(o)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifests.yaml"
        manifest.write_text(yaml.safe_dump_all(builtin, sort_keys=False), "utf-8")
        # built-in kinds only: kubernetes-validate has no schema for custom resources and would skip them
        results.append(_run("kubernetes-validate", ["--strict", str(manifest)],
                            f"kubernetes/ (built, {len(builtin)} built-in objects)", out, list(files)))
    if custom:
        results.extend(_guarded("CRD schemas", "kubernetes/ (custom resources)", lambda _: _crds(custom), out))
        if any(o.get("kind") == "AlertmanagerConfig" for o in custom):
            results.extend(_guarded("amtool config routes test (operator)", "kubernetes/ AlertmanagerConfig",
                                    lambda o: _operator_routes(o, objects), out))
    return results


def _crds(objects: list[dict[str, Any]]) -> list[Result]:
    from .crds import check_custom_resources

    return check_custom_resources(objects)


def _operator_routes(out: Path, objects: list[dict[str, Any]]) -> list[Result]:
    from .operator_routing import verify_operator_routes

    return verify_operator_routes(out, objects=objects)


# --------------------------------------------------------------------------- what nothing checked


PACKAGING = ("kubectl kustomize", "kubernetes-validate")


def unchecked_files(out: Path, results: list[Result]) -> list[str]:
    """Files of the output that no result read, and that are not a copy of one that was."""
    def digest(rel: str) -> str:
        return hashlib.sha256((out / rel).read_bytes()).hexdigest()

    from .write import WriteError, read_manifest

    read = {f for r in results if r.status in ("passed", "failed", UNPROVEN) for f in r.files}
    try:  # obsgen's files only: a file of the user's beside them is not obsgen's to check
        every = sorted(f for f in read_manifest(out) if (out / f).is_file())
    except WriteError:
        every = []
    if not every:
        every = [p.relative_to(out).as_posix() for p in sorted(out.rglob("*")) if p.is_file()]
    left = [f for f in every if f not in read and f not in EXEMPT]
    if not left:
        return []
    # a copy of a file a check read is checked with it; packing a file into a ConfigMap (kustomize, and
    # kubernetes-validate on what it built) checks the manifest, not the copy's content
    content = {f for r in results if r.status in ("passed", "failed", UNPROVEN) and r.tool not in PACKAGING
               for f in r.files}
    copies = {digest(f) for f in content if (out / f).is_file()}
    return [f for f in left if digest(f) not in copies]


def exit_code(results: list[Result], unchecked: list[str], strict: bool, allow_missing: bool) -> int:
    if any(r.status == "failed" for r in results):
        return 1
    if any(r.status == "not found" for r in results) and (strict or not allow_missing):
        return 1
    if strict and (unchecked or any(r.status in ("skipped", UNPROVEN) for r in results)):
        return 1
    return 0
