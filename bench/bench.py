"""`make bench`: wall time and peak memory of `obsgen validate` and `obsgen render`, on the quickstart and on
generated specs of 10, 100 and 1,000 services. A benchmark to read, not a test that passes or fails.

Each measurement is a fresh `python -m obsgen` process (what a user or CI runs), timed over several runs;
peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
SIZES = (10, 100, 1000)
BIG_SIZES = (4000, 10000)  # with --big; --big=N,M for other sizes


def generated_spec(n: int) -> dict:
    services = []
    for i in range(n):
        services.append({
            "name": f"svc-{i:04d}",
            "team": f"team-{i % 10}",
            "scrape": {"static": [f"svc-{i:04d}:8080"]},
            "thresholds": [
                {"indicator": "error_rate", "target": "0.1%", "warning": "0.5%", "critical": "1%"},
                {"indicator": "latency_p95", "target": "100ms", "warning": "250ms", "critical": "500ms"},
                {"indicator": "latency_p99", "warning": "500ms", "critical": "1s"},
            ],
            "slos": [
                {"name": "availability", "objective": 99.9, "sli": {"type": "availability"}},
                {"name": "latency", "objective": 99, "sli": {"type": "latency", "threshold": "250ms"}},
            ],
            "logs": {"source": {"tail": f"/var/log/svc-{i:04d}/*.log"}},
        })
    return {
        "version": 1,
        "project": {"name": "bench", "runbook_url": "https://runbooks.example.com/{service}/{alert}"},
        "services": services,
        "channels": {
            "pager": {"type": "pagerduty", "routing_key_file": "/etc/alertmanager/secrets/pd"},
            "chat": {"type": "slack", "channel": "#alerts", "api_url_file": "/etc/alertmanager/secrets/slack"},
        },
        "routing": {"default": "chat", "severity": {"critical": ["pager", "chat"], "warning": ["chat"]},
                    "teams": {"team-1": {"critical": ["pager"]}}},
        "stack": {"deploy": ["compose", "kubernetes"], "exporters": ["node"]},
    }


def write_spec_folder(folder: Path, n: int, per_file: int = 100) -> Path:
    """The same spec as `generated_spec(n)` as a spec folder: one project file and one file of services per
    `per_file` services (what a team with thousands of services keeps, one file per group)."""
    spec = generated_spec(n)
    folder.mkdir(parents=True, exist_ok=True)
    project = {k: v for k, v in spec.items() if k != "services"}
    (folder / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    for start in range(0, n, per_file):
        chunk = spec["services"][start:start + per_file]
        (folder / f"services-{start // per_file:04d}.yaml").write_text(
            yaml.safe_dump({"services": chunk}, sort_keys=False))
    return folder


def big_cases(tmp: Path, sizes: tuple[int, ...]) -> list[tuple[str, float, float, float, float, float, float]]:
    """Spec folders of `sizes` services: a render into a new folder, a re-render after one service's file
    changed, and `render --check` on the unchanged tree (one run each: these take minutes). Also the CPU
    seconds of each (user + system, of the process and those it forks), which a busy machine inflates less
    than the wall time."""
    rows = []
    for n in sizes:
        folder = write_spec_folder(tmp / f"folder-{n}", n)
        out = tmp / f"out-folder-{n}"
        cpu: list[float] = []
        once = lambda args, cpu=cpu: measure(lambda run: args, runs=1, cpu=cpu)  # noqa: E731
        fresh, fresh_mem = once(["render", str(folder), "-o", str(out)])
        edited = folder / "services-0000.yaml"
        edited.write_text(edited.read_text().replace("target: 0.1%", "target: 0.2%", 1))
        again, again_mem = once(["render", str(folder), "-o", str(out)])
        check, check_mem = once(["render", str(folder), "-o", str(out), "--check"])
        rows.append((f"{n} (folder)", fresh, fresh_mem, again, max(again_mem, check_mem), check, *cpu))
    return rows


def measure(args: Callable[[int], list[str]], runs: int = RUNS,
            cpu: list[float] | None = None) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MB) of `python -m obsgen ARGS(run)` over RUNS fresh processes;
    `cpu` gets the median CPU seconds (user + system).

    Peak RSS is the largest of the process and those it forks to render a large spec's services."""
    times, peaks, cpus = [], [], []
    for run in range(runs):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child becomes the measured process, so its rusage is its own
            os.execv(sys.executable, [sys.executable, "-m", "obsgen", *args(run), "--quiet"])
        _, status, usage = os.wait4(pid, 0)
        times.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
        cpus.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"obsgen {' '.join(args(run))} failed")
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    return statistics.median(times), max(peaks)


