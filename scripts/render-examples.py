#!/usr/bin/env python3
"""Render every example spec into `examples/<name>/out/` through the real command line (`make examples`).

`examples/<name>.yaml` -> `obsgen render examples/<name>.yaml -o examples/<name>/out`. With `--check`
nothing is written and the exit code is 1 when any committed output differs from what the spec renders
(the CI drift guard, `obsgen render --check`); 2 when a spec is invalid.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def example_specs() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def output_dir(spec: Path) -> Path:
    return spec.parent / spec.stem / "out"


def render_command(spec: Path, check: bool) -> list[str]:
    """The command a user would type, run by this interpreter (so `make examples` uses the venv)."""
    cmd = [sys.executable, "-m", "obsgen", "render", str(spec.relative_to(ROOT)),
           "-o", str(output_dir(spec).relative_to(ROOT)), "--quiet"]
    return cmd + ["--check"] if check else cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if an output is stale")
    args = parser.parse_args(argv)
    worst = 0
    for spec in example_specs():
        proc = subprocess.run(render_command(spec, args.check), cwd=ROOT, check=False)
        status = {0: "up to date" if args.check else "rendered", 1: "STALE"}.get(proc.returncode, "FAILED")
        print(f"{spec.relative_to(ROOT)} -> {output_dir(spec).relative_to(ROOT)}: {status}")
        worst = max(worst, proc.returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main())
