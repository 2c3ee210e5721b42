"""prometheus-operator's custom resources checked as the cluster checks them, offline.

The CRD schemas (`spec.versions[].schema.openAPIV3Schema` of each CustomResourceDefinition) are vendored
under `obsgen/crds/` as gzipped compact JSON by `scripts/vendor-crds.py` (source and licence in
`obsgen/crds/README.md`), so `obsgen check` needs no network and no checkout of the operator.

`check_custom_resources` validates every `monitoring.coreos.com` object with jsonschema the way the API
server does under strict field validation (`kubectl apply --validate=strict`, the default of server-side
apply): an unknown field is an error, not silently pruned. Two things the schema alone does not say are
added: the CEL rules (`x-kubernetes-validations`) the CRDs carry are evaluated where obsgen knows them
(an object reaching a rule it does not know is reported `skipped`, never `passed`), and the child routes
of an AlertmanagerConfig, which the CRD stores as schemaless JSON, are held to the route schema, as the
operator decodes them (strictly, `DisallowUnknownFields`) before it builds the Alertmanager config.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from .check_result import Result

GROUP = "monitoring.coreos.com"
TOOL = "CRD schemas"
Obj = dict[str, Any]


class Loader(yaml.SafeLoader):
    """YAML 1.1 tags a bare `=` (kustomize's output of a matchType, the CRDs' enums) as `value`: a string."""


def _value_as_str(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


Loader.add_constructor("tag:yaml.org,2002:value", _value_as_str)


# --------------------------------------------------------------------------- vendored schemas


def compact_schema(schema: Any) -> Any:
    """A schema without its `description`s (nine tenths of the CRDs' bytes), everything it validates kept.

    Only the `description` keyword goes: a property *named* description (PagerDuty's, Opsgenie's) stays.
    """
    if isinstance(schema, list):
        return [compact_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: compact_schema(s) for name, s in value.items()}
        else:
            out[key] = compact_schema(value)
    return out


def vendored_entry(crd: Obj) -> Obj:
    """What `scripts/vendor-crds.py` stores of one CustomResourceDefinition."""
    return {
        "name": crd["metadata"]["name"],
        "group": crd["spec"]["group"],
        "kind": crd["spec"]["names"]["kind"],
        "operator_version": crd["metadata"].get("annotations", {}).get("operator.prometheus.io/version", ""),
        "versions": {v["name"]: compact_schema(v["schema"]["openAPIV3Schema"]) for v in crd["spec"]["versions"]},
    }


def encode_entry(entry: Obj) -> bytes:
    """Deterministic bytes: sorted compact JSON, gzip without a timestamp or file name."""
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


@cache
def vendored() -> dict[tuple[str, str], Obj]:
    """(apiVersion, kind) -> openAPIV3Schema of every vendored CRD version."""
    out: dict[tuple[str, str], Obj] = {}
    folder = resources.files("obsgen").joinpath("crds")
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json.gz"):
            entry = json.loads(gzip.decompress(item.read_bytes()))
            for version, schema in entry["versions"].items():
                out[(f"{entry['group']}/{version}", entry["kind"])] = schema
    return out


def operator_version() -> str:
    """The prometheus-operator release the vendored schemas come from."""
    folder = resources.files("obsgen").joinpath("crds")
    versions = {json.loads(gzip.decompress(p.read_bytes()))["operator_version"]
                for p in folder.iterdir() if p.name.endswith(".json.gz")}
    return ", ".join(sorted(versions))


# --------------------------------------------------------------------------- the API server's rules


def strict(schema: Any) -> Any:
    """The API server's strict field validation: unknown fields are errors, not silently pruned."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: ({n: strict(s) for n, s in v.items()} if k in ("properties", "definitions") else strict(v))
           for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def go_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    """`pattern` with Go's inline `(?i)` anywhere (Python only accepts global flags at the start)."""
    if not isinstance(instance, str):
        return
    if "(?i)" in pattern:
        found = re.search(pattern.replace("(?i)", ""), instance, re.IGNORECASE)
    else:
        found = re.search(pattern, instance)
    if not found:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": go_pattern})


def _with_typed_child_routes(schema: Obj) -> Obj:
    """AlertmanagerConfig: child routes (schemaless JSON in the CRD) held to the route's own schema."""
    schema = copy.deepcopy(schema)
    spec = schema.get("properties", {}).get("spec", {}).get("properties", {})
    route = spec.get("route")
    if route is None:
        return schema
    route["properties"]["routes"] = {"type": "array", "items": {"$ref": "#/definitions/route"}}
    schema["definitions"] = {"route": route}
    spec["route"] = {"$ref": "#/definitions/route"}
    return schema


@cache
def _validator(api_version: str, kind: str) -> Any | None:
    schema = vendored().get((api_version, kind))
    if schema is None:
        return None
    if kind == "AlertmanagerConfig":
        schema = _with_typed_child_routes(schema)
    return Validator(strict(schema))


# The CEL rules the vendored CRDs carry, as Python: rule text -> predicate on the object it sits on.
_DAEMONSET_RULE = re.compile(r"^!\(has\(self\.mode\) && self\.mode == 'DaemonSet' && has\(self\.(\w+)\)\)$")


def _shards_cover_topology(s: Obj) -> bool:
    strategy = s.get("shardingStrategy") or {}
    values = (strategy.get("topology") or {}).get("values") or []
    if strategy.get("mode") != "Topology" or not values:
        return True
    return int(s.get("shards", 1)) >= len(values)


CEL_RULES: dict[str, Callable[[Obj], bool]] = {
    "!has(self.externalId) || has(self.roleArn)": lambda s: "externalId" not in s or "roleArn" in s,
    "!(self.type != 'RollingUpdate' && has(self.rollingUpdate))":
        lambda s: not (s.get("type") != "RollingUpdate" and "rollingUpdate" in s),
    "!has(self.topology) || (has(self.mode) && self.mode == 'Topology')":
        lambda s: "topology" not in s or s.get("mode") == "Topology",
    "[has(self.basicAuth), has(self.authorization), has(self.oauth2)].filter(x, x).size() <= 1":
        lambda s: sum(k in s for k in ("basicAuth", "authorization", "oauth2")) <= 1,
    "!(has(self.mode) && self.mode == 'DaemonSet' && has(self.shards) && self.shards > 1)":
        lambda s: not (s.get("mode") == "DaemonSet" and int(s.get("shards", 1)) > 1),
    "!has(self.shardingStrategy) || !has(self.shardingStrategy.mode) || self.shardingStrategy.mode != 'Topology' "
    "|| !has(self.shardingStrategy.topology) || !has(self.shardingStrategy.topology.values) "
    "|| self.shardingStrategy.topology.values.size() == 0 "
    "|| (has(self.shards) ? self.shards : 1) >= self.shardingStrategy.topology.values.size()": _shards_cover_topology,
}


def _cel(rule: str) -> Callable[[Obj], bool] | None:
    if rule in CEL_RULES:
        return CEL_RULES[rule]
    m = _DAEMONSET_RULE.match(rule)
    if m:
        field = m.group(1)
        return lambda s: not (s.get("mode") == "DaemonSet" and field in s)
    return None


def _cel_problems(schema: Any, instance: Any, path: str) -> Iterator[tuple[str, str, bool]]:
    """(path, message, evaluated) for every CEL rule on a node the object has; failed or unknown rules only."""
    if not isinstance(schema, dict):
        return
    if isinstance(instance, dict):
        for rule in schema.get("x-kubernetes-validations", []):
            check = _cel(rule["rule"])
            if check is None:
                yield path, f"CEL rule not evaluated by obsgen: {rule['rule']}", False
            elif not check(instance):
                yield path, rule.get("message", rule["rule"]), True
        for name, sub in schema.get("properties", {}).items():
            if name in instance:
                yield from _cel_problems(sub, instance[name], f"{path}.{name}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            yield from _cel_problems(schema["items"], item, f"{path}[{i}]")


# --------------------------------------------------------------------------- the check


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name', '?')}"


def object_problems(obj: Obj) -> tuple[list[str], list[str]] | None:
    """(errors, unchecked) of one custom resource; None when no vendored schema knows its kind."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    validator = _validator(api_version, kind)
    if validator is None:
        return None
    errors = [f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
              for e in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])]
    unchecked: list[str] = []
    for path, message, evaluated in _cel_problems(vendored()[(api_version, kind)], obj, ""):
        (errors if evaluated else unchecked).append(f"{path.lstrip('.') or '(top level)'}: {message}")
    return errors, unchecked


def check_custom_resources(objects: list[Obj]) -> list[Result]:
    """One result per kind of `monitoring.coreos.com` object: passed, failed (each problem named) or skipped."""
    by_kind: dict[tuple[str, str], list[Obj]] = {}
    for obj in objects:
        api_version = str(obj.get("apiVersion", ""))
        if api_version.split("/")[0] == GROUP:
            by_kind.setdefault((api_version, str(obj.get("kind"))), []).append(obj)
    results = []
    for (api_version, kind), objs in sorted(by_kind.items()):
        target = f"{kind} {api_version} ({len(objs)} object{'s' * (len(objs) != 1)})"
        failures: list[str] = []
        unchecked: list[str] = []
        for obj in objs:
            found = object_problems(obj)
            if found is None:
                known = ", ".join(sorted(f"{a} {k}" for a, k in vendored()))
                unchecked.append(f"no vendored CRD schema for {api_version} {kind} (known: {known})")
                break  # the same for every object of the kind
            errors, not_evaluated = found
            failures += [f"{_name(obj)} {e}" for e in errors]
            unchecked += [f"{_name(obj)} {u}" for u in not_evaluated]
        if failures:
            results.append(Result(TOOL, target, "failed", "\n".join(failures + unchecked)))
        elif unchecked:
            results.append(Result(TOOL, target, "skipped", "\n".join(unchecked)))
        else:
            results.append(Result(TOOL, target, "passed",
                                  f"strict field validation against prometheus-operator v{operator_version()}"))
    return results
