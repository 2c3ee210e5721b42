"""What prometheus-operator mode cannot carry, refused at its place (one of validate.py's checks).

In operator mode (`stack.kubernetes.prometheus_operator` with the kubernetes deploy target) obsgen renders
`Prometheus` and `Alertmanager` resources that carry every setting of the spec (render/operator_stack.py);
these are the settings the operator would silently change, and so are refused with the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import Path
from .models import NOT_IN_OPERATOR_MODE, Spec

# External labels prometheus-operator sets itself on every series and alert of a Prometheus resource
# (`prometheusExternalLabelName`, `replicaExternalLabelName`, at their defaults), over `externalLabels`.
OPERATOR_EXTERNAL_LABELS = {"prometheus": "<namespace>/<name of the Prometheus resource>",
                            "prometheus_replica": "the name of the pod"}
# Helm's release names (`helm install` refuses others): they are label values and name the release's objects.
HELM_RELEASE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
HELM_RELEASE_MAX = 53


def operator_mode(spec: Spec) -> bool:
    return spec.stack.kubernetes.prometheus_operator and "kubernetes" in spec.stack.deploy


def problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    if not operator_mode(spec):
        return
    for name, value in OPERATOR_EXTERNAL_LABELS.items():
        if name in spec.project.external_labels:
            yield ("project", "external_labels", name), (
                f"prometheus-operator sets the external label {name!r} itself ({value}) and replaces this one, "
                "so the alerts and remote-written series would not carry it; give the label another name")
    for name, ch in spec.channels.items():
        if ch.type in NOT_IN_OPERATOR_MODE:
            yield ("channels", name, "type"), (
                f"prometheus-operator's AlertmanagerConfig has no {ch.type} receiver, so this channel cannot be "
                "rendered in operator mode; use another channel type here, or deploy without "
                "`stack.kubernetes.prometheus_operator`")
    release = spec.stack.kubernetes.release
    if len(release) > HELM_RELEASE_MAX or not HELM_RELEASE_RE.match(release):
        yield ("stack", "kubernetes", "release"), (
            f"{release!r} is not a Helm release name (lowercase letters, digits, - and ., starting and ending "
            f"with a letter or digit, at most {HELM_RELEASE_MAX} characters): it selects the release's "
            "node-exporter by its labels")
