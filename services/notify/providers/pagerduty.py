"""PagerDuty Events API v2, as Flux's pagerduty notifier sends to it.

``POST <scheme://host of address>/v2/enqueue``: for an error, a
``trigger`` with a payload (summary ``<reason words>: <kind>/<name>``,
source ``Flux <controller>``, severity, timestamp, component, group and
custom details: message and metadata); for any other event a ``resolve``
of the same dedup key (the object's uid), in case an incident is open.
For an info event Flux also posts a change event to ``/v2/change/enqueue``
(``build_change``). The routing key is the Provider's ``channel``;
Progressing events are not sent. Source: internal/notifier/pagerduty.go.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from services.notify.notice import Notice, PayloadError, Request, Target
from services.notify.providers.common import json_request, require_url
from services.notify.providers.gitcommit import PROGRESSING, describe
from services.notify.providers.goevent import event_time, rfc3339

__all__ = ["build", "build_change", "endpoint", "summary"]


def endpoint(target: Target) -> str:
    """``scheme://host`` of the address: Flux keeps only those of it."""
    parts = urlsplit(require_url(target.address, expected="the PagerDuty events API URL"))
    return f"{parts.scheme}://{parts.netloc}"


def summary(notice: Notice) -> str:
    """``<reason in words>: <kind>/<name>``, lower-cased."""
    obj = notice.involved_object
    return f"{describe(notice)}: {obj.kind}/{obj.name}".lower()


def _routing_key(target: Target) -> str:
    if not target.channel:
        raise PayloadError("spec.channel is empty: expected the PagerDuty integration routing key")
    return target.channel


def _details(notice: Notice) -> dict[str, Any]:
    return {"message": notice.message, "metadata": dict(sorted(notice.metadata.items())) or None}


def build(notice: Notice, target: Target) -> Request | None:
    """The trigger (error) or resolve (any other) event; None for a Progressing event."""
    if notice.reason == PROGRESSING:
        return None
    url = f"{endpoint(target)}/v2/enqueue"
    event: dict[str, Any] = {
        "routing_key": _routing_key(target),
        "event_action": "resolve",
    }
    if notice.involved_object.uid:
        event["dedup_key"] = notice.involved_object.uid
    if notice.severity == "error":
        event["event_action"] = "trigger"
        obj = notice.involved_object
        payload: dict[str, Any] = {
            "summary": summary(notice),
            "source": f"Flux {notice.reporting_controller}",
            "severity": "error",
            "timestamp": rfc3339(event_time(notice)),
        }
        if obj.name:
            payload["component"] = obj.name
        if obj.kind:
            payload["group"] = obj.kind
        payload["custom_details"] = _details(notice)
        event["payload"] = payload
    return json_request(url, event)


def build_change(notice: Notice, target: Target) -> Request | None:
    """The change event Flux sends after the resolve of an info event; None otherwise."""
    if notice.reason == PROGRESSING or notice.severity != "info":
        return None
    change = {
        "routing_key": _routing_key(target),
        "payload": {
            "summary": summary(notice),
            "source": f"Flux {notice.reporting_controller}",
            "timestamp": rfc3339(event_time(notice)),
            "custom_details": _details(notice),
        },
    }
    return json_request(f"{endpoint(target)}/v2/change/enqueue", change)
