"""Image names as image-reflector-controller reads ``spec.image``: the canonical name and its parts.

Flux parses ``spec.image`` with go-containerregistry's ``name.ParseReference``
and reports ``ref.Context().String()`` as ``status.canonicalImageName``. The
rules, kept here exactly (they differ from ``shared.oci.reference`` in small
ways an ImageRepository's status shows):

- the first path segment is the registry when it is ``localhost`` or holds a
  ``.`` or ``:``; otherwise the registry is Docker Hub, written
  ``index.docker.io``; ``docker.io`` (exactly, lowercase) is rewritten to it;
- a one-segment repository on ``index.docker.io`` gets ``library/``; on any
  other registry (``registry-1.docker.io``, ``Docker.io``) it does not;
- the registry keeps its case; the repository must be lowercase
  (``[a-z0-9_-./]``, 1..255), else the reference does not parse;
- a scheme (``https://``) or a tag (``:1.0``) is refused with Flux's message.

A registry that carries credentials (``user:pass@host``) is refused without
echoing them (go-containerregistry would echo the registry in its message).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from shared.oci.reference import OciReference

__all__ = ["DOCKER_HUB", "ImageName", "InvalidImageError", "parse_image"]

DOCKER_HUB = "index.docker.io"
_DOCKER_HUB_ALIAS = "docker.io"
_REPOSITORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-./")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# What Go's url.Parse keeps unescaped in a host (shouldEscape(c, encodeHost) is false).
_HOST_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'()*+,;=:[]<>\""
)
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_LOCAL = re.compile(r".*\.localhost(?::\d{1,5})?$")
_LOOPBACK = re.compile(r"^127\.0\.0\.1(?::\d{1,5})?$")
_LOOPBACK6 = re.compile(r"^(::1|\[::1\](?::\d{1,5})?)$")
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


class InvalidImageError(ValueError):
    """``spec.image`` is not a repository Flux would scan (reason ``ImageURLInvalid``)."""


@dataclass(frozen=True)
class ImageName:
    """A registry repository as go-containerregistry names it."""

    registry: str
    repository: str
    insecure: bool = False

    @property
    def canonical(self) -> str:
        """``status.canonicalImageName``: ``index.docker.io/library/nginx``."""
        return f"{self.registry}/{self.repository}"

    @property
    def scheme(self) -> str:
        """``http`` for an insecure, loopback, ``localhost:``, ``*.localhost`` or RFC 1918
        registry (go-containerregistry then tries HTTPS first and falls back), else ``https``."""
        name = self.registry
        if self.insecure or name.startswith("localhost:") or _is_rfc1918(name):
            return "http"
        if _LOCAL.match(name) or _LOOPBACK.match(name) or _LOOPBACK6.match(name):
            return "http"
        return "https"

    def oci_reference(self) -> OciReference:
        """The repository for ``shared.oci``'s client (which talks to Docker Hub's API host)."""
        return OciReference(self.registry.lower(), self.repository)

    def __str__(self) -> str:
        return self.canonical


def parse_image(text: str, *, insecure: bool = False) -> ImageName:
    """``spec.image`` as Flux's ``registry.ParseImageReference``; InvalidImageError says why."""
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InvalidImageError(
            f"image '{text}' should not include URL scheme; remove '{scheme}://'"
        )
    registry, repository = _parse_reference(text)
    rest = text.removeprefix(registry)
    if ":" in rest:
        raise InvalidImageError(
            f"image '{text}' should not include a tag; remove ':{rest.split(':')[1]}'"
        )
    return ImageName(registry, repository, insecure)


def _parse_reference(text: str) -> tuple[str, str]:
    """go-containerregistry's ParseReference: a tag reference, else a digest one."""
    try:
        return _parse_tagged(text)
    except InvalidImageError:
        pass
    base, sep, digest = text.partition("@")
    if sep and "@" not in digest and _DIGEST.match(digest):
        try:
            registry, repository = _parse_tagged(base)
            base = f"{registry}/{repository}"
        except InvalidImageError:
            pass
        try:
            return _parse_repository(base)
        except InvalidImageError:
            pass
    if "@" in text.split("/", 1)[0] and "/" in text:
        raise InvalidImageError(
            "could not parse reference: the registry holds credentials (user@host); "
            "give them in spec.secretRef"
        )
    raise InvalidImageError(f"could not parse reference: {text}")


def _parse_tagged(text: str) -> tuple[str, str]:
    base, tag = text, ""
    parts = text.split(":")
    if len(parts) > 1 and "/" not in parts[-1]:
        base, tag = ":".join(parts[:-1]), parts[-1]
        if not tag:
            raise InvalidImageError(f"{text} must specify a tag name after the colon")
        if len(tag) > 128 or not set(tag) <= _TAG_CHARS:
            raise InvalidImageError(f"invalid tag: {tag}")
    return _parse_repository(base)


def _parse_repository(name: str) -> tuple[str, str]:
    if not name:
        raise InvalidImageError("a repository name must be specified")
    registry, repository = "", name
    first, sep, rest = name.partition("/")
    if sep and (first == "localhost" or "." in first or ":" in first):
        registry, repository = first, rest
    if not 1 <= len(repository) <= 255 or not set(repository) <= _REPOSITORY_CHARS:
        raise InvalidImageError(f"invalid repository: {repository}")
    if not _valid_authority(registry):
        raise InvalidImageError(f"registries must be valid RFC 3986 URI authorities: {registry}")
    if registry in ("", _DOCKER_HUB_ALIAS):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def _valid_authority(name: str) -> bool:
    """Whether Go's ``url.Parse("//" + name).Host == name``: a host and an optional port."""
    host, port = name, ""
    if name.startswith("["):
        end = name.find("]")
        if end < 0:
            return False
        host, port = name[: end + 1], name[end + 1 :]
    elif ":" in name:
        cut = name.rfind(":")
        host, port = name[:cut], name[cut:]
    if port and (port[0] != ":" or (port != ":" and not port[1:].isdigit())):
        return False
    return all(ord(c) >= 0x80 or c in _HOST_CHARS for c in host)


def _is_rfc1918(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name.split(":")[0])
    except ValueError:
        return False
    return any(address in network for network in _PRIVATE)
