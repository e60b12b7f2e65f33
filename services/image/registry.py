"""The registry side of an ImageRepository: list and filter tags, a tag's digest, an image's age.

What image-reflector-controller does in ``scan``: list every tag of the
canonical repository (``/v2/<name>/tags/list?n=1000``, following ``Link``
pages), drop those ``exclusionList`` matches, sort the rest in descending
byte order, and report ``lastScanResult`` (revision, tagCount, latestTags).
Authentication, TLS, ``insecure`` and the timeout go through
``shared.oci.RegistryClient``; ``timeout`` bounds the whole scan, as Flux's
context does.

An unchanged scan costs one request and writes nothing: logins (the bearer
token, the scheme) are remembered between scans in a ``LoginCache``, so the
next scan's first request is already authorized; the caller passes the last
scan as ``previous`` (a ScanMemo) and gets ``unchanged=True`` when the kept
tags hash to the same revision, or when the registry answers 304 to the last
one-page answer's ETag (sent as ``If-None-Match`` when it gave one and the
image and exclusions are the same). A list of several pages is read whole:
no registry can say "unchanged" for all of them at once.

Exceptions (``reason`` is Flux's condition reason)::

    ImageScanError                      image, status (HTTP, or None), reason
     ├── AuthenticationFailedError      AuthenticationFailed: the Secret or TLS
     │                                  material cannot be read
     └── ReadOperationFailedError       ReadOperationFailed: the registry failed,
         │                              timed out, or an exclusion is invalid
         └── RegistryRefusedError       the registry refused the credentials (401/403):
                                        still ReadOperationFailed, as Flux reports it

Messages name the image and the HTTP status, never a credential.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from services.image.imageconfig import (
    NO_SUITABLE_MANIFEST,
    ImageConfig,
    is_index,
    parse_image_config,
    platform_manifest,
)
from services.image.names import ImageName
from services.image.tags import (
    ExclusionList,
    latest_tags,
    sort_tags,
    tags_revision,
)
from shared.oci import (
    AuthenticationError,
    CredentialsError,
    OciError,
    RegistryClient,
    RegistryCredentials,
    TlsMaterial,
    credentials_from_dockerconfig,
)
from shared.oci.logins import LoginCache
from shared.oci.manifest import Descriptor

__all__ = [
    "LOGINS",
    "AuthenticationFailedError",
    "ImageInfo",
    "ImageScanError",
    "ReadOperationFailedError",
    "RegistryAccess",
    "RegistryRefusedError",
    "ScanMemo",
    "ScanResult",
    "access_from_secrets",
    "image_info",
    "scan_tags",
    "tag_digest",
]

# One per worker process: every ImageRepository's logins, keyed by credentials' hash.
LOGINS = LoginCache()
_MAX_CONFIG_BYTES = 4 << 20
_JSON = (ValueError, RecursionError)


class ImageScanError(Exception):
    """A registry operation for an image failed; ``reason`` is Flux's, ``status`` the HTTP one."""

    reason = "ReadOperationFailed"

    def __init__(self, message: str, *, image: str, status: int | None = None) -> None:
        super().__init__(message)
        self.image = image
        self.status = status


class AuthenticationFailedError(ImageScanError):
    """The pull Secret or the TLS Secret cannot be used (Flux: building the auth options)."""

    reason = "AuthenticationFailed"


class ReadOperationFailedError(ImageScanError):
    """The registry did not give what was asked (Flux: ``scan failed: ...``)."""


