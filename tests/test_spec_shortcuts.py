"""Loading's shortcuts give what the long way gives: the YAML tags of the spec loader, the alert names,
the thresholds resolve() works out once for every service writing the same levels."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from obsgen import model, naming
from obsgen.spec import SpecError, load_spec, load_spec_text
from obsgen.spec import load as spec_load

QUICKSTART = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())

# Scalars of every kind PyYAML's resolver tells apart, plain and quoted
SCALARS = ["", "~", "null", "Null", "NULL", "true", "True", "yes", "no", "on", "Off", "y", "n", "1", "-1", "+1",
           "0x1f", "0o17", "017", "1_000", "1.5", "-.5", ".inf", "-.Inf", ".nan", "1e3", "6.8523015e+5", "190:20:30",
           "2024-01-01", "2024-01-01T10:00:00Z", "=", "<<", "svc-0000", "250ms", "0.5%", "team-0", "/var/log/x",
           "!odd", "&x", "*y", "tail", "orange", "nothing", "~x", "Yesterday", "off-by-one"]


def _tags(loader: type[Any], text: str) -> list[str]:
    node = loader(text).get_single_node()
    found: list[str] = []

    def walk(n: yaml.Node) -> None:
        found.append(n.tag)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                walk(k)
                walk(v)
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                walk(item)

    walk(node)
    return found


@pytest.mark.parametrize("style", ["plain", "single", "double"])
def test_the_spec_loader_tags_every_scalar_as_pyyaml_does(style: str) -> None:
    quote = {"plain": "", "single": "'", "double": '"'}[style]
    items = [s for s in SCALARS if style != "plain" or s not in ("!odd", "&x", "*y", "=")]  # not plain YAML
    text = "\n".join(f"k{i}: {quote}{s}{quote}" for i, s in enumerate(items) if s or style != "plain")
    text += "\nlist: [" + ", ".join(f"{quote}{s}{quote}" for s in items if s) + "]\nmap: {a: {b: [1]}}\n"
    assert _tags(spec_load._SpecLoader, text) == _tags(yaml.SafeLoader, text)


@pytest.mark.parametrize("service", ["api", "card-authorizer", "a-very-long-service-name-for-payments-and-more",
                                     "x" * 45, "batch_job_2"])
@pytest.mark.parametrize("middle", ["", "latency_p99", "availability", "a-long-objective-name-for-checkout"])
def test_a_derived_name_is_the_words_joined_or_shortened(service: str, middle: str) -> None:
    naming.derived_alert_name.cache_clear()
    name = naming.derived_alert_name(service, middle, "BudgetBurn")
    full = "".join(naming._words(service) + naming._words(middle)) + "BudgetBurn"
    if len(full) <= naming.MAX_ALERT_NAME:
        assert name == full
    else:
        assert len(name) <= naming.MAX_ALERT_NAME and name != full


def _spec_with_levels(levels: list[dict[str, Any]]) -> Any:
    data: dict[str, Any] = {k: v for k, v in copy.deepcopy(QUICKSTART).items() if k != "routing"}
    data["routing"] = {"default": next(iter(data["channels"]))}
    data["services"] = [{"name": f"svc-{i}", "scrape": {"static": [f"svc-{i}:8080"]}, "thresholds": [written]}
                        for i, written in enumerate(levels)]
    return load_spec_text(yaml.safe_dump(data, sort_keys=False))


def test_thresholds_equal_but_written_apart_resolve_apart() -> None:
    """1 and 1.0 (and 0.0 and -0.0) are equal numbers that parse and show apart: resolve() must not hand one
    service's levels to another."""
    levels = [
        {"name": "Svc0Queue", "expr": "queue_depth", "warning": 1, "critical": 2},
        {"name": "Svc1Queue", "expr": "queue_depth", "warning": 1.0, "critical": 2},
        {"name": "Svc2Queue", "expr": "queue_depth", "warning": "1", "critical": 2},
        {"name": "Svc3Queue", "expr": "queue_depth", "target": 0.0, "warning": 1, "critical": 2},
        {"name": "Svc4Queue", "expr": "queue_depth", "target": -0.0, "warning": 1, "critical": 2},
        {"indicator": "error_rate", "warning": "0.5%", "critical": "1%"},
        {"indicator": "error_rate", "warning": "0.5%", "critical": "1%", "for": "10m"},
        {"indicator": "error_rate", "warning": "0.5%", "critical": "1%", "for": {"warning": "15m"}},
        {"indicator": "request_rate", "warning": 10, "critical": 5},
        {"indicator": "request_rate", "warning": 10, "critical": 5, "direction": "below"},
    ]
    spec = _spec_with_levels(levels)
    resolved = model.resolve(spec)
    alone = [model._service(spec, svc) for svc in spec.services]  # each service without the memo
    assert [repr(s.thresholds) for s in resolved.services] == [repr(s.thresholds) for s in alone]
    targets = [repr(s.thresholds[0].target) for s in resolved.services[3:5]]
    assert targets == ["Decimal('0.0')", "Decimal('-0.0')"]
    warnings = [repr(s.thresholds[0].warning) for s in resolved.services[:3]]
    assert warnings == ["Decimal('1')", "Decimal('1.0')", "Decimal('1')"]


