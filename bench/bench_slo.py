"""Benchmark: obsgen's SLO recording shape against the naive (Sloth) shape, on the same synthetic input.

Both rule sets are evaluated by the real `promtool test rules` on the scenarios of the generated SLO
proofs (outage, 2× budget, half budget), with the traffic spread over many series (`--instances`) as a
real service's is, and on a 3-day steady state. Printed per scenario: whether the asserted alert
decisions held for each shape, and the CPU time promtool spent (user + sys).

Two more runs isolate parts: `no rules` (an empty rule file: promtool only loads the input and checks
the assertions, a cost no rule set pays for in Prometheus) and `shared` (obsgen's rules with every
window above 5m replaced by the 5m ratio: the raw 5m rates, alerts and metadata both shapes have).
Printed: obsgen/naive over the rules' evaluation (CPU above `no rules`: what Prometheus pays), over
the whole promtool run, and over the windows alone. Item 7 of the SLO issue aims at one third of the
naive cost or less; the bench says whether each ratio meets it.

The naive shape's cost grows with the raw series each window reads; obsgen's windows read one recorded
series whatever the service's size. The default, 50 instances (100 raw series per SLI, a modest
service, as in `bench_slo_server.py`), is where the bench's verdict is read; with 20 instances the two
shapes measured 0.35 (whole) and 0.22 (windows), and the crossover of one third is near 21.

With `--by-groups N`, both SLOs are judged per route (`by: [route]`) and the traffic is spread over N routes
of `--instances` series each (a route served by every instance): the scenarios are the generated proof that
one route in an outage pages alone among N - 1 good ones, and the 3-day steady state with every route at 2×
the budget rate (N tickets, no page). obsgen's windows then read 2 recorded series per route, the naive
shape's every raw series of the route. So the ratio follows the raw series per route, not the number of
routes. Measured here (promtool 3.5, CPU of the rules above `no rules`, obsgen / naive), proof scenarios only:
50 routes × 16 instances (`--by-groups 50 --instances 16 --no-steady-state`, what `make bench` runs) 0.21
(windows alone 0.10); 50 routes × 4 instances 0.55 (0.41). With the 3-day steady state, 5 routes × 2
instances: 0.74 (0.62). A route served by few instances has few raw series for the naive shape to read.

With `--types`, the SLOs are of the other SLI types instead: events as good and total, a boolean gauge (`up`
per instance) and native-histogram latency; proof scenarios only (a gauge's 3-day steady state at 2× the budget
rate needs samples finer than promtool loads in one series). Measured (`--types --instances 20`; more instances
make the gauge's count_over_time load more than the 10,000 samples promtool allows a query): rule evaluation
0.43 of the naive cost, the windows alone 0.23; per SLO, the gauge's and the native histogram's scenarios
0.22 to 0.38 of it where the windows hold an hour or more (their naive windows re-read every sample or
histogram), the good/total SLI's 0.62 to 0.82 (short scenarios, whose windows hold little history).

    .venv/bin/python bench/bench_slo.py [--instances 50] [--repeat 1] [--by-groups 50] [--types]
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
from obsgen.slo_proofs import (  # noqa: E402
    Scenario,
    _input,
    _metric,
    _never,
    counters,
    group_values,
    in_group,
    proofs,
    slo_alerts,
)
from obsgen.spec import load_spec_text  # noqa: E402

SPEC = """\
version: 1
project: {name: bench}
services:
  - name: api
    scrape: {static: ["api:8080"]}  # validate requires the SLI's job to be scraped
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}}
      - {name: latency, objective: 99, sli: {type: latency, threshold: 250ms}}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


