"""ExternalArtifact (``source.toolkit.fluxcd.io/v1``): an artifact another producer stores.

Flux 2.7's API for artifacts not made by source-controller (FLUX-API §2.6):
the spec only names the producing object; the producer writes
``status.artifact`` (url, digest, revision) and a Ready condition, and
Kustomizations (and HelmReleases) consume it as any source. In sluice the
ArtifactGenerator of the source service is that producer.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.api.meta import ApiModel, ApiObject, NamespacedObjectKindReference

__all__ = ["ExternalArtifact", "ExternalArtifactSpec"]


class ExternalArtifactSpec(ApiModel):
    """``ExternalArtifact.spec``: the object that produces the artifact, if any."""

    source_ref: NamespacedObjectKindReference | None = None


class ExternalArtifact(ApiObject):
    """An artifact in storage, described by its producer in ``status.artifact``."""

    spec: ExternalArtifactSpec = Field(default_factory=ExternalArtifactSpec)
    status: dict[str, Any] | None = Field(default=None, repr=False)
