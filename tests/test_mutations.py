"""Mutation fuzz as a standing test: every example spec, 200 seeded mutants each (`make fuzz` also takes
the whole fixture specs), one or two fields changed by the value's type and meaning. Every mutant is refused with messages
located at `file:line:col`, or renders output that promtool (config, rules with the linter fatal, the
generated tests), amtool and kustomize accept. `make fuzz` runs more; tests/fuzzing.py does the work.

The other tests here show the fuzzer can fail: a crash, an unlocated message and output a tool refuses are
each reported, and with validate's PromQL check switched off the mutants of expressions fail in promtool.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fuzzing
import pytest

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import Spec, SpecError, load_spec_text
from obsgen.spec.errors import Problem

PER_EXAMPLE = 200  # the suite's share of CI time; `make fuzz` runs 2,000 per spec
SEED = "ci"
SPECS = [s for s in fuzzing.fuzz_specs() if s.parent.name == "examples"]  # `make fuzz` adds the fixture specs
QUICKSTART = next(s for s in SPECS if s.stem == "quickstart")


@pytest.fixture(autouse=True)
def _tools() -> None:
    from conftest import require_tool

    for tool in ("promtool", "amtool", "kubectl"):
        require_tool(tool)


def _print(request: pytest.FixtureRequest, text: str) -> None:
    # the counts belong in the test's output, also under -q and from an xdist worker: conftest's
    # pytest_terminal_summary prints every test's "summary" property at the end of the run
    request.node.user_properties.append(("summary", text))


def test_every_mutant_is_refused_at_its_place_or_accepted_by_the_tools(tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    report = fuzzing.fuzz(SPECS, PER_EXAMPLE, SEED, tmp_path, jobs=2)
    _print(request, report.summary())
    assert len(report.counts) == len(SPECS) >= 6
    assert report.total == PER_EXAMPLE * len(SPECS)
    for name, count in report.counts.items():
        # both kinds, in numbers: a fuzzer whose mutants all fail to load (or none) proves little
        assert count.refused >= PER_EXAMPLE // 10 and count.rendered >= PER_EXAMPLE // 10, (name, count)
    assert sum(report.distinct.values()) > report.total // 2, report.distinct  # the tools read the output
    assert not report.failures, "\n".join(f.describe() for f in report.failures[:20])


def test_mutants_are_reproducible_from_their_seed() -> None:
    first = fuzzing.mutants(QUICKSTART, 40, SEED)
    assert [m.text for m in first] == [m.text for m in fuzzing.mutants(QUICKSTART, 40, SEED)]
    assert len({m.text for m in first}) == 40
    other = fuzzing.mutants(QUICKSTART, 40, "another seed")
    assert {m.text for m in first} != {m.text for m in other}


def _fuzz_quickstart(tmp_path: Path, count: int = 30, load: Callable[[str, str], Spec] | None = None,
                     render: Callable[[Spec, str], dict[str, str]] | None = None) -> fuzzing.Report:
    return fuzzing.fuzz([QUICKSTART], count, SEED, tmp_path, jobs=1, load=load, render=render)


def _render(spec: Spec, source: str) -> dict[str, str]:
    return render_all(resolve(spec, source))


def test_a_crash_is_reported(tmp_path: Path) -> None:
    def render(spec: Spec, source: str) -> dict[str, str]:
        raise KeyError("boom")
    report = _fuzz_quickstart(tmp_path, 10, render=render)
    crashes = [f for f in report.failures if f.kind == "crash"]
    assert crashes and "KeyError" in crashes[0].message


def test_a_message_without_its_place_is_reported(tmp_path: Path) -> None:
    def load(text: str, source: str) -> Spec:
        raise SpecError(source, [Problem(("services",), "something is wrong")])
    report = _fuzz_quickstart(tmp_path, 5, load=load)
    assert report.counts[QUICKSTART.name].failed == 5, report.summary()
    assert {f.kind for f in report.failures} == {"unlocated error"}


CORRUPT = {  # a file of the output, made into one its tool refuses, and the tool
    "prometheus/prometheus.yml": ("promtool check config", lambda t: t + "bogus_key: 1\n"),
    "prometheus/rules/checkout.yml": ("promtool check rules", lambda t: t + "  - alert: Broken\n    expr: 'x}y'\n"),
    "prometheus/tests/checkout.test.yml": ("promtool test rules",
                                           lambda t: t.replace("exp_alerts: []", "exp_alerts: [{}]", 1)),
    "alertmanager/alertmanager.yml": ("amtool check-config", lambda t: t.replace("receivers:", "receivers:\n- {}", 1)),
    "kubernetes/kustomization.yaml": ("kubectl kustomize", lambda t: t + "resources: [missing.yaml]\n"),
}


def test_output_each_tool_refuses_is_reported(tmp_path: Path) -> None:
    def render(spec: Spec, source: str) -> dict[str, str]:
        files = _render(spec, source)
        for path, (_, corrupt) in CORRUPT.items():
            assert path in files, path
            files[path] = corrupt(files[path])
        return files
    # the mutant read as the unmutated spec on Kubernetes too: it renders, and its only faults are those put in
    text = QUICKSTART.read_text().replace("deploy: [compose]", "deploy: [compose, kubernetes]")
    report = fuzzing.fuzz([QUICKSTART], 1, SEED, tmp_path, jobs=1, render=render,
                          load=lambda _mutant, source: load_spec_text(text, source))
    assert {f.kind for f in report.failures} == {tool for tool, _ in CORRUPT.values()}, report.summary()


def test_with_the_promql_check_off_mutated_expressions_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            request: pytest.FixtureRequest) -> None:
    """What validate's PromQL check is for: without it, broken expressions get through and promtool refuses
    the rules rendered from them."""
    import obsgen.spec.validate as validate

    monkeypatch.setattr(validate, "expression_problems", lambda spec, notes=None: iter(()))
    report = fuzzing.fuzz([QUICKSTART], 16, SEED, tmp_path, jobs=1, where=fuzzing.is_expression)
    _print(request, "with the PromQL check off: " + report.summary_line())
    assert report.counts[QUICKSTART.name].failed >= 4, report.summary()
