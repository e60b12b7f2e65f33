"""TEMPORARY (lead's local copy until hooks' lands): generic and generic-hmac."""

from __future__ import annotations

import hashlib
import hmac
import json

from services.notify.notice import Notice, PayloadError, Request, Target


def build(notice: Notice, target: Target) -> Request | None:
    if not target.address:
        raise PayloadError("spec.address: expected the webhook URL")
    body = json.dumps(notice.to_json(), separators=(",", ":")).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Gotk-Component", notice.reporting_controller),
    ]
    headers += list(target.headers.items())
    if target.type == "generic-hmac":
        digest = hmac.new(target.token.encode(), body, hashlib.sha256).hexdigest()
        headers.append(("X-Signature", f"sha256={digest}"))
    return Request("POST", target.address, tuple(headers), body)
