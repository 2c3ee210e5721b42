"""Loading's shortcuts give what the long way gives: the YAML tags of the spec loader, the alert names,
the thresholds resolve() works out once for every service writing the same levels."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from conftest import ROOT

from obsgen import model, naming
from obsgen.spec import load as spec_load
from obsgen.spec import load_spec_text

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
