"""OCI references as Flux writes them: ``oci://registry[:port]/repository[:tag|@digest]``.

Parsed the way go-containerregistry (which Flux uses) reads a name: the first
path segment is the registry when it holds a ``.`` or ``:`` or is
``localhost``, else the registry is Docker Hub (``library/`` added to a
one-segment name); a registry on loopback, ``localhost`` or a private
(RFC 1918) address may be spoken to over plain HTTP when HTTPS does not
answer, as go-containerregistry does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = [
    "DIGEST_PATTERN",
    "InvalidReferenceError",
    "OciReference",
    "parse_reference",
    "parse_repository_url",
]

OCI_SCHEME = "oci://"
DOCKER_HUB = "index.docker.io"
_DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]+)?$")


class InvalidReferenceError(ValueError):
    """The text is not an OCI reference sluice can use; the message says what to write."""


@dataclass(frozen=True)
class OciReference:
    """A repository in a registry, with at most one of a tag or a digest."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def api_host(self) -> str:
        """The host the distribution API is served on (Docker Hub's differs from its name)."""
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """The manifest reference: the digest when there is one, else the tag (``latest``)."""
        return self.digest or self.tag or "latest"

    @property
    def plain_http_allowed(self) -> bool:
        """Whether the registry may be reached over HTTP (loopback, localhost, private IPs)."""
        host = (
            self.registry.rsplit(":", 1)[0]
            if not self.registry.startswith("[")
            else (self.registry[1:].split("]", 1)[0])
        )
        if host == "localhost" or host.endswith(".local"):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return address.is_loopback or address.is_private

    def with_tag(self, tag: str) -> OciReference:
        """This repository at ``tag``."""
        return OciReference(self.registry, self.repository, tag=tag)

    def with_digest(self, digest: str) -> OciReference:
        """This repository at ``digest``."""
        return OciReference(self.registry, self.repository, digest=digest)

    @property
    def repository_url(self) -> str:
        """``oci://registry/repository``: the form of ``spec.url``."""
        return f"{OCI_SCHEME}{self.registry}/{self.repository}"

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else (f":{self.tag}" if self.tag else "")
        return f"{self.registry}/{self.repository}{suffix}"


def _split_registry(path: str, shown: str) -> tuple[str, str]:
    first, sep, rest = path.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.match(first):
            raise InvalidReferenceError(f'invalid registry "{first}" in "{shown}"')
        registry = DOCKER_HUB if first.lower() in _DOCKER_HUB_NAMES else first.lower()
        if registry == DOCKER_HUB and "/" not in rest:
            rest = f"library/{rest}"
        return registry, rest
    return DOCKER_HUB, path if "/" in path else f"library/{path}"


def parse_reference(text: str) -> OciReference:
    """``oci://registry/repo[:tag|@sha256:<hex>]`` (the ``oci://`` is optional) as a reference."""
    shown = text
    if "@" in text.split("//", 1)[-1].split("/", 1)[0]:
        raise InvalidReferenceError(
            f'credentials in the reference "{shown.split("@", 1)[-1]}" are refused: '
            "give them in a Secret or a credentials file"
        )
    body = text.removeprefix(OCI_SCHEME)
    if "://" in body:
        raise InvalidReferenceError(
            f'invalid OCI reference "{shown}": expected oci://registry/repository[:tag]'
        )
    digest = ""
    if "@" in body:
        body, digest = body.rsplit("@", 1)
        if not DIGEST_PATTERN.match(digest):
            raise InvalidReferenceError(
                f'invalid digest "{digest}" in "{shown}": expected sha256:<64 hex digits>'
            )
    tag = ""
    last = body.rsplit("/", 1)[-1]
    if ":" in last:
        body, tag = body.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidReferenceError(f'invalid tag "{tag}" in "{shown}"')
    if not body or body.endswith("/"):
        raise InvalidReferenceError(f'invalid OCI reference "{shown}": missing the repository')
    registry, repository = _split_registry(body, shown)
    if not _REPOSITORY.match(repository):
        raise InvalidReferenceError(
            f'invalid repository "{repository}" in "{shown}": expected lowercase path '
            "segments of letters, digits and separators (., _, -)"
        )
    return OciReference(registry, repository, tag=tag, digest=digest)


def parse_repository_url(url: str) -> OciReference:
    """``spec.url`` of an OCIRepository: ``oci://`` and a repository, without tag or digest."""
    if not url.startswith(OCI_SCHEME):
        raise InvalidReferenceError(f'invalid URL "{url}": an OCIRepository URL starts with oci://')
    ref = parse_reference(url)
    if ref.tag:
        raise InvalidReferenceError(
            f'URL "{url}" must not contain a tag; remove ":{ref.tag}" and use spec.ref.tag'
        )
    if ref.digest:
        raise InvalidReferenceError(
            f'URL "{url}" must not contain a digest; remove "@{ref.digest}" and use spec.ref.digest'
        )
    return ref
