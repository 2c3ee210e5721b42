"""The output's own README: what was generated, from which spec, how to run it."""

from __future__ import annotations

from collections import Counter

from .. import __version__
from ..model import Model
from ..slo_proofs import proof_gap
from . import templates
from .compose import secret_keys

PATH = "README.md"


def render(model: Model, files: dict[str, str]) -> dict[str, str]:
    """Unlike the other families this one reads what they rendered, so it is called last."""
    folders = Counter(path.rsplit("/", 1)[0] + "/" if "/" in path else "./" for path in files)
    text = templates.render(
        "output-README.md.j2",
        version=__version__,
        project=model.project,
        environment=model.environment,
        source=model.source,
        services=model.services,
        files=files,
        folders=sorted(folders.items()),
        deploy=model.stack.deploy,
        secrets=sorted(secret_keys(model)),
        unproven=[(svc.name, slo.name, gap) for svc in model.services for slo in svc.slos
                  if (gap := proof_gap(svc, slo)) is not None],
    )
    return {PATH: text}
