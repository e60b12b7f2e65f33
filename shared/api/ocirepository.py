"""OCIRepository (``source.toolkit.fluxcd.io/v1``, v1beta2 read): an artifact from a registry.

FLUX-API §2.2. Every field of Flux's type is either acted on or refused here,
at ``sluice apply``, with what to do instead: ``verify`` (cosign/notation
signatures), cloud ``provider`` logins, ``serviceAccountName`` and
``proxySecretRef`` are not implemented yet.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from shared.api.meta import ApiModel, ApiObject, FetchSpec, LocalObjectReference
from shared.goregexp import InvalidRegexp, compile_go
from shared.oci.reference import DIGEST_PATTERN, InvalidReferenceError, parse_repository_url
from shared.semver import InvalidConstraint, parse_constraint

__all__ = [
    "LAYER_COPY",
    "LAYER_EXTRACT",
    "OCILayerSelector",
    "OCIRepository",
    "OCIRepositoryRef",
    "OCIRepositorySpec",
]

LAYER_EXTRACT = "extract"
LAYER_COPY = "copy"


def _check_url(url: str) -> str:
    try:
        parse_repository_url(url)
    except InvalidReferenceError as err:
        raise ValueError(str(err)) from None
    return url


class OCIRepositoryRef(ApiModel):
    """``spec.ref``: which artifact; precedence digest > semver > tag (default ``latest``)."""

    digest: str | None = None
    semver: str | None = None
    semver_filter: str | None = None
    tag: str | None = None

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST_PATTERN.match(value):
            raise ValueError(f'invalid digest "{value}": expected sha256:<64 hex digits>')
        return value

    @field_validator("semver")
    @classmethod
    def _semver(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_constraint(value)
            except InvalidConstraint as err:
                raise ValueError(f'invalid semver range "{value}": {err}') from None
        return value

    @field_validator("semver_filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_go(value)
            except InvalidRegexp as err:
                raise ValueError(f'invalid semverFilter "{value}": {err}') from None
        return value


class OCILayerSelector(ApiModel):
    """``spec.layerSelector``: which layer (by media type) and what to do with it."""

    media_type: str | None = None
    operation: Literal["extract", "copy"] | None = None

    @property
    def effective_operation(self) -> str:
        """``extract`` unless ``copy`` is asked for."""
        return self.operation or LAYER_EXTRACT


class OCIRepositorySpec(FetchSpec):
    """``OCIRepository.spec``."""

    url: Annotated[str, AfterValidator(_check_url)]
    ref: OCIRepositoryRef | None = None
    layer_selector: OCILayerSelector | None = None
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    secret_ref: LocalObjectReference | None = None
    verify: dict[str, Any] | None = None
    service_account_name: str | None = None
    cert_secret_ref: LocalObjectReference | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    ignore: str | None = None
    insecure: bool = False

    # Fields sluice does not act on yet are refused, never stored and ignored.
    @field_validator("provider")
    @classmethod
    def _generic_provider_only(cls, value: str | None) -> str | None:
        if value not in (None, "generic"):
            raise ValueError(
                f'provider "{value}" (cloud workload identity) is not supported by sluice yet: '
                'use "generic" with a dockerconfigjson Secret in spec.secretRef'
            )
        return value

    @field_validator("verify")
    @classmethod
    def _no_verify(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            provider = value.get("provider", "cosign")
            raise ValueError(
                f"signature verification ({provider}) is not supported by sluice yet: "
                "remove spec.verify, or verify the artifact before it is pushed"
            )
        return value

    @field_validator("service_account_name", "proxy_secret_ref")
    @classmethod
    def _not_yet(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            what = {
                "service_account_name": (
                    "serviceAccountName (image pull secrets of a service account) is not "
                    "supported by sluice yet: name the dockerconfigjson Secret in spec.secretRef"
                ),
                "proxy_secret_ref": "a proxy (spec.proxySecretRef) is not supported by sluice yet",
            }
            raise ValueError(what[str(info.field_name)])
        return value

    @property
    def layer_media_type(self) -> str:
        """The media type of the layer to use; "" for the first layer."""
        return (self.layer_selector.media_type or "") if self.layer_selector else ""

    @property
    def layer_operation(self) -> str:
        """``extract`` (the default) or ``copy``."""
        return self.layer_selector.effective_operation if self.layer_selector else LAYER_EXTRACT


class OCIRepository(ApiObject):
    """An OCI artifact (Flux's or a Helm chart) to fetch and keep as an artifact."""

    spec: OCIRepositorySpec
    status: dict[str, Any] | None = Field(default=None, repr=False)
