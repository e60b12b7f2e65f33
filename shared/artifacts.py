"""Fetch a source artifact over HTTP, verify its digest, and extract it once per machine.

Consumers (kustomize, helm) never trust what they download: the digest in the
source's status must match, and extraction refuses entries that would leave
the target directory. Extracted trees are keyed by digest, so many
Kustomizations of one revision share one copy, and they are never modified.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import httpx

from shared.archive import extract_tarball

__all__ = ["MAX_ARTIFACT_BYTES", "ArtifactError", "fetch_artifact", "fetch_file"]

_CHUNK = 1 << 16
# Refuse artifacts past this size rather than fill the disk (Flux has no
# limit; a 100 MB file in a repo is fine, a runaway one is not).
MAX_ARTIFACT_BYTES = 1 << 30


class ArtifactError(RuntimeError):
    """The artifact could not be downloaded, did not match its digest, or was unsafe."""


@cache
def _client() -> httpx.Client:
    # One per process, kept: a new httpx client loads the system CA bundle into a
    # fresh TLS context, ~20 ms of CPU per revision fetched (measured with py-spy).
    return httpx.Client(follow_redirects=False)


def _download(url: str, dest: Path, *, timeout: float) -> str:
    digest = hashlib.sha256()
    size = 0
    try:
        with _client().stream("GET", url, timeout=timeout) as response:
            if response.status_code != 200:
                raise ArtifactError(f"GET {url}: HTTP {response.status_code}")
            with dest.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > MAX_ARTIFACT_BYTES:
                        raise ArtifactError(f"GET {url}: artifact larger than 1 GiB")
                    digest.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as err:
        raise ArtifactError(f"GET {url}: {err}") from err
    return f"sha256:{digest.hexdigest()}"


def fetch_artifact(url: str, digest: str, *, cache_dir: Path, timeout: float = 60.0) -> Path:
    """The extracted tree of the artifact at ``url`` whose digest must be ``digest``."""
    return _fetched(url, digest, root=cache_dir / "artifacts", timeout=timeout, unpack=True)


def fetch_file(url: str, digest: str, *, cache_dir: Path, timeout: float = 60.0) -> Path:
    """The artifact file at ``url`` whose digest must be ``digest``, as it is (not extracted).

    For artifacts that are no tarball of a tree: a HelmRepository's index, a
    packaged chart. Kept once per digest, like extracted trees; never modified.
    """
    folder = _fetched(url, digest, root=cache_dir / "artifact-files", timeout=timeout, unpack=False)
    return folder / "artifact"


def _fetched(url: str, digest: str, *, root: Path, timeout: float, unpack: bool) -> Path:
    """``root/<hex>``: the artifact downloaded once per digest, extracted when ``unpack``."""
    folder = root / _check_digest(digest)
    if folder.is_dir():
        # Used now: the cache drops the least recently used trees, not a hot one
        # that many consumers read (and may be reading while it is dropped).
        with contextlib.suppress(OSError):
            os.utime(folder)
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=root) as scratch:
        archive = Path(scratch) / "artifact"
        got = _download(url, archive, timeout=timeout)
        if got != digest:
            raise ArtifactError(f"GET {url}: digest {got} does not match {digest}")
        staging = Path(scratch) / "folder"
        staging.mkdir()
        if unpack:
            try:
                extract_tarball(archive, staging)
            except Exception as err:
                raise ArtifactError(f"artifact {digest}: {err}") from err
        else:
            os.rename(archive, staging / "artifact")
        try:
            os.rename(staging, folder)
        except OSError:
            # Another worker fetched the same digest first: theirs is identical.
            if not folder.is_dir():
                raise
    _collect(root, keep=folder)
    return folder


def _collect(root: Path, *, keep: Path, max_entries: int = 64) -> None:
    """Drop the least recently used trees past ``max_entries``."""
    trees = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in trees[: max(0, len(trees) - max_entries)]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _check_digest(digest: str) -> str:
    """The hex part of a ``sha256:<hex>`` digest; ArtifactError for any other form."""
    algo, _, hexdigest = digest.partition(":")
    if (
        algo != "sha256"
        or len(hexdigest) != 64
        or not all(c in "0123456789abcdef" for c in hexdigest)
    ):
        raise ArtifactError(f"artifact digest {digest!r}: expected sha256:<64 hex digits>")
    return hexdigest
