"""What an Alert hands a Provider: an event in Flux's payload shape, and the resolved Provider.

``Notice`` is Flux's event (``involvedObject``, severity, reason, message,
metadata with v1beta3's forwarding rules already applied, the reporting
controller); ``Target`` is a Provider with its Secret read (address, token,
...). Both are plain values: the payload builders in ``providers/`` turn one
pair into one HTTP ``Request`` without any I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InvolvedObject", "Notice", "PayloadError", "Request", "Target"]


class PayloadError(ValueError):
    """The Provider's settings cannot make this provider's request (names the field)."""


@dataclass(frozen=True)
class InvolvedObject:
    """The object an event is about, as Flux's ``involvedObject``."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str = ""


@dataclass(frozen=True)
class Notice:
    """One event as Flux's notification-controller forwards it to a provider."""

    involved_object: InvolvedObject
    severity: str  # "info" | "error"
    timestamp: str  # RFC 3339
    message: str
    reason: str
    # Forwarded metadata, keys without their prefix ("revision", "summary", ...).
    metadata: Mapping[str, str] = field(default_factory=dict)
    reporting_controller: str = ""
    reporting_instance: str = ""
    # The Alert that forwards it, as stored: ``alert`` in a commitStatusExpr.
    alert: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Flux's event payload, as the generic providers post it."""
        obj = self.involved_object
        involved = {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name}
        involved |= {"uid": obj.uid, "apiVersion": obj.api_version}
        payload: dict[str, Any] = {
            "involvedObject": involved,
            "severity": self.severity,
            "timestamp": self.timestamp,
            "message": self.message,
            "reason": self.reason,
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
        }
        if self.metadata:
            payload["metadata"] = dict(self.metadata)
        return payload


@dataclass(frozen=True)
class Target:
    """A Provider with its Secret resolved: where and as whom to send."""

    type: str
    address: str
    name: str  # the Provider's name and namespace and uid (commit-status context)
    namespace: str
    uid: str = ""
    channel: str = ""
    username: str = ""
    token: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    # Extra headers from the Secret's `headers` key; may hold credentials.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    commit_status_expr: str = ""  # CEL; git providers only


@dataclass(frozen=True)
class Request:
    """One HTTP request to send; ``body`` may carry credentials, so it is never logged."""

    method: str
    url: str = field(repr=False)  # a webhook URL is itself a secret (Slack, Discord)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes = field(default=b"", repr=False)
