"""Flux's OCI artifact layout: push a tarball as ``flux push artifact`` does, pick a layer.

``flux push artifact`` writes an OCI image manifest whose config has the media
type ``application/vnd.cncf.flux.config.v1+json``, one layer
``application/vnd.cncf.flux.content.v1.tar+gzip`` (a deterministic tarball of
the pushed directory), and the annotations ``org.opencontainers.image.created``,
``.source`` and ``.revision`` on the manifest. ``helm push`` writes a chart
layer ``application/vnd.cncf.helm.chart.content.v1.tar+gzip``. Reading, a
layer is chosen as source-controller does: the first one, or the first whose
media type ``layerSelector.mediaType`` names.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.oci.client import RegistryClient
from shared.oci.errors import OciError
from shared.oci.manifest import OCI_MANIFEST, Descriptor, Manifest

__all__ = [
    "CREATED_ANNOTATION",
    "FLUX_CONFIG_MEDIA_TYPE",
    "FLUX_CONTENT_MEDIA_TYPE",
    "HELM_CHART_MEDIA_TYPE",
    "REVISION_ANNOTATION",
    "SOURCE_ANNOTATION",
    "LayerNotFoundError",
    "Pushed",
    "flux_config",
    "flux_manifest",
    "is_gzip",
    "push_artifact",
    "select_layer",
]

FLUX_CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
CREATED_ANNOTATION = "org.opencontainers.image.created"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
_CHUNK = 1 << 16


class LayerNotFoundError(OciError):
    """The manifest has no layer, or none of the wanted media type."""


@dataclass(frozen=True)
class Pushed:
    """What a push made: the manifest digest, and the layer's digest and size."""

    reference: str
    digest: str
    layer: Descriptor


def select_layer(manifest: Manifest, media_type: str = "") -> Descriptor:
    """The first layer, or the first of ``media_type``; LayerNotFoundError otherwise."""
    if not manifest.layers:
        raise LayerNotFoundError("no layers found in artifact")
    if not media_type:
        return manifest.layers[0]
    for layer in manifest.layers:
        if layer.media_type == media_type:
            return layer
    raise LayerNotFoundError(f"failed to find layer with media type '{media_type}' in artifact")


def _diff_id(tarball: Path) -> str:
    """``sha256:`` of the uncompressed tar, the config's ``rootfs.diff_ids`` entry."""
    digest = hashlib.sha256()
    with gzip.open(tarball, "rb") as raw:
        while chunk := raw.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def flux_config(*, created: str, diff_id: str) -> bytes:
    """The config blob go-containerregistry writes for Flux's artifact (an empty image's)."""
    doc = {
        "architecture": "",
        "created": created,
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def flux_manifest(
    *, config: Descriptor, layer: Descriptor, annotations: Mapping[str, str]
) -> bytes:
    """The image manifest of Flux's layout, as JSON bytes."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json()],
        "annotations": dict(annotations),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def push_artifact(
    client: RegistryClient,
    tarball: Path,
    *,
    tag: str,
    source: str,
    revision: str,
    annotations: Mapping[str, str] | None = None,
    created: datetime | None = None,
) -> Pushed:
    """Push ``tarball`` (a tar.gz) as Flux's artifact under ``tag``; return what was pushed."""
    when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    layer = client.push_blob(tarball)
    layer = Descriptor(FLUX_CONTENT_MEDIA_TYPE, layer.digest, layer.size)
    config_bytes = flux_config(created=when, diff_id=_diff_id(tarball))
    pushed_config = client.push_blob(config_bytes)
    config = Descriptor(FLUX_CONFIG_MEDIA_TYPE, pushed_config.digest, pushed_config.size)
    notes = {CREATED_ANNOTATION: when, SOURCE_ANNOTATION: source, REVISION_ANNOTATION: revision}
    notes.update(annotations or {})
    manifest = flux_manifest(config=config, layer=layer, annotations=notes)
    digest = client.push_manifest(tag, manifest, media_type=OCI_MANIFEST)
    return Pushed(reference=str(client.repository.with_tag(tag)), digest=digest, layer=layer)


def is_gzip(path: Path) -> bool:
    """Whether a file starts with gzip's magic bytes (how Flux tells a tarball layer)."""
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