# YAML that loads, or is refused, in every way the loader tells apart
DOCUMENTS = [
    "a: x\nb: [1, 2.5, true, null, '3']\nc: {d: 2024-01-01, e: ~}\n",
    "a: x\na: y\n",  # a duplicate key
    "a: x\n1: y\n",  # a key other than a string
    "a: x\ntrue: y\nnull: z\n",
    "a: &x {b: 1}\nc: *x\nd: *x\n",  # an alias, built at each use
    "a: &x [1, *x]\n",  # an alias that contains itself
    "a: {<<: {b: 1}, c: 2}\n",  # a merge key
    "a: !!python/name:os.system x\n",
    "a: !custom x\n",
    "a: !!binary aGVsbG8=\n",
    "a: 1" + "0" * 30 + "\n",  # too large a number
    "a: .nan\n",
    "a: .inf\n",
    "a: '\\u0007'\n".replace("'", '"'),  # a control character in a value
    'description: "tab\\tand\\nnewline"\n',  # where they are fine
    'summary: "a\\tb"\n',
    'name: "a\\tb"\n',
    '"k\\u0085ey": x\n',  # in a key
    "- a\n- b\n",  # not a mapping
    "just text\n",
    "a: " + "[" * 31 + "x" + "]" * 31 + "\n",  # 32 levels: fine
    "a: " + "[" * 32 + "x" + "]" * 32 + "\n",  # 33: too deep
    "a: " + "[" * 31 + "{k: v}" + "]" * 31 + "\n",
    "a: " + "[" * 30 + "{k: [v]}" + "]" * 30 + "\n",
    "a: [" + ", ".join(["x"] * 60) + "]\n",  # too many nodes below (MAX_NODES is lowered)
    "a: {" + ", ".join(f"k{i}: v" for i in range(60)) + "}\n",
    "a: &x [x, x, x, x, x, x, x, x]\nb: [*x, *x, *x, *x, *x, *x, *x, *x]\n",  # aliases that expand too far
]


def _outcome(text: str, places: bool) -> tuple[Any, ...]:
    try:
        one = spec_load.load_text(text, "s.yaml", places)
    except spec_load.SpecError as e:
        return ("refused", e.lines())
    return ("loaded", one.data, [(p.path, p.message, p.mark) for p in one.problems],
            {path: (m.line, m.column) for path, m in one.marks.items()})


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_file_loaded_without_places_is_the_same_data_or_loaded_with_them(text: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_load, "MAX_NODES", 50)
    full = _outcome(text, True)
    quick = _outcome(text, False)
    if quick[0] == "loaded" and not quick[3]:  # built without places: only a file without problems
        assert full[0] == "loaded" and not full[2], full
        assert quick[1] == full[1] and quick[2] == []
    else:  # anything else: exactly what the loader with places says
        assert quick == full


