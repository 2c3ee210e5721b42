#!/usr/bin/env python3
"""Regenerate `obsgen/crds/*.json.gz` from prometheus-operator's CustomResourceDefinitions.

    python scripts/vendor-crds.py [--src ../shared/schemas/prometheus-operator] [--out obsgen/crds]

Each `monitoring.coreos.com_<plural>.yaml` becomes `<plural>.monitoring.coreos.com.json.gz`: the
`openAPIV3Schema` of every version, without descriptions, as sorted compact JSON, gzipped without a
timestamp, so the same CRDs always give the same bytes (a test compares them with the sources).
Update `obsgen/crds/README.md` with the source revision when the CRDs change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from obsgen.crds import encode_entry, vendored_entry  # noqa: E402

# libyaml when present (the CRDs are 4 MB of YAML); a bare `=` (the CRDs' matchType enums) is a string
Loader = type("Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})
Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: str(loader.construct_scalar(node)))

DEFAULT_SRC = ROOT.parent / "shared/schemas/prometheus-operator"
DEFAULT_OUT = ROOT / "obsgen/crds"


def vendor(src: Path, out: Path) -> list[Path]:
    """Write one file per CRD in `src` into `out`, remove stale ones; returns the files written."""
    sources = sorted(src.glob("monitoring.coreos.com_*.yaml"))
    if not sources:
        raise SystemExit(f"no monitoring.coreos.com_*.yaml CRDs in {src}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        crd = yaml.load(path.read_text("utf-8"), Loader=Loader)
        target = out / f"{crd['metadata']['name']}.json.gz"
        target.write_bytes(encode_entry(vendored_entry(crd)))
        written.append(target)
    for stale in set(out.glob("*.json.gz")) - set(written):
        stale.unlink()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of the CRD YAML files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the compact schemas go")
    args = parser.parse_args()
    for path in vendor(args.src, args.out):
        print(f"{path.stat().st_size:>8}  {path}")


if __name__ == "__main__":
    main()
