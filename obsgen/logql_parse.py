"""LogQL parsed by Grafana's grammar (@grafana/lezer-logql) under node, many expressions in one process.

There is no maintained LogQL parser for Python; Grafana's own grammar is the closest thing to Loki's
parser that can run here. `obsgen check` (file_checks) and `obsgen validate` (spec/expressions) both
send their expressions through `parse`, which starts `logql_check.mjs` once for all of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 120
SCRIPT = Path(__file__).with_name("logql_check.mjs")
# where scripts/install-tools.sh (`make tools`) puts the grammar, in an obsgen checkout
CHECKOUT_NODE_MODULES = Path(__file__).resolve().parents[1] / ".tools" / "node_modules"
NODE_MODULES_ENV = "OBSGEN_NODE_MODULES"
LOGQL_PACKAGES = "@grafana/lezer-logql@0.4.2 @lezer/lr@1.4.10 @lezer/common@1.5.5"
NODE_HINT = "install node (Node.js >= 18, e.g. Debian package `nodejs`): Grafana's LogQL grammar runs under it"
LOGQL_HINT = (f"Grafana's LogQL grammar is not installed: run `make tools` in an obsgen checkout, or "
              f"`npm install --prefix DIR {LOGQL_PACKAGES}` and set {NODE_MODULES_ENV}=DIR/node_modules")


@dataclass(frozen=True)
class Unavailable:
    """Why no expression could be parsed: the tool that is missing or failed, and what to do."""

    tool: str  # "node" | "lezer-logql"
    status: str  # "not found" | "failed"
    reason: str


def node_modules_candidates(checkout: Path | None = None) -> list[Path]:
    """Where the grammar may be: ${OBSGEN_NODE_MODULES}, then the checkout's .tools/node_modules."""
    env = os.environ.get(NODE_MODULES_ENV)
    return ([Path(env)] if env else []) + [CHECKOUT_NODE_MODULES if checkout is None else checkout]


def find_node_modules(candidates: list[Path]) -> Path | None:
    """The first of `candidates` that holds @grafana/lezer-logql."""
    for path in candidates:
        if (path / "@grafana" / "lezer-logql" / "package.json").is_file():
            return path
    return None


def parse(exprs: list[str], candidates: list[Path] | None = None,
          timeout: float = TIMEOUT) -> list[dict[str, Any]] | Unavailable:
    """One verdict per expression, in order (`{"ok": bool, "kind": "metric"|"log", "error": str}`, as
    logql_check.mjs writes them), or why none could be given. Starts node once, only when there is
    something to parse."""
    if not exprs:
        return []
    node = shutil.which("node")
    if node is None:
        return Unavailable("node", "not found", NODE_HINT)
    candidates = node_modules_candidates() if candidates is None else candidates
    modules = find_node_modules(candidates)
    if modules is None:
        where = ", ".join(str(p) for p in candidates)
        return Unavailable("lezer-logql", "not found", f"{LOGQL_HINT} (looked in {where})")
    try:
        proc = subprocess.run([node, str(SCRIPT), str(modules)], input=json.dumps(exprs),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Unavailable("lezer-logql", "failed", f"timed out after {timeout:g} s")
    except OSError as e:
        return Unavailable("node", "failed", f"cannot start {node}: {e.strerror or e}")
    if proc.returncode == 3:
        return Unavailable("lezer-logql", "not found", f"{LOGQL_HINT}\n{proc.stderr.strip()}")
    try:
        verdicts = json.loads(proc.stdout) if proc.returncode == 0 else None
    except json.JSONDecodeError:
        verdicts = None
    if not isinstance(verdicts, list) or len(verdicts) != len(exprs):
        return Unavailable("lezer-logql", "failed", f"{SCRIPT.name} exited {proc.returncode}: {proc.stderr.strip()}")
    return verdicts
