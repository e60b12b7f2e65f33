"""Flux's revision strings and artifact file names for Git sources.

The deterministic tarball itself is ``shared.tarball`` (``sluice push
artifact`` builds OCI layers with it too).
"""

from __future__ import annotations

import re

__all__ = [
    "artifact_filename",
    "git_revision",
    "revision_commit",
]

_REVISION = re.compile(r"^(?:(?P<ref>.+)[@/])?(?:sha1:)?(?P<sha>[0-9a-f]{40})$")


def git_revision(ref_name: str, commit: str, *, absolute: bool = False) -> str:
    """Flux's revision: `main@sha1:<hex>`, `refs/pull/1/head@sha1:<hex>` or `sha1:<hex>`."""
    digest = f"sha1:{commit}"
    if not ref_name:
        return digest
    if absolute:
        return f"{ref_name}@{digest}"
    # Flux drops the first two segments only: refs/heads/feature/x -> feature/x.
    short = ref_name.split("/", 2)
    return f"{short[2]}@{digest}" if len(short) == 3 else digest


def revision_commit(revision: str) -> str:
    """The commit sha in a revision string (current or legacy `main/<sha>` form), or ""."""
    match = _REVISION.match(revision.strip())
    return match.group("sha") if match else ""


def artifact_filename(commit: str) -> str:
    """The artifact file name Flux uses for a Git commit."""
    return f"{commit}.tar.gz"