class RegistryRefusedError(ReadOperationFailedError):
    """The registry or its token service refused the credentials, or wants some."""


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach the registry: ``secretRef``, ``certSecretRef``, ``insecure``, ``timeout``."""

    credentials: RegistryCredentials = field(default_factory=RegistryCredentials)
    tls: TlsMaterial | None = None
    insecure: bool = False
    timeout: float = 60.0


def access_from_secrets(
    image: ImageName,
    *,
    pull_secrets: Mapping[str, Mapping[str, bytes]] | None = None,
    cert_secret: Mapping[str, bytes] | None = None,
    insecure: bool = False,
    timeout: float = 60.0,
) -> RegistryAccess:
    """The access an ImageRepository's Secrets give (their ``data``, decoded).

    ``pull_secrets``: Secret name -> data, in Flux's order (``secretRef``, then the
    ``serviceAccountName``'s ``imagePullSecrets``); the first with an entry for the
    image's registry logs in, none means anonymous (as Flux's keychain). ``cert_secret``:
    ``ca.crt`` and ``tls.crt``/``tls.key``. AuthenticationFailedError when a Secret cannot
    be read; the message names it, never its content.
    """
    credentials = RegistryCredentials()
    try:
        for name, data in (pull_secrets or {}).items():
            credentials = credentials_from_dockerconfig(
                data, image.registry, where=f"Secret {name}"
            )
            if not credentials.empty:
                break
        tls = TlsMaterial.from_secret(cert_secret) if cert_secret is not None else None
        if tls is not None:
            tls.context()  # refuse unreadable PEM now, not on the first request
    except CredentialsError as err:
        raise AuthenticationFailedError(
            f"failed to configure authentication options for {image}: {err}", image=str(image)
        ) from None
    return RegistryAccess(credentials=credentials, tls=tls, insecure=insecure, timeout=timeout)


@dataclass(frozen=True)
class ScanMemo:
    """What the last scan left to compare the next one with (status plus the ETag)."""

    canonical_image_name: str
    exclusion_list: tuple[str, ...]
    revision: str
    tag_count: int
    latest_tags: tuple[str, ...] = ()
    etag: str = ""


@dataclass(frozen=True)
class ScanResult:
    """One scan: ``lastScanResult`` and ``canonicalImageName``, and the tags to store.

    ``tags`` is None only when ``unchanged`` came from a 304 (nothing was read:
    keep the stored tags); otherwise the kept tags in descending byte order.
    ``latest_tags`` is empty when there are none (Flux then omits the field).
    ``unchanged``: the caller writes nothing and triggers nothing.
    """

    canonical_image_name: str
    exclusion_list: tuple[str, ...]
    tags: tuple[str, ...] | None
    tag_count: int
    latest_tags: tuple[str, ...]
    revision: str
    unchanged: bool
    etag: str = ""
    pages: int = 1

    def memo(self) -> ScanMemo:
        """What the next scan compares against."""
        return ScanMemo(
            canonical_image_name=self.canonical_image_name,
            exclusion_list=self.exclusion_list,
            revision=self.revision,
            tag_count=self.tag_count,
            latest_tags=self.latest_tags,
            etag=self.etag,
        )


def scan_tags(
    image: ImageName,
    *,
    access: RegistryAccess,
    exclusions: ExclusionList,
    previous: ScanMemo | None = None,
    page_size: int = 1000,
    logins: LoginCache | None = LOGINS,
) -> ScanResult:
    """List, filter and sort ``image``'s tags; ReadOperationFailedError (or a subclass) when
    the registry fails. (An invalid ``exclusionList`` fails earlier, in
    ``ExclusionList.compile``; Flux reports it as a failed scan, ReadOperationFailed.)

    ``previous`` counts only for the same canonical name and exclusion list: a scan
    after either changed is never ``unchanged``, and sends no ETag."""
    canonical = image.canonical
    same = (
        previous
        if previous is not None
        and previous.canonical_image_name == canonical
        and previous.exclusion_list == exclusions.patterns
        else None
    )
    with _client(image, access=access, logins=logins, what="list tags of") as client:
        listed = client.list_tags(page_size=page_size, etag=same.etag if same else "")
    if listed.not_modified and same is not None:
        return ScanResult(
            canonical_image_name=canonical,
            exclusion_list=exclusions.patterns,
            tags=None,
            tag_count=same.tag_count,
            latest_tags=same.latest_tags,
            revision=same.revision,
            unchanged=True,
            etag=same.etag,
        )
    kept = sort_tags(exclusions.keep(listed.tags))
    revision = tags_revision(kept)
    return ScanResult(
        canonical_image_name=canonical,
        exclusion_list=exclusions.patterns,
        tags=tuple(kept),
        tag_count=len(kept),
        latest_tags=tuple(latest_tags(kept)),
        revision=revision,
        unchanged=same is not None and same.revision == revision,
        etag=listed.etag,
        pages=listed.pages,
    )


def tag_digest(
    image: ImageName, tag: str, *, access: RegistryAccess, logins: LoginCache | None = LOGINS
) -> str:
    """The manifest digest ``tag`` points at (``HEAD``, ``Docker-Content-Digest``), for an
    ImagePolicy's ``digestReflectionPolicy``."""
    with _client(image, access=access, logins=logins, what=f"resolve {tag} of") as client:
        return client.resolve(tag)


