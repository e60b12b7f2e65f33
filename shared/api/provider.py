"""Provider (``notification.toolkit.fluxcd.io``): where an Alert's events go (FLUX-API §7.2).

v1beta3 is stored; v1beta1 and v1beta2 documents are read as the same shape
(their fields are a subset; ``interval`` is accepted and unused, as Flux's
v1beta3 does). sluice sends to the types in :data:`PROVIDER_TYPES`; Flux's
others (cloud queues, Sentry, Datadog, NATS, pull-request comments, ...) and
workload identity are refused at apply, never stored and ignored.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from shared.api.durations import parse_duration
from shared.api.meta import ApiModel, ApiObject, Interval, LocalObjectReference, ShortDuration
from shared.cel import compile_string

__all__ = [
    "COMMIT_STATUS_TYPES",
    "COMMIT_STATUS_VARIABLES",
    "PROVIDER_TYPES",
    "Provider",
    "ProviderSpec",
]

PROVIDER_TYPES = (
    "generic",
    "generic-hmac",
    "slack",
    "discord",
    "msteams",
    "googlechat",
    "rocket",
    "webex",
    "telegram",
    "matrix",
    "lark",
    "opsgenie",
    "pagerduty",
    "alertmanager",
    "grafana",
    "github",
    "gitlab",
    "gitea",
    "bitbucket",
)
COMMIT_STATUS_TYPES = ("github", "gitlab", "gitea", "bitbucket")
# What a commitStatusExpr may read, as Flux declares it.
COMMIT_STATUS_VARIABLES = ("event", "provider", "alert")
# Flux's default send timeout.
DEFAULT_TIMEOUT = 15.0


class ProviderSpec(ApiModel):
    """``Provider.spec``."""

    type: str
    interval: Interval | None = None  # deprecated in v1beta3, unused (as Flux)
    channel: str | None = Field(default=None, max_length=2048)
    username: str | None = Field(default=None, max_length=2048)
    address: str | None = Field(default=None, max_length=2048)
    timeout: ShortDuration | None = None
    proxy: str | None = Field(default=None, max_length=2048)
    proxy_secret_ref: LocalObjectReference | None = None
    secret_ref: LocalObjectReference | None = None
    cert_secret_ref: LocalObjectReference | None = None
    service_account_name: str | None = None
    commit_status_expr: str | None = None
    suspend: bool = False

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds, Flux's 15 when unset."""
        return parse_duration(self.timeout) if self.timeout else DEFAULT_TIMEOUT

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PROVIDER_TYPES:
            raise ValueError(
                f'provider type "{value}" is not supported by sluice: expected one of '
                f"{', '.join(PROVIDER_TYPES)}"
            )
        return value

    @field_validator("service_account_name")
    @classmethod
    def _no_workload_identity(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                "serviceAccountName (workload identity) is not supported by sluice: put the "
                "credentials in the Secret named by spec.secretRef"
            )
        return value

    @field_validator("address", "proxy")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _commit_status_expr_for_git_only(self) -> Self:
        if self.commit_status_expr and self.type not in COMMIT_STATUS_TYPES:
            raise ValueError(
                f"commitStatusExpr applies to the commit-status providers "
                f"({', '.join(COMMIT_STATUS_TYPES)}), not to type {self.type}: remove it"
            )
        if self.commit_status_expr is not None:
            compile_string(self.commit_status_expr, variables=COMMIT_STATUS_VARIABLES)
        return self


class Provider(ApiObject):
    """Where and how an Alert's events are sent."""

    spec: ProviderSpec
    status: dict[str, Any] | None = Field(default=None, repr=False)
