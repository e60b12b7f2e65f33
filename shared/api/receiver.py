"""Receiver (``notification.toolkit.fluxcd.io/v1``, v1beta1 and v1beta2 read): webhooks in.

FLUX-API §7.4. A Receiver names the objects a webhook call asks to reconcile;
the notify service serves its ``status.webhookPath``. Every field of Flux's
type is acted on or refused here, at ``sluice apply``:

- ``type`` ``generic-oidc`` (OIDC ID tokens checked against an issuer's
  published keys) and ``gcr`` (Google-signed Pub/Sub push tokens) are refused:
  sluice's receiver listens on loopback by default and fetches no issuer keys,
  so such a Receiver could never accept a call; ``oidcProviders`` goes with
  them.
- ``resourceFilter`` and ``resources[].filter`` are stored as written, as
  Flux's API server does: the reconcile compiles them and stalls the Receiver
  (InvalidCELExpression) on one that does not compile.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, get_args

from pydantic import AfterValidator, Field, field_validator, model_validator

from shared.api.alert import EVENT_SOURCE_KINDS
from shared.api.durations import parse_duration
from shared.api.kinds import lookup_kind
from shared.api.meta import (
    ApiModel,
    ApiObject,
    Interval,
    Labels,
    LocalObjectReference,
    Namespace,
    check_name,
)

__all__ = [
    "DEFAULT_RECEIVER_INTERVAL",
    "RECEIVER_TYPES",
    "REFUSED_TYPES",
    "RESOURCE_KINDS",
    "WILDCARD",
    "Receiver",
    "ReceiverResource",
    "ReceiverSpec",
    "ReceiverType",
]

ReceiverType = Literal[
    "generic",
    "generic-hmac",
    "generic-oidc",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
]
RECEIVER_TYPES: tuple[str, ...] = get_args(ReceiverType)
# Types sluice refuses, with why: both authenticate callers with tokens that
# only an identity provider's published keys can verify.
REFUSED_TYPES = {
    "generic-oidc": (
        "type generic-oidc is not supported by sluice: it verifies OIDC ID tokens against "
        "an issuer's published keys, which the receiver (on loopback by default) never "
        "fetches; use github or generic-hmac with a token in spec.secretRef"
    ),
    "gcr": (
        "type gcr is not supported by sluice: it needs Google-signed OIDC tokens from a "
        "Pub/Sub push subscription, which cannot reach or be verified by a receiver on "
        "loopback; use generic-hmac with a token in spec.secretRef"
    ),
}
# The kinds a Receiver may name: Flux's enum, the same as an Alert's.
RESOURCE_KINDS = EVENT_SOURCE_KINDS
WILDCARD = "*"
DEFAULT_RECEIVER_INTERVAL = "10m"


def _check_target_name(text: str) -> str:
    return text if text == WILDCARD else check_name(text)


class ReceiverResource(ApiModel):
    """``spec.resources[]``: which objects a valid call asks to reconcile.

    ``name: "*"`` with ``matchLabels`` names every object of the kind in the
    namespace (default: the Receiver's) carrying those labels.
    """

    api_version: str | None = None
    kind: str
    name: Annotated[str, AfterValidator(_check_target_name)]
    namespace: Namespace | None = None
    match_labels: Labels | None = None
    filter: str | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in RESOURCE_KINDS:
            raise ValueError(f'kind "{value}": expected one of {", ".join(RESOURCE_KINDS)}')
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        info = lookup_kind(self.kind)
        if info is not None and self.api_version and self.api_version not in info.api_versions:
            raise ValueError(
                f'apiVersion "{self.api_version}" for kind {self.kind}: expected one of '
                f"{', '.join(info.api_versions)}"
            )
        if self.match_labels is not None and self.name != WILDCARD:
            raise ValueError(f'matchLabels requires name "*" (name is "{self.name}")')
        if self.name == WILDCARD and not self.match_labels:
            raise ValueError('name "*" needs matchLabels: the labels of the objects to reconcile')
        if self.filter is not None and not self.filter.strip():
            raise ValueError("filter is empty: remove it or write a CEL expression")
        return self


class ReceiverSpec(ApiModel):
    """``Receiver.spec``."""

    type: ReceiverType
    interval: Interval | None = None
    events: list[str] = Field(default_factory=list)
    resources: list[ReceiverResource]
    resource_filter: str | None = None
    secret_ref: LocalObjectReference
    oidc_providers: list[dict[str, Any]] | None = None
    suspend: bool = False

    @field_validator("type")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value in REFUSED_TYPES:
            raise ValueError(REFUSED_TYPES[value])
        return value

    @field_validator("oidc_providers")
    @classmethod
    def _no_oidc(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is not None:
            raise ValueError(
                "oidcProviders (generic-oidc receivers) are not supported by sluice: "
                "remove them and use a token in spec.secretRef"
            )
        return value

    @field_validator("resource_filter")
    @classmethod
    def _filter_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("resourceFilter is empty: remove it or write a CEL expression")
        return value

    @property
    def interval_seconds(self) -> float:
        """How often the Secret is looked at again: ``interval``, 10 minutes when unset."""
        return parse_duration(self.interval or DEFAULT_RECEIVER_INTERVAL)


class Receiver(ApiObject):
    """A webhook endpoint that asks for reconciles of the objects it names."""

    spec: ReceiverSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta1/v1beta2 -> v1: the same spec (``events: null`` read as none);
        the old ``status.url`` is left to the next reconcile, which writes
        ``webhookPath``."""
        spec = doc.get("spec")
        if isinstance(spec, dict) and spec.get("events") is None and "events" in spec:
            doc = {**doc, "spec": {k: v for k, v in spec.items() if k != "events"}}
        return doc
