"""Where a HelmRelease's chart comes from: the HelmChart it owns, or the source its chartRef names.

``spec.chart`` is a template: as helm-controller does, sluice creates the
HelmChart ``<namespace>-<name>`` in the namespace of the template's sourceRef,
owned by the HelmRelease (deleted with it), and waits for the source service
to package the chart into its artifact. ``spec.chartRef`` names an
OCIRepository, HelmChart or ExternalArtifact whose artifact is the chart.

Either way the reconcile reads the artifact's URL and digest once; each cluster's
run fetches it through the worker's artifact cache (one download per revision
and worker, whatever the number of clusters) and finds the chart in it
(:func:`chart_root`): a packaged chart unpacks to ``<name>/Chart.yaml``, a
generated artifact may hold ``Chart.yaml`` at its root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.api.conditions import ARTIFACT_FAILED
from shared.api.helmrelease import HelmRelease
from shared.api.kinds import SOURCE_GROUP
from shared.keys import ObjectKey
from shared.reconcile import Waiting
from shared.scopes import resolve
from shared.store import Store
from shared.yaml import DocumentError, load

__all__ = [
    "ChartArtifact",
    "ChartError",
    "ChartMetadata",
    "chart_root",
    "chart_source_key",
    "helmchart_document",
    "read_artifact",
    "read_chart_metadata",
]


class ChartError(Exception):
    """The artifact holds no readable chart; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ChartArtifact:
    """The artifact that holds a HelmRelease's chart, as its source's status says."""

    source: ObjectKey
    revision: str
    url: str
    digest: str


@dataclass(frozen=True)
class ChartMetadata:
    """What Chart.yaml says of the chart."""

    name: str
    version: str
    app_version: str


def helmchart_document(hr: HelmRelease) -> dict[str, Any] | None:
    """The HelmChart ``spec.chart`` asks for, as stored; None with ``chartRef``."""
    template = hr.spec.chart
    if template is None:
        return None
    spec = template.spec
    body: dict[str, Any] = {
        "chart": spec.chart,
        "version": spec.version,
        "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
        # Flux: the template's interval, else the HelmRelease's.
        "interval": spec.interval or hr.spec.interval,
        "reconcileStrategy": spec.reconcile_strategy,
    }
    if spec.values_files:
        body["valuesFiles"] = list(spec.values_files)
    if spec.ignore_missing_values_files:
        body["ignoreMissingValuesFiles"] = True
    metadata: dict[str, Any] = {
        "name": hr.helm_chart_name,
        "namespace": hr.helm_chart_namespace,
    }
    if template.metadata is not None:
        if template.metadata.labels:
            metadata["labels"] = dict(template.metadata.labels)
        if template.metadata.annotations:
            metadata["annotations"] = dict(template.metadata.annotations)
    return {
        "apiVersion": f"{SOURCE_GROUP}/v1",
        "kind": "HelmChart",
        "metadata": metadata,
        "spec": body,
    }


def chart_source_key(hr: HelmRelease) -> ObjectKey:
    """The source object whose artifact is the chart: the owned HelmChart, or chartRef's."""
    if hr.spec.chart_ref is not None:
        ref = hr.spec.chart_ref
        return ObjectKey(ref.kind, ref.namespace or hr.namespace, ref.name)
    namespace = hr.helm_chart_namespace or hr.namespace
    return ObjectKey("HelmChart", namespace, hr.helm_chart_name)


def read_artifact(store: Store, ref: ObjectKey, *, scope: str, retry_after: float) -> ChartArtifact:
    """The chart's artifact from ``ref``'s status; Waiting while there is none for its spec.

    A HelmChart whose spec changed is waited for until it observed the change:
    the artifact it still shows is the old chart.
    """
    key, doc = resolve(store, ref, scope)
    where = f"{ref.kind} '{key.namespace}/{key.name}'"
    if doc is None:
        raise Waiting(ARTIFACT_FAILED, f"{where} not found", retry_after=retry_after)
    status = doc.get("status") or {}
    generation = doc["metadata"].get("generation")
    if ref.kind == "HelmChart" and status.get("observedGeneration") != generation:
        message = f"{where} is not ready: the chart of generation {generation} is being built"
        raise Waiting(ARTIFACT_FAILED, message, retry_after=retry_after)
    artifact = status.get("artifact")
    if not artifact:
        detail = _not_ready(status)
        message = f"{where} has no artifact yet{detail}; waiting for it"
        raise Waiting(ARTIFACT_FAILED, message, retry_after=retry_after)
    return ChartArtifact(
        key, str(artifact["revision"]), str(artifact["url"]), str(artifact["digest"])
    )


def _not_ready(status: dict[str, Any]) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "False":
            return f": {cond.get('message', '')}"
    return ""


def chart_root(unpacked: Path) -> Path:
    """The chart directory in an unpacked artifact: itself, or its one subdirectory."""
    if (unpacked / "Chart.yaml").is_file():
        return unpacked
    candidates = [d for d in unpacked.iterdir() if d.is_dir() and (d / "Chart.yaml").is_file()]
    if len(candidates) != 1:
        found = ", ".join(sorted(d.name for d in candidates)) or "none"
        raise ChartError(
            f"the artifact holds no single chart: expected Chart.yaml at its root or in one "
            f"directory (charts found: {found})"
        )
    return candidates[0]


def read_chart_metadata(chart: Path) -> ChartMetadata:
    """Chart.yaml's name, version and appVersion; ChartError when they are missing."""
    path = chart / "Chart.yaml"
    try:
        doc = load(path.read_bytes(), source=f"{chart.name}/Chart.yaml")
    except (OSError, DocumentError) as err:
        raise ChartError(f"{chart.name}/Chart.yaml: {err}") from err
    if not isinstance(doc, dict) or not doc.get("name") or not doc.get("version"):
        raise ChartError(f"{chart.name}/Chart.yaml: expected a mapping with name and version")
    return ChartMetadata(str(doc["name"]), str(doc["version"]), str(doc.get("appVersion") or ""))