@pytest.mark.parametrize("as_folder", [False, True])
def test_a_spec_with_a_problem_is_told_at_its_place_though_first_loaded_without(tmp_path: Path,
                                                                              as_folder: bool) -> None:
    data = copy.deepcopy(QUICKSTART)
    data["services"][1]["class"] = "no-such-class"
    text = yaml.safe_dump(data, sort_keys=False)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "no-such-class" in t)
    if as_folder:
        services = {"services": data.pop("services")}
        (tmp_path / "project.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        text = yaml.safe_dump(services, sort_keys=False)
        line = next(i for i, t in enumerate(text.splitlines(), 1) if "no-such-class" in t)
        (tmp_path / "services.yaml").write_text(text)
        path, name = tmp_path, tmp_path / "services.yaml"
    else:
        path = name = tmp_path / "spec.yaml"
        name.write_text(text)
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert any(f"{name}:{line}:" in problem and "unknown SLO class 'no-such-class'" in problem
               for problem in e.value.lines()), e.value.lines()


def test_services_of_a_class_get_its_slos_as_each_would_alone() -> None:
    data: dict[str, Any] = {k: v for k, v in copy.deepcopy(QUICKSTART).items() if k != "routing"}
    data["routing"] = {"default": next(iter(data["channels"]))}
    data["slo_classes"] = {"gold": {"availability": 99.9, "latency": {"objective": 99, "threshold": "250ms"}},
                           "bronze": {"availability": 99, "period": "7d", "by": ["route"]}}
    own = {"name": "availability", "objective": 99.5, "sli": {"type": "availability"}}
    data["services"] = [{"name": f"svc-{i}", "scrape": {"static": [f"svc-{i}:8080"]}, "class": cls,
                         **({"slos": [own]} if i == 4 else {})}
                        for i, cls in enumerate(["gold", "bronze", "gold", "bronze", "gold"])]
    spec = load_spec_text(yaml.safe_dump(data, sort_keys=False))
    resolved = model.resolve(spec)
    alone = [model._service(spec, svc) for svc in spec.services]
    assert [repr(s.slos) for s in resolved.services] == [repr(s.slos) for s in alone]
    assert [[(slo.name, str(slo.objective), slo.period) for slo in s.slos] for s in resolved.services[:2]] == [
        [("availability", "99.9", "30d"), ("latency", "99.0", "30d")], [("availability", "99.0", "7d")]]
    assert [str(slo.objective) for slo in resolved.services[4].slos] == ["99.5", "99.0"]


def test_an_slo_with_obsgens_tiers_alone_has_no_tier_problem_and_one_under_a_class_is_checked() -> None:
    from obsgen.spec import slo_tiers
    from obsgen.spec.models import DEFAULT_ALERTING, Spec

    # what slo_tiers.problems skips for an SLO without `alerting` nor a class's: the long way finds nothing
    for tier in slo_tiers.TIERS:
        assert list(slo_tiers._shape(getattr(DEFAULT_ALERTING, f"{tier}_alert"), (), [], "replica")) == []
    assert list(slo_tiers._severities(None, [DEFAULT_ALERTING], ())) == []
    # an SLO without `alerting` that replaces its class's is still held to the class's tiers
    data: dict[str, Any] = {k: v for k, v in copy.deepcopy(QUICKSTART).items() if k != "routing"}
    data["routing"] = {"default": next(iter(data["channels"]))}
    data["slo_classes"] = {"gold": {"availability": 99.9, "alerting": {"page_alert": {"severity": "warning"},
                                                                       "ticket_alert": {"severity": "critical"}}}}
    own = {"name": "availability", "objective": 99.5, "sli": {"type": "availability"}}
    data["services"] = [{"name": "svc-0", "scrape": {"static": ["svc-0:8080"]}, "class": "gold", "slos": [own]}]
    found = list(slo_tiers.problems(Spec.model_validate(data)))
    assert [path for path, _ in found] == [("services", 0, "slos", 0, "alerting", "ticket_alert", "severity")]
