"""A client of the OCI distribution API over httpx: tags, manifests, blobs, pushes.

Why httpx and not a registry library: httpx is already sluice's HTTP client,
and PyPI's OCI client (``oras``, on requests) has no per-registry client
certificate, gives no control over the cheap ``HEAD`` that resolves a tag, and
does not verify what it downloads against the digest it asked for. The part of
the distribution API a GitOps source needs is small: it is all here.

One client talks to one repository (its transport, ``shared.oci.transport``,
holds the connection, login and deadline). Authentication follows the registry's
``WWW-Authenticate`` challenge on the first 401: ``Basic`` with the
credentials, or ``Bearer`` with a token from the challenge's realm (asked with
the credentials, anonymous when there are none), scoped to the repository
(``pull``, plus ``push`` for a pushing client). HTTPS is tried first; a
registry on loopback, ``localhost`` or a private address that does not speak
TLS is then reached over HTTP (as go-containerregistry does); ``insecure=True``
allows HTTP for any registry and, without TLS material, accepts any
certificate (source-controller's ``spec.insecure``; ``insecure_tls=False``
keeps verifying, as image-reflector-controller's). Every manifest and blob
read is checked against its digest; credentials never appear in a message.

Errors are the tree of ``shared.oci.errors``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from shared.oci.errors import DigestMismatchError, RegistryError
from shared.oci.manifest import (
    ACCEPTED_MANIFESTS,
    Descriptor,
    Manifest,
    RawManifest,
    TagList,
    sha256_digest,
)
from shared.oci.reference import DIGEST_PATTERN
from shared.oci.transport import RegistryTransport, json_object, same_host

__all__ = ["MAX_BLOB_BYTES", "RegistryClient"]

_MAX_MANIFEST_BYTES = 4 << 20  # the distribution spec's recommended limit
# Read up to these sizes, never whole: a hostile registry must not fill the
# worker's memory with a tag list.
_MAX_TAGS_BYTES = 32 << 20  # all pages together: ~250,000 tags of 128 characters
_MAX_TAG_PAGES = 1000
MAX_BLOB_BYTES = 1 << 30
_CHUNK = 1 << 16


class RegistryClient(RegistryTransport):
    """The distribution API of one repository; use as a context manager."""

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- reading -------------------------------------------------------------

    def login(self) -> None:
        """Check that the registry answers ``/v2/`` and takes the credentials (``helm registry
        login``): AuthenticationError when it refuses them, RegistryError when it does not answer.
        """
        with self._open("GET", "/v2/", what="log in to"):
            pass

    def tags(self) -> list[str]:
        """Every tag of the repository (following the ``Link`` pages)."""
        return list(self.list_tags().tags)

    def list_tags(self, *, page_size: int = 1000, etag: str = "") -> TagList:
        """Every tag, asking ``n=page_size`` a page and following ``Link: <...>; rel="next"``
        on the registry's own host only (another host is refused, as go-containerregistry).

        ``etag``: the ETag of a previous one-page answer, sent as ``If-None-Match``; a
        registry that answers 304 costs this one request and gives ``not_modified``.
        """
        found: list[str] = []
        path = f"/v2/{self.repository.repository}/tags/list?n={page_size}"
        where = f"tags of {self.repository.repository_url}"
        budget, pages, first_etag = _MAX_TAGS_BYTES, 0, ""
        while path:
            pages += 1
            if pages > _MAX_TAG_PAGES:
                raise RegistryError(f"{where}: more than {_MAX_TAG_PAGES} pages")
            headers = {"If-None-Match": etag} if etag and pages == 1 else None
            with self._open(
                "GET", path, headers=headers, what="list tags of", allow=(304,)
            ) as response:
                if response.status_code == 304:
                    return TagList((), etag=etag, not_modified=True, pages=1)
                content = self._read_limited(response, budget, where)
                budget -= len(content)
                doc = json_object(content, where)
                found += [str(t) for t in (doc.get("tags") or [])]
                if pages == 1:
                    first_etag = str(response.headers.get("ETag", ""))
                path = _next_page(response.headers.get("Link", ""))
            if "://" in path and not same_host(path, self._base()):
                raise RegistryError(f"{where}: the next page is on another host; refused")
        # An ETag names one page: a list of several cannot be checked by the first one's.
        return TagList(tuple(found), etag=first_etag if pages == 1 else "", pages=pages)

    def resolve(self, reference: str) -> str:
        """The manifest digest ``reference`` (a tag) points at, from one ``HEAD``."""
        path = f"/v2/{self.repository.repository}/manifests/{reference}"
        with self._open(
            "HEAD", path, headers={"Accept": ACCEPTED_MANIFESTS}, what="resolve"
        ) as response:
            digest = str(response.headers.get("Docker-Content-Digest", ""))
        if DIGEST_PATTERN.match(digest):
            return digest
        # A registry that does not say: read it (an index too: a multi-platform tag has a digest).
        return self.raw_manifest(reference).digest

    def manifest(self, reference: str) -> Manifest:
        """The image manifest at ``reference`` (tag or digest), checked against its digest."""
        raw = self.raw_manifest(reference)
        return Manifest.parse(
            raw.content, digest=raw.digest, media_type=raw.media_type, where=raw.where
        )

    def raw_manifest(self, reference: str) -> RawManifest:
        """The manifest or image index at ``reference``, unparsed, checked against its digest."""
        path = f"/v2/{self.repository.repository}/manifests/{reference}"
        where = (
            f"{self.repository.repository_url}@{reference}"
            if reference.startswith("sha256:")
            else f"{self.repository.repository_url}:{reference}"
        )
        with self._open(
            "GET", path, headers={"Accept": ACCEPTED_MANIFESTS}, what="get manifest of"
        ) as response:
            content = self._read_limited(response, _MAX_MANIFEST_BYTES, where)
            media_type = response.headers.get("Content-Type", "").split(";")[0]
        digest = sha256_digest(content)
        expected = reference if reference.startswith("sha256:") else ""
        if expected and digest != expected:
            raise DigestMismatchError(f"{where}: manifest content has digest {digest}")
        return RawManifest(digest=digest, media_type=media_type, content=content, where=where)

    def read_blob(self, descriptor: Descriptor, *, max_bytes: int) -> bytes:
        """A small blob (an image config) in memory, checked against its size and digest."""
        path = f"/v2/{self.repository.repository}/blobs/{descriptor.digest}"
        where = f"blob {descriptor.digest} of {self.repository.repository_url}"
        if descriptor.size > max_bytes:
            raise RegistryError(f"{where} is {descriptor.size} bytes, more than {max_bytes}")
        with self._open("GET", path, what="get", follow=True) as response:
            content = self._read_limited(response, descriptor.size, where)
        if sha256_digest(content) != descriptor.digest or len(content) != descriptor.size:
            raise DigestMismatchError(f"{where}: content does not match its digest")
        return content

    def fetch_blob(
        self, descriptor: Descriptor, dest: Path, *, max_bytes: int = MAX_BLOB_BYTES
    ) -> None:
        """Download a blob to ``dest``, checking its size and digest as it streams."""
        path = f"/v2/{self.repository.repository}/blobs/{descriptor.digest}"
        where = f"blob {descriptor.digest} of {self.repository.repository_url}"
        limit = min(max_bytes, descriptor.size)
        if descriptor.size > max_bytes:
            raise RegistryError(f"{where} is {descriptor.size} bytes, more than {max_bytes}")
        digest = hashlib.sha256()
        size = 0
        with self._open("GET", path, what="get", follow=True) as response, dest.open("wb") as out:
            for chunk in response.iter_bytes():
                self._check_deadline(where)
                size += len(chunk)
                if size > limit:
                    raise DigestMismatchError(
                        f"{where}: more than the {descriptor.size} bytes declared"
                    )
                digest.update(chunk)
                out.write(chunk)
        got = f"sha256:{digest.hexdigest()}"
        if got != descriptor.digest or size != descriptor.size:
            raise DigestMismatchError(f"{where}: downloaded content has digest {got}, {size} bytes")

    # --- writing -------------------------------------------------------------

    def push_blob(self, data: bytes | Path, *, digest: str = "") -> Descriptor:
        """Upload a blob (bytes, or a file streamed from disk) unless the registry has it."""
        if isinstance(data, bytes):
            digest, size = digest or sha256_digest(data), len(data)
        else:
            digest, size = digest or _file_digest(data), data.stat().st_size
        repo = self.repository.repository
        with self._open(
            "HEAD", f"/v2/{repo}/blobs/{digest}", what="check blob of", allow=(404,)
        ) as head:
            if head.status_code == 200:
                return Descriptor("", digest, size)
        with self._open("POST", f"/v2/{repo}/blobs/uploads/", what="start upload to") as started:
            location = started.headers.get("Location", "")
        if not location:
            raise RegistryError(
                f"{self.repository.repository_url}: upload started without a Location"
            )
        target = httpx.URL(self._base()).join(location).copy_merge_params({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(data, bytes):
            with self._open("PUT", str(target), headers=headers, content=data, what="upload to"):
                pass
        else:
            with (
                data.open("rb") as handle,
                self._open(
                    "PUT", str(target), headers=headers, content=_chunks(handle), what="upload to"
                ),
            ):
                pass
        return Descriptor("", digest, size)

    def push_manifest(self, tag: str, content: bytes, *, media_type: str) -> str:
        """Put a manifest under ``tag``; return its digest."""
        path = f"/v2/{self.repository.repository}/manifests/{tag}"
        headers = {"Content-Type": media_type}
        with self._open("PUT", path, headers=headers, content=content, what="push manifest to"):
            pass
        return sha256_digest(content)


def _next_page(link: str) -> str:
    """The path of a ``Link: <...>; rel="next"`` header, or ""."""
    for part in link.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return target.strip().strip("<>")
    return ""


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk
