"""How to reach an ImageRepository's registry: its image name and its Secrets, read from the store.

Used by the scan (``scan.py``) and by an ImagePolicy that reflects digests
(``choose.py``), which reaches the registry with its ImageRepository's
access, as Flux does. Failures are the reconcile's kinds: an image Flux would
not parse stalls (ImageURLInvalid); a Secret that is missing or unreadable is
Transient, AuthenticationFailed (it may be applied later), with Flux's
``failed to configure authentication options`` and no secret content.
"""

from __future__ import annotations

import base64

from services.image.names import ImageName, InvalidImageError, parse_image
from services.image.registry import AuthenticationFailedError, RegistryAccess, access_from_secrets
from shared.api.imagerepository import ImageRepository
from shared.keys import ObjectKey
from shared.reconcile import Stalled, Transient
from shared.scopes import resolve
from shared.store import Store

__all__ = ["AUTHENTICATION_FAILED", "IMAGE_URL_INVALID", "image_name", "registry_access"]

IMAGE_URL_INVALID = "ImageURLInvalid"
AUTHENTICATION_FAILED = "AuthenticationFailed"
_AUTH_PREFIX = "failed to configure authentication options"


def image_name(repository: ImageRepository) -> ImageName:
    """``spec.image`` as Flux parses it; Stalled, ImageURLInvalid when it does not parse."""
    try:
        return parse_image(repository.spec.image, insecure=repository.spec.insecure)
    except InvalidImageError as err:
        raise Stalled(IMAGE_URL_INVALID, str(err)) from None


def _secret(store: Store, key: ObjectKey, name: str, *, field: str) -> dict[str, bytes]:
    ref = ObjectKey("Secret", key.namespace, name)
    _, doc = resolve(store, ref, key.scope)
    if doc is None:
        raise Transient(
            AUTHENTICATION_FAILED,
            f"{_AUTH_PREFIX}: secret '{key.namespace}/{name}' named in {field} not found",
        )
    try:
        return {k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()}
    except ValueError:
        raise Transient(
            AUTHENTICATION_FAILED,
            f"{_AUTH_PREFIX}: secret '{key.namespace}/{name}' named in {field} "
            "holds data that is not base64",
        ) from None


def registry_access(
    store: Store, key: ObjectKey, repository: ImageRepository, image: ImageName
) -> RegistryAccess:
    """The access ``repository`` (stored under ``key``) gives: pull Secret, TLS, insecure,
    timeout."""
    spec = repository.spec
    pull = (
        {spec.secret_ref.name: _secret(store, key, spec.secret_ref.name, field="spec.secretRef")}
        if spec.secret_ref is not None
        else None
    )
    cert = (
        _secret(store, key, spec.cert_secret_ref.name, field="spec.certSecretRef")
        if spec.cert_secret_ref is not None
        else None
    )
    try:
        return access_from_secrets(
            image,
            pull_secrets=pull,
            cert_secret=cert,
            insecure=spec.insecure,
            timeout=spec.timeout_seconds,
        )
    except AuthenticationFailedError as err:
        raise Transient(AUTHENTICATION_FAILED, str(err)) from None
