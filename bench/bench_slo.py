"""Benchmark: obsgen's SLO recording shape against the naive (Sloth) shape, on the same synthetic input.

Both rule sets are evaluated by the real `promtool test rules` on the scenarios of the generated SLO
proofs (outage, 2× budget, half budget), with the traffic spread over many series (`--instances`) as a
real service's is. Printed per scenario: whether the asserted alert decisions held for each shape, and the
CPU time promtool spent (user + sys; wall time too, but on a shared machine it mostly measures waiting).

    .venv/bin/python bench/bench_slo.py [--instances 20] [--repeat 1]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from obsgen import slo  # noqa: E402
from obsgen.model import Model, resolve  # noqa: E402
from obsgen.render.common import dump_yaml  # noqa: E402
from obsgen.slo_proofs import Counter, Scenario, _alerts, _fires, _input, _never, counters, proofs  # noqa: E402
from obsgen.spec import load_spec_text  # noqa: E402

SPEC = """\
version: 1
project: {name: bench}
services:
  - name: api
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}}
      - {name: latency, objective: 99, sli: {type: latency, threshold: 250ms}}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def promtool() -> str:
    tool = ROOT / ".tools" / "bin" / "promtool"
    if not tool.exists():
        sys.exit("promtool not installed: run `make tools`")
    return str(tool)


def run_group(tool: str, root: Path, model: Model, rules: str, group: dict) -> tuple[bool, float, float]:
    """(decisions held, CPU seconds, wall seconds) of one promtool test group against one rule file."""
    (root / "rules.yml").write_text(rules)
    test = root / "test.yml"
    test.write_text(dump_yaml({"rule_files": ["rules.yml"], "evaluation_interval": model.evaluation_interval,
                               "tests": [group]}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([tool, "test", "rules", str(test)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode == 0, cpu, wall


def steady_state(model: Model, instances: int) -> list[dict]:
    """Every window full: 3 days of traffic at 2× the budget rate; the ticket is open, the page silent.

    The proofs' scenarios last hours, so their 1d and 3d windows hold little history; this one shows
    what Prometheus pays in steady state, forever. Evaluated and sampled every minute, one series each:
    promtool refuses queries over 10,000 samples, and the naive 3d `rate()` over more series (or 15s
    samples) exceeds that."""
    svc = model.service("api")
    out = []
    for s in svc.slos:
        cs = [Counter({**c.labels, "instance": f"i{i}"}, c.counts) for c in counters(svc, s) or [] for i in range(instances)]
        end = 3 * 86400 + 600
        sc = Scenario(60, [(end + 60, 2 * Fraction(s.budget))], Decimal(10) / instances)
        burn = slo.alert_names(svc, s)["burn"]
        out.append({"name": f"{s.name} SLO steady state: 3d at 2× the budget rate opens the ticket, never pages",
                    "interval": "1m", "input_series": _input(cs, sc),
                    "promql_expr_test": [_fires(_alerts(burn, s, ', tier="ticket"'), end),
                                         _never(_alerts(burn, s, ', tier="page"'), end)]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20, help="series the traffic is spread over")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest counts")
    args = parser.parse_args()
    tool = promtool()
    model = resolve(load_spec_text(SPEC, "bench.yaml"), "bench.yaml")
    svc = model.service("api")
    shapes = {shape: dump_yaml({"groups": slo.rule_groups(model, svc, naive=shape == "naive")})
              for shape in ("obsgen", "naive")}
    groups = [(model, g) for s in svc.slos for g in proofs(model, svc, s, instances=args.instances)]
    minutely = resolve(load_spec_text(SPEC.replace("project: {name: bench}", "project: {name: bench}\n"
                                                   "defaults: {evaluation_interval: 1m}"), "bench.yaml"))
    groups += [(minutely, g) for g in steady_state(minutely, 1)]
    print(f"SLO rules of one service (2 SLOs), {args.instances} instances × good/bad series, "
          f"evaluation every {model.evaluation_interval}; promtool {tool}")
    print(f"{'scenario':<62} {'obsgen':>7} {'naive':>7} {'cpu obsgen':>10} {'cpu naive':>10} {'ratio':>6}")
    totals = {"obsgen": [0.0, 0.0], "naive": [0.0, 0.0]}
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for m, group in groups:
            row = {}
            for shape, rules in shapes.items():
                runs = [run_group(tool, Path(tmp), m, rules, group) for _ in range(args.repeat)]
                ok = all(r[0] for r in runs)
                cpu, wall = min(r[1] for r in runs), min(r[2] for r in runs)
                row[shape] = (ok, cpu)
                totals[shape][0] += cpu
                totals[shape][1] += wall
            same &= row["obsgen"][0] == row["naive"][0]
            name = group["name"][:60]
            print(f"{name:<62} {'held' if row['obsgen'][0] else 'FAILED':>7} {'held' if row['naive'][0] else 'FAILED':>7} "
                  f"{row['obsgen'][1]:>9.2f}s {row['naive'][1]:>9.2f}s {row['obsgen'][1] / row['naive'][1]:>6.2f}")
    (oc, ow), (nc, nw) = totals["obsgen"], totals["naive"]
    print(f"{'total CPU':<62} {'':>7} {'':>7} {oc:>9.2f}s {nc:>9.2f}s {oc / nc:>6.2f}")
    print(f"{'total wall':<62} {'':>7} {'':>7} {ow:>9.2f}s {nw:>9.2f}s {ow / nw:>6.2f}")
    print("alert decisions identical" if same else "alert decisions DIFFER between the shapes")


if __name__ == "__main__":
    main()
