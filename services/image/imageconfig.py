"""What Flux v1 read of an image to order tags by age: the platform manifest, ``created``, labels.

fluxd (``pkg/registry/client.go``) fetched each tag's manifest: for a manifest
list it took the ``linux``/``amd64`` entry (none: the tag is left out, "no
suitable manifest (linux amd64) in manifestlist"); for an image manifest it
read the config blob's ``created`` and the timestamp labels of
``container_config`` (``org.opencontainers.image.created``,
``org.label-schema.build-date``), which it preferred over ``created`` for the
images named by ``--registry-use-labels``. Timestamps are RFC 3339 (Go's
``time.Time``); one that does not parse counts as absent, as fluxd's zero time.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LABEL_BUILD_DATE",
    "LABEL_CREATED",
    "NO_SUITABLE_MANIFEST",
    "ImageConfig",
    "is_index",
    "parse_image_config",
    "parse_timestamp",
    "platform_manifest",
]

LABEL_CREATED = "org.opencontainers.image.created"
LABEL_BUILD_DATE = "org.label-schema.build-date"
NO_SUITABLE_MANIFEST = "no suitable manifest (linux amd64) in manifestlist"
# Go's time.RFC3339 layout (fractions allowed, as its parser does): seconds and an offset required.
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class ImageConfig:
    """The times an image config tells: ``created`` and the two timestamp labels."""

    created: datetime.datetime | None = None
    label_created: datetime.datetime | None = None
    label_build_date: datetime.datetime | None = None


def parse_timestamp(value: object) -> datetime.datetime | None:
    """An RFC 3339 time (``2024-05-01T10:00:00.123456789Z``) as an aware datetime, else None."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    stamp, fraction, offset = match.groups()
    micro = f".{fraction[:6]}" if fraction else ""  # Go keeps nanoseconds; Python microseconds
    try:
        parsed = datetime.datetime.fromisoformat(stamp + micro)
    except ValueError:
        return None
    if offset == "Z":
        return parsed.replace(tzinfo=datetime.UTC)
    sign = 1 if offset[0] == "+" else -1
    delta = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return parsed.replace(tzinfo=datetime.timezone(sign * delta))


def is_index(doc: Mapping[str, Any], media_type: str) -> bool:
    """Whether a manifest document is an image index / manifest list."""
    return str(doc.get("mediaType") or media_type) in _INDEX_TYPES or "manifests" in doc


def platform_manifest(doc: Mapping[str, Any]) -> str:
    """The digest of the index's ``linux``/``amd64`` manifest (fluxd's choice), or ""."""
    for entry in doc.get("manifests") or []:
        if not isinstance(entry, dict):
            continue
        platform = entry.get("platform") or {}
        if (
            isinstance(platform, dict)
            and platform.get("os") == "linux"
            and platform.get("architecture") == "amd64"
        ):
            return str(entry.get("digest") or "")
    return ""


def parse_image_config(content: bytes) -> ImageConfig:
    """The times of a config blob; a blob that is not a JSON object tells none (as fluxd)."""
    try:
        doc = json.loads(content)
    except (ValueError, RecursionError):
        return ImageConfig()
    if not isinstance(doc, dict):
        return ImageConfig()
    labels = _labels(_field(doc, "container_config"))
    return ImageConfig(
        created=parse_timestamp(_field(doc, "created")),
        label_created=parse_timestamp(labels.get(LABEL_CREATED)),
        label_build_date=parse_timestamp(labels.get(LABEL_BUILD_DATE)),
    )


def _field(doc: Mapping[str, Any], name: str) -> Any:
    """A JSON field matched as Go's decoder does: exactly, else ignoring case."""
    if name in doc:
        return doc[name]
    for key, value in doc.items():
        if key.lower() == name.lower():
            return value
    return None


def _labels(container_config: object) -> dict[str, Any]:
    if not isinstance(container_config, dict):
        return {}
    labels = _field(container_config, "labels")
    return labels if isinstance(labels, dict) else {}
