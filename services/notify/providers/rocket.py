"""Rocket.Chat: the Slack payload, with Rocket's own colours, posted to an incoming webhook.

As Flux's ``internal/notifier/rocket.go``: ``spec.channel`` and
``spec.username`` go into the payload as given (no default username, unlike
Slack), no fallback text, colour ``#0076D7`` or ``#FF0000`` by severity.
"""

from __future__ import annotations

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import by_severity, json_request, require_url
from services.notify.providers.slack import attachment_payload

__all__ = ["build"]

_EXPECTED = "the Rocket.Chat incoming webhook URL (https://<server>/hooks/...)"


def build(notice: Notice, target: Target) -> Request:
    """The POST of ``notice`` to the Provider's Rocket.Chat webhook."""
    url = require_url(target.address, expected=_EXPECTED)
    payload = attachment_payload(
        notice,
        channel=target.channel,
        username=target.username,
        color=by_severity(notice, info="#0076D7", error="#FF0000"),
        fallback="",
    )
    return json_request(url, payload)
