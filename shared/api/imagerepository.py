"""ImageRepository (``image.toolkit.fluxcd.io/v1``; v1beta1, v1beta2 read): a registry's tags.

FLUX-API §5.1. Every field of Flux's type is either acted on or refused here,
at ``sluice apply``, with what to do instead: cloud ``provider`` logins,
``serviceAccountName`` (pull secrets of a service account) and
``proxySecretRef`` are not implemented. What image-reflector-controller
finds out only at reconcile (an image with a scheme, tag or digest; an
exclusion pattern Go refuses) is refused at apply too.

Conversion is Flux's: the three versions share one spec (the CRD converted
with ``strategy: None``; v1beta1 lacks ``provider``, ``insecure`` and
``proxySecretRef``, which are optional).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from shared.api.durations import parse_duration
from shared.api.helmrepository import AccessFrom
from shared.api.meta import ApiObject, FetchSpec, LocalObjectReference
from shared.goregexp import InvalidRegexp, compile_go
from shared.oci.reference import InvalidReferenceError, OciReference, parse_reference

__all__ = [
    "DEFAULT_EXCLUSION_LIST",
    "MAX_EXCLUSIONS",
    "ImageRepository",
    "ImageRepositorySpec",
    "check_image",
]

# Flux's default: cosign signature tags are not image versions.
DEFAULT_EXCLUSION_LIST = ("^.*\\.sig$",)
MAX_EXCLUSIONS = 25


def check_image(image: str) -> str:
    """Accept ``spec.image`` as Flux's ``registry.ParseImageReference`` does, else ValueError.

    A repository name without scheme, tag or digest (``ghcr.io/org/app``,
    ``alpine``); the same messages as Flux where it has one.
    """
    scheme, sep, _ = image.partition("://")
    if sep:
        raise ValueError(f"image '{image}' should not include URL scheme; remove '{scheme}://'")
    try:
        ref = parse_reference(image)
    except InvalidReferenceError as err:
        raise ValueError(str(err)) from None
    if ref.tag:
        raise ValueError(f"image '{image}' should not include a tag; remove ':{ref.tag}'")
    if ref.digest:
        raise ValueError(
            f"image '{image}' should not include a digest; remove '@{ref.digest}' "
            "(an ImageRepository scans the tags of a repository)"
        )
    return image


def _go_regexps(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            compile_go(pattern)
        except InvalidRegexp as err:
            raise ValueError(f'invalid regular expression "{pattern}": {err}') from None
    return patterns


class ImageRepositorySpec(FetchSpec):
    """``ImageRepository.spec``."""

    image: Annotated[str, AfterValidator(check_image)]
    secret_ref: LocalObjectReference | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    service_account_name: str | None = Field(default=None, max_length=253)
    cert_secret_ref: LocalObjectReference | None = None
    access_from: AccessFrom | None = None
    exclusion_list: Annotated[list[str], AfterValidator(_go_regexps)] = Field(
        default_factory=list, max_length=MAX_EXCLUSIONS
    )
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    insecure: bool = False

    # Fields sluice does not act on are refused, never stored and ignored.
    @field_validator("provider")
    @classmethod
    def _generic_provider_only(cls, value: str | None) -> str | None:
        if value not in (None, "generic"):
            raise ValueError(
                f'provider "{value}" (cloud workload identity) is not supported by sluice yet: '
                'use "generic" with a dockerconfigjson Secret in spec.secretRef'
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
                "proxy_secret_ref": (
                    "a proxy (spec.proxySecretRef) is not supported by sluice yet: the "
                    "registry must be reachable directly"
                ),
            }
            raise ValueError(what[str(info.field_name)])
        return value

    @property
    def reference(self) -> OciReference:
        """``image`` parsed: registry and repository (Docker Hub names completed)."""
        return parse_reference(self.image)

    @property
    def exclusions(self) -> tuple[str, ...]:
        """The patterns of tags not stored: ``exclusionList``, Flux's default when empty."""
        return tuple(self.exclusion_list) or DEFAULT_EXCLUSION_LIST

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds; Flux's default is the interval."""
        return parse_duration(self.timeout) if self.timeout else self.interval_seconds

    def admits(self, namespace: str, *, own_namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether an ImagePolicy in ``namespace`` (whose labels are ``labels``) may use this
        repository, as Flux's ACL: always from its own namespace; from another only when a
        ``accessFrom.namespaceSelectors`` entry matches (an empty one matches every namespace).
        """
        if namespace == own_namespace:
            return True
        if self.access_from is None:
            return False
        return any(
            all(labels.get(key) == value for key, value in selector.match_labels.items())
            for selector in self.access_from.namespace_selectors
        )


class ImageRepository(ApiObject):
    """A container image repository whose tags are scanned on an interval."""

    spec: ImageRepositorySpec
    status: dict[str, Any] | None = Field(default=None, repr=False)
