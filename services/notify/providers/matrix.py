"""Matrix: an ``m.text`` room message PUT to the homeserver with a transaction id.

As Flux's ``internal/notifier/matrix.go``: the address is the homeserver,
``spec.channel`` the room id (``!abc:matrix.org``), the Secret ``token`` an
access token (Bearer). The request is
``PUT <address>/_matrix/client/r0/rooms/<room>/send/m.room.message/<txn>``
where ``<txn>`` is the SHA-1 of the event's JSON: a retried delivery reuses
it, so the homeserver posts the message once. The address and room are
joined as Flux joins them, without escaping.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import (
    by_severity,
    go_json,
    json_request,
    object_title,
    require,
    require_url,
    sorted_metadata,
)

__all__ = ["build", "event_json", "message_text", "transaction_id"]

_EXPECTED = "the Matrix homeserver URL (https://matrix.org)"


def _go_time(timestamp: str) -> str:
    """An RFC 3339 time as Kubernetes' metav1.Time writes it: UTC, whole seconds."""
    try:
        when = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_json(notice: Notice) -> dict[str, Any]:
    """The event as Go's json.Marshal writes Flux's eventv1.Event (empty optionals left out)."""
    obj = notice.involved_object
    reference = {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name}
    reference |= {"uid": obj.uid, "apiVersion": obj.api_version}
    event: dict[str, Any] = {
        "involvedObject": {k: v for k, v in reference.items() if v},
        "severity": notice.severity,
        "timestamp": _go_time(notice.timestamp),
        "message": notice.message,
        "reason": notice.reason,
    }
    if notice.metadata:
        event["metadata"] = dict(sorted_metadata(notice))
    event["reportingController"] = notice.reporting_controller
    if notice.reporting_instance:
        event["reportingInstance"] = notice.reporting_instance
    return event


def transaction_id(notice: Notice) -> str:
    """The hex SHA-1 of the event's JSON: the same event always gets the same id."""
    return hashlib.sha1(go_json(event_json(notice)), usedforsecurity=False).hexdigest()


def message_text(notice: Notice) -> str:
    """The message text: heading, message, one ``- key: value`` line per metadata entry."""
    emoji = by_severity(notice, info="💫", error="🚨")
    metadata = "".join(f"- {k}: {v}\n" for k, v in sorted_metadata(notice))
    return f"{emoji} {object_title(notice)}\n{notice.message}\n{metadata}"


def build(notice: Notice, target: Target) -> Request:
    """The PUT of ``notice`` into the Provider's Matrix room."""
    server = require_url(target.address, expected=_EXPECTED)
    room = require(target.channel, field="spec.channel", expected="the room id (!abc:matrix.org)")
    token = require(
        target.token, field="the token key of spec.secretRef", expected="a Matrix access token"
    )
    txn = transaction_id(notice)
    url = f"{server}/_matrix/client/r0/rooms/{room}/send/m.room.message/{txn}"
    payload = {"body": message_text(notice), "msgtype": "m.text"}
    return json_request(url, payload, method="PUT", headers=(("Authorization", f"Bearer {token}"),))
