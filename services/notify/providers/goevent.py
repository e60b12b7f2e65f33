"""Flux's event as Go encodes it: the JSON object the generic webhook posts, and its time.

Flux marshals ``eventv1.Event`` with ``encoding/json``: struct fields in
declaration order, ``omitempty`` ones left out when empty (the involved
object's ``uid`` and ``apiVersion``, ``metadata``, ``reportingInstance``),
map keys sorted, and ``metav1.Time`` as RFC 3339 in UTC to the second.
``Notice.to_json()`` has the fields; this module gives them Go's shape, so the
bytes sluice posts (and signs, for ``generic-hmac``) are the bytes Flux would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.notify.notice import Notice

__all__ = ["event_json", "event_time", "rfc3339"]

# corev1.ObjectReference's JSON fields, in its declaration order; all omitempty.
_OBJECT_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion")


def event_time(notice: Notice) -> datetime:
    """The event's timestamp as an aware UTC datetime (a naive one is taken as UTC)."""
    parsed = datetime.fromisoformat(notice.timestamp.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` of a UTC time: seconds, no fraction, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_json(notice: Notice) -> dict[str, Any]:
    """The event as Flux's ``json.Marshal(event)`` lays it out (field order, omitempty)."""
    raw = notice.to_json()
    involved = raw["involvedObject"]
    payload: dict[str, Any] = {
        "involvedObject": {key: involved[key] for key in _OBJECT_FIELDS if involved.get(key)},
        "severity": notice.severity,
        "timestamp": rfc3339(event_time(notice)),
        "message": notice.message,
        "reason": notice.reason,
    }
    if notice.metadata:
        payload["metadata"] = dict(sorted(notice.metadata.items()))
    payload["reportingController"] = notice.reporting_controller
    if notice.reporting_instance:
        payload["reportingInstance"] = notice.reporting_instance
    return payload
