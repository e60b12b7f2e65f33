"""Every source kind sluice-source reconciles, by kind name."""

from __future__ import annotations

from services.source.bucket.bucket import BUCKET
from services.source.generator.artifactgenerator import ARTIFACT_GENERATOR
from services.source.git.gitrepository import GIT_REPOSITORY
from services.source.helm.helmchart import HELM_CHART
from services.source.helm.helmrepository import HELM_REPOSITORY
from services.source.oci.ocirepository import OCI_REPOSITORY
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
