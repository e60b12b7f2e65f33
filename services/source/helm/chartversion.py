"""A HelmChart artifact's version, revision and file name, as source-controller forms them.

Pure decisions, no I/O (FLUX-API §1.5, source-controller's helmchart_controller):

- from a GitRepository or Bucket with ``reconcileStrategy: Revision``, the
  chart version gets the first 12 characters of the source revision's hash as
  SemVer build metadata: ``1.2.3+0123456789ab``;
- with ``valuesFiles`` (other than a lone ``values.yaml``), the HelmChart's
  generation is added: ``1.2.3+4`` or ``1.2.3+0123456789ab.4``;
- the artifact is ``<chart name>-<version>.tgz`` and its revision the version.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from shared.semver import parse_version

__all__ = [
    "InvalidChartVersion",
    "build_summary",
    "chart_filename",
    "effective_values_files",
    "source_hash",
    "version_metadata",
    "with_metadata",
]

_METADATA = re.compile(r"^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$")
_GIT_REVISION = re.compile(r"^(?:.+[@/])?(?:sha1:|sha256:)?(?P<hash>[0-9a-f]{40,64})$")
_HASH_CHARS = 12


class InvalidChartVersion(ValueError):
    """A chart version that is not SemVer, or metadata that SemVer does not allow."""


def effective_values_files(files: Sequence[str]) -> list[str]:
    """The values files that change the chart: a lone ``values.yaml`` is the chart's own."""
    if len(files) == 1 and posixpath.normpath(files[0]) == "values.yaml":
        return []
    return list(files)


def source_hash(source_kind: str, revision: str) -> str:
    """The first 12 hex characters of a Git or Bucket revision's hash.

    Git: ``main@sha1:<hex>`` (or a legacy ``main/<hex>``); Bucket: ``sha256:<hex>``.
    A revision of another form is used as it is, cut to 12 characters.
    """
    text = revision.strip()
    if source_kind in ("GitRepository", "Bucket"):
        match = _GIT_REVISION.match(text)
        if match:
            text = match.group("hash")
        elif ":" in text:
            text = text.rpartition(":")[2]
    return text[:_HASH_CHARS]


def version_metadata(
    *,
    source_kind: str,
    strategy: str,
    source_revision: str,
    values_files: Sequence[str],
    generation: int,
) -> str:
    """The SemVer build metadata Flux adds to the chart version ("" for none)."""
    metadata = ""
    if strategy == "Revision" and source_kind in ("GitRepository", "Bucket"):
        metadata = source_hash(source_kind, source_revision)
    if effective_values_files(values_files):
        metadata = f"{metadata}.{generation}" if metadata else str(generation)
    return metadata


def with_metadata(version: str, metadata: str) -> str:
    """``version`` with its build metadata replaced by ``metadata`` (unchanged when "")."""
    if not metadata:
        return version
    parsed = parse_version(version)
    if parsed is None:
        raise InvalidChartVersion(
            f"failed to parse version '{version}' from chart metadata as SemVer"
        )
    if not _METADATA.match(metadata):
        raise InvalidChartVersion(
            f"failed to set SemVer metadata '{metadata}' on chart version '{version}'"
        )
    pre = f"-{parsed.prerelease}" if parsed.prerelease else ""
    return f"{parsed.major}.{parsed.minor}.{parsed.patch}{pre}+{metadata}"


def chart_filename(name: str, version: str) -> str:
    """The artifact's file name: ``<chart>-<version>.tgz``."""
    return f"{name}-{version}.tgz"


def build_summary(name: str, version: str, *, packaged: bool, values_files: Sequence[str]) -> str:
    """Flux's message for a build: ``packaged 'app' chart with version '1.2.3'``..."""
    action = "packaged" if packaged else "pulled"
    text = f"{action} '{name}' chart with version '{version}'"
    if values_files:
        text += f" and merged values files [{' '.join(values_files)}]"
    return text