def file_creation_ms(folder: Path, n: int = 2000) -> float:
    """What this filesystem charges for creating an empty file (ms): rendering 1,000 services creates ~7,000."""
    target = folder / "creation-probe"
    target.mkdir()
    start = time.perf_counter()
    for i in range(n):
        (target / f"f{i}").touch()
    elapsed = time.perf_counter() - start
    shutil.rmtree(target)
    return elapsed / n * 1000


def main() -> None:
    # An installed obsgen runs from bytecode; a shell with PYTHONDONTWRITEBYTECODE (as CI images often set)
    # would have every measured process compile obsgen from source first, a tenth of a second each.
    compileall.compile_dir(ROOT / "obsgen", quiet=1)
    big_arg = next((a for a in sys.argv[1:] if a == "--big" or a.startswith("--big=")), None)
    big = big_arg is not None  # 4,000 and 10,000 services from spec folders (several minutes more)
    big_sizes = tuple(int(n) for n in big_arg.split("=", 1)[1].split(",")) if big_arg and "=" in big_arg else BIG_SIZES
    rows = []
    render_cpu: list[float] = []  # median CPU seconds of each fresh render, in `rows`' order
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:  # where a user's output would be
        specs = {"quickstart": ROOT / "examples" / "quickstart.yaml"}
        for n in SIZES:
            path = Path(tmp) / f"services-{n}.yaml"
            path.write_text(yaml.safe_dump(generated_spec(n), sort_keys=False))
            specs[f"{n} services"] = path
        for name, spec in specs.items():
            v_time, v_mem = measure(lambda run, spec=spec: ["validate", str(spec)])
            out = Path(tmp) / f"out-{spec.stem}"
            # a first render into a new folder each run (deleting thousands of files just before would
            # charge this render for the filesystem's work on them), then re-renders over the last one
            fresh, fresh_mem = measure(lambda run, spec=spec, out=out: ["render", str(spec), "-o", f"{out}-{run}"],
                                       cpu=render_cpu)
            shutil.move(f"{out}-{RUNS - 1}", out)
            again, again_mem = measure(lambda run, spec=spec, out=out: ["render", str(spec), "-o", str(out)])
            inodes = {p.stat().st_ino for p in out.rglob("*") if p.is_file()}  # hard-linked copies count once
            rows.append((name, v_time, v_mem, fresh, again, max(fresh_mem, again_mem), len(inodes)))
        creation = file_creation_ms(Path(tmp))
        big_rows = big_cases(Path(tmp), big_sizes) if big else []
    print(f"obsgen benchmark: median of {RUNS} fresh processes, peak RSS of the worst run")
    print("render: into a new folder; re-render: over the previous output (unchanged files are linked)")
    print(f"{'spec':<14} {'validate s':>11} {'validate MB':>12} {'render s':>9} {'re-render s':>12} "
          f"{'render MB':>10} {'files':>6}")  # files created: copies are hard links
    for name, vt, vm, fresh, again, rm, files in rows:
        print(f"{name:<14} {vt:>11.3f} {vm:>12.1f} {fresh:>9.3f} {again:>12.3f} {rm:>10.1f} {files:>6}")
    print("render CPU s (user + system, of every process; what a busy machine inflates less): "
          + ", ".join(f"{row[0]} {c:.2f}" for row, c in zip(rows, render_cpu, strict=True)))
    print(f"this filesystem creates an empty file in {creation:.3f} ms "
          f"(so {creation * rows[-1][-1] / 1000:.1f} s of the largest render's)")
    print("aims: validate quickstart < 0.25 s; 1,000 services rendered < 5 s and < 400 MB, growing linearly")
    if big_rows:
        print()
        print("spec folders (100 services a file), one run each; re-render: after one service changed")
        print(f"{'services':<14} {'render s':>9} {'render MB':>10} {'re-render s':>12} {'re-render MB':>13} "
              f"{'--check s':>10}   CPU s: render, re-render, --check")
        for name, fresh, fm, again, am, check, *cpu in big_rows:
            print(f"{name:<14} {fresh:>9.3f} {fm:>10.1f} {again:>12.3f} {am:>13.1f} {check:>10.3f}   "
                  + ", ".join(f"{c:.2f}" for c in cpu))
        print("aims: 10,000 services <= 25 s and <= 2 GB; one changed service and --check <= 3 s")
    slo_bench = ROOT / "bench" / "bench_slo.py"
    if slo_bench.exists():
        print()
        subprocess.run([sys.executable, str(slo_bench)], check=True)
        print()  # SLOs per route: one route in an outage among 49 good ones (the proof scenarios only; 8 min here)
        subprocess.run([sys.executable, str(slo_bench), "--by-groups", "50", "--instances", "16", "--no-steady-state"],
                       check=True)


if __name__ == "__main__":
    main()
