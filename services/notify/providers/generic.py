"""The generic webhook (``generic``) and its signed form (``generic-hmac``), as Flux's Forwarder.

``POST <address>`` with the event itself as the body (Go's encoding of it,
see ``goevent``), ``Content-Type: application/json``, ``Gotk-Component``
naming the controller that reported it, then the headers of the Provider's
Secret (which may replace those two). ``generic-hmac`` adds ``X-Signature:
sha256=<hex HMAC-SHA256 of the body, keyed by the Secret's token>``, so the
receiver can check the body came from whoever holds the token.
Source: internal/notifier/forwarder.go, client.go.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from services.notify.notice import Notice, PayloadError, Request, Target
from services.notify.providers.common import go_json, require_url
from services.notify.providers.goevent import event_json

__all__ = ["NOTIFICATION_HEADER", "build", "canonical_header", "sign"]

NOTIFICATION_HEADER = "Gotk-Component"


def sign(body: bytes, key: bytes) -> str:
    """The ``X-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def canonical_header(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: ``x-api-key`` -> ``X-Api-Key`` (how Flux sends it)."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _set_all(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Headers set in order, a later one replacing an earlier of the same name (Header.Set)."""
    headers: dict[str, tuple[str, str]] = {}
    for name, value in pairs:
        canonical = canonical_header(name)
        headers[canonical.lower()] = (canonical, value)
    return tuple(headers.values())


def build(notice: Notice, target: Target) -> Request:
    """The webhook request for ``target.type`` ``generic`` or ``generic-hmac``."""
    url = require_url(target.address, expected="the webhook's http(s) URL")
    body = go_json(event_json(notice))
    pairs = [
        ("Content-Type", "application/json"),
        (NOTIFICATION_HEADER, notice.reporting_controller),
        *target.headers.items(),
    ]
    if target.type == "generic-hmac":
        if not target.token:
            raise PayloadError("the Provider's Secret has no 'token': generic-hmac signs with it")
        pairs.append(("X-Signature", sign(body, target.token.encode())))
    return Request(method="POST", url=url, headers=_set_all(pairs), body=body)
