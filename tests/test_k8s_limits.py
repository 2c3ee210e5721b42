"""Kubernetes limits: every object obsgen's kustomization builds is one `kubectl apply` accepts, however large the spec.

Client-side apply copies the whole object into the `kubectl.kubernetes.io/last-applied-configuration`
annotation, and an object's annotations may hold 256 KiB (262144 bytes) in all; a ConfigMap holds at most
1 MiB. A 300-service spec (quickstart's services, cloned) makes an overview dashboard of several MiB: it
goes into ConfigMaps in parts, and the init container's own script joins them back, byte for byte.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool, run, write_tree

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.render.kubernetes import APPLY_ANNOTATION_LIMIT, PART
from obsgen.spec import load_spec_text


class BuiltLoader(yaml.CSafeLoader):
    """The C loader (the built tree is tens of MiB), reading kustomize's bare `=` (a matchType) as a string."""


BuiltLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: str(loader.construct_scalar(node)))

CONFIGMAP_LIMIT = 1024 * 1024
MARGIN = 0.9  # what obsgen writes stays this far under the limit: room for labels and annotations users add
SERVICES = 300


def big_spec(operator: bool = False) -> str:
    spec = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    services = []
    for i in range(SERVICES // len(spec["services"])):
        for base in spec["services"]:
            s = copy.deepcopy(base)
            s["name"] = name = f"{base['name']}{i}"
            for a in s.get("alerts", []):
                a["name"] = a["name"].replace("Checkout", f"Checkout{i}")
                a["expr"] = a["expr"].replace('job="checkout"', f'job="{name}"')
            for t in s.get("thresholds", []):
                if "name" in t:
                    t["name"] = t["name"].replace("Catalog", f"Catalog{i}")
            if "kubernetes" in s["scrape"]:
                s["scrape"]["kubernetes"]["pod_labels"] = {"app.kubernetes.io/name": name}
            else:
                s["scrape"]["static"] = [f"{name}:8080"]
            if "health" in s:
                s["health"]["http"] = f"http://{name}:8080/healthz"
            services.append(s)
    spec["services"] = services
    spec["stack"]["deploy"] = ["kubernetes"]
    if operator:
        spec["stack"]["kubernetes"] = {"prometheus_operator": True}
        spec["routing"]["quiet_hours"]["timezone"] = "UTC"  # the operator's time intervals have no zone
    return yaml.safe_dump(spec, sort_keys=False)


def apply_annotation_size(obj: dict[str, Any]) -> int:
    """Bytes of the last-applied annotation kubectl would write: the object's compact JSON, as Go's
    encoder writes it (<, > and & escaped as \\u003c and so on)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode()) + 5 * sum(text.count(c) for c in "<>&")


def k8s_expand(text: str) -> str:
    """Kubernetes' `$(VAR)` expansion with no variables defined: `$$` is `$`, the rest as written."""
    return re.sub(r"\$(\$|\([^)]*\))", lambda m: "$" if m.group(1) == "$" else m.group(0), text)


def built(tmp_path: Path, operator: bool) -> tuple[dict[str, str], list[dict[str, Any]]]:
    kubectl = require_tool("kubectl")
    files = render_all(resolve(load_spec_text(big_spec(operator), "big.yaml"), "big.yaml"))
    write_tree(tmp_path, {p: t for p, t in files.items() if p.startswith(("kubernetes/", "grafana/"))})
    proc = subprocess.run([kubectl, "kustomize", str(tmp_path / "kubernetes")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return files, [o for o in yaml.load_all(proc.stdout, Loader=BuiltLoader) if o]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[dict[str, Any]]]:
    return built(tmp_path_factory.mktemp("k8s"), operator=False)


@pytest.mark.parametrize("operator", [False, True], ids=["plain", "operator"])
def test_every_object_fits_kubectl_apply(operator: bool, plain: Any, tmp_path: Path) -> None:
    files, objects = plain if not operator else built(tmp_path, operator=True)
    assert len(json.dumps(files["grafana/dashboards/_overview.json"])) > APPLY_ANNOTATION_LIMIT  # splitting is needed
    for o in objects:
        assert apply_annotation_size(o) < APPLY_ANNOTATION_LIMIT * MARGIN, (o["kind"], o["metadata"]["name"])
        if o["kind"] == "ConfigMap":
            size = sum(len(v.encode()) for v in o.get("data", {}).values()) + sum(
                len(v) for v in o.get("binaryData", {}).values())
            assert size < CONFIGMAP_LIMIT * MARGIN, o["metadata"]["name"]


def test_the_init_container_joins_the_dashboards_back(plain: Any, tmp_path: Path) -> None:
    files, objects = plain
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    assert any(PART in key for data in maps.values() for key in data)
    grafana = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "grafana")
    pod = grafana["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert "emptyDir" in volumes["dashboards"] and mounts["dashboards"] == "/var/lib/grafana/dashboards"
    (init,) = pod["initContainers"]
    parts_volume = next(m["name"] for m in init["volumeMounts"] if m["mountPath"] == "/parts")
    parts = tmp_path / "parts"
    parts.mkdir()
    for source in volumes[parts_volume]["projected"]["sources"]:  # as the kubelet projects them
        for key, text in maps[source["configMap"]["name"]].items():
            (parts / key).write_text(text, "utf-8")
    joined = tmp_path / "joined"
    joined.mkdir()
    command = [k8s_expand(a) for a in init["command"]]
    assert command[-2:] == ["/parts", "/joined"]
    for _ in range(2):  # a restarted init container writes the same files
        proc = subprocess.run([*command[:-2], str(parts), str(joined)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    expected = {p.rsplit("/", 1)[1]: t for p, t in files.items() if p.startswith("grafana/dashboards/")}
    got = {p.name: p.read_text("utf-8") for p in joined.iterdir()}
    assert got.keys() == expected.keys()
    assert all(got[name] == expected[name] for name in expected)


def test_the_split_manifests_validate_strictly(plain: Any, tmp_path: Path) -> None:
    _, objects = plain
    kinds = {"Deployment", "StatefulSet", "DaemonSet"}
    manifest = tmp_path / "workloads.yaml"
    manifest.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] in kinds]))
    validate = require_tool("kubernetes-validate")
    result = run([validate, "--strict", "--quiet", str(manifest)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_apply_size_and_parts_agree_with_the_json_encoder() -> None:
    """The counted escapes (kept fast for the overview dashboard's million lines) give what Python's JSON
    encoder writes plus Go's HTML and line-separator escapes, and the cut is the one that measure gives."""
    import random

    from obsgen.render import kubernetes

    def reference(text: str) -> int:
        size = len(json.dumps(text, ensure_ascii=False).encode())
        return size + 5 * sum(text.count(c) for c in "<>&") + 3 * (text.count("\u2028") + text.count("\u2029"))

    def reference_parts(text: str, budget: int) -> list[str]:
        pieces: list[str] = []
        for line in text.splitlines(keepends=True):
            if reference(line) > budget:
                step = (budget - 2) // 6
                pieces += [line[i:i + step] for i in range(0, len(line), step)]
            else:
                pieces.append(line)
        out: list[str] = []
        size = budget + 1
        for piece in pieces:
            n = reference(piece)
            if size + n > budget:
                out.append("")
                size = 2
            out[-1] += piece
            size += n - 2
        return out

    rng = random.Random("apply-size")
    alphabet = [chr(i) for i in range(0x80)] + list("é€\u2028\u2029\U0001f600\x85\u00a0")
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        assert kubernetes.apply_size(text) == reference(text), repr(text)
        budget = rng.randint(20, 120)
        assert kubernetes.parts(text, budget) == reference_parts(text, budget), (text, budget)
    # lines as a dashboard's JSON has them (only "\n" ends them), where parts are found by stretches
    words = ['"expr": ', '"sum(rate(http_requests_total{job=\\"a\\"}[5m]))"', "<", "&", "é", "\t", " " * 8,
             "{", "}", ",", "0.99", '"title": "P99 latency"', "\U0001f600", "\\"]
    for _ in range(1500):
        lines = ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(0, 60))]
        text = "\n".join(lines) + rng.choice(["", "\n"])
        budget = rng.randint(24, 400)
        assert kubernetes.parts(text, budget) == reference_parts(text, budget), (text, budget)
