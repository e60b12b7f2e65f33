"""Grafana annotations, as Flux's grafana notifier posts them.

``POST <address>`` (``.../api/annotations/graphite``) with ``when`` (the
event's Unix time in seconds, as Flux sends it), ``text``
(``kind/name.namespace``) and ``tags``: ``flux``, the reporting controller,
each metadata pair as ``key: value`` (colons inside replaced by ``|``, sorted
by key where Flux's Go map order is random), then kind, name and namespace.
Auth: ``Bearer <token>``, else Basic from the Secret's username and
password. Source: internal/notifier/grafana.go.
"""

from __future__ import annotations

import base64

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import json_request, object_title, require_url
from services.notify.providers.goevent import event_time

__all__ = ["build", "tags"]


def tags(notice: Notice) -> list[str]:
    """The annotation's tags, in Flux's order (metadata sorted)."""
    obj = notice.involved_object
    found = ["flux", notice.reporting_controller]
    for key, value in sorted(notice.metadata.items()):
        found.append(f"{key.replace(':', '|')}: {value.replace(':', '|')}")
    found += [f"kind: {obj.kind}", f"name: {obj.name}", f"namespace: {obj.namespace}"]
    return found


def _auth(target: Target) -> tuple[tuple[str, str], ...]:
    if target.token:
        return (("Authorization", f"Bearer {target.token}"),)
    if target.username and target.password:
        credentials = f"{target.username}:{target.password}".encode()
        return (("Authorization", "Basic " + base64.b64encode(credentials).decode()),)
    return ()


def build(notice: Notice, target: Target) -> Request:
    """The annotation request."""
    url = require_url(target.address, expected="Grafana's /api/annotations URL")
    payload = {
        "when": int(event_time(notice).timestamp()),
        "text": object_title(notice),
        "tags": tags(notice),
    }
    return json_request(url, payload, headers=_auth(target))
