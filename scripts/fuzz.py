"""Mutation fuzz of the example specs, as many mutants as asked (`make fuzz`; tests/fuzzing.py does the work).

    scripts/fuzz.py --per-example 2000 --seed 7            # every example spec, 2,000 mutants each
    scripts/fuzz.py --per-example 300 --spec quickstart    # one spec
    scripts/fuzz.py --seed 7 --show quickstart#17          # print one mutant's spec and what changed

Prints the counts, then every failure with its seed, the mutated path, the old and new value and the tool's
message; `--report FILE` writes them grouped by tool and mutated path as Markdown. Exits 1 on a failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fuzzing  # noqa: E402 - tests/ is put on the path just above


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-example", type=int, default=300, help="mutants of each spec (default 300)")
    parser.add_argument("--seed", default="1", help="the same seed gives the same mutants (default 1)")
    parser.add_argument("--spec", action="append", default=[],
                        help="only this spec (its file name without .yaml); repeatable")
    parser.add_argument("--jobs", type=int, default=2, help="tool calls at a time (default 2)")
    parser.add_argument("--report", type=Path, help="write the failures, grouped, as Markdown")
    parser.add_argument("--keep", type=Path, help="keep the files the tools read in this folder")
    parser.add_argument("--show", metavar="SPEC#N", help="print mutant N of SPEC and exit")
    args = parser.parse_args(argv)

    specs = [s for s in fuzzing.fuzz_specs() if not args.spec or s.stem in args.spec]
    if not specs:
        parser.error(f"no spec named {', '.join(args.spec)}")
    if args.show:
        stem, _, number = args.show.partition("#")
        spec = next((s for s in fuzzing.fuzz_specs() if s.stem == stem), None)
        if spec is None or not number.isdigit():
            parser.error(f"--show wants SPEC#N, e.g. quickstart#17 (got {args.show!r})")
        mutant = fuzzing.mutants(spec, int(number) + 1, args.seed)[int(number)]
        print(f"# {mutant.id}, seed {mutant.seed!r}: {mutant.describe()}\n{mutant.text}", end="")
        return 0

    with tempfile.TemporaryDirectory(prefix="obsgen-fuzz-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            report = fuzzing.fuzz(specs, args.per_example, args.seed, work, jobs=args.jobs,
                                  progress=lambda line: print(line, flush=True))
        except RuntimeError as e:  # a tool missing
            print(f"fuzz: {e}", file=sys.stderr)
            return 2
    print(report.summary())
    for failure in report.failures:
        print(failure.describe())
    if args.report:
        args.report.write_text(fuzzing.markdown(report), "utf-8")
        print(f"wrote {args.report}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