@dataclass(frozen=True)
class ImageInfo:
    """What Flux v1 knew of a tag: the digest it points at (an index's, for a multi-platform
    tag) and the config's times (``excluded`` says why there are none)."""

    tag: str
    digest: str
    config: ImageConfig
    excluded: str = ""


def image_info(
    image: ImageName, tag: str, *, access: RegistryAccess, logins: LoginCache | None = LOGINS
) -> ImageInfo:
    """The tag's manifest digest and its config's times, reading an index's linux/amd64 image
    as fluxd did (no such entry: ``excluded`` says so and the times are None)."""
    with _client(image, access=access, logins=logins, what=f"read {tag} of") as client:
        raw = client.raw_manifest(tag)
        doc = _json_object(raw.content, image=image.canonical, tag=tag)
        if is_index(doc, raw.media_type):
            chosen = platform_manifest(doc)
            if not chosen:
                return ImageInfo(tag, raw.digest, ImageConfig(), excluded=NO_SUITABLE_MANIFEST)
            doc = _json_object(client.raw_manifest(chosen).content, image=image.canonical, tag=tag)
        # A malformed descriptor is an OciError, which _client reports as a read failure.
        config = Descriptor.parse(doc.get("config"), f"{image.canonical}:{tag}")
        blob = client.read_blob(config, max_bytes=_MAX_CONFIG_BYTES)
    return ImageInfo(tag, raw.digest, parse_image_config(blob))


@contextmanager
def _client(
    image: ImageName, *, access: RegistryAccess, logins: LoginCache | None, what: str
) -> Iterator[RegistryClient]:
    """A client for ``image`` whose failures become this module's errors."""
    canonical = image.canonical
    try:
        with RegistryClient(
            image.oci_reference(),
            credentials=access.credentials,
            tls=access.tls,
            insecure=access.insecure or image.insecure,
            # Flux's insecure (go-containerregistry's name.Insecure) allows HTTP; certificates
            # are still verified.
            insecure_tls=False,
            timeout=access.timeout,
            deadline=time.monotonic() + access.timeout,
            logins=logins,
        ) as client:
            yield client
    except CredentialsError as err:
        raise AuthenticationFailedError(
            f"cannot {what} {canonical}: {err}", image=canonical
        ) from None
    except AuthenticationError as err:
        raise RegistryRefusedError(
            f"cannot {what} {canonical}: {err}", image=canonical, status=err.status
        ) from err
    except OciError as err:
        raise ReadOperationFailedError(
            f"cannot {what} {canonical}: {err}", image=canonical, status=err.status
        ) from err


def _json_object(content: bytes, *, image: str, tag: str) -> dict[str, object]:
    try:
        doc = json.loads(content)
    except _JSON:
        doc = None
    if not isinstance(doc, dict):
        raise ReadOperationFailedError(
            f"{image}:{tag}: the manifest is not a JSON object", image=image
        )
    return doc
