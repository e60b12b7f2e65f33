"""HelmRepository (``source.toolkit.fluxcd.io``): a Helm chart repository (FLUX-API §2.3).

Two types, as Flux has them: ``default`` (an HTTP/S repository whose
``index.yaml`` becomes the artifact) and ``oci`` (a registry; no index, no
artifact: the registry and the credentials are checked). v1beta1 and v1beta2
documents have the same fields (v1beta1 lacks ``type``, ``provider``,
``insecure`` and ``certSecretRef``) and are read unchanged.
"""

from __future__ import annotations

from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator

from shared.api.durations import parse_duration
from shared.api.meta import (
    ApiModel,
    ApiObject,
    Interval,
    Labels,
    LocalObjectReference,
    ShortDuration,
)

__all__ = [
    "DEFAULT_HELM_INTERVAL",
    "DEFAULT_HELM_TIMEOUT",
    "HELM_URL_SCHEMES",
    "AccessFrom",
    "HelmRepository",
    "HelmRepositorySpec",
    "NamespaceSelector",
    "check_helm_url",
]

HELM_URL_SCHEMES = ("http", "https", "oci")
# Flux's GetRequeueAfter and GetTimeout when the fields are unset.
DEFAULT_HELM_INTERVAL = 60.0
DEFAULT_HELM_TIMEOUT = 60.0


def check_helm_url(url: str) -> str:
    """Accept ``http(s)://host/...`` or ``oci://host/...`` without credentials, else ValueError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in HELM_URL_SCHEMES or "://" not in url:
        raise ValueError(
            f'invalid URL "{_shown(url)}": expected http://, https:// or oci:// and a host, '
            "e.g. https://charts.example.com or oci://ghcr.io/org/charts"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f'credentials in the URL "{_shown(url)}" are refused: they would be stored in '
            "clear and shown by `sluice get -o yaml`; remove them from the URL and put "
            "username and password in a Secret named by spec.secretRef"
        )
    if not parts.hostname:
        raise ValueError(f'invalid URL "{_shown(url)}": missing host')
    try:
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError:
        raise ValueError(f'invalid URL "{_shown(url)}": the port is not a number') from None
    return url


def _shown(url: str) -> str:
    """``url`` without any userinfo, safe for a message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


class NamespaceSelector(ApiModel):
    """``accessFrom.namespaceSelectors[]``: namespaces allowed by their labels."""

    match_labels: Labels = Field(default_factory=dict)


class AccessFrom(ApiModel):
    """``spec.accessFrom``: Flux's provisional ACL; Flux does not enforce it, nor does sluice.

    A HelmChart may only name a HelmRepository of its own namespace, in Flux
    and in sluice, so the list has nothing to allow yet: it is read and kept.
    """

    namespace_selectors: list[NamespaceSelector]


class HelmRepositorySpec(ApiModel):
    """``HelmRepository.spec``."""

    url: str
    type: Literal["default", "oci"] | None = None
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None
    pass_credentials: bool = False
    interval: Interval | None = None
    timeout: ShortDuration | None = None
    # Flux: "only taken into account if .spec.type is oci"; an http:// URL of
    # the default type is fetched over plain HTTP whatever this says.
    insecure: bool = False
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    suspend: bool = False
    access_from: AccessFrom | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_helm_url(value)

    @field_validator("provider")
    @classmethod
    def _generic_provider_only(cls, value: str | None) -> str | None:
        if value not in (None, "generic"):
            raise ValueError(
                f'provider "{value}" is not supported by sluice yet: use "generic" with '
                "spec.secretRef credentials (username and password, or a dockerconfigjson)"
            )
        return value

    @model_validator(mode="after")
    def _scheme_fits_type(self) -> Self:
        # Flux stalls these at reconcile (URLInvalid); sluice says so at apply.
        oci_url = urlsplit(self.url).scheme.lower() == "oci"
        if self.is_oci and not oci_url:
            raise ValueError(
                f'url: "{self.url}" must start with oci:// for a HelmRepository of type oci'
            )
        if oci_url and not self.is_oci:
            raise ValueError(
                "url: the oci:// scheme cannot be used with the default HelmRepository type: "
                'set type: "oci"'
            )
        return self

    @property
    def is_oci(self) -> bool:
        """Whether this is an OCI registry (``type: oci``) rather than an index repository."""
        return self.type == "oci"

    @property
    def interval_seconds(self) -> float:
        """``interval`` in seconds, 60 when unset (Flux's default)."""
        return parse_duration(self.interval) if self.interval else DEFAULT_HELM_INTERVAL

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds, 60 when unset."""
        return parse_duration(self.timeout) if self.timeout else DEFAULT_HELM_TIMEOUT


class HelmRepository(ApiObject):
    """A Helm chart repository: an HTTP/S index or an OCI registry."""

    spec: HelmRepositorySpec
    status: dict[str, Any] | None = Field(default=None, repr=False)
