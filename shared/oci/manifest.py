"""Image manifests and content descriptors, and the media types a client asks for.

A manifest is parsed once, at the edge, into frozen values; an image index
(a multi-platform list) is refused with a message, since a GitOps artifact is
one manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.oci.errors import OciError
from shared.oci.reference import DIGEST_PATTERN

__all__ = [
    "ACCEPTED_MANIFESTS",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
    "RawManifest",
    "TagList",
    "sha256_digest",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST))
# What a client accepts: the manifests, and the indexes it refuses with a clear message.
ACCEPTED_MANIFESTS = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST))


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says of its config and each layer."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, doc: object, where: str) -> Descriptor:
        """A descriptor from manifest JSON; OciError when it is malformed."""
        if not isinstance(doc, dict):
            raise OciError(f"{where}: a descriptor is not a JSON object")
        digest, size = doc.get("digest"), doc.get("size")
        if not isinstance(digest, str) or not DIGEST_PATTERN.match(digest):
            raise OciError(f"{where}: unsupported digest {digest!r} (sha256 expected)")
        if not isinstance(size, int) or size < 0:
            raise OciError(f"{where}: invalid size {size!r}")
        annotations = doc.get("annotations") or {}
        return cls(str(doc.get("mediaType", "")), digest, size, dict(annotations))

    def to_json(self) -> dict[str, Any]:
        """The descriptor as manifest JSON."""
        doc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        return doc


@dataclass(frozen=True)
class Manifest:
    """An image manifest: its digest, config, layers and annotations."""

    digest: str
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, content: bytes, *, digest: str, media_type: str, where: str) -> Manifest:
        """An image manifest from its bytes; an index or a malformed manifest is an OciError."""
        try:
            doc = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
            raise OciError(f"{where}: the manifest is not valid JSON") from err
        if not isinstance(doc, dict):
            raise OciError(f"{where}: the manifest is not a JSON object")
        kind = str(doc.get("mediaType") or media_type)
        if kind in (OCI_INDEX, DOCKER_LIST) or "manifests" in doc:
            raise OciError(
                f"{where} is an image index (several platforms), not an artifact: "
                "point the reference at one manifest"
            )
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise OciError(f"{where}: the manifest has no layers list")
        return cls(
            digest=digest,
            media_type=kind,
            config=Descriptor.parse(doc.get("config"), where),
            layers=tuple(Descriptor.parse(layer, where) for layer in layers),
            annotations=dict(doc.get("annotations") or {}),
        )


@dataclass(frozen=True)
class RawManifest:
    """A manifest or an image index as served: its digest, media type and bytes."""

    digest: str
    media_type: str
    content: bytes = field(repr=False)
    where: str = ""


@dataclass(frozen=True)
class TagList:
    """A repository's tags as listed, with what a later listing can compare against."""

    tags: tuple[str, ...]
    # The ETag of a one-page answer ("" when the registry sends none, or for several pages).
    etag: str = ""
    # The registry answered 304 to the previous ETag: ``tags`` is empty, nothing changed.
    not_modified: bool = False
    pages: int = 1
