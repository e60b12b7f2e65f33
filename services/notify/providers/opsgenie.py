"""Opsgenie alerts, as Flux's opsgenie notifier creates them.

``POST <address>`` (Opsgenie's alerts API URL) with ``message``
(``Kind/name``), ``alias`` (a SHA-256 of provider uid, kind, namespace,
name and reason, so a repeated alert deduplicates), ``description`` (the
event's message) and ``details`` (the metadata plus ``severity``);
``Authorization: GenieKey <token>``. Source: internal/notifier/opsgenie.go.
"""

from __future__ import annotations

import hashlib

from services.notify.notice import Notice, PayloadError, Request, Target
from services.notify.providers.common import json_request, require_url

__all__ = ["alias", "build"]


def alias(notice: Notice, provider_uid: str) -> str:
    """Flux's deduplication alias: hex SHA-256 of ``uid/kind/namespace/name/reason``."""
    obj = notice.involved_object
    key = f"{provider_uid}/{obj.kind}/{obj.namespace}/{obj.name}/{notice.reason}"
    return hashlib.sha256(key.encode()).hexdigest()[:64]


def build(notice: Notice, target: Target) -> Request:
    """The create-alert request."""
    url = require_url(target.address, expected="Opsgenie's alerts API URL")
    if not target.token:
        raise PayloadError("the Provider's Secret has no 'token': opsgenie needs the API key")
    details = dict(notice.metadata) | {"severity": notice.severity}
    obj = notice.involved_object
    payload = {
        "message": f"{obj.kind}/{obj.name}",
        "alias": alias(notice, target.uid),
        "description": notice.message,
        "details": dict(sorted(details.items())),
    }
    return json_request(url, payload, headers=(("Authorization", f"GenieKey {target.token}"),))