TYPES = """\
version: 1
project: {name: bench}
services:
  - name: api
    scrape: {static: ["api:8080"]}
    slos:
      - name: logins
        objective: 99.9
        sli:
          events:
            good: 'sum(rate(http_requests_total{job="api", status=~"2..|3.."}[{{window}}]))'
            total: 'sum(rate(http_requests_total{job="api"}[{{window}}]))'
      - {name: up, objective: 99.5, sli: {type: bool_gauge, metric: 'up{job="api"}'}}
      - {name: latency, objective: 99, sli: {type: latency_native, threshold: 250ms}}
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


def steady_state(model: Model, instances: int, groups: int = 1) -> list[dict]:
    """Every window full: 3 days of traffic at 2× the budget rate; the ticket is open, the page silent (for
    every route, with `by`).

    The proofs' scenarios last hours, so their 1d and 3d windows hold little history; this one shows
    what Prometheus pays in steady state, forever. Evaluated and sampled every minute: promtool refuses
    to load more than 10,000 samples of one series at once, and 3 days of 15s samples are 17,280."""
    svc = model.service("api")
    out = []
    for s in svc.slos:
        values = group_values(svc, s, groups)
        cs = [c for g in values for c in in_group(counters(svc, s) or [], g, instances)]
        end = 3 * 86400 + 600
        sc = Scenario(60, [(end + 60, 2 * Fraction(s.budget))], Decimal(10) / instances)
        tickets = [slo_alerts(model, svc, s, g)["ticket"] for g in values]
        page = slo_alerts(model, svc, s)["page"]
        out.append({"name": f"{s.name} SLO steady state: 3d at 2× the budget rate opens the ticket, never pages",
                    "interval": "1m", "input_series": _input(cs, sc),
                    "promql_expr_test": [
                        {"expr": tickets[0].selector, "eval_time": f"{end}s",
                         "exp_samples": [{"labels": _metric(t.labels), "value": 1} for t in tickets]},
                        _never(page.selector, end)]})
    return out


def shared_part(groups: list[dict]) -> list[dict]:
    """The rules both shapes share: every window above 5m reads the 5m ratio instead (same series, labels)."""
    out = []
    for g in groups:
        rules = []
        for r in g["rules"]:
            window = r.get("record", "").removeprefix("slo:sli_error:ratio_rate")
            if (r.get("record", "").startswith("slo:sli_error:ratio_rate") and window != slo.BASE_WINDOW
                    and "slo_id" in r["labels"]):  # not Sloth's copies, which stay copies
                r = {**r, "expr": f'{slo.record_name(slo.BASE_WINDOW)}{{slo_id="{r["labels"]["slo_id"]}"}}'}
            rules.append(r)
        out.append({**g, "rules": rules})
    return out


AIM = 1 / 3  # of the naive cost (issue 3, item 7)


def verdict(what: str, ratio: float) -> str:
    return f"{what}: {ratio:.2f} of the naive cost, aim (≤ {AIM:.2f}) {'met' if ratio <= AIM else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50, help="instances the traffic is spread over")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest counts")
    parser.add_argument("--by-groups", type=int, default=0,
                        help="SLOs per route (`by: [route]`) over this many routes of --instances series each")
    parser.add_argument("--sloth-compatible", action="store_true",
                        help="obsgen's rules with Sloth's series copied too (`sloth_compatible`), against the naive "
                             "shape, which is Sloth's own")
    parser.add_argument("--no-steady-state", action="store_true",
                        help="the proof scenarios only (the 3-day steady state is most of the bench's time)")
    parser.add_argument("--types", action="store_true",
                        help="SLOs of the types good/total events, bool_gauge and latency_native (proofs only)")
    args = parser.parse_args()
    if args.types and args.by_groups:
        parser.error("--types and --by-groups: one at a time")
    tool = promtool()
    spec = "\n".join(line.replace("}}", "}, by: [route]}") if "sli:" in line else line
                      for line in SPEC.split("\n")) if args.by_groups else TYPES if args.types else SPEC
    defaults = "defaults: {sloth_compatible: true}\n" if args.sloth_compatible else ""
    model = resolve(load_spec_text(spec.replace("services:", defaults + "services:"), "bench.yaml"), "bench.yaml")
    minutely = resolve(load_spec_text(spec.replace("project: {name: bench}", "project: {name: bench}\n"
                                                   "defaults: {evaluation_interval: 1m, "
                                                   f"sloth_compatible: {str(args.sloth_compatible).lower()}}}"),
                                      "bench.yaml"))

    def shapes(m: Model) -> dict[str, str]:
        groups = {shape: slo.rule_groups(m, m.service("api"), naive=shape == "naive") for shape in ("obsgen", "naive")}
        if args.sloth_compatible:  # the naive shape is Sloth's: its series need no copies
            groups["naive"] = [{**g, "rules": [r for r in g["rules"] if "sloth_id" not in r.get("labels", {})]}
                               for g in groups["naive"]]
        groups["shared"] = shared_part(groups["obsgen"])
        groups["no rules"] = []
        return {shape: dump_yaml({"groups": g}) for shape, g in groups.items()}

    svc = model.service("api")
    if args.by_groups:  # the proof that one route pages alone among the others, at full size
        groups = [(model, g) for s in svc.slos
                  for g in proofs(model, svc, s, instances=args.instances, groups_of_by=args.by_groups)
                  if " per route: " in g["name"]]
    else:
        # not the proof of Sloth's copies: the naive shape has none to prove, and no alert decision rests on it
        groups = [(model, g) for s in svc.slos for g in proofs(model, svc, s, instances=args.instances)
                  if "Sloth's series" not in g["name"]]
    if not (args.no_steady_state or args.types):
        groups += [(minutely, g) for g in steady_state(minutely, args.instances, max(args.by_groups, 1))]
    rules = {id(model): shapes(model), id(minutely): shapes(minutely)}
    per = f"by: [route], {args.by_groups} routes × " if args.by_groups else ""
    per = ("sloth_compatible, " if args.sloth_compatible else "") + per
    print(f"SLO rules of one service ({len(svc.slos)} SLOs), {per}{args.instances} instances × good/bad series, "
          f"evaluation every {model.evaluation_interval}; promtool {tool}")
    print("CPU seconds of `promtool test rules` per rule set; `no rules` is promtool loading the input and "
          "checking the assertions, which no rule set pays for")
    print(f"{'scenario':<44} {'decisions':>9} {'obsgen':>7} {'naive':>7} {'shared':>7} {'no rules':>8} "
          f"{'ratio':>6} {'rules':>6} {'windows':>7}")
    shapes_measured = ("obsgen", "naive", "shared", "no rules")
    totals = dict.fromkeys(shapes_measured, 0.0)
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for m, group in groups:
            held, cpu = {}, {}
            for shape in shapes_measured:
                runs = [run_group(tool, Path(tmp), m, rules[id(m)][shape], group) for _ in range(args.repeat)]
                held[shape], cpu[shape] = all(r[0] for r in runs), min(r[1] for r in runs)
                totals[shape] += cpu[shape]
            same &= held["obsgen"] and held["naive"]
            decisions = "same" if held["obsgen"] and held["naive"] else \
                f"{'held' if held['obsgen'] else 'FAILED'}/{'held' if held['naive'] else 'FAILED'}"
            print(f"{group['name'][:42]:<44} {decisions:>9} " + row(cpu))
    print(f"{'total':<44} {'':>9} " + row(totals))
    print("alert decisions identical: every scenario's assertions hold for both shapes" if same
          else "alert decisions DIFFER between the shapes")
    o, n, sh, base = (totals[k] for k in shapes_measured)
    print(verdict("rule evaluation (CPU above `no rules`)", (o - base) / (n - base)))
    print(verdict("whole promtool run (rules + loading the input)", o / n))
    print(verdict("windows alone (CPU above `shared`)", (o - sh) / (n - sh)))


def row(cpu: dict[str, float]) -> str:
    """CPU columns, then obsgen/naive over the whole run, over the rules alone and over the windows alone."""
    o, n, sh, base = cpu["obsgen"], cpu["naive"], cpu["shared"], cpu["no rules"]
    return (f"{o:>6.2f}s {n:>6.2f}s {sh:>6.2f}s {base:>7.2f}s {o / n:>6.2f} "
            f"{(o - base) / max(n - base, 1e-9):>6.2f} {(o - sh) / max(n - sh, 1e-9):>7.2f}")

if __name__ == "__main__":
    main()
