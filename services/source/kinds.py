"""Every source kind sluice-source reconciles, by kind name."""

from __future__ import annotations

from services.source.artifactgenerator import ARTIFACT_GENERATOR
from services.source.bucket import BUCKET
from services.source.gitrepository import GIT_REPOSITORY
from services.source.helmchart import HELM_CHART
from services.source.helmrepository import HELM_REPOSITORY
from services.source.ocirepository import OCI_REPOSITORY
from services.source.reconcile import SourceKind

__all__ = ["SOURCE_KINDS"]

# One line per kind; each kind's module holds its produce step.
SOURCE_KINDS: dict[str, SourceKind] = {
    source.kind: source
    for source in [
        GIT_REPOSITORY,
        ARTIFACT_GENERATOR,
        HELM_CHART,
        BUCKET,
        HELM_REPOSITORY,
        OCI_REPOSITORY,
    ]
}
